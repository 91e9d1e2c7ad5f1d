"""Where a run came from: library versions, the git commit, DVC experiment names, and the files it used."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path

import mlflow

from mnistflow.core import fingerprint
from mnistflow.tracking.runs import log_dict

DATASET_TAG, CLASSES_TAG = "mnistflow.dataset", "mnistflow.classes"


def dataset_tags(dataset) -> dict[str, str]:
    """The run's dataset (a data.catalog.Dataset): its name (register picks the registered model by it) and
    class names (JSON), and the first data file's sha256."""
    tags = {DATASET_TAG: dataset.name, CLASSES_TAG: json.dumps(list(dataset.classes))}
    if dataset.files and "sha256" in dataset.files[0]:
        tags["mnistflow.dataset_sha256"] = dataset.files[0]["sha256"]
    return tags


def environment_tags() -> dict[str, str]:
    """Python, TensorFlow, Keras and MLflow versions, and the git commit with a dirty flag."""
    import keras
    import tensorflow as tf

    tags = {"python_version": platform.python_version(), "tensorflow_version": tf.__version__,
            "keras_version": keras.__version__, "mlflow_version": mlflow.__version__}
    tags.update(git_tags(fingerprint.dvc_managed(Path("dvc.yaml"))))
    for variable, tag in (("DVC_EXP_NAME", "dvc.exp_name"), ("DVC_EXP_BASELINE_REV", "dvc.baseline_rev")):
        if os.environ.get(variable):
            tags[tag] = os.environ[variable]
    return tags


def run_name(fallback: str, suffix: str = "") -> str:
    """A run's name: the DVC experiment's (`dvc exp run -n NAME`, `mnistflow experiment NAME`) followed by
    `suffix`, else `fallback`."""
    experiment = os.environ.get("DVC_EXP_NAME")
    return f"{experiment}{suffix}" if experiment else fallback


def git_tags(dvc_managed: Sequence[str] = ()) -> dict[str, str]:
    """The commit, and whether tracked code or params differ from it. Untracked files and what DVC rewrites
    while it runs the stages (dvc.lock, the declared outs, `dvc_managed`) do not make a checkout dirty."""
    def git(*arguments: str) -> str:
        return subprocess.run(["git", *arguments], capture_output=True, text=True, check=True).stdout.strip()

    excluded = [f":(exclude){path}" for path in dvc_managed]
    try:
        return {"git_commit": git("rev-parse", "HEAD"),
                "git_dirty": str(bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", *excluded)))}
    except (OSError, subprocess.CalledProcessError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}


def log_provenance(dvc_yaml: Path, with_outs: tuple[str, ...]) -> None:
    """provenance.json: the md5 of every file the stages depend on, and of the outs already written."""
    log_dict(fingerprint.provenance(dvc_yaml, with_outs), "provenance.json")
