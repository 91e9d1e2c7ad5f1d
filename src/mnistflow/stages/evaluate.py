"""Stage evaluate: test metrics, confusion matrix, curves and error analysis, into the training run."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from mnistflow.core import atomic, paths, process, runtime
from mnistflow.core.errors import DataError, one_line_errors, run_as_program
from mnistflow.core.params import load_params
from mnistflow.data import catalog, mnist


def read_run_id(path: str) -> str:
    try:
        return json.loads(Path(path).read_text())["run_id"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(f"{path}: expected JSON with a run_id ({error})") from None


def load_trained_model(path: str):
    """The trained .keras file; one that cannot be loaded (truncated, not a model) is a DataError."""
    import zipfile

    import keras

    try:
        return keras.saving.load_model(path, safe_mode=True)
    except (ValueError, OSError, KeyError, TypeError, zipfile.BadZipFile) as error:
        raise DataError(f"{path}: not a loadable .keras model ({str(error).splitlines()[0][:200]})") from None


def read_audit(prepared: Path, crossval_folder: Path | None, classes: tuple[str, ...]):
    """The label audit's inputs: cross-validated probabilities when the crossval stage ran, the reviewed test
    labels from prepare's review.json."""
    from mnistflow.data import review
    from mnistflow.training import crossval, evaluation

    reviewed = review.read_summary(prepared)["test_labels"]
    stored = None if crossval_folder is None else crossval.read_outputs(crossval_folder)
    if stored is None or crossval_folder is None:
        return evaluation.Audit(reviewed_test_labels=reviewed)
    pool = crossval.pool_of([mnist.load_split(prepared / f"{name}.npz", classes) for name in ("train", "validation")])
    if not np.array_equal(pool.indices, stored.train_indices):
        raise DataError(f"{crossval_folder}: its probabilities are for other training images than {prepared}; "
                        "run `dvc repro`")
    source = f"cross-validated, {stored.folds} folds"
    train = evaluation.LabelSuspects("train", pool, stored.train_probabilities, source)
    return evaluation.Audit(stored.test_probabilities, train, source, reviewed)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--prepared", required=True, help="folder with test.npz")
    parser.add_argument("--dataset", help="the prepare stage's dataset description (JSON); default: MNIST")
    parser.add_argument("--model", required=True, help="trained .keras file")
    parser.add_argument("--history", required=True, help="per-epoch CSV from training")
    parser.add_argument("--run-file", required=True, help="JSON naming the MLflow run of training")
    parser.add_argument("--metrics", required=True, help="output metrics JSON")
    parser.add_argument("--per-class", required=True, help="output CSV of (class, precision, recall, f1)")
    parser.add_argument("--confusion", required=True, help="output CSV of (actual, predicted)")
    parser.add_argument("--figures", required=True, help="output folder for figures")
    parser.add_argument("--errors", required=True, help="output folder for error analysis")
    parser.add_argument("--crossval", help="the crossval stage's folder (default: no cross-validation)")
    return parser.parse_args(argv)


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    process.die_with_parent()
    params = load_params(arguments.params)
    dataset = catalog.read(arguments.dataset)
    test = mnist.load_split(Path(arguments.prepared) / "test.npz", dataset.classes)
    run_id = read_run_id(arguments.run_file)
    runtime.configure(params.train.threads, params.train.numerics)
    from mnistflow import tracking
    from mnistflow.training import evaluation, pipeline, recording

    model = load_trained_model(arguments.model)
    history = pipeline.read_history(arguments.history)
    audit = read_audit(Path(arguments.prepared), arguments.crossval and Path(arguments.crossval), dataset.classes)
    tracking.connect(params.tracking.experiment)
    # Every out is written beside its place and moved in only once the run has ended well (signals held).
    files = {atomic.temporary_sibling(path): Path(path)
             for path in (arguments.metrics, arguments.per_class, arguments.confusion)}
    folders = {atomic.temporary_directory(arguments.figures): Path(arguments.figures),
               atomic.temporary_directory(arguments.errors): Path(arguments.errors)}
    (metrics_file, per_class_file, confusion_file), (figures, errors) = files, folders
    try:
        with tracking.active_run(run_id=run_id):
            result = recording.evaluate_and_log(model, params, test, history, figures, errors, dataset.name, audit)
            atomic.write_json(metrics_file, evaluation.headline_metrics(result.metrics))
            evaluation.write_per_class_data(per_class_file, result.metrics, dataset.classes)
            evaluation.write_confusion_data(confusion_file, test.labels, result.predictions, dataset.classes)
            tracking.log_provenance(paths.DVC_YAML, with_outs=("prepare", "train"))
        tracking.runs.uninterrupted(_move_into_place)(files, folders)
    finally:
        for file in files:
            file.unlink(missing_ok=True)
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"test accuracy {result.metrics['test_accuracy']:.4f}  loss {result.metrics['test_loss']:.4f}  "
          f"macro F1 {result.metrics['test_macro_f1']:.4f}")
    if result.collapsed:
        print(f"warning: collapsed classes on the test set: "
              f"{catalog.listed([dataset.classes[label] for label in result.collapsed])}", file=sys.stderr)


def _move_into_place(files: dict[Path, Path], folders: dict[Path, Path]) -> None:
    atomic.move_into_place(files)
    for temporary, folder in folders.items():
        atomic.replace_directory(temporary, folder)


if __name__ == "__main__":
    run_as_program(main)
