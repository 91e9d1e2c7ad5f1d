"""SIGTERM during training or a study: every run ends KILLED, no out is half-written."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from conftest import RAW_DATA, REPO, small_params, write_yaml
from mnistflow.stages import prepare

pytestmark = pytest.mark.slow


def _start(arguments: list[str], cwd: Path, store: str) -> subprocess.Popen:
    environment = {**os.environ, "MLFLOW_TRACKING_URI": store,
                   "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.Popen(arguments, cwd=cwd, env=environment, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _wait_for(condition, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def _running(client: MlflowClient) -> list:
    return client.search_runs(["1"], filter_string="attributes.status = 'RUNNING'") if \
        client.get_experiment_by_name("mnistflow") else []


def test_sigterm_during_training_ends_the_run_killed_without_outs(store, tmp_path):
    params = write_yaml(tmp_path / "params.yaml", small_params(train={"epochs": 400}))
    prepare.main(["--params", str(params), "--raw", str(RAW_DATA), "--out", str(tmp_path / "prepared")])
    stage = _start([sys.executable, "-m", "mnistflow.stages.train", "--params", str(params), "--prepared",
                    "prepared", "--model", "model.keras", "--history", "history.csv", "--run-file", "run.json"],
                   tmp_path, store)
    client = MlflowClient()
    _wait_for(lambda: any(client.get_metric_history(run.info.run_id, "loss") for run in _running(client)))
    stage.send_signal(signal.SIGTERM)
    assert stage.wait(timeout=60) != 0
    runs = client.search_runs(["1"])
    assert [run.info.status for run in runs] == ["KILLED"]
    assert not any((tmp_path / name).exists() for name in ("model.keras", "history.csv", "run.json"))
    assert not list(tmp_path.glob(".model*")) and not list(tmp_path.glob(".run*"))


def test_sigterm_during_a_study_leaves_no_run_running(store, tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "long.yaml").write_text("train.epochs: 300\nprepare.train_limit: 3000\n")
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    study = _start(["mnistflow", "study", "--config", "long", "--seeds", "1-6", "--workers", "2",
                    "--data", str(RAW_DATA)], tmp_path, store)
    client = MlflowClient()
    _wait_for(lambda: len([run for run in _running(client) if "mlflow.parentRunId" in run.data.tags]) == 2)
    study.send_signal(signal.SIGTERM)
    study.wait(timeout=120)
    statuses = sorted(run.info.status for run in client.search_runs(["1"]))
    assert statuses == ["KILLED", "KILLED", "KILLED"]  # the parent and the two runs in flight; nothing queued ran
