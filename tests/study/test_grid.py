import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from typer.testing import CliRunner

from mnistflow.cli import app
from mnistflow.core.errors import UsageError
from mnistflow.core.params import ParamsError, apply_overrides
from mnistflow.study import grid
from mnistflow.training import pipeline

from conftest import REPO, commit_all, make_project, repro, small_params, tool_environment, write_yaml


def test_default_study_is_the_16_configuration_grid():
    spec = grid.read_study_file(REPO / "study.yaml")
    configurations = grid.grid_configurations(spec["base"], spec["grid"])
    assert len(configurations) == 16 and spec["seeds"] == [1, 2, 3, 4]
    key, overrides = configurations[0]
    assert key == "model.mlp.units=64,prepare.scale=False,train.learning_rate=0.001,train.loss=clipped_crossentropy"
    assert overrides["model.mlp.output_initializer"] == "glorot_uniform"
    assert len(grid.make_jobs(configurations, [1, 2, 3, 4], small_params())) == 64


def test_overrides_are_validated_like_params_yaml():
    with pytest.raises(ParamsError, match="model.mlp.units must be an integer in 1-65536"):
        grid.make_jobs([("bad", {"model.mlp.units": 0})], [1], small_params())
    assert grid.parse_assignment("train.epochs=5") == ("train.epochs", 5)
    assert grid.parse_assignment("prepare.scale=false") == ("prepare.scale", False)
    with pytest.raises(UsageError, match="--set expects section.key=value"):
        grid.parse_assignment("epochs")


def test_seeds():
    assert grid.parse_seeds("1-4") == [1, 2, 3, 4] and grid.parse_seeds("3,7") == [3, 7]
    with pytest.raises(UsageError, match="--seeds must look like"):
        grid.parse_seeds("a-b")


def test_unknown_study_file_key(tmp_path):
    (tmp_path / "s.yaml").write_text("seed: [1]\n")
    with pytest.raises(ParamsError, match="unknown key 'seed'"):
        grid.read_study_file(tmp_path / "s.yaml")


def test_summary_counts_collapses_per_configuration():
    results = pd.DataFrame({
        "configuration": ["a", "a", "a", "b", "b"], "seed": [1, 2, 3, 1, 2],
        "status": ["FINISHED", "FINISHED", "FAILED", "FINISHED", "FINISHED"],
        "test_accuracy": [0.6, 0.9, None, 0.97, 0.98], "final_collapsed_classes": [2, 0, None, 0, 0],
        "epochs_collapsed": [20, 4, None, 0, 0]})
    summary = grid.summarize(results).set_index("configuration")
    assert summary.loc["a", "runs"] == 2 and summary.loc["a", "failed"] == 1 and summary.loc["b", "failed"] == 0
    assert summary.loc["a", "ended_collapsed"] == 1
    assert summary.loc["a", "collapsed_any_epoch"] == 2 and summary.loc["a", "mean_epochs_collapsed"] == 12
    assert summary.loc["a", "test_accuracy_min"] == 0.6
    assert summary.loc["b", "test_accuracy_mean"] == pytest.approx(0.975)


def test_shared_overrides_go_only_to_the_configurations_of_their_architecture(tmp_path):
    (tmp_path / "mlp.yaml").write_text("model.arch: mlp\n")
    (tmp_path / "cnn.yaml").write_text("model.arch: cnn\ntrain.batch_size: 128\n")
    (tmp_path / "study.yaml").write_text("base:\n  model.mlp.output_initializer: glorot_uniform\n")
    planned = grid.plan(tmp_path / "study.yaml", [tmp_path / "mlp.yaml", tmp_path / "cnn.yaml"], "1",
                         ["model.cnn.filters=8", "train.epochs=3"], small_params())
    assert dict(planned.configurations) == {
        "mlp": {"model.mlp.output_initializer": "glorot_uniform", "model.arch": "mlp", "train.epochs": 3},
        "cnn": {"model.arch": "cnn", "train.batch_size": 128, "model.cnn.filters": 8, "train.epochs": 3}}
    with pytest.raises(ParamsError, match="--set model.cnn.filters applies to no configuration"):
        grid.plan(tmp_path / "study.yaml", [tmp_path / "mlp.yaml"], "1", ["model.cnn.filters=8"], small_params())
    configurations = grid.grid_configurations({"model.cnn.filters": 8}, {"model.arch": ["mlp", "cnn"]})
    assert configurations == [("model.arch=mlp", {"model.arch": "mlp"}),
                    ("model.arch=cnn", {"model.cnn.filters": 8, "model.arch": "cnn"})]
    with pytest.raises(ParamsError, match="model.cnn.filters does not apply to model.arch mlp"):
        grid.make_jobs([("own", {"model.cnn.filters": 8})], [1], small_params())  # a configuration's own key


