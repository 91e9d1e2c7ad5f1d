"""Four trainings writing to one embedded SQLite store at once: four complete runs, no lock errors."""

from pathlib import Path

import pytest
from mlflow import MlflowClient

from conftest import concurrent_trainings

pytestmark = pytest.mark.slow


def test_four_concurrent_trainings_give_four_complete_runs(store, tmp_path):
    outputs = concurrent_trainings(tmp_path, epochs=3, MLFLOW_TRACKING_URI=store)
    assert not any("database is locked" in output for output in outputs)
    client = MlflowClient()
    runs = client.search_runs(["1"])
    assert len(runs) == 4 and {run.info.status for run in runs} == {"FINISHED"}
    for run in runs:
        assert len(client.get_metric_history(run.info.run_id, "val/accuracy")) == 3
        assert len(client.get_metric_history(run.info.run_id, "val_recall/9")) == 3
        assert "mnistflow.model_uri" in run.data.tags
    assert all(Path(tmp_path, f"m{k}.keras").is_file() for k in range(4))
