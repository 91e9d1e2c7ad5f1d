import keras
import numpy as np
import pytest
import tensorflow as tf

from mnistflow.core import runtime  # noqa: F401 - quiet TensorFlow before it loads
from mnistflow.core.params import parse_params
from mnistflow.models.architectures import (
    CLIP_EPSILON,
    build_model,
    clipped_crossentropy,
    compiles_with_xla,
    hidden_layers,
    make_loss,
    make_optimizer,
)

from conftest import small_params


def test_classic_architecture_and_initializers():
    params = parse_params(small_params()).model
    keras.utils.set_random_seed(0)
    model = build_model(params)
    assert model.count_params() == 50_890
    hidden, output = model.get_layer("hidden"), model.get_layer("output")
    assert (hidden.units, output.units) == (64, 10)
    assert hidden.activation.__name__ == "relu" and output.activation.__name__ == "softmax"
    assert abs(float(np.std(hidden.kernel.numpy())) - 0.05) < 0.002  # RandomNormal(stddev=0.05)
    assert abs(float(np.std(output.kernel.numpy())) - 0.05) < 0.005


def test_build_model_reads_only_its_arguments():
    params = parse_params(small_params(model={"mlp": {"units": 7, "output_initializer": "zeros"}})).model
    model = build_model(params)
    assert model.get_layer("hidden").units == 7
    assert not np.any(model.get_layer("output").kernel.numpy())
    assert compiles_with_xla(params) and [layer.name for layer in hidden_layers(model)] == ["hidden"]


def test_the_cnn_takes_the_same_flat_rows_and_has_the_documented_shape():
    params = parse_params(small_params(model={"arch": "cnn", "cnn": {"filters": 8, "dense_units": 16}})).model
    model = build_model(params)
    assert model.input_shape == (None, 784) and model.output_shape == (None, 10)
    assert model.get_layer("conv_1").output.shape[1:] == (14, 14, 8)
    assert model.get_layer("conv_2").output.shape[1:] == (7, 7, 16)
    # 5x5x1x8 + 8, 5x5x8x16 + 16, 784x16 + 16, 16x10 + 10
    assert model.count_params() == 208 + 3216 + 12560 + 170
    assert [layer.name for layer in hidden_layers(model)] == ["conv_1", "conv_2", "hidden"]
    assert not compiles_with_xla(params)
    probabilities = model(np.random.default_rng(0).random((3, 784), np.float32)).numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def _loss_and_logit_gradient(loss, logits: np.ndarray, label: int):
    variable = tf.Variable(logits[np.newaxis].astype(np.float32))
    target = tf.one_hot([label], 10)
    with tf.GradientTape() as tape:
        value = loss(target, keras.activations.softmax(variable))
    return float(value), tape.gradient(value, variable).numpy()[0]


def test_clipped_loss_passes_exactly_zero_gradient_to_a_saturated_wrong_sample():
    logits = np.zeros(10)
    logits[3] = 40.0  # softmax puts ~1 on class 3; the true class 5 gets ~4e-18 < 1e-7
    value, gradient = _loss_and_logit_gradient(make_loss("clipped_crossentropy"), logits, label=5)
    assert value == pytest.approx(-np.log(CLIP_EPSILON), rel=1e-5)  # 16.118..., the "16.1 x errors" loss
    assert np.all(gradient == 0.0)
    value, gradient = _loss_and_logit_gradient(make_loss("crossentropy"), logits, label=5)
    probabilities = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    oracle = probabilities - np.eye(10)[5]  # d(-log softmax_5)/d logits, by hand
    assert value == pytest.approx(40.0, rel=1e-4)  # Keras on TensorFlow uses the logits: nothing is clipped
    np.testing.assert_allclose(gradient, oracle, atol=1e-6)


def test_clipped_loss_matches_hand_computed_value_when_unsaturated():
    probabilities = np.array([[0.1, 0.6, 0.3] + [0.0] * 7], np.float32)
    target = np.eye(10, dtype=np.float32)[[1]]
    expected = -np.log(0.6)
    assert float(clipped_crossentropy(target, probabilities)[0]) == pytest.approx(expected, rel=1e-6)
    unnormalized = probabilities * 2.0  # normalized first, like Keras 2.2
    assert float(clipped_crossentropy(target, unnormalized)[0]) == pytest.approx(expected, rel=1e-6)


def test_optimizer_comes_from_params():
    optimizer = make_optimizer("sgd", 0.01)
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert float(optimizer.learning_rate) == pytest.approx(0.01)


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_both_families_have_one_output_per_class_of_the_dataset(arch):
    model = build_model(parse_params(small_params(model={"arch": arch})).model, 3)
    assert model.get_layer("output").units == 3 and model.output_shape == (None, 3)
