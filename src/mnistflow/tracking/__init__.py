"""Everything that talks to MLflow lives here.

The default store is embedded: ``sqlite:///<project>/mlflow.db`` with artifacts in ``<project>/mlartifacts``.
<project> is ``DVC_ROOT`` when DVC runs the stage (for a queued experiment that is the real repository,
not DVC's temporary copy), else the folder holding dvc.yaml, found from the working directory upwards.
``MLFLOW_TRACKING_URI`` overrides it (a tracking server, say), and ``MLFLOW_EXPERIMENT_NAME`` overrides the
experiment name from params.yaml.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import RunStatus

MODEL_URI_TAG = "mnistflow.model_uri"
COLLAPSED_TAG = "collapsed_classes"


class TrackingError(RuntimeError):
    """The tracking store cannot be used; the message says which store and why."""


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM, so the run can end as KILLED."""


def project_root(start: Path | None = None) -> Path:
    """DVC_ROOT if DVC set it, else the nearest folder from `start` (the working directory) up with dvc.yaml."""
    if os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"]).resolve()
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "dvc.yaml").is_file():
            return folder
    return start


def default_tracking_uri(root: Path) -> str:
    return f"sqlite:///{root / 'mlflow.db'}"


def tracking_uri(root: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(root)


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """For a tracking server, fail fast on /health instead of after MLflow's minutes of retries."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as response:
            response.read()
    except (OSError, ValueError) as error:
        raise TrackingError(f"tracking server {uri} is unreachable ({describe(error)}); "
                            "start it or unset MLFLOW_TRACKING_URI") from None


def connect(experiment: str, root: Path | None = None) -> str:
    """Point MLflow at the store and experiment; create the experiment if needed; return its id."""
    root = root or project_root()
    uri = tracking_uri(root)
    check_reachable(uri)
    mlflow.set_tracking_uri(uri)
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or experiment
    try:
        found = mlflow.get_experiment_by_name(name)
        if found is None:
            # The embedded store keeps artifacts beside it; a server or other store decides for itself.
            artifacts = (root / "mlartifacts").as_uri() if uri == default_tracking_uri(root) else None
            with contextlib.suppress(mlflow.exceptions.MlflowException):  # lost a creation race: fine
                mlflow.create_experiment(name, artifact_location=artifacts)
            found = mlflow.get_experiment_by_name(name)
    except Exception as error:  # any transport or database failure means the same thing to the user
        raise TrackingError(f"tracking store {uri} is not usable: {describe(error)}") from None
    mlflow.set_experiment(experiment_id=found.experiment_id)
    return found.experiment_id


def describe(error: BaseException) -> str:
    """The first line of an error's message, for one-line reports."""
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]


def _raise_terminated(signum, frame):  # noqa: ARG001 - signal handler signature
    raise Terminated(f"received signal {signum}")


@contextlib.contextmanager
def active_run(run_id: str | None = None, run_name: str | None = None,
               parent_run_id: str | None = None, tags: dict[str, str] | None = None) -> Iterator[str]:
    """Start (or resume) a run and always end it: FINISHED, FAILED, or KILLED on Ctrl-C / SIGTERM."""
    if run_id:  # resuming (evaluate, `mlflow run`, a study's --resume): work in that run's experiment
        try:
            mlflow.set_experiment(experiment_id=mlflow.get_run(run_id).info.experiment_id)
        except mlflow.exceptions.MlflowException:
            raise TrackingError(f"unknown run {run_id!r} in the tracking store {mlflow.get_tracking_uri()}") from None
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    run = mlflow.start_run(run_id=run_id, run_name=run_name, parent_run_id=parent_run_id, tags=tags,
                           nested=parent_run_id is not None)
    status, succeeded = RunStatus.to_string(RunStatus.FAILED), False
    try:
        yield run.info.run_id
        status, succeeded = RunStatus.to_string(RunStatus.FINISHED), True
    except (KeyboardInterrupt, Terminated):
        status = RunStatus.to_string(RunStatus.KILLED)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        _end(run.info.run_id, status, report=succeeded)


