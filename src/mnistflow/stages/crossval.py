"""Stage crossval: out-of-sample probabilities for every training image, from K models trained on K folds.

Off by default (`crossval.enabled: false`): the stage then writes only summary.json saying so. On, it logs
one MLflow run with the K fold runs as its children, and writes its folder whole or not at all.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console

from mnistflow.core import atomic, process
from mnistflow.core.errors import one_line_errors, run_as_program
from mnistflow.core.params import load_params
from mnistflow.data import catalog, mnist


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--prepared", required=True, help="folder with train.npz, validation.npz and test.npz")
    parser.add_argument("--out", required=True, help="output folder: summary.json, train.npz, test.npz")
    parser.add_argument("--dataset", help="the prepare stage's dataset description (JSON); default: MNIST")
    return parser.parse_args(argv)


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    process.die_with_parent()
    params = load_params(arguments.params)
    if not params.crossval.enabled:
        with atomic.atomic_directory(arguments.out) as folder:
            atomic.write_json(folder / "summary.json", {"enabled": False})
        print("crossval: off (crossval.enabled is false)")
        return
    prepared = Path(arguments.prepared)
    classes = catalog.read(arguments.dataset).classes
    train, validation, test = (mnist.load_split(prepared / f"{name}.npz", classes)
                               for name in ("train", "validation", "test"))
    from mnistflow import tracking
    from mnistflow.core import runtime
    from mnistflow.training import crossval, fold_runs  # TensorFlow loads only when the stage is on

    runtime.configure(params.train.threads, params.train.numerics)

    pool = crossval.pool_of([train, validation])
    folds = crossval.fold_assignments(pool.labels, params.crossval.folds, params.prepare.split_seed, len(classes))
    tracking.connect(params.tracking.experiment)
    console = Console(stderr=True)
    # Under `mlflow run`, MLFLOW_RUN_ID names the run the train stage continues: cross-validation goes in a
    # child of it, not into it (MLflow would otherwise resume that run here).
    enclosing = os.environ.pop("MLFLOW_RUN_ID", None)
    name = tracking.run_name(f"crossval {params.model.arch} K={params.crossval.folds}", " crossval")
    with atomic.atomic_directory(arguments.out) as folder, \
            tracking.active_run(run_name=name, parent_run_id=enclosing) as parent_id:
        fold_runs.start(params)
        result = crossval.cross_validate(params, pool, test, folds,
                                         fold_runs.FoldRuns(params, parent_id, console, classes))
        summary = crossval.write_outputs(folder, result, test)
        fold_runs.log_summary(summary)
    console.print(f"crossval: {summary['folds']} folds, out-of-fold accuracy {summary['crossval_accuracy']:.4f}, "
                  f"averaged test accuracy {summary['crossval_test_accuracy']:.4f}", highlight=False)


if __name__ == "__main__":
    run_as_program(main)
