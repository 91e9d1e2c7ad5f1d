"""Running a study: one parent MLflow run, a child run per job on an executor, then the summary.

`run_study` is the whole flow. A resumed study (`resume`) reopens the parent run, ends KILLED any child
whose process is gone but which the store still calls RUNNING, and skips every configuration and seed that
already has a FINISHED child. The results come from the store, the latest child per configuration and seed.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mnistflow.study.grid import Job, summarize
from mnistflow.study.workers import CONFIG_TAG, SEED_TAG, STUDY_TAG, LocalPool, StudyContext, ray_rows


def show_progress(rows: Iterator[dict], total: int, console: Console) -> list[dict]:
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


def run_jobs(jobs: list[Job], context: StudyContext, workers: int, executor: str, console: Console) -> float:
    """Run the jobs on the executor with progress; return the wall time in seconds."""
    started = time.perf_counter()
    rows = ray_rows(jobs, context, workers) if executor == "ray" else LocalPool(context, workers).rows(jobs)
    show_progress(rows, len(jobs), console)
    return time.perf_counter() - started


def results_frame(children: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration and seed: its latest child run (a re-run after a crash replaces it)."""
    frame = children.sort_values("start_time").drop_duplicates(["configuration", "seed"], keep="last")
    return frame.drop(columns="start_time").sort_values(["configuration", "seed"], ignore_index=True)


def log_summary(results: pd.DataFrame, summary: pd.DataFrame, ran: int, seconds: float) -> None:
    from mnistflow import tracking
    from mnistflow.analysis import plots
    from mnistflow.analysis.comparison import to_markdown

    with tempfile.TemporaryDirectory() as folder:
        results.to_csv(Path(folder, "results.csv"), index=False)
        summary.to_csv(Path(folder, "summary.csv"), index=False, float_format="%.4f")
        Path(folder, "summary.md").write_text(to_markdown(summary) + "\n")
        plots.save(plots.study_figure(results), Path(folder, "study_accuracy.png"))
        tracking.log_artifacts(folder, "study")
    tracking.log_metrics({"study_runs": float(len(results)), "study_wall_seconds": seconds,
                          "study_failed_runs": float((results["status"] != "FINISHED").sum()),
                          "study_runs_per_minute": ran / seconds * 60 if ran and seconds else 0.0})


def end_stale_children(experiment_id: str, children: pd.DataFrame, console: Console) -> None:
    from mnistflow.tracking import runs

    stale = [run.run_id for run in runs.running_runs([experiment_id])
             if run.process == "gone" and run.run_id in set(children["run_id"])]
    if stale:
        runs.mark_killed(stale)
        console.print(f"resuming: {len(stale)} child run(s) left RUNNING by a process that is gone, now KILLED")


def run_study(jobs: list[Job], raw_params: dict, data_path: str, experiment: str, workers: int, console: Console,
              name: str, resume: str | None, executor: str = "process", review_rows: tuple = ()) -> pd.DataFrame:
    """Run (or resume) a study under a parent run and log its results, summary and figure there."""
    from mnistflow import tracking
    from mnistflow.tracking import queries

    experiment_id = tracking.connect(experiment)
    parent_tags = None if resume else {STUDY_TAG: name}
    with tracking.active_run(run_id=resume, run_name=None if resume else f"study {name}", tags=parent_tags) as parent:
        context = StudyContext(raw_params, data_path, tracking.tracking_uri(tracking.require_project_root()),
                               experiment, parent, review_rows)
        end_stale_children(experiment_id, queries.study_children(experiment_id, parent, CONFIG_TAG, SEED_TAG),
                            console)
        finished = queries.finished_children(experiment_id, parent, CONFIG_TAG, SEED_TAG)
        todo = [job for job in jobs if (job.key, job.seed) not in finished]
        if len(todo) < len(jobs):
            console.print(f"resuming: {len(jobs) - len(todo)} of {len(jobs)} runs already finished, skipped")
        seconds = run_jobs(todo, context, workers, executor, console) if todo else 0.0
        results = results_frame(queries.study_children(experiment_id, parent, CONFIG_TAG, SEED_TAG))
        summary = summarize(results)
        log_summary(results, summary, len(todo), seconds)
    console.print(f"study run {parent}: {len(results)} runs, {len(todo)} trained in {seconds:.0f} s")
    return summary
