"""The model `predict` chose, remembered beside a local SQLite store, or for a tracking server.

While the store is unchanged, the same question ("which model for this name, URI and experiment?") has the
same answer, so `predict` runs the remembered model's ONNX copy without importing MLflow, which takes about
2 s of a 2.6 s `predict` on a local store and 5 s of 7 s through a server. Any write to a local store (a new
run, a new champion) changes SQLite's change counter or the files' sizes and times; for a server, three REST
requests tell whether the registered model (its versions, aliases, last update) or the experiment's newest
finished run changed. Either way the next `predict` then asks MLflow again. This module does not import MLflow.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from mnistflow.core import atomic, paths

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


def server_cache_file(uri: str) -> Path:
    return paths.user_cache() / f"predict-{hashlib.sha256(uri.encode()).hexdigest()[:16]}.json"


def server_state(uri: str, question: dict) -> list | None:
    """What changes whenever a tracking server's answer to `question` could: the registered model and the
    experiment's newest finished run; None when the server does not answer."""
    try:
        model = _rest(uri, "registered-models/get", {"name": question["name"]}).get("registered_model", {})
        experiment = _rest(uri, "experiments/get-by-name", {"experiment_name": question["experiment"]})
        experiment_id = experiment.get("experiment", {}).get("experiment_id")
        newest = _rest(uri, "runs/search", body={
            "experiment_ids": [experiment_id], "filter": "attributes.status = 'FINISHED'", "max_results": 1,
            "order_by": ["attributes.end_time DESC"]}).get("runs", []) if experiment_id else []
    except (OSError, ValueError):
        return None
    return [uri, model.get("last_updated_timestamp"), model.get("aliases"), model.get("latest_versions"),
            experiment_id, [run["info"]["run_id"] for run in newest]]


def _rest(uri: str, endpoint: str, query: dict | None = None, body: dict | None = None) -> dict:
    """One request to MLflow's REST API; {} for a resource that does not exist."""
    url = f"{uri.rstrip('/')}/api/2.0/mlflow/{endpoint}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return {}
        raise


def recall(file: Path, state: list | None, question: dict) -> Choice | None:
    """The answer to `question` remembered in `file`, if the store's state is the one it was made in and the
    model's files exist."""
    try:
        saved = json.loads(file.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("question") != question:
        return None
    if state is None or saved.get("store") != state or not Path(saved.get("folder", "")).is_dir():
        return None
    return saved["label"], Path(saved["folder"])


def remember(file: Path, question: dict, choice: Choice, before: list | None, after: list | None) -> bool:
    """Keep `choice` if the store did not change while it was made (its state `before` and `after`); a cache
    that cannot be written is simply not kept. True when kept."""
    if after is None or after != before:
        return False
    try:
        atomic.write_json(file, {"question": question, "store": after, "label": choice[0], "folder": str(choice[1])})
    except OSError:
        return False
    return True


def settled(state: list | None) -> bool:
    """A local store last written SETTLED_SECONDS ago or more: one written more recently could change again
    within one tick of the file clock."""
    return state is not None and time.time() - max(entry[2] for entry in state[1:]) / 1e9 >= SETTLED_SECONDS


def choose(uri: str, question: dict, ask: Callable[[], Choice]) -> Choice:
    """The remembered answer for the store at `uri` (a local SQLite file or a tracking server), else `ask()`
    (which asks MLflow), remembered for next time."""
    database = paths.sqlite_path(uri)
    if database is not None:
        file, state = cache_file(database), lambda: store_state(database)
    elif uri.startswith(("http://", "https://")):
        file, state = server_cache_file(uri), lambda: server_state(uri, question)
    else:
        return ask()
    before = state()
    found = recall(file, before, question)
    if found is not None:
        return found
    choice = ask()
    after = state()
    if database is None or settled(after):
        remember(file, question, choice, before, after)
    return choice
