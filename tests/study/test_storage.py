"""Optuna's storage beside MLflow's: created safely when several processes open a new one at once."""

import multiprocessing

import pytest

from mnistflow.core.errors import TrackingError
from mnistflow.study.storage import STORAGE_VARIABLE, open_storage, storage_url


def _open(url: str) -> None:
    open_storage(url).get_all_studies()


@pytest.mark.slow
def test_processes_that_open_a_new_storage_at_once_all_succeed(tmp_path):
    """Unlocked, Optuna's first migration races: about one attempt in five had a process fail with
    `UNIQUE constraint failed: alembic_version.version_num`."""
    spawn = multiprocessing.get_context("spawn")
    for attempt in range(3):
        url = f"sqlite:///{tmp_path / f'optuna-{attempt}.db'}"
        processes = [spawn.Process(target=_open, args=(url,)) for _ in range(6)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=120)
        assert [process.exitcode for process in processes] == [0] * 6


def test_the_storage_is_the_projects_file_unless_the_environment_names_one(tmp_path, monkeypatch):
    monkeypatch.delenv(STORAGE_VARIABLE, raising=False)
    assert storage_url(tmp_path) == f"sqlite:///{tmp_path / 'optuna.db'}"
    monkeypatch.setenv(STORAGE_VARIABLE, "postgresql://team@db/optuna")
    assert storage_url(tmp_path) == "postgresql://team@db/optuna"


def test_an_unusable_storage_is_one_line(tmp_path):
    with pytest.raises(TrackingError, match="optuna storage sqlite:///.*/missing/optuna.db is not usable: "):
        open_storage(f"sqlite:///{tmp_path / 'missing' / 'optuna.db'}")
    (tmp_path / "garbage.db").write_text("not a database")
    with pytest.raises(TrackingError, match="garbage.db is damaged .*set MNISTFLOW_OPTUNA_STORAGE"):
        open_storage(f"sqlite:///{tmp_path / 'garbage.db'}")


def test_a_damaged_storage_is_one_line_before_the_study_opens(tmp_path):
    """A page of the file overwritten: SQLite's quick check names it, where Optuna would fail mid-study."""
    import optuna

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="s", storage=open_storage(url))
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
    data = bytearray((tmp_path / "optuna.db").read_bytes())
    data[4096:8192] = b"\x55" * 4096  # the second page: a b-tree page of one of Optuna's tables
    (tmp_path / "optuna.db").write_bytes(bytes(data))
    with pytest.raises(TrackingError, match=r"optuna.db is damaged \(.+\); move it away to start afresh") as raised:
        open_storage(url)
    assert "\n" not in str(raised.value)
