"""A study: a grid of configurations x seeds; each run trains and evaluates like the pipeline.

Configurations are dotted overrides of params.yaml (`model.mlp.units: 128`). They come from the `grid` of a
study file (the cartesian product), or from named configurations in configs/<name>.yaml.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mnistflow.core.errors import ParamsError, UsageError
from mnistflow.core.params import MAX_SEED, apply_overrides, of_other_architecture, read_yaml
from mnistflow.study.pruning import TrialLink

MAX_SEEDS = 10_000  # runs per configuration; a typo like 1-100000000 must not fill memory first


@dataclasses.dataclass(frozen=True)
class Job:
    """One run of the study: a configuration (its overrides and their key) and a seed; a tune trial's run also
    links to its trial, which it reports to and which may prune it."""

    key: str
    overrides: dict[str, Any]
    seed: int
    trial: TrialLink | None = None


def read_overrides(path: Path) -> dict[str, Any]:
    overrides = read_yaml(path)
    if not isinstance(overrides, dict):
        raise ParamsError(f"{path}: expected a mapping of dotted params to values")
    return overrides


def read_study_file(path: Path) -> dict[str, Any]:
    """A study file: `seeds` (list), `base` (overrides for every run) and `grid` (lists of values)."""
    spec = read_overrides(path)
    unknown = sorted(set(spec) - {"seeds", "base", "grid"})
    if unknown:
        raise ParamsError(f"{path}: unknown key {unknown[0]!r} (expected seeds, base, grid)")
    if not all(isinstance(values, list) and values for values in spec.get("grid", {}).values()):
        raise ParamsError(f"{path}: every grid entry must be a non-empty list of values")
    return spec


def config_key(overrides: dict[str, Any]) -> str:
    return ",".join(f"{name}={value}" for name, value in sorted(overrides.items())) or "defaults"


def grid_configurations(base: dict[str, Any], grid: dict[str, list],
                        default_arch: str = "mlp") -> list[tuple[str, dict[str, Any]]]:
    """(key, overrides) for each point of the grid; the key names only the values that vary."""
    names = sorted(grid)
    points = [dict(zip(names, values, strict=True)) for values in itertools.product(*(grid[name] for name in names))]
    return [(config_key(point), fitted(base, point, {}, default_arch)) for point in points]


def fitted(shared: dict[str, Any], own: dict[str, Any], later: dict[str, Any], default_arch: str) -> dict[str, Any]:
    """A configuration's overrides: `shared`, then its `own`, then `later`; the shared and later keys of another
    architecture's params (`model.cnn.*` for an MLP configuration) are left out, as they do not apply to it."""
    arch = {**shared, **own, **later}.get("model.arch", default_arch)
    return {**_fitting(shared, arch), **own, **_fitting(later, arch)}


def _fitting(overrides: dict[str, Any], arch: str) -> dict[str, Any]:
    return {key: value for key, value in overrides.items() if not of_other_architecture(key, arch)}


def check_shared_overrides_apply(shared: dict[str, Any], configurations: list[tuple[str, dict[str, Any]]]) -> None:
    """A --set override that fits no configuration's architecture is a mistake: one line. (The study file's
    `base` may hold keys for the architecture its own grid uses, and is applied where it fits.)"""
    for key in shared:
        if not any(key in overrides for _, overrides in configurations):
            raise ParamsError(f"--set {key} applies to no configuration of this study (another model.arch's param)")


def make_jobs(configurations: list[tuple[str, dict[str, Any]]], seeds: list[int], raw_params: dict) -> list[Job]:
    """Every configuration x seed, each validated up front so a typo fails before anything trains."""
    jobs = []
    for key, overrides in configurations:
        apply_overrides(raw_params, overrides)
        jobs += [Job(key, overrides, seed) for seed in seeds]
    return jobs


def parse_seeds(text: str) -> list[int]:
    """'1-8' or '1,2,5' -> [1, ..., 8] or [1, 2, 5]."""
    try:
        if "-" in text:
            first, last = (int(part) for part in text.split("-", 1))
            count = last - first + 1
        else:
            parts = [int(part) for part in text.split(",")]
            first, last, count = min(parts), max(parts), len(parts)
    except ValueError:
        raise UsageError(f"--seeds must look like 1-8 or 1,2,3, got {text!r}") from None
    if count < 1:
        raise UsageError(f"--seeds {text!r} names no seed")
    if count > MAX_SEEDS or first < 0 or last > MAX_SEED:
        raise UsageError(f"--seeds {text!r}: at most {MAX_SEEDS} seeds, each in 0-{MAX_SEED}")
    return list(range(first, last + 1)) if "-" in text else parts


def parse_assignment(text: str) -> tuple[str, Any]:
    """'train.epochs=5' -> ('train.epochs', 5), the value read as YAML."""
    name, separator, value = text.partition("=")
    if not separator or "." not in name:
        raise UsageError(f"--set expects section.key=value, got {text!r}")
    return name.strip(), yaml.safe_load(value)


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a study will run: its configurations (key, overrides), its seeds, and every job."""

    configurations: list[tuple[str, dict[str, Any]]]
    seeds: list[int]
    jobs: list[Job]


def plan(study_file: Path | None, configs: list[Path], seeds: str | None, assignments: list[str],
         raw_params: dict) -> Plan:
    """The study's jobs, every one validated. A named configuration (which replaces the grid) applies over the
    study file's `base` (when a study file is given), and each `--set` over both; a grid point applies over
    `base` and `--set` alike. A `base` or `--set` key of one architecture's params goes only to the
    configurations of that architecture."""
    spec = read_study_file(study_file) if study_file else {}
    base, extra = spec.get("base", {}), dict(parse_assignment(item) for item in assignments)
    default_arch = raw_params.get("model", {}).get("arch", "mlp")
    if configs:
        configurations = [(path.stem, fitted(base, read_overrides(path), extra, default_arch)) for path in configs]
    else:
        configurations = grid_configurations({**base, **extra}, spec.get("grid", {}), default_arch)
    check_shared_overrides_apply(extra, configurations)
    seed_list = parse_seeds(seeds) if seeds else list(spec.get("seeds", [1]))
    return Plan(configurations, seed_list, make_jobs(configurations, seed_list, raw_params))


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: finished and failed runs, collapse counts, test accuracy."""
    finished = results[results["status"] == "FINISHED"].groupby("configuration")
    summary = pd.DataFrame({
        "runs": finished.size(),
        "ended_collapsed": finished["final_collapsed_classes"].apply(lambda values: int((values > 0).sum())),
        "collapsed_any_epoch": finished["epochs_collapsed"].apply(lambda values: int((values > 0).sum())),
        "mean_epochs_collapsed": finished["epochs_collapsed"].mean(),
        "test_accuracy_mean": finished["test_accuracy"].mean(),
        "test_accuracy_min": finished["test_accuracy"].min(),
        "test_accuracy_max": finished["test_accuracy"].max(),
    })
    failed = results[results["status"] != "FINISHED"].groupby("configuration").size().rename("failed")
    summary = summary.join(failed, how="outer").reindex(sorted(results["configuration"].unique()))
    summary[["runs", "failed"]] = summary[["runs", "failed"]].fillna(0).astype(int)
    return summary.reset_index(names="configuration")
