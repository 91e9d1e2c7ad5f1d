"""The model `predict` chose, remembered beside a local SQLite store.

While the store is unchanged, the same question ("which model for this name, URI and experiment?") has the
same answer, so `predict` runs the remembered model's ONNX copy without importing MLflow, which takes about
2 s of a 2.6 s `predict`. Any write to the store (a new run, a new champion) changes SQLite's change counter
or the files' sizes and times, and the next `predict` asks MLflow again. This module does not import MLflow.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from mnistflow.core import atomic

Choice = tuple[str, Path]  # how messages name the model, and the folder of its files
SETTLED_SECONDS = 2.0  # a store written this recently could change again within one tick of the file clock


def cache_file(database: Path) -> Path:
    return database.with_name(database.name + "-predict.json")


def store_state(database: Path) -> list | None:
    """What changes whenever the store does: SQLite's file change counter (header bytes 24-27), and the size,
    time and inode of the database and of its write-ahead log; None when the store cannot be read."""
    try:
        with open(database, "rb") as handle:
            state: list = [handle.read(28)[24:].hex()]
        for path in (database, database.with_name(database.name + "-wal")):
            if path.exists():
                status = path.stat()
                state.append([path.name, status.st_size, status.st_mtime_ns, status.st_ino])
    except OSError:
        return None
    return state


def recall(database: Path, question: dict) -> Choice | None:
    """The remembered answer to `question`, if the store has not changed since and the model's files exist."""
    try:
        saved = json.loads(cache_file(database).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("question") != question:
        return None
    if saved.get("store") != store_state(database) or not Path(saved.get("folder", "")).is_dir():
        return None
    return saved["label"], Path(saved["folder"])


def remember(database: Path, question: dict, choice: Choice, before: list | None) -> bool:
    """Keep `choice` if the store did not change while it was made (`before` is the state from just before)
    and has settled; a store in a read-only folder is simply not remembered. True when kept."""
    after = store_state(database)
    if after is None or after != before or time.time() - max(entry[2] for entry in after[1:]) / 1e9 < SETTLED_SECONDS:
        return False
    try:
        atomic.write_json(cache_file(database), {"question": question, "store": after, "label": choice[0],
                                                 "folder": str(choice[1])})
    except OSError:
        return False
    return True


def choose(database: Path | None, question: dict, ask: Callable[[], Choice]) -> Choice:
    """The remembered answer for a local store, else `ask()` (which asks MLflow), remembered for next time."""
    if database is None:
        return ask()
    found = recall(database, question)
    if found is not None:
        return found
    before = store_state(database)
    choice = ask()
    remember(database, question, choice, before)
    return choice
