"""A real `mlflow server` on PostgreSQL, started by scripts/tracking-server: the pipeline, register, compare
and four concurrent trainings all work unchanged through MLFLOW_TRACKING_URI.

Needs PostgreSQL's server binaries and root (to run them as the postgres user); .ci/run installs them.
"""

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import REPO, concurrent_trainings, make_project, repro, tool_environment

pytestmark = pytest.mark.slow
BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
if not BINARIES or os.geteuid() != 0:
    pytest.skip("needs PostgreSQL server binaries and root (apt-get install postgresql)", allow_module_level=True)
pytest.importorskip("psycopg", reason="pip install psycopg[binary] (the server extra)")


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(*command: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True)


def _api(base: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}/api/2.0/mlflow/{path}", data=data,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    cluster = Path(tempfile.mkdtemp(prefix="mnistflow-pg-"))
    shutil.chown(cluster, "postgres")
    database_port, server_port = _port(), _port()
    _as_postgres(f"{BINARIES[-1]}/initdb", "-D", str(cluster / "data"), "-A", "trust", "-U", "postgres")
    _as_postgres(f"{BINARIES[-1]}/pg_ctl", "-D", str(cluster / "data"), "-w", "-l", str(cluster / "log"), "-o",
                 f"-p {database_port} -k {cluster} -c listen_addresses=127.0.0.1", "start")
    _as_postgres(f"{BINARIES[-1]}/createdb", "-h", "127.0.0.1", "-p", str(database_port), "mlflow")
    artifacts = tmp_path_factory.mktemp("artifacts")
    environment = tool_environment(MNISTFLOW_POSTGRES_URI=f"postgresql://postgres@127.0.0.1:{database_port}/mlflow")
    process = subprocess.Popen([str(REPO / "scripts" / "tracking-server"), "--postgres", "--port", str(server_port),
                                "--artifacts", str(artifacts)], env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    base = f"http://127.0.0.1:{server_port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{base}/health", timeout=2).read()
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()[-3000:]
            time.sleep(1)
    yield base
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)
    _as_postgres(f"{BINARIES[-1]}/pg_ctl", "-D", str(cluster / "data"), "-m", "fast", "stop")
    shutil.rmtree(cluster, ignore_errors=True)


def test_pipeline_register_and_compare_against_the_server(server, tmp_path, monkeypatch):
    project = make_project(tmp_path / "project")
    repro(project, MLFLOW_TRACKING_URI=server)
    experiment = _api(server, "experiments/get-by-name?experiment_name=mnistflow")["experiment"]
    runs = _api(server, "runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
    assert len(runs) == 1 and runs[0]["info"]["status"] == "FINISHED"
    metrics = {metric["key"]: metric["value"] for metric in runs[0]["data"]["metrics"]}
    assert metrics["test_accuracy"] > 0.7 and "val_recall_9" in metrics
    params = {param["key"]: param["value"] for param in runs[0]["data"]["params"]}
    assert params["prepare.train_limit"] == "2000"
    assert not (project / "mlflow.db").exists()  # nothing went to the embedded store

    from mnistflow.cli import app

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    registered = CliRunner().invoke(app, ["register"])
    assert registered.exit_code == 0 and "is now @champion" in registered.stdout, registered.stderr
    compared = CliRunner().invoke(app, ["compare", "--format", "csv"])
    assert compared.exit_code == 0 and runs[0]["info"]["run_id"][:8] in compared.stdout


def test_four_concurrent_trainings_against_the_server(server, tmp_path):
    concurrent_trainings(tmp_path, epochs=2, MLFLOW_TRACKING_URI=server, MLFLOW_EXPERIMENT_NAME="concurrent")
    experiment = _api(server, "experiments/get-by-name?experiment_name=concurrent")["experiment"]
    runs = _api(server, "runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
    assert len(runs) == 4 and {run["info"]["status"] for run in runs} == {"FINISHED"}
    for run in runs:
        history = _api(server, f"metrics/get-history?run_id={run['info']['run_id']}&metric_key=val_accuracy")
        assert [point["step"] for point in history["metrics"]] == [1, 2]
