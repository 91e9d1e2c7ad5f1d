"""The validation recall of each class as one bar chart per epoch (PIL only: the train stage draws it
without matplotlib). Logged with a step, so MLflow's image slider steps through the epochs."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 420, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 34, 30  # plot margins in pixels


def render(recall: Sequence[float], threshold: float, title: str) -> Image.Image:
    """Bars of recall 0-1 per class (collapsed ones, below `threshold`, in red) with the threshold line."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=12)
    draw.text((LEFT, 8), title, fill="black", font=ImageFont.load_default(size=14))
    plot_height, slot = HEIGHT - TOP - BOTTOM, (WIDTH - LEFT - RIGHT) / len(recall)

    def y_of(value: float) -> float:
        return TOP + plot_height * (1 - min(max(value, 0.0), 1.0))

    for tick in (0.0, 0.5, 1.0):
        draw.line((LEFT - 4, y_of(tick), WIDTH - RIGHT, y_of(tick)), fill=(225, 225, 225))
        draw.text((6, y_of(tick) - 7), f"{tick:.1f}", fill="black", font=font)
    for label, value in enumerate(recall):
        left = LEFT + label * slot + slot * 0.15
        colour = (200, 40, 40) if value < threshold else (60, 110, 180)
        draw.rectangle((left, y_of(value), left + slot * 0.7, y_of(0.0)), fill=colour)
        draw.text((left + slot * 0.25, HEIGHT - BOTTOM + 6), str(label), fill="black", font=font)
    draw.line((LEFT, y_of(threshold), WIDTH - RIGHT, y_of(threshold)), fill=(200, 40, 40), width=1)
    return image
