"""`mnistflow ui`: the project's view on an experiment, and the server on a project that has no store yet."""

import json
import os
import signal
import urllib.request

import pytest
from mlflow import MlflowClient

from mnistflow.tracking import views
from mnistflow.tracking.ui import apply_views

from conftest import REPO, start_mnistflow_ui, tool_environment

PAGES = ("/", "/health", "/ajax-api/2.0/mlflow/experiments/search?max_results=10")


def views_pages(base: str) -> None:
    for page in PAGES:
        urllib.request.urlopen(f"{base}{page}", timeout=30).read()


def test_an_older_experiment_gets_the_view_and_keeps_its_own_description(store):
    client = MlflowClient()
    experiment_id = client.create_experiment("older", tags={views.DESCRIPTION_TAG: "mine"})
    apply_views(experiment_id)
    tags = client.get_experiment(experiment_id).tags
    assert tags[views.DESCRIPTION_TAG] == "mine" and views.VIEW_TAG in tags
    bare = client.create_experiment("bare")
    apply_views(bare)
    assert client.get_experiment(bare).tags[views.DESCRIPTION_TAG] == views.DESCRIPTION


@pytest.mark.slow
def test_ui_on_a_project_without_a_store_makes_it_first_saves_the_view_and_answers(tmp_path):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    log = tmp_path / "ui.log"
    server, base = start_mnistflow_ui(tmp_path, log)
    views_pages(base)
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=60)
    assert f"runs by test accuracy: {base}/#/experiments/1/runs?viewStateShareKey=mnistflow" in log.read_text()
    assert "GET /" not in log.read_text()  # no line per request unless asked
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("mnistflow")
    assert json.loads(experiment.tags[views.VIEW_TAG])["orderByKey"] == "metrics.`test/accuracy`"


@pytest.mark.slow
def test_ui_prints_a_line_per_request_only_with_access_log_and_runs_without_its_folder_on_path(tmp_path):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    log = tmp_path / "ui.log"
    outside = {key: value for key, value in tool_environment().items() if key != "PATH"}
    server, base = start_mnistflow_ui(tmp_path, log, options=("--access-log",),
                                      environment={**outside, "PATH": "/usr/bin:/bin"})
    views_pages(base)
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=60)
    assert all(f"GET {page.split('?')[0]}" in log.read_text() for page in PAGES)
