"""How well `predict` reads photos: accuracy on photo-style digits, by style.

    python bench/photos.py                       # models/model.keras (the pipeline's model), 10 digits a style
    python bench/photos.py --model path/to/model.keras --per-style 20

The photos are held-out MNIST test digits drawn onto paper as a phone would see them (tests/photo_digits.py:
off-white, grey, gradient lighting, JPEG noise, thick and thin pens, light on dark). Each photo is framed
by mnistflow.data.images exactly as `predict` frames a PNG/JPEG, then classified. Reported: accuracy by style
and overall, and the same model's accuracy on the plain 28x28 digits, the ceiling the framing can reach.
Writes bench/results/photos.json and bench/results/photos.png (each photo beside its framed 28x28).
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
    parser.add_argument("--model", type=Path, default=REPO / "models" / "model.keras")
    parser.add_argument("--per-style", type=int, default=10)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    arguments = parser.parse_args()
    from mnistflow.core import runtime  # noqa: F401 - runtime quiets TensorFlow
    from mnistflow.data import images
    from mnistflow.training import pipeline

    from photo_digits import STYLES, photo_set

    keras = runtime.keras

    mnist = np.load(REPO / "data" / "raw" / "mnist.npz")
    model = pipeline.serving_model(keras.saving.load_model(arguments.model), scale=True)
    shots = list(photo_set(mnist["x_test"], mnist["y_test"], arguments.per_style))
    framed = np.stack([images.mnist_frame(images.grayscale(picture)) for *_, picture in shots])
    predicted = model.predict(framed, verbose=0).argmax(axis=1)
    plain = model.predict(np.stack([mnist["x_test"][index] for _, index, _, _ in shots]).astype(np.float32),
                          verbose=0).argmax(axis=1)
    labels = np.array([label for _, _, label, _ in shots])
    styles = np.array([style for style, *_ in shots])
    results = {"model": str(arguments.model), "photos": len(shots),
               "accuracy": float(np.mean(predicted == labels)),
               "plain_digits_accuracy": float(np.mean(plain == labels)),
               "by_style": {style: float(np.mean(predicted[styles == style] == labels[styles == style]))
                            for style in STYLES}}
    arguments.out.mkdir(parents=True, exist_ok=True)
    (arguments.out / "photos.json").write_text(json.dumps(results, indent=2) + "\n")
    contact_sheet(shots, framed, predicted, arguments.out / "photos.png")
    print("| style | accuracy |\n|---|---|")
    for style, accuracy in results["by_style"].items():
        print(f"| {style} | {accuracy:.0%} |")
    print(f"| all {len(shots)} photos | {results['accuracy']:.1%} |")
    print(f"| the same digits, plain 28x28 | {results['plain_digits_accuracy']:.1%} |")


def contact_sheet(shots, framed: np.ndarray, predicted: np.ndarray, path: Path) -> None:
    """Each photo (thumbnail) beside the 28x28 the model saw, titled with the label and the prediction."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = 8
    rows = -(-len(shots) // (columns // 2))
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.3, rows * 1.5))
    for axis in axes.flat:
        axis.axis("off")
    for number, ((style, _, label, picture), frame, guess) in enumerate(zip(shots, framed, predicted, strict=True)):
        left, right = axes.flat[2 * number], axes.flat[2 * number + 1]
        left.imshow(picture.convert("L"), cmap="gray", vmin=0, vmax=255)
        left.set_title(style, fontsize=6)
        right.imshow(frame, cmap="gray", vmin=0, vmax=255)
        right.set_title(f"y={label} pred {guess}", fontsize=6, color="black" if guess == label else "red")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    main()
