"""Stage train: train a fresh model, log everything to a new MLflow run, save the model and run id."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console

from mnistflow.core import atomic, process, runtime
from mnistflow.core.errors import one_line_errors, run_as_program
from mnistflow.core.params import load_params
from mnistflow.data import catalog, mnist, review


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--prepared", required=True, help="folder with train.npz and validation.npz")
    parser.add_argument("--dataset", help="the prepare stage's dataset description (JSON); default: MNIST")
    parser.add_argument("--model", required=True, help="output .keras file")
    parser.add_argument("--history", required=True, help="output per-epoch CSV")
    parser.add_argument("--recall-history", help="output CSV of (epoch, class, recall); default: none")
    parser.add_argument("--run-file", required=True, help="output JSON naming the MLflow run")
    return parser.parse_args(argv)


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    process.die_with_parent()
    params = load_params(arguments.params)
    prepared = Path(arguments.prepared)
    dataset = catalog.read(arguments.dataset)
    train, validation = (mnist.load_split(prepared / f"{name}.npz", dataset.classes)
                         for name in ("train", "validation"))
    mnist.check_batch_fits(params.train.batch_size, train)
    runtime.configure(params.train.threads, params.train.numerics)
    from mnistflow import tracking
    from mnistflow.training import pipeline, progress, recording  # TensorFlow, MLflow load after inputs pass
    from mnistflow.training.loop import CompiledModels

    tracking.connect(params.tracking.experiment)
    console = Console(stderr=True)
    name = tracking.run_name(f"dvc repro {params.model.arch} seed={params.train.seed}")
    # The outs are written beside their places and moved in only once the run has FINISHED: a signal at any
    # point leaves the previous outs (DVC keeps them: persist in dvc.yaml) or the complete new ones.
    outs = {atomic.temporary_sibling(path): Path(path)
            for path in (arguments.model, arguments.history, arguments.recall_history) if path is not None}
    model_file, history_file, *recall_file = outs
    try:
        with tracking.active_run(run_id=os.environ.get("MLFLOW_RUN_ID"), run_name=name) as run_id:
            epoch_logger = recording.start(params, {"train": train, "validation": validation}, dataset)
            recording.log_review(review.read_summary(prepared)["counts"])
            with progress.EpochProgress(console, params.train.epochs) as show_progress:
                model, records = pipeline.train_model(params, train, validation, [show_progress, epoch_logger],
                                                      CompiledModels())
            if records[-1].collapsed:
                print(f"warning: training ended with collapsed classes "
              f"{catalog.listed([dataset.classes[label] for label in records[-1].collapsed])} "
                      f"(validation recall < {params.diagnostics.collapse_threshold})", file=sys.stderr)
            pipeline.save_model(model, model_file)
            pipeline.write_history(history_file, pipeline.history_rows(records))
            for path in recall_file:
                pipeline.write_history(path, pipeline.recall_rows(records, dataset.classes))
            try:
                recording.log_training(params, model, records, validation, dataset)
            except tracking.STORE_FAILURES as error:  # keep the work, say where it is
                atomic.move_into_place(outs)
                raise tracking.TrackingError(
                    f"the tracking store failed after training ({tracking.describe(error)}); the trained model "
                    f"and per-epoch metrics are kept in {arguments.model} and {arguments.history}") from None
        tracking.runs.uninterrupted(_finish)(outs, arguments.run_file, run_id)
    finally:
        for temporary in outs:
            temporary.unlink(missing_ok=True)


def _finish(outs: dict[Path, Path], run_file: str, run_id: str) -> None:
    """Move the finished run's outs into place and name the run, with Ctrl-C and SIGTERM held meanwhile."""
    atomic.move_into_place(outs)
    atomic.write_json(run_file, {"run_id": run_id})

if __name__ == "__main__":
    run_as_program(main)
