"""The run lifecycle: always ended, signals held while ending, stale runs found."""

import signal

import mlflow
import pytest
from mlflow import MlflowClient

from mnistflow import tracking


def _status(run_id: str) -> str:
    return MlflowClient().get_run(run_id).info.status


def test_runs_end_finished_failed_or_killed(store, monkeypatch):
    from mnistflow.core.errors import raise_terminated

    previous = signal.signal(signal.SIGTERM, raise_terminated)  # as every entry point installs it
    try:
        tracking.connect("statuses")
        with tracking.active_run() as finished:
            tracking.log_metrics({"x": 1.0}, step=1)
        with pytest.raises(RuntimeError), tracking.active_run() as failed:
            raise RuntimeError("boom")
        with pytest.raises(KeyboardInterrupt), tracking.active_run() as interrupted:
            raise KeyboardInterrupt
        with pytest.raises(tracking.Terminated), tracking.active_run() as terminated:
            signal.raise_signal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)
    statuses = [_status(run_id) for run_id in (finished, failed, interrupted, terminated)]
    assert statuses == ["FINISHED", "FAILED", "KILLED", "KILLED"]
    assert MlflowClient().get_metric_history(finished, "x")[0].step == 1


def test_a_signal_while_the_run_ends_is_held_until_it_has_ended(store, monkeypatch):
    """A second Ctrl-C while the run is being ended can neither leave it RUNNING nor mark it FINISHED."""
    from mnistflow.tracking import runs

    tracking.connect("held")
    end_run = runs.mlflow.end_run

    def end_run_interrupted(status):
        signal.raise_signal(signal.SIGINT)  # the second Ctrl-C arrives exactly while the run is ended
        end_run(status)

    monkeypatch.setattr(runs.mlflow, "end_run", end_run_interrupted)
    with pytest.raises(KeyboardInterrupt), tracking.active_run() as interrupted:
        raise KeyboardInterrupt  # the first Ctrl-C
    assert _status(interrupted) == "KILLED"
    with pytest.raises(KeyboardInterrupt), tracking.active_run() as completed:
        pass  # the work completed; the Ctrl-C during the ending still stops the command afterwards
    assert _status(completed) == "FINISHED"
    assert mlflow.active_run() is None and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_runs_record_their_process_and_stale_ones_are_found(store):
    import subprocess
    import sys

    from mnistflow.tracking import runs

    experiment_id = tracking.connect("stale")
    with tracking.active_run() as alive:
        here = {run.run_id: run.process for run in runs.running_runs([experiment_id])}
        assert here == {alive: "alive"}
    script = ("import mlflow, os, sys; from mnistflow import tracking; tracking.connect('stale'); "
              "run = tracking.runs.mlflow.start_run(tags=tracking.runs.process_tags()); print(run.info.run_id); "
              "sys.stdout.flush(); os._exit(0)")  # a process that dies without ending its run
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    dead = result.stdout.strip().splitlines()[-1]
    states = {run.run_id: run.process for run in runs.running_runs([experiment_id])}
    assert states == {dead: "gone"}
    runs.mark_killed([dead])
    assert _status(dead) == "KILLED" and runs.running_runs([experiment_id]) == []


def test_system_metrics_by_default_quietly_off_when_asked_and_a_resumed_run_adds_no_monitor(store, monkeypatch,
                                                                                             capsys):
    import time

    monkeypatch.delenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", raising=False)
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.5")
    tracking.connect("system")
    with tracking.active_run() as run_id:
        deadline = time.monotonic() + 60  # the monitor samples every 0.5 s, later on a loaded machine
        while not MlflowClient().get_metric_history(run_id, "system/system_memory_usage_megabytes"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        time.sleep(0.6)  # and once more, so the other measures have a sample too
    metrics = MlflowClient().get_run(run_id).data.metrics
    assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= set(metrics)
    history = len(MlflowClient().get_metric_history(run_id, "system/cpu_utilization_percentage"))
    with tracking.active_run(run_id=run_id):  # evaluate resuming the training run
        time.sleep(1.5)
    assert len(MlflowClient().get_metric_history(run_id, "system/cpu_utilization_percentage")) == history
    monkeypatch.setenv("MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING", "false")
    with tracking.active_run() as plain:
        time.sleep(1.5)
    assert not [key for key in MlflowClient().get_run(plain).data.metrics if key.startswith("system/")]  # off
    captured = capsys.readouterr()
    assert "system metrics" not in captured.out + captured.err


def test_two_runs_logging_the_same_new_dataset_at_once_both_record_it(store):
    """MLflow's store looks a dataset up, then inserts it: both runs miss it here, and the later insert fails on
    the dataset's key (as two study workers did against the team server). Each run still records the dataset."""
    import threading

    import numpy as np
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    both_looked = threading.Barrier(2, timeout=60)
    waits = []

    def insert_after_both_looked(connection, cursor, statement, *_):
        if statement.startswith("INSERT INTO datasets") and len(waits) < 2:
            waits.append(statement)
            both_looked.wait()  # neither inserts before both have looked the dataset up

    images, labels = np.eye(10, 784, dtype=np.float32), np.arange(10)
    tracking.connect("same-dataset")
    run_ids: list[str] = []

    def log_in_a_run() -> None:
        with tracking.active_run() as run_id:
            run_ids.append(run_id)
            tracking.log_datasets({"train": (images, labels)}, "mnist")

    event.listen(Engine, "before_cursor_execute", insert_after_both_looked)
    try:
        threads = [threading.Thread(target=log_in_a_run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        event.remove(Engine, "before_cursor_execute", insert_after_both_looked)
    assert len(waits) == 2 and len(run_ids) == 2  # the race happened, in two runs
    for run_id in run_ids:
        run = MlflowClient().get_run(run_id)
        assert run.info.status == "FINISHED"
        assert [item.dataset.name for item in run.inputs.dataset_inputs] == ["mnist-train"]
