"""Fit the no-digit detector that `predict` ships with (src/mnistflow/data/digit_detector.npz).

    python bench/digit_detector.py                              # writes the shipped weights
    python bench/digit_detector.py --withhold 5,7,9 --out /tmp/no-shoes.npz
    python bench/refusal.py --detector /tmp/no-shoes.npz        # refusal of kinds the fit never saw

Digits: MNIST's training digits as arrays (50,000 fit it, 10,000 set its threshold) and photos of them taken
as tests/photo_digits.py takes them (10,000 fit, 2,000 threshold). Non-digits: photos of Fashion-MNIST's
training garments, shoes and bags, taken the same way (12,000), and 6,000 of them as arrays (Debian's
dataset-fashion-mnist). Every picture is framed as `predict` frames it. MNIST's test digits and
Fashion-MNIST's test images are left for bench/refusal.py. `--withhold` leaves Fashion-MNIST classes out of
the fit (5 sandal, 7 sneaker, 9 ankle boot: the footwear), to measure kinds of pictures it never saw.
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


def framed_photos(images: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` of `images` photographed in every style of tests/photo_digits.py, then framed as predict does."""
    from mnistflow.data.images import frame, grayscale

    from photo_digits import STYLES, photo

    chosen = rng.choice(len(images), size=count, replace=False)
    return np.stack([frame(grayscale(photo(images[index], STYLES[number % len(STYLES)], rng))).pixels
                     for number, index in enumerate(chosen)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--withhold", default="", help="Fashion-MNIST classes to leave out, e.g. 5,7,9")
    parser.add_argument("--out", type=Path, default=REPO / "src" / "mnistflow" / "data" / "digit_detector.npz")
    parser.add_argument("--seed", type=int, default=0)
    from mnistflow.data import detector

    parser.add_argument("--refused-share", type=float, default=detector.REFUSED_SHARE,
                        help="share of the held-out digits the threshold refuses")
    parser.add_argument("--units", type=int, default=64, help="hidden units")
    arguments = parser.parse_args()

    started, rng = time.perf_counter(), np.random.default_rng(arguments.seed)
    mnist = np.load(REPO / "data" / "raw" / "mnist.npz")["x_train"]
    order = rng.permutation(len(mnist))
    photos = framed_photos(mnist, 12_000, rng)
    garments, classes = fashion_training_set()
    kept = garments[~np.isin(classes, [int(c) for c in arguments.withhold.split(",") if c])]
    non_digits = np.concatenate([framed_photos(kept, 12_000, rng), kept[rng.choice(len(kept), 6_000, replace=False)]])
    print(f"pictures made in {time.perf_counter() - started:.0f} s", flush=True)
    fitted = detector.fit(np.concatenate([mnist[order[:50_000]], photos[:10_000]]), non_digits,
                          np.concatenate([mnist[order[50_000:]], photos[10_000:]]), arguments.units,
                          arguments.refused_share, arguments.seed)
    detector.save(fitted, arguments.out)
    refused = np.mean(fitted.no_digit_probability(non_digits) > fitted.threshold)
    print(f"{arguments.out}: threshold {fitted.threshold:.3f}; refuses {refused:.2%} of the non-digits it was fitted "
          f"on; fitted in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
