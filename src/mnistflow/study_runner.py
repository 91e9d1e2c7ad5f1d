"""Running a study: worker processes train jobs as child MLflow runs under one parent run.

A job that crashes ends its child run FAILED and the others go on. `resume` reopens the parent run and
skips every configuration-and-seed that already has a FINISHED child.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import multiprocessing
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mnistflow.study import Job, apply_overrides, summarize
from mnistflow.tracking import Terminated

CONFIG_TAG, SEED_TAG, STUDY_TAG = "study.configuration", "study.seed", "study.name"


@dataclasses.dataclass(frozen=True)
class StudyContext:
    """What every worker needs to run a job, independent of the parent process's state."""

    raw_params: dict
    data_path: str
    tracking_uri: str
    experiment: str
    parent_run_id: str


_worker: dict = {}


def _init_worker(context: StudyContext) -> None:
    os.environ["MLFLOW_TRACKING_URI"] = context.tracking_uri
    from mnistflow import data, runtime, tracking  # noqa: F401 - runtime quiets TensorFlow before it loads

    tracking.connect(context.experiment)
    _worker.update(context=context, arrays=data.load_mnist(context.data_path))


def run_job(job: Job) -> dict:
    """Train and evaluate one configuration and seed as a complete child run; never raises."""
    from mnistflow import data, pipeline, recording, tracking

    context: StudyContext = _worker["context"]
    params = apply_overrides(context.raw_params, {**job.overrides, "train.seed": job.seed})
    row = {"configuration": job.key, "seed": job.seed, "status": "FAILED", "run_id": None, "error": ""}
    tags = {CONFIG_TAG: job.key, SEED_TAG: str(job.seed), "mlflow.parentRunId": context.parent_run_id}
    try:
        with tracking.active_run(run_name=f"{job.key} seed={job.seed}", tags=tags) as run_id:
            row["run_id"] = run_id
            splits = data.prepare_splits(_worker["arrays"], params.prepare)
            train, validation, test = splits["train"], splits["validation"], splits["test"]
            model, records = pipeline.train_model(params, train, validation, [recording.start(params)])
            recording.log_training(params, model, records, validation)
            with tempfile.TemporaryDirectory() as folder:
                result = recording.evaluate_and_log(model, params, test, pipeline.history_rows(records),
                                                    Path(folder, "figures"), Path(folder, "errors"))
        row.update(status="FINISHED", test_accuracy=result.metrics["test_accuracy"],
                   **pipeline.collapse_summary(records))
    except Exception as error:  # a crash of one run is recorded and the study goes on
        row["error"] = f"{type(error).__name__}: {error}"
    except (KeyboardInterrupt, tracking.Terminated):
        os._exit(130)  # the run has ended KILLED; this worker must not take another job
    return row


