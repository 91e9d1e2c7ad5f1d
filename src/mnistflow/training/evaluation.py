"""Test-set evaluation: probabilities, metrics, and every report file a run keeps."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from mnistflow.analysis import diagnostics, error_analysis, gallery, plots
from mnistflow.core import atomic
from mnistflow.core.params import Params
from mnistflow.data import review
from mnistflow.data.mnist import Split
from mnistflow.models.architectures import make_loss
from mnistflow.training.loop import make_evaluate_function, one_hot


@dataclasses.dataclass(frozen=True)
class Evaluation:
    probabilities: np.ndarray
    predictions: np.ndarray
    metrics: dict[str, float]
    confusion: np.ndarray
    collapsed: list[int]


def evaluate_model(model: keras.Model, loss_name: str, test: Split, collapse_threshold: float,
                   portable_products: bool = False) -> Evaluation:
    loss, probabilities, _ = make_evaluate_function(model, make_loss(loss_name), portable_products)(
        tf.constant(test.images), one_hot(test.labels, len(test.classes)))
    probabilities = probabilities.numpy()
    predictions = np.argmax(probabilities, axis=1)
    labels = test.labels.astype(int)
    classes = list(range(len(test.classes)))
    precision, recall, f1, _ = precision_recall_fscore_support(labels, predictions, labels=classes,
                                                               zero_division=0)
    metrics = {"test_accuracy": float(np.mean(predictions == labels)), "test_loss": float(loss),
               "test_macro_f1": float(f1_score(labels, predictions, labels=classes, average="macro",
                                               zero_division=0))}
    for label in classes:
        metrics.update({f"test_precision_{label}": float(precision[label]),
                        f"test_recall_{label}": float(recall[label]), f"test_f1_{label}": float(f1[label])})
    class_recall = diagnostics.per_class_recall(labels, predictions, len(classes))
    collapsed = diagnostics.collapsed_classes(class_recall, collapse_threshold)
    metrics["test_collapsed_classes"] = float(len(collapsed))
    metrics["test_min_class_recall"] = float(np.nanmin(class_recall))
    return Evaluation(probabilities, predictions, metrics,
                      confusion_matrix(labels, predictions, labels=classes), collapsed)


def reviewed_test_metrics(test: Split, predictions: np.ndarray, test_labels: dict[str, int | None]) -> dict[str, float]:
    """Accuracy and macro F1 on the reviewed test labels (relabelled images get their new label, excluded ones
    are left out), named `..._reviewed_labels` so no one takes them for the original benchmark."""
    reviewed, keep = review.with_changes(test, test_labels)
    labels, predictions = reviewed.labels.astype(int), predictions[keep]
    return {"test_accuracy_reviewed_labels": float(np.mean(predictions == labels)),
            "test_macro_f1_reviewed_labels": float(f1_score(labels, predictions, labels=list(range(len(test.classes))),
                                                            average="macro", zero_division=0)),
            "test_images_reviewed_labels": float(keep.sum())}


@dataclasses.dataclass(frozen=True)
class LabelSuspects:
    """Where to look for wrong labels: a split, the best probabilities for it, and where they come from."""

    name: str  # "test" or "train"
    split: Split
    probabilities: np.ndarray
    source: str  # "this model" or "cross-validated, K folds"


@dataclasses.dataclass(frozen=True)
class Audit:
    """The label audit's inputs besides the model: cross-validated probabilities (of the test split, and of the
    training images as `train`), and the reviewed test labels ({index: label, or None for excluded})."""

    test_probabilities: np.ndarray | None = None
    train: LabelSuspects | None = None
    source: str = "this model"
    reviewed_test_labels: dict[str, int | None] = dataclasses.field(default_factory=dict)

    def suspects(self, evaluation: Evaluation, test: Split) -> list[LabelSuspects]:
        """The splits to search for wrong labels, each with its best probabilities."""
        best = evaluation.probabilities if self.test_probabilities is None else self.test_probabilities
        return [LabelSuspects("test", test, best, self.source), *([self.train] if self.train else [])]


HEADLINE_METRICS = {"test_accuracy": "accuracy", "test_macro_f1": "macro_f1",
                    "test_min_class_recall": "min_recall", "test_collapsed_classes": "collapsed_classes",
                    "test_accuracy_reviewed_labels": "accuracy_reviewed_labels",
                    "test_macro_f1_reviewed_labels": "macro_f1_reviewed_labels",
                    "test_images_reviewed_labels": "images_reviewed_labels"}
COUNT_METRICS = frozenset({"test_collapsed_classes", "test_images_reviewed_labels"})
PER_CLASS_METRICS = ("precision", "recall", "f1")


def headline_metrics(metrics: dict[str, float]) -> dict[str, float | int]:
    """The test set's headline numbers under short names, counts as integers: what `dvc metrics show` and
    `dvc exp show` list (reports/test_metrics.json), narrow enough that two changed params fit beside them in
    120 columns. The test loss and the per-class numbers go to the run; the per-class ones also to the
    per-class table (`write_per_class_data`)."""
    return {short: int(metrics[name]) if name in COUNT_METRICS else metrics[name]
            for name, short in HEADLINE_METRICS.items() if name in metrics}


def write_per_class_data(path: str | Path, metrics: dict[str, float], classes: Sequence[str]) -> None:
    """One row per class (class name, precision, recall, f1): the input of the per-class charts of `dvc plots`."""
    frame = pd.DataFrame({"class": list(classes)} | {
        name: [metrics[f"test_{name}_{label}"] for label in range(len(classes))] for name in PER_CLASS_METRICS})
    with atomic.atomic_path(path) as temporary:
        frame.to_csv(temporary, index=False, float_format="%.6g")


def write_confusion_data(path: str | Path, labels: np.ndarray, predictions: np.ndarray,
                         classes: Sequence[str]) -> None:
    """One row per test image (actual, predicted), by class name: the input of DVC's `confusion` template."""
    names = np.asarray(classes, dtype=object)
    frame = pd.DataFrame({"actual": names[labels.astype(int)], "predicted": names[predictions]})
    with atomic.atomic_path(path) as temporary:
        frame.to_csv(temporary, index=False)


