"""Per-class behaviour and the saturation measures that explain class collapse (pure NumPy)."""

from __future__ import annotations

import numpy as np

from mnistflow.data.mnist import NUM_CLASSES

# Keras 2.2's cross-entropy clipped probabilities to [CLIP_EPSILON, 1 - CLIP_EPSILON] before the log.
CLIP_EPSILON = 1e-7


def per_class_recall(labels: np.ndarray, predictions: np.ndarray, class_count: int = NUM_CLASSES) -> np.ndarray:
    """Recall of each class; a class absent from `labels` gets NaN."""
    totals = np.bincount(labels, minlength=class_count).astype(np.float64)
    hits = np.bincount(labels[labels == predictions], minlength=class_count)
    with np.errstate(invalid="ignore", divide="ignore"):
        return hits / totals


def collapsed_classes(recall: np.ndarray, threshold: float) -> list[int]:
    """Classes whose recall is below `threshold`: the model (almost) never predicts them correctly."""
    return [int(label) for label in np.flatnonzero(recall < threshold)]


def saturation(probabilities: np.ndarray, labels: np.ndarray, hidden: list[np.ndarray]) -> dict[str, float]:
    """How saturated the network is on a sample.

    - true_class_prob_below_eps: share of samples whose true-class probability is below 1e-7, where a
      clipped cross-entropy passes exactly zero gradient;
    - top_prob_above_1_minus_eps: share whose top probability exceeds 1 - 1e-7 (near one-hot outputs);
    - dead_relu_fraction: share of hidden units, over every hidden layer, that output zero for every sample
      (a convolution's unit is its channel, dead when zero at every position).
    """
    dead = np.concatenate([np.all(layer.reshape(-1, layer.shape[-1]) <= 0.0, axis=0) for layer in hidden])
    true_probability = probabilities[np.arange(len(labels)), labels]
    return {
        "true_class_prob_below_eps": float(np.mean(true_probability < CLIP_EPSILON)),
        "top_prob_above_1_minus_eps": float(np.mean(probabilities.max(axis=1) > 1.0 - CLIP_EPSILON)),
        "dead_relu_fraction": float(np.mean(dead)),
    }


def class_metrics(recall: np.ndarray, threshold: float) -> dict[str, float]:
    """Per-class recall as val_recall_<k>, plus the collapse count and the weakest class's recall."""
    metrics = {f"val_recall_{label}": float(value) for label, value in enumerate(recall)}
    metrics["collapsed_classes"] = float(len(collapsed_classes(recall, threshold)))
    metrics["min_class_recall"] = float(np.nanmin(recall))
    return metrics
