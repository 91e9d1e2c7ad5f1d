"""The `mnistflow` command: register, compare, predict, show and study, beside `dvc repro` and `mlflow ui`."""

from __future__ import annotations

import enum
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mnistflow.errors import UsageError, one_line_errors

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Track, compare, register and use mnistflow models.")
ExperimentOption = Annotated[str, typer.Option(help="MLflow experiment (MLFLOW_EXPERIMENT_NAME overrides)")]
ModelNameOption = Annotated[str, typer.Option("--name", help="registered model name")]


class Direction(str, enum.Enum):
    max = "max"
    min = "min"


class Split(str, enum.Enum):
    test = "test"
    train = "train"


class Executor(str, enum.Enum):
    process = "process"
    ray = "ray"


class Format(str, enum.Enum):
    table = "table"
    markdown = "markdown"
    csv = "csv"


def _connect(experiment: str) -> str:
    from mnistflow import runtime, tracking  # noqa: F401 - runtime quiets TensorFlow before MLflow loads it

    return tracking.connect(experiment)


@app.command()
@one_line_errors
def register(metric: Annotated[str, typer.Option(help="metric that picks the best run")] = "test_accuracy",
             direction: Annotated[Direction, typer.Option(help="max: higher is better")] = Direction.max,
             name: ModelNameOption = "mnist-mlp", experiment: ExperimentOption = "mnistflow") -> None:
    """Register the best FINISHED run's model and move @champion to it if it beats the current one."""
    from mnistflow.tracking import project_root, registry

    experiment_id = _connect(experiment)
    outcome = registry.register_best(experiment_id, name, metric, direction.value,
                                     project_root() / ".mnistflow-registry.lock")
    print(outcome.message)


@app.command()
@one_line_errors
def compare(sort: Annotated[str, typer.Option(help="column to sort by")] = "test_accuracy",
            ascending: Annotated[bool, typer.Option("--ascending")] = False,
            filter: Annotated[str, typer.Option(help="MLflow filter, e.g. \"params.`train.units` = '128'\"")] = "",
            output_format: Annotated[Format, typer.Option("--format")] = Format.table,
            experiment: ExperimentOption = "mnistflow") -> None:
    """Print the experiment's finished runs: params that differ, plus key metrics."""
    from rich.table import Table

    from mnistflow.comparison import comparison_table, to_markdown
    from mnistflow.tracking import queries

    table = comparison_table(queries.runs_frame(_connect(experiment), filter), sort, ascending)
    if output_format is Format.csv:
        sys.stdout.write(table.to_csv(index=False))
    elif output_format is Format.markdown:
        print(to_markdown(table))
    else:
        rich_table = Table(*table.columns, title=f"{len(table)} finished runs")
        for row in table.itertuples(index=False):
            rich_table.add_row(*(f"{value:.4f}" if isinstance(value, float) else str(value) for value in row))
        Console().print(rich_table)


@app.command()
@one_line_errors
def predict(files: Annotated[list[Path], typer.Argument(help="PNG/JPEG images or .npy arrays")],
            model_uri: Annotated[str | None, typer.Option(help="default: models:/<name>@champion")] = None,
            name: ModelNameOption = "mnist-mlp", json_output: Annotated[bool, typer.Option("--json")] = False,
            experiment: ExperimentOption = "mnistflow") -> None:
    """Predict the digit in each file; a bad file is reported and the others still run (exit 1)."""
    from mnistflow.images import ImageFileError, load_digits
    from mnistflow.tracking import queries

    _connect(experiment)
    model = queries.load_model(model_uri or f"models:/{name}@champion")
    results, failures = [], 0
    for path in files:
        try:
            digits = load_digits(path)
        except ImageFileError as error:
            print(f"error: {error}", file=sys.stderr)
            failures += 1
            continue
        for item, probabilities in enumerate(queries.predict_probabilities(model, digits)):
            results.append({"file": str(path), "item": item, "label": int(probabilities.argmax()),
                            "probability": float(probabilities.max()),
                            "probabilities": [round(float(p), 6) for p in probabilities]})
    for result in results if not json_output else ():
        print(f"{result['file']}[{result['item']}]: {result['label']} (p={result['probability']:.3f})")
    if json_output:
        print(json.dumps(results, indent=2))
    raise typer.Exit(1 if failures else 0)


