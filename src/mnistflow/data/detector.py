"""The no-digit detector: a small convolutional network that reads a framed 28x28 as one of the ten digits or
"no digit" (letters, symbols, shapes, crops of photos, garments, noise), for what the shape checks of
data.refusal let through. Its score is how far "no digit" leads the likeliest digit (a difference of logits);
a score above the threshold refuses the picture. `python bench/digit_detector.py` fits it with Keras; its
weights ship in digit_detector.npz, and it runs in NumPy, so `predict` stays without TensorFlow.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS = Path(__file__).with_name("digit_detector.npz")
REFUSED_SHARE = 0.002  # of digits the fit never saw (most of them photos), refused by the threshold
NO_DIGIT = 10  # the class after the ten digits


@dataclasses.dataclass(frozen=True)
class DigitDetector:
    first_kernel: np.ndarray  # (3, 3, 1, filters): convolution, ReLU, 2x2 max pooling
    first_bias: np.ndarray
    second_kernel: np.ndarray  # (3, 3, filters, 2 * filters): the same again
    second_bias: np.ndarray
    hidden_weights: np.ndarray  # (5 * 5 * 2 * filters, units), ReLU
    hidden_bias: np.ndarray
    output_weights: np.ndarray  # (units, 11): the ten digits, then "no digit"
    output_bias: np.ndarray
    threshold: float  # a no-digit score above this refuses the picture

    def logits(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 28, 28) framed pixels in 0-255 -> (N, 11) logits: the ten digits, then "no digit"."""
        inputs = np.asarray(pixels, np.float32)[..., np.newaxis] / 255.0
        first = _pooled(_convolved(inputs, self.first_kernel, self.first_bias))
        second = _pooled(_convolved(first, self.second_kernel, self.second_bias))
        hidden = np.maximum(second.reshape(len(second), -1) @ self.hidden_weights + self.hidden_bias, 0.0)
        return hidden @ self.output_weights + self.output_bias

    def no_digit_score(self, pixels: np.ndarray) -> np.ndarray:
        return score_of(self.logits(pixels))

    def no_digit_probability(self, pixels: np.ndarray) -> np.ndarray:
        return probability_of(self.logits(pixels))


def score_of(logits: np.ndarray) -> np.ndarray:
    """(N, 11) logits -> (N,) log of how many times likelier "no digit" is than the likeliest digit."""
    return logits[:, NO_DIGIT] - logits[:, :NO_DIGIT].max(axis=1)


def probability_of(logits: np.ndarray) -> np.ndarray:
    """(N, 11) logits -> (N,) the softmax probability of "no digit"."""
    exponentials = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exponentials[:, NO_DIGIT] / exponentials.sum(axis=1)


def _convolved(inputs: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A 'valid' convolution of (N, H, W, C) inputs with a (k, k, C, out) kernel, then ReLU."""
    size = kernel.shape[0]
    windows = np.lib.stride_tricks.sliding_window_view(inputs, (size, size), axis=(1, 2))  # (N, H', W', C, k, k)
    return np.maximum(np.einsum("nhwcij,ijco->nhwo", windows, kernel, optimize=True) + bias, 0.0)


def _pooled(inputs: np.ndarray) -> np.ndarray:
    """2x2 max pooling with stride 2; an odd last row or column is dropped, as Keras does."""
    count, height, width, channels = inputs.shape
    kept = inputs[:, :height // 2 * 2, :width // 2 * 2]
    return kept.reshape(count, height // 2, 2, width // 2, 2, channels).max(axis=(2, 4))


def load(path: Path = WEIGHTS) -> DigitDetector:
    with np.load(path) as saved:
        return DigitDetector(**{field.name: saved[field.name] for field in dataclasses.fields(DigitDetector)
                                if field.name != "threshold"}, threshold=float(saved["threshold"]))


def save(detector: DigitDetector, path: Path) -> None:
    from mnistflow.core import atomic

    arrays: dict[str, Any] = {field.name: np.asarray(getattr(detector, field.name), np.float32)
                              for field in dataclasses.fields(detector)}
    with atomic.atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.savez(handle, **arrays)


def network(filters: int = 32, units: int = 64):
    """The detector as an untrained Keras model, the layers DigitDetector runs."""
    from mnistflow.core.runtime import keras

    layers = keras.layers
    return keras.Sequential([
        keras.Input((28, 28, 1)), layers.Conv2D(filters, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(2 * filters, 3, activation="relu"), layers.MaxPooling2D(), layers.Flatten(),
        layers.Dense(units, activation="relu"), layers.Dense(NO_DIGIT + 1)])


def from_network(fitted, threshold: float) -> DigitDetector:
    """The detector of a fitted `network()`."""
    names = [field.name for field in dataclasses.fields(DigitDetector) if field.name != "threshold"]
    weights = [np.asarray(array, np.float32) for array in fitted.get_weights()]
    return DigitDetector(**dict(zip(names, weights, strict=True)), threshold=threshold)


def fit(digits: np.ndarray, labels: np.ndarray, non_digits: np.ndarray, held_out_digits: np.ndarray,
        epochs: int = 6, refused_share: float = REFUSED_SHARE, seed: int = 0, **sizes: int) -> DigitDetector:
    """Fit on framed digits with their labels and framed non-digits ((N, 28, 28), 0-255); the threshold
    refuses `refused_share` of `held_out_digits`, pictures the fit never saw."""
    from mnistflow.core.runtime import keras

    keras.utils.set_random_seed(seed)
    model = network(**sizes)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    inputs = np.concatenate([digits, non_digits]).astype(np.float32)[..., np.newaxis] / 255.0
    targets = np.concatenate([labels, np.full(len(non_digits), NO_DIGIT)])
    model.fit(inputs, targets, batch_size=128, epochs=epochs, verbose=2)
    unthresholded = from_network(model, threshold=np.inf)
    scores = unthresholded.no_digit_score(held_out_digits)
    return dataclasses.replace(unthresholded, threshold=float(np.quantile(scores, 1.0 - refused_share)))
