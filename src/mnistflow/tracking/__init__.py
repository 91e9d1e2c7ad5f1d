"""Everything that talks to MLflow lives in this package, one job per module.

- ``store``: finding the store, creating it safely, connecting to an experiment;
- ``runs``: the run lifecycle (always ended, signals held), logging into the active run, stale runs;
- ``provenance``: versions, git, DVC experiment names, run names and provenance.json;
- ``models``: logging a Keras model; ``queries``: reading runs and models back; ``registry``: @champion.
"""

from mnistflow.core.errors import Terminated, TrackingError
from mnistflow.tracking.models import MODEL_URI_TAG, log_keras_model, log_model_metrics
from mnistflow.tracking.provenance import environment_tags, log_provenance, run_name
from mnistflow.tracking.runs import (
    DESCRIPTION_TAG,
    active_run,
    append_description,
    log_artifacts,
    log_datasets,
    log_dict,
    log_image,
    log_metrics,
    log_params,
    log_table,
    set_tags,
)
from mnistflow.tracking.store import (
                                      STORE_FAILURES,
                                      connect,
                                      describe,
                                      project_root,
                                      require_project_root,
                                      tracking_uri,
                                      use_store,
)

COLLAPSED_TAG = "collapsed_classes"

__all__ = ("COLLAPSED_TAG", "DESCRIPTION_TAG", "MODEL_URI_TAG", "STORE_FAILURES", "Terminated", "TrackingError",
           "active_run", "append_description", "connect", "describe", "environment_tags", "log_artifacts",
           "log_datasets", "log_dict", "log_image", "log_keras_model", "log_metrics", "log_model_metrics", "log_params",
           "log_provenance",
           "log_table", "project_root", "require_project_root", "run_name", "set_tags", "tracking_uri", "use_store")