def _end(run_id: str, status: str, report: bool) -> None:
    """Flush and end the run; if the store is gone, say so, unless an earlier error already is on its way."""
    try:
        mlflow.flush_async_logging()
        mlflow.end_run(status)
    except Exception as error:  # the store went away: do not mask the error that ended the run, if any
        if report:
            raise TrackingError(f"run {run_id} could not be completed in the tracking store: "
                                f"{describe(error)}") from None


def log_params(params: dict[str, Any]) -> None:
    mlflow.log_params({key: "null" if value is None else value for key, value in params.items()})


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    """Log without waiting on the store; active_run flushes before the run ends."""
    mlflow.log_metrics(metrics, step=step, synchronous=False)


def set_tags(tags: dict[str, Any]) -> None:
    mlflow.set_tags({key: str(value) for key, value in tags.items()})


def log_artifacts(folder: str | Path, artifact_folder: str | None = None) -> None:
    mlflow.log_artifacts(str(folder), artifact_path=artifact_folder)


def log_dict(data: Any, name: str) -> None:
    mlflow.log_dict(data, name)


def log_table(frame, name: str) -> None:
    mlflow.log_table(frame, artifact_file=name)


def environment_tags() -> dict[str, str]:
    """Python, TensorFlow, Keras and MLflow versions, and the git commit with a dirty flag."""
    import keras
    import tensorflow as tf

    tags = {"python_version": platform.python_version(), "tensorflow_version": tf.__version__,
            "keras_version": keras.__version__, "mlflow_version": mlflow.__version__}
    tags.update(_git_tags())
    for variable, tag in (("DVC_EXP_NAME", "dvc.exp_name"), ("DVC_EXP_BASELINE_REV", "dvc.baseline_rev")):
        if os.environ.get(variable):
            tags[tag] = os.environ[variable]
    return tags


def _git_tags() -> dict[str, str]:
    def git(*arguments: str) -> str:
        return subprocess.run(["git", *arguments], capture_output=True, text=True, check=True).stdout.strip()

    try:
        return {"git_commit": git("rev-parse", "HEAD"),
                "git_dirty": str(bool(git("status", "--porcelain", "--untracked-files=no")))}
    except (OSError, subprocess.CalledProcessError):
        return {"git_commit": "unknown", "git_dirty": "unknown"}


class _KerasFlavor:
    """mlflow.keras whose save_model creates the model folder first.

    MLflow 3.17.2's keras save_model writes the input example before it creates the folder, so logging a
    Keras model with an input example fails with FileNotFoundError.
    """

    __name__ = "mlflow.keras"

    @staticmethod
    def save_model(path, **keywords):
        keywords.pop("validate_serving_input", None)  # read by Model.log, unknown to mlflow.keras
        os.makedirs(path, exist_ok=True)
        mlflow.keras.save_model(path=path, **keywords)


def log_keras_model(model, input_example) -> str:
    """Log a Keras model with its signature and input example; tag the run with its URI and return it."""
    import keras
    import tensorflow as tf
    from mlflow.models import Model, infer_signature

    signature = infer_signature(input_example, model.predict(input_example, verbose=0))
    requirements = [f"tensorflow=={tf.__version__}", f"keras=={keras.__version__}",
                    f"mlflow=={mlflow.__version__}"]
    # validate_serving_input=False: MLflow would reload the model to check the example (seconds per run);
    # tests/test_serving.py checks the real serving round trip instead.
    info = Model.log(artifact_path=None, name="model", flavor=_KerasFlavor, model=model, signature=signature,
                     input_example=input_example, pip_requirements=requirements, validate_serving_input=False)
    mlflow.set_tag(MODEL_URI_TAG, info.model_uri)
    return info.model_uri


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