def test_classic_failure_collapses_on_small_data(small_splits, raw_mnist):
    """Raw pixels + Keras 2.2's clipped loss: a class dies, or many samples sit in the zero-gradient region."""
    from mnistflow.data import mnist

    overrides = grid.read_overrides(REPO / "configs" / "classic-failure.yaml")
    params = apply_overrides(small_params(train={"epochs": 3}), overrides)
    assert params.prepare.scale is False and params.train.loss == "clipped_crossentropy"
    raw = {name: mnist.make_split(raw_mnist["x_train"][:2000], raw_mnist["y_train"][:2000], split.indices, False)
           for name, split in small_splits.items() if name != "test"}
    _, records = pipeline.train_model(params, raw["train"], raw["validation"])
    assert any(record.collapsed for record in records) or \
        max(record.metrics["true_class_prob_below_eps"] for record in records) > 0.05
    assert max(record.metrics["top_prob_above_1_minus_eps"] for record in records) > 0.3  # saturated softmax


@pytest.mark.slow
def test_small_study_records_children_isolates_a_crash_and_resumes(store, tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "ok.yaml").write_text("model.mlp.units: 16\n")
    # 1,000 images x 0.0001 rounds to no validation image: this configuration fails at run time.
    (tmp_path / "configs" / "broken.yaml").write_text("prepare.validation_fraction: 0.0001\n")
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    (tmp_path / "study.yaml").write_text((REPO / "study.yaml").read_text())  # its base is for its grid only
    monkeypatch.chdir(tmp_path)
    arguments = ["study", "--config", "ok", "--config", "broken", "--seeds", "1,2", "--workers", "2",
                 "--set", "train.epochs=2", "--set", "prepare.train_limit=1000", "--name", "tiny",
                 "--data", str(REPO / "data" / "raw" / "mnist.npz")]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.stderr
    client = MlflowClient()
    parent = client.search_runs(["1"], filter_string="tags.`study.name` = 'tiny'")[0]
    children = client.search_runs(["1"], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    statuses = sorted((run.data.tags["study.configuration"], run.info.status) for run in children)
    assert statuses == [("broken", "FAILED"), ("broken", "FAILED"), ("ok", "FINISHED"), ("ok", "FINISHED")]
    ok = next(run for run in children if run.info.status == "FINISHED")
    assert ok.data.params["model.mlp.units"] == "16" and "test/accuracy" in ok.data.metrics
    assert ok.data.params["model.mlp.output_initializer"] == "normal"  # params.yaml's, not study.yaml's base
    assert "mnistflow.model_uri" in ok.data.tags  # a complete run, model included
    artifacts = {item.path for item in client.list_artifacts(parent.info.run_id, "study")}
    assert artifacts == {"study/results.csv", "study/summary.csv", "study/summary.md", "study/study_accuracy.png"}
    assert "| ok | 2 |" in result.stdout and "| broken | 0 |" in result.stdout

    resumed = CliRunner().invoke(app, [*arguments[:5], "--seeds", "1-3", *arguments[7:],
                                       "--resume", parent.info.run_id])
    assert resumed.exit_code == 0, resumed.stderr
    assert "resuming: 2 of 6 runs already finished, skipped" in resumed.stderr
    children = client.search_runs(["1"], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sum(run.data.tags["study.configuration"] == "ok" and run.info.status == "FINISHED" for run in children) == 3
    assert client.get_run(parent.info.run_id).info.status == "FINISHED"


@pytest.mark.slow
def test_study_on_a_local_ray_instance(store, tmp_path, monkeypatch):
    pytest.importorskip("ray", reason="pip install ray (the 'cluster' extra)")
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "ok.yaml").write_text("model.mlp.units: 16\n")
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    result = CliRunner().invoke(app, ["study", "--executor", "ray", "--workers", "2", "--config", "ok",
                                      "--seeds", "1-3", "--set", "train.epochs=2", "--set", "prepare.train_limit=1000",
                                      "--name", "on-ray", "--data", str(REPO / "data" / "raw" / "mnist.npz")])
    assert result.exit_code == 0, result.stderr
    client = MlflowClient()
    parent = client.search_runs(["1"], filter_string="tags.`study.name` = 'on-ray'")[0]
    children = client.search_runs(["1"], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(int(run.data.tags["study.seed"]) for run in children) == [1, 2, 3]
    assert {run.info.status for run in children} == {"FINISHED"}


@pytest.mark.slow
def test_pipeline_and_a_two_worker_study_train_bit_identical_weights(tmp_path):
    """Same params and seed, two launchers: `dvc repro` and a 2-worker study give the same weights.

    128 units on 5,000 images: a size at which 1 and 2 CPU threads give different low-order bits, so the
    study's old thread pinning (cores // workers) made the two differ.
    """
    import mlflow.keras

    project = make_project(tmp_path / "project")
    write_yaml(project / "params.yaml", small_params(model={"mlp": {"units": 128}}, prepare={"train_limit": 5000}))
    (project / "study.yaml").write_text("seeds: [1, 2]\ngrid:\n  model.mlp.units: [128]\n")
    commit_all(project)
    repro(project)
    result = subprocess.run(["mnistflow", "study", "--workers", "2", "--name", "same"], cwd=project,
                            capture_output=True, text=True, env=tool_environment(), timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    uri = f"sqlite:///{project / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    pipeline_run = client.get_run(json.loads((project / "models" / "run.json").read_text())["run_id"])
    child = client.search_runs(["1"], filter_string="tags.`study.seed` = '1' and attributes.status = 'FINISHED'")[0]
    mlflow.set_tracking_uri(uri)
    try:
        weights = [mlflow.keras.load_model(run.data.tags["mnistflow.model_uri"]).get_weights()
                   for run in (pipeline_run, child)]
    finally:
        mlflow.set_tracking_uri(None)
    assert all(np.array_equal(mine, theirs) for mine, theirs in zip(*weights, strict=True))
    assert pipeline_run.data.metrics["test/loss"] == child.data.metrics["test/loss"]
    assert pipeline_run.data.params["train.threads"] == child.data.params["train.threads"] == "1"


def test_a_huge_seed_range_is_refused_before_anything_is_built():
    with pytest.raises(UsageError, match="at most 10000 seeds"):
        grid.parse_seeds("1-100000000")
    with pytest.raises(UsageError, match="each in 0-4294967295"):
        grid.parse_seeds("3,4294967296")


def test_study_params_that_are_not_utf8_are_one_line(tmp_path, monkeypatch):
    (tmp_path / "params.yaml").write_bytes(b"train:\n  units: 64 # \xff\n")
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["study", "--params", "params.yaml", "--seeds", "1"])
    assert result.exit_code == 2 and "params.yaml: not UTF-8 text" in result.stderr


@pytest.mark.slow
def test_resume_ends_a_child_left_running_by_a_dead_process_and_reruns_it(store, tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "ok.yaml").write_text("model.mlp.units: 16\n")
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.chdir(tmp_path)
    arguments = ["study", "--config", "ok", "--workers", "1", "--set", "train.epochs=1", "--set",
                 "prepare.train_limit=1000", "--name", "stale", "--data", str(REPO / "data" / "raw" / "mnist.npz")]
    first = CliRunner().invoke(app, [*arguments, "--seeds", "1"])
    assert first.exit_code == 0, first.stderr
    client = MlflowClient()
    parent = client.search_runs(["1"], filter_string="tags.`study.name` = 'stale'")[0].info.run_id
    dead = subprocess.run([sys.executable, "-c", (
        "import os, mlflow; from mnistflow.tracking import runs; "
        f"run = mlflow.start_run(experiment_id='1', tags={{'mlflow.parentRunId': '{parent}', "
        "'study.configuration': 'ok', 'study.seed': '2', **runs.process_tags()}); print(run.info.run_id, flush=True); "
        "os._exit(0)")], capture_output=True, text=True, env=tool_environment(MLFLOW_TRACKING_URI=store))
    stale = dead.stdout.strip().splitlines()[-1]
    resumed = CliRunner().invoke(app, [*arguments, "--seeds", "1-2", "--resume", parent])
    assert resumed.exit_code == 0, resumed.stderr
    assert "1 child run(s) left RUNNING by a process that is gone, now KILLED" in resumed.stderr
    assert client.get_run(stale).info.status == "KILLED"
    row = next(line for line in resumed.stdout.splitlines() if line.startswith("| ok |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[1] == "2" and cells[-1] == "0"  # the re-run replaced the killed one: 2 finished, 0 failed


@pytest.mark.slow
def test_a_study_over_both_architectures_and_register_crowns_the_better(store, tmp_path, monkeypatch, raw_mnist):
    raw = small_params(model={"cnn": {"filters": 8, "dense_units": 32}})
    write_yaml(tmp_path / "params.yaml", raw)
    (tmp_path / "arch.yaml").write_text("seeds: [1]\ngrid:\n  model.arch: [mlp, cnn]\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["study", "--study-file", "arch.yaml", "--workers", "1", "--set",
                                      "train.epochs=2", "--name", "families",
                                      "--data", str(REPO / "data" / "raw" / "mnist.npz")])
    assert result.exit_code == 0, result.stderr
    client = MlflowClient()
    children = {run.data.params["model.arch"]: run for run in client.search_runs(
        ["1"], filter_string="tags.`study.configuration` LIKE 'model.arch=%'")}
    assert set(children) == {"mlp", "cnn"} and {run.info.status for run in children.values()} == {"FINISHED"}
    assert "model.cnn.filters" in children["cnn"].data.params and "model.mlp.units" not in children["cnn"].data.params
    assert children["cnn"].data.metrics["train/dead_relu_fraction"] >= 0  # measured over the conv layers too
    best = max(children.values(), key=lambda run: run.data.metrics["test/accuracy"])

    registered = CliRunner().invoke(app, ["register"])
    assert registered.exit_code == 0, registered.stderr
    version = client.get_model_version_by_alias("mnist-digits", "champion")
    assert version.run_id == best.info.run_id
    assert version.tags["param.model.arch"] == best.data.params["model.arch"]

    np.save(tmp_path / "digits.npy", raw_mnist["x_test"][:20])
    predicted = CliRunner().invoke(app, ["predict", "--json", str(tmp_path / "digits.npy")])
    assert predicted.exit_code == 0, predicted.stderr
    best_guesses = [int(np.argmax(row["probabilities"])) for row in json.loads(predicted.stdout)]  # refused too
    assert np.mean(np.array(best_guesses) == raw_mnist["y_test"][:20]) >= 0.7  # raw 0-255 pixels in, any family


@pytest.mark.slow
def test_a_study_applies_the_label_review_file_as_the_prepare_stage_does(store, tmp_path, monkeypatch, raw_mnist):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "ok.yaml").write_text("model.mlp.units: 16\n")
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    (tmp_path / "dvc.yaml").write_text((REPO / "dvc.yaml").read_text())  # prepare's --review: data/label_review.csv
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "label_review.csv").write_text(
        f"split,index,given,suggested,verdict\ntrain,3,{raw_mnist['y_train'][3]},7,relabel\n"
        f"test,0,{raw_mnist['y_test'][0]},{(raw_mnist['y_test'][0] + 1) % 10},exclude\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["study", "--config", "ok", "--seeds", "1", "--workers", "1", "--set",
                                      "train.epochs=1", "--set", "prepare.train_limit=1000", "--name", "reviewed",
                                      "--data", str(REPO / "data" / "raw" / "mnist.npz")])
    assert result.exit_code == 0, result.stderr
    child = MlflowClient().search_runs(["1"], filter_string="tags.`study.configuration` = 'ok'")[0]
    assert child.data.params["review.relabel_train"] == "1" and child.data.params["review.exclude_test"] == "1"
    assert child.data.metrics["test/images_reviewed_labels"] == 9999


