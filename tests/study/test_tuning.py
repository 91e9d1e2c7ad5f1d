"""A tune's guards, each one line before any study opens or anything trains: its name, a tune of the same name
running, and a tuned configuration that another tune wrote."""

import fcntl
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mnistflow.cli import app

from conftest import RAW_DATA, REPO, tool_environment

SPACE = "space:\n  model.mlp.units: {low: 8, high: 16}\n"


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    (tmp_path / "tune.yaml").write_text(SPACE)
    return tmp_path


def _tune(*arguments: str):
    return CliRunner().invoke(app, ["tune", "--trials", "1", "--data", str(RAW_DATA), *arguments])


@pytest.mark.parametrize("name", ["../../../x", "a/b", "", ".hidden", "x" * 65])
def test_a_name_that_is_not_a_plain_word_is_refused(project, name):
    result = _tune("--name", name)
    assert result.exit_code == 2 and result.stderr.startswith("error: --name must be 1-64 letters"), result.stderr
    assert sorted(path.name for path in project.parent.rglob(".mnistflow-tune-*")) == []


def test_a_tune_of_the_same_name_running_is_one_line_at_once(project):
    with open(project / ".mnistflow-tune-same.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # what the running tune holds
        result = subprocess.run(["mnistflow", "tune", "--trials", "1", "--data", str(RAW_DATA), "--name", "same"],
                                cwd=project, env=tool_environment(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.endswith("error: tune study 'same' is running in another process of this project; wait for "
                                  "it to end, or start another with --name\n"), result.stderr


def test_a_tuned_configuration_of_another_tune_is_kept(project):
    tuned = project / "configs" / "tuned.yaml"
    tuned.parent.mkdir()
    tuned.write_text((REPO / "configs" / "tuned.yaml").read_text())
    result = _tune()
    assert result.exit_code == 2 and "configs/tuned.yaml holds the best trial of another tune" in result.stderr
    assert tuned.read_text() == (REPO / "configs" / "tuned.yaml").read_text()
    assert not (project / "mlflow.db").exists()  # no run, and no study in Optuna's storage:
    from mnistflow.study.storage import open_storage

    assert open_storage(f"sqlite:///{project / 'optuna.db'}").get_all_studies() == []
