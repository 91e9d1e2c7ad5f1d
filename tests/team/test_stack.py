"""The team stack for real: PostgreSQL, SeaweedFS's S3 gateway and `mlflow server`, two clones of one project,
and the faults a shared store brings (the store down, dying mid-push, wrong keys, a half-written object)."""

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from mlflow import MlflowClient

from mnistflow.team.credentials import Credentials
from mnistflow.team.stack import Stack, s3_client

from conftest import REPO, commit_all, free_port, make_project, repro, tool_environment

pytestmark = pytest.mark.slow
pytest.importorskip("dvc_s3", reason="pip install -c requirements.lock -e '.[team]'")


@dataclasses.dataclass
class Team:
    folder: Path
    server: str
    store: str
    started: str  # what `mnistflow team start` printed

    def credentials(self) -> Credentials:
        return Credentials(**json.loads((self.folder / "credentials.json").read_text()))

    def objects(self, prefix: str) -> list[dict]:
        client, found, token = s3_client(self.store, self.credentials()), [], {}
        while True:
            page = client.list_objects_v2(Bucket="mnistflow", Prefix=prefix, **token)
            found += page.get("Contents", [])
            if not page.get("IsTruncated"):
                return found
            token = {"ContinuationToken": page["NextContinuationToken"]}


def _mnistflow(*arguments: str, cwd: Path, **environment: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mnistflow", *arguments], cwd=cwd, env=tool_environment(**environment),
                          capture_output=True, text=True, timeout=600)


def _run(command: list[str], cwd: Path, **environment: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, env=tool_environment(**environment), capture_output=True, text=True,
                          timeout=600)


def _start(folder: Path, port: int, s3_port: int, postgres_uri: str) -> str:
    """Start the module's stack; a restart inside a test leaves out the test's tag, as the stack outlives it."""
    environment = {key: value for key, value in tool_environment(MNISTFLOW_POSTGRES_URI=postgres_uri).items()
                   if key != "MNISTFLOW_TEST_TAG"}
    started = subprocess.run(["mnistflow", "team", "start", "--dir", str(folder), "--port", str(port), "--s3-port",
                              str(s3_port), "--postgres"], cwd=folder, env=environment, capture_output=True,
                             text=True, timeout=600)
    assert started.returncode == 0, started.stderr[-3000:]
    return started.stdout + started.stderr


