"""How well does the label-error finder find wrong labels? Planted flips in a copy of the training labels.

    python bench/label_errors.py                     # about 25 min on 2 cores; --quick for a smoke run
    python bench/label_errors.py --cnn-epochs 4 --folds 5

For each condition (0.1 % and 1 % of the 60,000 training labels flipped, either to a random other class or
to the confusable partner: 4<->9, 3<->5, 7<->1), each finder produces probabilities for every training image:
- `mlp` and `cnn`: one model trained on all the noisy labels, scoring its own training images (in-sample);
- `crossval-mlp` and `crossval-cnn`: K models on K folds, each scoring only its held-out fold (out-of-sample).
The MLP is params.yaml's, the CNN configs/cnn.yaml's (with --cnn-epochs epochs).

Reported, for each finder and condition: precision and recall of the top-k suspects (k = 10, 50, 100) under
each of cleanlab's rankings, and precision / recall of the set flagged by each of cleanlab's filters.
A flip counts as found when its image is among the suspects. MNIST's own wrong labels count against
precision: they are not in the planted set. Writes bench/results/label_errors.json and prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

RATES = (0.001, 0.01)
PAIRS = ((4, 9), (3, 5), (7, 1))
TOP_K = (10, 50, 100)
RANKINGS = ("self_confidence", "normalized_margin", "confidence_weighted_entropy")
FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning")


def plant(labels: np.ndarray, rate: float, kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A copy of the labels with round(rate * n) flips; returns (noisy labels, flipped positions)."""
    generator = np.random.default_rng(seed)
    count = round(rate * len(labels))
    noisy = labels.copy()
    if kind == "random":
        positions = generator.choice(len(labels), count, replace=False)
        noisy[positions] = (labels[positions] + generator.integers(1, 10, count)) % 10
        return noisy, positions
    partner = {a: b for pair in PAIRS for a, b in (pair, pair[::-1])}
    candidates = np.flatnonzero(np.isin(labels, list(partner)))
    positions = generator.choice(candidates, count, replace=False)
    noisy[positions] = [partner[int(label)] for label in labels[positions]]
    return noisy, positions


