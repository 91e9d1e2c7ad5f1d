"""Zip archives whose bytes depend only on their contents, so DVC sees a reproduction as unchanged.

A plain ``np.savez`` or ``keras.Model.save`` stamps each zip entry with the wall-clock time, a ``.keras``
file also records ``date_saved`` and a Python ``id()`` per shared object. Here every entry gets a fixed
timestamp and the ``.keras`` metadata is normalized; the arrays and weights are untouched.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from mnistflow.core import atomic

FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
FIXED_DATE_SAVED = "1980-01-01@00:00:00"


def write_zip(path: str | Path, entries: Iterable[tuple[str, bytes]]) -> None:
    """Write (name, bytes) entries, in the given order, stored uncompressed with a fixed timestamp."""
    with atomic.atomic_path(path) as temporary, zipfile.ZipFile(temporary, "w", zipfile.ZIP_STORED) as archive:
        for name, content in entries:
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
            info.external_attr = 0o644 << 16
            archive.writestr(info, content)


def read_zip(path: str | Path) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        return [(info.filename, archive.read(info)) for info in archive.infolist()]


def save_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Like np.savez (readable by np.load, no pickle), but byte-identical for identical arrays."""
    entries = []
    for name, array in arrays.items():
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
        entries.append((f"{name}.npy", buffer.getvalue()))
    write_zip(path, entries)


def renumber_shared_objects(config: Any, numbers: dict[int, int] | None = None) -> Any:
    """Replace each `shared_object_id` (a memory address) by its order of first appearance: 0, 1, 2, ..."""
    numbers = {} if numbers is None else numbers
    if isinstance(config, list):
        return [renumber_shared_objects(item, numbers) for item in config]
    if not isinstance(config, dict):
        return config
    renumbered = {}
    for key, value in config.items():
        if key == "shared_object_id":
            renumbered[key] = numbers.setdefault(value, len(numbers))
        else:
            renumbered[key] = renumber_shared_objects(value, numbers)
    return renumbered


def normalize_keras_entry(name: str, content: bytes) -> bytes:
    """A .keras entry with its run-dependent fields fixed: `date_saved` and shared-object ids."""
    if name == "metadata.json":
        return json.dumps({**json.loads(content), "date_saved": FIXED_DATE_SAVED}).encode()
    if name == "config.json":
        return json.dumps(renumber_shared_objects(json.loads(content))).encode()
    return content


def save_keras(model, path: str | Path) -> None:
    """Save a Keras model as a .keras file that is byte-identical whenever the model is."""
    with tempfile.TemporaryDirectory() as folder:
        saved = Path(folder) / "model.keras"
        model.save(saved)
        entries = [(name, normalize_keras_entry(name, content)) for name, content in read_zip(saved)]
    write_zip(path, entries)
