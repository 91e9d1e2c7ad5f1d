"""The label review file: it round-trips, keeps what was reviewed, rejects malformed rows in one line, and the
prepare stage applies its verdicts (and writes nothing when the file is bad)."""

import json

import numpy as np
import pytest

from mnistflow.core.errors import DataError
from mnistflow.core.params import parse_params
from mnistflow.data import mnist, review
from mnistflow.data.mnist import Split
from mnistflow.stages import prepare

from conftest import RAW_DATA, small_params, write_yaml

HEADER = "split,index,given,suggested,verdict\n"


@pytest.fixture(scope="module")
def raw_labels(raw_mnist):
    return {"train": raw_mnist["y_train"], "test": raw_mnist["y_test"]}


def _row(raw_labels, split: str, index: int, verdict: str = "", suggested: int | None = None) -> review.Row:
    given = int(raw_labels[split][index])
    return review.Row(split, index, given, (given + 1) % 10 if suggested is None else suggested, verdict)


def test_rows_round_trip(tmp_path, raw_labels):
    rows = [_row(raw_labels, "train", 7, "relabel"), _row(raw_labels, "test", 3), _row(raw_labels, "test", 9, "keep")]
    review.write_rows(tmp_path / "review.csv", rows)
    assert (tmp_path / "review.csv").read_text().startswith(HEADER)
    assert review.read_rows(tmp_path / "review.csv", raw_labels) == rows
    assert review.read_rows(tmp_path / "absent.csv", raw_labels) == []


@pytest.mark.parametrize(("line", "message"), [
    ("valid,1,{train1},2,", "line 2: split 'valid' is not one of train, test"),
    ("train,60000,5,2,", "line 2: index 60000 is outside 0-59999"),
    ("test,x,5,2,", "line 2: index 'x' is not an integer (ASCII digits 0-9)"),
    ("train,1,{train1},12,relabel", "line 2: suggested 12 is outside 0-9"),
    ("train,1,-1,2,", "line 2: given -1 is outside 0-9"),
    ("train,1,{wrong1},2,", "line 2: given {wrong1}, but train image #1 is labelled {train1} in the raw data"),
    ("train,1,{train1},2,delete", "line 2: verdict 'delete' is not one of relabel, exclude, keep (or empty)"),
    ("train,1,{train1},{train1},relabel", "line 2: relabel to {train1}, the label it already has"),
    ("train,1,{train1},2,\ntrain,1,{train1},3,keep", "line 3: train image #1 is already on line 2"),
    ("train,\u0660,{train1},2,", "line 2: index '\u0660' is not an integer (ASCII digits 0-9)"),  # Arabic zero
    ("train,1_0,{train1},2,", "line 2: index '1_0' is not an integer (ASCII digits 0-9)"),
    ("train,1,{train1},2,keep,note", "line 2: 6 fields, expected 5 (split,index,given,suggested,verdict)"),
])
def test_a_malformed_row_is_named_in_one_line(tmp_path, raw_labels, line, message):
    values = {"train1": int(raw_labels["train"][1]), "wrong1": (int(raw_labels["train"][1]) + 1) % 10}
    (tmp_path / "review.csv").write_text(HEADER + line.format(**values) + "\n")
    with pytest.raises(DataError) as raised:
        review.read_rows(tmp_path / "review.csv", raw_labels)
    assert str(raised.value) == f"{tmp_path / 'review.csv'} {message.format(**values)}"


def test_a_review_file_with_a_bom_is_read(tmp_path, raw_labels):
    row = _row(raw_labels, "train", 7, "relabel")
    (tmp_path / "review.csv").write_text(f"{HEADER}train,7,{row.given},{row.suggested},relabel\n", encoding="utf-8-sig")
    assert review.read_rows(tmp_path / "review.csv", raw_labels) == [row]


@pytest.mark.parametrize(("content", "message"), [
    (HEADER.encode() + b"train,1,\xff,2,\n", r"review.csv: not UTF-8 text \(byte 44\)"),
    (HEADER.encode() + b'train,1,"' + b"x" * 200_000 + b'",2,\n',
     r"review.csv: not a readable CSV file \(field larger"),
])
def test_an_unreadable_review_file_is_one_line(tmp_path, raw_labels, content, message):
    (tmp_path / "review.csv").write_bytes(content)
    with pytest.raises(DataError, match=message):
        review.read_rows(tmp_path / "review.csv", raw_labels)


