"""The `mnistflow` command: register, compare, predict, show and study, beside `dvc repro` and `mlflow ui`."""

from __future__ import annotations

import enum
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mnistflow.core import paths
from mnistflow.core.errors import UsageError, one_line_errors
from mnistflow.team.commands import team_app

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Track, compare, register and use mnistflow models.")
app.add_typer(team_app, name="team")
ExperimentOption = Annotated[str | None, typer.Option(
    "--mlflow-experiment",
    help="MLflow experiment (default: tracking.experiment in params.yaml; MLFLOW_EXPERIMENT_NAME overrides)")]
ModelNameOption = Annotated[str, typer.Option("--name", help="registered model name")]
DataOption = Annotated[Path | None, typer.Option(
    help="raw MNIST .npz (default: dvc.yaml's), or mlflow-artifacts:/datasets/mnist.npz shared by `team start`")]


class Direction(enum.StrEnum):
    max = "max"
    min = "min"


class SplitName(enum.StrEnum):
    test = "test"
    train = "train"


class Executor(enum.StrEnum):
    process = "process"
    ray = "ray"


class Format(enum.StrEnum):
    table = "table"
    markdown = "markdown"
    csv = "csv"


def _study_data(data: Path | None, root: Path, scratch: Path) -> tuple[str, Path]:
    """--data of a study or tune: (what its workers read, a local copy for this process). A file shared through
    the tracking server is fetched once here, so a missing one is one line before anything trains."""
    from mnistflow.tracking import datasets

    location = str(data or paths.raw_data(root))
    if datasets.is_shared(location):
        return location, datasets.fetch(location, scratch)
    if not Path(location).is_file():
        raise UsageError(f"--data {location}: file not found")
    return str(Path(location).resolve()), Path(location)


def _connect(experiment: str | None, create: bool = False) -> str:
    """Connect to the project's store; the experiment defaults to params.yaml's `tracking.experiment`.

    TensorFlow stays unloaded: `compare`, `register` and `runs` never need it (the commands that load a model
    import `runtime` themselves)."""
    from mnistflow import tracking
    from mnistflow.core.params import load_params

    root = tracking.require_project_root()
    if experiment is None:
        experiment = load_params(root / paths.PARAMS).tracking.experiment
    return tracking.connect(experiment, root, create=create)


@app.command()
@one_line_errors
def register(metric: Annotated[str, typer.Option(help="metric that picks the best run")] = "test_accuracy",
             direction: Annotated[Direction, typer.Option(help="max: higher is better")] = Direction.max,
             name: ModelNameOption = "mnist-digits", experiment: ExperimentOption = None) -> None:
    """Register the best FINISHED run's model and move @champion to it if it beats the current one."""
    from mnistflow.tracking import registry, require_project_root

    experiment_id = _connect(experiment)
    outcome = registry.register_best(experiment_id, name, metric, direction.value,
                                     require_project_root() / paths.REGISTRY_LOCK)
    print(outcome.message)
    if outcome.candidate is None and outcome.version is None:
        raise typer.Exit(1)  # nothing to register and no champion: not a success


@app.command()
@one_line_errors
def compare(sort: Annotated[str, typer.Option(help="column to sort by")] = "test_accuracy",
            ascending: Annotated[bool, typer.Option("--ascending")] = False,
            filter: Annotated[str, typer.Option(help="MLflow filter, e.g. \"params.`model.mlp.units` = '128'\"")] = "",
            output_format: Annotated[Format, typer.Option("--format")] = Format.table,
            experiment: ExperimentOption = None) -> None:
    """Print the experiment's finished runs: params that differ, plus key metrics."""
    from rich.table import Table

    from mnistflow.analysis.comparison import comparison_table, rows, to_markdown
    from mnistflow.tracking import queries

    runs, params, _ = queries.runs_table(_connect(experiment), filter)
    table = comparison_table(runs, params, sort, ascending)
    if output_format is Format.csv:
        sys.stdout.write(table.to_csv(index=False))
    elif output_format is Format.markdown:
        print(to_markdown(table))
    else:
        rich_table = Table(*table.columns, title=f"{len(table)} finished runs")
        for row in rows(table):
            rich_table.add_row(*row)
        Console().print(rich_table)


