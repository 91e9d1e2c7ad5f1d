"""Running a logged model's files on raw pixels: its ONNX copy through ONNX Runtime (no MLflow, no TensorFlow),
else, for a model logged before the copy existed, Keras through MLflow (imported only then)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

ONNX_FILE = "model.onnx"  # in every logged model, beside the Keras one: predict runs it without TensorFlow

Predictor = Callable[[np.ndarray], np.ndarray]


def onnx_predictor(path: Path) -> Predictor:
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda images: np.asarray(session.run(None, {name: np.asarray(images, dtype=np.float32)})[0])


def model_metadata(folder: Path) -> dict:
    """What a logged model says of its data (MLmodel's `metadata`): `dataset`, `classes` in output order and
    `framing`; a model logged before datasets had names is an MNIST digit model."""
    import yaml

    described = (yaml.safe_load((folder / "MLmodel").read_text()) or {}).get("metadata") or {}
    return {"dataset": "mnist", "classes": [str(digit) for digit in range(10)], "framing": "digit", **described}


def folder_predictor(folder: Path) -> Predictor:
    """(N, 28, 28) raw pixels -> (N, 10) probabilities with the logged model in `folder`: its ONNX copy, which
    loads well under a second instead of about 9 s; a model logged without one is run by Keras."""
    if (folder / ONNX_FILE).is_file():
        return onnx_predictor(folder / ONNX_FILE)
    from mnistflow.core import runtime  # noqa: F401 - runtime quiets TensorFlow before MLflow loads it

    model = load_model(str(folder))
    return lambda images: predict_probabilities(model, images)


def load_model(uri: str):
    """Load a logged Keras model (raw 28x28 pixels in, 10 probabilities out) in Keras safe mode."""
    import mlflow.keras
    from mlflow.exceptions import MlflowException

    from mnistflow.core.errors import TrackingError

    try:
        return mlflow.keras.load_model(uri, load_model_kwargs={"safe_mode": True})
    except (MlflowException, OSError) as error:
        raise TrackingError(f"cannot load model {uri!r}: {str(error).splitlines()[0]}") from None


def predict_probabilities(model, images: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(images.astype(np.float32), verbose=0))
