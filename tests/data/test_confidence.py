"""The classifier's own out-of-distribution check: a threshold on the best class probability, fitted so that a
set share of validation images falls under it (checked against NumPy's quantile as the oracle)."""

import numpy as np

from mnistflow.data import confidence


def test_the_threshold_leaves_the_share_of_validation_images_under_it():
    probabilities = np.random.default_rng(0).dirichlet(np.ones(10) * 0.3, size=5000)
    fitted = confidence.threshold(probabilities, 0.01)
    assert fitted == np.quantile(probabilities.max(axis=1), 0.01)
    assert np.mean(probabilities.max(axis=1) < fitted) == 0.01


def test_a_picture_under_the_threshold_is_named_unlike_the_dataset():
    assert confidence.unfamiliar_reason(np.array([0.1, 0.9]), 0.6, 0.01, "shapes") is None
    assert confidence.unfamiliar_reason(np.array([0.45, 0.55]), 0.6, 0.01, "shapes") == (
        "not like a shapes image: the model's best class probability 0.550 is under 0.600, which 1% of its "
        "validation images fall under")


def test_a_blank_picture_is_refused_however_sure_the_model_is():
    assert confidence.unfamiliar_reason(np.array([0.0, 1.0]), 0.6, 0.01, "shapes", blank=True) == (
        "nothing found: the picture is blank")
