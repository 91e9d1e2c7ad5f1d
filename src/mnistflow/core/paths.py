"""One home for the project's paths that are not stage arguments. Stage paths live in dvc.yaml only; the
raw data file is read from there (the prepare stage's --raw), so the commands use what the pipeline uses.

The project and its tracking store are found here too, without MLflow: the default store is embedded,
``sqlite:///<project>/mlflow.db``. <project> is ``DVC_ROOT`` when DVC runs the stage (for a queued experiment
that is the real repository, not DVC's temporary copy), else the folder holding dvc.yaml, found from the
working directory upwards. ``MLFLOW_TRACKING_URI`` overrides it (a tracking server, say)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from mnistflow.core.errors import DataError, TrackingError

PARAMS = Path("params.yaml")
STUDY = Path("study.yaml")
TUNE = Path("tune.yaml")
CONFIGS = Path("configs")
DVC_YAML = Path("dvc.yaml")
REGISTRY_LOCK = Path(".mnistflow-registry.lock")
SHOWN = Path("reports/shown")  # `mnistflow show` pictures (git-ignored)


def config_file(name: str, root: Path = Path()) -> Path:
    """configs/<name>.yaml, a named configuration."""
    return root / CONFIGS / f"{name}.yaml"


def stage_argument(root: Path, stage: str, flag: str) -> Path:
    """A path argument of a dvc.yaml stage's command, e.g. the prepare stage's `--raw`."""
    import yaml

    try:
        words = shlex.split(yaml.safe_load((root / DVC_YAML).read_text())["stages"][stage]["cmd"])
        return root / words[words.index(flag) + 1]
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError, IndexError) as error:
        raise DataError(f"{root / DVC_YAML}: cannot find the {stage} stage's {flag} path ({error})") from None


def raw_folder(root: Path) -> Path:
    """The folder of the named datasets the pipeline reads: the `--raw` argument of dvc.yaml's prepare stage."""
    return stage_argument(root, "prepare", "--raw")


def raw_data(root: Path) -> Path:
    """The raw MNIST file the pipeline reads: mnist.npz in the raw folder (or `--raw` itself, where a dvc.yaml
    from before datasets had names gives the file)."""
    folder = raw_folder(root)
    return folder if folder.suffix == ".npz" else folder / "mnist.npz"


def dataset_file(root: Path) -> Path:
    """The prepare stage's description of the dataset (its `--dataset`)."""
    return stage_argument(root, "prepare", "--dataset")


def review_file(root: Path) -> Path:
    """The label review file the prepare stage applies (its `--review`)."""
    return stage_argument(root, "prepare", "--review")


def optional_review_file(root: Path) -> Path | None:
    """The review file, or None where there is no pipeline that applies one (a study run with --data in a
    folder without dvc.yaml, or whose dvc.yaml has no prepare stage)."""
    try:
        return review_file(root)
    except DataError:
        return None


def error_reports(root: Path) -> Path:
    """The evaluate stage's error-analysis folder (its `--errors`), where the suspect tables are."""
    return stage_argument(root, "evaluate", "--errors")


def project_root(start: Path | None = None) -> Path | None:
    """DVC_ROOT if DVC set it, else the nearest folder from `start` (the working directory) up with dvc.yaml."""
    if os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"]).resolve()
    start = (start or Path.cwd()).resolve()
    return next((folder for folder in (start, *start.parents) if (folder / "dvc.yaml").is_file()), None)


def require_project_root() -> Path:
    root = project_root()
    if root is None and not os.environ.get("MLFLOW_TRACKING_URI"):
        raise TrackingError(f"{Path.cwd()} is not inside an mnistflow project (no dvc.yaml here or above); "
                            "run the command in the project, or set MLFLOW_TRACKING_URI")
    return root or Path.cwd()


def default_tracking_uri(root: Path) -> str:
    return f"sqlite:///{root / 'mlflow.db'}"


def tracking_uri(root: Path) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(root)


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///...` URI, else None."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///").split("?", 1)[0])


def user_cache() -> Path:
    """This user's cache of mnistflow: $XDG_CACHE_HOME/mnistflow, else ~/.cache/mnistflow."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mnistflow"
