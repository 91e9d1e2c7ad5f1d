"""What a run records in MLflow after training and after evaluation: shared by the stages and the study."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import keras

from mnistflow import tracking
from mnistflow.analysis import recall_chart
from mnistflow.core.params import Params, flatten
from mnistflow.data import confidence, review
from mnistflow.data.catalog import Dataset, framing_of, listed
from mnistflow.data.mnist import Split
from mnistflow.training import pipeline
from mnistflow.training.loop import CompiledModels, EpochCallback, EpochRecord

if TYPE_CHECKING:  # evaluation loads scikit-learn, cleanlab and matplotlib: the train stage needs none of them
    from mnistflow.training.evaluation import Audit, Evaluation


# The params each part of a run reads, and so logs: the train and evaluate stages declare them in dvc.yaml.
# Training's are MLflow params. The evaluation's are tags: DVC re-runs evaluate alone into the same run when
# they change (they shape reports, never the model or its metrics), and MLflow params cannot change.
TRAINING_SECTIONS = ("prepare", "model", "train", "diagnostics", "tracking")
EVALUATION_SECTIONS = ("evaluate", "crossval")


RECALL_CHART = "val_recall_per_class"  # the image series key: one bar chart per epoch, or every few seconds
# MLflow's image card opens at step 0, where no epoch is: the last epoch's chart is logged there too, so the card
# opens on the trained model's recall, and its slider walks the epochs.
OPENING_STEP = 0
# A chart costs about 20 ms to log (PNG, WebP thumbnail, artifact, tag): for the 0.26 s epochs of the MLP, one
# per epoch was +45 % of the training time (+37 % logged asynchronously: its flush at the run's end). A chart
# goes out when CHART_INTERVAL_SECONDS have passed since the last one (every epoch of the CNN), and at the end.
CHART_INTERVAL_SECONDS = 5.0


class EpochLogger:
    """Logs each epoch's metrics; if the store fails mid-run, training goes on and the failure is kept.

    The metrics stay in models/history.csv, and the failure surfaces when the run is logged after training
    (the train stage then names the files that hold the work). Logging stops after the first failure, so a
    dead server costs one timeout, not one per epoch.
    """

    def __init__(self, collapse_threshold: float, classes: Sequence[str]) -> None:
        self.classes = classes
        self.failure: BaseException | None = None
        self.started = time.perf_counter()
        self.collapse_threshold = collapse_threshold
        self.last_chart = self.started

    def __call__(self, record: EpochRecord) -> None:
        if self.failure is not None:
            return
        try:
            tracking.log_metrics(record.metrics, step=record.epoch)
            now = time.perf_counter()
            if record.epoch == record.epochs or now - self.last_chart >= CHART_INTERVAL_SECONDS:
                recall = [record.metrics[f"val_recall_{label}"] for label in range(len(self.classes))]
                title = f"validation recall per class, epoch {record.epoch}/{record.epochs}"
                chart = recall_chart.render(recall, self.collapse_threshold, title, self.classes)
                tracking.log_image(chart, RECALL_CHART, record.epoch)
                if record.epoch == record.epochs:
                    tracking.log_image(chart, RECALL_CHART, OPENING_STEP)
                self.last_chart = now
            if record.epoch == record.epochs:  # the whole training's wall time, compilation and validation included
                tracking.log_metrics({"training_seconds": time.perf_counter() - self.started})
        except tracking.STORE_FAILURES as error:
            self.failure = error
            print(f"warning: the tracking store failed at epoch {record.epoch} ({tracking.describe(error)}); "
                  "training goes on", file=sys.stderr)


def start(params: Params, splits: dict[str, Split], dataset: Dataset,
          tags: dict[str, str] | None = None) -> EpochLogger:
    """Log the training params, the dataset (its name, classes and the training and validation splits) and the
    tags of a new run; return the callback that logs each epoch's metrics."""
    tracking.log_params(flatten(params, TRAINING_SECTIONS))
    tracking.log_datasets({context: (splits[context].images, splits[context].labels)
                           for context in ("train", "validation")}, dataset.name)
    tracking.set_tags({"seed": params.train.seed, **tracking.environment_tags(), **tracking.dataset_tags(dataset),
                       **(tags or {})})
    return EpochLogger(params.diagnostics.collapse_threshold, dataset.classes)


