"""Creating the tracking store safely and connecting to an experiment. `core.paths` says where the store is;
``MLFLOW_EXPERIMENT_NAME`` overrides the experiment name from params.yaml.

MLflow migrates a new SQLite store on first use; two processes doing that at once break it. Here the
first use happens under an inter-process file lock, and a store that such a race already broke (tables
``_alembic_tmp_*`` left behind) is repaired under the same lock before use.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import sqlite3
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import mlflow

from mnistflow.core.errors import MnistflowError, TrackingError, UsageError
from mnistflow.core.paths import default_tracking_uri, require_project_root, sqlite_path, tracking_uri
from mnistflow.tracking import views

# What a failing store raises: MLflow's errors, connection errors (OSErrors), and this package's.
STORE_FAILURES = (MnistflowError, mlflow.exceptions.MlflowException, OSError)
# A tracking server that accepts connections but never answers must not hang a command for minutes.
HTTP_DEFAULTS = (("MLFLOW_HTTP_REQUEST_TIMEOUT", "10"), ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1"))


NOISE_PREFIXES = ("(raised as a result of", "[SQL:", "[parameters:", "(Background on this error", "Traceback",
                  "File ", "^")


# How an upload to the server's artifact endpoint ended, by the words of urllib3's last error. A server that
# answers HTTP 500 without reading the upload then closes the connection, and a retry sent on it just before
# the close ends in "Connection aborted" instead of a second 500.
ARTIFACT_ANSWERS = {"too many 500 error": "HTTP 500", "Read timed out": "no answer in time",
                    "Connection aborted": "connection closed by the server"}


def describe(error: BaseException) -> str:
    """The telling line of an error's message, for one-line reports (SQLAlchemy's notes skipped)."""
    artifact_failure = re.search(r"API request to (\S+/mlflow-artifacts/\S+) failed .*?"
                                 f"({'|'.join(ARTIFACT_ANSWERS)})", str(error))
    if artifact_failure:  # the server took the request but could not store the bytes, or hung trying
        answer = ARTIFACT_ANSWERS[artifact_failure.group(2)]
        return (f"the tracking server failed to store an artifact ({answer} for {artifact_failure.group(1)[:120]}): "
                "its artifact store may be down; see the server's log")
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    telling = [line for line in lines if not line.startswith(NOISE_PREFIXES)]
    return (telling or lines or [type(error).__name__])[0][:300]


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """For a tracking server, fail fast on /health instead of after MLflow's minutes of retries."""
    if not uri.startswith(("http://", "https://")):
        return
    for variable, value in HTTP_DEFAULTS:
        os.environ.setdefault(variable, value)
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as response:
            response.read()
    except (OSError, ValueError) as error:
        raise TrackingError(f"tracking server {uri} is unreachable ({describe(error)}); "
                            "start it or unset MLFLOW_TRACKING_URI") from None


