"""The model registry: pick the best finished run by a rule, register it, and move the `champion` alias.

Only a candidate that beats the current champion gets a new version and the alias, so running
`register` again with no better run changes nothing. A file lock beside the project serializes
concurrent calls on one machine, so two of them can neither register the same run twice nor leave
the alias pointing at the loser.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS

from mnistflow.core.errors import UsageError
from mnistflow.tracking import COLLAPSED_TAG, metric_keys
from mnistflow.tracking.models import MODEL_URI_TAG
from mnistflow.tracking.provenance import CLASSES_TAG, DATASET_TAG
from mnistflow.tracking.store import file_lock

ALIAS = "champion"
KEY_PARAMS = ("model.arch", "prepare.scale", "model.mlp.units", "model.mlp.output_initializer", "model.cnn.filters",
              "train.learning_rate", "train.loss", "train.epochs", "train.augment_shift", "train.seed")


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What register did: the winner it found, the champion before, and the version now holding the alias."""

    candidate: Run | None
    previous_version: str | None
    previous_value: float | None
    version: str | None
    changed: bool
    message: str


def is_better(value: float, other: float | None, direction: str) -> bool:
    if other is None:
        return True
    return value > other if direction == "max" else value < other


def eligible(run: Run, metric: str) -> bool:
    """Has the metric, a logged model, and no class collapsed at the end of training or on the test set."""
    metrics, tags = metric_keys.grouped(run.data.metrics), run.data.tags
    collapsed = metrics.get("train/final_collapsed_classes", 0) + metrics.get("test/collapsed_classes", 0)
    return metric in metrics and MODEL_URI_TAG in tags and collapsed == 0 and tags.get(COLLAPSED_TAG, "[]") == "[]"


def metric_of(run: Run, metric: str) -> float | None:
    """The run's value of a grouped metric key, also when the run logged it under its old flat name."""
    return metric_keys.grouped(run.data.metrics).get(metric)


def dataset_of(run: Run) -> str:
    """The dataset a run trained on (runs from before datasets had names trained on MNIST)."""
    return run.data.tags.get(DATASET_TAG, "mnist")


def best_run(client: MlflowClient, experiment_id: str, metric: str, direction: str,
             dataset: str = "mnist") -> Run | None:
    """The eligible run of `dataset` with the best value, the earliest among equals. Sorted here, not by the
    store, so that runs logged under the old flat names compete too."""
    runs = client.search_runs([experiment_id], filter_string="attributes.status = 'FINISHED'",
                              order_by=["attributes.start_time ASC"], max_results=5000)
    candidates = [run for run in runs if eligible(run, metric) and dataset_of(run) == dataset]
    choose = max if direction == "max" else min
    return choose(candidates, key=lambda run: metric_keys.grouped(run.data.metrics)[metric]) if candidates else None


def _champion(client: MlflowClient, name: str):
    try:
        return client.get_model_version_by_alias(name, ALIAS)
    except MlflowException:
        return None


def _version_of_run(client: MlflowClient, name: str, run_id: str):
    for version in client.search_model_versions(f"name = '{name}'"):
        if version.tags.get("source_run_id") == run_id:
            return version
    return None


def _create_version(client: MlflowClient, name: str, run: Run, metric: str, git_commit: str):
    dataset, classes = dataset_of(run), json.loads(run.data.tags.get(CLASSES_TAG, "null")) or DIGITS
    with contextlib.suppress(MlflowException):
        client.create_registered_model(name, description=model_description(dataset, classes),
                                       tags={"dataset": dataset, "classes": json.dumps(classes)})
    params = {key: run.data.params.get(key) for key in KEY_PARAMS if key in run.data.params}
    logged = metric_keys.grouped(run.data.metrics)
    metrics = {key: logged[key] for key in ("test/accuracy", "test/macro_f1", "test/loss") if key in logged}
    tags = {"source_run_id": run.info.run_id, "git_commit": git_commit, "selection_metric": metric,
            **{f"param.{key}": str(value) for key, value in params.items()},
            **{f"metric.{key}": f"{value:.6g}" for key, value in metrics.items()}}
    description = version_description(run, git_commit, metric, params, metrics)
    source = run.data.tags[MODEL_URI_TAG]  # models:/<model id>, the run's MLflow 3 logged model
    model_id = source.removeprefix("models:/")
    version = client.create_model_version(name, source, run_id=run.info.run_id, tags=tags, description=description,
                                          model_id=model_id)
    _link_logged_model(client, model_id, name, str(version.version))
    return version


def _link_logged_model(client: MlflowClient, model_id: str, name: str, version: str) -> None:
    """Record the version on the logged model, as mlflow.register_model does: the UI then shows the logged
    model as registered instead of "Not registered"."""
    existing = client.get_logged_model(model_id).tags.get(MLFLOW_MODEL_VERSIONS)
    linked = [*(json.loads(existing) if existing else []), {"name": name, "version": version}]
    client.set_logged_model_tags(model_id, {MLFLOW_MODEL_VERSIONS: json.dumps(linked)})


