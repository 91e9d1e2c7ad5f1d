"""Image galleries as one PNG each: 28x28 tiles upscaled pixel-exactly, each with a legible caption."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mnistflow.core import atomic

ZOOM = 4
TILE = 28 * ZOOM
CAPTION_HEIGHT = 34
MARGIN = 6
HEADER_HEIGHT = 30  # one heading line; each further line (the heading may hold "\n") adds HEADER_LINE
HEADER_LINE = 20
CAPTION_LINE = 13  # a caption of more than two lines (long class names) adds this per line


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _tile(image: np.ndarray) -> Image.Image:
    """Dark digit on white, scaled by ZOOM with nearest-neighbour so every pixel stays a sharp square."""
    pixels = image.reshape(28, 28).astype(np.float64)
    peak = pixels.max() or 1.0
    gray = (255 - np.clip(pixels / peak, 0, 1) * 255).astype(np.uint8)
    return Image.fromarray(gray, mode="L").resize((TILE, TILE), Image.Resampling.NEAREST)


def render(images: np.ndarray, captions: Sequence[str], heading: str, columns: int = 10) -> Image.Image:
    count = len(images)
    columns = max(1, min(columns, count))
    rows = max(1, math.ceil(count / columns))
    lines = max((caption.count("\n") + 1 for caption in captions), default=2)
    cell_width, cell_height = TILE + MARGIN, TILE + CAPTION_HEIGHT + max(0, lines - 2) * CAPTION_LINE + MARGIN
    width = max(columns * cell_width + MARGIN, 640)
    header = HEADER_HEIGHT + HEADER_LINE * heading.count("\n")
    canvas = Image.new("L", (width, header + rows * cell_height + MARGIN), 255)
    draw = ImageDraw.Draw(canvas)
    draw.multiline_text((MARGIN, 6), heading, fill=0, font=_font(16), spacing=4)
    if count == 0:
        draw.text((MARGIN, header + 10), "(none)", fill=0, font=_font(14))
    caption_font = _caption_font(captions, draw)
    for position, (image, caption) in enumerate(zip(images, captions, strict=True)):
        left = MARGIN + (position % columns) * cell_width
        top = header + (position // columns) * cell_height
        caption = "\n".join(_fitted(line, draw, caption_font) for line in caption.split("\n"))
        canvas.paste(_tile(image), (left, top))
        draw.rectangle((left, top, left + TILE - 1, top + TILE - 1), outline=160)
        draw.multiline_text((left + 2, top + TILE + 2), caption, fill=0, font=caption_font, spacing=2)
    return canvas


def _caption_font(captions: Sequence[str], draw: ImageDraw.ImageDraw):
    """12 px, or 10 px when a caption line (a long class name) would overflow its tile at 12."""
    font = _font(12)
    lines = [line for caption in captions for line in caption.split("\n")]
    return font if all(draw.textlength(line, font=font) <= TILE + MARGIN - 2 for line in lines) else _font(10)


def _fitted(line: str, draw: ImageDraw.ImageDraw, font) -> str:
    while len(line) > 1 and draw.textlength(line, font=font) > TILE + MARGIN - 2:
        line = line[:-2] + "…"
    return line


def save(image: Image.Image, path: str | Path) -> None:
    with atomic.atomic_path(path) as temporary:
        image.save(temporary, format="PNG")
