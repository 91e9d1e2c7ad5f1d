"""The names metrics carry in MLflow, grouped by a prefix before `/`: the UI makes a chart section of each
prefix (`test/`, `train/`, `val/`, `val_recall/` ...), so loss and accuracy sit beside their validation twins.

The pipeline computes metrics under plain names (Keras's `loss` and `val_loss`, `test_accuracy`); `mlflow_key`
renames them when they are logged and when runs are read back. A run logged under the old flat names
(mnistflow 0.x) therefore reads exactly like a new one in `compare`, `register` and studies.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

RENAMED = {
    "loss": "train/loss", "accuracy": "train/accuracy", "epoch_seconds": "train/epoch_seconds",
    "training_seconds": "train/seconds", "true_class_prob_below_eps": "train/true_class_prob_below_eps",
    "top_prob_above_1_minus_eps": "train/top_prob_above_1_minus_eps", "dead_relu_fraction": "train/dead_relu_fraction",
    "collapsed_classes": "val/collapsed_classes", "min_class_recall": "val/min_recall",
    "test_min_class_recall": "test/min_recall",
    "final_collapsed_classes": "train/final_collapsed_classes", "epochs_collapsed": "train/epochs_collapsed",
    "min_class_recall_final": "train/final_min_class_recall",
    "images": "crossval/images", "crossval_accuracy": "crossval/accuracy",
    "crossval_test_accuracy": "crossval/test_accuracy",
}
PER_CLASS = re.compile(r"(val|test)_(recall|precision|f1)_(\d)")
FOLD = re.compile(r"fold_(\d+)_accuracy")
GROUPS = ("val", "test", "review", "study")


def mlflow_key(name: str) -> str:
    """`val_loss` -> `val/loss`, `val_recall_3` -> `val_recall/3`, `loss` -> `train/loss`; a name that already
    has a group, or that no rule knows, is kept."""
    if "/" in name:
        return name
    if name in RENAMED:
        return RENAMED[name]
    if match := PER_CLASS.fullmatch(name):
        return f"{match[1]}_{match[2]}/{match[3]}"
    if match := FOLD.fullmatch(name):
        return f"crossval/fold_{match[1]}_accuracy"
    group, _, rest = name.partition("_")
    return f"{group}/{rest}" if group in GROUPS and rest else name


def grouped(metrics: Mapping[str, float]) -> dict[str, float]:
    """The metrics under their MLflow keys; where an old and a new name meet, the new one's value wins."""
    renamed = {mlflow_key(name): value for name, value in metrics.items() if "/" not in name}
    return {**renamed, **{name: value for name, value in metrics.items() if "/" in name}}


FILTER_METRIC = re.compile(r"\bmetrics\.(\w+)")


def grouped_filter(query: str) -> str:
    """An MLflow filter with flat metric names written as their grouped keys: `metrics.test_accuracy > 0.9`
    -> ``metrics.`test/accuracy` > 0.9``, so a filter written for the flat names finds new runs."""
    def key(match: re.Match) -> str:
        grouped_name = mlflow_key(match[1])
        return match[0] if grouped_name == match[1] else f"metrics.`{grouped_name}`"
    return FILTER_METRIC.sub(key, query)
