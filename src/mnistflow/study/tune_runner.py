"""`mnistflow tune` as a whole: the parent run, the trials, and what the parent run keeps (the trials table,
Optuna's pictures, the best configuration)."""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console

from mnistflow.core.errors import ParamsError, TrackingError
from mnistflow.study import pruning
from mnistflow.study.tuning import (
    PARENT_ATTRIBUTE,
    TrialSource,
    TuneRequest,
    check_tuned_output,
    ended_trials,
    fail_stale_trials,
    open_study,
    run_trials,
    study_metrics,
    write_tuned_config,
)
from mnistflow.study.workers import CONFIG_TAG, SEED_TAG, StudyContext

SLICE_PARAMS = ("model.mlp.units", "train.learning_rate")  # the practitioner's question: more units, smaller step?


def save_pictures(study: Any, folder: Path) -> list[str]:
    """Optuna's matplotlib pictures of the study, as PNGs in `folder`; a picture the trials cannot support yet
    (importances need two complete trials with different values) is left out. Returns the files written."""
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as optuna_plots

    from mnistflow.analysis import plots

    searched = [name for name in SLICE_PARAMS if any(name in trial.params for trial in study.trials)]
    pictures = {  # file: (title, draw); the slice plot keeps Optuna's layout (its colour bar breaks tight_layout)
        "optimization_history.png": ("Validation accuracy of each trial, and the best so far",
                                     lambda: optuna_plots.plot_optimization_history(study)),
        "learning_curves.png": ("Validation accuracy per epoch; a short line is a pruned trial",
                                lambda: optuna_plots.plot_intermediate_values(study)),
        "param_importances.png": ("Which params mattered for validation accuracy (fANOVA)",
                                  lambda: optuna_plots.plot_param_importances(study)),
        "slice_units_learning_rate.png": ("Validation accuracy against units and learning rate",
                                          lambda: optuna_plots.plot_slice(study, params=searched or None))}
    written = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib pictures experimental
        for name, (title, draw) in pictures.items():
            try:
                axes = draw()
            except (ValueError, RuntimeError, ZeroDivisionError):
                continue
            figure: Any = (axes.flat[0] if hasattr(axes, "flat") else axes).figure
            figure.set_size_inches(max(figure.get_size_inches()[0], 9), 5)
            for each in figure.axes:
                readable(each)
            if name.startswith("slice"):
                figure.suptitle(title)
            else:
                for location in ("left", "center", "right"):  # Optuna's own title sits left or centre
                    figure.axes[0].set_title("", loc=location)
                figure.axes[0].set_title(title)
                figure.tight_layout()
            plots.save(figure, folder / name)
            plt.close(figure)
            written.append(name)
    return written


LABELS = {"Objective Value": "validation accuracy", "Intermediate Value": "validation accuracy", "Step": "epoch"}


def readable(axes: Any) -> None:
    """Name Optuna's axes for this study, drop a legend of one line per trial, and keep log axes legible."""
    from matplotlib.ticker import NullFormatter

    axes.set_ylabel(LABELS.get(axes.get_ylabel(), axes.get_ylabel()))
    axes.set_xlabel(LABELS.get(axes.get_xlabel(), axes.get_xlabel()))
    legend = axes.get_legend()
    if legend is not None and len(legend.get_texts()) > 8:
        legend.remove()
    if axes.get_xscale() == "log":
        axes.xaxis.set_minor_formatter(NullFormatter())


def log_results(study: Any, seconds: float) -> None:
    from mnistflow import tracking

    with tempfile.TemporaryDirectory() as folder:
        study.trials_dataframe().to_csv(Path(folder, "trials.csv"), index=False)
        save_pictures(study, Path(folder))
        tracking.log_artifacts(folder, "tune")
    tracking.log_metrics(study_metrics(study, seconds))


@contextlib.contextmanager
def storage_errors(url: str) -> Iterator[None]:
    """Optuna's storage failing mid-study (a damaged page, a full disk, a lost server) is one line naming it."""
    import optuna

    from mnistflow.tracking.store import describe

    try:
        yield
    except optuna.exceptions.StorageInternalError as error:
        cause = describe(error.__cause__) if error.__cause__ else str(error)
        raise TrackingError(f"optuna storage {url} failed: {cause}") from None


def run_tune(request: TuneRequest, raw_params: dict, data_path: str, experiment: str, console: Console,
             review_rows: tuple = ()) -> Any:
    """Run (or resume) a tune study under one parent run; write the best trial to `request.output`."""
    from mnistflow import tracking
    from mnistflow.study.runner import end_stale_children
    from mnistflow.tracking import queries
    from mnistflow.tracking.store import file_lock

    root = tracking.require_project_root()
    default_arch = raw_params.get("model", {}).get("arch", "mlp")
    busy = (f"tune study {request.name!r} is running in another process of this project; wait for it to end, "
            "or start another with --name")
    with file_lock(root / f".mnistflow-tune-{request.name}.lock", busy), storage_errors(request.storage_url):
        study = open_study(request, default_arch)
        if request.resume:
            check_tuned_output(request.output, study.user_attrs.get(PARENT_ATTRIBUTE), request.overwrite)
        count = request.trials - ended_trials(study)
        experiment_id = tracking.connect(experiment)
        parent_id = study.user_attrs.get(PARENT_ATTRIBUTE) if request.resume else None
        tags = {pruning.TUNE_TAG: request.name}
        with tracking.active_run(run_id=parent_id, run_name=None if parent_id else f"tune {request.name}",
                                 tags=tags) as parent:
            if parent_id is None:
                study.set_user_attr(PARENT_ATTRIBUTE, parent)
                tracking.log_params({"tune.trials": request.trials, "tune.seed": request.space.seed,
                                     **{f"tune.base.{key}": value for key, value in request.space.base.items()}})
                tracking.log_dict(study.user_attrs["search_space"], "tune/search_space.json")
            fail_stale_trials(study, console)
            end_stale_children(experiment_id, queries.study_children(experiment_id, parent, CONFIG_TAG, SEED_TAG),
                               console)
            context = StudyContext(raw_params, data_path, tracking.tracking_uri(root), experiment, parent,
                                   review_rows)
            if request.resume:
                console.print(f"resuming: {request.trials - count} of {request.trials} trials already ended")
            seconds = run_trials(TrialSource(study, request, default_arch), context, count, console) if count > 0 \
                else 0.0
            best = write_tuned_config(study, request.space, request.name, request.output, default_arch)
            log_results(study, seconds)
    if best is None:
        raise ParamsError(f"tune study {request.name!r}: no trial completed, so no configuration was written "
                          f"(every trial was pruned or failed; see the parent run {parent})")
    console.print(f"tune run {parent}: best trial {best.number}, validation accuracy {best.value:.4f}, test accuracy "
                  f"{best.user_attrs.get('test_accuracy', float('nan')):.4f} -> {os.path.relpath(request.output)}",
                  soft_wrap=True)
    return study

