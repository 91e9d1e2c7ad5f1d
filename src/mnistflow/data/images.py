"""User images to MNIST-framed 28x28 arrays.

A light digit on black, fitted in 20x20, its centre of mass at (14, 14), as in MNIST. Photos are cleaned up
first: the paper's uneven background is removed (a morphological top-hat), the ink is separated from it by
Otsu's threshold, and only the digit's connected components are kept (scikit-image).
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from scipy import ndimage
from skimage import filters, measure, morphology

from mnistflow.core.errors import ImageFileError

WORKING_SIDE = 160  # photos are cleaned at this size: plenty for a 20x20 digit, fast for any photo
PHOTO_SIDE = 64  # smaller images are drawn digits (MNIST's own are 28x28): no background to remove
MIN_COMPONENT_SHARE = 0.15  # a stroke piece smaller than this share of the largest one is noise
MIN_FRAMED_STROKE = 2.5  # pixels: a stroke too thin to keep its ink in the 20x20 box is widened to this
FAINT_FRAME = 127.0  # a framed digit whose brightest pixel is below this lost its ink in the shrinking


@dataclasses.dataclass(frozen=True)
class Framed:
    """An image framed like MNIST, and what its framing saw (data.refusal reads both)."""

    pixels: np.ndarray  # (28, 28) float32, 0-255
    contrast: float  # how far the kept ink stood above its background (0-255) before it was scaled to 255
    pieces: int  # separate pieces of ink kept: a digit has one or two, a word one per letter


def mnist_frame(gray: np.ndarray) -> np.ndarray:
    """Frame a grayscale image (any size, 0-255) as MNIST does; a dark-on-light image is inverted first."""
    return frame(gray).pixels


def frame(gray: np.ndarray) -> Framed:
    """`mnist_frame`, with the contrast and the pieces of the ink it kept (0 and 0 when it found none)."""
    gray = np.asarray(gray, np.float32)
    if max(gray.shape) > WORKING_SIDE:
        scale = WORKING_SIDE / max(gray.shape)
        size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
        gray = np.asarray(Image.fromarray(gray).resize(size, Image.Resampling.BOX), np.float32)
    if _is_dark_on_light(gray):
        gray = 255.0 - gray
    digit, contrast, pieces = _digit_pixels(gray)
    if not digit.any():
        return Framed(np.zeros((28, 28), np.float32), 0.0, 0)
    return Framed(_fit_and_centre(digit), contrast, pieces)


def fit_frame(gray: np.ndarray) -> Framed:
    """A picture framed as Fashion-MNIST's product photos were: the object light on black (a light background is
    inverted), its background trimmed, its longer side fitted to 28 pixels, centred, brightest pixel at 255."""
    gray = np.asarray(gray, np.float32)
    if _is_dark_on_light(gray):
        gray = 255.0 - gray
    gray = gray - float(np.median(np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])))
    rows, columns = np.nonzero(gray > 0.1 * max(float(gray.max()), 1.0))
    if not len(rows):
        return Framed(np.zeros((28, 28), np.float32), 0.0, 0)
    object_pixels = np.clip(gray[rows.min():rows.max() + 1, columns.min():columns.max() + 1], 0, None)
    scale = 28 / max(object_pixels.shape)
    size = (max(1, round(object_pixels.shape[1] * scale)), max(1, round(object_pixels.shape[0] * scale)))
    fitted = np.asarray(Image.fromarray(object_pixels).resize(size, Image.Resampling.LANCZOS), np.float32)
    framed = np.zeros((28, 28), np.float32)
    top, left = (28 - size[1]) // 2, (28 - size[0]) // 2
    framed[top:top + size[1], left:left + size[0]] = np.clip(fitted, 0, None)
    brightest = float(framed.max())
    return Framed(framed * (255.0 / brightest) if brightest > 0 else framed, brightest, 1)


def already_framed(pixels: np.ndarray) -> Framed:
    """A 28x28 array given as it is (an .npy), with its contrast and pieces found the way `frame` finds them."""
    pixels = np.asarray(pixels, np.float32)
    _, contrast, pieces = _digit_pixels(pixels)
    return Framed(pixels, contrast, pieces)


def _is_dark_on_light(gray: np.ndarray) -> bool:
    """The border, mostly paper, is light: the ink is dark."""
    return bool(np.median(np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])) > 127)


def _digit_pixels(gray: np.ndarray) -> tuple[np.ndarray, float, int]:
    """The ink, light on black, with background and specks removed, its brightest stroke scaled to 255; and
    that stroke's brightness before scaling (the contrast)."""
    if min(gray.shape) >= PHOTO_SIDE:  # a photo: remove the uneven paper, keep what is narrower than half a side
        side = 2 * max(2, min(gray.shape) // 4) + 1  # a white top-hat; the square opening is separable: fast
        gray = gray - ndimage.grey_opening(gray, size=(side, side))
    if gray.max() <= 0:
        return np.zeros_like(gray), 0.0, 0
    threshold = filters.threshold_otsu(gray) if np.ptp(gray) > 0 else 0.0
    components = measure.label(gray > threshold)
    areas = np.bincount(components.ravel())[1:]
    if not len(areas):
        return np.zeros_like(gray), 0.0, 0
    keep = np.flatnonzero(areas >= MIN_COMPONENT_SHARE * areas.max()) + 1
    mask = ndimage.binary_dilation(np.isin(components, keep), iterations=1)  # the strokes' soft edges too
    ink = np.where(mask, gray, 0.0)
    contrast = float(np.percentile(ink[mask], 95))
    return np.clip(ink * (255.0 / contrast), 0.0, 255.0), contrast, len(keep)


def _fit_and_centre(digit: np.ndarray) -> np.ndarray:
    rows, columns = np.nonzero(digit)
    digit = digit[rows.min():rows.max() + 1, columns.min():columns.max() + 1]
    scale = 20.0 / max(digit.shape)
    framed = _resized_and_centred(digit, scale)
    if framed.max() <= FAINT_FRAME:  # strokes too thin to survive the shrinking: widen them, then frame again
        framed = _resized_and_centred(_thickened(digit, MIN_FRAMED_STROKE / scale), scale)
    return framed


def _resized_and_centred(digit: np.ndarray, scale: float) -> np.ndarray:
    size = (max(1, round(digit.shape[1] * scale)), max(1, round(digit.shape[0] * scale)))
    resized = np.asarray(Image.fromarray(digit.astype(np.float32)).resize(size, Image.Resampling.LANCZOS),
                         np.float32)
    frame = np.zeros((28, 28), np.float32)
    top, left = (28 - resized.shape[0]) // 2, (28 - resized.shape[1]) // 2
    frame[top:top + resized.shape[0], left:left + resized.shape[1]] = np.clip(resized, 0, 255)
    centre_row, centre_column = ndimage.center_of_mass(frame)
    shifted = ndimage.shift(frame, (14.0 - centre_row, 14.0 - centre_column), order=1, mode="constant")
    return np.clip(shifted, 0, 255).astype(np.float32)


def _thickened(digit: np.ndarray, width: float) -> np.ndarray:
    """Strokes thinner than `width` pixels widened to it, so that shrinking them to 20x20 keeps their ink (a pen
    line 1 pixel wide in a 280-pixel drawing would fade to a tenth of its brightness)."""
    ink = digit > 0.5 * digit.max()
    length = morphology.skeletonize(ink).sum()
    thickness = ink.sum() / max(length, 1)
    if thickness >= width:
        return digit
    return ndimage.grey_dilation(digit, footprint=morphology.disk(int(np.ceil((width - thickness) / 2))))


MAX_PHOTO_PIXELS = 40_000_000  # a 40-megapixel photo frames in about a second; larger ones are refused unread


def load_framed(path: str | Path, framing: str = "digit") -> list[Framed]:
    """The images of a PNG/JPEG (one, framed like MNIST, or fitted whole for `framing="fit"`) or an .npy of
    (28, 28) / (N, 28, 28), each with what its framing saw."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        _check_file(path)
        return [already_framed(image) for image in _load_array(path)]
    return [(fit_frame if framing == "fit" else frame)(load_photo(path))]


def load_photo(path: str | Path) -> np.ndarray:
    """A PNG/JPEG's gray pixels (0-255), as given; a missing, empty or unreadable file is an ImageFileError."""
    path = Path(path)
    _check_file(path)
    try:
        with warnings.catch_warnings():  # the size is checked here, below Pillow's own bomb warning
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(path)  # reads the header only: the size is known before decoding
        with opened as image:
            if image.width * image.height > MAX_PHOTO_PIXELS:
                raise ImageFileError(f"{path}: {image.width}x{image.height} pixels is over the limit of "
                                     f"{MAX_PHOTO_PIXELS:,} pixels for a photo of a digit")
            return grayscale(image)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
        raise ImageFileError(f"{path}: not a readable image ({error})") from None


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise ImageFileError(f"{path}: is a folder; give the image files in it (e.g. {path}/*.png)")
    if not path.is_file():
        raise ImageFileError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise ImageFileError(f"{path}: file is empty")


def grayscale(image: Image.Image) -> np.ndarray:
    """Gray pixels of any image; a transparent image is laid on the background that shows its digit.

    A digit drawn only through transparency (one colour, opaque where the pen went) would vanish in a plain
    conversion to gray: it is laid on black when its colour is light and on white when it is dark.
    """
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        return wide_grayscale(image)
    if "A" not in image.getbands() and "transparency" not in image.info:
        return np.asarray(image.convert("L"), np.float32)
    rgba = image.convert("RGBA")
    alpha = np.asarray(rgba.getchannel("A"), np.float32)
    gray = np.asarray(rgba.convert("L"), np.float32)
    opaque = alpha > 127
    ink = float(gray[opaque].mean()) if opaque.any() else 0.0
    background = Image.new("RGBA", rgba.size, (0, 0, 0, 255) if ink > 127 else (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(background, rgba).convert("L"), np.float32)


def wide_grayscale(image: Image.Image) -> np.ndarray:
    """16- and 32-bit integer or float pixels scaled from their own range to 0-255, where Pillow's conversion to
    gray clips them at 255: 0-65535 for integers, 0-1 for floats (0-255, or up to the brightest pixel, when
    that is exceeded)."""
    pixels = np.nan_to_num(np.asarray(image, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    brightest = float(pixels.max(initial=0.0))
    ranges = (1.0, 255.0) if image.mode == "F" else (65535.0,)
    full_range = next((limit for limit in ranges if brightest <= limit), brightest)
    return np.clip(pixels * (255.0 / full_range), 0.0, 255.0).astype(np.float32)


def _load_array(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise ImageFileError(f"{path}: not a readable .npy array ({error})") from None
    if array.shape == (28, 28):
        array = array[np.newaxis]
    real = np.issubdtype(array.dtype, np.number) and not np.issubdtype(array.dtype, np.complexfloating)
    if array.ndim != 3 or array.shape[1:] != (28, 28) or not real:
        raise ImageFileError(f"{path}: expected a real-valued array of shape (28, 28) or (N, 28, 28), "
                             f"got {array.dtype} {array.shape}")
    if len(array) == 0:
        raise ImageFileError(f"{path}: holds no image (shape {array.shape})")
    return _checked_pixels(array, path)


def _checked_pixels(array: np.ndarray, path: Path) -> np.ndarray:
    """The pixels as float32, checked after the cast: a finite float64 such as 1e39 is infinite in float32."""
    with np.errstate(over="ignore", invalid="ignore"):
        pixels = array.astype(np.float32)
    if not np.isfinite(pixels).all():
        raise ImageFileError(f"{path}: holds NaN or infinite pixels (in float32); expected values in 0-255")
    low, high = float(pixels.min()), float(pixels.max())
    if low < 0 or high > 255:
        raise ImageFileError(f"{path}: holds pixels from {low:g} to {high:g}; expected values in 0-255")
    return pixels