@app.command()
@one_line_errors
def runs(stale: Annotated[bool, typer.Option("--stale", help="only runs whose process is gone")] = False,
         mark_killed: Annotated[bool, typer.Option("--mark-killed", help="end the stale runs as KILLED")] = False,
         experiment: ExperimentOption = None) -> None:
    """List the runs the store calls RUNNING: is the process that started each alive, gone, or elsewhere?"""
    from mnistflow.tracking import runs as run_states

    running = run_states.running_runs([_connect(experiment)])
    gone = [run for run in running if run.process == "gone"]
    for run in gone if stale else running:
        print(f"{run.run_id}  {run.process:7}  {run.host}:{run.pid}  {run.name}")
    if mark_killed and gone:
        run_states.mark_killed([run.run_id for run in gone])
        print(f"{len(gone)} stale run(s) marked KILLED")
    elif gone:
        print(f"{len(gone)} stale run(s): their process is gone; `mnistflow runs --mark-killed` ends them KILLED")
    elif not running:
        print("no RUNNING runs")


@app.command()
@one_line_errors
def ui(port: Annotated[int, typer.Option(min=1, max=65535)] = 5000,
       host: Annotated[str, typer.Option(help="0.0.0.0 to let other machines in")] = "127.0.0.1") -> None:
    """Open MLflow's UI on this project's store: `mlflow ui`, one worker, no GenAI job runners, no warnings."""
    from mnistflow.core.process import run_group
    from mnistflow.tracking import require_project_root
    from mnistflow.tracking.ui import ui_command

    command, environment = ui_command(require_project_root(), host, port)
    print(f"MLflow UI on http://{host}:{port} (Ctrl-C stops it)", file=sys.stderr)
    raise typer.Exit(run_group(command, environment))


@app.command()
@one_line_errors
def serve(model_uri: Annotated[str | None, typer.Option(help="default: models:/<name>@champion")] = None,
          name: ModelNameOption = "mnist-digits", port: Annotated[int, typer.Option(min=1, max=65535)] = 5001,
          host: Annotated[str, typer.Option(help="0.0.0.0 to let other machines in")] = "127.0.0.1") -> None:
    """Serve a registered model over HTTP with MLflow's scoring server: POST /invocations with raw pixels."""
    from mnistflow.tracking import require_project_root
    from mnistflow.tracking.serving import serve as run_server

    raise typer.Exit(run_server(require_project_root(), model_uri or f"models:/{name}@champion", host, port))


@app.command()
@one_line_errors
def predict(files: Annotated[list[Path], typer.Argument(help="PNG/JPEG images or .npy arrays")],
            model_uri: Annotated[str | None, typer.Option(help="default: models:/<name>@champion")] = None,
            name: ModelNameOption = "mnist-digits", json_output: Annotated[bool, typer.Option("--json")] = False,
            show_framing: Annotated[bool, typer.Option(
                "--show", help="also write each photo beside the 28x28 the model read, in reports/shown/")] = False,
            ) -> None:
    """Predict the digit in each file; a bad file is reported and the others still run (exit 1)."""
    from mnistflow import tracking
    from mnistflow.core import runtime  # noqa: F401 - runtime quiets TensorFlow before MLflow loads it
    from mnistflow.data.images import ImageFileError, load_digits
    from mnistflow.tracking import queries

    root = tracking.require_project_root()
    tracking.use_store(root)
    model = queries.load_model(model_uri or f"models:/{name}@champion")
    results, failures = [], 0
    for path in files:
        try:
            digits = load_digits(path)
        except (ImageFileError, OSError) as error:  # one bad file is that file's error alone
            print(f"error: {error}", file=sys.stderr)
            failures += 1
            continue
        for item, probabilities in enumerate(queries.predict_probabilities(model, digits)):
            results.append({"file": str(path), "item": item, "label": int(probabilities.argmax()),
                            "probability": float(probabilities.max()),
                            "probabilities": [round(float(p), 6) for p in probabilities]})
            if show_framing and path.suffix.lower() != ".npy":
                results[-1]["shown"] = str(_show_framing(path, digits[0], probabilities, root))
    for result in results if not json_output else ():
        shown = f"  -> {result['shown']}" if "shown" in result else ""
        print(f"{result['file']}[{result['item']}]: {result['label']} (p={result['probability']:.3f}){shown}")
    if json_output:
        print(json.dumps(results, indent=2))
    raise typer.Exit(1 if failures else 0)


def _show_framing(path: Path, framed, probabilities, root: Path) -> Path:
    from mnistflow.analysis import plots
    from mnistflow.data.images import load_photo

    out = root / paths.SHOWN / f"predict_{path.stem}.png"
    plots.save(plots.framing_figure(load_photo(path), framed, probabilities, str(path)), out)
    return out