def write_figures(folder: Path, evaluation: Evaluation, history: Sequence[dict[str, float]],
                  collapse_threshold: float, classes: Sequence[str]) -> None:
    plots.save(plots.confusion_figure(evaluation.confusion, classes), folder / "confusion_matrix.png")
    plots.save(plots.curves_figure(history), folder / "training_curves.png")
    plots.save(plots.class_recall_figure(history, collapse_threshold, classes), folder / "class_recall.png")


def _gallery(path: Path, table: pd.DataFrame, images_by_index: dict[int, np.ndarray], heading: str,
             classes: Sequence[str], probability_column: str = "p_prediction",
             prediction_column: str = "prediction") -> None:
    flags = table["flagged"] if "flagged" in table else [False] * len(table)
    titles = [error_analysis.tile_title(*row, classes) for row in zip(
        table["index"], table["label"], table[prediction_column], table[probability_column], flags, strict=True)]
    images = np.array([images_by_index[int(index)] for index in table["index"]]).reshape(-1, 28, 28)
    gallery.save(gallery.render(images, titles, heading), path)


def write_error_reports(folder: Path, evaluation: Evaluation, test: Split, params: Params,
                        suspects: Sequence[LabelSuspects]) -> dict[str, pd.DataFrame]:
    """Galleries of mistakes (per class and most confident), the table of all mistakes, and the suspected label
    errors of each split in `suspects` (label_issues.* for test, train_label_issues.* for train)."""
    images_by_index = dict(zip(test.indices.tolist(), test.images, strict=True))
    mistakes = error_analysis.mistakes_table(evaluation.probabilities, test.labels, test.indices)
    limit, classes = params.evaluate.class_gallery_limit, test.classes
    for label, class_name in enumerate(classes):
        of_class = error_analysis.mistakes_of_class(mistakes, label)
        shown = (f"the {limit} most confident shown, all in mistakes.csv" if len(of_class) > limit
                 else "most confident first")
        _gallery(folder / f"class_{label}_mistakes.png", of_class.head(limit), images_by_index,
                 f"Test images of class {class_name} the model got wrong: {len(of_class)} ({shown})", classes)
    top = mistakes.head(params.evaluate.confident_mistakes)
    _gallery(folder / "confident_mistakes.png", top, images_by_index,
             f"The {len(top)} most confident mistakes of {len(mistakes)}", classes)
    tables = {"mistakes": mistakes}
    for item in suspects:
        tables[suspects_name(item.name)] = _write_suspects(folder, item, params.evaluate.label_issues_top_k)
    for name, table in tables.items():
        table = error_analysis.with_class_names(table, classes)
        with atomic.atomic_path(folder / f"{name}.csv") as temporary:
            table.to_csv(temporary, index=False, float_format="%.6g")
    return tables


def suspects_name(split_name: str) -> str:
    """label_issues for the test split (its name since the first release), train_label_issues for train."""
    return "label_issues" if split_name == "test" else f"{split_name}_label_issues"


def _write_suspects(folder: Path, item: LabelSuspects, top_k: int) -> pd.DataFrame:
    issues = error_analysis.label_issues_table(item.probabilities, item.split.labels, item.split.indices, top_k)
    wanted = set(issues["index"].tolist())
    images_by_index = {int(index): image for index, image in zip(item.split.indices, item.split.images, strict=True)
                       if int(index) in wanted}
    _gallery(folder / f"{suspects_name(item.name)}.png", issues, images_by_index,
             f"Top {len(issues)} suspected label errors in the {item.name} split, lowest label quality first\n"
             f"{item.source} probabilities, cleanlab {error_analysis.RANKING} ranking; pred = suggested label, "
             f"* = flagged by {error_analysis.FILTER}", item.split.classes, probability_column="p_suggested",
             prediction_column="suggested")
    return issues
