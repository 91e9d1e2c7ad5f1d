import math

import numpy as np
import pandas as pd
from PIL import Image

from mnistflow import evaluation, gallery, pipeline


def test_reports_hold_metrics_figures_and_galleries_of_exactly_the_mistakes(tmp_path, small_model, small_splits):
    model, records, params = small_model
    test = small_splits["test"]
    result = evaluation.evaluate_model(model, "crossentropy", test, 0.05)
    assert result.metrics["test_accuracy"] == np.mean(result.predictions == test.labels)
    assert result.confusion.sum() == 10000 and np.trace(result.confusion) == np.sum(result.predictions == test.labels)
    assert 0.7 < result.metrics["test_macro_f1"] < 1
    evaluation.write_figures(tmp_path / "figures", result, pipeline.history_rows(records), 0.05)
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == [
        "class_recall.png", "confusion_matrix.png", "training_curves.png"]
    tables = evaluation.write_error_reports(tmp_path / "errors", result, test, params)
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
    evaluation.write_confusion_data(tmp_path / "c.csv", np.array([1, 2, 3]), np.array([1, 2, 4]))
    assert pd.read_csv(tmp_path / "c.csv").to_dict("list") == {"actual": [1, 2, 3], "predicted": [1, 2, 4]}