@app.command()
@one_line_errors
def show(index: Annotated[int, typer.Argument(help="image index within the split")],
         split: Annotated[SplitName, typer.Option()] = SplitName.test,
         run: Annotated[str | None, typer.Option(help="run id (default: latest finished run)")] = None,
         model_uri: Annotated[str | None, typer.Option()] = None,
         data: Annotated[Path | None, typer.Option(help="raw MNIST .npz (default: dvc.yaml's)")] = None,
         out: Annotated[Path | None, typer.Option(help="PNG to write")] = None,
         experiment: ExperimentOption = None) -> None:
    """Write a PNG of one image with its label and the model's ten class probabilities."""
    from mnistflow.analysis import plots
    from mnistflow.core import runtime  # noqa: F401 - runtime quiets TensorFlow before MLflow loads the model
    from mnistflow.data.mnist import load_mnist
    from mnistflow.tracking import queries, require_project_root

    root = require_project_root()
    arrays = load_mnist(data or paths.raw_data(root))
    images, labels = arrays[f"x_{split.value}"], arrays[f"y_{split.value}"]
    if not 0 <= index < len(images):
        raise UsageError(f"index {index} is out of range for the {split.value} split (0-{len(images) - 1})")
    experiment_id = _connect(experiment)
    uri = model_uri or queries.model_uri_of_run(run or queries.latest_model_run(experiment_id))
    probabilities = queries.predict_probabilities(queries.load_model(uri), images[index:index + 1])[0]
    out = out or root / paths.SHOWN / f"{split.value}_{index}.png"
    plots.save(plots.digit_probabilities_figure(images[index], int(labels[index]), probabilities,
                                                f"{split.value} image #{index} — model {uri}"), out)
    print(out)


@app.command()
@one_line_errors
def review(show_index: Annotated[int | None, typer.Option(
               "--show", help="instead: picture one image of --split with the model's probabilities")] = None,
           split: Annotated[SplitName, typer.Option()] = SplitName.test) -> None:
    """Put the current suspected label errors into the review file, for you to give each a verdict."""
    from mnistflow.data import review as label_review
    from mnistflow.data.mnist import load_mnist
    from mnistflow.tracking import require_project_root

    if show_index is not None:
        return show(show_index, split=split)
    root = require_project_root()
    arrays = load_mnist(paths.raw_data(root))
    path = paths.review_file(root)
    rows, new = label_review.update_file(path, paths.error_reports(root),
                                         {"train": arrays["y_train"], "test": arrays["y_test"]})
    reviewed = sum(bool(row.verdict) for row in rows)
    print(f"{path.relative_to(root)}: {len(rows)} rows, {new} new suspects, {reviewed} reviewed. Set verdict to "
          "relabel (to `suggested`), exclude or keep; `mnistflow review --show INDEX --split train|test` pictures "
          "one; then `dvc repro` applies them.")


@app.command()
@one_line_errors
def study(study_file: Annotated[Path | None, typer.Option(
              help="seeds, base overrides and grid (default: study.yaml, unless --config is given)")] = None,
          config: Annotated[list[str], typer.Option(
              help="named configuration(s) in configs/ instead of the grid")] = [],  # noqa: B006
          seeds: Annotated[str | None, typer.Option(help="e.g. 1-8 or 1,2,3 (default: the study file's)")] = None,
          set_: Annotated[list[str], typer.Option("--set", help="override for every run, e.g. train.epochs=5")] = [],  # noqa: B006
          workers: Annotated[int, typer.Option(min=1)] = os.cpu_count() or 1,
          resume: Annotated[str | None, typer.Option(help="parent run id of an interrupted study")] = None,
          name: Annotated[str, typer.Option(help="study name, tagged on the parent run")] = "collapse",
          executor: Annotated[Executor, typer.Option(
              help="local processes, or Ray (RAY_ADDRESS or a local instance)")] = Executor.process,
          params: Annotated[Path, typer.Option()] = paths.PARAMS,
          data: DataOption = None, experiment: ExperimentOption = None) -> None:
    """Train every configuration x seed in parallel, as child runs of one parent run, and summarize."""
    from mnistflow.analysis.comparison import to_markdown
    from mnistflow.core.params import read_params
    from mnistflow.data import review
    from mnistflow.study.grid import plan
    from mnistflow.study.runner import run_study
    from mnistflow.tracking import require_project_root

    raw_params, parsed = read_params(params)
    with tempfile.TemporaryDirectory() as scratch:
        location, local_data = _study_data(data, require_project_root(), Path(scratch))
        review_rows = review.project_rows(paths.optional_review_file(require_project_root()), local_data)
    study_file = study_file or (None if config else paths.STUDY)  # named configurations stand on their own
    jobs = plan(study_file, [paths.config_file(item) for item in config], seeds, set_, raw_params)
    console = Console(stderr=True)
    console.print(f"study {name}: {len(jobs.configurations)} configurations x {len(jobs.seeds)} seeds "
                  f"= {len(jobs.jobs)} runs on {workers} workers")
    experiment = experiment or parsed.tracking.experiment
    summary = run_study(jobs.jobs, raw_params, location, experiment, workers, console, name, resume,
                        executor.value, review_rows)
    print(to_markdown(summary))


