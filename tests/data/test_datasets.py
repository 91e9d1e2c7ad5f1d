"""Every dataset format ends as the same four checked arrays, with class names; bad input is one line."""

import numpy as np
import pytest
from PIL import Image

from mnistflow.core.errors import DataError
from mnistflow.data import catalog, datasets, idx, images

from conftest import RAW_DATA

FASHION_FOLDER = datasets.FASHION_SYSTEM_FOLDER


def small_arrays(classes: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    generator = np.random.default_rng(seed)
    return {"x_train": generator.integers(0, 256, (12, 28, 28), dtype=np.uint8),
            "y_train": np.arange(12, dtype=np.uint8) % classes,
            "x_test": generator.integers(0, 256, (6, 28, 28), dtype=np.uint8),
            "y_test": np.arange(6, dtype=np.uint8) % classes}


def write_idx_folder(folder, arrays, suffix=".gz"):
    folder.mkdir()
    for key, name in (("x_train", "train-images-idx3-ubyte"), ("y_train", "train-labels-idx1-ubyte"),
                      ("x_test", "t10k-images-idx3-ubyte"), ("y_test", "t10k-labels-idx1-ubyte")):
        idx.write(folder / f"{name}{suffix}", arrays[key])
    return folder


def assert_same(loaded, arrays):
    assert sorted(loaded) == sorted(arrays)
    for key, array in arrays.items():
        np.testing.assert_array_equal(loaded[key], array)


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_idx_files_round_trip_with_names_from_classes_txt(tmp_path, suffix):
    arrays = small_arrays()
    folder = write_idx_folder(tmp_path / "My Letters", arrays, suffix)
    (folder / "classes.txt").write_text("a\nb\nc\n")
    loaded, dataset = datasets.load(str(folder), tmp_path)
    assert_same(loaded, arrays)
    assert (dataset.name, dataset.classes, dataset.digits) == ("my-letters", ("a", "b", "c"), False)
    assert len(dataset.files) == 5 and all(len(entry["sha256"]) == 64 for entry in dataset.files)


def test_a_keras_layout_npz_round_trips_with_its_classes(tmp_path):
    arrays = small_arrays()
    np.savez(tmp_path / "shapes.npz", **arrays, classes=np.array(["circle", "square", "star"]))
    loaded, dataset = datasets.load(str(tmp_path / "shapes.npz"), tmp_path)
    assert_same(loaded, arrays)
    assert (dataset.name, dataset.classes) == ("shapes", ("circle", "square", "star"))


def test_an_image_folder_is_framed_as_predict_frames_photos(tmp_path):
    mnist = np.load(RAW_DATA)
    wanted = {}
    for split, offset in (("train", 0), ("test", 100)):
        for label in (3, 7):
            (tmp_path / "digits" / split / f"digit{label}").mkdir(parents=True)
            picks = np.flatnonzero(mnist["y_train"] == label)[offset:offset + 2]
            for number, index in enumerate(picks):
                big = Image.fromarray(255 - mnist["x_train"][index]).resize((56 + 8 * number, 56))  # mixed sizes
                big.save(tmp_path / "digits" / split / f"digit{label}" / f"{number}.png")
                wanted.setdefault(split, []).append(np.round(images.frame(np.asarray(big, np.float32)).pixels))
    loaded, dataset = datasets.load(str(tmp_path / "digits"), tmp_path)
    assert dataset.classes == ("digit3", "digit7") and dataset.name == "digits"
    np.testing.assert_array_equal(loaded["y_train"], [0, 0, 1, 1])
    for split in ("train", "test"):
        np.testing.assert_array_equal(loaded[f"x_{split}"], np.array(wanted[split], np.uint8))


def test_mnist_is_described_with_its_file(tmp_path):
    _, dataset = datasets.load("mnist", RAW_DATA.parent)
    assert dataset.digits and dataset.model_name == "mnist-digits"
    assert dataset.files[0]["path"] == str(RAW_DATA) and dataset.files[0]["bytes"] == RAW_DATA.stat().st_size


@pytest.mark.skipif(not FASHION_FOLDER.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_is_read_from_debians_package_and_verified(tmp_path):
    loaded, dataset = datasets.load("fashion-mnist", tmp_path)
    assert loaded["x_train"].shape == (60000, 28, 28) and loaded["y_test"].shape == (10000,)
    assert dataset.classes[9] == "Ankle boot" and dataset.model_name == "fashion-mnist" and not dataset.digits
    assert [entry["path"] for entry in dataset.files][0].startswith(str(FASHION_FOLDER))


def test_a_missing_fashion_mnist_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "FASHION_SYSTEM_FOLDER", tmp_path / "nowhere")
    with pytest.raises(DataError, match="dataset fashion-mnist not found: install Debian's dataset-fashion-mnist"):
        datasets.load("fashion-mnist", tmp_path)


def _image(path, size=(28, 28)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", size, 0).save(path)


def _folder(root, classes=("a", "b"), test_classes=None):
    for split, names in (("train", classes), ("test", test_classes or classes)):
        for name in names:
            _image(root / split / name / "1.png")
    return root


def bad_npz(tmp_path, **changes):
    arrays = {**small_arrays(), **changes}
    np.savez(tmp_path / "bad.npz", **{key: value for key, value in arrays.items() if value is not None})
    return tmp_path / "bad.npz"


@pytest.mark.parametrize(("make", "message"), [
    (lambda root: _folder(root / "one", classes=("a",)),
     "1 class folder(s) in train/ (a); a classifier needs at least 2"),
    (lambda root: (_folder(root / "empty", ("a", "b", "c")), (root / "empty/train/c/1.png").unlink())[0],
     "empty/train/c: an empty class folder; put its images in it or remove it"),
    (lambda root: (_folder(root / "hollow", ("a", "b", "c")), (root / "hollow/test/c/1.png").unlink())[0],
     "hollow/test/c: an empty class folder"),
    (lambda root: (_folder(root / "notes"), (root / "notes/train/a/readme.txt").write_text("hi"))[0],
     "notes/train/a/readme.txt: not a readable image"),
    (lambda root: _folder(root / "split", ("a", "b"), ("a", "c")), "only in train: ['b']; only in test: ['c']"),
    (lambda root: bad_npz(root, y_test=np.array([0, 1, 2, 5, 0, 1])), "y_test has label 5, out of range"),
    (lambda root: bad_npz(root, y_test=None), "array 'y_test' is missing (expected x_train, y_train, x_test, y_test)"),
    (lambda root: write_idx_folder(root / "magic", small_arrays()).joinpath("t10k-labels-idx1-ubyte.gz").write_bytes(
        b"\x00\x00\x09\x01") and root / "magic", "IDX type 0x09 with 1 dimensions"),
])
def test_bad_datasets_are_one_line_naming_the_file(tmp_path, make, message):
    with pytest.raises(DataError) as raised:
        datasets.load(str(make(tmp_path)), tmp_path)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_images_of_mixed_sizes_are_all_framed(tmp_path):
    _folder(tmp_path / "sizes")
    _image(tmp_path / "sizes/train/a/2.png", (300, 90))
    loaded, _ = datasets.load(str(tmp_path / "sizes"), tmp_path)
    assert loaded["x_train"].shape == (3, 28, 28)


def test_the_description_round_trips(tmp_path):
    described = catalog.Dataset("shapes", ("circle", "square"), ({"path": "x", "bytes": 1, "sha256": "0" * 64},))
    catalog.write(described, tmp_path / "dataset.json")
    assert catalog.read(tmp_path / "dataset.json") == described
