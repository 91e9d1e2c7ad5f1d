"""Photo-style digits for testing `predict`'s framing: MNIST test digits drawn onto paper as a phone would see them.

Each style puts a held-out MNIST digit (its strokes, upscaled) on a larger canvas, off-centre, with the paper,
lighting, pen and compression of that style. Everything is drawn from one seed, so the set is the same on
every machine. Used by tests/data/test_images.py and bench/photos.py.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from scipy import ndimage

STYLES = ("white", "off-white", "grey", "gradient", "jpeg-noise", "thick-pen", "thin-pen", "light-on-dark")


def ink_mask(digit: np.ndarray, size: int, pen: int = 0) -> np.ndarray:
    """The digit's strokes in [0, 1], upscaled to size x size; pen > 0 thickens, pen < 0 thins them."""
    mask = np.asarray(Image.fromarray(digit.astype(np.uint8)).resize((size, size), Image.Resampling.BICUBIC),
                      np.float32) / 255.0
    if pen > 0:
        mask = ndimage.grey_dilation(mask, size=(pen, pen))
    elif pen < 0:
        mask = ndimage.grey_erosion(mask, size=(-pen, -pen))
    return np.clip(mask, 0.0, 1.0)


def paper(style: str, shape: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """The background of a style and its ink's gray level."""
    height, width = shape
    if style == "off-white":
        return np.full(shape, 232.0), 25.0
    if style == "grey":
        return np.full(shape, 215.0), 40.0
    if style == "gradient":  # light falling off across the page, from a random side
        ramp = np.linspace(250.0, 140.0, width)[np.newaxis].repeat(height, axis=0)
        return (ramp if rng.random() < 0.5 else ramp[:, ::-1]), 30.0
    if style == "jpeg-noise":
        return 225.0 + rng.normal(0.0, 8.0, shape), 45.0
    if style == "light-on-dark":  # chalk on a board
        return np.full(shape, 45.0), 225.0
    return np.full(shape, 255.0), 20.0


def photo(digit: np.ndarray, style: str, rng: np.random.Generator) -> Image.Image:
    """One MNIST digit (28x28, light on dark, 0-255) as a photo of the given style."""
    pen = {"thick-pen": 9, "thin-pen": -5}.get(style, 0)
    height, width = int(rng.integers(220, 320)), int(rng.integers(200, 300))
    size = int(rng.integers(int(0.55 * min(height, width)), int(0.85 * min(height, width))))
    mask = np.zeros((height, width), np.float32)
    top, left = int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1))
    mask[top:top + size, left:left + size] = ink_mask(digit, size, pen)
    background, ink = paper(style, (height, width), rng)
    image = background * (1.0 - mask) + ink * mask
    image = ndimage.gaussian_filter(image, 1.0)  # the camera's blur
    picture = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    if style == "jpeg-noise":
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=35)
        picture = Image.open(io.BytesIO(buffer.getvalue()))
    return picture


def photo_set(images: np.ndarray, labels: np.ndarray, per_style: int, seed: int = 0):
    """(style, MNIST index, label, photo) for `per_style` different test digits in each style."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(images), size=(len(STYLES), per_style), replace=False)
    for style, indices in zip(STYLES, chosen, strict=True):
        for index in indices:
            yield style, int(index), int(labels[index]), photo(images[index], style, rng)
