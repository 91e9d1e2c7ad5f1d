"""Logging a Keras model and loading it back."""

from pathlib import Path

import mlflow
import numpy as np

from mnistflow import tracking
from mnistflow.tracking import predictors
from mnistflow.training import pipeline


def test_logged_model_takes_raw_pixels_and_loads_back(store, small_model, raw_mnist):
    model, _, _ = small_model
    tracking.connect("models")
    serving = pipeline.serving_model(model, scale=True)
    with tracking.active_run():
        uri = tracking.log_keras_model(serving, raw_mnist["x_test"][:3].astype(np.float32))
    loaded = predictors.load_model(uri)
    expected = model.predict(raw_mnist["x_test"][:20].reshape(20, 784).astype(np.float32) / 255.0, verbose=0)
    np.testing.assert_allclose(predictors.predict_probabilities(loaded, raw_mnist["x_test"][:20]), expected, atol=1e-5)
    info = mlflow.models.get_model_info(uri)
    assert list(info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == [-1, 28, 28]
    assert info.saved_input_example_info is not None


def test_a_logged_model_has_its_name_description_and_test_metrics_with_their_dataset(store, small_model, raw_mnist):
    model, _, _ = small_model
    tracking.connect("named")
    images, labels = raw_mnist["x_test"][:50], raw_mnist["y_test"][:50]
    with tracking.active_run() as run_id:
        uri = tracking.log_keras_model(pipeline.serving_model(model, scale=True), images[:2].astype(np.float32),
                                       name="mnist-mlp", description="MNIST digit classifier.")
        tracking.log_model_metrics({"test_accuracy": 0.5}, "mnist-test", images, labels)
    logged = mlflow.MlflowClient().get_logged_model(uri.removeprefix("models:/"))
    assert logged.name == "mnist-mlp" and logged.tags[tracking.DESCRIPTION_TAG] == "MNIST digit classifier."
    assert [(metric.key, metric.value, metric.dataset_name) for metric in logged.metrics] == [
        ("test/accuracy", 0.5, "mnist-test")]
    assert mlflow.get_run(run_id).data.metrics["test/accuracy"] == 0.5


def test_logging_a_model_does_not_scan_every_installed_package(store, small_model, raw_mnist, monkeypatch):
    """MLflow's check of the model's pins maps every installed package to its modules first (0.8 s a process),
    unless told the three it needs; the model still records its exact pins."""
    from mlflow.utils import requirements_utils

    scans = []
    monkeypatch.setattr(requirements_utils, "_MODULES_TO_PACKAGES", None)  # as in a fresh process
    monkeypatch.setattr(requirements_utils.importlib_metadata, "packages_distributions",
                        lambda: scans.append(1) or {})
    model, _, _ = small_model
    tracking.connect("models")
    with tracking.active_run():
        uri = tracking.log_keras_model(pipeline.serving_model(model, scale=True),
                                       raw_mnist["x_test"][:2].astype(np.float32))
    assert scans == []
    assert requirements_utils._MODULES_TO_PACKAGES is None  # a later inference still sees every package
    location = mlflow.MlflowClient().get_logged_model(uri.removeprefix("models:/")).artifact_location
    pins = Path(mlflow.artifacts.download_artifacts(f"{location}/requirements.txt")).read_text().split()
    import keras
    import tensorflow as tf
    assert pins == [f"tensorflow=={tf.__version__}", f"keras=={keras.__version__}", f"mlflow=={mlflow.__version__}"]