def test_a_verdict_on_an_image_train_limit_leaves_out_is_named_and_nothing_is_written(tmp_path, raw_labels):
    row = _row(raw_labels, "train", 5000, "relabel")
    review.write_rows(tmp_path / "review.csv", [row])
    params = write_yaml(tmp_path / "params.yaml", small_params())  # train_limit 2000
    with pytest.raises(SystemExit) as exit_info:
        prepare.main(["--params", str(params), "--raw", str(RAW_DATA), "--review", str(tmp_path / "review.csv"),
                      "--out", str(tmp_path / "prepared")])
    assert exit_info.value.code == 2 and not (tmp_path / "prepared").exists()


def test_check_in_data_names_the_image(tmp_path, raw_labels):
    splits = {"train": Split(np.zeros((2, 784)), np.zeros(2), np.array([0, 1])),
              "validation": Split(np.zeros((1, 784)), np.zeros(1), np.array([2]))}
    review.check_in_data([_row(raw_labels, "train", 2, "exclude"), _row(raw_labels, "test", 9, "relabel")], splits,
                         tmp_path / "r.csv")
    with pytest.raises(DataError, match=r"r.csv: relabel of train image #7, which is not in the data "
                                        r"\(prepare.train_limit keeps the first 3 training images\)"):
        review.check_in_data([_row(raw_labels, "train", 7, "relabel")], splits, tmp_path / "r.csv")


def test_a_wrong_header_is_named(tmp_path, raw_labels):
    (tmp_path / "review.csv").write_text("split,index,label\ntrain,1,2\n")
    with pytest.raises(DataError, match="expected the header split,index,given,suggested,verdict"):
        review.read_rows(tmp_path / "review.csv", raw_labels)


def test_merging_keeps_reviewed_rows_and_refreshes_the_rest(raw_labels):
    reviewed = _row(raw_labels, "train", 5, "exclude")
    stale = _row(raw_labels, "test", 1)
    suspects = [_row(raw_labels, "train", 5), _row(raw_labels, "test", 2), _row(raw_labels, "test", 2),
                _row(raw_labels, "train", 8)]
    rows, new = review.merge_suspects([reviewed, stale], suspects)
    assert rows == [reviewed, _row(raw_labels, "test", 2), _row(raw_labels, "train", 8)] and new == 2


def test_update_file_adds_the_suspects_of_both_splits(tmp_path, raw_labels):
    errors = tmp_path / "errors"
    errors.mkdir()
    for name, split, index in (("label_issues.csv", "test", 4), ("train_label_issues.csv", "train", 6)):
        given = int(raw_labels[split][index])
        (errors / name).write_text(f"index,label,suggested,label_quality\n{index},{given},{(given + 3) % 10},0.01\n")
    path = tmp_path / "review.csv"
    review.write_rows(path, [_row(raw_labels, "train", 6, "keep")])
    rows, new = review.update_file(path, errors, raw_labels)
    assert new == 1 and [(row.split, row.index, row.verdict) for row in rows] == [("train", 6, "keep"),
                                                                                  ("test", 4, "")]
    assert review.read_rows(path, raw_labels) == rows


def test_each_datasets_rows_apply_to_it_alone_and_mnists_file_keeps_five_columns(tmp_path, raw_labels):
    path = tmp_path / "review.csv"
    mnist_rows = [_row(raw_labels, "train", 6, "keep")]
    review.write_rows(path, mnist_rows)
    assert path.read_text().startswith(HEADER)
    shapes = {"train": np.array([0, 1, 2, 1], np.uint8), "test": np.array([2, 0], np.uint8)}
    errors = tmp_path / "errors"
    errors.mkdir()
    (errors / "train_label_issues.csv").write_text("index,label,suggested,label_quality\n3,1,2,0.01\n")
    rows, new = review.update_file(path, errors, shapes, "shapes", 3)
    assert new == 1 and rows == [review.Row("train", 3, 1, 2, "", "shapes")]
    assert path.read_text().startswith(HEADER.strip() + ",dataset\n")
    assert review.read_rows(path, raw_labels) == mnist_rows  # MNIST's rows, checked against MNIST's labels
    assert review.read_rows(path, shapes, "shapes", 3) == rows
    with pytest.raises(DataError, match="line 3: given 1, but train image #3 is labelled 2"):
        review.read_rows(path, {"train": np.array([0, 1, 2, 2], np.uint8), "test": shapes["test"]}, "shapes", 3)


