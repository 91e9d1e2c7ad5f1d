"""Reading runs and models back from the store: run tables, the latest finished run, logged models."""

from __future__ import annotations

import hashlib
import urllib.parse
from pathlib import Path

import mlflow.artifacts
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mnistflow.core import atomic, paths
from mnistflow.core.errors import TrackingError
from mnistflow.tracking import metric_keys, predictors
from mnistflow.tracking.models import MODEL_URI_TAG
from mnistflow.tracking.predictors import Predictor
from mnistflow.tracking.provenance import DATASET_TAG


def _search(experiment_ids: list[str], query: str) -> pd.DataFrame:
    import mlflow

    try:
        runs = mlflow.search_runs(experiment_ids, filter_string=query, max_results=50000)
    except MlflowException as error:
        raise TrackingError(f"cannot search runs with filter {query!r}: {error.message}") from None
    return grouped_metric_columns(runs)


def grouped_metric_columns(runs: pd.DataFrame) -> pd.DataFrame:
    """Metric columns under their grouped keys: a run logged under an old flat name (`metrics.test_accuracy`)
    fills the new column (`metrics.test/accuracy`) where the run has no value under the new name."""
    for column in [name for name in runs.columns if name.startswith("metrics.")]:
        key = "metrics." + metric_keys.mlflow_key(column.removeprefix("metrics."))
        if key != column:
            runs[key] = runs[key].combine_first(runs[column]) if key in runs.columns else runs[column]
            runs = runs.drop(columns=column)
    return runs


def runs_table(experiment_id: str, filter_string: str = "", include_unfinished: bool = False
               ) -> tuple[pd.DataFrame, list[str], list[str]]:
    """(table, param names, metric names): one row per run with run_id, run_name, status, every param under
    its dotted name and every metric under its name. MLflow's own column names stay in this module.

    Params and metrics are separate namespaces: a param that shares a metric's name (`loss`, logged by hand
    or by an `mlflow run` entry point) keeps its `params.` prefix, so no two columns have one name.
    """
    status = "" if include_unfinished else "attributes.status = 'FINISHED'"
    query = " and ".join(part for part in (status, metric_keys.grouped_filter(filter_string)) if part)
    runs = _search([experiment_id], query)
    metrics = [column.removeprefix("metrics.") for column in runs.columns if column.startswith("metrics.")]
    params = [column.removeprefix("params.") for column in runs.columns if column.startswith("params.")]
    params = [f"params.{name}" if name in metrics or name in ("run_id", "run_name", "status") else name
              for name in params]
    renamed = {"tags.mlflow.runName": "run_name", **{f"params.{name}": name for name in params},
               **{f"metrics.{name}": name for name in metrics}}  # grouped keys: `test/accuracy`
    columns = ["run_id", "run_name", "status", *params, *metrics]
    return runs.rename(columns=renamed).reindex(columns=columns), params, metrics


def latest_model_run(experiment_id: str, dataset: str = "mnist") -> str:
    """The newest FINISHED run of `dataset` with a logged model (runs without a dataset tag trained on MNIST)."""
    client = MlflowClient()
    runs = client.search_runs([experiment_id], filter_string="attributes.status = 'FINISHED'",
                              order_by=["attributes.start_time DESC"], max_results=200)
    for run in runs:
        if MODEL_URI_TAG in run.data.tags and run.data.tags.get(DATASET_TAG, "mnist") == dataset:
            return run.info.run_id
    raise TrackingError(f"no FINISHED run of dataset {dataset} with a logged model in this experiment; run "
                        "`dvc repro` first")


def model_uri_of_run(run_id: str) -> str:
    try:
        run = MlflowClient().get_run(run_id)
    except MlflowException:
        raise TrackingError(f"unknown run {run_id!r}") from None
    if MODEL_URI_TAG not in run.data.tags:
        raise TrackingError(f"run {run_id} has no logged model")
    return run.data.tags[MODEL_URI_TAG]


def load_predictor(uri: str) -> Predictor:
    """(N, 28, 28) raw pixels -> (N, 10) probabilities with the logged model at `uri` (see `predictors`)."""
    return predictors.folder_predictor(model_folder(uri))


def model_folder(uri: str, cache: Path | None = None) -> Path:
    """The logged model's files: a local store's are read in place; a server's are downloaded once into
    `cache` (default: ~/.cache/mnistflow/models), under the logged model's own location, whose files never
    change, so that the next `predict` of the same model downloads nothing."""
    try:
        location = _artifact_location(uri)
        if not uri.startswith("models:/") or urllib.parse.urlparse(location).scheme in ("", "file"):
            return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))
        folder = (cache or default_model_cache()) / hashlib.sha256(location.encode()).hexdigest()[:32]
        if not folder.is_dir():
            with atomic.atomic_directory(folder) as temporary:  # MLflow writes <temporary>/<last part of location>
                mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=str(temporary))
        return folder / Path(urllib.parse.urlparse(location).path).name
    except (MlflowException, OSError) as error:
        raise TrackingError(f"cannot load model {uri!r}: {_why_not_loaded(uri, error)}") from None


def default_model_cache() -> Path:
    return paths.user_cache() / "models"


def _artifact_location(uri: str) -> str:
    """Where a model's files are: the artifact location behind `models:/NAME@ALIAS` or `models:/m-ID`; any
    other URI (`runs:/`, a path) as given, downloaded as MLflow resolves it."""
    from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository

    return ModelsArtifactRepository.get_underlying_uri(uri) if uri.startswith("models:/") else uri


def _why_not_loaded(uri: str, error: Exception) -> str:
    """A model whose files are gone from a local artifact store says where they were, and what to do."""
    try:
        location = _artifact_location(uri)
    except MlflowException:
        location = uri
    files = urllib.parse.urlparse(location)
    if files.scheme in ("", "file") and not Path(urllib.parse.unquote(files.path)).is_dir():
        return (f"its files are gone from the artifact store ({urllib.parse.unquote(files.path)} does not exist); "
                "pass --model-uri runs:/<run id>/model to use another run's model")
    return str(error).splitlines()[0]


def child_runs(experiment_id: str, parent_run_id: str) -> pd.DataFrame:
    return _search([experiment_id], f"tags.mlflow.parentRunId = '{parent_run_id}'")


# MLflow key -> the study table's column, named as a worker reports it
STUDY_METRICS = {"test/accuracy": "test_accuracy", "train/final_collapsed_classes": "final_collapsed_classes",
                 "train/epochs_collapsed": "epochs_collapsed"}


def study_children(experiment_id: str, parent_run_id: str, config_tag: str, seed_tag: str) -> pd.DataFrame:
    """A study's child runs: configuration, seed, status, run_id, start_time and the study's metrics."""
    children = child_runs(experiment_id, parent_run_id)
    columns = {f"tags.{config_tag}": "configuration", f"tags.{seed_tag}": "seed", "status": "status",
               "run_id": "run_id", "start_time": "start_time",
               **{f"metrics.{key}": column for key, column in STUDY_METRICS.items()}}
    frame = children.reindex(columns=list(columns)).rename(columns=columns)
    frame["seed"] = pd.to_numeric(frame["seed"])
    return frame


def finished_children(experiment_id: str, parent_run_id: str, config_tag: str, seed_tag: str) -> set[tuple[str, int]]:
    """(configuration, seed) of every FINISHED child run of a study."""
    children = study_children(experiment_id, parent_run_id, config_tag, seed_tag)
    finished = children[children["status"] == "FINISHED"]
    return {(str(configuration), int(seed)) for configuration, seed in zip(finished["configuration"],
                                                                         finished["seed"], strict=True)}
