import signal

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from mnistflow import pipeline, tracking
from mnistflow.tracking import queries


def _status(run_id: str) -> str:
    return MlflowClient().get_run(run_id).info.status


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
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking.tracking_uri(tmp_path) == "http://127.0.0.1:5999"


def test_runs_end_finished_failed_or_killed(store):
    tracking.connect("statuses")
    with tracking.active_run() as finished:
        tracking.log_metrics({"x": 1.0}, step=1)
    with pytest.raises(RuntimeError), tracking.active_run() as failed:
        raise RuntimeError("boom")
    with pytest.raises(KeyboardInterrupt), tracking.active_run() as interrupted:
        raise KeyboardInterrupt
    with pytest.raises(tracking.Terminated), tracking.active_run() as terminated:
        signal.raise_signal(signal.SIGTERM)
    assert [_status(r) for r in (finished, failed, interrupted, terminated)] == ["FINISHED", "FAILED", "KILLED", "KILLED"]
    assert MlflowClient().get_metric_history(finished, "x")[0].step == 1
    assert signal.getsignal(signal.SIGTERM) is not tracking._raise_terminated


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


def test_logged_model_takes_raw_pixels_and_loads_back(store, small_model, mnist):
    model, _, _ = small_model
    tracking.connect("models")
    serving = pipeline.serving_model(model, scale=True)
    with tracking.active_run():
        uri = tracking.log_keras_model(serving, mnist["x_test"][:3].astype(np.float32))
    loaded = queries.load_model(uri)
    expected = model.predict(mnist["x_test"][:20].reshape(20, 784).astype(np.float32) / 255.0, verbose=0)
    np.testing.assert_allclose(queries.predict_probabilities(loaded, mnist["x_test"][:20]), expected, atol=1e-5)
    info = mlflow.models.get_model_info(uri)
    assert list(info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == [-1, 28, 28]
    assert info.saved_input_example_info is not None


def test_dvc_lock_tags(tmp_path):
    (tmp_path / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  prepare:\n    deps:\n    - path: data/raw/mnist.npz\n      md5: abc\n"
        "    outs:\n    - path: data/prepared\n      md5: def.dir\n")
    assert tracking.dvc_lock_tags(tmp_path / "dvc.lock") == {
        "dvc.prepare.data/raw/mnist.npz": "abc", "dvc.prepare.data/prepared": "def.dir"}
    assert tracking.dvc_lock_tags(tmp_path / "missing.lock") == {}
