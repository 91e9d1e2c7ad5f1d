"""Pictures that hold no digit, for testing `predict`'s refusal: blank pages, noise, text and photos of things.

Each is drawn from the given generator, so a seed gives the same set on every machine. Used by
tests/data/test_refusal.py and bench/refusal.py.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from photo_digits import STYLES, paper, photo

KINDS = ("blank", "noise", "text")
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")  # apt: dataset-fashion-mnist
PAPERS = ("white", "off-white", "grey", "gradient", "jpeg-noise")
WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "note",
         "page", "paper", "hello", "world", "shopping", "list", "milk"]


def _jpeg(picture: Image.Image, quality: int = 35) -> Image.Image:
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue()))


def blank_page(rng: np.random.Generator) -> Image.Image:
    """A photo of an empty page: one of the digit photos' papers and lighting, blurred, JPEG-compressed."""
    shape = (int(rng.integers(220, 320)), int(rng.integers(200, 300)))
    background, _ = paper(PAPERS[int(rng.integers(len(PAPERS)))], shape, rng)
    return _jpeg(Image.fromarray(np.clip(ndimage.gaussian_filter(background, 1.0), 0, 255).astype(np.uint8)))


def noise(rng: np.random.Generator) -> Image.Image:
    """Uniform, Gaussian or salt-and-pepper noise, 28 to 320 pixels a side."""
    shape = (int(rng.integers(28, 320)), int(rng.integers(28, 320)))
    kind = int(rng.integers(3))
    pixels = (rng.uniform(0, 255, shape) if kind == 0 else 128 + rng.normal(0, 40, shape) if kind == 1
              else np.where(rng.random(shape) < 0.05, 0.0, 255.0))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def text_page(rng: np.random.Generator) -> Image.Image:
    """One to three lines of one to three words, dark on light, slightly blurred."""
    picture = Image.new("L", (int(rng.integers(200, 400)), int(rng.integers(120, 320))), 245)
    draw, size, top = ImageDraw.Draw(picture), int(rng.integers(14, 40)), 10
    font = ImageFont.load_default(size=size)
    for _ in range(int(rng.integers(1, 4))):
        draw.text((10, top), " ".join(rng.choice(WORDS, int(rng.integers(1, 4)))), fill=30, font=font)
        top += size + 8
    return Image.fromarray(ndimage.gaussian_filter(np.asarray(picture, np.float32), 1.0).astype(np.uint8))


def non_digits(kind: str, count: int, seed: int = 0) -> list[Image.Image]:
    make = {"blank": blank_page, "noise": noise, "text": text_page}[kind]
    rng = np.random.default_rng(seed)
    return [make(rng) for _ in range(count)]


FOOTWEAR = (5, 7, 9)  # Fashion-MNIST's sandal, sneaker and ankle boot


def fashion_images(path: Path = FASHION_MNIST) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST's 10,000 test images (28x28, 0-255) of garments, shoes and bags, and their classes."""
    with gzip.open(path) as images, gzip.open(str(path).replace("images-idx3", "labels-idx1")) as labels:
        return (np.frombuffer(images.read(), np.uint8, offset=16).reshape(-1, 28, 28),
                np.frombuffer(labels.read(), np.uint8, offset=8))


def garment_photos(images: np.ndarray, count: int, seed: int = 0) -> tuple[list[Image.Image], np.ndarray]:
    """Photos of Fashion-MNIST items, taken the way tests/photo_digits.py photographs digits (every style),
    and the indices of the items chosen."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(images), size=count, replace=False)
    return [photo(images[index], STYLES[number % len(STYLES)], rng) for number, index in enumerate(chosen)], chosen
