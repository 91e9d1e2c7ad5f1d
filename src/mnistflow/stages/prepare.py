"""Stage prepare: verify raw MNIST, split train/validation, preprocess, write the three splits."""

from __future__ import annotations

import argparse
from pathlib import Path

from mnistflow import data
from mnistflow.errors import one_line_errors
from mnistflow.params import load_params


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--raw", required=True, help="raw MNIST .npz")
    parser.add_argument("--out", required=True, help="folder for train.npz, validation.npz, test.npz")
    arguments = parser.parse_args(argv)
    params = load_params(arguments.params).prepare
    arrays = data.load_mnist(arguments.raw) if params.source == "file" else data.download_mnist()
    for name, split in data.prepare_splits(arrays, params).items():
        data.save_split(split, Path(arguments.out) / f"{name}.npz")
        print(f"{name}: {len(split.labels)} images")


if __name__ == "__main__":
    main()
