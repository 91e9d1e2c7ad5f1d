"""An image-folder dataset: `train/<class>/*` and `test/<class>/*`, any size or mode, each image framed the way
`mnistflow predict` frames a photo (data.images), so that a model trained on it reads photos as it read them.

Class names are the folder names, sorted; train and test must name the same classes. Files whose name starts
with a dot are skipped; any other file that is not a readable image is an error that names it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnistflow.core.errors import DataError, ImageFileError

SPLITS = ("train", "test")


def is_image_folder(path: Path) -> bool:
    return path.is_dir() and all((path / split).is_dir() for split in SPLITS)


def class_names(folder: Path) -> tuple[str, ...]:
    """The classes of an image folder, checked: at least two, the same in train and test."""
    named = {split: sorted(entry.name for entry in (folder / split).iterdir()
                           if entry.is_dir() and not entry.name.startswith(".")) for split in SPLITS}
    if named["train"] != named["test"]:
        only_train = sorted(set(named["train"]) - set(named["test"])) or "none"
        only_test = sorted(set(named["test"]) - set(named["train"])) or "none"
        raise DataError(f"{folder}: train and test have different classes (only in train: {only_train}; "
                        f"only in test: {only_test})")
    if len(named["train"]) < 2:
        raise DataError(f"{folder}: {len(named['train'])} class folder(s) in train/ ({', '.join(named['train'])}); "
                        "a classifier needs at least 2 (train/<class>/*.png)")
    return tuple(named["train"])


def read(folder: Path, classes: tuple[str, ...]) -> dict[str, np.ndarray]:
    """x_train, y_train, x_test, y_test as Keras's layout has them: (N, 28, 28) and (N,) uint8."""
    arrays = {}
    for split in SPLITS:
        pictures, labels = [], []
        for label, name in enumerate(classes):
            files = _image_files(folder / split / name)
            pictures += [_framed(path) for path in files]
            labels += [label] * len(files)
        arrays[f"x_{split}"] = np.stack(pictures)
        arrays[f"y_{split}"] = np.asarray(labels, np.uint8)
    return arrays


def files_of(folder: Path, classes: tuple[str, ...]) -> list[Path]:
    return [path for split in SPLITS for name in classes for path in _image_files(folder / split / name)]


def _image_files(class_folder: Path) -> list[Path]:
    files = sorted(path for path in class_folder.iterdir() if not path.name.startswith("."))
    if not files:
        raise DataError(f"{class_folder}: an empty class folder; put its images in it or remove it")
    folders = [path for path in files if path.is_dir()]
    if folders:
        raise DataError(f"{folders[0]}: a folder inside a class folder; expected only image files")
    return files


def _framed(path: Path) -> np.ndarray:
    from mnistflow.data import images  # Pillow, SciPy and scikit-image load only for an image folder

    try:
        gray = images.load_photo(path)
    except ImageFileError as error:
        raise DataError(f"{error}; every file in a class folder must be an image") from None
    return np.round(images.frame(gray).pixels).astype(np.uint8)
