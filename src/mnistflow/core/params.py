"""params.yaml, parsed once into frozen dataclasses.

Every key is required, unknown keys are rejected, and each value is checked, so that a typo fails in one
line before any work starts. The parser is generic over the dataclasses below; each section validates its
own ranges in ``__post_init__``.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from mnistflow.core.errors import ParamsError

OPTIMIZERS = ("adam", "adamw", "nadam", "rmsprop", "sgd", "adagrad")
ACTIVATIONS = ("relu", "elu", "selu", "gelu", "silu", "tanh", "sigmoid", "softplus", "linear")
INITIALIZERS = (
    "normal", "uniform", "glorot_uniform", "glorot_normal", "he_normal", "he_uniform",
    "lecun_normal", "lecun_uniform", "random_normal", "random_uniform", "truncated_normal", "zeros",
)
LOSSES = ("crossentropy", "clipped_crossentropy")
NUMERICS = ("portable", "native")
SOURCES = ("file", "keras")
NAMED_DATASETS = ("mnist", "fashion-mnist")  # data.catalog's names; any other value is a path
MAX_THREADS = 256
MAX_SHIFT = 8  # pixels; a 28x28 digit shifted further leaves the frame
MAX_SEED = 2**32 - 1  # NumPy's and TensorFlow's seeds are 32-bit
MAX_UNITS = 65_536  # a layer's width; beyond it the weights alone outgrow any machine that trains MNIST
MAX_LEARNING_RATE = 10.0  # a larger step diverges for every optimizer offered here


def _require(condition: bool, key: str, expected: str, value: Any) -> None:
    if not condition:
        raise ParamsError(f"{key} must be {expected}, got {value!r}")


def _require_choice(value: str, key: str, choices: tuple[str, ...]) -> None:
    _require(value in choices, key, "one of " + ", ".join(choices), value)


@dataclasses.dataclass(frozen=True)
class PrepareParams:
    dataset: str
    source: str
    validation_fraction: float
    split_seed: int
    scale: bool
    train_limit: int | None

    def __post_init__(self) -> None:
        _require(isinstance(self.dataset, str) and bool(self.dataset.strip()), "prepare.dataset",
                 "mnist, fashion-mnist or the path of a dataset", self.dataset)
        _require(self.source == "file" or self.dataset in NAMED_DATASETS, "prepare.source",
                 f"file for a dataset given by its path (keras downloads only {', '.join(NAMED_DATASETS)})",
                 self.source)
        _require_choice(self.source, "prepare.source", SOURCES)
        _require(0 < self.validation_fraction < 1, "prepare.validation_fraction", "in (0, 1)",
                 self.validation_fraction)
        _require(0 <= self.split_seed <= MAX_SEED, "prepare.split_seed", f"an integer in 0-{MAX_SEED}", self.split_seed)
        _require(self.train_limit is None or self.train_limit >= 20, "prepare.train_limit",
                 "null or an integer >= 20", self.train_limit)


ARCHITECTURES = ("mlp", "cnn")


@dataclasses.dataclass(frozen=True)
class MlpParams:
    units: int
    activation: str
    hidden_initializer: str
    output_initializer: str

    def __post_init__(self) -> None:
        _require(1 <= self.units <= MAX_UNITS, "model.mlp.units", f"an integer in 1-{MAX_UNITS}", self.units)
        _require_choice(self.activation, "model.mlp.activation", ACTIVATIONS)
        _require_choice(self.hidden_initializer, "model.mlp.hidden_initializer", INITIALIZERS)
        _require_choice(self.output_initializer, "model.mlp.output_initializer", INITIALIZERS)


@dataclasses.dataclass(frozen=True)
class CnnParams:
    filters: int
    dense_units: int
    conv_dropout: float
    dense_dropout: float

    def __post_init__(self) -> None:
        _require(1 <= self.filters <= MAX_UNITS, "model.cnn.filters", f"an integer in 1-{MAX_UNITS}", self.filters)
        _require(1 <= self.dense_units <= MAX_UNITS, "model.cnn.dense_units", f"an integer in 1-{MAX_UNITS}",
                 self.dense_units)
        _require(0 <= self.conv_dropout < 1, "model.cnn.conv_dropout", "in [0, 1)", self.conv_dropout)
        _require(0 <= self.dense_dropout < 1, "model.cnn.dense_dropout", "in [0, 1)", self.dense_dropout)


@dataclasses.dataclass(frozen=True)
class ModelParams:
    arch: str
    mlp: MlpParams
    cnn: CnnParams

    def __post_init__(self) -> None:
        _require_choice(self.arch, "model.arch", ARCHITECTURES)

    def active(self) -> MlpParams | CnnParams:
        """The params of the chosen architecture."""
        return getattr(self, self.arch)


@dataclasses.dataclass(frozen=True)
class TrainParams:
    seed: int
    loss: str
    optimizer: str
    learning_rate: float
    learning_rate_decay: float
    batch_size: int
    epochs: int
    augment_shift: int
    threads: int
    numerics: str

    def __post_init__(self) -> None:
        _require(0 <= self.seed <= MAX_SEED, "train.seed", f"an integer in 0-{MAX_SEED}", self.seed)
        _require_choice(self.loss, "train.loss", LOSSES)
        _require_choice(self.optimizer, "train.optimizer", OPTIMIZERS)
        _require(0 < self.learning_rate <= MAX_LEARNING_RATE, "train.learning_rate",
                 f"a number in (0, {MAX_LEARNING_RATE:g}]", self.learning_rate)
        _require(0 < self.learning_rate_decay <= 1, "train.learning_rate_decay", "in (0, 1]",
                 self.learning_rate_decay)
        _require(self.batch_size >= 1, "train.batch_size", "an integer >= 1", self.batch_size)
        _require(self.epochs >= 1, "train.epochs", "an integer >= 1", self.epochs)
        _require(0 <= self.augment_shift <= MAX_SHIFT, "train.augment_shift", f"an integer in 0-{MAX_SHIFT}",
                 self.augment_shift)
        _require(1 <= self.threads <= MAX_THREADS, "train.threads", f"an integer in 1-{MAX_THREADS}", self.threads)
        _require_choice(self.numerics, "train.numerics", NUMERICS)

    @property
    def portable_products(self) -> bool:
        """Whether every product runs in the CPU-independent form of models.portable (portable numerics)."""
        return self.numerics == "portable"


@dataclasses.dataclass(frozen=True)
class DiagnosticsParams:
    collapse_threshold: float
    saturation_sample: int

    def __post_init__(self) -> None:
        _require(0 < self.collapse_threshold < 1, "diagnostics.collapse_threshold", "in (0, 1)",
                 self.collapse_threshold)
        _require(self.saturation_sample >= 1, "diagnostics.saturation_sample", "an integer >= 1",
                 self.saturation_sample)


@dataclasses.dataclass(frozen=True)
class EvaluateParams:
    confident_mistakes: int
    class_gallery_limit: int
    label_issues_top_k: int

    def __post_init__(self) -> None:
        _require(self.confident_mistakes >= 1, "evaluate.confident_mistakes", "an integer >= 1",
                 self.confident_mistakes)
        _require(self.class_gallery_limit >= 1, "evaluate.class_gallery_limit", "an integer >= 1",
                 self.class_gallery_limit)
        _require(self.label_issues_top_k >= 1, "evaluate.label_issues_top_k", "an integer >= 1",
                 self.label_issues_top_k)


@dataclasses.dataclass(frozen=True)
class CrossvalParams:
    enabled: bool
    folds: int

    def __post_init__(self) -> None:
        _require(2 <= self.folds <= 50, "crossval.folds", "an integer in 2-50", self.folds)


@dataclasses.dataclass(frozen=True)
class TrackingParams:
    experiment: str

    def __post_init__(self) -> None:
        _require(bool(self.experiment.strip()), "tracking.experiment", "a non-empty name", self.experiment)


@dataclasses.dataclass(frozen=True)
class Params:
    prepare: PrepareParams
    model: ModelParams
    train: TrainParams
    diagnostics: DiagnosticsParams
    evaluate: EvaluateParams
    crossval: CrossvalParams
    tracking: TrackingParams


def _check_type(value: Any, annotation: Any, key: str) -> Any:
    """Return value if it fits annotation (ints are accepted where floats are expected)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        annotation = next(option for option in options if option is not type(None))
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is int and isinstance(value, bool):
        raise ParamsError(f"{key} must be an integer, got {value!r}")
    if not isinstance(value, annotation):
        raise ParamsError(f"{key} must be {annotation.__name__}, got {value!r}")
    return value


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ParamsError(f"{prefix or 'params'} must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [field.name for field in dataclasses.fields(cls)]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise ParamsError(f"unknown key {prefix}{unknown[0]} (expected one of: {', '.join(names)})")
    missing = [name for name in names if name not in raw]
    if missing:
        raise ParamsError(f"missing key {prefix}{missing[0]}")
    values = {}
    for name in names:
        hint = hints[name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            values[name] = _build(hint, raw[name], f"{prefix}{name}.")
        else:
            values[name] = _check_type(raw[name], hint, f"{prefix}{name}")
    return cls(**values)


def parse_params(raw: Any) -> Params:
    return _build(Params, raw, "")


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error, not a silent overwrite."""

    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        duplicates = sorted({str(key) for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ParamsError(f"key {duplicates[0]!r} is given twice (line {node.start_mark.line + 1})")
        return super().construct_mapping(node, deep=deep)


# YAML 1.2's floats: `1e-4` is a number, as DVC (YAML 1.2) reads it; YAML 1.1 needs a dot (`1.0e-4`).
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def read_yaml(path: str | Path) -> Any:
    """A YAML file's content; a missing, non-UTF-8 or invalid file, or a duplicate key, is a ParamsError."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found") from None
    except UnicodeDecodeError as error:
        raise ParamsError(f"{path}: not UTF-8 text (byte {error.start})") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except ParamsError as error:
        raise ParamsError(f"{path}: {error}") from None
    except yaml.YAMLError as error:
        raise ParamsError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None


def read_params(path: str | Path) -> tuple[dict, Params]:
    """params.yaml as its plain mapping (for overrides) and as validated Params."""
    raw = read_yaml(path)
    try:
        return raw, parse_params(raw)
    except ParamsError as error:
        raise ParamsError(f"{path}: {error}") from None


def of_other_architecture(dotted: str, arch: str) -> bool:
    """Whether a dotted key is a param of another architecture than `arch` (`model.cnn.filters` for an MLP)."""
    parts = dotted.split(".")
    return len(parts) == 3 and parts[0] == "model" and parts[1] != arch


def apply_overrides(raw: dict, overrides: dict[str, Any]) -> Params:
    """params.yaml's mapping with dotted overrides (`train.seed: 2`, `model.cnn.filters: 16`), validated like
    params.yaml itself; an override of another architecture's params than the chosen one is an error."""
    raw = copy.deepcopy(raw)
    for dotted, value in overrides.items():
        *sections, key = dotted.split(".")
        mapping: Any = raw
        for section in sections:
            mapping = mapping.get(section) if isinstance(mapping, dict) else None
        if not sections or not isinstance(mapping, dict) or key not in mapping or isinstance(mapping[key], dict):
            raise ParamsError(f"unknown param {dotted!r} in a study override (expected section.key)")
        mapping[key] = value
    params = parse_params(raw)
    for dotted in overrides:
        if of_other_architecture(dotted, params.model.arch):
            raise ParamsError(f"{dotted} does not apply to model.arch {params.model.arch}")
    return params


def load_params(path: str | Path) -> Params:
    return read_params(path)[1]


def flatten(params: Params, sections: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Dotted names for the params of `sections` (default: all), as MLflow params: {'train.seed': 1, ...}.

    Of the model section, only the chosen architecture's params are given: {'model.arch': 'mlp',
    'model.mlp.units': 64, ...}.
    """
    flat = {}
    for field in dataclasses.fields(params):
        if sections is None or field.name in sections:
            flat.update(_dotted(getattr(params, field.name), f"{field.name}."))
    return flat


def _dotted(section: Any, prefix: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for field in dataclasses.fields(section):
        value = getattr(section, field.name)
        if not dataclasses.is_dataclass(value):
            flat[f"{prefix}{field.name}"] = value
        elif not isinstance(section, ModelParams) or field.name == section.arch:
            flat.update(_dotted(value, f"{prefix}{field.name}."))
    return flat
