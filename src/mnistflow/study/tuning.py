"""Tuning: an Optuna study whose trials run on the study's executors as child runs of one MLflow parent run.

The driver asks Optuna for a trial only when a worker is free, so every sample sees the trials that ended
before it. Each worker reports its trial's validation accuracy after every epoch to the shared storage, and
stops it when a class stays collapsed or Optuna's pruner says so. Trials that cannot end well (Ctrl-C,
SIGTERM, a dead worker) end FAIL in Optuna as their runs end KILLED or FAILED in MLflow; a resumed study
fails the trials a dead driver left RUNNING and trains until `trials` trials have ended COMPLETE or PRUNED.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console

from mnistflow.core import atomic
from mnistflow.core.errors import ParamsError
from mnistflow.study import pruning
from mnistflow.study.grid import Job, config_key
from mnistflow.study.search_space import SearchSpace, trial_seed
from mnistflow.study.storage import open_storage
from mnistflow.study.workers import LocalPool, StudyContext, ray_rows

PARENT_ATTRIBUTE, SPACE_ATTRIBUTE = "mlflow_parent_run_id", "search_space"


@dataclasses.dataclass(frozen=True)
class TuneRequest:
    space: SearchSpace
    trials: int  # the trials to end COMPLETE or PRUNED, counting those of a resumed study
    name: str
    storage_url: str
    resume: bool
    workers: int
    executor: str = "process"
    output: Path = Path("configs/tuned.yaml")  # where the best trial's configuration goes
    overwrite: bool = False  # replace a configuration at `output` that another tune wrote


def open_study(request: TuneRequest, default_arch: str) -> Any:
    """Create the study, or load it to resume; a name clash or a changed search space is one line."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # its notes on empty pictures are noise here
    storage = open_storage(request.storage_url)
    exists = request.name in {summary.study_name for summary in storage.get_all_studies()}
    if exists and not request.resume:
        raise ParamsError(f"a tune study named {request.name!r} exists in {request.storage_url}; --resume continues "
                          "it, --name starts another")
    if request.resume and not exists:
        raise ParamsError(f"no tune study named {request.name!r} in {request.storage_url} to resume")
    if not exists:  # a resumed study's own configuration is checked once its parent run is known
        check_tuned_output(request.output, None, request.overwrite)
    sampler = optuna.samplers.TPESampler(seed=request.space.seed, n_startup_trials=min(10, request.trials))
    study = optuna.create_study(study_name=request.name, storage=storage, direction="maximize", sampler=sampler,
                                pruner=pruning.make_pruner(request.space.pruning), load_if_exists=request.resume)
    record = json.loads(json.dumps({**request.space.as_record(), "default_arch": default_arch}))
    if not exists:
        study.set_user_attr(SPACE_ATTRIBUTE, record)
    elif study.user_attrs.get(SPACE_ATTRIBUTE) != record:
        raise ParamsError(f"the search space or params.yaml's model.arch changed since tune study {request.name!r} "
                          "started; resume it with the same tune file, or start another with --name")
    return study


def fail_stale_trials(study: Any, console: Console) -> None:
    """Trials that a dead driver left RUNNING end FAIL (the driver's lock says no other one is alive)."""
    import optuna

    stale = [trial.number for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))]
    for number in stale:
        study.tell(number, state=optuna.trial.TrialState.FAIL)
    if stale:
        console.print(f"resuming: {len(stale)} trial(s) left RUNNING by a process that is gone, now FAIL")


def ended_trials(study: Any) -> int:
    import optuna

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


class TrialSource:
    """Asks Optuna for trials as workers free up, and tells it how each ended; any trial still open when the
    tune stops ends FAIL."""

    def __init__(self, study: Any, request: TuneRequest, default_arch: str) -> None:
        self.study, self.request, self.default_arch = study, request, default_arch
        self.open: dict[str, Any] = {}  # job key -> Optuna trial, asked and not yet told

    def jobs(self) -> Iterator[Job]:
        while True:
            trial = self.study.ask()
            overrides = self.request.space.suggest(trial, self.default_arch)
            seed = trial_seed(self.request.space.seed, trial.number)
            trial.set_user_attr("seed", seed)
            key = f"trial {trial.number} ({config_key(_searched(overrides, self.request.space))})"
            self.open[key] = trial
            link = pruning.TrialLink(self.request.storage_url, self.request.name, trial.number, trial._trial_id,
                                     self.request.space.pruning)
            yield Job(key, overrides, seed, link)

    def tell(self, row: dict) -> dict:
        import optuna

        trial = self.open.pop(row["configuration"])
        for key in ("run_id", "test_accuracy", "epochs_trained"):
            if row.get(key) is not None:
                trial.set_user_attr(key, row[key])
        if row["status"] == "FINISHED":
            self.study.tell(trial, row[pruning.OBJECTIVE])
        else:
            state = optuna.trial.TrialState.PRUNED if row["status"] == "PRUNED" else optuna.trial.TrialState.FAIL
            self.study.tell(trial, state=state)
        return row

    def fail_open(self) -> None:
        import optuna

        for trial in self.open.values():
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        self.open.clear()


