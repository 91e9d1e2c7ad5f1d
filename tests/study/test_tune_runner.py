"""`mnistflow tune` end to end on small data: pruning, parallel trials, interruption, resume, replay through dvc."""

import contextlib
import json
import signal
import subprocess
import time
from pathlib import Path

import optuna
import psutil
import pytest
import yaml
from mlflow import MlflowClient
from typer.testing import CliRunner

from mnistflow.cli import app

from conftest import RAW_DATA, commit_all, interruptible, make_project, small_params, tool_environment, write_yaml

pytestmark = pytest.mark.slow


def _project(folder: Path, tune: str, **sections) -> Path:
    folder.mkdir(exist_ok=True)
    command = f"python -m mnistflow.stages.prepare --raw {RAW_DATA}"
    (folder / "dvc.yaml").write_text(f"stages:\n  prepare:\n    cmd: {command}\n")
    write_yaml(folder / "params.yaml", small_params(**sections))
    (folder / "tune.yaml").write_text(tune)
    return folder


def _trials(folder: Path, name: str) -> list:
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{folder / 'optuna.db'}")
    return study.get_trials(deepcopy=False)


def _children(client: MlflowClient, name: str) -> list:
    return client.search_runs(["1"], filter_string=f"tags.`tune.name` = '{name}'")


# Trials with threshold 0.0001 do not collapse; with 0.999 nearly every class is "collapsed" from epoch 1 on.
PLANTED = """
base: {train.epochs: 4}
space:
  diagnostics.collapse_threshold: {choices: [0.0001, 0.999]}
  model.mlp.units: {low: 8, high: 32}
pruning: {collapse_epochs: 2, pruner: none}
"""


def test_a_planted_collapse_is_pruned_and_parallel_trials_are_distinct_runs(store, tmp_path, monkeypatch):
    monkeypatch.chdir(_project(tmp_path, PLANTED))
    result = CliRunner().invoke(app, ["tune", "--trials", "6", "--workers", "2", "--name", "planted"])
    assert result.exit_code == 0, result.stderr
    trials = _trials(tmp_path, "planted")
    by_state = {state: [trial for trial in trials if trial.state.name == state] for state in ("COMPLETE", "PRUNED")}
    assert len(trials) == 6 and by_state["COMPLETE"] and by_state["PRUNED"]
    assert {trial.params["diagnostics.collapse_threshold"] for trial in by_state["PRUNED"]} == {0.999}
    assert {trial.params["diagnostics.collapse_threshold"] for trial in by_state["COMPLETE"]} == {0.0001}
    assert {len(trial.intermediate_values) for trial in by_state["PRUNED"]} == {2}  # 2 of 4 epochs trained
    client = MlflowClient()
    runs = {run.info.run_id: run for run in _children(client, "planted") if "tune.trial" in run.data.tags}
    assert sorted(trial.user_attrs["run_id"] for trial in trials) == sorted(runs)  # one distinct run per trial
    assert {run.info.status for run in runs.values()} == {"FINISHED"}
    for trial in by_state["PRUNED"]:
        run = runs[trial.user_attrs["run_id"]]
        assert "collapsed (validation recall < 0.999) for 2 epochs in a row" in run.data.tags["tune.pruned"]
        assert "test/accuracy" not in run.data.metrics
        assert len(client.get_metric_history(run.info.run_id, "val/accuracy")) == 2
    assert {run.data.params["train.seed"] for run in runs.values()} == {str(t.user_attrs["seed"]) for t in trials}
    tuned = yaml.safe_load((tmp_path / "configs" / "tuned.yaml").read_text())
    assert tuned["diagnostics.collapse_threshold"] == 0.0001 and "train.seed" in tuned
    parent = next(run for run in _children(client, "planted") if "tune.trial" not in run.data.tags)
    assert parent.data.metrics["tune/trials_pruned"] == len(by_state["PRUNED"])
    assert {item.path for item in client.list_artifacts(parent.info.run_id, "tune")} >= {
        "tune/trials.csv", "tune/optimization_history.png", "tune/learning_curves.png", "tune/search_space.json"}
    again = CliRunner().invoke(app, ["tune", "--trials", "6", "--workers", "2", "--name", "planted"])
    assert again.exit_code == 2 and "--resume continues it" in again.stderr


def _start(folder: Path, *arguments: str) -> subprocess.Popen:
    with open(folder / "tune.log", "a") as log:
        return subprocess.Popen(["mnistflow", "tune", "--workers", "1", "--name", "long", "--trials", "4", *arguments],
                                cwd=folder, env=tool_environment(), stdout=log, stderr=log, preexec_fn=interruptible)


def _trial_in_training(folder: Path, process: subprocess.Popen, deadline: float = 300) -> int:
    """The number of a trial that has reported an epoch and is still RUNNING: a trial mid-training."""
    ends = time.monotonic() + deadline
    while time.monotonic() < ends and process.poll() is None:
        with contextlib.suppress(KeyError):  # the study is not created yet
            running = [trial.number for trial in _trials(folder, "long")
                       if trial.state.name == "RUNNING" and trial.intermediate_values]
            if running:
                return running[0]
        time.sleep(0.1)
    raise AssertionError(f"no trial in training within {deadline} s (exit {process.poll()})")


