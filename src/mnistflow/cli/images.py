"""Commands on images: predict the digit in a file, picture a dataset image, review suspect labels."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from mnistflow.cli.options import (
    ExperimentOption,
    ModelNameOption,
    SplitName,
    connect_experiment,
    current_dataset,
    experiment_name,
    model_name,
)
from mnistflow.core import paths
from mnistflow.core.errors import UsageError, one_line_errors

MODEL_RULE = "model URI (default: models:/<name>@champion if it exists, else the newest finished run's model)"


@one_line_errors
def predict(files: Annotated[list[Path], typer.Argument(help="PNG/JPEG images or .npy arrays")],
            model_uri: Annotated[str | None, typer.Option(help=MODEL_RULE)] = None,
            name: ModelNameOption = None,
            json_output: Annotated[bool, typer.Option("--json", help="print JSON instead of lines")] = False,
            show_framing: Annotated[bool, typer.Option(
                "--show", help="also write each photo beside the 28x28 the model read, in reports/shown/")] = False,
            experiment: ExperimentOption = None) -> None:
    """Predict the class of each file (for digits: or say it holds none); a bad file is reported, the rest still
    run (exit 1)."""
    from mnistflow.tracking import remembered_choice

    root = paths.require_project_root()
    question = {"name": model_name(root, name), "model_uri": model_uri, "experiment": experiment_name(root, experiment),
                "dataset": current_dataset(root)}
    label, folder = remembered_choice.choose(paths.tracking_uri(root), question, lambda: _ask_store(root, question))
    print(f"model: {label}", file=sys.stderr)
    results, failures = _predict_files(files, folder, root if show_framing else None)
    for result in results if not json_output else ():
        shown = f"  -> {result['shown']}" if "shown" in result else ""
        answer = (f"{result['class']} (p={result['probability']:.3f})" if result["label"] is not None
                  else f"no digit: {result['no_digit']}" if "no_digit" in result else f"refused: {result['refused']}")
        print(f"{result['file']}[{result['item']}]: {answer}{shown}")
    if json_output:
        print(json.dumps(results, indent=2))
    raise typer.Exit(1 if failures else 0)


def _ask_store(root: Path, question: dict) -> tuple[str, Path]:
    """The model by the one rule (registry.choose_model), and its files."""
    from mnistflow import tracking
    from mnistflow.tracking import queries, registry

    tracking.use_store(root)
    chosen = registry.choose_model(lambda: connect_experiment(question["experiment"]), question["name"],
                                   question["model_uri"], dataset=question.get("dataset", "mnist"))
    return chosen.label, queries.model_folder(chosen.uri)


def _predict_files(files: list[Path], model: Path, shown_root: Path | None) -> tuple[list[dict], int]:
    """One result per image (a refused image has label None and the reason in `no_digit`), and the count of
    files that could not be read (each reported in one line)."""
    import numpy as np

    from mnistflow.data import detector
    from mnistflow.data.catalog import DIGIT_CLASSES
    from mnistflow.data.images import ImageFileError, load_framed
    from mnistflow.data.refusal import no_digit_reason
    from mnistflow.tracking import predictors

    described = predictors.model_metadata(model)
    classes, framing = described["classes"], described["framing"]
    digit_model = tuple(classes) == DIGIT_CLASSES
    if not digit_model and "confidence_threshold" not in described:
        print(f"note: a {described['dataset']} model logged without a confidence threshold; no out-of-distribution "
              "check is fitted for it, so every picture gets one of its classes", file=sys.stderr)
    predict_probabilities, digit_detector = predictors.folder_predictor(model), detector.load()
    results, failures = [], 0
    for path in files:
        try:
            framed = load_framed(path, framing)
        except (ImageFileError, OSError) as error:  # one bad file is that file's error alone
            print(f"error: {error}", file=sys.stderr)
            failures += 1
            continue
        digits = np.stack([image.pixels for image in framed])
        for item, probabilities in enumerate(predict_probabilities(digits)):
            reason = (no_digit_reason(framed[item], probabilities, digit_detector) if digit_model
                      else _unfamiliar(probabilities, described, framed[item].pieces == 0))
            label = None if reason else int(probabilities.argmax())
            results.append({"file": str(path), "item": item, "label": label,
                            "class": None if label is None else classes[label],
                            "no_digit" if digit_model else "refused": reason,
                            "probability": float(probabilities.max()),
                            "probabilities": [round(float(p), 6) for p in probabilities]})
            if shown_root is not None and path.suffix.lower() != ".npy":
                results[-1]["shown"] = str(_show_framing(path, digits[0], probabilities, reason, shown_root,
                                                         classes))
    return results, failures


def _unfamiliar(probabilities, described: dict, blank: bool) -> str | None:
    """The classifier's own out-of-distribution check (data.confidence), where its model has a threshold."""
    from mnistflow.data import confidence

    if "confidence_threshold" not in described:
        return None
    return confidence.unfamiliar_reason(probabilities, described["confidence_threshold"],
                                        described["confidence_share"], described["dataset"], blank)