def _searched(overrides: dict[str, Any], space: SearchSpace) -> dict[str, Any]:
    names = {dimension.name for dimension in space.dimensions}
    return {key.split(".")[-1]: _short(value) for key, value in overrides.items() if key in names}


def _short(value: Any) -> Any:
    return float(f"{value:.3g}") if isinstance(value, float) else value


def run_trials(source: TrialSource, context: StudyContext, count: int, console: Console) -> float:
    """Run `count` trials on the request's executor, telling Optuna as each ends; return the wall seconds."""
    from mnistflow.study.runner import show_progress

    request, started = source.request, time.perf_counter()
    jobs = itertools.islice(source.jobs(), count)
    if request.executor == "ray":
        rows = ray_rows(jobs, context, request.workers, in_flight=request.workers)
    else:
        rows = LocalPool(context, request.workers).rows(jobs, count)
    try:
        show_progress((source.tell(row) for row in rows), count, console)
    finally:
        source.fail_open()
    return time.perf_counter() - started


def best_trial(study: Any) -> Any | None:
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return max(complete, key=lambda trial: (trial.value, -trial.number)) if complete else None


def tuned_config(trial: Any, space: SearchSpace, name: str, default_arch: str, parent_id: str, stem: str) -> str:
    """configs/<stem>.yaml: the best trial's overrides and seed, so `mnistflow experiment <stem>` re-runs it."""
    import optuna

    overrides = {**space.suggest(optuna.trial.FixedTrial(trial.params), default_arch),
                 "train.seed": trial.user_attrs["seed"]}
    test_accuracy = trial.user_attrs.get("test_accuracy", float("nan"))
    header = (f"# tuned: the best trial of `mnistflow tune --name {name}` (tune run {parent_id}): "
              f"trial {trial.number}, validation accuracy {trial.value:.4f}, test accuracy {test_accuracy:.4f}, "
              f"run {trial.user_attrs.get('run_id')}.\n# `mnistflow experiment {stem}` re-runs it through dvc.\n")
    return header + yaml.safe_dump(overrides, sort_keys=False)


def write_tuned_config(study: Any, space: SearchSpace, name: str, path: Path, default_arch: str) -> Any | None:
    trial = best_trial(study)
    if trial is not None:
        parent_id = study.user_attrs[PARENT_ATTRIBUTE]
        atomic.write_text(path, tuned_config(trial, space, name, default_arch, parent_id, path.stem))
    return trial


def check_tuned_output(path: Path, parent_id: str | None, overwrite: bool) -> None:
    """Before any trial: a tuned configuration that another tune wrote is replaced only with --overwrite."""
    if overwrite or not path.exists():
        return
    if parent_id and f"(tune run {parent_id})" in path.read_text(errors="replace").partition("\n")[0]:
        return
    raise ParamsError(f"{path} holds the best trial of another tune; write this one elsewhere with --output "
                      "(e.g. configs/tuned-quick.yaml), or replace it with --overwrite")


def study_metrics(study: Any, seconds: float) -> dict[str, float]:
    """The parent run's metrics: trials by state, epochs trained, wall time, the best accuracies."""
    trials = study.get_trials(deepcopy=False)
    states = [trial.state.name for trial in trials]
    best = best_trial(study)
    metrics = {f"tune/trials_{state.lower()}": float(states.count(state)) for state in ("COMPLETE", "PRUNED", "FAIL")}
    metrics["tune/epochs_trained"] = float(sum(len(trial.intermediate_values) for trial in trials))
    metrics["tune/wall_seconds"] = seconds
    if best is not None:
        metrics["tune/best_val_accuracy"] = best.value
        metrics["tune/best_test_accuracy"] = float(best.user_attrs.get("test_accuracy", float("nan")))
    return metrics

