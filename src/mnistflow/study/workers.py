"""Where study jobs run: a pool of local worker processes, or Ray tasks. Each yields one row per job.

The local pool hands each worker one job at a time over its own pipe, so it always knows which job and
which MLflow run a worker holds. A worker that dies (killed, out of memory) has its job recorded FAILED,
its run ended FAILED, and a new worker takes its place. Workers die with the study (the kernel sends them
SIGTERM when their parent goes), and Ctrl-C or SIGTERM to the study ends every run in flight KILLED.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import multiprocessing
import multiprocessing.connection
import os
import signal
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mnistflow.core.errors import Terminated, UsageError, ignore_further_signals, raise_terminated
from mnistflow.core.params import apply_overrides
from mnistflow.core.process import die_with_parent
from mnistflow.study import pruning
from mnistflow.study.grid import Job

if TYPE_CHECKING:  # TensorFlow loads in the workers only, never in the study's own process
    from mnistflow.data.catalog import Dataset
    from mnistflow.training.loop import CompiledModels

CONFIG_TAG, SEED_TAG, STUDY_TAG = "study.configuration", "study.seed", "study.name"


@dataclasses.dataclass(frozen=True)
class StudyContext:
    """What every worker needs to run a job, independent of the parent process's state."""

    raw_params: dict
    data_path: str
    tracking_uri: str
    experiment: str
    parent_run_id: str
    review_rows: tuple = ()  # the label review file's rows (review.Row), applied as the prepare stage does


def failed_row(job: Job, error: str, run_id: str | None = None) -> dict[str, Any]:
    return {"configuration": job.key, "seed": job.seed, "status": "FAILED", "run_id": run_id, "error": error}


def run_job(job: Job, context: StudyContext, data: tuple[dict, Dataset], compiled_models: CompiledModels,
            on_run_started: Callable[[str], None]) -> dict:
    """Train and evaluate one configuration and seed as a complete child run; a crash is a FAILED row."""
    from mnistflow import tracking
    from mnistflow.data import mnist
    from mnistflow.training import recording

    params = apply_overrides(context.raw_params, {**job.overrides, "train.seed": job.seed})
    row = failed_row(job, "")
    tags = {CONFIG_TAG: job.key, SEED_TAG: str(job.seed), "mlflow.parentRunId": context.parent_run_id,
            **(job.trial.tags() if job.trial else {})}
    try:
        with tracking.active_run(run_name=f"{job.key} seed={job.seed}", tags=tags) as run_id:
            row["run_id"] = run_id
            on_run_started(run_id)
            callbacks = [pruning.TrialReporter(job.trial, params.diagnostics.collapse_threshold)] if job.trial else []
            arrays, dataset = data
            splits = mnist.prepare_splits(arrays, params.prepare, dataset.classes)
            try:
                row.update(recording.train_and_evaluate(params, splits, compiled_models, dataset,
                                                        context.review_rows,
                                                        callbacks))
            except pruning.Pruned as pruned:  # a pruned trial's run is complete as far as it went
                tracking.set_tags({pruning.PRUNED_TAG: pruned.reason})
                row.update(status="PRUNED", error=pruned.reason, epochs_trained=pruned.epoch)
    except Exception as error:  # a crash of one run is recorded and the study goes on
        row["error"] = f"{type(error).__name__}: {error}"
    except (KeyboardInterrupt, Terminated):
        row.update(status="KILLED", error="interrupted")
    return row


def _setup_worker(context: StudyContext) -> tuple[dict, Dataset]:
    os.environ["MLFLOW_TRACKING_URI"] = context.tracking_uri
    from mnistflow import tracking
    from mnistflow.core import runtime  # noqa: F401 - runtime quiets TensorFlow before it loads
    from mnistflow.data.datasets import read_study_file
    from mnistflow.tracking import datasets

    tracking.connect(context.experiment)
    with tempfile.TemporaryDirectory() as folder:  # a dataset shared through the server is read here
        return read_study_file(datasets.fetch(context.data_path, Path(folder)))


def run_reporter(connection: multiprocessing.connection.Connection) -> Callable[[str], None]:
    """Tell the study which run a job has started; a study that is gone (its end of the pipe closed) ends the
    run KILLED, as the SIGTERM that the kernel sends along would."""

    def report(run_id: str) -> None:
        try:
            connection.send(("run", run_id))
        except (BrokenPipeError, ConnectionResetError):
            raise Terminated("the study is gone") from None

    return report


def worker_main(context: StudyContext, connection: multiprocessing.connection.Connection, parent_pid: int) -> None:
    """A local worker: receive jobs until told to stop; report each run's id as it starts, then its row."""
    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the study, which stops its workers
    signal.signal(signal.SIGTERM, raise_terminated)
    try:
        from mnistflow.core import runtime  # noqa: F401 - loads TensorFlow quietly, before training imports it
        from mnistflow.training.loop import CompiledModels

        data, compiled_models = _setup_worker(context), CompiledModels()  # this worker's, reused by its jobs
        while (job := connection.recv()) is not None:
            row = run_job(job, context, data, compiled_models, run_reporter(connection))
            connection.send(("row", row))
            if row["status"] == "KILLED":
                return
    except (Terminated, EOFError, BrokenPipeError):
        return


class _JobQueue:
    """The jobs not yet handed out: drawn from an iterator one at a time, `left` of them still to come."""

    def __init__(self, jobs: Iterator[Job], count: int) -> None:
        self.jobs, self.left = jobs, count

    def __bool__(self) -> bool:
        return self.left > 0

    def popleft(self) -> Job:
        self.left -= 1
        return next(self.jobs)


