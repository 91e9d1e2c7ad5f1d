"""The training loop: one compiled TensorFlow function per epoch, then per-epoch measurements.

Same math as ``keras.Model.fit``: the same loss, optimizer updates, batch order and mean-over-batch loss,
but the whole epoch runs inside one ``tf.function``, so no Python runs between steps.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from mnistflow import diagnostics
from mnistflow.data import NUM_CLASSES, Split


@dataclasses.dataclass(frozen=True)
class EpochRecord:
    """What one epoch measured; `metrics` holds every per-epoch number under its MLflow name."""

    epoch: int
    epochs: int
    metrics: dict[str, float]
    collapsed: list[int]


EpochCallback = Callable[[EpochRecord], None]


def epoch_orders(count: int, epochs: int, seed: int) -> list[np.ndarray]:
    """The shuffled sample order of every epoch, drawn from one seeded generator."""
    generator = np.random.default_rng(seed)
    return [generator.permutation(count) for _ in range(epochs)]


def make_epoch_function(model: keras.Model, loss: keras.losses.Loss,
                        optimizer: keras.optimizers.Optimizer, batch_size: int):
    """A tf.function(images, onehot, order) -> (mean loss, accuracy) that trains one epoch."""
    variables = model.trainable_variables
    optimizer.build(variables)

    @tf.function
    def run_epoch(images, onehot, order):
        count = tf.shape(order)[0]
        loss_sum = tf.constant(0.0)
        correct = tf.constant(0.0)
        for step in tf.range((count + batch_size - 1) // batch_size):
            batch = order[step * batch_size:tf.minimum((step + 1) * batch_size, count)]
            targets = tf.gather(onehot, batch)
            with tf.GradientTape() as tape:
                probabilities = model(tf.gather(images, batch), training=True)
                batch_loss = loss(targets, probabilities)
            optimizer.apply_gradients(zip(tape.gradient(batch_loss, variables), variables))
            loss_sum += batch_loss * tf.cast(tf.shape(batch)[0], tf.float32)
            hits = tf.equal(tf.argmax(probabilities, -1), tf.argmax(targets, -1))
            correct += tf.reduce_sum(tf.cast(hits, tf.float32))
        total = tf.cast(count, tf.float32)
        return loss_sum / total, correct / total

    return run_epoch


def make_evaluate_function(model: keras.Model, loss: keras.losses.Loss):
    """A tf.function(images, onehot) -> (mean loss, probabilities, hidden activations)."""
    hidden_layer, output_layer = model.get_layer("hidden"), model.get_layer("output")

    @tf.function
    def evaluate(images, onehot):
        hidden = hidden_layer(images)
        probabilities = output_layer(hidden)
        return loss(onehot, probabilities), probabilities, hidden

    return evaluate


def one_hot(labels: np.ndarray) -> tf.Tensor:
    return tf.one_hot(labels.astype(np.int32), NUM_CLASSES)


class Trainer:
    """Trains `model` on a train split and measures it on a validation split after every epoch."""

    def __init__(self, model, loss, optimizer, batch_size: int, collapse_threshold: float,
                 saturation_sample: int):
        self.run_epoch = make_epoch_function(model, loss, optimizer, batch_size)
        self.evaluate = make_evaluate_function(model, loss)
        self.collapse_threshold = collapse_threshold
        self.saturation_sample = saturation_sample

    def fit(self, train: Split, validation: Split, epochs: int, seed: int,
            callbacks: Sequence[EpochCallback] = ()) -> list[EpochRecord]:
        images, onehot = tf.constant(train.images), one_hot(train.labels)
        sample = slice(0, min(self.saturation_sample, len(train.labels)))
        records = []
        for epoch, order in enumerate(epoch_orders(len(train.labels), epochs, seed), start=1):
            started = time.perf_counter()
            loss, accuracy = self.run_epoch(images, onehot, tf.constant(order, tf.int32))
            seconds = time.perf_counter() - started
            metrics = {"loss": float(loss), "accuracy": float(accuracy), "epoch_seconds": seconds}
            metrics.update(self._validation_metrics(validation))
            metrics.update(self._saturation(images[sample], onehot[sample], train.labels[sample]))
            recall = np.array([metrics[f"val_recall_{label}"] for label in range(NUM_CLASSES)])
            record = EpochRecord(epoch, epochs, metrics,
                                 diagnostics.collapsed_classes(recall, self.collapse_threshold))
            records.append(record)
            for callback in callbacks:
                callback(record)
        return records

    def _validation_metrics(self, validation: Split) -> dict[str, float]:
        loss, probabilities, _ = self.evaluate(tf.constant(validation.images), one_hot(validation.labels))
        predictions = np.argmax(probabilities.numpy(), axis=1)
        recall = diagnostics.per_class_recall(validation.labels, predictions)
        metrics = {"val_loss": float(loss), "val_accuracy": float(np.mean(predictions == validation.labels))}
        metrics.update(diagnostics.class_metrics(recall, self.collapse_threshold))
        return metrics

    def _saturation(self, images, onehot, labels: np.ndarray) -> dict[str, float]:
        _, probabilities, hidden = self.evaluate(images, onehot)
        return diagnostics.saturation(probabilities.numpy(), labels, hidden.numpy())
