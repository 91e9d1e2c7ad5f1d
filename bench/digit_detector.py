"""Fit the no-digit detector that `predict` ships with (src/mnistflow/data/digit_detector.npz).

    python bench/digit_detector.py                              # writes the shipped weights
    python bench/digit_detector.py --withhold 5,7,9 --out /tmp/no-shoes.npz
    python bench/refusal.py --detector /tmp/no-shoes.npz        # refusal of kinds the fit never saw

Digits, with their labels: MNIST's training digits as arrays (50,000 fit it, 10,000 set its threshold) and
photos of them taken as tests/photo_digits.py takes them (10,000 fit, 2,000 threshold). Non-digits: photos of
Fashion-MNIST's training garments, shoes and bags taken the same way (12,000) and 6,000 of them as arrays
(Debian's dataset-fashion-mnist); the fitted half of tests/drawn_things.py (letters and symbols in the DejaVu
fonts, shapes, crops of scikit-image's photos), and noise, 6,000 of each. Every picture is framed as
`predict` frames it. MNIST's test digits, Fashion-MNIST's test images and the unseen half of drawn_things are
left for bench/refusal.py. `--withhold` leaves Fashion-MNIST classes out of the fit (5 sandal, 7 sneaker,
9 ankle boot: the footwear), to measure kinds of pictures it never saw. Keras fits it (about 10 minutes on
2 cores).
"""

from __future__ import annotations

import argparse
import gzip
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
FASHION = Path("/usr/share/datasets/fashion-mnist")


def fashion_training_set() -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(FASHION / "train-images-idx3-ubyte.gz") as images, \
            gzip.open(FASHION / "train-labels-idx1-ubyte.gz") as labels:
        return (np.frombuffer(images.read(), np.uint8, offset=16).reshape(-1, 28, 28),
                np.frombuffer(labels.read(), np.uint8, offset=8))


def framed_photos(images: np.ndarray, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`count` of `images` photographed in every style of tests/photo_digits.py, then framed as predict does,
    and which of `images` they are."""
    from mnistflow.data.images import frame, grayscale

    from photo_digits import STYLES, photo

    chosen = rng.choice(len(images), size=count, replace=False)
    return np.stack([frame(grayscale(photo(images[index], STYLES[number % len(STYLES)], rng))).pixels
                     for number, index in enumerate(chosen)]), chosen


def drawn_non_digits(count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` framed pictures of each kind in tests/drawn_things.py's fitted half, and of noise."""
    from drawn_things import fitted_kinds
    from mnistflow.data.images import frame, grayscale
    from non_digits import noise

    kinds = list(fitted_kinds().values()) + [noise]
    return np.stack([frame(grayscale(draw(rng))).pixels for draw in kinds for _ in range(count)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--withhold", default="", help="Fashion-MNIST classes to leave out, e.g. 5,7,9")
    parser.add_argument("--out", type=Path, default=REPO / "src" / "mnistflow" / "data" / "digit_detector.npz")
    parser.add_argument("--seed", type=int, default=0)
    from mnistflow.data import detector

    parser.add_argument("--refused-share", type=float, default=detector.REFUSED_SHARE,
                        help="share of the held-out digits the threshold refuses")
    parser.add_argument("--filters", type=int, default=32, help="filters of the first convolution")
    parser.add_argument("--units", type=int, default=64, help="hidden units")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--per-kind", type=int, default=6_000, help="pictures of each drawn kind and of noise")
    arguments = parser.parse_args()

    started, rng = time.perf_counter(), np.random.default_rng(arguments.seed)
    mnist = np.load(REPO / "data" / "raw" / "mnist.npz")
    digits, labels = mnist["x_train"], mnist["y_train"]
    order = rng.permutation(len(digits))
    photos, photographed = framed_photos(digits, 12_000, rng)
    garments, classes = fashion_training_set()
    kept = garments[~np.isin(classes, [int(c) for c in arguments.withhold.split(",") if c])]
    non_digits = np.concatenate([framed_photos(kept, 12_000, rng)[0], kept[rng.choice(len(kept), 6_000, replace=False)],
                                 drawn_non_digits(arguments.per_kind, rng)])
    print(f"{len(non_digits)} pictures without a digit made in {time.perf_counter() - started:.0f} s", flush=True)
    fitted = detector.fit(np.concatenate([digits[order[:50_000]], photos[:10_000]]),
                          np.concatenate([labels[order[:50_000]], labels[photographed[:10_000]]]), non_digits,
                          np.concatenate([digits[order[50_000:]], photos[10_000:]]), arguments.epochs,
                          arguments.refused_share, arguments.seed, filters=arguments.filters, units=arguments.units)
    detector.save(fitted, arguments.out)
    refused = np.mean(fitted.no_digit_score(non_digits) > fitted.threshold)
    print(f"{arguments.out}: threshold {fitted.threshold:.3f}; refuses {refused:.2%} of the non-digits it was fitted "
          f"on; fitted in {time.perf_counter() - started:.0f} s")

if __name__ == "__main__":
    main()
