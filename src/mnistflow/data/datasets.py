"""The dataset the pipeline trains on (`prepare.dataset`): its arrays, class names and provenance.

`mnist` and `fashion-mnist` are named; anything else is a path to IDX files (gzipped or not), a `.npz` in
Keras's layout (x_train, y_train, x_test, y_test, and optionally `classes`) or an image folder
(train/<class>/*, test/<class>/*). Every format ends as the same four uint8 arrays, checked the same way.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from mnistflow.core.errors import DataError
from mnistflow.data import idx, image_folder, mnist
from mnistflow.data.catalog import DIGIT_CLASSES, FASHION, FASHION_CLASSES, MNIST, Dataset, name_of

FASHION_SYSTEM_FOLDER = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
FASHION_HOW_TO_GET = ("install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist, files in "
                      f"{FASHION_SYSTEM_FOLDER}) or put its four IDX files in data/raw/fashion-mnist/")
# sha256 of array.tobytes() for Fashion-MNIST as Zalando publishes it (see data/raw/README.md).
FASHION_SHA256 = MappingProxyType({
    "x_train": "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
    "y_train": "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
    "x_test": "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
    "y_test": "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
})
ARRAYS = ("x_train", "y_train", "x_test", "y_test")
IDX_PATTERNS = MappingProxyType({"x_train": ("train-images",), "y_train": ("train-labels",),
                                 "x_test": ("t10k-images", "test-images"), "y_test": ("t10k-labels", "test-labels")})
CLASSES_FILE = "classes.txt"  # beside IDX files: one class name per line, in label order


def load(dataset: str, raw_folder: Path, download: bool = False) -> tuple[dict[str, np.ndarray], Dataset]:
    """The four checked arrays of `dataset` and its description; `download` reads a named one from Keras."""
    if dataset == MNIST:
        if download:
            return mnist.download_mnist(), Dataset(MNIST, DIGIT_CLASSES, ({"path": "keras.datasets.mnist"},))
        path = raw_folder if raw_folder.is_file() else raw_folder / "mnist.npz"
        return mnist.load_mnist(path), Dataset(MNIST, DIGIT_CLASSES, (describe_file(path),))
    if dataset == FASHION:
        return _fashion(raw_folder, download)
    return load_path(Path(dataset))


def _fashion(raw_folder: Path, download: bool) -> tuple[dict[str, np.ndarray], Dataset]:
    if download:
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
        arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
        files: tuple[dict[str, Any], ...] = ({"path": "keras.datasets.fashion_mnist"},)
    else:
        folder = next((folder for folder in (raw_folder / FASHION, FASHION_SYSTEM_FOLDER) if folder.is_dir()), None)
        if folder is None:
            raise DataError(f"dataset {FASHION} not found: {FASHION_HOW_TO_GET}")
        paths = idx_files(folder)
        arrays, files = {name: idx.read(path) for name, path in paths.items()}, tuple(map(describe_file,
                                                                                          paths.values()))
    check_arrays(arrays, FASHION, len(FASHION_CLASSES))
    for name, expected in FASHION_SHA256.items():
        if hashlib.sha256(arrays[name].tobytes()).hexdigest() != expected:
            raise DataError(f"{FASHION}: {name} is not Fashion-MNIST as published (sha256 differs)")
    return arrays, Dataset(FASHION, FASHION_CLASSES, files)


def load_path(path: Path) -> tuple[dict[str, np.ndarray], Dataset]:
    """A dataset given by its path: an image folder, a folder of IDX files, or a Keras-layout .npz."""
    if not path.exists():
        raise DataError(f"dataset {path} not found: give mnist, fashion-mnist, or the path of IDX files, a "
                        ".npz (x_train, y_train, x_test, y_test) or an image folder (train/<class>, test/<class>)")
    name = name_of(str(path))  # the name commands derive from params.yaml's value: register and predict agree
    if image_folder.is_image_folder(path):
        classes = image_folder.class_names(path)
        arrays = image_folder.read(path, classes)
        return _checked(arrays, path, classes), Dataset(name, classes, (describe_folder(path, classes),))
    if path.is_dir():
        paths = idx_files(path)
        arrays = {key: idx.read(file) for key, file in paths.items()}
        named = path / CLASSES_FILE
        listed = _names_file(named) if named.is_file() else None
        files = [describe_file(file) for file in paths.values()] + ([describe_file(named)] if listed else [])
        return _checked(arrays, path, listed), Dataset(name, _classes(arrays, listed), tuple(files))
    stored = mnist.read_npz(path)
    given = tuple(str(value) for value in stored.pop("classes")) if "classes" in stored else None
    return _checked(stored, path, given), Dataset(name, _classes(stored, given), (describe_file(path),))


def write_study_file(arrays: dict[str, np.ndarray], dataset: Dataset, folder: Path) -> Path:
    """The dataset as one Keras-layout .npz with its `name` and `classes`, for a study's workers (who may be on
    other machines): `<folder>/<name>-<hash>.npz`, written once per content."""
    from mnistflow.core import archives

    digest = hashlib.sha256("".join(entry.get("sha256", "") for entry in dataset.files).encode()).hexdigest()
    path = folder / f"{dataset.name}-{digest[:12]}.npz"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        archives.save_npz(path, {**arrays, "name": np.array(dataset.name), "classes": np.array(dataset.classes)})
    return path


def read_study_file(path: Path) -> tuple[dict[str, np.ndarray], Dataset]:
    """A study's data file: MNIST's own .npz (verified), or one `write_study_file` wrote."""
    stored = mnist.read_npz(path)
    if "name" not in stored:  # MNIST's own file, read once and verified as load_mnist does
        mnist.verify_arrays(stored, str(path))
        return stored, Dataset(MNIST, DIGIT_CLASSES)
    classes = tuple(str(name) for name in stored["classes"])
    return _checked(stored, path, classes), Dataset(str(stored["name"]), classes)


def _checked(arrays, path: Path, classes: tuple[str, ...] | None) -> dict[str, np.ndarray]:
    count = None if classes is None else len(classes)
    check_arrays(arrays, str(path), count)
    return {key: arrays[key].astype(np.uint8) for key in ARRAYS}


def _classes(arrays: dict[str, np.ndarray], classes: tuple[str, ...] | None) -> tuple[str, ...]:
    return classes or tuple(str(label) for label in range(int(arrays["y_train"].max()) + 1))


def _names_file(path: Path) -> tuple[str, ...]:
    names = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
    if len(names) < 2 or len(set(names)) != len(names):
        raise DataError(f"{path}: expected at least 2 distinct class names, one per line, in label order")
    return names


def idx_files(folder: Path) -> dict[str, Path]:
    """The four IDX files in `folder`, found by the names MNIST-like datasets give them."""
    found = {}
    for key, patterns in IDX_PATTERNS.items():
        matches = sorted(path for path in folder.iterdir() if any(pattern in path.name for pattern in patterns))
        if len(matches) != 1:
            raise DataError(f"{folder}: {'no' if not matches else len(matches)} IDX file(s) named like "
                            f"*{patterns[0]}*{' or *' + patterns[1] + '*' if len(patterns) > 1 else ''}; "
                            "expected one of each of train-images, train-labels, t10k-images, t10k-labels")
        found[key] = matches[0]
    return found


def check_arrays(arrays: dict[str, np.ndarray], source: str, class_count: int | None) -> None:
    """The four arrays are there, images (N, 28, 28) uint8 with N labels each, and every class in range and
    in the training labels."""
    for key in ARRAYS:
        if key not in arrays:
            raise DataError(f"{source}: array {key!r} is missing (expected {', '.join(ARRAYS)})")
    for split in ("train", "test"):
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28) or not len(images):
            raise DataError(f"{source}: x_{split} must be uint8 images of shape (N, 28, 28), got {images.dtype} "
                            f"of shape {images.shape}")
        if not np.issubdtype(labels.dtype, np.integer) or labels.shape != (len(images),):
            raise DataError(f"{source}: y_{split} must be {len(images)} integer labels (one per image), got "
                            f"{labels.dtype} of shape {labels.shape}")
    known = class_count or int(arrays["y_train"].max()) + 1
    for split in ("train", "test"):
        labels = arrays[f"y_{split}"]
        if labels.min() < 0 or labels.max() >= known:
            bad = int(labels.max() if labels.max() >= known else labels.min())
            given_by = "the training labels" if class_count is None else "its class names"
            raise DataError(f"{source}: y_{split} has label {bad}, out of range: {given_by} give classes "
                            f"0-{known - 1}")
    missing = sorted(set(range(known)) - set(np.unique(arrays["y_train"]).tolist()))
    if missing:
        raise DataError(f"{source}: class {missing[0]} has no training image")


def describe_file(path: Path) -> dict[str, Any]:
    return {"path": str(path), "bytes": path.stat().st_size, "sha256": _sha256(path)}


def describe_folder(folder: Path, classes: tuple[str, ...]) -> dict[str, Any]:
    """An image folder as one entry: its file count, total size and a sha256 over each file's name and bytes."""
    digest, total, files = hashlib.sha256(), 0, image_folder.files_of(folder, classes)
    for path in files:
        digest.update(f"{path.relative_to(folder).as_posix()}\0{_sha256(path)}\n".encode())
        total += path.stat().st_size
    return {"path": str(folder), "files": len(files), "bytes": total, "sha256": digest.hexdigest()}


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
