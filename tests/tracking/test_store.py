"""Finding, creating and connecting to the tracking store."""

import socket

import pytest
from mlflow import MlflowClient

from mnistflow import tracking
from mnistflow.tracking.store import describe


def test_default_store_is_sqlite_at_the_project_root(tmp_path, monkeypatch):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "sub" / "dir").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "sub" / "dir")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    assert tracking.project_root() == tmp_path
    monkeypatch.setenv("DVC_ROOT", str(tmp_path / "sub"))  # a queued experiment's real repository
    assert tracking.project_root() == tmp_path / "sub"
    monkeypatch.delenv("DVC_ROOT")
    assert tracking.tracking_uri(tracking.project_root()) == f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment_id = tracking.connect("embedded")
    artifacts = MlflowClient().get_experiment(experiment_id).artifact_location
    assert artifacts == (tmp_path / "mlartifacts").as_uri()  # beside the store, whatever the working directory
    # the MLflow UI opens it in the classic ML view, not the GenAI (traces) one
    assert MlflowClient().get_experiment(experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking.tracking_uri(tmp_path) == "http://127.0.0.1:5999"


def test_experiment_name_from_environment_wins(store, monkeypatch):
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "from-env")
    experiment_id = tracking.connect("from-params")
    assert MlflowClient().get_experiment(experiment_id).name == "from-env"


def test_unusable_store_is_one_clear_error(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'file' / 'mlflow.db'}")
    with pytest.raises(tracking.TrackingError, match="tracking store sqlite:///.* is not usable"):
        tracking.connect("any")


def test_unreachable_server_is_one_clear_error_within_seconds(monkeypatch):
    import socket
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(tracking.TrackingError, match=f"tracking server http://127.0.0.1:{port} is unreachable"):
        tracking.connect("any")
    assert time.monotonic() - started < 10


def test_a_copied_project_does_not_write_into_the_originals_artifacts(tmp_path, monkeypatch):
    import shutil

    original = tmp_path / "original"
    original.mkdir()
    (original / "dvc.yaml").write_text("stages: {}\n")
    for variable in ("MLFLOW_TRACKING_URI", "DVC_ROOT", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(variable, raising=False)
    from conftest import run_python

    created = run_python("from mnistflow import tracking; tracking.connect('copied')", original,
                         env={"MLFLOW_TRACKING_URI": "", "DVC_ROOT": ""})
    assert created.returncode == 0, created.stderr[-2000:]
    shutil.copytree(original, tmp_path / "copy")
    monkeypatch.chdir(tmp_path / "copy")
    with pytest.raises(tracking.TrackingError, match="outside this project"):
        tracking.connect("copied")


def test_a_project_whose_path_has_a_space_connects_again(tmp_path, monkeypatch):
    """MLflow stores the artifact location URL-quoted (`no%20pruning`); read back as a path it must be the
    project's own folder, not `outside this project`."""
    project = tmp_path / "no pruning"
    project.mkdir()
    (project / "dvc.yaml").write_text("stages: {}\n")
    for variable in ("MLFLOW_TRACKING_URI", "DVC_ROOT", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(variable, raising=False)
    from conftest import run_python

    for _ in range(2):  # the second connect finds the experiment and checks its artifact location
        connected = run_python("from mnistflow import tracking; tracking.connect('spaced')", project,
                               env={"MLFLOW_TRACKING_URI": "", "DVC_ROOT": ""})
        assert connected.returncode == 0, connected.stderr[-2000:]


def test_a_command_outside_any_project_says_so_instead_of_creating_a_store(tmp_path, monkeypatch):
    for variable in ("MLFLOW_TRACKING_URI", "DVC_ROOT"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(tracking.TrackingError, match="is not inside an mnistflow project"):
        tracking.connect("anything")
    assert not (tmp_path / "mlflow.db").exists()


def _failed_upload(listener: socket.socket, tmp_path) -> tuple[BaseException, str]:
    """Upload a file to the artifact endpoint of the server behind `listener`: (the error raised, the file's URL)."""
    from mlflow.store.artifact.http_artifact_repo import HttpArtifactRepository

    (tmp_path / "x.txt").write_text("x")
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/api/2.0/mlflow-artifacts/artifacts/1/run/artifacts"
    with listener, pytest.raises(Exception) as raised:
        HttpArtifactRepository(url).log_artifact(str(tmp_path / "x.txt"))
    return raised.value, f"{url}/x.txt"


def test_an_artifact_request_the_server_never_answers_is_blamed_on_its_artifact_store(tmp_path, monkeypatch):
    listener = socket.create_server(("127.0.0.1", 0))  # accepts the upload and never answers, as a server
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")  # waiting on a store that is down does
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    error, url = _failed_upload(listener, tmp_path)
    assert describe(error) == (
        f"the tracking server failed to store an artifact (no answer in time for {url}): "
        "its artifact store may be down; see the server's log")


def test_an_artifact_retry_on_a_connection_the_server_closes_is_blamed_on_its_artifact_store(tmp_path, monkeypatch):
    """The server answers the upload with HTTP 500 without reading it, then closes the connection just as the
    client's retry goes out on it: urllib3 ends in "Connection aborted" instead of a second 500."""
    import threading

    listener = socket.create_server(("127.0.0.1", 0))

    def answer_once_then_close() -> None:
        answered = False
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # the test has closed the listener
                return
            with connection:
                while connection.recv(65536):
                    if answered:
                        break  # anything after the answer: closed without a word
                    connection.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
                    answered = True

    threading.Thread(target=answer_once_then_close, daemon=True).start()
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    error, url = _failed_upload(listener, tmp_path)
    assert "Connection aborted" in str(error)
    assert describe(error) == (
        f"the tracking server failed to store an artifact (connection closed by the server for {url}): "
        "its artifact store may be down; see the server's log")
