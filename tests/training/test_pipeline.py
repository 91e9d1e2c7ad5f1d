"""End to end: the real `dvc repro` on a shrunk params file in a temporary copy of the project."""

import json
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from conftest import REPO, commit_all, make_project, small_params, tool_environment, write_yaml
from conftest import repro as _repro

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    project = make_project(tmp_path_factory.mktemp("project"))
    (project / "configs").mkdir()
    (project / "configs" / "narrow.yaml").write_text(
        "model.mlp.units: 16\nmodel.mlp.activation: tanh\n")
    commit_all(project)
    return project


def test_repro_records_one_complete_finished_run(project):
    output = _repro(project)
    assert all(f"Running stage '{stage}'" in output for stage in ("prepare", "train", "evaluate"))
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("mnistflow")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.info.run_id == json.loads((project / "models" / "run.json").read_text())["run_id"]
    assert run.data.params["model.mlp.units"] == "64" and run.data.params["prepare.train_limit"] == "2000"
    raw = small_params()  # every param, of the model section the chosen architecture's only
    training = ("prepare", "model", "train", "diagnostics", "tracking")  # evaluate, crossval: tags (re-runnable)
    review_counts = 0  # relabel / exclude / keep x train / test: logged only when the review file has verdicts
    assert len(run.data.params) == (sum(len(raw[section]) for section in training) - 2 + len(raw["model"]["mlp"])
                                    + review_counts)
    assert run.data.tags["evaluate.label_issues_top_k"] == "20" and run.data.tags["crossval.enabled"] == "False"
    assert not [name for name in [*run.data.params, *run.data.metrics] if name.startswith("review")]
    assert run.data.metrics["train/seconds"] > 0
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val/accuracy")] == [1, 2]
    for name in ("train/loss", "train/accuracy", "val/loss", "train/epoch_seconds", "val_recall/0",
                 "val/collapsed_classes", "train/true_class_prob_below_eps", "train/dead_relu_fraction"):
        assert len(client.get_metric_history(run.info.run_id, name)) == 2, name
    metrics = json.loads((project / "reports" / "test_metrics.json").read_text())
    assert run.data.metrics["test/accuracy"] == pytest.approx(metrics["accuracy"])
    assert metrics["accuracy"] > 0.7
    assert set(metrics) == {"accuracy", "macro_f1", "min_recall", "collapsed_classes"}  # the headline only
    assert isinstance(metrics["collapsed_classes"], int)
    per_class = pd.read_csv(project / "reports" / "per_class.csv")
    assert list(per_class.columns) == ["class", "precision", "recall", "f1"]
    assert list(per_class["class"]) == [*range(10)]
    assert per_class["recall"].min() == pytest.approx(metrics["min_recall"], abs=1e-6)
    assert per_class.loc[3, "precision"] == pytest.approx(run.data.metrics["test_precision/3"], abs=1e-6)
    tags = run.data.tags
    assert tags["seed"] == "1" and tags["tensorflow_version"] and tags["keras_version"] and tags["git_commit"]
    assert tags["git_dirty"] == "False"  # DVC rewriting dvc.lock and its outs does not dirty a clean checkout
    assert tags["mlflow.runName"] == "dvc repro mlp seed=1" and not [key for key in tags if key.startswith("dvc.")]
    used = json.loads(Path(client.download_artifacts(run.info.run_id, "provenance.json")).read_text())
    lock = {stage: {item["path"]: item["md5"] for item in entry.get("deps", []) + entry.get("outs", [])}
            for stage, entry in yaml.safe_load((project / "dvc.lock").read_text())["stages"].items()}
    assert used["train"]["outs"]["models/model.keras"] == lock["train"]["models/model.keras"]
    assert used["evaluate"]["deps"]["models/model.keras"] == lock["evaluate"]["models/model.keras"]
    evaluation = "src/mnistflow/training/evaluation.py"
    assert used["evaluate"]["deps"][evaluation] == lock["evaluate"][evaluation]
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert {"confusion_matrix.json", "figures", "errors"} <= artifacts
    figures = {item.path for item in client.list_artifacts(run.info.run_id, "figures")}
    assert {"figures/confusion_matrix.png", "figures/training_curves.png", "figures/class_recall.png"} <= figures
    errors = {item.path for item in client.list_artifacts(run.info.run_id, "errors")}
    assert {"errors/confident_mistakes.png", "errors/class_0_mistakes.png", "errors/label_issues.png",
            "errors/mistakes_table.json", "errors/label_issues_table.json"} <= errors
    import mlflow.keras
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    model = mlflow.keras.load_model(tags["mnistflow.model_uri"])
    raw = np.load(project / "data" / "raw" / "mnist.npz")
    predicted = model.predict(raw["x_test"][:200].astype(np.float32), verbose=0).argmax(axis=1)
    accuracy = np.mean(predicted == raw["y_test"][:200])
    assert accuracy > 0.7


