"""Faults: SIGTERM, a tracking server that goes away, corrupt files. Nothing is lost or half-written."""

import contextlib
import errno
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from mnistflow.core import process
from mnistflow.stages import prepare

from conftest import (
    RAW_DATA,
    REPO,
    commit_all,
    free_port,
    interruptible,
    make_project,
    repro,
    small_params,
    tool_environment,
    write_yaml,
)

pytestmark = pytest.mark.slow


def _start(arguments: list[str], cwd: Path, store: str, extra: dict | None = None) -> subprocess.Popen:
    environment = tool_environment(MLFLOW_TRACKING_URI=store, **(extra or {}))
    return subprocess.Popen(arguments, cwd=cwd, env=environment, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True, preexec_fn=interruptible)


def _wait_for(condition, seconds: float = 240, poll: float = 0.5) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(poll)


def _running(client: MlflowClient) -> list:
    return client.search_runs(["1"], filter_string="attributes.status = 'RUNNING'") if \
        client.get_experiment_by_name("mnistflow") else []


def test_sigterm_during_training_ends_the_run_killed_without_outs(store, tmp_path):
    params = write_yaml(tmp_path / "params.yaml", small_params(train={"epochs": 5000}))
    prepare.main(["--params", str(params), "--raw", str(RAW_DATA), "--out", str(tmp_path / "prepared")])
    stage = _start([sys.executable, "-m", "mnistflow.stages.train", "--params", str(params), "--prepared",
                    "prepared", "--model", "model.keras", "--history", "history.csv", "--run-file", "run.json"],
                   tmp_path, store)
    client = MlflowClient()
    _wait_for(lambda: any(client.get_metric_history(run.info.run_id, "train/loss") for run in _running(client)))
    stage.send_signal(signal.SIGTERM)
    assert stage.wait(timeout=60) != 0
    runs = client.search_runs(["1"])
    assert [run.info.status for run in runs] == ["KILLED"]
    assert not any((tmp_path / name).exists() for name in ("model.keras", "history.csv", "run.json"))
    assert not list(tmp_path.glob(".model*")) and not list(tmp_path.glob(".run*"))


def test_sigterm_while_the_trained_model_is_logged_leaves_no_out_of_a_killed_run(store, tmp_path):
    """The signal lands after training, while the model is being logged: the run is KILLED with no outs, or
    (if the run had already ended) FINISHED with all of them."""
    epochs = 30
    params = write_yaml(tmp_path / "params.yaml", small_params(train={"epochs": epochs}))
    prepare.main(["--params", str(params), "--raw", str(RAW_DATA), "--out", str(tmp_path / "prepared")])
    stage = _start([sys.executable, "-m", "mnistflow.stages.train", "--params", str(params), "--prepared",
                    "prepared", "--model", "model.keras", "--history", "history.csv", "--run-file", "run.json"],
                   tmp_path, store)

    def history_written() -> bool:  # the whole history, at its place or beside it: training is over
        return any(len(path.read_text().splitlines()) == epochs + 1 for path in tmp_path.glob("*history*.csv"))

    _wait_for(history_written, poll=0.02)
    stage.send_signal(signal.SIGTERM)
    output = stage.communicate(timeout=120)[0]
    status = MlflowClient().search_runs(["1"])[0].info.status
    outs = [name for name in ("model.keras", "history.csv", "run.json") if (tmp_path / name).exists()]
    assert (status, outs) in (("KILLED", []), ("FINISHED", ["model.keras", "history.csv", "run.json"])), output
    assert not [path.name for path in tmp_path.glob(".*") if path.name.startswith((".model", ".history", ".run"))]


