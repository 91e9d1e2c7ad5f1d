import numpy as np
import pytest
import tensorflow as tf

from mnistflow.analysis import error_analysis
from mnistflow.models.architectures import make_loss
from mnistflow.training.loop import make_evaluate_function, one_hot


@pytest.fixture(scope="module")
def test_probabilities(small_model, small_splits):
    model, _, _ = small_model
    test = small_splits["test"]
    _, probabilities, _ = make_evaluate_function(model, make_loss("crossentropy"))(
        tf.constant(test.images), one_hot(test.labels))
    return probabilities.numpy(), test


def test_mistakes_table_holds_exactly_the_misclassified_images(test_probabilities):
    probabilities, test = test_probabilities
    table = error_analysis.mistakes_table(probabilities, test.labels, test.indices)
    wrong = np.flatnonzero(probabilities.argmax(axis=1) != test.labels)
    assert 0 < len(table) < 2000
    assert sorted(table["index"]) == test.indices[wrong].tolist()
    assert list(table.columns) == list(error_analysis.MISTAKE_COLUMNS)
    row = table.iloc[0]
    index, label = int(row["index"]), int(row["label"])
    assert label == test.labels[index] and row["prediction"] != label
    assert row["p_prediction"] == pytest.approx(probabilities[index].max())
    assert row["p_label"] == pytest.approx(probabilities[index, label])
    assert row["second_best"] == np.argsort(-probabilities[index])[1]
    assert table["p_prediction"].is_monotonic_decreasing
    of_three = error_analysis.mistakes_of_class(table, 3)
    assert set(of_three["label"]) == {3} and len(of_three) == int(np.sum(test.labels[wrong] == 3))


def test_flipped_labels_of_confident_images_rank_at_the_top(test_probabilities):
    probabilities, test = test_probabilities
    labels = test.labels.astype(int).copy()
    confident = np.flatnonzero((probabilities.argmax(axis=1) == labels) & (probabilities.max(axis=1) > 0.99))
    flipped = np.random.default_rng(0).choice(confident, 5, replace=False)
    labels[flipped] = (labels[flipped] + 1) % 10
    table = error_analysis.label_issues_table(probabilities, labels, test.indices, top_k=10)
    assert set(test.indices[flipped]) <= set(table["index"])
    found = table[table["index"].isin(test.indices[flipped])]
    assert found["flagged"].all()
    suggested = dict(zip(found["index"], found["suggested"], strict=True))
    assert all(suggested[test.indices[k]] == test.labels[k] for k in flipped)  # the original label comes back
    assert table["label_quality"].is_monotonic_increasing


def test_tile_titles_print_integers_whatever_the_dtype_and_mark_cleanlab_flags():
    import numpy as np

    from mnistflow.analysis.error_analysis import tile_title

    floats = (np.float64(4601.0), np.float64(8.0), np.float64(4.0), np.float32(0.5))  # what iterrows() hands over
    assert tile_title(*floats) == "#4601 y=8\npred 4 p=0.50"
    assert tile_title(7, 3, 5, 0.99, flagged=True) == "#7 y=3 *\npred 5 p=0.99"


def test_tables_and_captions_name_the_classes_where_they_have_names():
    import pandas as pd

    table = pd.DataFrame({"index": [4], "label": [2], "prediction": [0], "p_prediction": [0.9], "second_best": [1]})
    named = error_analysis.with_class_names(table, ("Coat", "Shirt", "Bag"))
    assert list(named.columns) == ["index", "label", "label_name", "prediction", "prediction_name", "p_prediction",
                                   "second_best", "second_best_name"]
    assert named.loc[0, ["label_name", "prediction_name", "second_best_name"]].tolist() == ["Bag", "Coat", "Shirt"]
    assert error_analysis.with_class_names(table, tuple("0123456789")) is table  # digits: the table as it was
    assert error_analysis.tile_title(4, 2, 0, 0.9, True, ("Coat", "Shirt", "Bag")) == "#4 * p=0.90\ny=Bag\npred Coat"
    assert error_analysis.tile_title(4, 2, 0, 0.9, True, tuple("0123456789")) == "#4 y=2 *\npred 0 p=0.90"
