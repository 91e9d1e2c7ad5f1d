"""Everyday pictures that hold no digit, drawn from a seed: letters, symbols, shapes, hearts, a horse, crops of
photos. Each kind comes in two halves that share nothing: what bench/digit_detector.py fits the no-digit
detector on (FITTED), and what bench/refusal.py measures it on (UNSEEN: other fonts, other shapes, other
photos). Strokes are drawn light on dark at 28x28, as MNIST stores a digit, and photographed by
tests/photo_digits.py; crops of photos are photos already.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from photo_digits import STYLES, photo

FONTS = Path("/usr/share/fonts/truetype")
LOOK_LIKE_DIGITS = set("OoQDIlijJLZzSsBbgqGTt")  # 0, 1, 2, 5, 8, 6, 9, 7: never asked to be refused
LETTERS = [letter for letter in string.ascii_letters if letter not in LOOK_LIKE_DIGITS]
SYMBOLS = list("&@#%?$*+=<>~^")  # no [ ] { } ! or /: a 1 in a picture
DRAWN = 112  # strokes are drawn at this size, then reduced to 28x28


FITTED_FONTS, UNSEEN_FONTS = FONTS / "dejavu", FONTS / "liberation"  # Debian: fonts-dejavu, fonts-liberation


def fonts(folder: Path) -> list[Path]:
    """The TrueType files of a family installed here."""
    found = sorted(folder.glob("*.ttf"))
    if not found:
        raise FileNotFoundError(f"no fonts in {folder}")
    return found


def _reduced(canvas: Image.Image, rng: np.random.Generator) -> np.ndarray:
    """A 112x112 light-on-dark drawing, turned a little, reduced to 28x28 in 0-255."""
    turned = canvas.rotate(float(rng.uniform(-20, 20)), resample=Image.Resampling.BILINEAR)
    return np.asarray(turned.resize((28, 28), Image.Resampling.LANCZOS), np.float32).clip(0, 255)


def glyph(characters: list[str], folder: Path) -> Callable[[np.random.Generator], np.ndarray]:
    """A character in one of the folder's fonts, its strokes widened at random."""
    def draw(rng: np.random.Generator) -> np.ndarray:
        font_files = fonts(folder)
        canvas = Image.new("L", (DRAWN, DRAWN), 0)
        font = ImageFont.truetype(str(font_files[int(rng.integers(len(font_files)))]), int(rng.integers(60, 96)))
        character = characters[int(rng.integers(len(characters)))]
        ImageDraw.Draw(canvas).text((DRAWN / 2, DRAWN / 2), character, fill=255, font=font, anchor="mm",
                                    stroke_width=int(rng.integers(0, 4)), stroke_fill=255)
        return _reduced(canvas, rng)
    return draw


def _outline_or_filled(draw_shape: Callable[[ImageDraw.ImageDraw, dict], None],
                       rng: np.random.Generator) -> np.ndarray:
    canvas = Image.new("L", (DRAWN, DRAWN), 0)
    style = {"fill": 255} if rng.random() < 0.3 else {"outline": 255, "width": int(rng.integers(4, 12))}
    draw_shape(ImageDraw.Draw(canvas), style)
    return _reduced(canvas, rng)


def _polygon_points(rng: np.random.Generator, corners: int, inner: float) -> list[tuple[float, float]]:
    """A star when inner < 1 (every other corner pulled in), a polygon when inner == 1."""
    angles = np.linspace(0, 2 * np.pi, 2 * corners, endpoint=False) + rng.uniform(0, np.pi)
    radii = np.where(np.arange(2 * corners) % 2 == 0, 1.0, inner) * rng.uniform(35, 52)
    stretch = rng.uniform(0.6, 1.0)
    return [(DRAWN / 2 + radius * np.cos(angle), DRAWN / 2 + stretch * radius * np.sin(angle))
            for radius, angle in zip(radii, angles, strict=True)]


def _blob_points(rng: np.random.Generator) -> list[tuple[float, float]]:
    """A smooth closed curve: a circle whose radius wanders by a few random waves."""
    angles = np.linspace(0, 2 * np.pi, 120, endpoint=False)
    waves = sum(rng.uniform(0, 0.25) * np.cos(k * angles + rng.uniform(0, 2 * np.pi)) for k in range(2, 6))
    radii = rng.uniform(30, 48) * (1 + waves)
    return [(DRAWN / 2 + radius * np.cos(angle), DRAWN / 2 + radius * np.sin(angle))
            for radius, angle in zip(radii, angles, strict=True)]


def blob(rng: np.random.Generator) -> np.ndarray:
    """A smooth closed curve, outlined or filled."""
    points = _blob_points(rng)
    return _outline_or_filled(lambda draw, style: draw.polygon(points, **style), rng)