def test_sigterm_to_dvc_repro_keeps_the_previous_outs(tmp_path):
    project = make_project(tmp_path / "project")
    repro(project)
    commit_all(project)
    previous = {name: (project / "models" / name).read_bytes() for name in ("model.keras", "run.json", "history.csv")}
    locked_train = yaml.safe_load((project / "dvc.lock").read_text())["stages"]["train"]
    write_yaml(project / "params.yaml", small_params(train={"epochs": 5000}))
    store = f"sqlite:///{project / 'mlflow.db'}"
    dvc = subprocess.Popen(["dvc", "repro"], cwd=project, env=tool_environment(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)
    client = MlflowClient(tracking_uri=store)
    _wait_for(lambda: any(client.get_metric_history(run.info.run_id, "train/loss") for run in _running(client)))
    os.killpg(dvc.pid, signal.SIGTERM)
    output = dvc.communicate(timeout=120)[0]
    assert dvc.returncode != 0, output[-3000:]
    assert {name: (project / "models" / name).read_bytes() for name in previous} == previous
    lock = yaml.safe_load((project / "dvc.lock").read_text())["stages"]
    assert lock["train"] == locked_train  # crossval (off) may have finished; train's entry and outs stay
    dvc_status = subprocess.run(["dvc", "status", "train"], cwd=project, capture_output=True, text=True,
                                env=tool_environment()).stdout
    assert "modified:           train" in dvc_status and "deleted" not in dvc_status, dvc_status  # outs intact


def test_sigterm_during_a_study_leaves_no_run_running(store, tmp_path):
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "long.yaml").write_text("train.epochs: 5000\nprepare.train_limit: 3000\n")
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    study = _start(["mnistflow", "study", "--config", "long", "--seeds", "1-6", "--workers", "2",
                    "--data", str(RAW_DATA)], tmp_path, store)
    client = MlflowClient()
    _wait_for(lambda: len([run for run in _running(client) if "mlflow.parentRunId" in run.data.tags]) == 2)
    study.send_signal(signal.SIGTERM)
    study.wait(timeout=120)
    runs = client.search_runs(["1"])
    statuses = sorted(run.info.status for run in runs)
    assert statuses == ["KILLED", "KILLED", "KILLED"], [(run.info.run_name, run.info.status) for run in runs]


