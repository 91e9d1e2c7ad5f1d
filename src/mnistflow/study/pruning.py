"""Pruning a tune trial inside the worker that trains it: at once when a class stays collapsed, else by Optuna's
pruner on validation accuracy. The worker reports every epoch to the trial in the shared Optuna storage."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mnistflow.study.search_space import Pruning

if TYPE_CHECKING:
    from mnistflow.training.loop import EpochRecord

PRUNED_TAG, TRIAL_TAG, TUNE_TAG = "tune.pruned", "tune.trial", "tune.name"
OBJECTIVE = "val_accuracy"  # what a trial maximizes: the validation accuracy after its last epoch


class Pruned(Exception):  # noqa: N818 - an outcome, not a failure: the trial stopped on purpose
    """A trial stopped early; `reason` goes on its run and to the console, `epoch` is the last one trained."""

    def __init__(self, reason: str, epoch: int) -> None:
        super().__init__(reason)
        self.reason, self.epoch = reason, epoch


@dataclasses.dataclass(frozen=True)
class TrialLink:
    """Where a worker finds its trial: the study in the shared storage, and the trial's number and id."""

    storage_url: str
    study_name: str
    number: int
    trial_id: int
    pruning: Pruning

    def tags(self) -> dict[str, str]:
        return {TRIAL_TAG: str(self.number), TUNE_TAG: self.study_name}


def collapse_reason(collapsed_by_epoch: Sequence[Sequence[int]], epochs: int, threshold: float) -> str | None:
    """Why to prune when the last `epochs` epochs all had a collapsed class (the classes collapsed throughout
    named), else None. `epochs` 0 never prunes."""
    if epochs < 1 or len(collapsed_by_epoch) < epochs:
        return None
    recent = [set(classes) for classes in collapsed_by_epoch[-epochs:]]
    if not all(recent):
        return None
    throughout = sorted(set.intersection(*recent)) or sorted(recent[-1])
    return (f"class {', '.join(map(str, throughout))} collapsed (validation recall < {threshold:g}) for "
            f"{epochs} epoch{'s' * (epochs > 1)} in a row")


def make_pruner(pruning: Pruning) -> Any:
    """Optuna's pruner on validation accuracy: the same in the driver and in every worker."""
    import optuna

    if pruning.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=pruning.warmup_epochs)
    if pruning.pruner == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(pruning.warmup_epochs, 1))
    return optuna.pruners.NopPruner()


class TrialReporter:
    """An epoch callback: report validation accuracy to the trial, then raise Pruned if a class has stayed
    collapsed for `collapse_epochs`, or if Optuna's pruner says so."""

    def __init__(self, link: TrialLink, collapse_threshold: float) -> None:
        import optuna

        from mnistflow.study.storage import open_storage

        study = optuna.load_study(study_name=link.study_name, storage=open_storage(link.storage_url),
                                  pruner=make_pruner(link.pruning))
        self.trial = optuna.trial.Trial(study, link.trial_id)
        self.link, self.threshold = link, collapse_threshold
        self.collapsed_by_epoch: list[list[int]] = []

    def __call__(self, record: EpochRecord) -> None:
        self.trial.report(record.metrics[OBJECTIVE], record.epoch)
        self.collapsed_by_epoch.append(record.collapsed)
        if record.epoch == record.epochs:
            return  # the last epoch: the trial is complete, nothing left to save
        reason = collapse_reason(self.collapsed_by_epoch, self.link.pruning.collapse_epochs, self.threshold)
        if reason is None and self.trial.should_prune():
            reason = (f"{self.link.pruning.pruner} pruner: validation accuracy {record.metrics[OBJECTIVE]:.4f} at "
                      f"epoch {record.epoch} is below the other trials'")
        if reason is not None:
            raise Pruned(f"{reason}; pruned after epoch {record.epoch} of {record.epochs}", record.epoch)
