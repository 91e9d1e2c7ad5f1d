"""Everything that talks to MLflow lives in this package, one job per module.

- ``store``: creating the store safely, connecting to an experiment (``core.paths`` finds it);
- ``runs``: the run lifecycle (always ended, signals held), logging into the active run, stale runs;
- ``provenance``: versions, git, DVC experiment names, run names and provenance.json;
- ``models``: logging a Keras model; ``queries``: reading runs and models back; ``registry``: @champion;
- ``metric_keys``: the grouped metric names; ``views`` and ``ui``: what MLflow's UI shows first.

The names below load their module, and MLflow with it, on first use: a command that only needs the project's
paths or starts a server (``mnistflow ui``) does not wait 2-3 s for MLflow's import first.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mnistflow.core.errors import Terminated, TrackingError
from mnistflow.core.paths import project_root, require_project_root, tracking_uri

if TYPE_CHECKING:
    from mnistflow.tracking.models import MODEL_URI_TAG, log_keras_model, log_model_metrics
    from mnistflow.tracking.provenance import DATASET_TAG, dataset_tags, environment_tags, log_provenance, run_name
    from mnistflow.tracking.runs import (
        DESCRIPTION_TAG,
        active_run,
        append_description,
        check_run_experiment,
        log_artifacts,
        log_datasets,
        log_dict,
        log_image,
        log_metrics,
        log_params,
        log_table,
        set_tags,
    )
    from mnistflow.tracking.store import STORE_FAILURES, connect, describe, use_store

COLLAPSED_TAG = "collapsed_classes"

HOMES = {
    **dict.fromkeys(("MODEL_URI_TAG", "log_keras_model", "log_model_metrics"), "models"),
    **dict.fromkeys(("DATASET_TAG", "dataset_tags", "environment_tags", "log_provenance", "run_name"), "provenance"),
    **dict.fromkeys(("DESCRIPTION_TAG", "active_run", "append_description", "check_run_experiment", "log_artifacts",
                     "log_datasets",
                     "log_dict", "log_image", "log_metrics", "log_params", "log_table", "set_tags"), "runs"),
    **dict.fromkeys(("STORE_FAILURES", "connect", "describe", "use_store"), "store"),
}


def __getattr__(name: str) -> Any:
    """A name of a module here (`tracking.log_metrics`), or a module itself (`tracking.runs`), loaded now."""
    if name in HOMES:
        return getattr(importlib.import_module(f"{__name__}.{HOMES[name]}"), name)
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


__all__ = ("COLLAPSED_TAG", "DESCRIPTION_TAG", "MODEL_URI_TAG", "STORE_FAILURES", "Terminated", "TrackingError",
           "active_run", "append_description", "check_run_experiment", "connect", "describe", "environment_tags",
           "log_artifacts", "log_datasets", "DATASET_TAG", "dataset_tags", "log_dict", "log_image",
           "log_keras_model", "log_metrics",
           "log_model_metrics", "log_params", "log_provenance", "log_table", "project_root", "require_project_root",
           "run_name", "set_tags", "tracking_uri", "use_store")
