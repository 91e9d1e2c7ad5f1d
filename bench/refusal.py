"""How often `predict` says "no digit": on pictures without one, and on real digits.

    python bench/refusal.py                        # models/model.keras, the default set sizes
    python bench/refusal.py --model path/to/model.keras --count 400
    python bench/refusal.py --detector /tmp/no-shoes.npz   # a detector fitted by bench/digit_detector.py

Pictures without a digit: blank pages, noise and text (tests/non_digits.py); kinds the detector never saw
(tests/drawn_things.py's unseen half: letters and symbols in the Liberation fonts, hearts, a horse, crops of
photos it was not fitted on); and photos of Fashion-MNIST's test garments, shoes and bags (Debian's
dataset-fashion-mnist; skipped with a note when it is not installed), footwear apart from the rest. The
detector was fitted on other pictures (bench/digit_detector.py), never on these.
Real digits: MNIST's 10,000 test digits as arrays, and photo-style digits (tests/photo_digits.py). Each
picture goes through exactly what `predict` does: framing, the model, then data.refusal with the detector.
Reported per set: the share refused, the reasons, and on digit sets the accuracy on the digits that were
read. Writes
bench/results/refusal.json and bench/results/refusal.png (examples of each set, refused ones in red).
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def picture_sets(mnist, count: int) -> dict[str, tuple[list, np.ndarray | None]]:
    """Name -> (framed images, labels or None for a set without digits)."""
    from drawn_things import pictures, unseen_kinds
    from mnistflow.data.images import already_framed, frame, grayscale
    from non_digits import FASHION_MNIST, FOOTWEAR, fashion_images, garment_photos, non_digits

    from photo_digits import photo_set

    sets = {kind: ([frame(grayscale(picture)) for picture in non_digits(kind, count, seed=7)], None)
            for kind in ("blank", "noise", "text")}
    sets |= {f"unseen: {kind}": ([frame(grayscale(picture)) for picture in pictures(draw, count, seed=7)], None)
             for kind, draw in unseen_kinds().items()}
    if FASHION_MNIST.is_file():
        images, classes = fashion_images()
        photos, chosen = garment_photos(images, 2 * count)
        footwear = np.isin(classes[chosen], FOOTWEAR)
        for name, wanted in (("garment photos: clothes, bags", False), ("garment photos: footwear", True)):
            sets[name] = ([frame(grayscale(p)) for p, shoe in zip(photos, footwear, strict=True) if shoe == wanted],
                          None)
    else:
        print(f"note: {FASHION_MNIST} is missing (apt-get install dataset-fashion-mnist): no garment photos")
    shots = list(photo_set(mnist["x_test"], mnist["y_test"], max(1, count // 4), seed=7))
    sets["photographed digits"] = ([frame(grayscale(picture)) for *_, picture in shots],
                                   np.array([label for _, _, label, _ in shots]))
    sets["MNIST test digits"] = ([already_framed(image) for image in mnist["x_test"]], mnist["y_test"])
    return sets


def measure(model, detector, framed: list, labels: np.ndarray | None) -> dict:
    from mnistflow.data.refusal import no_digit_reason

    probabilities = model.predict(np.stack([image.pixels for image in framed]), verbose=0, batch_size=1024)
    reasons = [no_digit_reason(image, p, detector) for image, p in zip(framed, probabilities, strict=True)]
    refused = np.array([reason is not None for reason in reasons])
    result = {"pictures": len(framed), "refused": float(refused.mean()),
              "reasons": dict(collections.Counter(re.sub(r"\d+(\.\d+)?", "N", reason.split(" (")[0])
                                                     for reason in reasons if reason))}
    if labels is not None:
        read = ~refused
        predicted = probabilities.argmax(axis=1)
        result["accuracy_of_read"] = float(np.mean(predicted[read] == labels[read]))
        result["accuracy_of_refused"] = float(np.mean(predicted[refused] == labels[refused])) if refused.any() else None
        result["accuracy_without_refusal"] = float(np.mean(predicted == labels))
    return result | {"verdicts": refused}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=REPO / "models" / "model.keras")
    parser.add_argument("--count", type=int, default=200, help="pictures per set without digits")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--detector", type=Path, help="no-digit detector weights (default: the shipped ones)")
    arguments = parser.parse_args()
    from mnistflow.core import runtime
    from mnistflow.data import detector
    from mnistflow.training import pipeline

    mnist = np.load(REPO / "data" / "raw" / "mnist.npz")
    model = pipeline.serving_model(runtime.keras.saving.load_model(arguments.model), scale=True)
    sets = picture_sets(mnist, arguments.count)
    digit_detector = detector.load(arguments.detector or detector.WEIGHTS)
    results = {name: measure(model, digit_detector, framed, labels) for name, (framed, labels) in sets.items()}
    arguments.out.mkdir(parents=True, exist_ok=True)
    contact_sheet(sets, results, arguments.out / "refusal.png")
    for result in results.values():
        del result["verdicts"]
    (arguments.out / "refusal.json").write_text(json.dumps(
        {"model": str(arguments.model), "detector": str(arguments.detector or detector.WEIGHTS)} | results,
        indent=2) + "\n")
    print("| pictures | count | refused | accuracy on those read (all) | reasons |\n|---|---|---|---|---|")
    for name, result in results.items():
        accuracy = (f"{result['accuracy_of_read']:.2%} ({result['accuracy_without_refusal']:.2%})"
                    if "accuracy_of_read" in result else "")
        reasons = ", ".join(f"{reason}: {count}" for reason, count in sorted(result["reasons"].items(),
                                                                          key=lambda item: -item[1]))
        print(f"| {name} | {result['pictures']} | {result['refused']:.2%} | {accuracy} | {reasons} |")


def contact_sheet(sets: dict, results: dict, path: Path, per_set: int = 12) -> None:
    """A row per set: the first framed images, titled read or refused (red)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(len(sets), per_set, figsize=(per_set * 0.9, len(sets) * 1.15))
    for row, (name, (framed, _)) in enumerate(sets.items()):
        verdicts = results[name]["verdicts"]
        for column in range(per_set):
            axis = axes[row, column]
            axis.set_xticks([]), axis.set_yticks([])
            if column < len(framed):
                axis.imshow(framed[column].pixels, cmap="gray", vmin=0, vmax=255)
                refused = bool(verdicts[column])
                axis.set_title("no digit" if refused else "read", fontsize=6, color="red" if refused else "black")
                for spine in axis.spines.values():
                    spine.set_color("red" if refused else "0.7")
        axes[row, 0].set_ylabel(name, fontsize=7, rotation=0, ha="right", va="center")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    main()
