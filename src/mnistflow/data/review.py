"""The label review file (data/label_review.csv): suspects in, a person's verdicts out, applied by prepare.

Columns: split (train = the 60,000 training images, test), index (into that split of raw MNIST), given (the
raw label), suggested (the label the model prefers; edit it if you know better), verdict: empty (not reviewed
yet), `relabel` (use `suggested`), `exclude` (drop the image) or `keep` (the given label is right).
A sixth column, `dataset`, names the dataset of each row once the file holds another dataset's rows than
MNIST's (a file of five columns is MNIST's); each dataset's rows apply to it alone.
Plain csv, no pandas: the prepare stage reads it.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from mnistflow.core import atomic
from mnistflow.core.errors import DataError
from mnistflow.data.mnist import NUM_CLASSES, Split

COLUMNS = ("split", "index", "given", "suggested", "verdict")
DATASET_COLUMN = "dataset"
MNIST = "mnist"
VERDICTS = ("relabel", "exclude", "keep")
SPLITS = ("train", "test")


@dataclasses.dataclass(frozen=True)
class Row:
    split: str
    index: int
    given: int
    suggested: int
    verdict: str  # "" while not reviewed
    dataset: str = MNIST


def _integer(text: str, column: str, where: str, low: int, high: int) -> int:
    text = (text or "").strip()
    digits = text.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):  # int() would take '1_0' and non-ASCII digits such as '٠'
        raise DataError(f"{where}: {column} {text!r} is not an integer (ASCII digits 0-9)")
    value = int(text)
    if not low <= value <= high:
        raise DataError(f"{where}: {column} {value} is outside {low}-{high}")
    return value


def parse_row(fields: dict[str, str], where: str, raw_labels: Mapping[str, np.ndarray],
              class_count: int = NUM_CLASSES) -> Row:
    """One row, checked against the raw labels: a wrong split, index, label or verdict is a DataError."""
    split, verdict = (fields.get("split") or "").strip(), (fields.get("verdict") or "").strip().lower()
    if split not in SPLITS:
        raise DataError(f"{where}: split {split!r} is not one of {', '.join(SPLITS)}")
    row = Row(split, _integer(fields.get("index", ""), "index", where, 0, len(raw_labels[split]) - 1),
              _integer(fields.get("given", ""), "given", where, 0, class_count - 1),
              _integer(fields.get("suggested", ""), "suggested", where, 0, class_count - 1), verdict,
              (fields.get(DATASET_COLUMN) or MNIST).strip())
    check_row(row, where, raw_labels)
    return row


def check_row(row: Row, where: str, raw_labels: Mapping[str, np.ndarray]) -> None:
    """A row whose given label is not the raw one (a file from other data) or whose verdict is unknown."""
    actual = int(raw_labels[row.split][row.index])
    if row.given != actual:
        raise DataError(f"{where}: given {row.given}, but {row.split} image #{row.index} is labelled {actual} "
                        "in the raw data")
    if row.verdict and row.verdict not in VERDICTS:
        raise DataError(f"{where}: verdict {row.verdict!r} is not one of {', '.join(VERDICTS)} (or empty)")
    if row.verdict == "relabel" and row.suggested == row.given:
        raise DataError(f"{where}: relabel to {row.suggested}, the label it already has")


@dataclasses.dataclass(frozen=True)
class Scope:
    """Whose rows are read and checked: a dataset, its raw labels and its number of classes."""

    raw_labels: Mapping[str, np.ndarray]
    dataset: str = MNIST
    class_count: int = NUM_CLASSES


def read_rows(path: Path, raw_labels: Mapping[str, np.ndarray], dataset: str = MNIST,
              class_count: int = NUM_CLASSES) -> list[Row]:
    """The review file's rows of `dataset`, validated against its raw labels; a missing file is an empty review."""
    return [row for row in read_all_rows(path, Scope(raw_labels, dataset, class_count)) if row.dataset == dataset]


def read_all_rows(path: Path, scope: Scope) -> list[Row]:
    """Every row of the review file; those of `scope.dataset` validated (the others are kept as they are)."""
    if not path.exists():
        return []
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:  # a BOM (Excel's "CSV UTF-8") is fine
            return _parse_rows(path, csv.DictReader(handle), scope)
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text (byte {error.start})") from None
    except csv.Error as error:
        raise DataError(f"{path}: not a readable CSV file ({error})") from None


