"""Training one configuration end to end, as used by the train stage and by every study run."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
from keras import layers

from mnistflow.core import archives, atomic, runtime
from mnistflow.core.errors import DataError
from mnistflow.core.params import Params
from mnistflow.data.mnist import Split, check_batch_fits
from mnistflow.models.architectures import build_model
from mnistflow.training.loop import CompiledModels, EpochCallback, EpochRecord, Trainer


def train_model(params: Params, train: Split, validation: Split, callbacks: Sequence[EpochCallback] = (),
                compiled_models: CompiledModels | None = None) -> tuple[keras.Model, list[EpochRecord]]:
    """Seed everything, build a fresh model and train it: no state survives from an earlier call.

    The training runs in the caller's compiled model of this description (`compiled_models`, or a new one),
    restarted from the fresh model's seeded weights; the trained weights are copied back into the fresh
    model, which is returned, so the caller never holds the shared one.
    """
    check_batch_fits(params.train.batch_size, train)
    runtime.configure(params.train.threads, params.train.numerics)
    runtime.seed_everything(params.train.seed)
    model = build_model(params.model, len(train.classes))
    compiled = (compiled_models or CompiledModels()).get(params, len(train.classes))
    compiled.restart(model, params.train.learning_rate)
    records = Trainer(compiled, params.train, params.diagnostics).fit(train, validation, callbacks)
    model.set_weights(compiled.model.get_weights())
    return model, records


# Wall-clock measurements go to MLflow only: a DVC out must be a pure function of its deps.
TIMING_METRICS = ("epoch_seconds",)


def history_rows(records: Sequence[EpochRecord]) -> list[dict[str, float]]:
    """Per-epoch metrics for models/history.csv: everything but wall-clock timing."""
    return [{"epoch": record.epoch, **{name: value for name, value in record.metrics.items()
                                       if name not in TIMING_METRICS}} for record in records]


def recall_rows(records: Sequence[EpochRecord], classes: Sequence[str]) -> list[dict[str, float | str]]:
    """The validation recall of each class at each epoch, one row per (epoch, class): a table DVC's plots draw
    as one line per class whatever the number of classes."""
    return [{"epoch": record.epoch, "class": name, "recall": record.metrics[f"val_recall_{label}"]}
            for record in records for label, name in enumerate(classes)]


def write_history(path: str | Path, rows: Sequence[dict[str, float]] | Sequence[dict[str, float | str]]) -> None:
    with atomic.atomic_path(path) as temporary, open(temporary, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "val_recall_0")  # and one per class


def read_history(path: str | Path) -> list[dict[str, float]]:
    """models/history.csv; a file without the expected columns, or with non-numbers, is a DataError."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = [column for column in HISTORY_COLUMNS if not rows or column not in rows[0]]
    if missing:
        raise DataError(f"{path}: expected a per-epoch CSV with columns {', '.join(HISTORY_COLUMNS[:5])}, "
                        f"val_recall_<class>; {'no rows' if not rows else 'missing ' + missing[0]}")
    try:
        return [{key: float(value) for key, value in row.items()} for row in rows]
    except (TypeError, ValueError) as error:
        raise DataError(f"{path}: not a number in the per-epoch CSV ({error})") from None


def collapse_summary(records: Sequence[EpochRecord]) -> dict[str, float]:
    """How the run ended and how long it spent with a collapsed class."""
    return {
        "final_collapsed_classes": float(len(records[-1].collapsed)),
        "epochs_collapsed": float(sum(bool(record.collapsed) for record in records)),
        "min_class_recall_final": records[-1].metrics["min_class_recall"],
    }


def save_model(model: keras.Model, path: str | Path) -> None:
    """The .keras file, byte-identical whenever the weights and architecture are."""
    archives.save_keras(model, path)


def serving_model(model: keras.Model, scale: bool) -> keras.Model:
    """The trained model behind raw 28x28 pixels (0-255), so users and servers need no preprocessing."""
    inputs = keras.Input(shape=(28, 28), name="image")
    pixels = layers.Flatten()(inputs)
    if scale:
        pixels = layers.Rescaling(1.0 / 255.0)(pixels)
    return keras.Model(inputs, model(pixels), name=f"{model.name}_serving")


def input_example(images: np.ndarray, scale: bool) -> np.ndarray:
    """A few prepared rows turned back into raw 28x28 pixel images."""
    raw = images[:3] * (255.0 if scale else 1.0)
    return np.round(raw).astype(np.float32).reshape(-1, 28, 28)
