"""`predict`'s remembered choice of model: kept while the store is unchanged, dropped by any write to it."""

import json
import os
import sqlite3
import subprocess
import sys
import time

import numpy as np
from typer.testing import CliRunner

from mnistflow.cli import app
from mnistflow.core.paths import sqlite_path
from mnistflow.tracking import remembered_choice

from conftest import REPO, tool_environment

QUESTION = {"name": "mnist-digits", "model_uri": None, "experiment": "mnistflow"}
PREDICT_WITHOUT_MLFLOW_CHECK = """
import sys
from typer.testing import CliRunner
from mnistflow.cli import app
result = CliRunner().invoke(app, ["predict", "--json", *sys.argv[1:]])
assert result.exit_code == 0, result.output
print(result.stdout)
print(result.stderr.strip())
print("mlflow" in sys.modules)
"""


def _age(database, seconds: float = 60.0) -> None:
    """Date the store's last write `seconds` back, as for a store nobody wrote to in the last minute."""
    then = time.time() - seconds
    os.utime(database, (then, then))


def test_predict_remembers_its_model_without_mlflow_until_a_new_champion_is_registered(make_run, tmp_path,
                                                                                        raw_mnist):
    from mlflow import MlflowClient

    newest = make_run(0.9)
    database = sqlite_path(os.environ["MLFLOW_TRACKING_URI"])
    _age(database)
    np.save(tmp_path / "digit.npy", raw_mnist["x_test"][:1])
    asked = CliRunner().invoke(app, ["predict", "--json", str(tmp_path / "digit.npy")])
    label = f"model: run {MlflowClient().get_run(newest).info.run_name}"
    assert asked.exit_code == 0 and asked.stderr.strip() == label, asked.stderr
    assert remembered_choice.cache_file(database).is_file()

    remembered = subprocess.run([sys.executable, "-c", PREDICT_WITHOUT_MLFLOW_CHECK, str(tmp_path / "digit.npy")],
                                cwd=REPO, capture_output=True, text=True, timeout=300,
                                env=tool_environment(MLFLOW_TRACKING_URI=os.environ["MLFLOW_TRACKING_URI"]))
    assert remembered.returncode == 0, remembered.stderr[-3000:]
    *document, shown_label, mlflow_loaded = remembered.stdout.strip().splitlines()
    assert (shown_label, mlflow_loaded) == (label, "False")
    assert json.loads("\n".join(document)) == json.loads(asked.stdout)  # the same model's same answer

    assert CliRunner().invoke(app, ["register"]).exit_code == 0  # a write to the store: MLflow is asked again
    after = CliRunner().invoke(app, ["predict", str(tmp_path / "digit.npy")])
    assert after.exit_code == 0 and after.stderr.strip() == "model: mnist-digits v1 @champion", after.stderr


def _database(tmp_path):
    database = tmp_path / "store.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE runs (id INTEGER, status TEXT)")
        connection.execute("INSERT INTO runs VALUES (1, 'RUNNING')")
    connection.close()
    _age(database)
    return database


def test_a_write_that_keeps_size_and_time_still_changes_the_store_state(tmp_path):
    database = _database(tmp_path)
    before, status = remembered_choice.store_state(database), database.stat()
    with sqlite3.connect(database) as connection:  # same size; the file's time is set back below
        connection.execute("UPDATE runs SET status = 'KILLED' WHERE id = 1")
    connection.close()
    os.utime(database, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert database.stat().st_size == status.st_size and database.stat().st_mtime_ns == status.st_mtime_ns
    assert remembered_choice.store_state(database) != before  # SQLite's change counter moved


def test_a_choice_is_recalled_only_for_the_same_question_an_unchanged_store_and_existing_files(tmp_path):
    database, folder = _database(tmp_path), tmp_path / "model"
    folder.mkdir()
    file, state = remembered_choice.cache_file(database), remembered_choice.store_state(database)
    assert remembered_choice.remember(file, QUESTION, ("run a", folder), state, state)

    def recall(question=QUESTION):
        return remembered_choice.recall(file, remembered_choice.store_state(database), question)

    assert recall() == ("run a", folder)
    assert recall(QUESTION | {"experiment": "other"}) is None
    folder.rmdir()
    assert recall() is None
    folder.mkdir()
    with sqlite3.connect(database) as connection:
        connection.execute("INSERT INTO runs VALUES (2, 'FINISHED')")
    connection.close()
    assert recall() is None


def test_a_choice_made_while_the_store_changed_or_just_after_a_write_is_not_remembered(tmp_path):
    database, folder = _database(tmp_path), tmp_path / "model"
    folder.mkdir()
    file, before = remembered_choice.cache_file(database), remembered_choice.store_state(database)
    with sqlite3.connect(database) as connection:  # another process writes while the choice is made
        connection.execute("INSERT INTO runs VALUES (2, 'FINISHED')")
    connection.close()
    after = remembered_choice.store_state(database)
    assert not remembered_choice.remember(file, QUESTION, ("run a", folder), before, after)
    # the write is not a minute old: one more within the same tick of the file clock could go unseen
    assert not remembered_choice.settled(after)
    asked = []
    choice = remembered_choice.choose(f"sqlite:///{database}", QUESTION, lambda: asked.append(1) or ("run b", folder))
    assert choice == ("run b", folder) and asked == [1] and not file.exists()