def log_review(counts: dict[str, int]) -> None:
    """What the prepare stage applied from the label review file, as params (to filter runs by) and metrics;
    nothing when it applied no verdict (six zeros would head the run's metrics)."""
    if not any(counts.values()):
        return
    tracking.log_params({f"review.{key}": value for key, value in counts.items()})
    tracking.log_metrics({f"review_{key}": float(value) for key, value in counts.items()})


def log_training(params: Params, model: keras.Model, records: Sequence[EpochRecord], validation: Split,
                 dataset: Dataset) -> None:
    """End-of-training collapse summary and tag, and the model for serving (raw pixels in), with its dataset's
    name and class names in its metadata."""
    tracking.log_metrics(pipeline.collapse_summary(records))
    tracking.set_tags({tracking.COLLAPSED_TAG: records[-1].collapsed,
                       tracking.DESCRIPTION_TAG: training_description(params, records, dataset)})
    serving = pipeline.serving_model(model, params.prepare.scale)
    fitted = confidence.threshold(model.predict(validation.images, batch_size=1024, verbose=0))
    tracking.log_keras_model(serving, pipeline.input_example(validation.images, params.prepare.scale),
                             name=f"{dataset.name}-{params.model.arch}",
                             description=model_description(params, records, dataset),
                             metadata={"dataset": dataset.name, "classes": list(dataset.classes),
                                       "framing": framing_of(dataset), "confidence_threshold": fitted,
                                       "confidence_share": confidence.REFUSED_SHARE})


def log_evaluation(result: Evaluation, test: Split, tables: dict, figures: Path, errors: Path,
                   dataset_name: str) -> None:
    tracking.log_model_metrics(result.metrics, f"{dataset_name}-test", test.images, test.labels)
    tracking.log_dict({"labels": list(range(len(test.classes))), "classes": list(test.classes),
                       "matrix": result.confusion.tolist()}, "confusion_matrix.json")
    tracking.log_artifacts(figures, "figures")
    tracking.log_artifacts(errors, "errors")
    for name, table in tables.items():
        tracking.log_table(table, f"errors/{name}_table.json")
    tracking.set_tags({"test_collapsed_classes": result.collapsed})


def evaluate_and_log(model: keras.Model, params: Params, test: Split, history: list[dict[str, float]],
                     figures: Path, errors: Path, dataset_name: str, audit: Audit | None = None) -> Evaluation:
    """Evaluate on the test split, write figures and error reports into the folders, and log them all."""
    from mnistflow.training import evaluation

    audit = audit or evaluation.Audit()
    tracking.set_tags(flatten(params, EVALUATION_SECTIONS))
    tracking.log_datasets({"test": (test.images, test.labels)}, dataset_name)
    result = evaluation.evaluate_model(model, params.train.loss, test, params.diagnostics.collapse_threshold,
                                       params.train.portable_products)
    if audit.reviewed_test_labels:
        result.metrics.update(evaluation.reviewed_test_metrics(test, result.predictions, audit.reviewed_test_labels))
    evaluation.write_figures(figures, result, history, params.diagnostics.collapse_threshold, test.classes)
    tables = evaluation.write_error_reports(errors, result, test, params, audit.suspects(result, test))
    log_evaluation(result, test, tables, figures, errors, dataset_name)
    tracking.set_tags({"label_suspects_probabilities": audit.source})
    tracking.append_description(test_outcome(result.metrics, [test.classes[label] for label in result.collapsed]))
    return result


