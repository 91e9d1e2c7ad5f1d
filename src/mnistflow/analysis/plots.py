"""Figures: confusion matrix, training curves, per-class recall over epochs, and image galleries."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from mnistflow.core import atomic  # noqa: E402
from mnistflow.data.catalog import DIGIT_CLASSES as DIGITS  # noqa: E402
from mnistflow.data.catalog import listed  # noqa: E402


def class_colour(label: int, count: int):
    """Ten classes in tab10's colours; more in tab20's."""
    return matplotlib.colormaps["tab10" if count <= 10 else "tab20"](label % 20)


def _class_ticks(axes, classes: Sequence[str], which: str = "xy") -> None:
    """Class names at the ticks; names longer than a digit or two are turned to fit."""
    turned = max(map(len, classes)) > 2
    if "x" in which:
        axes.set_xticks(range(len(classes)), classes, rotation=45 if turned else 0,
                        ha="right" if turned else "center")
    if "y" in which:
        axes.set_yticks(range(len(classes)), classes)


def save(figure: Figure, path: str | Path) -> None:
    with atomic.atomic_path(path) as temporary:
        figure.savefig(temporary, format="png", dpi=100)
    plt.close(figure)


def confusion_figure(matrix: np.ndarray, classes: Sequence[str] = DIGITS) -> Figure:
    figure, axes = plt.subplots(figsize=(7, 6) if len(classes) <= 10 else (11, 10))
    image = axes.imshow(np.log1p(matrix), cmap="Blues")
    for (actual, predicted), count in np.ndenumerate(matrix):
        colour = "white" if matrix[actual, predicted] > matrix.max() / 2 else "black"
        axes.text(predicted, actual, str(count), ha="center", va="center", fontsize=8, color=colour)
    _class_ticks(axes, classes)
    axes.set(xlabel="predicted", ylabel="actual", title=f"Confusion matrix (test, {matrix.sum()} images)")
    figure.colorbar(image, ax=axes, label="log(1 + count)")
    figure.tight_layout()
    return figure


def curves_figure(history: Sequence[dict[str, float]]) -> Figure:
    epochs = [row["epoch"] for row in history]
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(11, 4))
    for axes, metric in ((loss_axes, "loss"), (accuracy_axes, "accuracy")):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.plot(epochs, [row[metric] for row in history], marker="o", label=f"train {metric}")
        axes.plot(epochs, [row[f"val_{metric}"] for row in history], marker="o", label=f"validation {metric}")
        axes.set(xlabel="epoch", ylabel=metric, title=metric.capitalize())
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    return figure


def class_recall_figure(history: Sequence[dict[str, float]], threshold: float,
                        classes: Sequence[str] = DIGITS) -> Figure:
    """One line per class: a collapsed class lies on the floor, and the title names it."""
    epochs = [int(row["epoch"]) for row in history]
    figure, axes = plt.subplots(figsize=(10, 5))
    for label, name in enumerate(classes):
        recall = [row[f"val_recall_{label}"] for row in history]
        axes.plot(epochs, recall, marker="o", markersize=3, color=class_colour(label, len(classes)),
                  label=f"class {name}")
    axes.axhspan(0, threshold, color="red", alpha=0.12, label=f"collapsed\n(recall < {threshold})")
    dead = [name for label, name in enumerate(classes) if history[-1][f"val_recall_{label}"] < threshold]
    ending = f"collapsed at the end: classes {listed(dead)}" if dead else "no class collapsed at the end"
    axes.set(xlabel="epoch", ylabel="validation recall", ylim=(-0.03, 1.03),
             title=f"Validation recall per class — {ending}")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)
    axes.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    figure.tight_layout()
    return figure


def digit_probabilities_figure(image: np.ndarray, label: int, probabilities: np.ndarray, title: str,
                               classes: Sequence[str] = DIGITS) -> Figure:
    """The image, enlarged pixel-exactly, beside a bar chart of the model's class probabilities."""
    figure, (image_axes, bar_axes) = plt.subplots(1, 2, figsize=(9, 4), gridspec_kw={"width_ratios": [1, 1.4]})
    image_axes.imshow(image.reshape(28, 28), cmap="gray", interpolation="nearest")
    image_axes.set_title(f"label {classes[label]}")
    image_axes.axis("off")
    predicted = int(np.argmax(probabilities))
    _probability_bars(bar_axes, probabilities, ["tab:green" if k == label else "tab:red" if k == predicted
                                                else "tab:gray" for k in range(len(classes))], classes)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def framing_figure(photo: np.ndarray, framed: np.ndarray, probabilities: np.ndarray, title: str,
                   no_digit: str | None = None, classes: Sequence[str] = DIGITS) -> Figure:
    """What `predict` saw: the input as given, the MNIST-framed 28x28 the model read, and its probabilities;
    a refused picture (`no_digit` gives why) has gray bars under the title "no digit"."""
    figure, (photo_axes, frame_axes, bar_axes) = plt.subplots(
        1, 3, figsize=(11, 3.8), gridspec_kw={"width_ratios": [1, 1, 1.4]})
    photo_axes.imshow(photo, cmap="gray", vmin=0, vmax=255)
    photo_axes.set_title("input")
    frame_axes.imshow(framed, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    frame_axes.set_title("framed 28x28 (what the model read)")
    for axes in (photo_axes, frame_axes):
        axes.axis("off")
    predicted = int(np.argmax(probabilities))
    colours = ["tab:blue" if k == predicted and no_digit is None else "tab:gray" for k in range(len(classes))]
    _probability_bars(bar_axes, probabilities, colours, classes)
    if no_digit is not None:  # for a dataset other than digits: refused as unlike its images
        refused = "no digit" if tuple(classes) == DIGITS else "refused"
        bar_axes.set_title(f"{refused} (the model alone would say {classes[predicted]}, "
                           f"p={probabilities[predicted]:.3f})")
        title = f"{title}\n{refused}: {no_digit}"
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def _probability_bars(axes, probabilities: np.ndarray, colours: list[str], classes: Sequence[str]) -> None:
    """The class probabilities as labelled bars, titled with the prediction."""
    predicted = int(np.argmax(probabilities))
    bars = axes.bar(range(len(classes)), probabilities, color=colours)
    axes.bar_label(bars, labels=[f"{p:.2f}" if p >= 0.005 else "" for p in probabilities], fontsize=8)
    _class_ticks(axes, classes, "x")
    axes.set(ylim=(0, 1.1), xlabel="class", ylabel="probability",
             title=f"predicted {classes[predicted]} (p={probabilities[predicted]:.3f})")


def study_figure(results) -> Figure:
    """Test accuracy per configuration, one dot per seed; runs that ended with a collapsed class in red."""
    configurations = sorted(results["configuration"].unique())
    figure, axes = plt.subplots(figsize=(11, 0.45 * len(configurations) + 1.8))
    for row, configuration in enumerate(configurations):
        runs = results[(results["configuration"] == configuration) & (results["status"] == "FINISHED")]
        collapsed = runs["final_collapsed_classes"] > 0
        axes.scatter(runs["test_accuracy"][~collapsed], [row] * int((~collapsed).sum()), color="tab:blue", zorder=3)
        axes.scatter(runs["test_accuracy"][collapsed], [row] * int(collapsed.sum()), color="tab:red", marker="x",
                     s=60, zorder=3)
    axes.scatter([], [], color="tab:blue", label="no collapsed class at the end")
    axes.scatter([], [], color="tab:red", marker="x", label="ended with a collapsed class")
    axes.set_yticks(range(len(configurations)), configurations, fontsize=7)
    axes.set(xlabel="test accuracy", title="Study: test accuracy per configuration (one mark per seed)")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left", fontsize=8)
    figure.tight_layout()
    return figure
