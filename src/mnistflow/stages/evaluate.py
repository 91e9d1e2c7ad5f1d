"""Stage evaluate: test metrics, confusion matrix, curves and error analysis, into the training run."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mnistflow import atomic, data, runtime
from mnistflow.errors import one_line_errors
from mnistflow.params import load_params


def read_run_id(path: str) -> str:
    try:
        return json.loads(Path(path).read_text())["run_id"]
    except (OSError, ValueError, KeyError) as error:
        raise data.DataError(f"{path}: expected JSON with a run_id ({error})") from None


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--prepared", required=True, help="folder with test.npz")
    parser.add_argument("--model", required=True, help="trained .keras file")
    parser.add_argument("--history", required=True, help="per-epoch CSV from training")
    parser.add_argument("--run-file", required=True, help="JSON naming the MLflow run of training")
    parser.add_argument("--metrics", required=True, help="output metrics JSON")
    parser.add_argument("--confusion", required=True, help="output CSV of (actual, predicted)")
    parser.add_argument("--figures", required=True, help="output folder for figures")
    parser.add_argument("--errors", required=True, help="output folder for error analysis")
    arguments = parser.parse_args(argv)
    params = load_params(arguments.params)
    test = data.load_split(Path(arguments.prepared) / "test.npz")
    run_id = read_run_id(arguments.run_file)
    runtime.configure(params.train.threads)
    import keras

    from mnistflow import evaluation, pipeline, recording, tracking

    model = keras.saving.load_model(arguments.model, safe_mode=True)
    history = pipeline.read_history(arguments.history)
    tracking.connect(params.tracking.experiment)
    with tracking.active_run(run_id=run_id):
        result = recording.evaluate_and_log(model, params, test, history, Path(arguments.figures),
                                            Path(arguments.errors))
        atomic.write_json(arguments.metrics, result.metrics)
        evaluation.write_confusion_data(arguments.confusion, test.labels, result.predictions)
        tracking.set_tags(tracking.dvc_lock_tags(Path("dvc.lock")))
        print(f"test accuracy {result.metrics['test_accuracy']:.4f}  loss {result.metrics['test_loss']:.4f}  "
              f"macro F1 {result.metrics['test_macro_f1']:.4f}")
        if result.collapsed:
            print(f"warning: collapsed classes on the test set: {result.collapsed}", file=sys.stderr)


if __name__ == "__main__":
    main()
