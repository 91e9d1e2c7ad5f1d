"""The no-digit detector: a small network that tells a framed 28x28 digit from a framed picture of something
else (garments, shoes, bags), which the shape checks of data.refusal let through when it is filled and
pen-like in outline. `python bench/digit_detector.py` fits it; its weights ship in digit_detector.npz. It runs
in NumPy, so `predict` stays without TensorFlow.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS = Path(__file__).with_name("digit_detector.npz")
REFUSED_SHARE = 0.0005  # of digits the fit never saw, refused by the threshold


@dataclasses.dataclass(frozen=True)
class DigitDetector:
    hidden_weights: np.ndarray  # (784, units)
    hidden_bias: np.ndarray  # (units,)
    output_weights: np.ndarray  # (units,)
    output_bias: float
    threshold: float  # a no-digit probability above this refuses the picture

    def no_digit_probability(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 28, 28) framed pixels in 0-255 -> (N,) probabilities that each holds no digit."""
        inputs = np.asarray(pixels, np.float32).reshape(len(pixels), -1) / 255.0
        hidden = np.maximum(inputs @ self.hidden_weights + self.hidden_bias, 0.0)
        return 1.0 / (1.0 + np.exp(-(hidden @ self.output_weights + self.output_bias)))


def load(path: Path = WEIGHTS) -> DigitDetector:
    with np.load(path) as saved:
        return DigitDetector(saved["hidden_weights"], saved["hidden_bias"], saved["output_weights"],
                             float(saved["output_bias"]), float(saved["threshold"]))


def save(detector: DigitDetector, path: Path) -> None:
    from mnistflow.core import atomic

    arrays: dict[str, Any] = {field.name: np.asarray(getattr(detector, field.name), np.float32)
                              for field in dataclasses.fields(detector)}
    with atomic.atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.savez(handle, **arrays)


def fit(digits: np.ndarray, non_digits: np.ndarray, held_out_digits: np.ndarray, units: int = 64,
        refused_share: float = REFUSED_SHARE, seed: int = 0) -> DigitDetector:
    """Fit on framed digits against framed non-digits ((N, 28, 28), 0-255); the threshold refuses
    `refused_share` of `held_out_digits`, pictures the fit never saw."""
    from sklearn.neural_network import MLPClassifier

    inputs = np.concatenate([digits, non_digits]).reshape(-1, 784).astype(np.float32) / 255.0
    targets = np.concatenate([np.zeros(len(digits)), np.ones(len(non_digits))])
    network = MLPClassifier((units,), alpha=1e-3, batch_size=256, max_iter=200, early_stopping=True,
                            n_iter_no_change=8, random_state=seed).fit(inputs, targets)
    unthresholded = from_network(network, threshold=1.0)
    scores = unthresholded.no_digit_probability(held_out_digits)
    return dataclasses.replace(unthresholded, threshold=float(np.quantile(scores, 1.0 - refused_share)))


def from_network(network, threshold: float) -> DigitDetector:
    """The detector of a fitted one-hidden-layer ReLU MLPClassifier whose class 1 is "no digit"."""
    (hidden_weights, output_weights), (hidden_bias, output_bias) = network.coefs_, network.intercepts_
    return DigitDetector(hidden_weights.astype(np.float32), hidden_bias.astype(np.float32),
                         output_weights[:, 0].astype(np.float32), float(output_bias[0]), threshold)