DIGITS = [str(digit) for digit in range(10)]


def model_description(dataset: str, classes: list[str]) -> str:
    """The registered model's description (markdown): its dataset, input, outputs by class name, @champion."""
    kind = "MNIST digit" if dataset == "mnist" else f"`{dataset}`"
    return f"""{kind} classifier trained by the mnistflow pipeline (`dvc repro`, studies, experiments).

- **Input**: raw 28×28 grayscale pixels, 0–255, shape `(N, 28, 28)`; the model does its own scaling.
- **Output**: {len(classes)} class probabilities per image, of the classes {", ".join(classes)}.
- **@champion**: the best FINISHED run of `{dataset}` without a collapsed class, moved by `mnistflow register`
  only when a run strictly beats it. Each version names its run, git commit, architecture, key params and test
  metrics."""


def version_description(run: Run, git_commit: str, metric: str, params: dict, metrics: dict) -> str:
    """A version's description in markdown: where it came from, what it is, how it scored."""
    lines = [f"Run `{run.info.run_id}` ({run.info.run_name}), git `{git_commit[:12]}`; best by `{metric}`.", "",
             "| | |", "|---|---|"]
    lines += [f"| `{key}` | {value} |" for key, value in params.items()]
    lines += [f"| **{key}** | {value:.4f} |" for key, value in metrics.items()]
    return "\n".join(lines)


def _check_metric_is_known(client: MlflowClient, experiment_id: str, metric: str) -> None:
    """A metric no run of the experiment logs is a typo: name it, with the metrics that do exist."""
    known = sorted({name for run in client.search_runs([experiment_id], max_results=200)
                    for name in metric_keys.grouped(run.data.metrics)})
    if known and metric not in known:
        shown = [name for name in known if name.startswith("test/")] or known
        raise UsageError(f"--metric {metric!r}: no run in the experiment logs it (test metrics: "
                         f"{', '.join(shown[:12])}{', ...' if len(shown) > 12 else ''})")


def register_best(experiment_id: str, name: str, metric: str, direction: str, lock_path: Path,
                  dataset: str = "mnist") -> Outcome:
    """Register the best run of `dataset` as `name` and move @champion to it if it beats the current one."""
    client, metric = MlflowClient(), metric_keys.mlflow_key(metric)  # `test_accuracy` still names test/accuracy
    with file_lock(lock_path):
        candidate = best_run(client, experiment_id, metric, direction, dataset)
        champion = _champion(client, name)
        previous_value = metric_of(client.get_run(champion.run_id), metric) if champion else None
        previous_version = str(champion.version) if champion else None
        if candidate is None:
            _check_metric_is_known(client, experiment_id, metric)
            return Outcome(None, previous_version, previous_value, previous_version, False,
                           f"no eligible run of dataset {dataset} (FINISHED, with a logged model, no collapsed "
                           "class, with the metric)")
        value = metric_keys.grouped(candidate.data.metrics)[metric]
        if not is_better(value, previous_value, direction):
            return Outcome(candidate, previous_version, previous_value, previous_version, False,
                           f"best run {candidate.info.run_id} has {metric}={value:.6g}, which does not beat "
                           f"champion v{previous_version} ({metric}={previous_value:.6g}): nothing changed")
        version = _version_of_run(client, name, candidate.info.run_id) or _create_version(
            client, name, candidate, metric, candidate.data.tags.get("git_commit", "unknown"))
        client.set_registered_model_alias(name, ALIAS, version.version)
        before = f"v{previous_version} ({metric}={previous_value:.6g})" if champion else "none"
        return Outcome(candidate, previous_version, previous_value, str(version.version), True,
                       f"{name} v{version.version} from run {candidate.info.run_id} ({metric}={value:.6g}) "
                       f"is now @{ALIAS}; before: {before}")


@dataclasses.dataclass(frozen=True)
class ChosenModel:
    uri: str
    label: str  # how messages and figures name it: `mnist-digits v3 @champion` or `run <name>`


def choose_model(experiment_id: Callable[[], str], name: str, model_uri: str | None = None,
                 run_id: str | None = None, dataset: str = "mnist") -> ChosenModel:
    """The one rule of every command that uses a model: the one asked for (--model-uri, --run), else
    `<name>@champion` when it exists, else the newest FINISHED run with a logged model (of the experiment that
    `experiment_id()` connects to, called only then)."""
    from mnistflow.tracking import queries

    client = MlflowClient()
    if model_uri:
        return ChosenModel(model_uri, model_uri)
    if run_id is None:
        champion = _champion(client, name)
        if champion is not None:
            return ChosenModel(f"models:/{name}@{ALIAS}", f"{name} v{champion.version} @{ALIAS}")
        run_id = queries.latest_model_run(experiment_id(), dataset)
    uri = queries.model_uri_of_run(run_id)
    return ChosenModel(uri, f"run {client.get_run(run_id).info.run_name}")
