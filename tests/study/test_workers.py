"""Study workers: the local pool runs every job as a child run; threads come from each job's params."""

import subprocess

import pytest
from mlflow import MlflowClient

from mnistflow import tracking
from mnistflow.study.grid import Job
from mnistflow.study.workers import LocalPool, StudyContext, failed_row, job_threads

from conftest import RAW_DATA, small_params, tool_environment, write_yaml


def test_each_job_trains_with_its_own_thread_count():
    context = StudyContext(small_params(), str(RAW_DATA), "sqlite:///unused.db", "e", "")
    assert job_threads(Job("a", {}, 1), context) == 1
    assert job_threads(Job("b", {"train.threads": 2}, 1), context) == 2
    assert failed_row(Job("a", {}, 3), "boom") == {"configuration": "a", "seed": 3, "status": "FAILED",
                                                   "run_id": None, "error": "boom"}


@pytest.mark.slow
def test_the_local_pool_runs_every_job_as_a_child_run(store):
    experiment_id = tracking.connect("pool")
    with tracking.active_run() as parent:
        raw = small_params(train={"epochs": 1}, prepare={"train_limit": 1000})
        context = StudyContext(raw, str(RAW_DATA), store, "pool", parent)
        jobs = [Job("u16", {"model.mlp.units": 16}, seed) for seed in (1, 2, 3)]
        rows = list(LocalPool(context, 2).rows(jobs))
    assert sorted((row["seed"], row["status"]) for row in rows) == [(1, "FINISHED"), (2, "FINISHED"),
                                                                    (3, "FINISHED")]
    children = MlflowClient().search_runs([experiment_id], f"tags.mlflow.parentRunId = '{parent}'")
    assert sorted(run.info.run_id for run in children) == sorted(row["run_id"] for row in rows)
    assert {run.data.params["model.mlp.units"] for run in children} == {"16"}


@pytest.mark.slow
def test_a_study_prints_no_tensorflow_start_up_lines(tmp_path):
    """The workers load TensorFlow quietly too: no absl / oneDNN / CUDA-stub lines among the study's output."""
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    write_yaml(tmp_path / "params.yaml", small_params(train={"epochs": 1}, prepare={"train_limit": 1000}))
    (tmp_path / "study.yaml").write_text("seeds: [1]\n")
    result = subprocess.run(["mnistflow", "study", "--workers", "1", "--name", "quiet", "--data", str(RAW_DATA)],
                            cwd=tmp_path, env=tool_environment(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    prefixes = ("I0000", "E0000", "W0000", "WARNING: All log messages")
    noise = [line for line in result.stderr.splitlines() if line.startswith(prefixes)]
    assert not noise, noise


def test_a_job_whose_study_is_gone_ends_its_run_killed(store):
    """A study killed just as a worker starts a run: the report to it fails, and the run ends KILLED, not FAILED."""
    import multiprocessing

    from mnistflow.study.workers import run_job, run_reporter

    experiment_id = tracking.connect("gone")
    study_end, worker_end = multiprocessing.Pipe()
    study_end.close()
    context = StudyContext(small_params(), str(RAW_DATA), store, "gone", "")
    row = run_job(Job("u16", {}, 1), context, {}, None, run_reporter(worker_end))  # type: ignore[arg-type]
    assert row["status"] == "KILLED"
    assert [run.info.status for run in MlflowClient().search_runs([experiment_id])] == ["KILLED"]
