"""How often a Fashion-MNIST model's own confidence check (data.confidence) refuses pictures that are not
garments, and how many of its own test images it refuses.

    python bench/unfamiliar.py                    # configs/fashion.yaml's MLP, seed 1, 200 pictures per set
    python bench/unfamiliar.py --config fashion-cnn --count 400

Trains the configuration in this process, fits the threshold on its validation images as the train stage
does, then runs each set as `predict` would: Fashion-MNIST's and MNIST's test images as arrays, the
pictures (blank pages, noise, text, and tests/drawn_things.py's unseen kinds) framed whole (images.fit_frame),
each judged by data.confidence as `predict` judges it.
Prints the share refused per set and writes bench/results/unfamiliar.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="fashion")
    parser.add_argument("--count", type=int, default=200)
    arguments = parser.parse_args()

    from drawn_things import pictures, unseen_kinds
    from mnistflow.core.params import apply_overrides, read_yaml
    from mnistflow.data import confidence, datasets, images, mnist
    from mnistflow.study.grid import read_overrides
    from mnistflow.training import pipeline
    from non_digits import non_digits

    params = apply_overrides(read_yaml(REPO / "params.yaml"), read_overrides(REPO / "configs" /
                                                                             f"{arguments.config}.yaml"))
    arrays, dataset = datasets.load(params.prepare.dataset, REPO / "data" / "raw")
    splits = mnist.prepare_splits(arrays, params.prepare, dataset.classes)
    model, _ = pipeline.train_model(params, splits["train"], splits["validation"])
    serving = pipeline.serving_model(model, params.prepare.scale)
    fitted = confidence.threshold(model.predict(splits["validation"].images, batch_size=1024, verbose=0))
    mnist_test = np.load(REPO / "data" / "raw" / "mnist.npz")["x_test"]
    sets = {f"{dataset.name} test images": [images.already_framed(image) for image in arrays["x_test"]],
            "MNIST test digits": [images.already_framed(image) for image in mnist_test]}
    for kind in ("blank", "noise", "text"):
        sets[kind] = [images.fit_frame(images.grayscale(p)) for p in non_digits(kind, arguments.count, seed=7)]
    for kind, draw in unseen_kinds().items():
        sets[kind] = [images.fit_frame(images.grayscale(p)) for p in pictures(draw, arguments.count, seed=7)]
    results = {"config": arguments.config, "threshold": fitted, "refused": {}}
    print(f"| pictures | refused | (threshold {fitted:.3f}: {confidence.REFUSED_SHARE:.0%} of validation images) |")
    for name, framed in sets.items():
        probabilities = serving.predict(np.stack([item.pixels for item in framed]), batch_size=1024, verbose=0)
        share = float(np.mean([confidence.unfamiliar_reason(row, fitted, confidence.REFUSED_SHARE, dataset.name,
                                                            item.pieces == 0) is not None
                               for row, item in zip(probabilities, framed, strict=True)]))
        results["refused"][name] = share
        print(f"| {name} | {share:.1%} |", flush=True)
    out = REPO / "bench" / "results" / "unfamiliar.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