@app.command()
@one_line_errors
def tune(tune_file: Annotated[Path, typer.Option(help="search space, shared overrides and pruning")] = paths.TUNE,
         trials: Annotated[int, typer.Option(help="trials to end COMPLETE or PRUNED (a resumed study's count)")] = 40,
         workers: Annotated[int, typer.Option(min=1)] = os.cpu_count() or 1,
         name: Annotated[str, typer.Option(help="Optuna study name, tagged on the parent run")] = "tune",
         resume: Annotated[bool, typer.Option("--resume", help="continue the study called --name")] = False,
         executor: Annotated[Executor, typer.Option(
             help="local processes, or Ray (RAY_ADDRESS or a local instance)")] = Executor.process,
         params: Annotated[Path, typer.Option()] = paths.PARAMS,
         data: DataOption = None, experiment: ExperimentOption = None) -> None:
    """Search the tune file's space with Optuna; prune a trial once a class stays collapsed; write the best
    trial to configs/tuned.yaml (`mnistflow experiment tuned` re-runs it)."""
    from mnistflow.core.params import read_params
    from mnistflow.data import review
    from mnistflow.study.search_space import read_search_space
    from mnistflow.study.storage import storage_url
    from mnistflow.study.tune_runner import run_tune
    from mnistflow.study.tuning import TuneRequest
    from mnistflow.tracking import require_project_root

    if trials < 1:
        raise UsageError(f"--trials must be at least 1, got {trials}")
    raw_params, parsed = read_params(params)
    space = read_search_space(tune_file, raw_params)
    root = require_project_root()
    with tempfile.TemporaryDirectory() as scratch:
        location, local_data = _study_data(data, root, Path(scratch))
        review_rows = review.project_rows(paths.optional_review_file(root), local_data)
    request = TuneRequest(space, trials, name, storage_url(root), resume, workers, executor.value)
    console = Console(stderr=True, soft_wrap=True)
    console.print(f"tune {name}: {trials} trials on {workers} workers, storage {request.storage_url}")
    run_tune(request, raw_params, location, experiment or parsed.tracking.experiment,
             paths.config_file("tuned", root), console, review_rows)


@app.command()
@one_line_errors
def experiment(name: Annotated[str, typer.Argument(help="configs/<name>.yaml, e.g. classic-failure or fixed")],
               queue: Annotated[bool, typer.Option("--queue", help="queue it (dvc queue start runs it)")] = False,
               ) -> None:
    """Run a named configuration as a DVC experiment: `dvc exp run -n NAME -S key=value ...`."""
    import subprocess

    from mnistflow.core.params import apply_overrides, read_yaml
    from mnistflow.study.grid import read_overrides

    overrides = read_overrides(paths.config_file(name))
    apply_overrides(read_yaml(paths.PARAMS), overrides)  # a typo or a key of the other architecture: one line
    command = ["dvc", "exp", "run", "-n", name, *(["--queue"] if queue else [])]
    for key, value in overrides.items():
        command += ["-S", f"{key}={json.dumps(value)}"]
    print(" ".join(command), file=sys.stderr)
    raise typer.Exit(subprocess.run(command).returncode)


def main() -> None:
    """The console entry point: a mistake on the command line is one line, like every other error."""
    command = typer.main.get_command(app)
    try:
        code = command.main(prog_name="mnistflow", standalone_mode=False)
    except typer.Abort:
        raise SystemExit(130) from None
    except typer.TyperException as error:
        context = getattr(error, "ctx", None)
        if type(error).__name__ == "NoArgsIsHelpError" and context is not None:
            print(context.get_help())
        elif getattr(error, "exit_code", None) == 2:  # a usage error: bad option, value or command
            path = context.command_path if context is not None else "mnistflow"
            print(f"error: {error.format_message()} (see '{path} --help')", file=sys.stderr)
        else:
            raise
        raise SystemExit(2) from None
    raise SystemExit(code if isinstance(code, int) else 0)
