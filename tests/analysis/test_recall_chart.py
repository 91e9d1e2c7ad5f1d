"""The per-epoch recall chart: bar heights proportional to recall, collapsed classes in red."""

import numpy as np

from mnistflow.analysis import recall_chart


def _bar_top(pixels: np.ndarray, label: int) -> int:
    """The top row of the bar of `label`: its centre column, scanned up from the axis while it has a bar colour."""
    slot = (recall_chart.WIDTH - recall_chart.LEFT - recall_chart.RIGHT) / 10
    column = pixels[:, int(recall_chart.LEFT + label * slot + slot * 0.5)].astype(int)
    row = recall_chart.HEIGHT - recall_chart.BOTTOM
    while any(np.abs(column[row - 1] - colour).sum() < 10 for colour in ((60, 110, 180), (200, 40, 40))):
        row -= 1
    return row


def test_bars_are_proportional_and_collapsed_classes_are_red():
    recall = [1.0, 0.5, 0.25, 0.8, 0.9, 0.7, 0.6, 0.02, 0.95, 0.85]
    pixels = np.asarray(recall_chart.render(recall, 0.05, "t"))
    assert pixels.shape == (recall_chart.HEIGHT, recall_chart.WIDTH, 3)
    plot_height = recall_chart.HEIGHT - recall_chart.TOP - recall_chart.BOTTOM
    for label, value in enumerate(recall):
        expected = recall_chart.TOP + plot_height * (1 - value)
        assert abs(_bar_top(pixels, label) - expected) <= 1.5, label
    slot = (recall_chart.WIDTH - recall_chart.LEFT - recall_chart.RIGHT) / 10
    bottom = recall_chart.HEIGHT - recall_chart.BOTTOM - 2
    assert tuple(pixels[bottom, int(recall_chart.LEFT + 7.5 * slot)]) == (200, 40, 40)  # class 7: collapsed
    assert tuple(pixels[bottom, int(recall_chart.LEFT + 0.5 * slot)]) == (60, 110, 180)


def test_without_a_collapse_the_axis_starts_under_the_lowest_recall():
    recall = [0.99, 0.94, 0.97, 0.96, 0.98, 0.95, 0.99, 0.96, 0.93, 0.97]
    assert recall_chart.axis_floor(recall) == 0.9 and recall_chart.axis_floor([0.4, *recall[1:]]) == 0.0
    pixels = np.asarray(recall_chart.render(recall, 0.05, "t"))
    plot_height = recall_chart.HEIGHT - recall_chart.TOP - recall_chart.BOTTOM
    for label, value in enumerate(recall):
        expected = recall_chart.TOP + plot_height * (1 - (value - 0.9) / 0.1)
        assert abs(_bar_top(pixels, label) - expected) <= 1.5, label
    assert _bar_top(pixels, 1) - _bar_top(pixels, 0) > 0.4 * plot_height  # 0.94 and 0.99 look apart


def test_a_bar_that_rounds_to_one_reads_one():
    assert [recall_chart.bar_label(value) for value in (0.997, 0.9951, 0.93, 0.0, 1.0)] == [
        "1.0", "1.0", ".93", ".00", "1.0"]


def test_class_names_are_cut_to_fit_under_their_bars():
    from PIL import ImageDraw, ImageFont

    names = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
    image = recall_chart.render([0.9] * 10, 0.05, "names", names)
    draw, font = ImageDraw.Draw(image), ImageFont.load_default(size=12)
    slot = (recall_chart.WIDTH - recall_chart.LEFT - recall_chart.RIGHT) / 10
    shown = [recall_chart.fitted(name, slot, draw, font) for name in names]
    assert shown[3:5] == ["Dress", "Coat"] and shown[0].endswith(".") and shown[0].startswith("T-sh")
    assert all(draw.textlength(name, font=font) <= slot * 0.9 for name in shown)
    assert image.tobytes() != recall_chart.render([0.9] * 10, 0.05, "names").tobytes()  # names, not numbers
