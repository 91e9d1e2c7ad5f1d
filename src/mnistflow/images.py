"""User images to MNIST-framed 28x28 arrays.

A light digit on black, fitted in 20x20, its centre of mass at (14, 14), as in MNIST.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from scipy import ndimage

from mnistflow.errors import ImageFileError


def mnist_frame(gray: np.ndarray) -> np.ndarray:
    """Frame a grayscale image (any size, 0-255) as MNIST does; invert it first if it is dark on light."""
    gray = gray.astype(np.float32)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if border.mean() > 127:
        gray = 255.0 - gray
    gray = np.where(gray > 0.1 * gray.max(), gray, 0.0) if gray.max() > 0 else gray
    rows, columns = np.nonzero(gray)
    if len(rows) == 0:
        return np.zeros((28, 28), np.float32)
    digit = gray[rows.min():rows.max() + 1, columns.min():columns.max() + 1]
    scale = 20.0 / max(digit.shape)
    size = (max(1, round(digit.shape[1] * scale)), max(1, round(digit.shape[0] * scale)))
    resized = np.asarray(Image.fromarray(digit).resize(size, Image.Resampling.LANCZOS), np.float32)
    frame = np.zeros((28, 28), np.float32)
    top, left = (28 - resized.shape[0]) // 2, (28 - resized.shape[1]) // 2
    frame[top:top + resized.shape[0], left:left + resized.shape[1]] = np.clip(resized, 0, 255)
    centre_row, centre_column = ndimage.center_of_mass(frame)
    shifted = ndimage.shift(frame, (14.0 - centre_row, 14.0 - centre_column), order=1, mode="constant")
    return np.clip(shifted, 0, 255).astype(np.float32)


def load_digits(path: str | Path) -> np.ndarray:
    """(N, 28, 28) float32 pixels from a PNG/JPEG (framed like MNIST) or an .npy of (28, 28) / (N, 28, 28)."""
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise ImageFileError(f"{path}: file is empty")
    if path.suffix.lower() == ".npy":
        return _load_array(path)
    try:
        with Image.open(path) as image:
            gray = grayscale(image)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
        raise ImageFileError(f"{path}: not a readable image ({error})") from None
    return mnist_frame(gray)[np.newaxis]


def grayscale(image: Image.Image) -> np.ndarray:
    """Gray pixels of any image; a transparent image is laid on the background that shows its digit.

    A digit drawn only through transparency (one colour, opaque where the pen went) would vanish in a plain
    conversion to gray: it is laid on black when its colour is light and on white when it is dark.
    """
    if "A" not in image.getbands() and "transparency" not in image.info:
        return np.asarray(image.convert("L"), np.float32)
    rgba = image.convert("RGBA")
    alpha = np.asarray(rgba.getchannel("A"), np.float32)
    gray = np.asarray(rgba.convert("L"), np.float32)
    opaque = alpha > 127
    ink = float(gray[opaque].mean()) if opaque.any() else 0.0
    background = Image.new("RGBA", rgba.size, (0, 0, 0, 255) if ink > 127 else (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(background, rgba).convert("L"), np.float32)


def _load_array(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise ImageFileError(f"{path}: not a readable .npy array ({error})") from None
    if array.shape == (28, 28):
        array = array[np.newaxis]
    if array.ndim != 3 or array.shape[1:] != (28, 28) or not np.issubdtype(array.dtype, np.number):
        raise ImageFileError(f"{path}: expected a numeric array of shape (28, 28) or (N, 28, 28), "
                             f"got {array.dtype} {array.shape}")
    if len(array) == 0:
        raise ImageFileError(f"{path}: holds no image (shape {array.shape})")
    if not np.isfinite(array).all():
        raise ImageFileError(f"{path}: holds NaN or infinite pixels; expected finite values in 0-255")
    return array.astype(np.float32)