def _parse_rows(path: Path, reader: csv.DictReader, scope: Scope) -> list[Row]:
    header = tuple(reader.fieldnames or ())
    if header not in (COLUMNS, (*COLUMNS, DATASET_COLUMN)):
        raise DataError(f"{path}: expected the header {','.join(COLUMNS)} (and {DATASET_COLUMN}), got "
                        f"{','.join(header)}")
    rows: list[Row] = []
    seen: dict[tuple[str, str, int], int] = {}
    for fields in reader:
        where = f"{path} line {reader.line_num}"
        if None in fields:  # DictReader files extra fields under the key None
            raise DataError(f"{where}: {len(header) + len(fields[None])} fields, expected {len(header)} "
                            f"({','.join(header)})")
        row = _row(fields, where, scope)
        key = (row.dataset, row.split, row.index)
        if key in seen:
            raise DataError(f"{where}: {row.split} image #{row.index} is already on line {seen[key]}")
        seen[key] = reader.line_num
        rows.append(row)
    return rows


def _row(fields: dict[str, str], where: str, scope: Scope) -> Row:
    """A row of the scope's dataset, checked; another dataset's row as it is written (its data is not here)."""
    dataset = (fields.get(DATASET_COLUMN) or MNIST).strip()
    if dataset == scope.dataset:
        return parse_row(fields, where, scope.raw_labels, scope.class_count)
    try:
        return Row((fields.get("split") or "").strip(), int(fields["index"]), int(fields["given"]),
                   int(fields["suggested"]), (fields.get("verdict") or "").strip().lower(), dataset)
    except (KeyError, TypeError, ValueError) as error:
        raise DataError(f"{where}: a row of dataset {dataset} that is not split,index,given,suggested,verdict "
                        f"({error})") from None


