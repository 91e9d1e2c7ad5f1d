"""register, against a real SQLite store with real runs and real logged models."""

import json
import multiprocessing

from mlflow import MlflowClient

from mnistflow.tracking import registry

NAME = "mnist-digits"


def _register(experiment_id, tmp_path, metric="test_accuracy", direction="max"):
    return registry.register_best(experiment_id, NAME, metric, direction, tmp_path / "registry.lock")


def _versions():
    return sorted(int(v.version) for v in MlflowClient().search_model_versions(f"name = '{NAME}'"))


def test_better_worse_equal_and_idempotent(make_run, tmp_path):
    first = make_run(0.90)
    outcome = _register(make_run.experiment_id, tmp_path)
    assert outcome.changed and outcome.version == "1" and outcome.candidate.info.run_id == first
    champion = MlflowClient().get_model_version_by_alias(NAME, "champion")
    assert champion.tags["source_run_id"] == first and champion.tags["git_commit"] == "abc123"
    assert champion.tags["metric.test/accuracy"] == "0.9" and "best by `test/accuracy`" in champion.description
    assert "| **test/accuracy** | 0.9000 |" in champion.description  # a markdown table, not a Python dict
    logged = MlflowClient().get_logged_model(champion.source.removeprefix("models:/"))  # linked both ways:
    assert json.loads(logged.tags["mlflow.modelVersions"]) == [{"name": NAME, "version": "1"}]  # "registered" in the UI
    assert "@champion" in MlflowClient().get_registered_model(NAME).description

    again = _register(make_run.experiment_id, tmp_path)
    assert not again.changed and "nothing changed" in again.message and _versions() == [1]

    make_run(0.85)      # worse
    make_run(0.90)      # equal: does not beat the champion
    assert not _register(make_run.experiment_id, tmp_path).changed and _versions() == [1]

    better = make_run(0.95)
    outcome = _register(make_run.experiment_id, tmp_path)
    assert outcome.changed and outcome.version == "2" and "before: v1 (test/accuracy=0.9)" in outcome.message
    assert MlflowClient().get_model_version_by_alias(NAME, "champion").run_id == better
    assert not _register(make_run.experiment_id, tmp_path).changed and _versions() == [1, 2]


def test_collapsed_and_modelless_runs_are_refused(make_run, tmp_path):
    make_run(0.99, collapsed=[3])
    make_run(0.98, with_model=False)
    fine = make_run(0.80)
    assert _register(make_run.experiment_id, tmp_path).candidate.info.run_id == fine


def test_direction_min(make_run, tmp_path):
    low = make_run(0.80)
    make_run(0.90)
    assert _register(make_run.experiment_id, tmp_path, direction="min").candidate.info.run_id == low


def test_no_eligible_run(make_run, tmp_path):
    make_run(0.99, with_model=False)
    outcome = _register(make_run.experiment_id, tmp_path)
    assert not outcome.changed and outcome.candidate is None and "no eligible run" in outcome.message


def test_a_run_logged_under_the_old_flat_names_competes_and_loses_to_a_better_new_one(make_run, tmp_path):
    import mlflow

    old = make_run(0.93)
    client = MlflowClient()
    with mlflow.start_run(experiment_id=make_run.experiment_id) as run:  # as mnistflow 0.x logged it
        mlflow.log_metrics({"test_accuracy": 0.97, "final_collapsed_classes": 0.0})
        mlflow.set_tag("mnistflow.model_uri", client.get_run(old).data.tags["mnistflow.model_uri"])
    assert _register(make_run.experiment_id, tmp_path, metric="test/accuracy").candidate.info.run_id == run.info.run_id
    better = make_run(0.98)
    assert _register(make_run.experiment_id, tmp_path, metric="test_accuracy").candidate.info.run_id == better


def _register_in_process(arguments):
    uri, experiment_id, lock = arguments
    import mlflow

    mlflow.set_tracking_uri(uri)
    outcome = registry.register_best(experiment_id, NAME, "test_accuracy", "max", lock)
    return outcome.changed


def test_concurrent_registers_create_one_version_and_one_champion(make_run, store, tmp_path):
    make_run(0.93)
    context = multiprocessing.get_context("spawn")
    with context.Pool(4) as pool:
        changed = pool.map(_register_in_process, [(store, make_run.experiment_id, tmp_path / "registry.lock")] * 4)
    assert sorted(changed) == [False, False, False, True]
    assert _versions() == [1]
    assert MlflowClient().get_registered_model(NAME).aliases == {"champion": 1}