@pytest.mark.slow
def test_a_study_trains_the_dataset_its_configurations_name(store, tmp_path, monkeypatch):
    from test_datasets_pipeline import write_image_folder

    write_image_folder(tmp_path / "data" / "raw" / "scans", {"train": 40, "test": 10})
    write_yaml(tmp_path / "params.yaml", small_params(prepare={"dataset": "data/raw/scans", "train_limit": None}))
    (tmp_path / "dvc.yaml").write_text((REPO / "dvc.yaml").read_text())
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "small.yaml").write_text("model.mlp.units: 16\n")
    (tmp_path / "configs" / "fashion.yaml").write_text("prepare.dataset: fashion-mnist\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    mixed = CliRunner().invoke(app, ["study", "--config", "small", "--config", "fashion", "--seeds", "1"])
    assert mixed.exit_code == 2 and "a study trains one dataset; its configurations name data/raw/scans, " \
        "fashion-mnist" in mixed.stderr
    result = CliRunner().invoke(app, ["study", "--config", "small", "--seeds", "1", "--workers", "1", "--name", "own"])
    assert result.exit_code == 0, result.stderr
    child = MlflowClient().search_runs(["1"], filter_string="tags.`study.configuration` = 'small'")[0]
    assert child.info.status == "FINISHED" and child.data.tags["mnistflow.dataset"] == "scans"
    assert json.loads(child.data.tags["mnistflow.classes"]) == ["one", "seven", "zero"]
    assert {item.dataset.name for item in child.inputs.dataset_inputs} == {"scans-train", "scans-validation",
                                                                            "scans-test"}


def test_every_named_configuration_applies_to_params_yaml():
    from mnistflow.core.params import apply_overrides, read_yaml
    from mnistflow.study.grid import read_overrides

    names = sorted(path.stem for path in (REPO / "configs").glob("*.yaml"))
    assert {"fashion", "fashion-cnn", "fashion-classic-failure"} <= set(names)
    for name in names:
        apply_overrides(read_yaml(REPO / "params.yaml"), read_overrides(REPO / "configs" / f"{name}.yaml"))
