"""What the commands share: their option types, choices, and how they find the store and the data."""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Annotated

import typer

from mnistflow.core import paths
from mnistflow.core.errors import UsageError

ExperimentOption = Annotated[str | None, typer.Option(
    "--mlflow-experiment",
    help="MLflow experiment (default: tracking.experiment in params.yaml; MLFLOW_EXPERIMENT_NAME overrides)")]
ModelNameOption = Annotated[str | None, typer.Option(
    "--name", help="registered model name (default: the dataset's: mnist-digits, fashion-mnist, ...)")]
DataOption = Annotated[Path | None, typer.Option(
    help="raw MNIST .npz (default: dvc.yaml's), or mlflow-artifacts:/datasets/mnist.npz shared by `team start`")]


class Direction(enum.StrEnum):
    max = "max"
    min = "min"


class SplitName(enum.StrEnum):
    test = "test"
    train = "train"


class Executor(enum.StrEnum):
    process = "process"
    ray = "ray"


class Format(enum.StrEnum):
    table = "table"
    markdown = "markdown"
    csv = "csv"


def study_data(data: Path | None, root: Path, scratch: Path, dataset: str = "mnist") -> tuple[str, Path]:
    """--data of a study or tune: (what its workers read, a local copy for this process). A file shared through
    the tracking server is fetched once here, so a missing one is one line before anything trains. Without
    --data, a dataset other than MNIST is read once here and written as one .npz for the workers."""
    from mnistflow.tracking import datasets

    if data is None and dataset != "mnist":
        from mnistflow.data import datasets as data_sets

        arrays, described = data_sets.load(dataset, paths.raw_folder(root))
        written = data_sets.write_study_file(arrays, described, paths.user_cache() / "datasets")
        return str(written), written
    location = str(data or paths.raw_data(root))
    if datasets.is_shared(location):
        return location, datasets.fetch(location, scratch)
    if not Path(location).is_file():
        raise UsageError(f"--data {location}: file not found")
    return str(Path(location).resolve()), Path(location)


def study_dataset(datasets: set[str]) -> str:
    """The one dataset of a study's runs (their `prepare.dataset`)."""
    if len(datasets) != 1:
        raise UsageError(f"a study trains one dataset; its configurations name {', '.join(sorted(datasets))}")
    return datasets.pop()


def current_dataset(root: Path) -> str:
    """The name of the dataset the pipeline last prepared (data/dataset.json), else the one params.yaml names,
    else MNIST (a bare store, or a project from before datasets had names)."""
    from mnistflow.core.errors import MnistflowError
    from mnistflow.core.params import load_params
    from mnistflow.data import catalog

    try:
        described = paths.dataset_file(root)
    except MnistflowError:  # no dvc.yaml, or one whose prepare stage names no --dataset
        described = None
    if described is not None and described.is_file():
        return catalog.read(described).name
    if (root / paths.PARAMS).is_file():
        return catalog.name_of(load_params(root / paths.PARAMS).prepare.dataset)
    return catalog.MNIST


def model_name(root: Path, name: str | None) -> str:
    """--name, else the registered model of the project's dataset."""
    from mnistflow.data import catalog

    return name or catalog.model_name_of(current_dataset(root))


def connect_experiment(experiment: str | None, create: bool = False) -> str:
    """Connect to the project's store; the experiment defaults to params.yaml's `tracking.experiment`.

    TensorFlow stays unloaded: `compare`, `register` and `runs` never need it (the commands that load a model
    import `runtime` themselves)."""
    from mnistflow import tracking

    root = tracking.require_project_root()
    return tracking.connect(experiment_name(root, experiment), root, create=create)


def experiment_name(root: Path, experiment: str | None) -> str:
    """The experiment a command uses, read without MLflow: MLFLOW_EXPERIMENT_NAME, else `experiment`, else
    params.yaml's `tracking.experiment` (`tracking.connect` gives the environment the same precedence)."""
    from mnistflow.core.params import load_params

    named = os.environ.get("MLFLOW_EXPERIMENT_NAME") or experiment
    return named or load_params(root / paths.PARAMS).tracking.experiment
