"""A real `mlflow server` on PostgreSQL, started by scripts/tracking-server: the pipeline, register, compare
and four concurrent trainings all work unchanged through MLFLOW_TRACKING_URI.

Needs PostgreSQL's server binaries and root (to run them as the postgres user); .ci/run installs them.
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import POSTGRES_BINARIES, REPO, concurrent_trainings, free_port, make_project, tool_environment

pytestmark = pytest.mark.slow
if not POSTGRES_BINARIES or os.geteuid() != 0:
    pytest.skip("needs PostgreSQL server binaries and root (apt-get install postgresql)", allow_module_level=True)
pytest.importorskip("psycopg", reason="pip install psycopg[binary] (the server extra)")


def _api(base: str, path: str, body: dict | None = None, method: str | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}/api/2.0/mlflow/{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _start_server(environment: dict, artifacts: Path, *options: str) -> tuple[subprocess.Popen, str]:
    """The server's output goes to a file beside the artifacts: a pipe that nobody reads fills up (64 KiB of
    access log) and then blocks the server mid-request or mid-shutdown."""
    port = free_port()
    log = artifacts.parent / f"server-{port}.log"
    with log.open("w") as sink:
        process = subprocess.Popen([str(REPO / "scripts" / "tracking-server"), "--postgres", *options, "--port",
                                    str(port), "--artifacts", str(artifacts)], env=environment, stdout=sink,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    process.log = log
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{base}/health", timeout=2).read()
            return process, base
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)


def _stop_server(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise AssertionError(f"the server ignored SIGTERM for 30 s:\n{process.log.read_text()[-3000:]}") from None


@pytest.fixture(scope="module")
def server(postgres_cluster, tmp_path_factory):
    _, database_port = postgres_cluster
    environment = tool_environment(MNISTFLOW_POSTGRES_URI=f"postgresql://postgres@127.0.0.1:{database_port}/mlflow")
    process, base = _start_server(environment, tmp_path_factory.mktemp("artifacts"))
    yield base
    _stop_server(process)


def test_setup_quotes_the_password_and_never_shows_it_on_a_command_line(postgres_cluster, tmp_path):
    from urllib.parse import quote

    folder, database_port = postgres_cluster
    password = "it's'; DROP ROLE postgres; --"
    uri = f"postgresql://mnist_user:{quote(password, safe='')}@127.0.0.1:{database_port}/mnist_db"
    environment = tool_environment(MNISTFLOW_POSTGRES_URI=uri, PGHOST=str(folder), PGPORT=str(database_port))
    process, base = _start_server(environment, tmp_path / "artifacts", "--setup-postgres")
    try:
        command_lines = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
        experiment = _api(base, "experiments/create", {"name": "through-the-new-role"})
    finally:
        _stop_server(process)
    assert password not in command_lines and quote(password, safe="") not in command_lines
    assert experiment["experiment_id"]
    query = ("SELECT string_agg(rolname || ':' || (rolpassword IS NOT NULL)::text, ',' ORDER BY rolname) "
             "FROM pg_authid WHERE rolname IN ('mnist_user', 'postgres')")
    roles = subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-h", str(folder), "-p", str(database_port),
                            "-d", "mnist_db", "-tAc", query], capture_output=True, text=True, check=True).stdout.strip()
    assert roles == "mnist_user:true,postgres:false"  # the role has its password, and nothing was injected


def test_pipeline_register_and_compare_against_the_server(server, tmp_path, monkeypatch):
    project = make_project(tmp_path / "project")
    result = subprocess.run(["dvc", "repro"], cwd=project, capture_output=True, text=True,
                            env=tool_environment(MLFLOW_TRACKING_URI=server), timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for noise in ("View run", "View experiment", "Downloading artifacts", "Uploading artifacts"):
        assert noise not in result.stdout + result.stderr, noise  # MLflow's links and bars, through a server
    experiment = _api(server, "experiments/get-by-name?experiment_name=mnistflow")["experiment"]
    runs = _api(server, "runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
    assert len(runs) == 1 and runs[0]["info"]["status"] == "FINISHED"
    metrics = {metric["key"]: metric["value"] for metric in runs[0]["data"]["metrics"]}
    assert metrics["test/accuracy"] > 0.7 and "val_recall/9" in metrics
    params = {param["key"]: param["value"] for param in runs[0]["data"]["params"]}
    assert params["prepare.train_limit"] == "2000"
    assert not (project / "mlflow.db").exists()  # nothing went to the embedded store

    from mnistflow.cli import app

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    registered = CliRunner().invoke(app, ["register"])
    assert registered.exit_code == 0 and "is now @champion" in registered.stdout, registered.stderr
    compared = CliRunner().invoke(app, ["compare", "--format", "csv"])
    assert compared.exit_code == 0 and runs[0]["info"]["run_id"][:8] in compared.stdout

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # a teammate's predicts, through the server
    monkeypatch.chdir(project)
    seven = str(REPO / "docs" / "images" / "seven.png")
    first = CliRunner().invoke(app, ["predict", seven])
    assert first.exit_code == 0 and "7 (p=" in first.stdout, first.stderr
    [cached] = (tmp_path / "cache" / "mnistflow" / "models").iterdir()  # the champion's files, downloaded once
    (cached / "marker").write_text("kept")
    second = CliRunner().invoke(app, ["predict", seven])
    assert second.exit_code == 0 and second.stdout == first.stdout, second.stderr
    assert (cached / "marker").read_text() == "kept" and "Downloading" not in first.stderr + second.stderr

    def predict_imports_mlflow() -> bool:  # in a process of its own: does it ask MLflow which model to use?
        script = ("import sys; from typer.testing import CliRunner; from mnistflow.cli import app; "
                  f"result = CliRunner().invoke(app, ['predict', {seven!r}]); assert result.exit_code == 0; "
                  "print(result.stdout.strip()); print('mlflow' in sys.modules)")
        done = subprocess.run([sys.executable, "-c", script], cwd=project, capture_output=True, text=True,
                              timeout=300, env=tool_environment(MLFLOW_TRACKING_URI=server,
                                                                XDG_CACHE_HOME=str(tmp_path / "cache")))
        assert done.returncode == 0, done.stderr[-3000:]
        answer, imported = done.stdout.strip().splitlines()[-2:]
        assert answer == first.stdout.strip()
        return imported == "True"

    assert not predict_imports_mlflow()  # the server's answer is remembered while its model and runs stand still
    _api(server, "registered-models/update", {"name": "mnist-digits", "description": "changed"}, method="PATCH")
    assert predict_imports_mlflow()  # the registered model changed: MLflow is asked again
    assert not predict_imports_mlflow()


def test_four_concurrent_trainings_against_the_server(server, tmp_path):
    concurrent_trainings(tmp_path, epochs=2, MLFLOW_TRACKING_URI=server, MLFLOW_EXPERIMENT_NAME="concurrent")
    experiment = _api(server, "experiments/get-by-name?experiment_name=concurrent")["experiment"]
    runs = _api(server, "runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
    assert len(runs) == 4 and {run["info"]["status"] for run in runs} == {"FINISHED"}
    for run in runs:
        history = _api(server, f"metrics/get-history?run_id={run['info']['run_id']}&metric_key=val/accuracy")
        assert [point["step"] for point in history["metrics"]] == [1, 2]
