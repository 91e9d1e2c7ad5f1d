"""Where a run came from: library versions, the git commit, DVC experiment names, and dvc.lock hashes."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import mlflow


def environment_tags() -> dict[str, str]:
    """Python, TensorFlow, Keras and MLflow versions, and the git commit with a dirty flag."""
    import keras
    import tensorflow as tf

    tags = {"python_version": platform.python_version(), "tensorflow_version": tf.__version__,
            "keras_version": keras.__version__, "mlflow_version": mlflow.__version__}
    tags.update(git_tags())
    for variable, tag in (("DVC_EXP_NAME", "dvc.exp_name"), ("DVC_EXP_BASELINE_REV", "dvc.baseline_rev")):
        if os.environ.get(variable):
            tags[tag] = os.environ[variable]
    return tags


def git_tags() -> dict[str, str]:
    def git(*arguments: str) -> str:
        return subprocess.run(["git", *arguments], capture_output=True, text=True, check=True).stdout.strip()

    try:
        return {"git_commit": git("rev-parse", "HEAD"),
                "git_dirty": str(bool(git("status", "--porcelain", "--untracked-files=no")))}
    except (OSError, subprocess.CalledProcessError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}


def dvc_lock_tags(lock_path: Path) -> dict[str, str]:
    """The md5 of every dependency and output that dvc.lock records, as tags dvc.<stage>.<path>."""
    import yaml

    if not lock_path.is_file():
        return {}
    stages = (yaml.safe_load(lock_path.read_text()) or {}).get("stages", {})
    tags = {}
    for stage, entry in stages.items():
        for item in entry.get("deps", []) + entry.get("outs", []):
            if "md5" in item:
                tags[f"dvc.{stage}.{item['path']}"] = item["md5"]
    return tags
