"""The experiment tags that choose what MLflow's UI shows first, on a real store."""

import json

from mlflow import MlflowClient

from mnistflow import tracking
from mnistflow.tracking import views


def test_a_new_experiment_has_the_description_the_runs_view_and_the_model_training_mode(store):
    tags = MlflowClient().get_experiment(tracking.connect("fresh")).tags
    assert "test/accuracy" in tags[views.DESCRIPTION_TAG]
    view = json.loads(tags[views.VIEW_TAG])
    assert view["orderByKey"] == "metrics.`test/accuracy`" and view["orderByAsc"] is False
    assert view["selectedColumns"][:2] == ["metrics.`test/accuracy`", "metrics.`test/macro_f1`"]
    assert tags[views.EXPERIMENT_KIND] == views.CLASSIC_ML


def test_the_runs_address_names_the_view_and_the_model_training_mode():
    assert views.runs_url("http://127.0.0.1:5000", "3") == (
        "http://127.0.0.1:5000/#/experiments/3/runs?viewStateShareKey=mnistflow&workflowType=machine_learning")
