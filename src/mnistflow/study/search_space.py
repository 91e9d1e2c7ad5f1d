"""A tune file: the search space over dotted params, the overrides every trial shares, and the pruning rules.

    seed: 0                         # the sampler's seed; each trial's train.seed comes from it and the trial number
    base: {train.epochs: 20}        # overrides for every trial
    space:
      model.mlp.units: {low: 16, high: 512, log: true}          # integers when both bounds are integers
      train.learning_rate: {low: 0.0001, high: 0.1, log: true}
      prepare.scale: {choices: [true, false]}
    pruning: {collapse_epochs: 2, pruner: median, warmup_epochs: 3}

Every check runs on the file alone and on params.yaml, before any study is opened or anything trains.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from mnistflow.core.errors import ParamsError
from mnistflow.core.params import MAX_SEED, apply_overrides, of_other_architecture, read_yaml

PRUNERS = ("median", "halving", "none")
ARCH_KEY = "model.arch"
MAX_CHOICES = 100


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One searched param: a range (`low`..`high`, integers when both bounds are) or a list of `choices`."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()

    @property
    def is_integer(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)

    def suggest(self, trial: Any) -> Any:
        """The value an Optuna trial samples for this param."""
        if self.choices:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.is_integer:
            return trial.suggest_int(self.name, self.low, self.high, log=self.log)
        return trial.suggest_float(self.name, float(self.low or 0), float(self.high or 0), log=self.log)

    def corners(self) -> list[Any]:
        """The extreme values, validated against params.yaml's rules before the search starts."""
        return list(self.choices) if self.choices else [self.low, self.high]


@dataclasses.dataclass(frozen=True)
class Pruning:
    collapse_epochs: int = 2  # prune once a class has stayed collapsed this many epochs in a row; 0 = never
    pruner: str = "median"  # on validation accuracy: median, halving (successive halving) or none
    warmup_epochs: int = 3  # the median pruner judges no trial before this epoch


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    seed: int
    base: dict[str, Any]
    dimensions: tuple[Dimension, ...]
    pruning: Pruning

    def as_record(self) -> dict[str, Any]:
        """A plain mapping, stored with the study so that a resumed study can check its space is unchanged."""
        return dataclasses.asdict(self)

    def suggest(self, trial: Any, default_arch: str) -> dict[str, Any]:
        """A trial's overrides: `base`, then the sampled values; the architecture is sampled first, and the
        params of the other architecture are neither sampled nor applied."""
        overrides = dict(self.base)
        arch_dimension = next((dimension for dimension in self.dimensions if dimension.name == ARCH_KEY), None)
        if arch_dimension is not None:
            overrides[ARCH_KEY] = arch_dimension.suggest(trial)
        arch = overrides.get(ARCH_KEY, default_arch)
        for dimension in self.dimensions:
            if dimension.name != ARCH_KEY and not of_other_architecture(dimension.name, arch):
                overrides[dimension.name] = dimension.suggest(trial)
        return {key: value for key, value in overrides.items() if not of_other_architecture(key, arch)}


def trial_seed(study_seed: int, trial_number: int) -> int:
    """A trial's train.seed: a function of the study's seed and the trial number only, so a trial re-runs alone."""
    return int(np.random.SeedSequence([study_seed, trial_number]).generate_state(1)[0]) % (MAX_SEED + 1)


def _of_one_architecture(dotted: str) -> bool:
    return of_other_architecture(dotted, "")


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def _dimension(path: Path, name: str, spec: Any) -> Dimension:
    where = f"{path}: space.{name}"
    if not isinstance(spec, dict) or not ({"choices"} <= set(spec) or {"low", "high"} <= set(spec)):
        raise ParamsError(f"{where}: expected {{low: ..., high: ...}} or {{choices: [...]}}")
    unknown = sorted(set(spec) - {"low", "high", "log", "choices"})
    if unknown:
        raise ParamsError(f"{where}: unknown key {unknown[0]!r} (expected low, high, log or choices)")
    if "choices" in spec:
        if not isinstance(spec["choices"], list) or not spec["choices"]:
            raise ParamsError(f"{where}: choices must be a non-empty list")
        if len(spec["choices"]) > MAX_CHOICES or not all(_is_scalar(choice) for choice in spec["choices"]):
            raise ParamsError(f"{where}: choices must be at most {MAX_CHOICES} numbers, strings, booleans or nulls")
        return Dimension(name, choices=tuple(spec["choices"]))
    low, high, log = spec["low"], spec["high"], spec.get("log", False)
    if not all(isinstance(bound, int | float) and not isinstance(bound, bool) and math.isfinite(bound)
               for bound in (low, high)):
        raise ParamsError(f"{where}: low and high must be numbers, got {low!r} and {high!r}")
    if not low < high:
        raise ParamsError(f"{where}: the range is {'empty' if low == high else 'inverted'} "
                          f"(low {low} must be below high {high})")
    if log and low <= 0:
        raise ParamsError(f"{where}: a log range needs low > 0, got {low}")
    return Dimension(name, low, high, bool(log))


