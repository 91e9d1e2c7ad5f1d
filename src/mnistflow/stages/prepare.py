"""Stage prepare: read and verify the dataset, split train/validation, apply the label review, write the three
splits and the dataset's description (name, class names, where its data came from).

The review file's confirmed verdicts change the training images (relabel, exclude); test verdicts go to
review.json beside the splits, so that evaluation reports the original and the reviewed test labels apart.
Each dataset's rows of the review file apply to it alone.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mnistflow.core import atomic
from mnistflow.core.errors import one_line_errors, run_as_program
from mnistflow.core.params import load_params
from mnistflow.data import catalog, datasets, mnist, review


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--raw", required=True, help="folder of the named datasets (mnist.npz, fashion-mnist/), or "
                        "MNIST's .npz itself")
    parser.add_argument("--review", help="label review CSV (split,index,given,suggested,verdict); default: none")
    parser.add_argument("--out", required=True, help="folder for train.npz, validation.npz, test.npz, review.json")
    parser.add_argument("--dataset", help="output JSON: the dataset's name, classes and files; default: none")
    return parser.parse_args(argv)


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    params = load_params(arguments.params).prepare
    arrays, dataset = datasets.load(params.dataset, Path(arguments.raw), download=params.source == "keras")
    print(f"dataset {dataset.name}: {len(dataset.classes)} classes ({', '.join(dataset.classes)})")
    raw_labels = {"train": arrays["y_train"], "test": arrays["y_test"]}
    rows = [] if arguments.review is None else review.read_rows(Path(arguments.review), raw_labels, dataset.name,
                                                                 len(dataset.classes))
    prepared = mnist.prepare_splits(arrays, params, dataset.classes)
    if arguments.review is not None:
        review.check_in_data(rows, prepared, Path(arguments.review))
    splits = review.apply(prepared, rows)
    applied = review.counts(rows)
    with atomic.atomic_directory(arguments.out) as folder:
        for name, split in splits.items():
            mnist.save_split(split, folder / f"{name}.npz")
            print(f"{name}: {len(split.labels)} images")
        atomic.write_json(folder / review.SUMMARY, review.summary(rows))
    if arguments.dataset is not None:
        catalog.write(dataset, Path(arguments.dataset))
    if any(applied.values()):
        print("review: " + ", ".join(f"{key} {value}" for key, value in applied.items() if value))


if __name__ == "__main__":
    run_as_program(main)
