"""K-fold cross-validation: out-of-sample probabilities for every training image, and the K models' averaged
probabilities for the test images (the inputs of confident learning)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from sklearn.model_selection import StratifiedKFold

from mnistflow.core import archives, atomic
from mnistflow.core.errors import DataError, ParamsError
from mnistflow.core.params import Params
from mnistflow.data.mnist import NUM_CLASSES, Split, read_npz
from mnistflow.models import portable
from mnistflow.training import pipeline
from mnistflow.training.loop import CompiledModels, EpochCallback

PREDICTION_BATCH = 4096


@dataclasses.dataclass(frozen=True)
class CrossValidation:
    """Out-of-fold probabilities of the pool (ordered as the pool), the fold of each pool image, and the
    test probabilities averaged over the K fold models."""

    pool: Split
    folds: np.ndarray
    probabilities: np.ndarray
    test_probabilities: np.ndarray
    fold_accuracies: list[float]

    def accuracy(self) -> float:
        return float(np.mean(self.probabilities.argmax(axis=1) == self.pool.labels))


def pool_of(splits: Sequence[Split]) -> Split:
    """The splits as one, ordered by source index: train + validation are the 60,000 training images."""
    indices = np.concatenate([split.indices for split in splits])
    order = np.argsort(indices, kind="stable")
    return Split(np.concatenate([split.images for split in splits])[order],
                 np.concatenate([split.labels for split in splits])[order], indices[order], splits[0].classes)


def fold_assignments(labels: np.ndarray, folds: int, seed: int, class_count: int = NUM_CLASSES) -> np.ndarray:
    """The fold (0..folds-1) of each image: stratified by label, shuffled with `seed`."""
    smallest = int(np.bincount(labels.astype(int), minlength=class_count).min())
    if smallest < folds:
        raise ParamsError(f"crossval.folds is {folds}, but one class has only {smallest} images")
    assignment = np.empty(len(labels), dtype=np.int64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fold, (_, held_out) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        assignment[held_out] = fold
    return assignment


def subset(split: Split, mask: np.ndarray) -> Split:
    return dataclasses.replace(split, images=split.images[mask], labels=split.labels[mask],
                               indices=split.indices[mask])


def predict_probabilities(model: keras.Model, images: np.ndarray, portable_products: bool = False) -> np.ndarray:
    """Softmax probabilities in inference mode (no dropout), in batches; with `portable_products`, XLA-compiled
    with the products of models.portable."""
    if portable_products:
        predict = tf.function(lambda batch: portable.forward(model, batch, training=False)[1], jit_compile=True)
    else:
        predict = functools.partial(model, training=False)
    return np.concatenate([np.asarray(predict(tf.constant(images[start:start + PREDICTION_BATCH])))
                           for start in range(0, len(images), PREDICTION_BATCH)])


FoldContext = Callable[[int], AbstractContextManager[Sequence[EpochCallback]]]


def no_fold_context(fold: int) -> AbstractContextManager[Sequence[EpochCallback]]:
    return contextlib.nullcontext(())


def cross_validate(params: Params, pool: Split, test: Split, folds: np.ndarray,
                   fold_context: FoldContext = no_fold_context) -> CrossValidation:
    """Train one fresh model per fold on the other folds; each model predicts its held-out fold and the test
    split. Each fold trains inside `fold_context(fold)`, which gives its epoch callbacks (a child run, a
    progress bar)."""
    probabilities = np.zeros((len(pool.labels), len(pool.classes)), dtype=np.float32)
    test_probabilities = np.zeros((len(test.labels), len(pool.classes)), dtype=np.float64)
    compiled_models, accuracies = CompiledModels(), []
    count = int(folds.max()) + 1
    for fold in range(count):
        held_out = folds == fold
        with fold_context(fold) as callbacks:
            model, _ = pipeline.train_model(params, subset(pool, ~held_out), subset(pool, held_out), callbacks,
                                            compiled_models)
            portable_products = params.train.portable_products
            probabilities[held_out] = predict_probabilities(model, pool.images[held_out], portable_products)
            test_probabilities += predict_probabilities(model, test.images, portable_products) / count
            accuracies.append(float(np.mean(probabilities[held_out].argmax(axis=1) == pool.labels[held_out])))
    return CrossValidation(pool, folds, probabilities, test_probabilities.astype(np.float32), accuracies)


SUMMARY = "summary.json"


def write_outputs(folder: Path, result: CrossValidation | None, test: Split) -> dict:
    """Into `folder`: summary.json, and when cross-validation ran, train.npz (out-of-fold probabilities of the
    pool) and test.npz (averaged test probabilities). Returns the summary."""
    if result is None:
        summary: dict = {"enabled": False}
    else:
        pool = result.pool
        archives.save_npz(folder / "train.npz", {"indices": pool.indices, "labels": pool.labels,
                                                 "probabilities": result.probabilities, "folds": result.folds})
        archives.save_npz(folder / "test.npz", {"indices": test.indices, "probabilities": result.test_probabilities})
        summary = {"enabled": True, "folds": len(result.fold_accuracies), "images": len(pool.labels),
                   "crossval_accuracy": round(result.accuracy(), 6),
                   "crossval_test_accuracy": round(float(np.mean(
                       result.test_probabilities.argmax(axis=1) == test.labels)), 6),
                   **{f"fold_{fold}_accuracy": round(value, 6) for fold, value in enumerate(result.fold_accuracies)}}
    atomic.write_json(folder / SUMMARY, summary)
    return summary


@dataclasses.dataclass(frozen=True)
class StoredProbabilities:
    """What a crossval stage left: out-of-fold probabilities of the training images (with their indices and
    labels) and the averaged test probabilities."""

    train_indices: np.ndarray
    train_labels: np.ndarray
    train_probabilities: np.ndarray
    test_probabilities: np.ndarray
    folds: int


def read_outputs(folder: Path) -> StoredProbabilities | None:
    """The crossval stage's probabilities, or None when the stage ran disabled."""
    try:
        summary = json.loads((folder / SUMMARY).read_text())
        enabled = summary["enabled"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(f"{folder / SUMMARY}: expected the crossval stage's summary ({error})") from None
    if not enabled:
        return None
    train, test = read_npz(folder / "train.npz"), read_npz(folder / "test.npz")
    try:
        return StoredProbabilities(train["indices"], train["labels"], train["probabilities"], test["probabilities"],
                                   int(summary["folds"]))
    except KeyError as error:
        raise DataError(f"{folder}: array {error} is missing from the crossval outputs") from None