def _state(folder: Path, number: int) -> str:
    return _trials(folder, "long")[number].state.name


def _nothing_running(folder: Path) -> None:
    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    assert not [run.info.run_name for run in _children(client, "long") if run.info.status == "RUNNING"]
    assert not [trial.number for trial in _trials(folder, "long") if trial.state.name == "RUNNING"]


def test_sigterm_kill_and_resume_leave_no_run_or_trial_running(tmp_path):
    """SIGTERM: the trial in training ends FAIL and its run KILLED at once. A killed worker: its trial fails and
    the tune goes on. SIGKILL: the resumed study ends what the dead one left RUNNING. The study still reaches
    its trial count."""
    space = "space:\n  model.mlp.units: {low: 8, high: 32}\npruning: {collapse_epochs: 0, pruner: none}\n"
    folder = _project(tmp_path, space, train={"epochs": 8})
    tune = _start(folder)
    terminated = _trial_in_training(folder, tune)
    tune.send_signal(signal.SIGTERM)
    assert tune.wait(timeout=120) == 143
    _nothing_running(folder)
    assert _state(folder, terminated) == "FAIL"

    tune = _start(folder, "--resume")
    killed = _trial_in_training(folder, tune)
    worker = next(child for child in psutil.Process(tune.pid).children() if "spawn" in " ".join(child.cmdline()))
    worker.kill()  # its trial fails; a new worker takes the rest
    for _ in range(600):
        if _state(folder, killed) != "RUNNING":
            break
        time.sleep(0.1)
    assert _state(folder, killed) == "FAIL"
    abandoned = _trial_in_training(folder, tune)
    tune.kill()  # the driver dies without a word; its worker gets SIGTERM and ends its run KILLED
    tune.wait(timeout=60)
    psutil.wait_procs(psutil.Process().children(recursive=True), timeout=30)
    assert _state(folder, abandoned) == "RUNNING"

    resumed = subprocess.run(["mnistflow", "tune", "--workers", "1", "--name", "long", "--trials", "4", "--resume"],
                             cwd=folder, env=tool_environment(), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming: 1 trial(s) left RUNNING by a process that is gone, now FAIL" in resumed.stderr
    _nothing_running(folder)
    states = [trial.state.name for trial in _trials(folder, "long")]
    assert states.count("COMPLETE") == 4 and states.count("FAIL") == 3, states


def test_the_tuned_configuration_replays_bit_for_bit_through_dvc(tmp_path):
    project = make_project(tmp_path / "project")
    write_yaml(project / "params.yaml", small_params(model={"mlp": {"units": 32}}))
    (project / "tune.yaml").write_text("space:\n  train.learning_rate: {low: 0.0005, high: 0.005, log: true}\n")
    commit_all(project)
    tuned = subprocess.run(["mnistflow", "tune", "--trials", "2", "--workers", "2"], cwd=project,
                           env=tool_environment(), capture_output=True, text=True, timeout=600)
    assert tuned.returncode == 0, tuned.stderr[-3000:]
    replay = subprocess.run(["mnistflow", "experiment", "tuned"], cwd=project, env=tool_environment(),
                            capture_output=True, text=True, timeout=900)
    assert replay.returncode == 0, replay.stderr[-3000:]
    best = max((trial for trial in _trials(project, "tune") if trial.state.name == "COMPLETE"),
               key=lambda trial: trial.value)
    metrics = json.loads((project / "reports" / "test_metrics.json").read_text())
    assert metrics["accuracy"] == best.user_attrs["test_accuracy"]
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    replayed = client.get_run(json.loads((project / "models" / "run.json").read_text())["run_id"])
    trial_run = client.get_run(best.user_attrs["run_id"])
    assert replayed.data.metrics["test/loss"] == trial_run.data.metrics["test/loss"]
    assert replayed.data.params["train.seed"] == trial_run.data.params["train.seed"]


def test_tune_on_a_local_ray_instance_runs_exactly_the_trials_asked(store, tmp_path, monkeypatch):
    pytest.importorskip("ray", reason="pip install ray (the 'cluster' extra)")
    monkeypatch.chdir(_project(tmp_path, "space:\n  model.mlp.units: {low: 8, high: 32}\n"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    result = CliRunner().invoke(app, ["tune", "--executor", "ray", "--trials", "3", "--workers", "2", "--name", "ray"])
    assert result.exit_code == 0, result.stderr
    trials = _trials(tmp_path, "ray")
    assert [trial.state.name for trial in trials] == ["COMPLETE"] * 3
    runs = [run for run in _children(MlflowClient(), "ray") if "tune.trial" in run.data.tags]
    assert sorted(run.data.tags["tune.trial"] for run in runs) == ["0", "1", "2"]
