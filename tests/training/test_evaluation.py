import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mnistflow.analysis import gallery
from mnistflow.data.catalog import DIGIT_CLASSES
from mnistflow.data.mnist import Split
from mnistflow.training import evaluation, pipeline


def test_reports_hold_metrics_figures_and_galleries_of_exactly_the_mistakes(tmp_path, small_model, small_splits):
    model, records, params = small_model
    test = small_splits["test"]
    result = evaluation.evaluate_model(model, "crossentropy", test, 0.05)
    assert result.metrics["test_accuracy"] == np.mean(result.predictions == test.labels)
    assert result.confusion.sum() == 10000 and np.trace(result.confusion) == np.sum(result.predictions == test.labels)
    assert 0.7 < result.metrics["test_macro_f1"] < 1
    evaluation.write_figures(tmp_path / "figures", result, pipeline.history_rows(records), 0.05, test.classes)
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == [
        "class_recall.png", "confusion_matrix.png", "training_curves.png"]
    tables = evaluation.write_error_reports(tmp_path / "errors", result, test, params,
                                            evaluation.Audit().suspects(result, test))
    mistakes = pd.read_csv(tmp_path / "errors" / "mistakes.csv")
    assert len(mistakes) == int(np.sum(result.predictions != test.labels)) == len(tables["mistakes"])
    for label in (0, 5):
        count = min(int(np.sum(mistakes["label"] == label)), params.evaluate.class_gallery_limit)
        height = Image.open(tmp_path / "errors" / f"class_{label}_mistakes.png").height
        rows = max(1, math.ceil(count / 10))
        cell = gallery.TILE + gallery.CAPTION_HEIGHT + gallery.MARGIN
        assert height == gallery.HEADER_HEIGHT + rows * cell + gallery.MARGIN
    issues = pd.read_csv(tmp_path / "errors" / "label_issues.csv")
    assert len(issues) == params.evaluate.label_issues_top_k
    assert (tmp_path / "errors" / "confident_mistakes.png").is_file()


def test_confusion_data_is_one_row_per_image(tmp_path):
    evaluation.write_confusion_data(tmp_path / "c.csv", np.array([1, 2, 3]), np.array([1, 2, 4]), DIGIT_CLASSES)
    assert pd.read_csv(tmp_path / "c.csv").to_dict("list") == {"actual": [1, 2, 3], "predicted": [1, 2, 4]}
    evaluation.write_confusion_data(tmp_path / "n.csv", np.array([0, 1]), np.array([1, 1]), ("Coat", "Shirt"))
    assert pd.read_csv(tmp_path / "n.csv").to_dict("list") == {"actual": ["Coat", "Shirt"],
                                                               "predicted": ["Shirt", "Shirt"]}


def test_the_metrics_file_holds_the_headline_and_the_per_class_table_the_rest(tmp_path, small_model, small_splits):
    from sklearn.metrics import classification_report

    test = small_splits["test"]
    result = evaluation.evaluate_model(small_model[0], "crossentropy", test, 0.05)
    headline = evaluation.headline_metrics(result.metrics | {"test_images_reviewed_labels": 9990.0})
    assert list(headline) == ["accuracy", "macro_f1", "min_recall", "collapsed_classes", "images_reviewed_labels"]
    assert headline["images_reviewed_labels"] == 9990 and isinstance(headline["collapsed_classes"], int)
    assert headline["accuracy"] == result.metrics["test_accuracy"]
    evaluation.write_per_class_data(tmp_path / "per_class.csv", result.metrics, test.classes)
    table = pd.read_csv(tmp_path / "per_class.csv")
    report = classification_report(test.labels, result.predictions, output_dict=True, zero_division=0)
    for label in range(10):
        for column, key in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
            assert table.loc[label, column] == pytest.approx(report[str(label)][key], rel=1e-5)
    assert table["recall"].min() == pytest.approx(headline["min_recall"], rel=1e-5)


def test_reviewed_test_metrics_use_the_new_labels_and_leave_out_the_excluded():
    from sklearn.metrics import accuracy_score, f1_score

    labels, predictions = np.array([0, 1, 2, 3, 4, 5], np.uint8), np.array([0, 1, 2, 3, 9, 9])
    test = Split(np.zeros((6, 1)), labels, np.array([10, 11, 12, 13, 14, 15]))
    metrics = evaluation.reviewed_test_metrics(test, predictions, {"14": 9, "15": None, "99": 3})
    reviewed, kept = np.array([0, 1, 2, 3, 9]), predictions[:5]  # #14 relabelled 9, #15 excluded, #99 not here
    assert metrics["test_accuracy_reviewed_labels"] == accuracy_score(reviewed, kept) == 1.0
    assert metrics["test_macro_f1_reviewed_labels"] == pytest.approx(
        f1_score(reviewed, kept, labels=list(range(10)), average="macro", zero_division=0))
    assert metrics["test_images_reviewed_labels"] == 5


def test_train_suspects_get_their_own_table_and_gallery(tmp_path, small_model, small_splits):
    model, _, params = small_model
    test, train = small_splits["test"], small_splits["train"]
    result = evaluation.evaluate_model(model, "crossentropy", test, 0.05)
    train_probabilities = np.full((len(train.labels), 10), 0.05, np.float32)
    train_probabilities[np.arange(len(train.labels)), train.labels] = 0.55
    train_probabilities[7] = np.eye(10)[(train.labels[7] + 1) % 10] * 0.9 + 0.01  # #7 looks mislabelled
    audit = evaluation.Audit(result.probabilities, evaluation.LabelSuspects("train", train, train_probabilities,
                                                                            "cross-validated, 2 folds"))
    tables = evaluation.write_error_reports(tmp_path, result, test, params, audit.suspects(result, test))
    assert set(tables) == {"mistakes", "label_issues", "train_label_issues"}
    assert tables["train_label_issues"]["index"].iloc[0] == train.indices[7]
    assert tables["train_label_issues"]["suggested"].iloc[0] == (train.labels[7] + 1) % 10
    assert (tmp_path / "train_label_issues.png").is_file() and (tmp_path / "train_label_issues.csv").is_file()
