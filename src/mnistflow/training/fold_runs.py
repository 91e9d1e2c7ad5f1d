"""What a cross-validation records: a parent run with its params and summary, one child run per fold with
its per-epoch metrics, and a progress bar per fold on a console that is passed in."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from rich.console import Console

from mnistflow import tracking
from mnistflow.core.params import Params, flatten
from mnistflow.training import progress, recording
from mnistflow.training.loop import EpochCallback

CROSSVAL_SECTIONS = (*recording.TRAINING_SECTIONS, "crossval")


def start(params: Params) -> None:
    """The parent run's params and tags."""
    tracking.log_params(flatten(params, CROSSVAL_SECTIONS))
    tracking.set_tags({"seed": params.train.seed, "crossval": "parent", **tracking.environment_tags()})


class FoldRuns:
    """`fold_context` for crossval.cross_validate: each fold trains inside a child run of `parent_id`,
    with its epochs logged and shown."""

    def __init__(self, params: Params, parent_id: str, console: Console, classes: Sequence[str]) -> None:
        self.params, self.parent_id, self.console, self.classes = params, parent_id, console, classes

    @contextlib.contextmanager
    def __call__(self, fold: int) -> Iterator[Sequence[EpochCallback]]:
        folds = self.params.crossval.folds
        name = f"fold {fold + 1}/{folds}"
        self.console.print(f"crossval {name}: training on the other folds, predicting this one", highlight=False)
        with tracking.active_run(run_name=name, parent_run_id=self.parent_id):
            tracking.log_params(flatten(self.params, CROSSVAL_SECTIONS))
            tracking.set_tags({"crossval": "fold", "fold": fold})
            with progress.EpochProgress(self.console, self.params.train.epochs, f"crossval {name}") as shown:
                yield [shown, recording.EpochLogger(self.params.diagnostics.collapse_threshold, self.classes)]


def log_summary(summary: dict) -> None:
    """The parent run's metrics: out-of-fold accuracy, averaged test accuracy, each fold's accuracy."""
    tracking.log_metrics({key: value for key, value in summary.items()
                          if isinstance(value, float) or key == "images"})
