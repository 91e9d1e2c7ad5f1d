"""Shifted training images, checked against scipy.ndimage.shift as the oracle."""

import numpy as np
from scipy import ndimage

from mnistflow.data.augmentation import epoch_images, shift_images


def test_each_image_moves_by_its_own_offset_like_scipy_shift():
    images = np.random.default_rng(0).random((50, 784), np.float32)
    moved = shift_images(images, 2, np.random.default_rng(7))
    offsets = np.random.default_rng(7).integers(0, 5, size=(2, 50))  # the same draws
    for index in range(50):
        expected = ndimage.shift(images[index].reshape(28, 28), (2 - offsets[0, index], 2 - offsets[1, index]),
                                 order=0, cval=0.0)
        np.testing.assert_array_equal(moved[index].reshape(28, 28), expected)
    assert moved.dtype == np.float32 and moved.shape == (50, 784)
    assert len({tuple(pair) for pair in offsets.T}) > 10  # many different shifts, not one for all


def test_epochs_are_redrawn_seeded_and_a_zero_shift_leaves_the_images_alone():
    images = np.random.default_rng(1).random((20, 784), np.float32)
    first, second = list(epoch_images(images, 1, 2, seed=3))
    again = list(epoch_images(images, 1, 2, seed=3))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, again[0])
    assert all(epoch is images for epoch in epoch_images(images, 0, 3, seed=3))
