import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from mnistflow.core import runtime  # noqa: F401 - quiet TensorFlow before it loads
from mnistflow.core.params import parse_params
from mnistflow.models import portable
from mnistflow.models.architectures import build_model, hidden_layers

from conftest import small_params, tool_environment


@pytest.mark.parametrize("size, kernel, stride, padding", [(28, 5, 2, "same"), (14, 5, 2, "same"), (9, 3, 1, "same"),
                                                           (10, 3, 2, "valid"), (7, 4, 3, "same")])
def test_conv2d_matches_tensorflows_convolution(size, kernel, stride, padding):
    generator = np.random.default_rng(0)
    images = generator.normal(size=(3, size, size, 2)).astype(np.float32)
    weights = generator.normal(size=(kernel, kernel, 2, 4)).astype(np.float32)
    expected = tf.nn.conv2d(images, weights, strides=stride, padding=padding.upper()).numpy()
    got = portable.conv2d(tf.constant(images), tf.constant(weights), (stride, stride), padding).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_matmul_gradients_match_tensorflows():
    generator = np.random.default_rng(1)
    left, right = (tf.Variable(generator.normal(size=shape).astype(np.float32)) for shape in ((24, 7), (7, 5)))
    upstream = tf.constant(generator.normal(size=(24, 5)).astype(np.float32))
    gradients = []
    for product in (portable.matmul, tf.matmul):
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(product(left, right) * upstream)
        gradients.append([gradient.numpy() for gradient in tape.gradient(total, [left, right])])
    for got, expected in zip(*gradients, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_forward_gives_the_keras_models_outputs(arch):
    keras.utils.set_random_seed(0)
    model = build_model(parse_params(small_params(model={"arch": arch})).model)
    images = np.random.default_rng(2).random((5, 784)).astype(np.float32)
    view = keras.Model(model.inputs, [*(layer.output for layer in hidden_layers(model)), model.outputs[0]])
    *expected_hidden, expected = view(images, training=False)
    hidden, probabilities = portable.forward(model, tf.constant(images), training=False)
    np.testing.assert_allclose(probabilities.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    assert len(hidden) == len(expected_hidden)
    for got, wanted in zip(hidden, expected_hidden, strict=True):
        np.testing.assert_allclose(got.numpy(), wanted.numpy(), rtol=1e-4, atol=1e-5)


# Prints the products in XLA's optimized HLO of one training step of each architecture, in portable numerics.
PRODUCTS = """
import re, sys
from mnistflow.core import runtime
runtime.configure(1, "portable")
runtime.seed_everything(1)
import numpy as np, tensorflow as tf, keras
from mnistflow.core.params import apply_overrides, read_yaml
from mnistflow.models import portable
from mnistflow.models.architectures import build_model, make_loss
for arch in ("mlp", "cnn"):
    model = build_model(apply_overrides(read_yaml(sys.argv[1]), {"model.arch": arch}).model)
    loss = make_loss("crossentropy")
    use_portable = sys.argv[2] == "portable"

    def step(images, onehot):
        with tf.GradientTape() as tape:
            probabilities = (portable.forward(model, images, True)[1] if use_portable
                             else model(images, training=True))
            value = loss(onehot, probabilities)
        return tape.gradient(value, model.trainable_variables)

    images, onehot = tf.zeros((24, 784)), tf.one_hot(tf.zeros(24, tf.int32), 10)
    hlo = tf.function(step, jit_compile=True).experimental_get_compiler_ir(images, onehot)(stage="optimized_hlo")
    for line in hlo.splitlines():
        for product in re.findall(r"(dot\\(.*?rhs_contracting_dims=\\{\\d\\}|convolution\\(|custom-call\\()", line):
            print(arch, re.sub(r"dot\\(.*?\\), ", "dot ", product))
"""


def compiled_products(mode: str) -> list[str]:
    from conftest import REPO

    result = subprocess.run([sys.executable, "-c", PRODUCTS, str(REPO / "params.yaml"), mode], capture_output=True,
                            text=True, env={**tool_environment(), "XLA_FLAGS": ""}, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.splitlines()


def test_every_product_of_a_portable_training_step_is_a_canonical_dot_compiled_by_xla():
    """A transposed operand would send a dot to Eigen, a convolution always goes there: their sums follow
    the CPU. Without models.portable both happen, so the check can fail."""
    products = compiled_products("portable")
    assert {line.split()[0] for line in products} == {"mlp", "cnn"}
    assert set(" ".join(line.split()[1:]) for line in products) == {
        "dot lhs_contracting_dims={1}, rhs_contracting_dims={0}"}
    keras_products = compiled_products("keras")
    assert any("convolution(" in line for line in keras_products)
    assert any("lhs_contracting_dims={0}" in line or "rhs_contracting_dims={1}" in line for line in keras_products)
