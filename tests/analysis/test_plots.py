"""Figures: a collapsed class is named in the recall figure's title, study marks split by collapse."""

import pandas as pd

from mnistflow.analysis import plots


def _history(dead: set[int]) -> list[dict[str, float]]:
    return [{"epoch": epoch, "loss": 1.0 / epoch, "accuracy": 0.9, "val_loss": 1.0, "val_accuracy": 0.9,
             **{f"val_recall_{label}": 0.0 if label in dead else 0.95 for label in range(10)}}
            for epoch in (1, 2, 3)]


def test_class_recall_figure_names_the_dead_classes(tmp_path):
    figure = plots.class_recall_figure(_history({3, 9}), 0.05)
    assert figure.axes[0].get_title() == "Validation recall per class — collapsed at the end: classes [3, 9]"
    assert len(figure.axes[0].get_lines()) == 10
    healthy = plots.class_recall_figure(_history(set()), 0.05)
    assert healthy.axes[0].get_title().endswith("no class collapsed at the end")
    plots.save(figure, tmp_path / "recall.png")
    assert (tmp_path / "recall.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figures_name_the_classes_of_any_dataset():
    import numpy as np

    names = ("Coat", "Shirt", "Bag")
    history = [{**row, **{f"val_recall_{label}": 0.0 if label == 1 else 0.9 for label in range(3)}}
               for row in _history(set())]
    recall = plots.class_recall_figure(history, 0.05, names).axes[0]
    assert recall.get_title().endswith("collapsed at the end: classes [Shirt]")
    assert [line.get_label() for line in recall.get_lines()] == ["class Coat", "class Shirt", "class Bag"]
    confusion = plots.confusion_figure(np.array([[5, 1, 0], [2, 0, 1], [0, 0, 7]]), names).axes[0]
    assert [label.get_text() for label in confusion.get_xticklabels()] == list(names)
    assert [label.get_text() for label in confusion.get_yticklabels()] == list(names)
    framing = plots.framing_figure(np.zeros((40, 40)), np.zeros((28, 28)), np.array([0.1, 0.7, 0.2]), "x.png",
                                   classes=names)
    assert framing.axes[2].get_title() == "predicted Shirt (p=0.700)"


def test_study_figure_marks_collapsed_runs_apart():
    results = pd.DataFrame({"configuration": ["a", "a", "b"], "status": ["FINISHED"] * 3,
                            "test_accuracy": [0.6, 0.97, 0.98], "final_collapsed_classes": [2, 0, 0]})
    axes = plots.study_figure(results).axes[0]
    # Per configuration, one blue collection (healthy runs) and one red (ended collapsed); then the legend's.
    marks = [sorted(collection.get_offsets()[:, 0].tolist()) for collection in axes.collections[:4]]
    assert marks == [[0.97], [0.6], [0.98], []]
    assert [tick.get_text() for tick in axes.get_yticklabels()] == ["a", "b"]


def test_confusion_and_curves_render():
    import numpy as np

    matrix = np.diag(np.arange(10) + 5)
    assert plots.confusion_figure(matrix).axes[0].get_title() == f"Confusion matrix (test, {matrix.sum()} images)"
    assert [axes.get_title() for axes in plots.curves_figure(_history(set())).axes] == ["Loss", "Accuracy"]


def test_framing_figure_shows_the_input_the_frame_and_the_prediction(tmp_path):
    import numpy as np

    probabilities = np.full(10, 0.02)
    probabilities[3] = 0.82
    figure = plots.framing_figure(np.full((60, 40), 200.0), np.zeros((28, 28)), probabilities, "photo.jpg")
    image_axes, frame_axes, bar_axes = figure.axes
    assert image_axes.images[0].get_array().shape == (60, 40) and frame_axes.images[0].get_array().shape == (28, 28)
    assert bar_axes.get_title() == "predicted 3 (p=0.820)" and len(bar_axes.patches) == 10
    plots.save(figure, tmp_path / "framing.png")
    assert (tmp_path / "framing.png").stat().st_size > 1000


def test_a_refused_picture_is_titled_no_digit_with_its_reason_not_predicted():
    import numpy as np

    probabilities = np.full(10, 0.01)
    probabilities[4] = 0.91
    figure = plots.framing_figure(np.full((60, 200), 200.0), np.zeros((28, 28)), probabilities, "hello.png",
                                  no_digit="the ink is in 10 separate pieces, like the letters of a word")
    bar_axes = figure.axes[2]
    assert bar_axes.get_title() == "no digit (the model alone would say 4, p=0.910)"
    assert figure.get_suptitle() == "hello.png\nno digit: the ink is in 10 separate pieces, like the letters of a word"
    assert {bar.get_facecolor() for bar in bar_axes.patches} == {bar_axes.patches[0].get_facecolor()}  # all gray
