"""`mnistflow serve`: MLflow's scoring server on a registered model, bound to loopback, without the lines
TensorFlow's native libraries print while they load (oneDNN, the CUDA stub, cuInit)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import IO

from mnistflow.core.process import run_group
from mnistflow.tracking.store import use_store

# What TensorFlow 2.21 prints from C++ before absl logging starts: `I0000 00:00:... port.cc:153] ...` lines,
# the absl banner, and the CPU-instructions note that follows cpu_feature_guard's line.
NATIVE_NOISE = re.compile(r"^(?:[IWE]\d{4} [\d:.]+ +\d+ \w+\.cc:\d+\]|WARNING: All log messages before absl|"
                          r"To enable the following instructions:)")


def serve_command(root: Path, model_uri: str, host: str, port: int) -> tuple[list[str], dict[str, str]]:
    """The command line and environment: the project's store (created safely first), quiet TensorFlow, no
    download progress bars, and the scoring server that checks the pixels (`mnistflow.tracking.scoring`)."""
    uri = use_store(root)  # sets MLflow's quiet defaults (store.QUIET_MLFLOW) in this environment too
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MLFLOW_TRACKING_URI": uri}
    return [sys.executable, "-m", "mnistflow.tracking.scoring", model_uri, host, str(port)], environment


def filtered(lines: IO[str], sink: IO[str]) -> None:
    """Copy lines to `sink`, leaving out TensorFlow's native start-up noise."""
    for line in lines:
        if not NATIVE_NOISE.match(line):
            sink.write(line)
            sink.flush()


def serve(root: Path, model_uri: str, host: str, port: int) -> int:
    """Run the scoring server until it stops; Ctrl-C or SIGTERM here stops it with all its children."""
    command, environment = serve_command(root, model_uri, host, port)
    return run_group(command, environment, lambda stderr: filtered(stderr, sys.stderr))
