"""Light data augmentation: every training image shifted by a few pixels, redrawn each epoch (pure NumPy)."""

from __future__ import annotations

import numpy as np

from mnistflow.data.mnist import IMAGE_SIDE


def shift_images(images: np.ndarray, shift: int, generator: np.random.Generator) -> np.ndarray:
    """Flat 784-pixel rows, each moved by its own (dy, dx) in -shift … shift; pixels moved in are 0."""
    count = len(images)
    padded = np.pad(images.reshape(count, IMAGE_SIDE, IMAGE_SIDE), ((0, 0), (shift, shift), (shift, shift)))
    offsets = generator.integers(0, 2 * shift + 1, size=(2, count))
    rows = offsets[0][:, None] + np.arange(IMAGE_SIDE)
    columns = offsets[1][:, None] + np.arange(IMAGE_SIDE)
    moved = padded[np.arange(count)[:, None, None], rows[:, :, None], columns[:, None, :]]
    return moved.reshape(count, IMAGE_SIDE * IMAGE_SIDE)


def epoch_images(images: np.ndarray, shift: int, epochs: int, seed: int):
    """The training images of each epoch: as they are when `shift` is 0, else freshly shifted from one seeded
    generator (its own stream, so the epoch orders are those of an unaugmented run)."""
    generator = np.random.default_rng([seed, 1])
    for _ in range(epochs):
        yield shift_images(images, shift, generator) if shift else images
