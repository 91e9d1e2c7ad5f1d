import numpy as np
from sklearn.metrics import recall_score

from mnistflow import diagnostics


def test_per_class_recall_matches_sklearn():
    generator = np.random.default_rng(0)
    labels = generator.integers(0, 10, 500)
    predictions = np.where(generator.random(500) < 0.7, labels, generator.integers(0, 10, 500))
    expected = recall_score(labels, predictions, labels=range(10), average=None)
    np.testing.assert_allclose(diagnostics.per_class_recall(labels, predictions), expected)


def test_a_class_never_predicted_right_is_collapsed():
    labels = np.repeat(np.arange(10), 20)
    predictions = labels.copy()
    predictions[labels == 0] = 6  # every 0 called a 6
    predictions[np.flatnonzero(labels == 1)[:1]] = 7  # one 1 of twenty called a 7: hurt, not collapsed
    recall = diagnostics.per_class_recall(labels, predictions)
    assert recall[1] == 19 / 20
    assert diagnostics.collapsed_classes(recall, 0.05) == [0]
    metrics = diagnostics.class_metrics(recall, 0.05)
    assert metrics["collapsed_classes"] == 1.0 and metrics["min_class_recall"] == 0.0
    assert metrics["val_recall_0"] == 0.0 and metrics["val_recall_5"] == 1.0


def test_saturation_measures():
    probabilities = np.array([[1.0 - 1e-9, 1e-9, 0, 0, 0, 0, 0, 0, 0, 0],   # saturated, true class 1: wrong
                              [0.5, 0.5, 0, 0, 0, 0, 0, 0, 0, 0],            # true class 0
                              [0.0, 1.0, 0, 0, 0, 0, 0, 0, 0, 0]])           # saturated, right
    labels = np.array([1, 0, 1])
    hidden = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0], [0.0, 3.0, 0.0]])
    measured = diagnostics.saturation(probabilities, labels, hidden)
    assert measured["true_class_prob_below_eps"] == 1 / 3
    assert measured["top_prob_above_1_minus_eps"] == 2 / 3  # rows 0 and 2
    assert measured["dead_relu_fraction"] == 1 / 3
