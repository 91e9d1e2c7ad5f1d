"""A run's lifecycle: start or resume it, always end it, and find runs whose process died.

One path ends every run: FINISHED when the block completes, FAILED on an error, KILLED on Ctrl-C or SIGTERM.
Ctrl-C and SIGTERM are held while a run starts and while it ends, so a second signal can neither leave it
RUNNING nor let MLflow's exit handler mark an unfinished run FINISHED; a held signal takes effect right
after. A process killed outright (SIGKILL, power loss) cannot end its run: each run records its host, process
id and process start time, and `stale_runs` finds RUNNING runs whose process is gone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import mlflow
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException

from mnistflow.core import process
from mnistflow.core.errors import Terminated, TrackingError
from mnistflow.tracking import metric_keys
from mnistflow.tracking.store import describe
from mnistflow.tracking.views import DESCRIPTION_TAG

HOST_TAG, PID_TAG, PROCESS_START_TAG = "mnistflow.host", "mnistflow.pid", "mnistflow.process_start"
HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)
T = TypeVar("T")


@contextlib.contextmanager
def held_signals() -> Iterator[list[int]]:
    """Hold Ctrl-C and SIGTERM while the block runs; yield the list of those that arrived meanwhile."""
    arrived: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield arrived
        return
    previous = {signum: signal.signal(signum, lambda signum, frame: arrived.append(signum))
                for signum in HELD_SIGNALS}
    try:
        yield arrived
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def raise_held(arrived: list[int]) -> None:
    """Deliver a held signal now, as the exception its handler would have raised."""
    if signal.SIGTERM in arrived:
        raise Terminated(f"received signal {signal.SIGTERM}")
    if signal.SIGINT in arrived:
        raise KeyboardInterrupt


def process_tags() -> dict[str, str]:
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid()),
            PROCESS_START_TAG: process.start_time(os.getpid()) or "unknown"}


def _switch_to_experiment_of(run_id: str) -> None:
    """Resuming (evaluate, `mlflow run`, a study's --resume) works in that run's own experiment."""
    try:
        mlflow.set_experiment(experiment_id=mlflow.get_run(run_id).info.experiment_id)
    except mlflow.exceptions.MlflowException:
        raise TrackingError(f"unknown run {run_id!r} in the tracking store {mlflow.get_tracking_uri()}") from None


def check_run_experiment(run_id: str, experiment: str) -> None:
    """A run made outside mnistflow (`mlflow run` without --experiment-name) must be in the project's
    experiment, where `compare` and `register` look; else one line says how to run it."""
    try:
        found = mlflow.get_experiment(mlflow.get_run(run_id).info.experiment_id).name
    except mlflow.exceptions.MlflowException:
        raise TrackingError(f"unknown run {run_id!r} in the tracking store {mlflow.get_tracking_uri()}") from None
    if found != experiment:
        raise TrackingError(f"run {run_id} is in experiment {found!r}, where `mnistflow compare` and `register` do "
                            f"not look; start it with `mlflow run . --experiment-name {experiment} ...`")


@contextlib.contextmanager
def active_run(run_id: str | None = None, run_name: str | None = None, parent_run_id: str | None = None,
               tags: dict[str, str] | None = None) -> Iterator[str]:
    """Start (or resume) a run and always end it: FINISHED, FAILED, or KILLED on Ctrl-C / SIGTERM."""
    if run_id:
        _switch_to_experiment_of(run_id)
    with held_signals() as arrived:
        run = _start(run_id, run_name, parent_run_id, tags)
    status = RunStatus.to_string(RunStatus.FAILED)
    try:
        raise_held(arrived)
        yield run.info.run_id
        status = RunStatus.to_string(RunStatus.FINISHED)
    except (KeyboardInterrupt, Terminated):
        status = RunStatus.to_string(RunStatus.KILLED)
        raise
    finally:
        with held_signals() as arrived_while_ending:
            _end(run.info.run_id, status, report=status == RunStatus.to_string(RunStatus.FINISHED))
    raise_held(arrived_while_ending)


def system_metrics_wanted(environment: Mapping[str, str]) -> bool:
    """On, unless MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING turns them off (false, 0 or no)."""
    return environment.get("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "true").strip().lower() not in ("false", "0", "no")


def _start(run_id: str | None, run_name: str | None, parent_run_id: str | None, tags: dict[str, str] | None):
    """mlflow.start_run; a store that cannot record a run (read-only, full, gone) is one TrackingError."""
    try:
        # System metrics (CPU, memory, disk every 10 s) for a new run; a resumed one already has its monitor.
        # MLflow's INFO lines about the monitor would print at every start and end.
        logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)
        run = mlflow.start_run(run_id=run_id, run_name=run_name, parent_run_id=parent_run_id,
                               tags={**(tags or {}), **process_tags()}, nested=parent_run_id is not None,
                               log_system_metrics=system_metrics_wanted(os.environ) and not run_id)
    except Exception as error:  # any transport or database failure means the same thing to the user
        raise TrackingError(f"tracking store {mlflow.get_tracking_uri()} cannot start a run: "
                            f"{describe(error)}") from None
    if run_id:
        mlflow.set_tags(process_tags())  # a resumed run now belongs to this process
    return run


def _end(run_id: str, status: str, report: bool) -> None:
    """Flush and end the run; if the store is gone, say so, unless an earlier error already is on its way."""
    failures = []
    for step in (mlflow.flush_async_logging, lambda: mlflow.end_run(status)):
        try:
            step()
        except Exception as error:  # the store went away: do not mask the error that ended the run, if any
            failures.append(error)
    if failures and report:
        raise TrackingError(f"run {run_id} could not be completed in the tracking store: "
                            f"{describe(failures[0])}")


@dataclasses.dataclass(frozen=True)
class RunningRun:
    """A run the store calls RUNNING, and what became of the process that started it."""

    run_id: str
    name: str
    host: str
    pid: str
    process: str  # "alive", "gone" or "unknown" (another host, or a run without process tags)


def _process_state(tags: dict[str, str]) -> str:
    if tags.get(HOST_TAG) != socket.gethostname() or not tags.get(PID_TAG, "").isdigit():
        return "unknown"
    return "alive" if process.is_alive(int(tags[PID_TAG]), tags.get(PROCESS_START_TAG, "")) else "gone"


def running_runs(experiment_ids: list[str]) -> list[RunningRun]:
    runs = mlflow.MlflowClient().search_runs(experiment_ids, filter_string="attributes.status = 'RUNNING'",
                                             max_results=5000)
    return [RunningRun(run.info.run_id, run.info.run_name or "", run.data.tags.get(HOST_TAG, "?"),
                       run.data.tags.get(PID_TAG, "?"), _process_state(run.data.tags)) for run in runs]


def mark_killed(run_ids: list[str]) -> None:
    client = mlflow.MlflowClient()
    for run_id in run_ids:
        client.set_terminated(run_id, RunStatus.to_string(RunStatus.KILLED))


def end_if_running(run_id: str, status: str) -> bool:
    """End a run another process left RUNNING (a study worker that died); True if it was still RUNNING."""
    client = mlflow.MlflowClient()
    if client.get_run(run_id).info.status != "RUNNING":
        return False
    client.set_terminated(run_id, status)
    return True


def uninterrupted(function: Callable[..., T]) -> Callable[..., T]:
    """Hold Ctrl-C and SIGTERM while `function` writes to the store, then deliver them.

    A signal that lands inside a database write can leave the store's connection unusable, and then the
    run could not be ended KILLED; held, it takes effect a moment later, between writes.
    """

    @functools.wraps(function)
    def wrapper(*arguments: Any, **keywords: Any) -> T:
        with held_signals() as arrived:
            result = function(*arguments, **keywords)
        raise_held(arrived)
        return result

    return wrapper


@uninterrupted
def log_params(params: dict[str, Any]) -> None:
    mlflow.log_params({key: "null" if value is None else value for key, value in params.items()})


@uninterrupted
def log_metrics(metrics: dict[str, float], step: int | None = None, model_id: str | None = None,
                dataset: Any = None) -> None:
    """Log synchronously. MLflow 3.17's asynchronous queue saves about 0.1 s over 20 epochs, but flushing it
    when a run ends costs 2 s (bench/run.py measures the overhead either way). Each name is logged under its
    grouped MLflow key (`val_loss` -> `val/loss`, see metric_keys); with a model id and a dataset, the metrics
    are also the logged model's, measured on that dataset."""
    mlflow.log_metrics(metric_keys.grouped(metrics), step=step, synchronous=True, model_id=model_id, dataset=dataset)


@uninterrupted
def set_tags(tags: dict[str, Any]) -> None:
    mlflow.set_tags({key: str(value) for key, value in tags.items()})


@uninterrupted
def log_artifacts(folder: str | Path, artifact_folder: str | None = None) -> None:
    mlflow.log_artifacts(str(folder), artifact_path=artifact_folder)


@uninterrupted
def log_dict(data: Any, name: str) -> None:
    mlflow.log_dict(data, name)


@uninterrupted
def log_table(frame, name: str) -> None:
    mlflow.log_table(frame, artifact_file=name)


@uninterrupted
def log_datasets(datasets: dict[str, tuple[Any, Any]], name: str) -> None:
    """Each split as the run's input ({context: (images, labels)}), with MLflow's digest and shapes.

    MLflow's SQL store looks a dataset up and inserts it when it is new, in one transaction: two runs of an
    experiment that log the same new dataset at once can both miss it, and the later insert fails on the
    dataset's key (a 400 from a tracking server) and rolls back. A second try finds the row and links to it.
    """
    from mlflow.data.numpy_dataset import from_numpy

    for context, (images, labels) in datasets.items():
        dataset = from_numpy(images, targets=labels, name=f"{name}-{context}")
        try:
            mlflow.log_input(dataset, context=context)
        except MlflowException as error:
            if "INSERT INTO datasets" not in str(error):
                raise
            mlflow.log_input(dataset, context=context)  # the dataset's row is there now: this try links to it


@uninterrupted
def log_image(image: Any, key: str, step: int) -> None:
    """One image of a series (MLflow's image slider in the run's artifacts / charts), at `step`."""
    mlflow.log_image(image, key=key, step=step, synchronous=True)  # async: a 2 s flush at every run end


@uninterrupted
def append_description(text: str) -> None:
    """Add a paragraph to the active run's description."""
    run = mlflow.active_run()
    current = mlflow.get_run(run.info.run_id).data.tags.get(DESCRIPTION_TAG, "") if run else ""
    mlflow.set_tag(DESCRIPTION_TAG, f"{current}\n\n{text}" if current else text)
