"""Reproducible archives: identical contents give identical bytes, and the files still load."""

import time
import zipfile

import keras
import numpy as np

from mnistflow.core import archives


def test_npz_bytes_depend_only_on_the_arrays(tmp_path):
    arrays = {"images": np.arange(12, dtype=np.float32).reshape(3, 4), "labels": np.array([1, 2, 3], np.uint8)}
    archives.save_npz(tmp_path / "a.npz", arrays)
    time.sleep(2.1)  # zip timestamps have 2-second resolution: np.savez would now write other bytes
    archives.save_npz(tmp_path / "b.npz", arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with np.load(tmp_path / "a.npz", allow_pickle=False) as loaded:
        assert all(np.array_equal(loaded[name], array) and loaded[name].dtype == array.dtype
                   for name, array in arrays.items())
    archives.save_npz(tmp_path / "c.npz", {**arrays, "labels": np.array([1, 2, 4], np.uint8)})
    assert (tmp_path / "c.npz").read_bytes() != (tmp_path / "a.npz").read_bytes()


def test_keras_file_is_byte_identical_across_saves_and_loads_back(small_model, tmp_path):
    model, _, _ = small_model
    archives.save_keras(model, tmp_path / "a.keras")
    time.sleep(2.1)
    archives.save_keras(model, tmp_path / "b.keras")
    assert (tmp_path / "a.keras").read_bytes() == (tmp_path / "b.keras").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.keras") as archive:
        assert {info.date_time for info in archive.infolist()} == {archives.FIXED_DATE_TIME}
        assert archives.FIXED_DATE_SAVED in archive.read("metadata.json").decode()
    loaded = keras.saving.load_model(tmp_path / "a.keras", safe_mode=True)
    pairs = zip(loaded.get_weights(), model.get_weights(), strict=True)
    assert all(np.array_equal(mine, theirs) for mine, theirs in pairs)


def test_shared_object_ids_are_renumbered_in_order_of_appearance():
    config = {"a": {"shared_object_id": 140001, "x": [{"shared_object_id": 99}, {"shared_object_id": 140001}]}}
    assert archives.renumber_shared_objects(config) == {
        "a": {"shared_object_id": 0, "x": [{"shared_object_id": 1}, {"shared_object_id": 0}]}}


def test_other_entries_pass_through_unchanged():
    assert archives.normalize_keras_entry("model.weights.h5", b"\x89HDF") == b"\x89HDF"
