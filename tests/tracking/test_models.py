"""Logging a Keras model and loading it back."""


import mlflow
import numpy as np

from mnistflow import tracking
from mnistflow.tracking import queries
from mnistflow.training import pipeline


def test_logged_model_takes_raw_pixels_and_loads_back(store, small_model, raw_mnist):
    model, _, _ = small_model
    tracking.connect("models")
    serving = pipeline.serving_model(model, scale=True)
    with tracking.active_run():
        uri = tracking.log_keras_model(serving, raw_mnist["x_test"][:3].astype(np.float32))
    loaded = queries.load_model(uri)
    expected = model.predict(raw_mnist["x_test"][:20].reshape(20, 784).astype(np.float32) / 255.0, verbose=0)
    np.testing.assert_allclose(queries.predict_probabilities(loaded, raw_mnist["x_test"][:20]), expected, atol=1e-5)
    info = mlflow.models.get_model_info(uri)
    assert list(info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"]) == [-1, 28, 28]
    assert info.saved_input_example_info is not None