@dataclasses.dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    connection: multiprocessing.connection.Connection
    job: Job | None = None
    run_id: str | None = None


class LocalPool:
    """`size` spawned worker processes, replaced when one dies, stopped with their runs ended KILLED."""

    def __init__(self, context: StudyContext, size: int):
        self.context, self.size = context, size
        self.spawn = multiprocessing.get_context("spawn")
        self.workers: list[_Worker] = []

    def _start_worker(self) -> None:
        parent_end, child_end = self.spawn.Pipe()
        process = self.spawn.Process(target=worker_main, args=(self.context, child_end, os.getpid()), daemon=True)
        process.start()
        child_end.close()
        self.workers.append(_Worker(process, parent_end))

    def rows(self, jobs: Iterable[Job], count: int | None = None) -> Iterator[dict]:
        """Each job's row as it ends. `jobs` may be lazy (a tune asks for its next trial only when a worker is
        free); then `count` says how many it yields."""
        queue = _JobQueue(iter(jobs), len(jobs) if count is None else count)  # type: ignore[arg-type]
        for _ in range(min(self.size, queue.left)):
            self._start_worker()
        try:
            while queue or any(worker.job for worker in self.workers):
                for worker in self.workers:
                    if worker.job is None and queue:
                        worker.job, worker.run_id = queue.popleft(), None
                        worker.connection.send(worker.job)
                yield from self._collect(queue)
        except (KeyboardInterrupt, Terminated):
            ignore_further_signals()  # the study is ending: a second Ctrl-C or SIGTERM changes nothing now
            self.stop()
            raise
        self.close()

    def _collect(self, queue: _JobQueue) -> Iterator[dict]:
        handles = [worker.connection for worker in self.workers] + [worker.process.sentinel for worker in self.workers]
        multiprocessing.connection.wait(handles, timeout=5)
        for worker in list(self.workers):
            yield from self._read(worker)
            if not worker.process.is_alive():
                yield from self._replace(worker, queue)

    def _read(self, worker: _Worker) -> Iterator[dict]:
        with contextlib.suppress(EOFError, OSError):
            while worker.connection.poll():
                kind, payload = worker.connection.recv()
                if kind == "run":
                    worker.run_id = payload
                else:
                    worker.job = None
                    yield payload

    def _replace(self, worker: _Worker, queue: _JobQueue) -> Iterator[dict]:
        from mnistflow.tracking import runs

        self.workers.remove(worker)
        worker.connection.close()
        if worker.job is not None:
            if worker.run_id:
                runs.end_if_running(worker.run_id, "FAILED")
            yield failed_row(worker.job, f"worker process died (exit code {worker.process.exitcode})", worker.run_id)
        if queue:
            self._start_worker()

    def stop(self) -> None:
        """SIGTERM every worker (its run ends KILLED), wait, and end any run a worker still left RUNNING."""
        from mnistflow.tracking import runs

        with runs.held_signals():
            for worker in self.workers:
                with contextlib.suppress(OSError):
                    worker.process.terminate()
            for worker in self.workers:
                worker.process.join(timeout=60)
                if worker.process.is_alive():
                    worker.process.kill()
                    worker.process.join()
                if worker.run_id:
                    runs.end_if_running(worker.run_id, "KILLED")
            self.workers.clear()

    def close(self) -> None:
        for worker in self.workers:
            with contextlib.suppress(OSError):
                worker.connection.send(None)
        for worker in self.workers:
            worker.process.join(timeout=60)
        self.workers.clear()


def _ray_job(job: Job, context: StudyContext) -> dict:
    """One Ray task: set up (cheap next to training), run the job, report nothing until the row."""
    from mnistflow.core import runtime  # noqa: F401 - loads TensorFlow quietly, before training imports it
    from mnistflow.training.loop import CompiledModels

    return run_job(job, context, _setup_worker(context), CompiledModels(), lambda run_id: None)


def ray_rows(jobs: Iterable[Job], context: StudyContext, workers: int, in_flight: int | None = None
             ) -> Iterator[dict]:
    """Jobs as Ray tasks on the cluster at RAY_ADDRESS, or on a local Ray instance with `workers` CPUs. With
    `in_flight`, at most that many tasks are submitted at a time and the next job is drawn only when one ends
    (a tune's next trial is sampled from the ended ones); else every job is submitted at once."""
    try:
        import ray
    except ModuleNotFoundError:
        raise UsageError("--executor ray needs Ray: `make setup`, or pip install -c requirements.lock -e "
                         "'.[cluster]'") from None

    address = os.environ.get("RAY_ADDRESS")
    ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False,
             log_to_driver=False, configure_logging=False)
    try:
        task, waiting, pending = ray.remote(max_retries=0)(_ray_job), iter(jobs), []

        def submit(limit: int | None) -> None:
            for job in itertools.islice(waiting, limit):
                pending.append(task.options(num_cpus=job_threads(job, context)).remote(job, context))

        submit(in_flight)
        try:
            while pending:
                done, pending[:] = ray.wait(pending, num_returns=1)
                yield ray.get(done[0])
                submit(1 if in_flight else 0)
        except (KeyboardInterrupt, Terminated):
            ignore_further_signals()
            for reference in pending:
                ray.cancel(reference)  # KeyboardInterrupt in the task: its run ends KILLED
            raise
    finally:
        ray.shutdown()


def job_threads(job: Job, context: StudyContext) -> int:
    """The CPU threads a job trains with: its `train.threads`, the same as under `dvc repro`."""
    return apply_overrides(context.raw_params, job.overrides).train.threads
