import numpy as np
from sklearn.metrics import recall_score

from mnistflow.analysis import diagnostics


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
    measured = diagnostics.saturation(probabilities, labels, [hidden])
    assert measured["true_class_prob_below_eps"] == 1 / 3
    assert measured["top_prob_above_1_minus_eps"] == 2 / 3  # rows 0 and 2
    assert measured["dead_relu_fraction"] == 1 / 3


def test_dead_units_are_counted_over_every_hidden_layer_and_a_channel_is_a_convolution_unit():
    labels, probabilities = np.array([0, 1]), np.eye(10)[[0, 1]]
    convolution = np.zeros((2, 4, 4, 3))  # 2 samples, 4x4 positions, 3 channels
    convolution[1, 3, 2, 0] = 0.5  # channel 0 fires once; channel 1 only below zero; channel 2 never
    convolution[:, :, :, 1] = -1.0
    dense = np.array([[1.0, 0.0], [2.0, 0.0]])  # unit 1 dead
    measured = diagnostics.saturation(probabilities, labels, [convolution, dense])
    assert measured["dead_relu_fraction"] == 3 / 5  # channels 1 and 2, dense unit 1