def shape(rng: np.random.Generator) -> np.ndarray:
    """A polygon, star, ellipse or rectangle, outlined or filled."""
    kind = int(rng.integers(4))
    if kind == 0:
        points = _polygon_points(rng, int(rng.integers(3, 8)), 1.0)
        return _outline_or_filled(lambda draw, style: draw.polygon(points, **style), rng)
    if kind == 1:
        points = _polygon_points(rng, int(rng.integers(4, 9)), float(rng.uniform(0.35, 0.6)))
        return _outline_or_filled(lambda draw, style: draw.polygon(points, **style), rng)
    left, top = rng.uniform(8, 40, 2)
    box = (left, top, DRAWN - rng.uniform(8, 40), DRAWN - rng.uniform(8, 40))
    if kind == 2:
        return _outline_or_filled(lambda draw, style: draw.ellipse(box, **style), rng)
    return _outline_or_filled(lambda draw, style: draw.rectangle(box, **style), rng)


def heart(rng: np.random.Generator) -> np.ndarray:
    """A heart, outlined or filled (never among the fitted shapes)."""
    t = np.linspace(0, 2 * np.pi, 200)
    scale = rng.uniform(2.2, 3.2)
    x, y = 16 * np.sin(t) ** 3, 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
    points = list(zip(DRAWN / 2 + scale * x, DRAWN / 2 - scale * y, strict=True))
    return _outline_or_filled(lambda draw, style: draw.polygon(points, **style), rng)


def horse(rng: np.random.Generator) -> np.ndarray:
    """scikit-image's horse, as a silhouette or its outline, maybe mirrored."""
    from scipy import ndimage
    from skimage import data

    body = ~data.horse()
    if rng.random() < 0.5:
        body = body ^ ndimage.binary_erosion(body, iterations=int(rng.integers(6, 16)))
    if rng.random() < 0.5:
        body = body[:, ::-1]
    rows, columns = np.nonzero(body)
    side = max(np.ptp(rows), np.ptp(columns)) + 40
    canvas = np.zeros((side, side), np.uint8)
    top, left = (side - np.ptp(rows)) // 2, (side - np.ptp(columns)) // 2
    canvas[top:top + np.ptp(rows) + 1, left:left + np.ptp(columns) + 1] = 255 * body[
        rows.min():rows.max() + 1, columns.min():columns.max() + 1]
    return _reduced(Image.fromarray(canvas).resize((DRAWN, DRAWN)), rng)


def photographed(draw: Callable[[np.random.Generator], np.ndarray]) -> Callable[[np.random.Generator], Image.Image]:
    """Drawn strokes photographed on paper in one of the digit photos' styles."""
    return lambda rng: photo(draw(rng), STYLES[int(rng.integers(len(STYLES)))], rng)


def crop_of(names: tuple[str, ...]) -> Callable[[np.random.Generator], Image.Image]:
    """A square crop of one of scikit-image's sample photos, 40 to 300 pixels a side, in gray."""
    def draw(rng: np.random.Generator) -> Image.Image:
        from skimage import data

        picture = np.asarray(getattr(data, names[int(rng.integers(len(names)))])())
        if picture.dtype != np.uint8:  # a mask or a float image in 0-1
            picture = picture.astype(np.float32) * 255
        gray = Image.fromarray(picture.astype(np.uint8)).convert("L")
        side = int(rng.integers(40, min(300, *gray.size)))
        left, top = int(rng.integers(0, gray.size[0] - side + 1)), int(rng.integers(0, gray.size[1] - side + 1))
        return gray.crop((left, top, left + side, top + side)).resize((int(rng.integers(120, 320)),) * 2)
    return draw


FITTED_PHOTOS = ("camera", "coffee", "chelsea", "coins", "moon", "brick", "grass", "gravel", "clock", "cell",
                 "hubble_deep_field", "immunohistochemistry", "retina", "colorwheel", "page", "text")
UNSEEN_PHOTOS = ("astronaut", "rocket", "logo", "shepp_logan_phantom")


def fitted_kinds() -> dict[str, Callable[[np.random.Generator], Image.Image]]:
    return {"letters (DejaVu)": photographed(glyph(LETTERS, FITTED_FONTS)),
            "symbols (DejaVu)": photographed(glyph(SYMBOLS, FITTED_FONTS)),
            "shapes": photographed(shape), "blobs": photographed(blob), "photo crops": crop_of(FITTED_PHOTOS)}


def unseen_kinds() -> dict[str, Callable[[np.random.Generator], Image.Image]]:
    return {"letters in unseen fonts": photographed(glyph(LETTERS, UNSEEN_FONTS)),
            "symbols in unseen fonts": photographed(glyph(SYMBOLS, UNSEEN_FONTS)),
            "hearts": photographed(heart), "horse": photographed(horse),
            "crops of unseen photos": crop_of(UNSEEN_PHOTOS)}


def pictures(draw: Callable[[np.random.Generator], Image.Image], count: int, seed: int) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [draw(rng) for _ in range(count)]
