"""The validation recall of each class as one bar chart per epoch (PIL only: the train stage draws it
without matplotlib). Logged with a step, so MLflow's image slider steps through the epochs."""

from __future__ import annotations

import math
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 420, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 34, 30  # plot margins in pixels


def axis_floor(recall: Sequence[float]) -> float:
    """Where the recall axis starts: 0 when a class is below 0.5 (a collapse shows as it is), else just under
    the lowest recall in steps of 0.05, so that 0.94 and 0.99 look apart."""
    known = [value for value in recall if value == value]  # NaN: a class absent from the split
    lowest = min(known, default=0.0)
    return 0.0 if lowest < 0.5 else math.floor((lowest - 0.01) * 20) / 20


def render(recall: Sequence[float], threshold: float, title: str, classes: Sequence[str] | None = None) -> Image.Image:
    """Bars of recall per class, each with its value (collapsed ones, below `threshold`, in red), on an axis
    from `axis_floor` to 1, with the threshold line (or, when it lies under the axis, its value in a note)."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font, small = ImageFont.load_default(size=12), ImageFont.load_default(size=10)
    draw.text((LEFT, 8), title, fill="black", font=ImageFont.load_default(size=14))
    plot_height, slot = HEIGHT - TOP - BOTTOM, (WIDTH - LEFT - RIGHT) / len(recall)
    floor = axis_floor(recall)

    def y_of(value: float) -> float:
        return TOP + plot_height * (1 - min(max((value - floor) / (1.0 - floor), 0.0), 1.0))

    for tick in (floor, (floor + 1.0) / 2, 1.0):
        draw.line((LEFT - 4, y_of(tick), WIDTH - RIGHT, y_of(tick)), fill=(225, 225, 225))
        draw.text((4, y_of(tick) - 7), f"{tick:.{1 if floor == 0 else 3}f}", fill="black", font=font)
    for label, value in enumerate(recall):
        left = LEFT + label * slot + slot * 0.15
        colour = (200, 40, 40) if value < threshold else (60, 110, 180)
        draw.rectangle((left, y_of(value), left + slot * 0.7, y_of(floor)), fill=colour)
        if classes is None:
            draw.text((left + slot * 0.25, HEIGHT - BOTTOM + 6), str(label), fill="black", font=font)
        else:  # a name, cut to its slot and centred under its bar
            name = fitted(classes[label], slot, draw, font)
            draw.text((left + slot * 0.35 - draw.textlength(name, font=font) / 2, HEIGHT - BOTTOM + 6), name,
                      fill="black", font=font)
        draw.text((left, y_of(value) - 12), bar_label(value), fill="black", font=small)
    if threshold >= floor:
        draw.line((LEFT, y_of(threshold), WIDTH - RIGHT, y_of(threshold)), fill=(200, 40, 40), width=1)
    else:
        note = f"collapse: recall < {threshold:g}"
        draw.text((WIDTH - RIGHT - draw.textlength(note, font=small), 12), note, fill=(200, 40, 40), font=small)
    return image


def fitted(name: str, width: float, draw: ImageDraw.ImageDraw, font) -> str:
    """A class name cut to fit under its bar (with a trailing '.' when cut)."""
    while len(name) > 1 and draw.textlength(name, font=font) > width * 0.9:
        name = name[:-2] + "."
    return name


def bar_label(recall: float) -> str:
    """A bar's recall in two decimals without the leading zero (.93); one that rounds to 1 reads 1.0."""
    rounded = f"{recall:.2f}"
    return "1.0" if float(rounded) >= 1 else rounded.removeprefix("0")
