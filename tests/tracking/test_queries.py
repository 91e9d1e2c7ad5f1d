"""Reading runs back: MLflow's column names are turned into plain names here and nowhere else."""

import pytest

from mnistflow import tracking
from mnistflow.core.errors import TrackingError
from mnistflow.tracking import queries


def test_runs_table_uses_plain_param_and_metric_names(make_run):
    make_run(0.9, units=64)
    make_run(0.8, units=128, with_model=False)
    table, params, metrics = queries.runs_table(make_run.experiment_id)
    assert {"model.mlp.units", "train.seed", "train.learning_rate"} <= set(params) and "test/accuracy" in metrics
    assert not [column for column in table.columns if column.startswith(("params.", "metrics.", "tags."))]
    assert sorted(table["model.mlp.units"]) == ["128", "64"] and sorted(table["test/accuracy"]) == [0.8, 0.9]
    assert queries.model_uri_of_run(queries.latest_model_run(make_run.experiment_id)).startswith("models:/")
    with pytest.raises(TrackingError, match="cannot search runs with filter"):
        queries.runs_table(make_run.experiment_id, "params.nonsense ===")


def test_runs_logged_under_old_flat_names_fill_the_grouped_columns_and_filters_on_flat_names_work(store):
    import mlflow

    experiment_id = tracking.connect("old and new")
    with mlflow.start_run(experiment_id=experiment_id):  # as mnistflow 0.x logged it
        mlflow.log_metrics({"test_accuracy": 0.8, "val_recall_3": 0.5})
    with tracking.active_run():
        tracking.log_metrics({"test_accuracy": 0.9, "val_recall_3": 0.6})
    table, _, metrics = queries.runs_table(experiment_id)
    assert {"test/accuracy", "val_recall/3"} <= set(metrics) and "test_accuracy" not in table.columns
    assert sorted(table["test/accuracy"]) == [0.8, 0.9] and sorted(table["val_recall/3"]) == [0.5, 0.6]
    filtered, _, _ = queries.runs_table(experiment_id, "metrics.test_accuracy > 0.85")
    assert list(filtered["test/accuracy"]) == [0.9]


def test_a_param_named_like_a_metric_keeps_its_own_column(store):
    """`mlflow run` logs its entry point's params (`loss=''`); a hand-logged metric can share a param's name."""
    from mnistflow.analysis.comparison import comparison_table, to_markdown

    experiment_id = tracking.connect("clash")
    for units, loss in (("64", ""), ("128", "crossentropy")):
        with tracking.active_run():
            tracking.log_params({"loss": loss, "score": "f1", "model.arch": "mlp", "model.mlp.units": units})
            tracking.log_metrics({"loss": 0.1, "score": 0.5, "test_accuracy": 0.9})
    table, params, _ = queries.runs_table(experiment_id)
    assert {"loss", "params.score"} <= set(params) and table.columns.is_unique  # the metric loss is train/loss
    assert sorted(table["loss"]) == ["", "crossentropy"] and list(table["train/loss"]) == [0.1, 0.1]
    assert list(table["score"]) == [0.5, 0.5] and list(table["params.score"]) == ["f1", "f1"]
    assert "| loss |" in to_markdown(comparison_table(table, params))


def test_study_children_and_the_finished_ones(store):
    experiment_id = tracking.connect("children")
    with tracking.active_run() as parent:
        pass
    for seed, fails in ((1, False), (2, True)):
        tags = {"mlflow.parentRunId": parent, "study.configuration": "c", "study.seed": str(seed)}
        try:
            with tracking.active_run(tags=tags):
                tracking.log_metrics({"test_accuracy": 0.9})
                if fails:
                    raise RuntimeError("crash")
        except RuntimeError:
            pass
    children = queries.study_children(experiment_id, parent, "study.configuration", "study.seed")
    assert sorted(zip(children["seed"], children["status"], strict=True)) == [(1, "FINISHED"), (2, "FAILED")]
    assert queries.finished_children(experiment_id, parent, "study.configuration", "study.seed") == {("c", 1)}
