"""Stage train: train a fresh model, log everything to a new MLflow run, save the model and run id."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from rich.console import Console

from mnistflow import atomic, data, runtime
from mnistflow.errors import one_line_errors
from mnistflow.params import flatten, load_params


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--prepared", required=True, help="folder with train.npz and validation.npz")
    parser.add_argument("--model", required=True, help="output .keras file")
    parser.add_argument("--history", required=True, help="output per-epoch CSV")
    parser.add_argument("--run-file", required=True, help="output JSON naming the MLflow run")
    arguments = parser.parse_args(argv)
    params = load_params(arguments.params)
    prepared = Path(arguments.prepared)
    train, validation = (data.load_split(prepared / f"{name}.npz") for name in ("train", "validation"))
    runtime.configure()
    from mnistflow import pipeline, progress, tracking  # TensorFlow and MLflow load after inputs check out

    experiment_id = tracking.connect(params.tracking.experiment)
    console = Console(stderr=True)
    with tracking.active_run(run_id=os.environ.get("MLFLOW_RUN_ID")) as run_id:
        tracking.log_params(flatten(params))
        tracking.set_tags({"seed": params.train.seed, "mnistflow.stage": "train", **tracking.environment_tags()})
        epoch_logger = lambda record: tracking.log_metrics(record.metrics, step=record.epoch)  # noqa: E731
        with progress.EpochProgress(console, params.train.epochs) as show_progress:
            model, records = pipeline.train_model(params, train, validation, [show_progress, epoch_logger])
        summary = pipeline.collapse_summary(records)
        tracking.log_metrics(summary)
        tracking.set_tags({tracking.COLLAPSED_TAG: records[-1].collapsed})
        if records[-1].collapsed:
            print(f"warning: training ended with collapsed classes {records[-1].collapsed} "
                  f"(validation recall < {params.diagnostics.collapse_threshold})", file=sys.stderr)
        pipeline.save_model(model, arguments.model)
        pipeline.write_history(arguments.history, pipeline.history_rows(records))
        serving = pipeline.serving_model(model, params.prepare.scale)
        tracking.log_keras_model(serving, pipeline.input_example(validation.images, params.prepare.scale))
        atomic.write_json(arguments.run_file, {"run_id": run_id, "experiment_id": experiment_id})


if __name__ == "__main__":
    main()
