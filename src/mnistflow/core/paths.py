"""One home for the project's paths that are not stage arguments. Stage paths live in dvc.yaml only; the
raw data file is read from there (the prepare stage's --raw), so the commands use what the pipeline uses."""

from __future__ import annotations

import shlex
from pathlib import Path

from mnistflow.core.errors import DataError

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


def raw_data(root: Path) -> Path:
    """The raw MNIST file the pipeline reads: the `--raw` argument of dvc.yaml's prepare stage."""
    return stage_argument(root, "prepare", "--raw")


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
