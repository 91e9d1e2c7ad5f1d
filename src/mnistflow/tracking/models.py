"""Logging a Keras model to the active run, with its signature, input example and an ONNX copy."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings

import mlflow

from mnistflow.tracking.predictors import ONNX_FILE
from mnistflow.tracking.runs import log_metrics, uninterrupted
from mnistflow.tracking.views import DESCRIPTION_TAG

MODEL_URI_TAG = "mnistflow.model_uri"


class _KerasFlavor:
    """mlflow.keras whose save_model creates the model folder first.

    MLflow 3.17.2's keras save_model writes the input example before it creates the folder, so logging a
    Keras model with an input example fails with FileNotFoundError.
    """

    __name__ = "mlflow.keras"

    @staticmethod
    def save_model(path, **keywords):
        keywords.pop("validate_serving_input", None)  # read by Model.log, unknown to mlflow.keras
        os.makedirs(path, exist_ok=True)
        mlflow.keras.save_model(path=path, **keywords)
        write_onnx(keywords["model"], os.path.join(path, ONNX_FILE))


def write_onnx(model, path: str) -> None:
    """The same model as ONNX (Keras's export through tf2onnx), quietly: tf2onnx prints and warns as it works.
    The model must have been called once (log_keras_model infers its signature first)."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        level = logging.getLogger("tf2onnx").level
        logging.getLogger("tf2onnx").setLevel(logging.ERROR)
        try:
            model.export(path, format="onnx", verbose=False)
        finally:
            logging.getLogger("tf2onnx").setLevel(level)


@contextlib.contextmanager
def _known_packages(requirements: list[str]):
    """MLflow checks a model's pip requirements against the running environment, and to do so first maps every
    installed package to its modules, reading each one's file list (0.8 s, once per process). The requirements
    here are the running modules' own versions, so the check needs only their three names. MLflow keeps the map
    in a private global; an MLflow without it gets the full scan, as before."""
    from mlflow.utils import requirements_utils

    if getattr(requirements_utils, "_MODULES_TO_PACKAGES", False) is not None:
        yield  # built already (or gone from MLflow): nothing to save
        return
    names = [requirement.split("==")[0] for requirement in requirements]
    requirements_utils._MODULES_TO_PACKAGES = {name: [name] for name in names}  # type: ignore[assignment]
    try:
        yield
    finally:  # a later inference of a model's requirements (not ours) must see every installed package
        requirements_utils._MODULES_TO_PACKAGES = None


@uninterrupted
def log_keras_model(model, input_example, name: str = "model", description: str = "",
                    metadata: dict | None = None) -> str:
    """Log a Keras model with its signature and input example, under a name and with a description (markdown,
    shown on the logged model's page); tag the run with its URI and return it."""
    import keras
    import tensorflow as tf
    from mlflow.models import Model, infer_signature

    signature = infer_signature(input_example, model.predict(input_example, verbose=0))
    requirements = [f"tensorflow=={tf.__version__}", f"keras=={keras.__version__}",
                    f"mlflow=={mlflow.__version__}"]
    # validate_serving_input=False: MLflow would reload the model to check the example (seconds per run);
    # tests/tracking/test_serving.py checks the real serving round trip instead.
    with _known_packages(requirements):
        info = Model.log(artifact_path=None, name=name, flavor=_KerasFlavor, model=model, signature=signature,
                         input_example=input_example, pip_requirements=requirements, validate_serving_input=False,
                         metadata=metadata)
    if description:
        mlflow.MlflowClient().set_logged_model_tags(info.model_id, {DESCRIPTION_TAG: description})
    mlflow.set_tag(MODEL_URI_TAG, info.model_uri)
    return info.model_uri


def log_model_metrics(metrics: dict[str, float], dataset_name: str, images, labels) -> None:
    """Log metrics measured on a dataset as the active run's and as its logged model's (when the run has one):
    the logged model's page then lists them with the dataset."""
    from mlflow.data.numpy_dataset import from_numpy

    run = mlflow.active_run()
    model_uri = mlflow.get_run(run.info.run_id).data.tags.get(MODEL_URI_TAG) if run else None
    model_id = model_uri.removeprefix("models:/") if model_uri else None
    dataset = from_numpy(images, targets=labels, name=dataset_name) if model_id else None
    log_metrics(metrics, model_id=model_id, dataset=dataset)
