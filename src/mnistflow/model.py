"""The MLP, its loss functions and its optimizer, built from explicit arguments only."""

from __future__ import annotations

import keras
from keras import layers, ops

from mnistflow.data import IMAGE_PIXELS, NUM_CLASSES
from mnistflow.diagnostics import CLIP_EPSILON
from mnistflow.params import TrainParams


def build_model(params: TrainParams) -> keras.Model:
    """784 -> Dense(units, activation) -> Dense(10, softmax); seed Keras first for reproducible weights."""
    return keras.Sequential(
        [
            keras.Input(shape=(IMAGE_PIXELS,), name="pixels"),
            layers.Dense(params.units, activation=params.activation,
                         kernel_initializer=params.hidden_initializer, name="hidden"),
            layers.Dense(NUM_CLASSES, activation="softmax",
                         kernel_initializer=params.output_initializer, name="output"),
        ],
        name="mnist_mlp",
    )


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