def test_apply_relabels_and_excludes_training_images_only():
    split = Split(np.arange(4, dtype=np.float32).reshape(4, 1), np.array([1, 2, 3, 4], np.uint8),
                  np.array([10, 11, 12, 13]))
    rows = [review.Row("train", 11, 2, 7, "relabel"), review.Row("train", 12, 3, 3, "exclude"),
            review.Row("train", 13, 4, 5, "keep"), review.Row("test", 10, 1, 9, "relabel"),
            review.Row("train", 99, 1, 2, "relabel")]
    applied = review.apply({"train": split, "test": split}, rows)
    assert applied["train"].indices.tolist() == [10, 11, 13] and applied["train"].labels.tolist() == [1, 7, 4]
    assert applied["test"] is split
    assert review.counts(rows) == {"relabel_train": 2, "relabel_test": 1, "exclude_train": 1, "exclude_test": 0,
                                   "keep_train": 1, "keep_test": 0}
    assert review.test_labels(rows) == {"10": 9}


def test_prepare_applies_the_verdicts(tmp_path, raw_labels, raw_mnist):
    params = write_yaml(tmp_path / "params.yaml", small_params())
    splits = mnist.prepare_splits(raw_mnist, parse_params(small_params()).prepare)
    relabelled, excluded = (int(index) for index in splits["train"].indices[:2])
    held_out = int(splits["validation"].indices[0])
    rows = [_row(raw_labels, "train", relabelled, "relabel"), _row(raw_labels, "train", excluded, "exclude"),
            _row(raw_labels, "train", held_out, "relabel"), _row(raw_labels, "test", 0, "exclude"),
            _row(raw_labels, "test", 1)]
    review.write_rows(tmp_path / "review.csv", rows)
    prepare.main(["--params", str(params), "--raw", str(RAW_DATA), "--review", str(tmp_path / "review.csv"),
                  "--out", str(tmp_path / "prepared")])
    train = mnist.load_split(tmp_path / "prepared" / "train.npz")
    validation = mnist.load_split(tmp_path / "prepared" / "validation.npz")
    assert len(train.labels) == len(splits["train"].labels) - 1 and excluded not in train.indices
    assert train.labels[train.indices == relabelled][0] == rows[0].suggested
    assert validation.labels[validation.indices == held_out][0] == rows[2].suggested
    test = mnist.load_split(tmp_path / "prepared" / "test.npz")
    assert np.array_equal(test.labels, raw_mnist["y_test"])  # the benchmark's labels stay; verdicts go beside them
    summary = json.loads((tmp_path / "prepared" / "review.json").read_text())
    assert summary["test_labels"] == {"0": None}
    assert summary["counts"]["relabel_train"] == 2 and summary["counts"]["exclude_test"] == 1


def test_prepare_writes_nothing_for_a_malformed_review(tmp_path, capsys):
    params = write_yaml(tmp_path / "params.yaml", small_params())
    (tmp_path / "review.csv").write_text(HEADER + "train,3,1,2,relabel\ntest,10000,7,1,keep\n")
    with pytest.raises(SystemExit) as exited:
        prepare.main(["--params", str(params), "--raw", str(RAW_DATA), "--review", str(tmp_path / "review.csv"),
                      "--out", str(tmp_path / "prepared")])
    assert exited.value.code != 0
    assert capsys.readouterr().err.strip() == (f"error: {tmp_path / 'review.csv'} line 3: index 10000 is outside "
                                               "0-9999")
    assert not (tmp_path / "prepared").exists() and not list(tmp_path.glob(".prepared*"))