def _show_framing(path: Path, framed, probabilities, no_digit: str | None, root: Path, classes) -> Path:
    from mnistflow.analysis import plots
    from mnistflow.data.images import load_photo

    out = root / paths.SHOWN / f"predict_{path.stem}.png"
    plots.save(plots.framing_figure(load_photo(path), framed, probabilities, str(path), no_digit, classes), out)
    return out


@one_line_errors
def show(index: Annotated[int, typer.Argument(help="image index within the split")],
         split: Annotated[SplitName, typer.Option(help="the split the index is in")] = SplitName.test,
         run: Annotated[str | None, typer.Option(help="run id whose model to use")] = None,
         model_uri: Annotated[str | None, typer.Option(help=MODEL_RULE)] = None,
         name: ModelNameOption = None,
         data: Annotated[Path | None, typer.Option(help="raw MNIST .npz (default: params.yaml's dataset)")] = None,
         out: Annotated[Path | None, typer.Option(help="PNG to write")] = None,
         experiment: ExperimentOption = None) -> None:
    """Write a PNG of one image with its label and the model's class probabilities."""
    from mnistflow.analysis import plots
    from mnistflow.tracking import queries, registry, require_project_root

    root = require_project_root()
    arrays, dataset = _project_dataset(root, data)
    images, labels = arrays[f"x_{split.value}"], arrays[f"y_{split.value}"]
    if not 0 <= index < len(images):
        raise UsageError(f"index {index} is out of range for the {split.value} split (0-{len(images) - 1})")
    chosen = registry.choose_model(lambda: connect_experiment(experiment), name or dataset.model_name, model_uri,
                                   run, dataset.name)
    print(f"model: {chosen.label}", file=sys.stderr)
    probabilities = queries.load_predictor(chosen.uri)(images[index:index + 1])[0]
    out = out or root / paths.SHOWN / f"{split.value}_{index}.png"
    plots.save(plots.digit_probabilities_figure(images[index], int(labels[index]), probabilities,
                                                f"{split.value} image #{index} — {chosen.label}",
                                                dataset.classes), out)
    print(out)


def _project_dataset(root: Path, data: Path | None):
    """The arrays and description of --data (an MNIST .npz), else of params.yaml's `prepare.dataset`."""
    from mnistflow.core.params import load_params
    from mnistflow.data import catalog, datasets
    from mnistflow.data.mnist import load_mnist

    if data is not None:
        return load_mnist(data), catalog.Dataset(catalog.MNIST, catalog.DIGIT_CLASSES)
    return datasets.load(load_params(root / paths.PARAMS).prepare.dataset, paths.raw_folder(root))


@one_line_errors
def review(show_index: Annotated[int | None, typer.Option(
               "--show", help="instead: picture one image of --split with the model's probabilities")] = None,
           split: Annotated[SplitName, typer.Option(help="the split the index is in")] = SplitName.test) -> None:
    """Put the current suspected label errors into the review file, for you to give each a verdict."""
    from mnistflow.data import review as label_review
    from mnistflow.tracking import require_project_root

    if show_index is not None:
        return show(show_index, split=split)
    root = require_project_root()
    arrays, dataset = _project_dataset(root, None)
    path = paths.review_file(root)
    rows, new = label_review.update_file(path, paths.error_reports(root),
                                         {"train": arrays["y_train"], "test": arrays["y_test"]}, dataset.name,
                                         len(dataset.classes))
    reviewed = sum(bool(row.verdict) for row in rows)
    print(f"{path.relative_to(root)}: {len(rows)} rows of {dataset.name}, {new} new suspects, {reviewed} reviewed. "
          "Set verdict to relabel (to `suggested`), exclude or keep; `mnistflow review --show INDEX --split "
          "train|test` pictures one; then `dvc repro` applies them.")
    if not dataset.digits:
        print("labels: " + ", ".join(f"{label} {name}" for label, name in enumerate(dataset.classes)))
