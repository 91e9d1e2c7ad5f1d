"""Commands that train many runs or named ones: study, tune and experiment."""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mnistflow.cli.options import DataOption, Executor, ExperimentOption, study_data, study_dataset
from mnistflow.core import paths
from mnistflow.core.errors import UsageError, one_line_errors

STUDY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # a tune's name names its lock file in the project


@one_line_errors
def study(study_file: Annotated[Path | None, typer.Option(
              help="seeds, base overrides and grid (default: study.yaml, unless --config is given)")] = None,
          config: Annotated[list[str], typer.Option(
              help="named configuration(s) in configs/ instead of the grid")] = [],  # noqa: B006
          seeds: Annotated[str | None, typer.Option(help="e.g. 1-8 or 1,2,3 (default: the study file's)")] = None,
          set_: Annotated[list[str], typer.Option("--set", help="override for every run, e.g. train.epochs=5")] = [],  # noqa: B006
          workers: Annotated[int, typer.Option(min=1, help="runs trained at once")] = os.cpu_count() or 1,
          resume: Annotated[str | None, typer.Option(help="parent run id of an interrupted study")] = None,
          name: Annotated[str, typer.Option(help="study name, tagged on the parent run")] = "collapse",
          executor: Annotated[Executor, typer.Option(
              help="local processes, or Ray (RAY_ADDRESS or a local instance)")] = Executor.process,
          params: Annotated[Path, typer.Option(help="the params file under the configurations")] = paths.PARAMS,
          data: DataOption = None, experiment: ExperimentOption = None) -> None:
    """Train every configuration x seed in parallel, as child runs of one parent run, and summarize."""
    from mnistflow.analysis.comparison import to_markdown
    from mnistflow.core.params import apply_overrides, read_params
    from mnistflow.data import review
    from mnistflow.study.grid import plan
    from mnistflow.study.runner import run_study
    from mnistflow.tracking import require_project_root

    raw_params, parsed = read_params(params)
    study_file = study_file or (None if config else paths.STUDY)  # named configurations stand on their own
    jobs = plan(study_file, [paths.config_file(item) for item in config], seeds, set_, raw_params)
    dataset = study_dataset({apply_overrides(raw_params, job.overrides).prepare.dataset for job in jobs.jobs})
    with tempfile.TemporaryDirectory() as scratch:
        location, local_data = study_data(data, require_project_root(), Path(scratch), dataset)
        review_rows = review.project_rows(paths.optional_review_file(require_project_root()), local_data)
    console = Console(stderr=True)
    console.print(f"study {name}: {len(jobs.configurations)} configurations x {len(jobs.seeds)} seeds "
                  f"= {len(jobs.jobs)} runs on {workers} workers")
    experiment = experiment or parsed.tracking.experiment
    summary = run_study(jobs.jobs, raw_params, location, experiment, workers, console, name, resume,
                        executor.value, review_rows)
    print(to_markdown(summary))


@one_line_errors
def tune(tune_file: Annotated[Path, typer.Option(help="search space, shared overrides and pruning")] = paths.TUNE,
         trials: Annotated[int, typer.Option(help="trials to end COMPLETE or PRUNED (a resumed study's count)")] = 40,
         workers: Annotated[int, typer.Option(min=1, help="runs trained at once")] = os.cpu_count() or 1,
         name: Annotated[str, typer.Option(help="Optuna study name, tagged on the parent run")] = "tune",
         resume: Annotated[bool, typer.Option("--resume", help="continue the study called --name")] = False,
         executor: Annotated[Executor, typer.Option(
             help="local processes, or Ray (RAY_ADDRESS or a local instance)")] = Executor.process,
         params: Annotated[Path, typer.Option(help="the params file under the configurations")] = paths.PARAMS,
         output: Annotated[Path | None, typer.Option(
             help="where the best trial's configuration goes (default: configs/tuned.yaml)")] = None,
         overwrite: Annotated[bool, typer.Option(
             "--overwrite", help="replace a configuration that another tune wrote to --output")] = False,
         data: DataOption = None, experiment: ExperimentOption = None) -> None:
    """Search the tune file with Optuna, pruning a trial once a class collapses; the best -> configs/tuned.yaml
    (`mnistflow experiment tuned` re-runs it)."""
    from mnistflow.core.params import read_params
    from mnistflow.data import review
    from mnistflow.study.search_space import read_search_space
    from mnistflow.study.storage import storage_url
    from mnistflow.study.tune_runner import run_tune
    from mnistflow.study.tuning import TuneRequest
    from mnistflow.tracking import require_project_root

    if trials < 1:
        raise UsageError(f"--trials must be at least 1, got {trials}")
    if not STUDY_NAME.fullmatch(name):
        raise UsageError(f"--name must be 1-64 letters, digits, '.', '_' or '-' and start with a letter or digit, "
                         f"got {name!r}")
    raw_params, parsed = read_params(params)
    space = read_search_space(tune_file, raw_params)
    root = require_project_root()
    with tempfile.TemporaryDirectory() as scratch:
        location, local_data = study_data(data, root, Path(scratch), parsed.prepare.dataset)
        review_rows = review.project_rows(paths.optional_review_file(root), local_data)
    request = TuneRequest(space, trials, name, storage_url(root), resume, workers, executor.value,
                          output or paths.config_file("tuned", root), overwrite)
    console = Console(stderr=True, soft_wrap=True)
    console.print(f"tune {name}: {trials} trials on {workers} workers, storage {request.storage_url}")
    run_tune(request, raw_params, location, experiment or parsed.tracking.experiment, console, review_rows)


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
