"""Which images the model got wrong, and which labels are probably wrong (pure functions over probabilities).

Suspected label errors come from cleanlab's confident learning on the best probabilities available
(cross-validated ones after the crossval stage): ``get_label_quality_scores(method=RANKING)`` ranks every
image, lowest first, and ``find_label_issues(filter_by=FILTER)`` flags the ones it counts as issues. Both
choices were measured with planted label flips (bench/label_errors.py, README "Finding wrong labels").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores

RANKING = "self_confidence"
FILTER = "both"  # prune_by_noise_rate and prune_by_class agree
MISTAKE_COLUMNS = ("index", "label", "prediction", "p_prediction", "p_label", "second_best")


def mistakes_table(probabilities: np.ndarray, labels: np.ndarray, indices: np.ndarray) -> pd.DataFrame:
    """Every misclassified image, most confident mistake first."""
    rows = np.arange(len(labels))
    ranked = np.argsort(-probabilities, axis=1, kind="stable")
    predictions = ranked[:, 0]
    wrong = predictions != labels
    # The best class other than the prediction: for a mistake that is often the given label.
    table = pd.DataFrame({
        "index": indices[wrong],
        "label": labels[wrong].astype(int),
        "prediction": predictions[wrong],
        "p_prediction": probabilities[rows, predictions][wrong],
        "p_label": probabilities[rows, labels][wrong],
        "second_best": ranked[wrong, 1],
    }, columns=list(MISTAKE_COLUMNS))
    return table.sort_values(["p_prediction", "index"], ascending=[False, True], ignore_index=True)


CLASS_COLUMNS = ("label", "prediction", "second_best", "suggested")


def with_class_names(table: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """The table with a `<column>_name` beside each class column, where the classes have names other than their
    numbers (a digit dataset's table stays as it is)."""
    if list(classes) == [str(label) for label in range(len(classes))]:
        return table
    names = np.asarray(classes, dtype=object)
    named = table.copy()
    for column in CLASS_COLUMNS:
        if column in named:
            named.insert(named.columns.get_loc(column) + 1, f"{column}_name", names[named[column].astype(int)])
    return named


def mistakes_of_class(table: pd.DataFrame, label: int) -> pd.DataFrame:
    """The mistakes on images of one true class, sorted by the wrong label's probability."""
    return table[table["label"] == label].reset_index(drop=True)


def label_issues_table(probabilities: np.ndarray, labels: np.ndarray, indices: np.ndarray, top_k: int,
                       ranking: str = RANKING, filter_by: str = FILTER) -> pd.DataFrame:
    """The `top_k` images with the lowest label quality, with cleanlab's flag and quality score."""
    labels = labels.astype(int)
    quality = get_label_quality_scores(labels, probabilities, method=ranking)
    flagged = np.zeros(len(labels), dtype=bool)
    flagged[find_label_issues(labels, probabilities, filter_by=filter_by, n_jobs=1)] = True
    order = np.argsort(quality, kind="stable")[:top_k]
    return pd.DataFrame({
        "index": indices[order],
        "label": labels[order],
        "suggested": np.argmax(probabilities[order], axis=1),
        "label_quality": quality[order],
        "p_suggested": probabilities[order].max(axis=1),
        "flagged": flagged[order],
    })


def tile_title(index: int, label: int, prediction: int, probability: float, flagged: bool = False,
               classes: Sequence[str] | None = None) -> str:
    """A gallery tile's caption with class names (numbers print as integers whatever their dtype); `*` marks a
    cleanlab flag."""
    flag = " *" if flagged else ""
    if classes is None or list(classes) == [str(number) for number in range(len(classes))]:
        return f"#{int(index)} y={int(label)}{flag}\npred {int(prediction)} p={float(probability):.2f}"
    return f"#{int(index)}{flag} p={float(probability):.2f}\ny={classes[int(label)]}\npred {classes[int(prediction)]}"
