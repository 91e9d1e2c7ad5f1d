import pytest

from mnistflow.tracking import metric_keys

FLAT_NAMES = {  # every name the pipeline computes, as it was logged before the grouping, and its MLflow key
    "loss": "train/loss", "accuracy": "train/accuracy", "val_loss": "val/loss", "val_accuracy": "val/accuracy",
    "val_recall_3": "val_recall/3", "collapsed_classes": "val/collapsed_classes", "min_class_recall": "val/min_recall",
    "epoch_seconds": "train/epoch_seconds", "training_seconds": "train/seconds",
    "dead_relu_fraction": "train/dead_relu_fraction", "test_accuracy": "test/accuracy", "test_loss": "test/loss",
    "test_macro_f1": "test/macro_f1", "test_recall_0": "test_recall/0", "test_precision_9": "test_precision/9",
    "test_f1_5": "test_f1/5", "test_collapsed_classes": "test/collapsed_classes",
    "test_min_class_recall": "test/min_recall", "test_accuracy_reviewed_labels": "test/accuracy_reviewed_labels",
    "final_collapsed_classes": "train/final_collapsed_classes", "epochs_collapsed": "train/epochs_collapsed",
    "min_class_recall_final": "train/final_min_class_recall", "review_relabel_test": "review/relabel_test",
    "study_runs": "study/runs", "crossval_accuracy": "crossval/accuracy", "fold_2_accuracy": "crossval/fold_2_accuracy",
}


@pytest.mark.parametrize(("flat", "grouped"), FLAT_NAMES.items())
def test_each_flat_name_gets_its_group_and_a_grouped_key_stays(flat, grouped):
    assert metric_keys.mlflow_key(flat) == grouped
    assert metric_keys.mlflow_key(grouped) == grouped


def test_no_two_names_share_a_key():
    assert len(set(map(metric_keys.mlflow_key, FLAT_NAMES))) == len(FLAT_NAMES)


def test_a_new_run_s_value_wins_over_an_old_name_and_other_names_are_kept():
    assert metric_keys.grouped({"test_accuracy": 0.5, "test/accuracy": 0.9, "tune/best": 1.0, "custom": 2.0}) == {
        "test/accuracy": 0.9, "tune/best": 1.0, "custom": 2.0}


def test_a_filter_on_flat_names_is_written_with_the_grouped_keys():
    query = "metrics.test_accuracy > 0.9 and params.`model.arch` = 'mlp' and metrics.`test/loss` < 1"
    assert metric_keys.grouped_filter(query) == (
        "metrics.`test/accuracy` > 0.9 and params.`model.arch` = 'mlp' and metrics.`test/loss` < 1")