def test_second_repro_runs_nothing(project):
    runs_before = len(MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}").search_runs(["1"]))
    output = _repro(project)
    assert "Running stage" not in output and "Data and pipelines are up to date" in output
    assert len(MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}").search_runs(["1"])) == runs_before


def lock_hashes(project: Path) -> dict[tuple[str, str, str], str]:
    """(stage, deps|outs, path) -> md5 of every entry in dvc.lock."""
    stages = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    return {(stage, kind, item["path"]): item["md5"]
            for stage, entry in stages.items() for kind in ("deps", "outs") for item in entry.get(kind, [])}


def test_forced_repro_changes_only_the_run_id_entries(project):
    """Every out is a pure function of its deps: retraining from scratch rewrites the same bytes."""
    before = lock_hashes(project)
    result = subprocess.run(["dvc", "repro", "--force"], cwd=project, capture_output=True, text=True,
                            env=tool_environment(), timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    after = lock_hashes(project)
    assert set(after) == set(before)
    changed = {key for key in before if before[key] != after[key]}
    assert changed == {("train", "outs", "models/run.json"), ("evaluate", "deps", "models/run.json")}


def test_changing_a_train_param_reruns_train_and_evaluate_only(project):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["model"]["mlp"]["units"] = 32
    write_yaml(project / "params.yaml", params)
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    runs_before = len(client.search_runs(["1"]))
    output = _repro(project)
    assert "Running stage 'train'" in output and "Running stage 'evaluate'" in output
    assert "Running stage 'prepare'" not in output
    runs = client.search_runs(["1"])
    assert len(runs) == runs_before + 1 and all(run.info.status == "FINISHED" for run in runs)
    newest = runs[0]  # its provenance names the model it evaluated, not the previous one dvc.lock held then
    used = json.loads(Path(client.download_artifacts(newest.info.run_id, "provenance.json")).read_text())
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]["evaluate"]
    model_md5 = next(item["md5"] for item in lock["deps"] if item["path"] == "models/model.keras")
    assert used["evaluate"]["deps"]["models/model.keras"] == model_md5
    assert newest.data.tags["git_dirty"] == "True"  # params.yaml differs from the commit


def test_changing_an_evaluate_param_reruns_evaluate_into_the_same_run(project):
    """A report setting re-runs evaluate alone, into the training run, which records the new setting."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["evaluate"]["label_issues_top_k"] = 12
    write_yaml(project / "params.yaml", params)
    output = _repro(project)
    assert "Running stage 'evaluate'" in output and "Running stage 'train'" not in output
    run_id = json.loads((project / "models" / "run.json").read_text())["run_id"]
    run = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}").get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["evaluate.label_issues_top_k"] == "12"
    params["evaluate"]["label_issues_top_k"] = 20
    write_yaml(project / "params.yaml", params)
    _repro(project)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (Debian: apt-get install tmux)")
def test_named_configuration_runs_as_a_dvc_experiment(project):
    environment = tool_environment()
    _repro(project)  # the baseline a user experiments from: a committed lock and its metrics
    shutil.copy(REPO / ".gitignore", project / ".gitignore")
    commit_all(project)
    result = subprocess.run(["mnistflow", "experiment", "narrow"], cwd=project, capture_output=True, text=True,
                            env=environment, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = 'dvc exp run -n narrow -S model.mlp.units=16 -S model.mlp.activation="tanh"'
    assert expected in result.stderr
    runs = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}").search_runs(
        ["1"], filter_string="params.`model.mlp.units` = '16'")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert runs[0].data.params["model.mlp.activation"] == "tanh"
    shown = subprocess.run(["dvc", "exp", "show", "--no-pager", "--csv"], cwd=project, capture_output=True,
                           text=True, env=environment).stdout
    assert "narrow" in shown
    (project / "data" / "label_review.csv").write_text(  # a changed dependency too: its md5 must not crowd
        (project / "data" / "label_review.csv").read_text() + "test,1,2,7,keep\n")  # the params out
    table = _in_a_terminal(readme_command("dvc exp show"), project, columns=120)
    header = next(line for line in table.splitlines() if "Experiment" in line)
    assert max(map(len, table.splitlines())) <= 120, table
    for column in ("accuracy", "macro_f1", "min_recall", "model.mlp.units", "model.mlp.activation"):
        assert column in header.split(), table  # the headline and both changed params fit in 120 columns
    assert "narrow" in table and "…" not in header, table
    (project / "data" / "label_review.csv").write_text((REPO / "data" / "label_review.csv").read_text())


def readme_command(start: str) -> str:
    """The README's command line that starts with `start`."""
    return next(line.strip().removeprefix("$ ") for line in (REPO / "README.md").read_text().splitlines()
                if line.strip().removeprefix("$ ").startswith(start))


