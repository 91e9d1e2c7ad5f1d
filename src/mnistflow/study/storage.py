"""Optuna's storage, beside MLflow's: `optuna.db` in the project, or the database MNISTFLOW_OPTUNA_STORAGE names
(a PostgreSQL server for a team). A new SQLite storage is created under a file lock beside it, as the MLflow
store is, so that two processes never migrate it at once."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from mnistflow.core.errors import TrackingError

STORAGE_VARIABLE = "MNISTFLOW_OPTUNA_STORAGE"
SQLITE_TIMEOUT_SECONDS = 60  # workers report every epoch while the driver asks and tells: writers wait their turn


def storage_url(root: Path) -> str:
    return os.environ.get(STORAGE_VARIABLE) or f"sqlite:///{root / 'optuna.db'}"


def open_storage(url: str) -> Any:
    """An Optuna RDB storage at `url`, created or migrated under a lock; a failure is one line naming it."""
    import optuna

    from mnistflow.core.paths import sqlite_path
    from mnistflow.tracking.store import describe, file_lock

    database = sqlite_path(url)
    engine = {"connect_args": {"timeout": SQLITE_TIMEOUT_SECONDS}} if database else {}
    try:
        if database is None:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine)
        if not database.parent.is_dir():
            raise TrackingError(f"optuna storage {url} is not usable: {database.parent} is not a folder")
        with file_lock(database.with_name(database.name + ".lock")):
            _check_intact(database)
            return optuna.storages.RDBStorage(url, engine_kwargs=engine)
    except TrackingError:
        raise
    except Exception as error:  # any database failure means the same thing to the user
        raise TrackingError(f"optuna storage {url} is not usable: {describe(error)} (set {STORAGE_VARIABLE} "
                            "to another database)") from None


def _check_intact(database: Path) -> None:
    """SQLite's quick check of an existing file: a damaged page fails here, not in the middle of a study."""
    import sqlite3

    if not database.is_file():
        return
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as connection:
            problem = connection.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as error:
        problem = str(error)
    if problem != "ok":
        first_line = problem.replace("*** in database main ***", "").strip().splitlines()[0]
        raise TrackingError(f"optuna storage {database} is damaged ({first_line}); move it away to start "
                            f"afresh, or set {STORAGE_VARIABLE} to another database")