@app.command()
@one_line_errors
def show(index: Annotated[int, typer.Argument(help="image index within the split")],
         split: Annotated[Split, typer.Option()] = Split.test,
         run: Annotated[str | None, typer.Option(help="run id (default: latest finished run)")] = None,
         model_uri: Annotated[str | None, typer.Option()] = None,
         data: Annotated[Path, typer.Option(help="raw MNIST .npz")] = Path("data/raw/mnist.npz"),
         out: Annotated[Path | None, typer.Option(help="PNG to write")] = None,
         experiment: ExperimentOption = "mnistflow") -> None:
    """Write a PNG of one image with its label and the model's ten class probabilities."""
    from mnistflow import plots
    from mnistflow.data import load_mnist
    from mnistflow.tracking import queries

    arrays = load_mnist(data)
    images, labels = arrays[f"x_{split.value}"], arrays[f"y_{split.value}"]
    if not 0 <= index < len(images):
        raise UsageError(f"index {index} is out of range for the {split.value} split (0-{len(images) - 1})")
    experiment_id = _connect(experiment)
    uri = model_uri or queries.model_uri_of_run(run or queries.latest_model_run(experiment_id))
    probabilities = queries.predict_probabilities(queries.load_model(uri), images[index:index + 1])[0]
    out = out or Path(f"show_{split.value}_{index}.png")
    plots.save(plots.digit_probabilities_figure(images[index], int(labels[index]), probabilities,
                                                f"{split.value} image #{index} — model {uri}"), out)
    print(out)


@app.command()
@one_line_errors
def study(study_file: Annotated[Path, typer.Option(help="seeds, base overrides and grid")] = Path("study.yaml"),
          config: Annotated[list[str], typer.Option(help="named configuration(s) in configs/ instead of the grid")] = [],  # noqa: B006
          seeds: Annotated[str | None, typer.Option(help="e.g. 1-8 or 1,2,3 (default: the study file's)")] = None,
          set_: Annotated[list[str], typer.Option("--set", help="override for every run, e.g. train.epochs=5")] = [],  # noqa: B006
          workers: Annotated[int, typer.Option(min=1)] = os.cpu_count() or 1,
          resume: Annotated[str | None, typer.Option(help="parent run id of an interrupted study")] = None,
          name: Annotated[str, typer.Option(help="study name, tagged on the parent run")] = "collapse",
          executor: Annotated[Executor, typer.Option(help="local processes, or Ray (RAY_ADDRESS or a local instance)")] = Executor.process,
          params: Annotated[Path, typer.Option()] = Path("params.yaml"),
          data: Annotated[Path, typer.Option(help="raw MNIST .npz")] = Path("data/raw/mnist.npz"),
          experiment: ExperimentOption = "mnistflow") -> None:
    """Train every configuration x seed in parallel, as child runs of one parent run, and summarize."""
    import yaml

    from mnistflow import study as study_module
    from mnistflow.data import load_mnist
    from mnistflow.params import load_params
    from mnistflow.study_runner import StudyContext, execute
    from mnistflow.tracking import project_root, tracking_uri

    load_params(params)
    load_mnist(data)
    raw_params = yaml.safe_load(params.read_text())
    spec = study_module.read_study_file(study_file) if not config or seeds is None else {}
    extra = dict(study_module.parse_assignment(item) for item in set_)
    if config:
        configurations = [(item, {**study_module.read_overrides(Path("configs") / f"{item}.yaml"), **extra})
                          for item in config]
    else:
        configurations = study_module.grid_configurations({**spec.get("base", {}), **extra}, spec.get("grid", {}))
    seed_list = study_module.parse_seeds(seeds) if seeds else list(spec.get("seeds", [1]))
    jobs = study_module.make_jobs(configurations, seed_list, raw_params)
    context = StudyContext(raw_params, str(data.resolve()), tracking_uri(project_root()), experiment, "")
    Console(stderr=True).print(f"study {name}: {len(configurations)} configurations x {len(seed_list)} seeds "
                               f"= {len(jobs)} runs on {workers} workers")
    from mnistflow.comparison import to_markdown

    print(to_markdown(execute(jobs, context, workers, Console(stderr=True), name, resume, executor.value)))


@app.command()
@one_line_errors
def experiment(name: Annotated[str, typer.Argument(help="configs/<name>.yaml, e.g. classic-failure or fixed")],
               queue: Annotated[bool, typer.Option("--queue", help="queue it (dvc queue start runs it)")] = False,
               ) -> None:
    """Run a named configuration as a DVC experiment: `dvc exp run -n NAME -S key=value ...`."""
    import subprocess

    from mnistflow.study import read_overrides

    overrides = read_overrides(Path("configs") / f"{name}.yaml")
    command = ["dvc", "exp", "run", "-n", name, *(["--queue"] if queue else [])]
    for key, value in overrides.items():
        command += ["-S", f"{key}={json.dumps(value)}"]
    print(" ".join(command), file=sys.stderr)
    raise typer.Exit(subprocess.run(command).returncode)