def _in_a_terminal(command: str, folder: Path, columns: int) -> str:
    """What `command` shows in a real terminal `columns` wide (tmux), as the screen holds it."""
    session = f"mnistflow-{os.getpid()}"
    path = tool_environment()["PATH"]
    shell = (f"cd {shlex.quote(str(folder))} && unset COLUMNS LINES && PATH={shlex.quote(path)} {command} --no-pager;"
             " sleep 60")  # the terminal's own size, not one inherited from the process that started tmux
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", str(columns), "-y", "50", shell], check=True)
    try:
        deadline = time.monotonic() + 120
        while "Experiment" not in (screen := subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                                              capture_output=True, text=True, timeout=10).stdout):
            assert time.monotonic() < deadline, screen
            time.sleep(1)
        time.sleep(2)  # the rest of the table
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True,
                              timeout=10).stdout
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def test_queued_experiments_land_in_the_workspace_store(project):
    environment = tool_environment()

    def dvc(*arguments: str) -> str:
        result = subprocess.run(["dvc", *arguments], cwd=project, capture_output=True, text=True, env=environment,
                                timeout=600)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        return result.stdout

    for units in (8, 12):
        dvc("exp", "run", "--queue", "-n", f"queued-{units}", "-S", f"model.mlp.units={units}")
    dvc("queue", "start", "-j", "2")
    deadline = time.monotonic() + 600
    while any(state in dvc("queue", "status") for state in ("Queued", "Running")):
        assert time.monotonic() < deadline, dvc("queue", "status")
        time.sleep(3)
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    for units in (8, 12):
        runs = client.search_runs(["1"], filter_string=f"params.`model.mlp.units` = '{units}'")
        assert len(runs) == 1 and runs[0].info.status == "FINISHED", dvc("queue", "logs", f"queued-{units}")
        assert runs[0].data.tags["dvc.exp_name"] == f"queued-{units}" and runs[0].data.tags["dvc.baseline_rev"]
        assert "test/accuracy" in runs[0].data.metrics
    assert not list((project / ".dvc" / "tmp").rglob("mlflow.db"))  # nothing was written into DVC's copies


def test_mlflow_run_entry_point_passes_parameters_to_the_pipeline(project):
    result = subprocess.run(["mlflow", "run", ".", "--env-manager", "local", "--experiment-name", "mnistflow",
                             "-P", "epochs=1", "-P", "units=24"], cwd=project, capture_output=True, text=True,
                            env=tool_environment(MLFLOW_TRACKING_URI=f"sqlite:///{project / 'mlflow.db'}"),
                            timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}").search_runs(
        ["1"], filter_string="params.`model.mlp.units` = '24'")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert runs[0].data.params["train.epochs"] == "1" and "test/accuracy" in runs[0].data.metrics
    assert runs[0].data.tags["mlflow.project.entryPoint"] == "main"
    assert runs[0].data.params["epochs"] == "1" and "" not in runs[0].data.params.values()  # no placeholders
    compared = subprocess.run(["mnistflow", "compare", "--format", "csv"], cwd=project, capture_output=True, text=True,
                              env=tool_environment(MLFLOW_TRACKING_URI=f"sqlite:///{project / 'mlflow.db'}"))
    assert compared.returncode == 0 and "test/accuracy" in compared.stdout.splitlines()[0], compared.stderr


