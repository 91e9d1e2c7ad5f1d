"""Does the blog's collapse happen on Fashion-MNIST? Trains a configuration on seeds 1-8, in this process, and
reports per seed: test accuracy, the classes with test recall under diagnostics.collapse_threshold, and the
final training loss divided by (1 - training accuracy) (16.1 where the clipped loss is saturated: -ln(1e-7)).

    python bench/fashion_collapse.py                         # configs/fashion-classic-failure.yaml, seeds 1-8
    python bench/fashion_collapse.py --config fashion --seeds 1 2 3
    python bench/fashion_collapse.py --config fashion-cnn --seeds 1

Writes bench/results/<config>.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="fashion-classic-failure")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(1, 9)))
    parser.add_argument("--picture", type=Path, help="only draw this PNG from the config's saved results")
    arguments = parser.parse_args()
    out = REPO / "bench" / "results" / f"{arguments.config}.json"
    if arguments.picture:
        draw(json.loads(out.read_text()), arguments.config, arguments.picture)
        return

    from mnistflow.core.params import apply_overrides, read_yaml
    from mnistflow.data import datasets, mnist
    from mnistflow.study.grid import read_overrides
    from mnistflow.training import evaluation, pipeline
    from mnistflow.training.loop import CompiledModels

    overrides = read_overrides(REPO / "configs" / f"{arguments.config}.yaml")
    params = apply_overrides(read_yaml(REPO / "params.yaml"), overrides)
    arrays, dataset = datasets.load(params.prepare.dataset, REPO / "data" / "raw")
    splits = mnist.prepare_splits(arrays, params.prepare, dataset.classes)
    compiled, rows = CompiledModels(), []
    for seed in arguments.seeds:
        seeded = apply_overrides(read_yaml(REPO / "params.yaml"), {**overrides, "train.seed": seed})
        model, records = pipeline.train_model(seeded, splits["train"], splits["validation"], [], compiled)
        result = evaluation.evaluate_model(model, seeded.train.loss, splits["test"],
                                           seeded.diagnostics.collapse_threshold, seeded.train.portable_products)
        last = records[-1].metrics
        rows.append({"seed": seed, "test_accuracy": result.metrics["test_accuracy"],
                     "collapsed": [dataset.classes[label] for label in result.collapsed],
                     "loss": last["loss"], "train_accuracy": last["accuracy"],
                     "loss_ratio": last["loss"] / max(1e-12, 1 - last["accuracy"])})
        row = rows[-1]
        print(f"| {seed} | {row['test_accuracy']:.4f} | {', '.join(row['collapsed']) or '-'} | {row['loss']:.3f} | "
              f"{row['train_accuracy']:.4f} | {row['loss_ratio']:.2f} |", flush=True)
    collapsed = sum(bool(row["collapsed"]) for row in rows)
    print(f"{arguments.config}: {collapsed} of {len(rows)} seeds end with a collapsed class; median test accuracy "
          f"{np.median([row['test_accuracy'] for row in rows]):.4f}")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2) + "\n")


def draw(rows: list[dict], config: str, path: Path) -> None:
    """One row per seed, one square per class: red where the class ended collapsed; the test accuracy beside."""
    from mnistflow.analysis import plots
    from mnistflow.data.catalog import FASHION_CLASSES

    figure, axes = plots.plt.subplots(figsize=(9, 0.42 * len(rows) + 1.6))
    for row_number, row in enumerate(rows):
        for column, name in enumerate(FASHION_CLASSES):
            colour = "tab:red" if name in row["collapsed"] else "tab:blue"
            axes.add_patch(plots.matplotlib.patches.Rectangle((column, row_number), 0.9, 0.8, color=colour))
        axes.text(len(FASHION_CLASSES) + 0.2, row_number + 0.4, f"test accuracy {row['test_accuracy']:.3f}",
                  va="center", fontsize=9)
    axes.set_xlim(0, len(FASHION_CLASSES) + 3)
    axes.set_ylim(len(rows), -0.2)
    axes.set_xticks([column + 0.45 for column in range(len(FASHION_CLASSES))], FASHION_CLASSES, rotation=45,
                    ha="right")
    axes.set_yticks([row + 0.4 for row in range(len(rows))], [f"seed {row['seed']}" for row in rows])
    axes.set_title(f"{config}: classes collapsed at the end (red: test recall < 0.05)")
    for side in ("top", "right", "bottom", "left"):
        axes.spines[side].set_visible(False)
    figure.tight_layout()
    plots.save(figure, path)


if __name__ == "__main__":
    main()
