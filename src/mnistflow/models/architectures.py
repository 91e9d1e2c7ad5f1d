"""The two model families, their loss functions and their optimizer, built from explicit arguments only."""

from __future__ import annotations

import keras
from keras import layers, ops

from mnistflow.analysis.diagnostics import CLIP_EPSILON
from mnistflow.core.params import CnnParams, MlpParams, ModelParams
from mnistflow.data.mnist import IMAGE_PIXELS, IMAGE_SIDE, NUM_CLASSES


def build_model(params: ModelParams, class_count: int = NUM_CLASSES) -> keras.Model:
    """The chosen architecture, taking flat 784-pixel rows, with one output per class; seed Keras first for
    reproducible weights."""
    return build_cnn(params.cnn, class_count) if params.arch == "cnn" else build_mlp(params.mlp, class_count)


def build_mlp(params: MlpParams, class_count: int = NUM_CLASSES) -> keras.Model:
    """784 -> Dense(units, activation) -> Dense(class_count, softmax): the classic experiment."""
    return keras.Sequential(
        [
            keras.Input(shape=(IMAGE_PIXELS,), name="pixels"),
            layers.Dense(params.units, activation=params.activation,
                         kernel_initializer=params.hidden_initializer, name="hidden"),
            layers.Dense(class_count, activation="softmax",
                         kernel_initializer=params.output_initializer, name="output"),
        ],
        name="mnist_mlp",
    )


def build_cnn(params: CnnParams, class_count: int = NUM_CLASSES) -> keras.Model:
    """28x28 -> two 5x5 stride-2 ReLU convolutions (filters, 2 x filters) -> Dense(dense_units) -> Dense(classes).

    Strided convolutions instead of max pooling: TensorFlow has no deterministic max-pool gradient.
    """
    return keras.Sequential(
        [
            keras.Input(shape=(IMAGE_PIXELS,), name="pixels"),
            layers.Reshape((IMAGE_SIDE, IMAGE_SIDE, 1), name="image"),
            layers.Conv2D(params.filters, 5, strides=2, padding="same", activation="relu", name="conv_1"),
            layers.Conv2D(2 * params.filters, 5, strides=2, padding="same", activation="relu", name="conv_2"),
            layers.Flatten(name="features"),
            layers.Dropout(params.conv_dropout, name="conv_dropout"),
            layers.Dense(params.dense_units, activation="relu", name="hidden"),
            layers.Dropout(params.dense_dropout, name="dense_dropout"),
            layers.Dense(class_count, activation="softmax", name="output"),
        ],
        name="mnist_cnn",
    )


def compiles_with_xla(params: ModelParams) -> bool:
    """Whether the epoch loop should be XLA-compiled: yes for the MLP; XLA's CPU convolutions are ~8x slower."""
    return params.arch == "mlp"


def hidden_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers with weights before the last one: where dead ReLUs are counted, whatever the architecture."""
    return [layer for layer in model.layers[:-1] if hasattr(layer, "kernel")]


def clipped_crossentropy(y_true, y_pred):
    """Keras 2.2's categorical cross-entropy: normalize, clip to [eps, 1 - eps], then log.

    Inside the clipped region the gradient is exactly zero, on every backend: a confidently wrong
    sample teaches the model nothing.
    """
    y_pred = y_pred / ops.sum(y_pred, axis=-1, keepdims=True)
    y_pred = ops.clip(y_pred, CLIP_EPSILON, 1.0 - CLIP_EPSILON)
    return -ops.sum(y_true * ops.log(y_pred), axis=-1)


class ClippedCrossentropy(keras.losses.Loss):
    """clipped_crossentropy averaged over the batch, as a Keras loss."""

    def __init__(self, name: str = "clipped_crossentropy", **keywords):
        super().__init__(name=name, **keywords)

    def call(self, y_true, y_pred):
        return clipped_crossentropy(y_true, y_pred)


def make_loss(name: str) -> keras.losses.Loss:
    if name == "crossentropy":
        return keras.losses.CategoricalCrossentropy()
    if name == "clipped_crossentropy":
        return ClippedCrossentropy()
    raise ValueError(f"unknown loss {name!r}")


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    return keras.optimizers.get({"class_name": name, "config": {"learning_rate": learning_rate}})