def _pruning(path: Path, spec: Any) -> Pruning:
    spec = spec or {}
    unknown = sorted(set(spec) - {field.name for field in dataclasses.fields(Pruning)}) if isinstance(spec, dict) \
        else ["(not a mapping)"]
    if unknown:
        raise ParamsError(f"{path}: pruning: unknown key {unknown[0]!r} (expected collapse_epochs, pruner, "
                          "warmup_epochs)")
    pruning = Pruning(**spec)
    if pruning.pruner not in PRUNERS:
        raise ParamsError(f"{path}: pruning.pruner must be one of {', '.join(PRUNERS)}, got {pruning.pruner!r}")
    for key in ("collapse_epochs", "warmup_epochs"):
        value = getattr(pruning, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ParamsError(f"{path}: pruning.{key} must be an integer >= 0, got {value!r}")
    return pruning


def read_search_space(path: Path, raw_params: dict) -> SearchSpace:
    """The tune file, validated: each range and choice applied to params.yaml (an unknown param or a value
    params.yaml refuses is one line), before anything is built."""
    spec = read_yaml(path)
    if not isinstance(spec, dict):
        raise ParamsError(f"{path}: expected a mapping with seed, base, space and pruning")
    unknown = sorted(set(spec) - {"seed", "base", "space", "pruning"})
    if unknown:
        raise ParamsError(f"{path}: unknown key {unknown[0]!r} (expected seed, base, space, pruning)")
    seed, base, space = spec.get("seed", 0), spec.get("base") or {}, spec.get("space") or {}
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise ParamsError(f"{path}: seed must be an integer in 0-{MAX_SEED}, got {seed!r}")
    if not isinstance(base, dict) or not isinstance(space, dict) or not space:
        raise ParamsError(f"{path}: base must be a mapping and space a non-empty mapping of dotted params")
    try:  # an architecture's own params are checked with the architectures sampled, below
        apply_overrides(raw_params, {key: value for key, value in base.items() if not _of_one_architecture(key)})
    except ParamsError as error:
        raise ParamsError(f"{path}: base: {error}") from None
    dimensions = tuple(_dimension(path, name, value) for name, value in space.items())
    searched = SearchSpace(seed, base, dimensions, _pruning(path, spec.get("pruning")))
    _check_against_params(path, searched, raw_params)
    return searched


def _fixed_trial(space: SearchSpace, values: dict[str, Any]) -> Any:
    """A stand-in trial for validation: the given values, and every other dimension at its first choice or low."""
    import optuna

    return optuna.trial.FixedTrial({**{dimension.name: dimension.corners()[0] for dimension in space.dimensions},
                                    **values})


def _check_against_params(path: Path, space: SearchSpace, raw_params: dict) -> None:
    default_arch = raw_params.get("model", {}).get("arch", "mlp")
    arch_dimension = next((dimension for dimension in space.dimensions if dimension.name == ARCH_KEY), None)
    archs = set(arch_dimension.choices) if arch_dimension else {space.base.get(ARCH_KEY, default_arch)}
    for dimension in space.dimensions:
        parts = dimension.name.split(".")
        own_arch = parts[1] if len(parts) == 3 and parts[0] == "model" else None
        if own_arch is not None and own_arch not in archs:
            raise ParamsError(f"{path}: space.{dimension.name} applies to no trial (model.arch is "
                              f"{' or '.join(sorted(archs))})")
        for value in dimension.corners():
            fixed = {dimension.name: value, **({ARCH_KEY: own_arch} if own_arch and arch_dimension else {})}
            overrides = space.suggest(_fixed_trial(space, fixed), default_arch)
            try:
                apply_overrides(raw_params, overrides)
            except ParamsError as error:
                raise ParamsError(f"{path}: space.{dimension.name}: {error}") from None