def training_description(params: Params, records: Sequence[EpochRecord], dataset: Dataset) -> str:
    """The run page's description (markdown), first part: the dataset, the model, how it was trained, how
    training ended."""
    model = ", ".join(f"{key.split('.')[-1]} {value}" for key, value in flatten(params, ("model",)).items()
                      if key != "model.arch")
    train, last = params.train, records[-1]
    collapsed = listed([dataset.classes[label] for label in last.collapsed])
    collapse = f"collapsed classes at the end: {collapsed}" if last.collapsed else "no collapsed class"
    return (f"{dataset_sentence(dataset)} **{params.model.arch}** ({model}); {train.epochs} epochs, "
            f"batch {train.batch_size}, "
            f"{train.optimizer} at {train.learning_rate}, {train.loss}, "
            f"{'scaled' if params.prepare.scale else 'raw 0-255'} pixels, seed {train.seed}. "
            f"Validation accuracy {last.metrics['val_accuracy']:.4f}, {collapse}.")


def dataset_sentence(dataset: Dataset) -> str:
    if dataset.digits:
        return f"Dataset **{dataset.name}** (digits 0-9)."
    return f"Dataset **{dataset.name}** ({len(dataset.classes)} classes: {', '.join(dataset.classes)})."


def model_description(params: Params, records: Sequence[EpochRecord], dataset: Dataset) -> str:
    """The logged model's description (markdown): what goes in and out, then how it was trained."""
    kind = "MNIST digit" if dataset.name == "mnist" else f"{dataset.name}"
    return (f"{kind} classifier. **Input**: raw 28×28 grayscale pixels, 0–255, shape `(N, 28, 28)`; the model "
            f"scales them itself. **Output**: {len(dataset.classes)} class probabilities per image, in the order "
            f"of its metadata's `classes`.\n\n{training_description(params, records, dataset)} Its test metrics are "
            f"listed with the test set, `{dataset.name}-test`.")


def test_outcome(metrics: dict[str, float], collapsed: Sequence[str]) -> str:
    """The description's second part, written by the evaluation."""
    outcome = f"collapsed classes on the test set: {listed(collapsed)}" if collapsed else "no class collapsed"
    accuracy = f"Test accuracy **{metrics['test_accuracy']:.4f}**"
    if "test_accuracy_reviewed_labels" not in metrics:
        return f"{accuracy}, macro F1 {metrics['test_macro_f1']:.4f}; {outcome}."
    return (f"{accuracy} on the original labels, macro F1 {metrics['test_macro_f1']:.4f}; {outcome}. On the "
            f"reviewed test labels ({metrics['test_images_reviewed_labels']:.0f} images): accuracy "
            f"{metrics['test_accuracy_reviewed_labels']:.4f}.")


def train_and_evaluate(params: Params, splits: dict[str, Split], compiled_models: CompiledModels, dataset: Dataset,
                       review_rows: Sequence[review.Row] = (), callbacks: Sequence[EpochCallback] = ()) -> dict:
    """A whole run inside the active run, as a study does it: apply the label review as the prepare stage does,
    train (calling `callbacks` after each epoch too), log, evaluate into a scratch folder."""
    import tempfile

    from mnistflow.training.evaluation import Audit

    splits = review.apply(splits, review_rows)
    model, records = pipeline.train_model(params, splits["train"], splits["validation"],
                                          [start(params, splits, dataset), *callbacks], compiled_models)
    log_review(review.counts(review_rows))
    log_training(params, model, records, splits["validation"], dataset)
    with tempfile.TemporaryDirectory() as folder:
        result = evaluate_and_log(model, params, splits["test"], pipeline.history_rows(records),
                                  Path(folder, "figures"), Path(folder, "errors"), dataset.name,
                                  Audit(reviewed_test_labels=review.test_labels(review_rows)))
    return {"status": "FINISHED", "test_accuracy": result.metrics["test_accuracy"],
            "val_accuracy": records[-1].metrics["val_accuracy"], "epochs_trained": len(records),
            **pipeline.collapse_summary(records)}
