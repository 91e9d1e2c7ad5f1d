"""`mnistflow ui`: MLflow's UI on the project's own store, light and quiet.

`mlflow ui` as it comes starts four web workers and seven GenAI job consumers (huey) that a local MNIST
project never uses, and each worker prints a StarletteDeprecationWarning. Here: one worker, no job runner,
deprecation warnings off, bound to loopback unless asked otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

from mnistflow.core.errors import UsageError
from mnistflow.tracking.store import use_store


def ui_command(root: Path, host: str, port: int) -> tuple[list[str], dict[str, str]]:
    """The `mlflow ui` command line and environment for the project's store (created safely first)."""
    uri = use_store(root)
    if uri.startswith(("http://", "https://")):
        raise UsageError(f"the tracking store is already a server: open {uri} in a browser")
    quiet = "ignore::DeprecationWarning,ignore:starlette.middleware.wsgi is deprecated"  # a UserWarning subclass
    environment = {**os.environ, "PYTHONWARNINGS": quiet,
                   "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    return ["mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port), "--workers", "1"], \
        environment
