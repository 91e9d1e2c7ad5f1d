"""The classifier's own out-of-distribution score for datasets without a fitted detector: its best class
probability, against a threshold fitted on its validation images (the maximum-softmax-probability baseline,
Hendrycks & Gimpel 2017). Pure NumPy: the train stage fits it, `predict` applies it."""

from __future__ import annotations

import numpy as np

REFUSED_SHARE = 0.01  # the share of the dataset's own validation images under the threshold


def threshold(probabilities: np.ndarray, share: float = REFUSED_SHARE) -> float:
    """The best-class probability under which `share` of these (validation) images fall."""
    return float(np.quantile(probabilities.max(axis=1), share))


def unfamiliar_reason(probabilities: np.ndarray, fitted: float, share: float, dataset: str,
                      blank: bool = False) -> str | None:
    """Why a picture does not look like one of `dataset`'s images, or None when it may; a `blank` one (its
    framing found nothing on the background) never does."""
    if blank:
        return "nothing found: the picture is blank"
    best = float(probabilities.max())
    if best >= fitted:
        return None
    return (f"not like a {dataset} image: the model's best class probability {best:.3f} is under {fitted:.3f}, "
            f"which {share:.0%} of its validation images fall under")