def scores(probabilities: np.ndarray, labels: np.ndarray, flipped: np.ndarray, true_labels: np.ndarray) -> dict:
    """Each ranking's precision / recall at k, at k = the number of flips, and its average precision over the
    whole ranking; each filter's flagged count, precision and recall; the probabilities' accuracy."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores
    from sklearn.metrics import average_precision_score

    truth = np.zeros(len(labels), dtype=bool)
    truth[flipped] = True
    result: dict = {"accuracy_true_labels": float(np.mean(probabilities.argmax(axis=1) == true_labels)),
                    "ranking": {}, "filter": {}}
    for ranking in RANKINGS:
        quality = get_label_quality_scores(labels, probabilities, method=ranking)
        order = np.argsort(quality, kind="stable")
        result["ranking"][ranking] = {k: {"precision": float(truth[order[:k]].mean()),
                                          "recall": float(truth[order[:k]].sum() / truth.sum())}
                                      for k in (*TOP_K, int(truth.sum()))}
        result["ranking"][ranking]["average_precision"] = float(average_precision_score(truth, -quality))
    for filter_by in FILTERS:
        flagged = find_label_issues(labels, probabilities, filter_by=filter_by, n_jobs=1)  # a boolean mask
        hits = int(truth[flagged].sum())
        result["filter"][filter_by] = {"flagged": int(flagged.sum()), "precision": hits / max(int(flagged.sum()), 1),
                                       "recall": hits / truth.sum()}
    return result


def finders(arguments, pool, test, mlp, cnn):
    """name -> function(noisy pool) -> probabilities for every pool image."""
    from mnistflow.data.mnist import Split
    from mnistflow.training import crossval, pipeline
    from mnistflow.training.loop import CompiledModels

    compiled = CompiledModels()

    def in_sample(params):
        def find(noisy: Split) -> np.ndarray:
            model, _ = pipeline.train_model(params, noisy, test, (), compiled)
            return crossval.predict_probabilities(model, noisy.images)
        return find

    def cross_validated(params):
        def find(noisy: Split) -> np.ndarray:
            folds = crossval.fold_assignments(noisy.labels, arguments.folds, 0)
            return crossval.cross_validate(params, noisy, test, folds).probabilities
        return find

    found = {"mlp": in_sample(mlp), "crossval-mlp": cross_validated(mlp)}
    if not arguments.skip_cnn:
        found.update({"cnn": in_sample(cnn), "crossval-cnn": cross_validated(cnn)})
    return found


def load(arguments):
    from mnistflow.core import runtime
    from mnistflow.core.params import apply_overrides, read_yaml
    from mnistflow.data import mnist
    from mnistflow.study.grid import read_overrides
    from mnistflow.training import crossval

    raw = read_yaml(REPO / "params.yaml")
    limit = {"prepare.train_limit": 6000, "train.epochs": 3} if arguments.quick else {}
    cnn = apply_overrides(raw, {**read_overrides(REPO / "configs" / "cnn.yaml"),
                                "train.epochs": arguments.cnn_epochs, **limit})
    mlp = apply_overrides(raw, {"train.threads": cnn.train.threads, **limit})  # one process, one thread count
    runtime.configure(cnn.train.threads)
    splits = mnist.prepare_splits(mnist.load_mnist(REPO / "data" / "raw" / "mnist.npz"), mlp.prepare)
    return crossval.pool_of([splits["train"], splits["validation"]]), splits["test"], mlp, cnn


def markdown(results: dict, ranking: str) -> str:
    """The finders under `ranking`, then every ranking's average precision and every filter, per condition."""
    lines = ["| finder | flips | " + " | ".join(f"P@{k} | R@{k}" for k in TOP_K) + " | R@flips | AP |",
             "|---|---|" + "---|---|" * len(TOP_K) + "---|---|"]
    for key, by_finder in results.items():
        for finder, result in by_finder.items():
            top = result["ranking"][ranking]
            flips = next(k for k in top if k not in TOP_K and k != "average_precision")
            lines.append(f"| {finder} | {key} | " + " | ".join(
                f"{top[k]['precision']:.2f} | {top[k]['recall']:.2f}" for k in TOP_K)
                + f" | {top[flips]['recall']:.2f} | {top['average_precision']:.2f} |")
    lines += ["", "| finder | flips | " + " | ".join(f"AP {name}" for name in RANKINGS) + " | "
              + " | ".join(f"{name} (n / P / R)" for name in FILTERS) + " |",
              "|---|---|" + "---|" * (len(RANKINGS) + len(FILTERS))]
    for key, by_finder in results.items():
        for finder, result in by_finder.items():
            lines.append(f"| {finder} | {key} | " + " | ".join(
                f"{result['ranking'][name]['average_precision']:.2f}" for name in RANKINGS) + " | " + " | ".join(
                f"{value['flagged']} / {value['precision']:.2f} / {value['recall']:.2f}"
                for value in result["filter"].values()) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cnn-epochs", type=int, default=4)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--skip-cnn", action="store_true")
    parser.add_argument("--quick", action="store_true", help="6,000 images, 3 epochs: a smoke run")
    arguments = parser.parse_args()
    import mnistflow.core.runtime  # noqa: F401 - first: it quiets TensorFlow's start-up lines
    from mnistflow.data.mnist import Split

    pool, test, mlp, cnn = load(arguments)
    finding = finders(arguments, pool, test, mlp, cnn)
    results: dict = {}
    for rate in RATES:
        for kind in ("random", "confusable"):
            noisy_labels, flipped = plant(pool.labels, rate, kind, seed=round(rate * 1e4))
            key = f"{rate:.1%} {kind} ({len(flipped)})"
            results[key] = {}
            for name, find in finding.items():
                started = time.perf_counter()
                probabilities = find(Split(pool.images, noisy_labels, pool.indices))
                results[key][name] = {**scores(probabilities, noisy_labels, flipped, pool.labels),
                                      "seconds": time.perf_counter() - started}
                at_50 = results[key][name]["ranking"]["self_confidence"][50]
                print(f"{key:28} {name:13} P@50 {at_50['precision']:.2f} R@50 {at_50['recall']:.2f} "
                      f"({results[key][name]['seconds']:.0f} s)", file=sys.stderr, flush=True)
    out = REPO / "bench" / "results" / "label_errors.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"arguments": vars(arguments), "results": results}, indent=2))
    from mnistflow.analysis.error_analysis import RANKING

    print(markdown(results, RANKING))


if __name__ == "__main__":
    main()
