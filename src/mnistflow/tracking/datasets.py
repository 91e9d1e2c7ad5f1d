"""Datasets shared through the tracking server: `mlflow-artifacts:/datasets/<file>`, stored wherever the
server keeps artifacts (the team stack's S3 store), read by any machine that reaches the server's URL, with
no store keys and no local copy at a fixed path (a Ray node, say)."""

from __future__ import annotations

import os
from pathlib import Path

from mnistflow.core.errors import TrackingError

SHARED_SCHEME = "mlflow-artifacts:"
DATASETS = f"{SHARED_SCHEME}/datasets"


def is_shared(location: str) -> bool:
    return location.startswith(SHARED_SCHEME)


def share(path: Path, tracking_uri: str) -> str:
    """Upload a file under the server's datasets/ (again only if its size differs); return its URI."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    from mnistflow.tracking.store import describe

    uri = f"{DATASETS}/{path.name}"
    try:
        repository = get_artifact_repository(DATASETS, tracking_uri=tracking_uri)
        present = {item.path: item.file_size for item in repository.list_artifacts()}
        if present.get(path.name) != path.stat().st_size:
            repository.log_artifact(str(path))
    except Exception as error:  # any transport or store failure means the same thing to the user
        raise TrackingError(f"could not share {path} at {uri} through {tracking_uri}: {describe(error)}") from None
    return uri


def fetch(location: str, folder: Path) -> Path:
    """A local path for `location`: itself for a file path, else the shared file downloaded into `folder`."""
    if not is_shared(location):
        return Path(location)
    import mlflow

    from mnistflow.tracking.store import describe

    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    try:
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=str(folder),
                                                        tracking_uri=tracking_uri or None))
    except Exception as error:
        raise TrackingError(f"cannot read {location} through the tracking server {tracking_uri or '(none set)'}: "
                            f"{describe(error)}") from None