def test_mlflow_run_leaves_the_workspace_and_refuses_another_experiment_in_one_line(project):
    params_before = (project / "params.yaml").read_text()
    environment = tool_environment(MLFLOW_TRACKING_URI=f"sqlite:///{project / 'mlflow.db'}")
    result = subprocess.run(["mlflow", "run", ".", "--env-manager", "local", "--experiment-name", "mnistflow",
                             "-P", "epochs=1", "-P", "units=20"], cwd=project, capture_output=True, text=True,
                            env=environment, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (project / "params.yaml").read_text() == params_before
    default = subprocess.run(["mlflow", "run", ".", "--env-manager", "local", "-P", "epochs=1"], cwd=project,
                             capture_output=True, text=True, env=environment, timeout=900)
    assert default.returncode != 0
    assert "error: run " in default.stderr and (
        "is in experiment 'Default', where `mnistflow compare` and `register` do not look; start it with "
        "`mlflow run . --experiment-name mnistflow ...`") in default.stderr, default.stderr[-3000:]
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    assert [run.info.status for run in client.search_runs(["0"])] == ["FAILED"]  # mlflow run ends its own run


def test_mlflow_run_honours_an_edited_params_file(project):
    edited = yaml.safe_load(before := (project / "params.yaml").read_text())
    edited["model"]["mlp"]["units"] = 20
    write_yaml(project / "params.yaml", edited)
    try:
        result = subprocess.run(["mlflow", "run", ".", "--env-manager", "local", "--experiment-name", "mnistflow"],
                                cwd=project, capture_output=True, text=True,
                                env=tool_environment(MLFLOW_TRACKING_URI=f"sqlite:///{project / 'mlflow.db'}"),
                                timeout=900)
    finally:  # the experiment ran in a copy: the workspace's lock still matches the params as they were
        (project / "params.yaml").write_text(before)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}").search_runs(
        ["1"], filter_string="tags.`mlflow.project.entryPoint` = 'main'", order_by=["attributes.start_time DESC"])
    assert runs[0].info.status == "FINISHED" and runs[0].data.params["model.mlp.units"] == "20"
    assert runs[0].data.params["train.epochs"] == str(edited["train"]["epochs"])


def test_label_audit_then_three_verdicts_flow_back_into_the_data(project):
    """crossval on: suspects for both splits; `mnistflow review`; three verdicts; `dvc repro` applies them."""
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["crossval"] = {"enabled": True, "folds": 2}
    write_yaml(project / "params.yaml", params)
    output = _repro(project)
    assert "Running stage 'crossval'" in output and "Running stage 'train'" not in output
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    parent = client.search_runs(["1"], "tags.crossval = 'parent'")[0]
    children = client.search_runs(["1"], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(run.data.tags["mlflow.runName"] for run in children) == ["fold 1/2", "fold 2/2"]
    assert {run.info.status for run in [parent, *children]} == {"FINISHED"}
    assert 0.3 < parent.data.metrics["crossval/accuracy"] < 1  # 2 folds of 1,000 images, 2 epochs
    errors = project / "reports" / "errors"
    assert (errors / "train_label_issues.png").is_file() and (errors / "label_issues.png").is_file()
    reviewed = subprocess.run(["mnistflow", "review"], cwd=project, capture_output=True, text=True,
                              env=tool_environment(), timeout=300)
    assert reviewed.returncode == 0 and "0 reviewed" in reviewed.stdout, reviewed.stderr[-2000:]
    lines = (project / "data" / "label_review.csv").read_text().splitlines()
    train_rows = [line for line in lines if line.startswith("train,")]
    test_rows = [line for line in lines if line.startswith("test,")]
    assert len(train_rows) == len(test_rows) == 20  # evaluate.label_issues_top_k of each split
    verdicts = {train_rows[0]: "relabel", train_rows[1]: "exclude", test_rows[0]: "relabel"}
    (project / "data" / "label_review.csv").write_text("\n".join(line + verdicts.get(line, "")
                                                                 for line in lines) + "\n")
    output = _repro(project)
    assert all(f"Running stage '{stage}'" in output for stage in ("prepare", "crossval", "train", "evaluate"))
    run = max((run for run in client.search_runs(["1"]) if "crossval" not in run.data.tags),
              key=lambda run: run.info.start_time)
    assert run.data.params["review.relabel_train"] == "1" and run.data.params["review.exclude_train"] == "1"
    assert run.data.metrics["review/relabel_test"] == 1
    assert {"test/accuracy", "test/accuracy_reviewed_labels"} <= set(run.data.metrics)
    assert run.data.metrics["test/images_reviewed_labels"] == 10000
    again = subprocess.run(["mnistflow", "review"], cwd=project, capture_output=True, text=True,
                           env=tool_environment(), timeout=300)
    assert again.returncode == 0 and "3 reviewed" in again.stdout, again.stderr[-2000:]
