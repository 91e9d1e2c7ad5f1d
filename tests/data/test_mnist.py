import numpy as np
import pytest

from mnistflow.data import mnist
from mnistflow.data.mnist import DataError

from conftest import RAW_DATA


def test_canonical_file_loads_with_verified_arrays(raw_mnist):
    assert raw_mnist["x_train"].shape == (60000, 28, 28) and raw_mnist["y_test"].shape == (10000,)
    assert raw_mnist["y_train"][:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(raw_mnist["y_test"]).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _write(path, arrays):
    np.savez(path, **arrays)
    return path


def test_a_corrupt_deflate_stream_is_one_line(tmp_path):
    import zipfile

    arrays = {"x_test": np.zeros((100, 28, 28), np.uint8)}
    path = tmp_path / "bad.npz"
    np.savez_compressed(path, **arrays)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.infolist()[0]
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + 10:start + 30] = b"\xff" * 20  # inside the compressed bytes: the CRC check never runs
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=f"{path}: not a readable .npz archive"):
        mnist.load_mnist(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=f"{tmp_path / 'none.npz'}: data file not found"):
        mnist.load_mnist(tmp_path / "none.npz")


def test_a_link_to_a_device_or_nowhere_says_what_it_is(tmp_path):
    (tmp_path / "zero.npz").symlink_to("/dev/zero")
    with pytest.raises(DataError, match=r"zero.npz: a device or pipe, not a regular file \(a link to /dev/zero\)"):
        mnist.read_npz(tmp_path / "zero.npz")
    (tmp_path / "dangling.npz").symlink_to(tmp_path / "gone.npz")
    with pytest.raises(DataError, match=r"dangling.npz: data file not found \(a link to .*gone.npz\)"):
        mnist.read_npz(tmp_path / "dangling.npz")


def test_truncated_file(tmp_path):
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(RAW_DATA.read_bytes()[:100_000])
    with pytest.raises(DataError, match="truncated.npz: not a readable .npz archive"):
        mnist.load_mnist(truncated)


def test_wrong_shape_dtype_label_and_hash_are_each_named(tmp_path, raw_mnist):
    cases = {
        "shape": ({**raw_mnist, "x_test": raw_mnist["x_test"][:100]},
                  r"x_test must be uint8 of shape \(10000, 28, 28\)"),
        "dtype": ({**raw_mnist, "x_train": raw_mnist["x_train"].astype(np.float32)}, "x_train must be uint8"),
        "missing": ({key: value for key, value in raw_mnist.items() if key != "y_train"}, "array 'y_train' is missing"),
    }
    bad_labels = raw_mnist["y_test"].copy()
    bad_labels[3] = 10
    cases["label"] = ({**raw_mnist, "y_test": bad_labels}, "y_test has label 10, expected 0-9")
    changed = raw_mnist["x_train"].copy()
    changed[0, 0, 0] = 1
    cases["hash"] = ({**raw_mnist, "x_train": changed}, r"x_train sha256 is .* \(not canonical MNIST\)")
    for name, (arrays, message) in cases.items():
        with pytest.raises(DataError, match=message):
            mnist.load_mnist(_write(tmp_path / f"{name}.npz", arrays))


def test_pickled_arrays_are_refused(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, x_train=np.array([object()], dtype=object))
    with pytest.raises(DataError, match="not a readable .npz archive"):
        mnist.load_mnist(path)


def test_split_is_disjoint_complete_and_seeded():
    train, validation = mnist.split_indices(60000, 1 / 12, seed=0)
    assert len(validation) == 5000 and len(train) == 55000
    assert np.union1d(train, validation).tolist() == list(range(60000))
    again, _ = mnist.split_indices(60000, 1 / 12, seed=0)
    other, _ = mnist.split_indices(60000, 1 / 12, seed=1)
    assert np.array_equal(train, again) and not np.array_equal(train, other)


def test_preprocess_scales_only_when_asked(raw_mnist):
    raw = mnist.preprocess(raw_mnist["x_test"][:5], scale=False)
    scaled = mnist.preprocess(raw_mnist["x_test"][:5], scale=True)
    assert raw.shape == (5, 784) and raw.dtype == np.float32 and raw.max() == 255
    assert scaled.max() == 1.0 and np.allclose(scaled * 255, raw)


def test_split_round_trips_through_disk(tmp_path, raw_mnist):
    split = mnist.make_split(raw_mnist["x_test"], raw_mnist["y_test"], np.array([5, 1, 7]), scale=True)
    mnist.save_split(split, tmp_path / "s.npz")
    loaded = mnist.load_split(tmp_path / "s.npz")
    assert np.array_equal(loaded.images, split.images) and loaded.indices.tolist() == [5, 1, 7]
    assert [path.name for path in tmp_path.iterdir()] == ["s.npz"]  # no temporary file left behind
