"""The MNIST arrays: loading with full verification, the train/validation split, and preprocessing."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import zipfile
import zlib
from pathlib import Path
from types import MappingProxyType

import numpy as np

from mnistflow.core import archives
from mnistflow.core.errors import DataError, ParamsError
from mnistflow.data.catalog import DIGIT_CLASSES

# sha256 of array.tobytes() for canonical MNIST (see data/raw/README.md).
EXPECTED_SHA256 = MappingProxyType({
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
})
EXPECTED_SHAPES = MappingProxyType({
    "x_train": (60000, 28, 28),
    "y_train": (60000,),
    "x_test": (10000, 28, 28),
    "y_test": (10000,),
})
NUM_CLASSES = 10
IMAGE_SIDE = 28
IMAGE_PIXELS = IMAGE_SIDE * IMAGE_SIDE


@dataclasses.dataclass(frozen=True)
class Split:
    """One prepared split: images as float32 rows of 784 pixels, labels as uint8, source indices, and the
    dataset's class names in label order (not saved with the split: data/dataset.json holds them)."""

    images: np.ndarray
    labels: np.ndarray
    indices: np.ndarray
    classes: tuple[str, ...] = DIGIT_CLASSES


def read_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DataError(f"{path}: {_not_a_file(path)}")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise DataError(f"{path}: a single .npy array, expected an .npz archive of named arrays")
        with loaded as archive:
            return {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError) as error:
        raise DataError(f"{path}: not a readable .npz archive ({error})") from None


def _not_a_file(path: Path) -> str:
    """Why `path` is no data file: missing, a dangling link, or something other than a regular file."""
    target = f" (a link to {os.readlink(path)})" if path.is_symlink() else ""
    if not path.exists():
        return f"data file not found{target}"
    kind = "a folder" if path.is_dir() else "a device or pipe, not a regular file"
    return f"{kind}{target}; expected an .npz archive"


def verify_arrays(arrays: dict[str, np.ndarray], source: str, check_hashes: bool = True) -> None:
    for name, shape in EXPECTED_SHAPES.items():
        if name not in arrays:
            raise DataError(f"{source}: array {name!r} is missing (expected {', '.join(EXPECTED_SHAPES)})")
        array = arrays[name]
        if array.shape != shape or array.dtype != np.uint8:
            raise DataError(f"{source}: {name} must be uint8 of shape {shape}, "
                            f"got {array.dtype} of shape {array.shape}")
    for name in ("y_train", "y_test"):
        if int(arrays[name].max()) >= NUM_CLASSES:
            raise DataError(f"{source}: {name} has label {int(arrays[name].max())}, expected 0-9")
    if check_hashes:
        for name, expected in EXPECTED_SHA256.items():
            actual = hashlib.sha256(arrays[name].tobytes()).hexdigest()
            if actual != expected:
                raise DataError(f"{source}: {name} sha256 is {actual[:12]}…, expected {expected[:12]}… "
                                "(not canonical MNIST)")


def load_mnist(path: str | Path) -> dict[str, np.ndarray]:
    """Read and verify canonical MNIST from an .npz file (no pickle)."""
    arrays = read_npz(Path(path))
    verify_arrays(arrays, str(path))
    return arrays


def download_mnist() -> dict[str, np.ndarray]:
    """Fetch MNIST with keras.datasets (needs the internet) and verify it like a local file."""
    import keras

    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    verify_arrays(arrays, "keras.datasets.mnist")
    return arrays


def split_indices(count: int, validation_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle range(count) with `seed` and cut it into (train, validation) index arrays, each sorted."""
    validation_count = round(count * validation_fraction)
    if not 1 <= validation_count < count:
        raise ParamsError(f"prepare.validation_fraction {validation_fraction} of {count} images leaves "
                          f"{validation_count} validation and {count - validation_count} training images; "
                          "each needs at least 1")
    order = np.random.default_rng(seed).permutation(count)
    return np.sort(order[validation_count:]), np.sort(order[:validation_count])


def preprocess(images: np.ndarray, scale: bool) -> np.ndarray:
    """Flatten to rows of 784 float32 pixels, divided by 255 when `scale`."""
    rows = images.reshape(len(images), IMAGE_PIXELS).astype(np.float32)
    return rows / np.float32(255.0) if scale else rows


def make_split(images: np.ndarray, labels: np.ndarray, indices, scale: bool,
               classes: tuple[str, ...] = DIGIT_CLASSES) -> Split:
    indices = np.asarray(indices, dtype=np.int64)
    return Split(preprocess(images[indices], scale), labels[indices], indices, classes)


def prepare_splits(arrays: dict[str, np.ndarray], params, classes: tuple[str, ...] = DIGIT_CLASSES) -> dict[str, Split]:
    """Train, validation and test splits as the `prepare` params say (a PrepareParams)."""
    images, labels = arrays["x_train"], arrays["y_train"]
    if params.train_limit is not None:
        images, labels = images[:params.train_limit], labels[:params.train_limit]
    train, validation = split_indices(len(labels), params.validation_fraction, params.split_seed)
    test = np.arange(len(arrays["y_test"]))
    return {"train": make_split(images, labels, train, params.scale, classes),
            "validation": make_split(images, labels, validation, params.scale, classes),
            "test": make_split(arrays["x_test"], arrays["y_test"], test, params.scale, classes)}


def check_batch_fits(batch_size: int, train: Split) -> None:
    """A batch larger than the training split cannot run: say so before any work."""
    if batch_size > len(train.labels):
        raise ParamsError(f"train.batch_size is {batch_size}, larger than the training split "
                          f"({len(train.labels)} images)")


def save_split(split: Split, path: str | Path) -> None:
    """Write a split as .npz, byte-identical whenever the arrays are (no zip timestamps)."""
    archives.save_npz(path, {"images": split.images, "labels": split.labels, "indices": split.indices})


def load_split(path: str | Path, classes: tuple[str, ...] = DIGIT_CLASSES) -> Split:
    arrays = read_npz(Path(path))
    try:
        return Split(arrays["images"], arrays["labels"], arrays["indices"], classes)
    except KeyError as error:
        raise DataError(f"{path}: array {error} is missing (expected images, labels, indices)") from None
