"""Four trainings writing to one embedded SQLite store at once: four complete runs, no lock errors."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from conftest import RAW_DATA, small_params, write_yaml
from mnistflow.stages import prepare

pytestmark = pytest.mark.slow


def test_four_concurrent_trainings_give_four_complete_runs(store, tmp_path):
    params = write_yaml(tmp_path / "params.yaml", small_params(train={"epochs": 3}))
    prepare.main(["--params", str(params), "--raw", str(RAW_DATA), "--out", str(tmp_path / "prepared")])
    environment = {**os.environ, "MLFLOW_TRACKING_URI": store}
    processes = [subprocess.Popen(
        [sys.executable, "-m", "mnistflow.stages.train", "--params", str(params), "--prepared", "prepared",
         "--model", f"m{k}.keras", "--history", f"h{k}.csv", "--run-file", f"r{k}.json"],
        cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for k in range(4)]
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0, 0], outputs
    assert not any("database is locked" in output for output in outputs)
    client = MlflowClient()
    runs = client.search_runs(["1"])
    assert len(runs) == 4 and {run.info.status for run in runs} == {"FINISHED"}
    for run in runs:
        assert len(client.get_metric_history(run.info.run_id, "val_accuracy")) == 3
        assert len(client.get_metric_history(run.info.run_id, "val_recall_9")) == 3
        assert "mnistflow.model_uri" in run.data.tags
    assert all(Path(tmp_path, f"m{k}.keras").is_file() for k in range(4))
