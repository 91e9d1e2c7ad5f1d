"""`mnistflow ui`: MLflow's UI on the project's own store, light and quiet, opened at the project's view.

`mlflow ui` as it comes starts four web workers and seven GenAI job consumers (huey) that a local MNIST
project never uses, and each worker prints a StarletteDeprecationWarning. Here: one worker, no job runner,
deprecation warnings off, bound to loopback unless asked otherwise. Building the command needs no MLflow
import, so an existing store's server starts at once and the store is opened beside it.
"""

from __future__ import annotations

import os
import sys

from mnistflow.core.errors import UsageError
from mnistflow.tracking import views


def ui_command(uri: str, host: str, port: int, access_log: bool = False) -> tuple[list[str], dict[str, str]]:
    """The `mlflow ui` command line and environment for the project's store at `uri`; uvicorn's line per
    request only with `access_log` (a page view makes dozens)."""
    if uri.startswith(("http://", "https://")):
        raise UsageError(f"the tracking store is already a server: open {uri} in a browser")
    quiet = "ignore::DeprecationWarning,ignore:starlette.middleware.wsgi is deprecated"  # a UserWarning subclass
    environment = {**os.environ, "PYTHONWARNINGS": quiet,
                   "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port),
               "--workers", "1"]  # this Python's MLflow, whether or not its folder is on PATH
    return command + ([] if access_log else ["--uvicorn-opts", "--no-access-log"]), environment


def apply_views(experiment_id: str) -> None:
    """Give an experiment the project's runs view and UI mode, and its description unless it has one (an
    experiment made by an older mnistflow, or by hand)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    present = client.get_experiment(experiment_id).tags
    for key, value in views.experiment_tags().items():
        if key != views.DESCRIPTION_TAG or not present.get(key):
            client.set_experiment_tag(experiment_id, key, value)
