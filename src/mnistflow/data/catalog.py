"""A dataset's description, which the prepare stage writes to data/dataset.json and every later stage, command
and run reads: its name, class names in label order, and where its data came from. Light: no image code."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from mnistflow.core import atomic
from mnistflow.core.errors import DataError

MNIST, FASHION = "mnist", "fashion-mnist"
DIGIT_CLASSES = tuple(str(digit) for digit in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
MNIST_MODEL_NAME = "mnist-digits"  # MNIST's registered model keeps the name it always had


@dataclasses.dataclass(frozen=True)
class Dataset:
    """What was read: a name (a slug, used for the registered model), the class names in label order, and
    where the data came from (path, size in bytes and sha256 of each file; a folder of images as one entry)."""

    name: str
    classes: tuple[str, ...]
    files: tuple[dict[str, Any], ...] = ()

    @property
    def digits(self) -> bool:
        """Whether its classes are the ten digits (the no-digit refusal applies)."""
        return self.classes == DIGIT_CLASSES

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "classes": list(self.classes), "files": list(self.files)}

    @property
    def model_name(self) -> str:
        return model_name_of(self.name)


def name_of(dataset: str) -> str:
    """The name of `prepare.dataset`'s value: itself for a named dataset, else its file's stem or folder's name."""
    if dataset in (MNIST, FASHION):
        return dataset
    path = Path(dataset)
    return slug(path.stem if path.suffix.lower() in (".npz", ".gz") else path.name)


def model_name_of(dataset_name: str) -> str:
    """A dataset's registered model: one per dataset, so one dataset's @champion never reads another's images."""
    return MNIST_MODEL_NAME if dataset_name == MNIST else dataset_name


def framing_of(dataset: Dataset) -> str:
    """How `predict` frames a photo for a model of this dataset: `digit` (ink fitted in 20x20 and centred by its
    mass, as MNIST and image-folder datasets are) or `fit` (the whole picture fitted in 28x28, as Fashion-MNIST's
    product photos are)."""
    return "fit" if dataset.name == FASHION else "digit"


def listed(names) -> str:
    """[3, 5] for digits, [Shirt, Coat] for names: how figures and descriptions list classes."""
    return "[" + ", ".join(names) + "]"


def slug(text: str) -> str:
    """A name fit for a registered model and a file name: lower-case letters, digits and '-'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "dataset"


def write(dataset: Dataset, path: Path) -> None:
    atomic.write_json(path, dataset.as_json())


MNIST_DATASET = Dataset(MNIST, DIGIT_CLASSES)


def read(path: Path | None) -> Dataset:
    """The prepare stage's description of its dataset; MNIST's when none is given (a pipeline from before
    datasets had descriptions)."""
    if path is None:
        return MNIST_DATASET
    try:
        loaded = json.loads(Path(path).read_text())
        return Dataset(str(loaded["name"]), tuple(map(str, loaded["classes"])), tuple(loaded["files"]))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(f"{path}: expected the prepare stage's dataset description ({error}); "
                        "run `dvc repro`") from None