def write_rows(path: Path, rows: Iterable[Row]) -> None:
    """The rows, with the dataset column only where a row is not MNIST's (MNIST's own file keeps five)."""
    rows = list(rows)
    named = any(row.dataset != MNIST for row in rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow((*COLUMNS, DATASET_COLUMN) if named else COLUMNS)
    writer.writerows((row.split, row.index, row.given, row.suggested, row.verdict, *([row.dataset] if named else []))
                     for row in rows)
    atomic.write_text(path, buffer.getvalue())


def merge_suspects(existing: list[Row], suspects: Iterable[Row]) -> tuple[list[Row], int]:
    """Reviewed rows stay as they are; unreviewed rows are replaced by the current suspects, in their rank
    order. Returns the rows and how many suspects are new to the file."""
    reviewed = [row for row in existing if row.verdict]
    known = {(row.split, row.index) for row in existing}
    seen = {(row.split, row.index) for row in reviewed}
    fresh = []
    for row in suspects:
        if (row.split, row.index) not in seen:
            seen.add((row.split, row.index))
            fresh.append(row)
    return reviewed + fresh, sum((row.split, row.index) not in known for row in fresh)


def counts(rows: Iterable[Row]) -> dict[str, int]:
    """{'relabel_train': 3, 'exclude_test': 1, ...}: every verdict x split, zeros included."""
    tally = Counter((row.verdict, row.split) for row in rows if row.verdict)
    return {f"{verdict}_{split}": tally[(verdict, split)] for verdict in VERDICTS for split in SPLITS}


Changes = Mapping[str, int | None] | Mapping[int, int | None]  # {image index: new label, or None to leave it out}


def with_changes(split: Split, changes: Changes) -> tuple[Split, np.ndarray]:
    """The split with its labels changed ({index: new label, or None to leave the image out}); indices not in
    the split are ignored. Also returns which of the split's images were kept."""
    position = {int(index): where for where, index in enumerate(split.indices)}
    labels, keep = split.labels.copy(), np.ones(len(split.labels), dtype=bool)
    for index, label in changes.items():
        if int(index) in position:
            if label is None:
                keep[position[int(index)]] = False
            else:
                labels[position[int(index)]] = label
    return dataclasses.replace(split, images=split.images[keep], labels=labels[keep], indices=split.indices[keep]), keep


def apply_to_split(split: Split, rows: Iterable[Row]) -> Split:
    """The split with the `train` verdicts applied: relabelled images get `suggested`, excluded ones go."""
    changes = {row.index: (row.suggested if row.verdict == "relabel" else None)
               for row in rows if row.split == "train" and row.verdict in ("relabel", "exclude")}
    return with_changes(split, changes)[0]


def check_in_data(rows: Iterable[Row], splits: Mapping[str, Split], path: Path) -> None:
    """A train verdict on an image the prepared data does not hold (cut by prepare.train_limit) is an error:
    it would count as applied and change nothing."""
    held = set(splits["train"].indices.tolist()) | set(splits["validation"].indices.tolist())
    for row in rows:
        if row.split == "train" and row.verdict in ("relabel", "exclude") and row.index not in held:
            raise DataError(f"{path}: {row.verdict} of train image #{row.index}, which is not in the data "
                            f"(prepare.train_limit keeps the first {len(held)} training images)")


def apply(splits: dict[str, Split], rows: Iterable[Row]) -> dict[str, Split]:
    """Prepared splits with the train verdicts applied to train and validation; test keeps its labels (its
    verdicts are reported apart, see `test_labels`)."""
    rows = list(rows)
    return {name: split if name == "test" else apply_to_split(split, rows) for name, split in splits.items()}


def test_labels(rows: Iterable[Row]) -> dict[str, int | None]:
    """The test verdicts that change something: {index: new label, or None for excluded}."""
    return {str(row.index): (row.suggested if row.verdict == "relabel" else None)
            for row in rows if row.split == "test" and row.verdict in ("relabel", "exclude")}


def read_suspects(path: Path, split: str, dataset: str = MNIST) -> list[Row]:
    """Unreviewed rows from an evaluate stage's suspects table (index, label, suggested, ...); none if absent."""
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        try:
            return [Row(split, int(fields["index"]), int(fields["label"]), int(fields["suggested"]), "", dataset)
                    for fields in csv.DictReader(handle)]
        except (KeyError, TypeError, ValueError) as error:
            raise DataError(f"{path}: expected the evaluate stage's suspects table ({error})") from None


def update_file(path: Path, errors_folder: Path, raw_labels: Mapping[str, np.ndarray], dataset: str = MNIST,
                class_count: int = NUM_CLASSES) -> tuple[list[Row], int]:
    """Merge the current suspects of both splits into the dataset's rows of the review file (other datasets'
    rows stay); returns the dataset's rows and the new count."""
    suspects = [*read_suspects(errors_folder / "label_issues.csv", "test", dataset),
                *read_suspects(errors_folder / "train_label_issues.csv", "train", dataset)]
    if not suspects:
        raise DataError(f"{errors_folder}: no suspects tables (label_issues.csv); run `dvc repro` first")
    every = read_all_rows(path, Scope(raw_labels, dataset, class_count))
    rows, new = merge_suspects([row for row in every if row.dataset == dataset], suspects)
    for number, row in enumerate(rows, start=2):  # a suspects table from other data than the raw file
        check_row(row, f"{path} line {number} (to be written)", raw_labels)
    write_rows(path, [row for row in every if row.dataset != dataset] + rows)
    return rows, new


SUMMARY = "review.json"  # written by prepare beside the splits: {"counts": ..., "test_labels": ...}


def summary(rows: list[Row]) -> dict:
    return {"counts": counts(rows), "test_labels": test_labels(rows)}


def read_summary(prepared: Path) -> dict:
    """The prepare stage's review.json; a folder from before the review existed counts as no review."""
    path = prepared / SUMMARY
    if not path.exists():
        return summary([])
    try:
        loaded = json.loads(path.read_text())
        return {"counts": dict(loaded["counts"]), "test_labels": dict(loaded["test_labels"])}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(f"{path}: expected the prepare stage's review summary ({error})") from None


def project_rows(path: Path | None, raw_data: Path) -> tuple[Row, ...]:
    """The review file's rows of the study's dataset, checked against its raw data (for a study, which trains
    on what `dvc repro` does); none when there is no review file."""
    if path is None or not path.exists():
        return ()
    from mnistflow.data.datasets import read_study_file

    arrays, dataset = read_study_file(raw_data)
    return tuple(read_rows(path, {"train": arrays["y_train"], "test": arrays["y_test"]}, dataset.name,
                           len(dataset.classes)))
