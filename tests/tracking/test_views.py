"""The experiment tags that choose what MLflow's UI shows first, on a real store."""

import json

from mlflow import MlflowClient

from mnistflow import tracking
from mnistflow.tracking import views
from mnistflow.tracking.ui import apply_views


def test_a_new_experiment_has_the_description_the_runs_view_and_the_model_training_mode(store):
    tags = MlflowClient().get_experiment(tracking.connect("fresh")).tags
    assert "test/accuracy" in tags[views.DESCRIPTION_TAG]
    view = json.loads(tags[views.VIEW_TAG])
    assert view["orderByKey"] == "metrics.`test/accuracy`" and view["orderByAsc"] is False
    assert view["selectedColumns"][:2] == ["metrics.`test/accuracy`", "metrics.`test/macro_f1`"]
    assert tags[views.EXPERIMENT_KIND] == views.CLASSIC_ML


def test_an_older_experiment_gets_the_view_and_keeps_its_own_description(store):
    client = MlflowClient()
    experiment_id = client.create_experiment("older", tags={views.DESCRIPTION_TAG: "mine"})
    apply_views(experiment_id)
    tags = client.get_experiment(experiment_id).tags
    assert tags[views.DESCRIPTION_TAG] == "mine" and views.VIEW_TAG in tags
    bare = client.create_experiment("bare")
    apply_views(bare)
    assert client.get_experiment(bare).tags[views.DESCRIPTION_TAG] == views.DESCRIPTION


def test_the_runs_address_names_the_view_and_the_model_training_mode():
    assert views.runs_url("http://127.0.0.1:5000", "3") == (
        "http://127.0.0.1:5000/#/experiments/3/runs?viewStateShareKey=mnistflow&workflowType=machine_learning")