@contextlib.contextmanager
def file_lock(path: Path, busy: str | None = None) -> Iterator[None]:
    """An exclusive inter-process lock held while the block runs (released if the process dies). With `busy`,
    a lock that another process holds is that one-line UsageError at once, instead of a wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (fcntl.LOCK_NB if busy else 0))
        except BlockingIOError:
            raise UsageError(busy or str(path)) from None
        yield


@contextlib.contextmanager
def _store_lock(database: Path, uri: str) -> Iterator[None]:
    """The lock beside a SQLite store; a read-only folder has none, and then no store can be created there."""
    try:
        handle = open(database.with_name(database.name + ".lock"), "a")  # noqa: SIM115 - closed below
    except OSError as error:
        if not database.is_file():
            raise TrackingError(f"tracking store {uri} cannot be created: {describe(error)}") from None
        handle = None
    if handle is None:
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def repair_interrupted_migration(database: Path) -> list[str]:
    """Undo what a migration interrupted mid-table left behind; return the tables repaired.

    Alembic rebuilds a SQLite table as: create `_alembic_tmp_X`, copy X into it, drop X, rename. If X still
    exists the copy is surplus and is dropped; if X is gone the copy holds its rows and takes its name back.
    MLflow then re-runs the migration from the recorded version.
    """
    if not database.is_file():
        return []
    with contextlib.closing(sqlite3.connect(database)) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        leftovers = sorted(name for name in tables if name.startswith("_alembic_tmp_"))
        for leftover in leftovers:
            original = leftover.removeprefix("_alembic_tmp_")
            connection.execute(f'DROP TABLE "{leftover}"' if original in tables
                               else f'ALTER TABLE "{leftover}" RENAME TO "{original}"')
        connection.commit()
    return leftovers


def open_sqlite_store(uri: str) -> None:
    """Create or migrate a SQLite store under a file lock beside it, repairing an interrupted migration."""
    database = sqlite_path(uri)
    if database is None:
        return
    if not database.parent.is_dir():
        raise TrackingError(f"tracking store {uri} is not usable: {database.parent} is not a folder")
    with _store_lock(database, uri):
        try:
            repaired = repair_interrupted_migration(database)
            mlflow.MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
        except Exception as error:  # any database failure means the same thing to the user
            raise TrackingError(f"tracking store {uri} is not usable: {describe(error)}") from None
    if repaired:
        print(f"repaired tracking store {database}: removed what an interrupted migration left "
              f"({', '.join(repaired)})", file=sys.stderr)


def _check_experiment(found, uri: str, root: Path) -> None:
    if found.lifecycle_stage == "deleted":
        raise TrackingError(f"experiment {found.name!r} is deleted in the tracking store {uri}; restore it "
                            f"(mlflow experiments restore --experiment-id {found.experiment_id}) or choose "
                            "another name")
    location = found.artifact_location or ""
    if uri == default_tracking_uri(root) and location.startswith("file:") and \
            not Path(urllib.request.url2pathname(location.removeprefix("file://"))).resolve().is_relative_to(
                root.resolve()):
        raise TrackingError(f"experiment {found.name!r} in {uri} keeps its artifacts in {location}, outside this "
                            f"project ({root}): a copied project would write into another's; delete the "
                            "copied mlflow.db or set MLFLOW_TRACKING_URI")


QUIET_MLFLOW = {"MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}


def use_store(root: Path) -> str:
    """Point MLflow at the project's store (checked reachable, created safely); return its URI."""
    # MLflow's database layer logs each failure with a traceback, and its first use with INFO lines; the
    # failures reach the user as one TrackingError line instead.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # "Context impl SQLiteImpl", "Running upgrade ..."
    # Through a server, MLflow prints a "🏃 View run ..." pair at every run's end and a bar for each download.
    for variable, value in QUIET_MLFLOW.items():
        os.environ.setdefault(variable, value)
    uri = tracking_uri(root)
    check_reachable(uri)
    open_sqlite_store(uri)
    mlflow.set_tracking_uri(uri)
    return uri


def connect(experiment: str, root: Path | None = None, create: bool = True) -> str:
    """Point MLflow at the store and experiment; create the experiment if asked; return its id."""
    root = root or require_project_root()
    uri = use_store(root)
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or experiment
    try:
        found = mlflow.get_experiment_by_name(name)
        if found is None and create:
            # The embedded store keeps artifacts beside it; a server or other store decides for itself.
            artifacts = (root / "mlartifacts").as_uri() if uri == default_tracking_uri(root) else None
            with contextlib.suppress(mlflow.exceptions.MlflowException):  # lost a creation race: fine
                mlflow.create_experiment(name, artifact_location=artifacts, tags=views.experiment_tags())
            found = mlflow.get_experiment_by_name(name)
    except Exception as error:  # any transport or database failure means the same thing to the user
        raise TrackingError(f"tracking store {uri} is not usable: {describe(error)}") from None
    if found is None:
        raise TrackingError(f"no experiment named {name!r} in the tracking store {uri}")
    _check_experiment(found, uri, root)
    mlflow.set_experiment(experiment_id=found.experiment_id)
    return found.experiment_id
