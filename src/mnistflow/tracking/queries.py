"""Reading runs and models back from the store: run tables, the latest finished run, logged models."""

from __future__ import annotations

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mnistflow.tracking import MODEL_URI_TAG, TrackingError


def runs_frame(experiment_id: str, filter_string: str = "", include_unfinished: bool = False) -> pd.DataFrame:
    """One row per top-level or child run: run_id, name, status, every param and metric."""
    import mlflow

    status = "" if include_unfinished else "attributes.status = 'FINISHED'"
    query = " and ".join(part for part in (status, filter_string) if part)
    try:
        return mlflow.search_runs([experiment_id], filter_string=query, max_results=50000)
    except MlflowException as error:
        raise TrackingError(f"cannot search runs with filter {filter_string!r}: {error.message}") from None


def latest_model_run(experiment_id: str) -> str:
    client = MlflowClient()
    runs = client.search_runs([experiment_id], filter_string="attributes.status = 'FINISHED'",
                              order_by=["attributes.start_time DESC"], max_results=200)
    for run in runs:
        if MODEL_URI_TAG in run.data.tags:
            return run.info.run_id
    raise TrackingError("no FINISHED run with a logged model in this experiment; run `dvc repro` first")


def model_uri_of_run(run_id: str) -> str:
    try:
        run = MlflowClient().get_run(run_id)
    except MlflowException:
        raise TrackingError(f"unknown run {run_id!r}") from None
    if MODEL_URI_TAG not in run.data.tags:
        raise TrackingError(f"run {run_id} has no logged model")
    return run.data.tags[MODEL_URI_TAG]


def load_model(uri: str):
    """Load a logged Keras model (raw 28x28 pixels in, 10 probabilities out) in Keras safe mode."""
    import mlflow.keras

    try:
        return mlflow.keras.load_model(uri, load_model_kwargs={"safe_mode": True})
    except (MlflowException, OSError) as error:
        raise TrackingError(f"cannot load model {uri!r}: {str(error).splitlines()[0]}") from None


def predict_probabilities(model, images: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(images.astype(np.float32), verbose=0))


def child_runs(experiment_id: str, parent_run_id: str) -> pd.DataFrame:
    import mlflow

    return mlflow.search_runs([experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
                              max_results=50000)


def finished_children(experiment_id: str, parent_run_id: str, config_tag: str, seed_tag: str) -> set[tuple[str, int]]:
    """(configuration, seed) of every FINISHED child run of a study."""
    children = child_runs(experiment_id, parent_run_id)
    if children.empty:
        return set()
    finished = children[children["status"] == "FINISHED"]
    return {(row[f"tags.{config_tag}"], int(row[f"tags.{seed_tag}"])) for _, row in finished.iterrows()}