def _report(rows: Iterator[dict], total: int, console: Console) -> list[dict]:
    """Collect finished rows with a progress bar and one line per run."""
    collected = []
    columns = (TextColumn("study"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("study", total=total)
        for row in rows:
            collected.append(row)
            progress.advance(task)
            outcome = (f"test accuracy {row['test_accuracy']:.4f}, collapsed at end: "
                       f"{int(row['final_collapsed_classes'])}" if row["status"] == "FINISHED" else row["error"])
            progress.console.print(f"{row['status']:8} {row['configuration']} seed={row['seed']}: {outcome}",
                                   highlight=False, soft_wrap=True)
    return collected


def _process_rows(jobs: list[Job], context: StudyContext, workers: int) -> Iterator[dict]:
    """Jobs in `workers` spawned local processes."""
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=spawn, initializer=_init_worker,
                                                initargs=(context,)) as pool:
        futures = [pool.submit(run_job, job) for job in jobs]
        try:
            for future in concurrent.futures.as_completed(futures):
                yield future.result()
        except (KeyboardInterrupt, Terminated):
            _stop(pool)
            raise


def _stop(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Drop queued jobs and SIGTERM the workers: each in-flight run ends KILLED, none stays RUNNING."""
    workers = list(pool._processes.values())  # noqa: SLF001 - the executor offers no public handle
    pool.shutdown(wait=False, cancel_futures=True)
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.join(timeout=60)


def job_threads(job: Job, context: StudyContext) -> int:
    """The CPU threads a job trains with: its `train.threads`, the same as under `dvc repro`."""
    return apply_overrides(context.raw_params, job.overrides).train.threads


def _ray_job(job: Job, context: StudyContext) -> dict:
    if _worker.get("context") != context:  # Ray reuses worker processes: set each up once
        _init_worker(context)
    return run_job(job)


def _ray_rows(jobs: list[Job], context: StudyContext, workers: int) -> Iterator[dict]:
    """Jobs as Ray tasks on the cluster at RAY_ADDRESS, or on a local Ray instance with `workers` CPUs."""
    import ray

    address = os.environ.get("RAY_ADDRESS")
    ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False,
             log_to_driver=False, configure_logging=False)
    try:
        task = ray.remote(max_retries=0)(_ray_job)
        pending = [task.options(num_cpus=job_threads(job, context)).remote(job, context) for job in jobs]
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                yield ray.get(done[0])
        except (KeyboardInterrupt, Terminated):
            for reference in pending:
                ray.cancel(reference)  # KeyboardInterrupt in the task: its run ends KILLED
            raise
    finally:
        ray.shutdown()


def run_jobs(jobs: list[Job], context: StudyContext, workers: int, console: Console,
             executor: str = "process") -> list[dict]:
    rows = _ray_rows(jobs, context, workers) if executor == "ray" else _process_rows(jobs, context, workers)
    return _report(rows, len(jobs), console)


def run_study(jobs: list[Job], context: StudyContext, workers: int, console: Console,
              finished: set[tuple[str, int]], executor: str = "process") -> tuple[list[dict], float]:
    todo = [job for job in jobs if (job.key, job.seed) not in finished]
    if len(todo) < len(jobs):
        console.print(f"resuming: {len(jobs) - len(todo)} of {len(jobs)} runs already finished, skipped")
    started = time.perf_counter()
    rows = run_jobs(todo, context, workers, console, executor) if todo else []
    return rows, time.perf_counter() - started


def results_frame(children: pd.DataFrame) -> pd.DataFrame:
    """Study results from the parent's child runs in the store (the source of truth, resumed runs too)."""
    columns = {f"tags.{CONFIG_TAG}": "configuration", f"tags.{SEED_TAG}": "seed", "status": "status",
               "run_id": "run_id", "metrics.test_accuracy": "test_accuracy",
               "metrics.final_collapsed_classes": "final_collapsed_classes",
               "metrics.epochs_collapsed": "epochs_collapsed"}
    frame = children.reindex(columns=list(columns)).rename(columns=columns)
    frame["seed"] = pd.to_numeric(frame["seed"])
    return frame.sort_values(["configuration", "seed"], ignore_index=True)



def execute(jobs: list[Job], context: StudyContext, workers: int, console: Console, name: str,
            resume: str | None, executor: str = "process") -> pd.DataFrame:
    """Run (or resume) a study under a parent run and log its results, summary and figure there."""
    from mnistflow import plots, tracking
    from mnistflow.comparison import to_markdown
    from mnistflow.tracking import queries

    experiment_id = tracking.connect(context.experiment)
    parent_tags = None if resume else {STUDY_TAG: name}
    with tracking.active_run(run_id=resume, run_name=None if resume else f"study {name}", tags=parent_tags) as parent:
        context = dataclasses.replace(context, parent_run_id=parent)
        finished = queries.finished_children(experiment_id, parent, CONFIG_TAG, SEED_TAG)
        _, seconds = run_study(jobs, context, workers, console, finished, executor)
        results = results_frame(queries.child_runs(experiment_id, parent))
        summary = summarize(results)
        with tempfile.TemporaryDirectory() as folder:
            results.to_csv(Path(folder, "results.csv"), index=False)
            summary.to_csv(Path(folder, "summary.csv"), index=False, float_format="%.4f")
            Path(folder, "summary.md").write_text(to_markdown(summary) + "\n")
            plots.save(plots.study_figure(results), Path(folder, "study_accuracy.png"))
            tracking.log_artifacts(folder, "study")
        ran = len(jobs) - len(finished)
        tracking.log_metrics({"study_runs": float(len(results)), "study_wall_seconds": seconds,
                              "study_failed_runs": float((results["status"] != "FINISHED").sum()),
                              "study_runs_per_minute": ran / seconds * 60 if ran else 0.0})
    console.print(f"study run {parent}: {len(results)} runs, {ran} trained in {seconds:.0f} s")
    return summary