@pytest.fixture(scope="module")
def team(postgres_cluster, tmp_path_factory):
    folder = tmp_path_factory.mktemp("stack")
    postgres_uri = f"postgresql://postgres@127.0.0.1:{postgres_cluster[1]}/mlflow"
    port, s3_port = free_port(), free_port()
    stack = Team(folder, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{s3_port}", "")
    stack.started = _start(folder, port, s3_port, postgres_uri)
    stack.restart = lambda: _stop(folder) and _start(folder, port, s3_port, postgres_uri)  # type: ignore[attr-defined]
    yield stack
    _stop(folder)


def _stop(folder: Path) -> bool:
    return _mnistflow("team", "stop", "--dir", str(folder), cwd=folder).returncode == 0


def _project(folder: Path, team: Team) -> Path:
    project = make_project(folder)
    shutil.copy(REPO / ".dvc" / "config", project / ".dvc" / "config")  # the remote, as committed
    commit_all(project)
    connected = _mnistflow("team", "connect", "--dir", str(team.folder), cwd=project)
    assert connected.returncode == 0, connected.stderr
    return project


def test_push_from_one_clone_pull_into_another_and_use_the_shared_server(team, tmp_path):
    first = _project(tmp_path / "first", team)
    repro(first, MLFLOW_TRACKING_URI=team.server)
    pushed = _run(["dvc", "push"], first)
    assert pushed.returncode == 0, pushed.stderr
    commit_all(first)
    registered = _mnistflow("register", cwd=first, MLFLOW_TRACKING_URI=team.server)
    assert registered.returncode == 0 and "is now @champion" in registered.stdout, registered.stderr

    second = tmp_path / "second"
    assert _run(["git", "clone", "-q", str(first), str(second)], tmp_path).returncode == 0
    assert _mnistflow("team", "connect", "--dir", str(team.folder), cwd=second).returncode == 0
    pulled = _run(["dvc", "pull"], second)
    assert pulled.returncode == 0, pulled.stderr
    status = _run(["dvc", "status"], second)
    assert "Data and pipelines are up to date." in status.stdout, status.stdout + status.stderr
    assert (second / "models" / "model.keras").read_bytes() == (first / "models" / "model.keras").read_bytes()
    predicted = _mnistflow("predict", str(REPO / "docs" / "images" / "seven.png"), cwd=second,
                           MLFLOW_TRACKING_URI=team.server)
    assert predicted.returncode == 0 and ": 7 (p=" in predicted.stdout, predicted.stderr
    compared = _mnistflow("compare", "--format", "csv", cwd=second, MLFLOW_TRACKING_URI=team.server)
    assert compared.returncode == 0 and "test/accuracy" in compared.stdout, compared.stderr

    run_id = json.loads((first / "models" / "run.json").read_text())["run_id"]
    experiment_id = MlflowClient(team.server).get_run(run_id).info.experiment_id
    keys = [item["Key"] for item in team.objects(f"mlartifacts/{experiment_id}/")]
    assert any(key.endswith("/MLmodel") for key in keys)  # the logged model
    assert any(f"{run_id}/artifacts/figures/" in key and key.endswith(".png") for key in keys)
    assert any(f"{run_id}/artifacts/errors/" in key for key in keys)  # the galleries
    on_disk = [path for path in team.folder.rglob("*") if path.suffix in (".png", ".keras") or path.name == "MLmodel"]
    assert on_disk == []  # the server keeps no artifact on its own disk


def test_no_key_in_git_in_ps_or_in_a_log(team, tmp_path):
    project = _project(tmp_path / "project", team)
    secret = team.credentials().secret_access_key
    history = _run(["git", "log", "-p", "--all"], project).stdout
    tracked = "".join(path.read_text(errors="replace") for path in project.rglob("*")
                      if path.is_file() and ".git" not in path.parts and path.name != "config.local"
                      and path.stat().st_size < 1_000_000)
    command_lines = _run(["ps", "-eo", "args"], project).stdout
    logs = "".join(path.read_text(errors="replace") for path in (team.folder / "logs").iterdir())
    assert secret in (project / ".dvc" / "config.local").read_text()  # the one place it is meant to be
    for where, text in (("git", history), ("files", tracked), ("ps", command_lines), ("logs", logs),
                        ("start output", team.started)):
        assert secret not in text, where
    assert oct((team.folder / "credentials.json").stat().st_mode & 0o777) == "0o600"
    assert oct((project / ".dvc" / "config.local").stat().st_mode & 0o777) == "0o600"


def _http_status(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method,
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError as error:  # the port speaks TLS or gRPC only
        return type(error).__name__


def _grpc_listing(port: int) -> str:
    """Call the filer's ListEntries on /buckets/mnistflow with no client certificate: what it answered."""
    import grpc

    directory = b"/buckets/mnistflow"
    request = b"\x0a" + bytes([len(directory)]) + directory  # ListEntriesRequest{directory}
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            return f"listed {len(list(channel.unary_stream('/filer_pb.SeaweedFiler/ListEntries')(request, timeout=5)))}"
    except grpc.RpcError as error:
        return error.code().name


def test_no_port_of_the_store_gives_or_takes_an_object_without_the_keys(team):
    """SeaweedFS's master, volume server and filer listen too: on loopback only, HTTP off or behind a JWT, gRPC
    behind the stack's client certificate. Only the S3 gateway answers, and only with the keys."""
    import psutil

    client = s3_client(team.store, team.credentials())
    client.put_object(Bucket="mnistflow", Key="mlartifacts/probe.txt", Body=b"secret bytes")
    store = Stack.load(team.folder).store
    listening = [connection.laddr for connection in psutil.Process(store.pid).net_connections("tcp")
                 if connection.status == psutil.CONN_LISTEN]
    s3_port = int(team.store.rsplit(":", 1)[1])
    inner = sorted({address.port for address in listening if address.port != s3_port})
    assert len(inner) >= 6 and {address.ip for address in listening if address.port in inner} == {"127.0.0.1"}
    upload = b'--b\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\ninjected\r\n--b--\r\n'
    answers = {port: (_http_status(port, "GET", "/buckets/mnistflow/mlartifacts/probe.txt"),
                      _http_status(port, "GET", "/buckets/mnistflow/?recursive=true"),
                      _http_status(port, "GET", "/dir/assign"),
                      _http_status(port, "POST", "/buckets/mnistflow/mlartifacts/injected.txt", upload,
                                   {"Content-Type": "multipart/form-data; boundary=b"}),
                      _grpc_listing(port)) for port in [s3_port, *inner]}
    for port, (read, listed, assigned, written, over_grpc) in answers.items():
        assert read not in (200, 206) and listed != 200 and assigned != 200, (port, answers[port])
        assert written not in (200, 201, 204) and not over_grpc.startswith("listed"), (port, answers[port])
    assert answers[s3_port][:2] == (403, 403)  # the gateway itself: access denied without the keys
    keys = [item["Key"] for item in team.objects("mlartifacts/")]
    assert "mlartifacts/probe.txt" in keys and "mlartifacts/injected.txt" not in keys


def test_wrong_keys_are_one_line_naming_the_remote(team, tmp_path):
    project = _project(tmp_path / "project", team)
    local = project / ".dvc" / "config.local"
    local.write_text(local.read_text().replace(team.credentials().secret_access_key, "not-the-secret"))
    checked = _mnistflow("team", "check", cwd=project)
    assert checked.returncode == 2
    assert checked.stderr.count("\n") == 1 and "DVC remote 'team' (s3://mnistflow/dvcstore at " in checked.stderr
    assert "refused the keys in .dvc/config.local" in checked.stderr
    (project / "small.txt").write_text("to push\n")
    assert _run(["dvc", "add", "small.txt"], project).returncode == 0
    assert _run(["dvc", "push"], project).returncode != 0  # DVC refuses too, without naming the remote


def test_a_half_written_object_is_never_taken_as_complete(team, tmp_path):
    first = _project(tmp_path / "first", team)
    assert _run(["dvc", "repro", "prepare"], first).returncode == 0
    assert _run(["dvc", "push"], first).returncode == 0
    commit_all(first)
    hashes = [output["md5"] for output in _lock_outputs(first, "prepare")]
    largest = max((item for item in team.objects("dvcstore/") if any(item["Key"].endswith(h[2:]) for h in hashes)),
                  key=lambda item: item["Size"])
    client = s3_client(team.store, team.credentials())
    body = client.get_object(Bucket="mnistflow", Key=largest["Key"])["Body"].read()
    client.put_object(Bucket="mnistflow", Key=largest["Key"], Body=body[: len(body) // 2])  # as if cut off
    second = tmp_path / "second"
    _run(["git", "clone", "-q", str(first), str(second)], tmp_path)
    _mnistflow("team", "connect", "--dir", str(team.folder), cwd=second)
    pulled = _run(["dvc", "pull"], second)
    assert pulled.returncode != 0
    truncated = [path for path in (second / "data" / "prepared").glob("*") if path.stat().st_size == len(body) // 2]
    assert truncated == []
    client.put_object(Bucket="mnistflow", Key=largest["Key"], Body=body)  # the later tests share the store


def _lock_outputs(project: Path, stage: str) -> list[dict]:
    import yaml

    lock = yaml.safe_load((project / "dvc.lock").read_text())
    return [output for output in lock["stages"][stage]["outs"]]


def test_a_store_that_dies_mid_push_fails_and_the_next_push_completes(team, tmp_path):
    project = _project(tmp_path / "project", team)
    (project / "big.bin").write_bytes(os.urandom(96 * 2**20))
    assert _run(["dvc", "add", "big.bin"], project).returncode == 0
    stack = Stack.load(team.folder)
    baseline = _size(team.folder / "seaweedfs")
    push = subprocess.Popen(["dvc", "push"], cwd=project, env=tool_environment(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while _size(team.folder / "seaweedfs") < baseline + 8 * 2**20 and push.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(stack.store.pid, signal.SIGKILL)  # the store dies mid-upload
    _, errors = push.communicate(timeout=300)
    assert push.returncode != 0
    failures = [line for line in errors.splitlines() if line.startswith("ERROR")]  # DVC's own: file, then summary
    assert len(failures) == 2 and "Could not connect to the endpoint URL" in failures[0], errors
    assert failures[1] == "ERROR: failed to push data to the cloud - 1 files failed to upload", errors
    team.restart()
    again = _run(["dvc", "push"], project)
    assert again.returncode == 0, again.stderr
    assert "Cache and remote 'team' are in sync." in _run(["dvc", "status", "--cloud"], project).stdout


def _size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def test_a_run_whose_artifacts_cannot_be_stored_ends_failed_in_one_line(team, tmp_path):
    project = _project(tmp_path / "project", team)
    assert _run(["dvc", "repro", "prepare"], project).returncode == 0
    stack = Stack.load(team.folder)
    os.killpg(stack.store.pid, signal.SIGKILL)
    try:
        trained = _run(["dvc", "repro", "train"], project, MLFLOW_TRACKING_URI=team.server)
        assert trained.returncode != 0
        errors = [line for line in trained.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "its artifact store may be down" in errors[0], trained.stderr[-3000:]
        # the server gives up on the dead store and says so (HTTP 500, or closing the connection a retry was sent
        # on) before the client's 10 s timeout
        assert "(HTTP 500 for " in errors[0] or "(connection closed by the server for " in errors[0], errors[0]
        runs = MlflowClient(team.server).search_runs(
            [e.experiment_id for e in MlflowClient(team.server).search_experiments()])
        assert "RUNNING" not in {run.info.status for run in runs}
        assert "FAILED" in {run.info.status for run in runs}
    finally:
        team.restart()


def test_a_study_reads_its_data_through_the_server_with_no_local_copy(team, tmp_path):
    project = _project(tmp_path / "project", team)  # `team connect` shares the raw data through the server
    (project / "data" / "raw" / "mnist.npz").unlink()
    (project / "configs").mkdir()
    (project / "configs" / "tiny.yaml").write_text("train.epochs: 1\nprepare.train_limit: 1000\n")
    studied = _mnistflow("study", "--config", "tiny", "--seeds", "1-2", "--workers", "2", "--name", "shared",
                         "--data", "mlflow-artifacts:/datasets/mnist.npz", cwd=project,
                         MLFLOW_TRACKING_URI=team.server)
    assert studied.returncode == 0, studied.stderr[-3000:]
    client = MlflowClient(team.server)
    experiments = [experiment.experiment_id for experiment in client.search_experiments()]
    children = client.search_runs(experiments, filter_string="tags.`study.configuration` = 'tiny'")
    assert sorted(run.info.status for run in children) == ["FINISHED", "FINISHED"]
    missing = _mnistflow("study", "--config", "tiny", "--data", "mlflow-artifacts:/datasets/absent.npz",
                         cwd=project, MLFLOW_TRACKING_URI=team.server)
    assert missing.returncode == 2 and "cannot read mlflow-artifacts:/datasets/absent.npz" in missing.stderr
