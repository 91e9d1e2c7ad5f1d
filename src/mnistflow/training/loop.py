"""The training loop: one compiled TensorFlow function per epoch, then per-epoch measurements.

Same math as ``keras.Model.fit``: the same loss, optimizer updates, batch order and mean-over-batch loss,
but the epoch runs as one XLA-compiled loop, so neither Python nor per-op dispatch runs between steps.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence

import keras
import numpy as np
import tensorflow as tf

from mnistflow.analysis import diagnostics
from mnistflow.core.params import DiagnosticsParams, Params, TrainParams
from mnistflow.data import augmentation
from mnistflow.data.mnist import NUM_CLASSES, Split
from mnistflow.models import portable
from mnistflow.models.architectures import build_model, compiles_with_xla, hidden_layers, make_loss, make_optimizer


@dataclasses.dataclass(frozen=True)
class EpochRecord:
    """What one epoch measured; `metrics` holds every per-epoch number under its MLflow name."""

    epoch: int
    epochs: int
    metrics: dict[str, float]
    collapsed: list[int]


EpochCallback = Callable[[EpochRecord], None]


def epoch_orders(count: int, epochs: int, seed: int) -> Iterator[np.ndarray]:
    """The shuffled sample order of each epoch, drawn from one seeded generator as the epoch starts.

    Drawn lazily: memory stays one permutation whatever `epochs` is.
    """
    generator = np.random.default_rng(seed)
    for _ in range(epochs):
        yield generator.permutation(count)


def make_epoch_function(model: keras.Model, loss: keras.losses.Loss, optimizer: keras.optimizers.Optimizer,
                        batch_size: int, jit_compile: bool = True, portable_products: bool = False):
    """A function(images, onehot, order) -> (mean loss, accuracy) that trains one epoch.

    The full batches run in one compiled while-loop (XLA-compiled where `jit_compile`); the last, smaller
    batch (if any) in a second compiled step. Batches, their order and every update are those of
    `fit(shuffle=...)` with this order. With `portable_products` the model's products are those of
    models.portable, whose order of operations does not depend on the CPU.
    """
    variables = model.trainable_variables
    optimizer.build(variables)

    def train_step(images, onehot, batch):
        targets = tf.gather(onehot, batch)
        with tf.GradientTape() as tape:
            inputs = tf.gather(images, batch)
            probabilities = (portable.forward(model, inputs, training=True)[1] if portable_products
                             else model(inputs, training=True))
            batch_loss = loss(targets, probabilities)
        optimizer.apply_gradients(zip(tape.gradient(batch_loss, variables), variables, strict=True))
        hits = tf.equal(tf.argmax(probabilities, -1), tf.argmax(targets, -1))
        return batch_loss * tf.cast(tf.size(batch), tf.float32), tf.reduce_sum(tf.cast(hits, tf.float32))

    @tf.function(jit_compile=jit_compile)
    def full_batches(images, onehot, order):
        def body(step, loss_sum, correct):
            step_loss, step_correct = train_step(images, onehot, tf.slice(order, [step * batch_size], [batch_size]))
            return step + 1, loss_sum + step_loss, correct + step_correct

        steps = tf.shape(order)[0] // batch_size
        _, loss_sum, correct = tf.while_loop(lambda step, *_: step < steps, body,
                                             (tf.constant(0), tf.constant(0.0), tf.constant(0.0)))
        return loss_sum, correct

    last_batch = tf.function(train_step, jit_compile=jit_compile)

    def run_epoch(images, onehot, order):
        count = int(order.shape[0])
        cut = count - count % batch_size
        loss_sum, correct = full_batches(images, onehot, order[:cut])
        if cut < count:
            last_loss, last_correct = last_batch(images, onehot, order[cut:])
            loss_sum, correct = loss_sum + last_loss, correct + last_correct
        return loss_sum / count, correct / count

    return run_epoch


def make_evaluate_function(model: keras.Model, loss: keras.losses.Loss, portable_products: bool = False):
    """A tf.function(images, onehot) -> (mean loss, probabilities, [activations of each hidden layer]).

    With `portable_products` it is XLA-compiled with the products of models.portable.
    """
    if portable_products:
        @tf.function(jit_compile=True)
        def evaluate_portably(images, onehot):
            hidden, probabilities = portable.forward(model, images, training=False)
            return loss(onehot, probabilities), probabilities, hidden

        return evaluate_portably
    view = keras.Model(model.inputs, [*(layer.output for layer in hidden_layers(model)), model.outputs[0]])

    @tf.function
    def evaluate(images, onehot):
        *hidden, probabilities = view(images, training=False)
        return loss(onehot, probabilities), probabilities, hidden

    return evaluate


def one_hot(labels: np.ndarray, class_count: int = NUM_CLASSES) -> tf.Tensor:
    return tf.one_hot(labels.astype(np.int32), class_count)


@dataclasses.dataclass
class CompiledModel:
    """A model with its optimizer and compiled epoch / evaluation functions, reusable across runs.

    Compiling the XLA epoch loop takes seconds; a study trains many runs of the same shape. `restart`
    gives the reused model a run's fresh initial variables (weights and dropout seed states) and a zeroed
    optimizer (step 0, no moments), which is exactly the state of a newly built model and optimizer.
    """

    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    run_epoch: Callable
    evaluate: Callable

    def restart(self, fresh: keras.Model, learning_rate: float) -> None:
        for variable, initial in zip(self.model.variables, fresh.variables, strict=True):
            variable.assign(initial)
        for variable in self.optimizer.variables:
            variable.assign(np.zeros(variable.shape, dtype=variable.dtype))
        self.optimizer.learning_rate = learning_rate


# What a run sets itself (`CompiledModel.restart`, `Trainer.fit`): runs that differ only in these train
# params share a compiled model.
RESTART_FIELDS = frozenset({"seed", "epochs", "learning_rate", "learning_rate_decay", "augment_shift"})


def compile_model(params: Params, class_count: int) -> CompiledModel:
    model, loss = build_model(params.model, class_count), make_loss(params.train.loss)
    optimizer = make_optimizer(params.train.optimizer, params.train.learning_rate)
    portable_products = params.train.portable_products
    run_epoch = make_epoch_function(model, loss, optimizer, params.train.batch_size,
                                    portable_products or compiles_with_xla(params.model), portable_products)
    return CompiledModel(model, optimizer, run_epoch, make_evaluate_function(model, loss, portable_products))


class CompiledModels:
    """Compiled models by description, reused across the runs of their owner (a stage, a study worker).

    The key is the whole model description (every field of ModelParams) and every field of TrainParams
    except RESTART_FIELDS, so a field added to the params joins the key by default and can never make a run
    train another configuration's graph.
    """

    def __init__(self) -> None:
        self.by_key: dict[tuple, CompiledModel] = {}

    @staticmethod
    def key(params: Params, class_count: int = NUM_CLASSES) -> tuple:
        return (params.model, class_count, *((field.name, getattr(params.train, field.name))
                                             for field in dataclasses.fields(params.train)
                                             if field.name not in RESTART_FIELDS))

    def get(self, params: Params, class_count: int = NUM_CLASSES) -> CompiledModel:
        key = self.key(params, class_count)
        if key not in self.by_key:
            self.by_key[key] = compile_model(params, class_count)
        return self.by_key[key]


class Trainer:
    """Trains a compiled model on a train split and measures it on a validation split after every epoch."""

    def __init__(self, compiled: CompiledModel, train: TrainParams, diagnostics_params: DiagnosticsParams):
        self.compiled = compiled
        self.train = train
        self.collapse_threshold = diagnostics_params.collapse_threshold
        self.saturation_sample = diagnostics_params.saturation_sample

    def fit(self, train: Split, validation: Split, callbacks: Sequence[EpochCallback] = ()) -> list[EpochRecord]:
        epochs, seed, shift = self.train.epochs, self.train.seed, self.train.augment_shift
        images, onehot = tf.constant(train.images), one_hot(train.labels, len(train.classes))
        sample = slice(0, min(self.saturation_sample, len(train.labels)))
        augmented = augmentation.epoch_images(train.images, shift, epochs, seed)
        records = []
        for epoch, order in enumerate(epoch_orders(len(train.labels), epochs, seed), start=1):
            epoch_images = tf.constant(next(augmented)) if shift else images
            if self.train.learning_rate_decay != 1.0:
                self.compiled.optimizer.learning_rate = self.train.learning_rate * self.train.learning_rate_decay ** (
                    epoch - 1)
            started = time.perf_counter()
            loss, accuracy = self.compiled.run_epoch(epoch_images, onehot, tf.constant(order, tf.int32))
            seconds = time.perf_counter() - started
            metrics = {"loss": float(loss), "accuracy": float(accuracy), "epoch_seconds": seconds}
            metrics.update(self._validation_metrics(validation))
            metrics.update(self._saturation(images[sample], onehot[sample], train.labels[sample]))
            recall = np.array([metrics[f"val_recall_{label}"] for label in range(len(train.classes))])
            record = EpochRecord(epoch, epochs, metrics,
                                 diagnostics.collapsed_classes(recall, self.collapse_threshold))
            records.append(record)
            for callback in callbacks:
                callback(record)
        return records

    def _validation_metrics(self, validation: Split) -> dict[str, float]:
        class_count = len(validation.classes)
        loss, probabilities, _ = self.compiled.evaluate(tf.constant(validation.images),
                                                        one_hot(validation.labels, class_count))
        predictions = np.argmax(probabilities.numpy(), axis=1)
        recall = diagnostics.per_class_recall(validation.labels, predictions, class_count)
        metrics = {"val_loss": float(loss), "val_accuracy": float(np.mean(predictions == validation.labels))}
        metrics.update(diagnostics.class_metrics(recall, self.collapse_threshold))
        return metrics

    def _saturation(self, images, onehot, labels: np.ndarray) -> dict[str, float]:
        _, probabilities, hidden = self.compiled.evaluate(images, onehot)
        return diagnostics.saturation(probabilities.numpy(), labels, [layer.numpy() for layer in hidden])
