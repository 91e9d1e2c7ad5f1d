"""Faults: SIGTERM, a tracking server that goes away, corrupt files. Nothing is lost or half-written."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from conftest import RAW_DATA, REPO, make_project, small_params, tool_environment, write_yaml
from mnistflow.stages import prepare

pytestmark = pytest.mark.slow


def _start(arguments: list[str], cwd: Path, store: str, extra: dict | None = None) -> subprocess.Popen:
    environment = tool_environment(MLFLOW_TRACKING_URI=store, **(extra or {}))
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


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_server_going_away_mid_run_keeps_model_and_metrics_on_disk(tmp_path):
    import urllib.request

    port = _free_port()
    server = subprocess.Popen([str(REPO / "scripts" / "tracking-server"), "--port", str(port), "--artifacts",
                               str(tmp_path / "artifacts"), "--sqlite", str(tmp_path / "server.db")], cwd=tmp_path, env=tool_environment(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return urllib.request.urlopen(f"{uri}/health", timeout=2).status == 200
        except OSError:
            return False

    _wait_for(up, 120)
    params = write_yaml(tmp_path / "params.yaml", small_params(train={"epochs": 300}))
    prepare.main(["--params", str(params), "--raw", str(RAW_DATA), "--out", str(tmp_path / "prepared")])
    environment = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
    stage = _start([sys.executable, "-m", "mnistflow.stages.train", "--params", str(params), "--prepared",
                    "prepared", "--model", "model.keras", "--history", "history.csv", "--run-file", "run.json"],
                   tmp_path, uri, environment)
    client = MlflowClient(tracking_uri=uri)
    _wait_for(lambda: any(client.get_metric_history(run.info.run_id, "loss") for run in _running(client)))
    os.killpg(server.pid, signal.SIGKILL)
    server.wait()
    output = stage.communicate(timeout=600)[0]
    assert stage.returncode == 2, output[-3000:]
    error = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(error) == 1 and "the tracking store failed after training" in error[0], output[-5000:]
    assert "kept in model.keras and history.csv" in error[0]
    assert (tmp_path / "model.keras").is_file() and len((tmp_path / "history.csv").read_text().splitlines()) == 301
    assert not (tmp_path / "run.json").exists()  # the stage failed, so DVC records nothing and re-runs it


def test_corrupt_dvc_lock_and_params_are_named(tmp_path):
    project = make_project(tmp_path / "project")
    (project / "dvc.lock").write_text("schema: '2.0'\nstages: [unclosed\n")
    result = subprocess.run(["dvc", "repro"], cwd=project, capture_output=True, text=True, env=tool_environment())
    assert result.returncode != 0 and "dvc.lock" in result.stderr
    (project / "dvc.lock").unlink()
    (project / "params.yaml").write_text("prepare: {scale: [\n")
    result = subprocess.run(["dvc", "repro"], cwd=project, capture_output=True, text=True, env=tool_environment())
    assert result.returncode != 0 and "params.yaml" in result.stdout + result.stderr


def test_unwritable_artifact_folder_is_one_clear_error(tmp_path, monkeypatch):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "mlartifacts").write_text("a file where the artifact folder should be\n")
    params = write_yaml(tmp_path / "params.yaml", small_params(train={"epochs": 1}))
    prepare.main(["--params", str(params), "--raw", str(RAW_DATA), "--out", str(tmp_path / "prepared")])
    environment = {key: value for key, value in tool_environment().items() if key != "DVC_ROOT"}
    result = subprocess.run([sys.executable, "-m", "mnistflow.stages.train", "--prepared", "prepared", "--model",
                             "model.keras", "--history", "history.csv", "--run-file", "run.json"],
                            cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2, result.stderr[-3000:]
    error = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(error) == 1 and "the tracking store failed after training" in error[0]
    assert "mlartifacts" in error[0] and (tmp_path / "model.keras").is_file()