def test_server_going_away_mid_run_keeps_model_and_metrics_on_disk(tmp_path):
    import urllib.request

    port = free_port()
    server = subprocess.Popen([str(REPO / "scripts" / "tracking-server"), "--port", str(port), "--artifacts",
                               str(tmp_path / "artifacts"), "--sqlite", str(tmp_path / "server.db")], cwd=tmp_path,
                              env=tool_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    uri = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return urllib.request.urlopen(f"{uri}/health", timeout=2).status == 200
        except OSError:
            return False

    _wait_for(up, 120)
    params = write_yaml(tmp_path / "params.yaml", small_params(train={"epochs": 300}))
    prepare.main(["--params", str(params), "--raw", str(RAW_DATA), "--out", str(tmp_path / "prepared")])
    environment = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
    stage = _start([sys.executable, "-m", "mnistflow.stages.train", "--params", str(params), "--prepared",
                    "prepared", "--model", "model.keras", "--history", "history.csv", "--run-file", "run.json"],
                   tmp_path, uri, environment)
    client = MlflowClient(tracking_uri=uri)
    _wait_for(lambda: any(client.get_metric_history(run.info.run_id, "train/loss") for run in _running(client)))
    os.killpg(server.pid, signal.SIGKILL)
    server.wait()
    output = stage.communicate(timeout=600)[0]
    assert stage.returncode == 2, output[-3000:]
    error = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(error) == 1 and "the tracking store failed after training" in error[0], output[-5000:]
    assert "kept in model.keras and history.csv" in error[0]
    assert (tmp_path / "model.keras").is_file() and len((tmp_path / "history.csv").read_text().splitlines()) == 301
    assert not (tmp_path / "run.json").exists()  # the stage failed, so DVC records nothing and re-runs it


def test_corrupt_dvc_lock_and_params_are_named(tmp_path):
    project = make_project(tmp_path / "project")
    (project / "dvc.lock").write_text("schema: '2.0'\nstages: [unclosed\n")
    result = subprocess.run(["dvc", "repro"], cwd=project, capture_output=True, text=True, env=tool_environment())
    assert result.returncode != 0 and "dvc.lock" in result.stderr
    (project / "dvc.lock").unlink()
    (project / "params.yaml").write_text("prepare: {scale: [\n")
    result = subprocess.run(["dvc", "repro"], cwd=project, capture_output=True, text=True, env=tool_environment())
    assert result.returncode != 0 and "params.yaml" in result.stdout + result.stderr


def test_unwritable_artifact_folder_is_one_clear_error(tmp_path, monkeypatch):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "mlartifacts").write_text("a file where the artifact folder should be\n")
    params = write_yaml(tmp_path / "params.yaml", small_params(train={"epochs": 1}))
    prepare.main(["--params", str(params), "--raw", str(RAW_DATA), "--out", str(tmp_path / "prepared")])
    environment = {key: value for key, value in tool_environment().items() if key != "DVC_ROOT"}
    result = subprocess.run([sys.executable, "-m", "mnistflow.stages.train", "--prepared", "prepared", "--model",
                             "model.keras", "--history", "history.csv", "--run-file", "run.json"],
                            cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2, result.stderr[-3000:]
    error = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(error) == 1 and "the tracking store failed after training" in error[0]
    assert "mlartifacts" in error[0] and (tmp_path / "model.keras").is_file()


# ---- Signals: one run-ending path that a second signal cannot defeat --------------------------------------

def _train_stage(tmp_path: Path, store: str, epochs: int = 5000, **train: object) -> subprocess.Popen:
    params = write_yaml(tmp_path / "params.yaml", small_params(train={"epochs": epochs, **train}))
    prepare.main(["--params", str(params), "--raw", str(RAW_DATA), "--out", str(tmp_path / "prepared")])
    return _start([sys.executable, "-m", "mnistflow.stages.train", "--params", str(params), "--prepared",
                   "prepared", "--model", "model.keras", "--history", "history.csv", "--run-file", "run.json"],
                  tmp_path, store)


def _wait_for_training(client: MlflowClient) -> str:
    _wait_for(lambda: any(client.get_metric_history(run.info.run_id, "train/loss") for run in _running(client)))
    return _running(client)[0].info.run_id


@pytest.mark.parametrize("delay", [0.05, 0.3, 1.0])
@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_second_signal_cannot_leave_the_run_running_or_finished(store, tmp_path, signum, code, delay):
    stage = _train_stage(tmp_path, store)
    client = MlflowClient()
    run_id = _wait_for_training(client)
    stage.send_signal(signum)
    time.sleep(delay)
    stage.send_signal(signum)
    output = stage.communicate(timeout=120)[0]
    assert stage.returncode == code, output[-3000:]
    assert "Traceback" not in output and output.strip().splitlines()[-1] in ("interrupted", "terminated")
    assert client.get_run(run_id).info.status == "KILLED"
    assert not any((tmp_path / name).exists() for name in ("model.keras", "history.csv", "run.json"))


def _study(tmp_path: Path, store: str, config: str, seeds: str, workers: int = 2) -> subprocess.Popen:
    (tmp_path / "configs").mkdir(exist_ok=True)
    (tmp_path / "configs" / "job.yaml").write_text(config)
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    return _start(["mnistflow", "study", "--config", "job", "--seeds", seeds, "--workers", str(workers),
                   "--data", str(RAW_DATA)], tmp_path, store)


def _children(client: MlflowClient, status: str | None = None) -> list:
    runs = client.search_runs(["1"]) if client.get_experiment_by_name("mnistflow") else []
    return [run for run in runs if "mlflow.parentRunId" in run.data.tags and status in (None, run.info.status)]


@pytest.mark.parametrize("then_sigterm", [False, True])
def test_ctrl_c_to_a_study_ends_every_run_killed(store, tmp_path, then_sigterm):
    study = _study(tmp_path, store, "train.epochs: 5000\nprepare.train_limit: 3000\n", "1-6")
    client = MlflowClient()
    _wait_for(lambda: len(_children(client, "RUNNING")) == 2)
    os.killpg(study.pid, signal.SIGINT)  # a terminal's Ctrl-C reaches the study and its workers alike
    if then_sigterm:  # and then, while everything is stopping, SIGTERM to all of them (a closing terminal)
        time.sleep(0.1)
        os.killpg(study.pid, signal.SIGTERM)
    output = study.communicate(timeout=120)[0]
    assert study.returncode == 130 and "Traceback" not in output, output[-3000:]
    assert sorted(run.info.status for run in client.search_runs(["1"])) == ["KILLED"] * 3


def test_a_killed_study_worker_fails_its_job_and_the_study_goes_on(store, tmp_path):
    study = _study(tmp_path, store, "train.epochs: 150\nprepare.train_limit: 3000\n", "1-4")
    client = MlflowClient()
    _wait_for(lambda: len(_children(client, "RUNNING")) == 2)
    victim = _children(client, "RUNNING")[0]
    os.kill(int(victim.data.tags["mnistflow.pid"]), signal.SIGKILL)
    output = study.communicate(timeout=600)[0]
    assert study.returncode == 0, output[-3000:]
    assert "worker process died (exit code -9)" in output and "Traceback" not in output
    statuses = {run.info.run_id: run.info.status for run in _children(client)}
    assert statuses[victim.info.run_id] == "FAILED"
    assert sorted(statuses.values()) == ["FAILED", "FINISHED", "FINISHED", "FINISHED"]
    assert "RUNNING" not in {run.info.status for run in client.search_runs(["1"])}


def test_study_workers_die_with_a_killed_study(store, tmp_path):
    study = _study(tmp_path, store, "train.epochs: 5000\nprepare.train_limit: 3000\n", "1-4")
    client = MlflowClient()
    _wait_for(lambda: len(_children(client, "RUNNING")) == 2)
    workers = [int(run.data.tags["mnistflow.pid"]) for run in _children(client, "RUNNING")]
    os.kill(study.pid, signal.SIGKILL)
    study.wait(timeout=30)

    started = [process.start_time(pid) for pid in workers]
    _wait_for(lambda: not any(map(process.is_alive, workers, started)), 60)
    assert {run.info.status for run in _children(client)} == {"KILLED"}  # each worker ended its own run


def test_a_killed_run_is_found_stale_and_marked_killed(store, tmp_path):
    from typer.testing import CliRunner

    from mnistflow.cli import app

    stage = _train_stage(tmp_path, store)
    client = MlflowClient()
    run_id = _wait_for_training(client)
    stage.kill()  # SIGKILL: nothing in the process can end its run
    stage.wait(timeout=30)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    os.chdir(tmp_path)
    listed = CliRunner().invoke(app, ["runs", "--stale"])
    assert listed.exit_code == 0 and run_id in listed.stdout and "gone" in listed.stdout, listed.output
    marked = CliRunner().invoke(app, ["runs", "--mark-killed"])
    assert marked.exit_code == 0 and "1 stale run(s) marked KILLED" in marked.stdout
    assert client.get_run(run_id).info.status == "KILLED"


def test_a_dvc_repro_killed_by_timeout_takes_its_stage_along(tmp_path):
    project = make_project(tmp_path / "project")
    write_yaml(project / "params.yaml", small_params(train={"epochs": 5000}))
    store = f"sqlite:///{project / 'mlflow.db'}"
    environment = tool_environment()
    environment.pop("SHELL", None)  # as under CI: DVC runs the stage with /bin/sh (dash), which stays its parent
    dvc = subprocess.Popen(["dvc", "repro"], cwd=project, env=environment, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    client = MlflowClient(tracking_uri=store)
    _wait_for(lambda: (project / "mlflow.db").exists() and any(
        client.get_metric_history(run.info.run_id, "train/loss") for run in _running(client)))
    stage_pid = int(_running(client)[0].data.tags["mnistflow.pid"])
    stage_started = process.start_time(stage_pid)
    dvc.send_signal(signal.SIGKILL)  # what `timeout -s KILL` does; with SIGTERM DVC itself stops the stage
    dvc.wait(timeout=30)
    _wait_for(lambda: not process.is_alive(stage_pid, stage_started), 60)  # a zombie left to init counts as gone
    assert [run.info.status for run in client.search_runs(["1"])] == ["KILLED"]


# ---- The store: safe first use, repair, and disk faults ---------------------------------------------------

FIRST_USE = "from mnistflow import tracking; tracking.connect('race'); print('ok')"


@pytest.mark.parametrize("trial", range(5))
def test_four_concurrent_first_uses_of_a_fresh_store(tmp_path, trial):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    processes = [subprocess.Popen([sys.executable, "-c", FIRST_USE], cwd=tmp_path, env=tool_environment(),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(4)]
    outputs = [process.communicate(timeout=300)[0] for process in processes]
    assert [process.returncode for process in processes] == [0] * 4, outputs
    with contextlib.closing(sqlite3.connect(tmp_path / "mlflow.db")) as database:
        tables = [row[0] for row in database.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert not [name for name in tables if name.startswith("_alembic_tmp_")]
    assert MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}").get_experiment_by_name("race")


def test_a_store_broken_by_a_migration_race_is_repaired(tmp_path, capsys, monkeypatch):
    """tests/data/broken_store.db: what four unlocked first uses left behind (MLflow 3.17.2, 2026-11-29)."""
    from mnistflow import tracking

    shutil.copy(REPO / "tests" / "data" / "broken_store.db", tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(Exception, match="_alembic_tmp_"):  # the plain MLflow client cannot open it
        MlflowClient(tracking_uri=uri).search_experiments()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    tracking.connect("repaired", root=tmp_path)
    assert "repaired tracking store" in capsys.readouterr().err
    with tracking.active_run() as run_id:
        tracking.log_metrics({"x": 1.0})
    assert MlflowClient(tracking_uri=uri).get_run(run_id).info.status == "FINISHED"


def _evaluate_inputs(tmp_path: Path, store: str) -> list[str]:
    """A trained run to evaluate: prepared data, model, history and run file, like dvc repro leaves them."""
    stage = _train_stage(tmp_path, store, epochs=1)
    assert stage.wait(timeout=300) == 0, stage.stdout.read()[-3000:]
    return ["--params", str(tmp_path / "params.yaml"), "--prepared", "prepared", "--model", "model.keras",
            "--history", "history.csv", "--run-file", "run.json", "--metrics", "out/test_metrics.json", "--per-class",
            "out/per_class.csv", "--confusion", "out/confusion.csv", "--figures", "out/figures", "--errors",
            "out/errors"]


def _assert_evaluation_failed_cleanly(tmp_path: Path, code: int, error: str) -> None:
    assert code == 2 and "Traceback" not in error, error[-3000:]
    run_id = json.loads((tmp_path / "run.json").read_text())["run_id"]
    assert MlflowClient().get_run(run_id).info.status == "FAILED"
    assert not (tmp_path / "out" / "figures").exists() and not (tmp_path / "out" / "errors").exists()
    assert not list((tmp_path / "out").glob(".*"))  # no temporary folder or file left behind


def test_a_full_disk_during_evaluate_fails_the_run_and_leaves_no_partial_out(store, tmp_path):
    arguments = _evaluate_inputs(tmp_path, store)
    (tmp_path / "out").mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(tmp_path / "out")],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); the injected ENOSPC test covers it")
    try:
        result = subprocess.run([sys.executable, "-m", "mnistflow.stages.evaluate", *arguments], cwd=tmp_path,
                                env=tool_environment(MLFLOW_TRACKING_URI=store), capture_output=True, text=True,
                                timeout=300)
        assert "No space left on device" in result.stderr
        _assert_evaluation_failed_cleanly(tmp_path, result.returncode, result.stderr)
    finally:
        subprocess.run(["umount", str(tmp_path / "out")], check=False)


def test_an_injected_enospc_during_evaluate_fails_the_run_and_leaves_no_partial_out(store, tmp_path, monkeypatch,
                                                                                   capsys):
    from mnistflow.analysis import gallery
    from mnistflow.stages import evaluate

    arguments = _evaluate_inputs(tmp_path, store)
    real_save, saved = gallery.save, []

    def save_until_full(image, path):
        if len(saved) == 4:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_save(image, path)
        saved.append(path)

    monkeypatch.setattr(gallery, "save", save_until_full)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(arguments)
    error = capsys.readouterr().err
    assert "No space left on device" in error and len(error.strip().splitlines()) == 1
    _assert_evaluation_failed_cleanly(tmp_path, exit_info.value.code, error)


def test_sigterm_during_evaluate_leaves_no_partial_figures(store, tmp_path, monkeypatch):
    from mnistflow.analysis import gallery
    from mnistflow.stages import evaluate

    arguments = _evaluate_inputs(tmp_path, store)
    real_save, saved = gallery.save, []

    def save_then_terminate(image, path):
        real_save(image, path)
        saved.append(path)
        if len(saved) == 3:
            signal.raise_signal(signal.SIGTERM)  # SIGTERM arrives while the galleries are being written

    monkeypatch.setattr(gallery, "save", save_then_terminate)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(arguments)
    assert exit_info.value.code == 143 and len(saved) == 3
    run_id = json.loads((tmp_path / "run.json").read_text())["run_id"]
    assert MlflowClient().get_run(run_id).info.status == "KILLED"
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_ctrl_c_after_evaluation_while_it_is_logged_leaves_no_out_of_a_killed_run(store, tmp_path, monkeypatch):
    """The reports are all written and the run is being completed: Ctrl-C then leaves no out at all."""
    from mnistflow import tracking
    from mnistflow.stages import evaluate

    arguments = _evaluate_inputs(tmp_path, store)

    def interrupted(*_, **__):
        raise KeyboardInterrupt

    monkeypatch.setattr(tracking, "log_provenance", interrupted)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(arguments)
    assert exit_info.value.code == 130
    run_id = json.loads((tmp_path / "run.json").read_text())["run_id"]
    assert MlflowClient().get_run(run_id).info.status == "KILLED"
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())  # no out, no temporary


def test_a_billion_epochs_start_at_once_in_bounded_memory(store, tmp_path):
    stage = _train_stage(tmp_path, store, epochs=10**9)
    client = MlflowClient()
    started = time.monotonic()
    _wait_for_training(client)
    assert time.monotonic() - started < 120
    resident_kib = int(next(line.split()[1] for line in Path(f"/proc/{stage.pid}/status").read_text().splitlines()
                            if line.startswith("VmRSS:")))
    stage.send_signal(signal.SIGTERM)
    assert stage.wait(timeout=60) == 143
    assert resident_kib < 2_500_000  # TensorFlow and MLflow themselves; no per-epoch shuffles held
