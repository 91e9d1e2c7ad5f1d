"""When an image holds no digit: checks of the framed 28x28, the no-digit detector, and the model's answer.

Each bound lies just outside what MNIST's training digits show (at most about 0.05 % of them cross any one
bound), and the detector's threshold refuses 0.05 % of digits it was not fitted on, so a real digit is rarely
refused; `python bench/refusal.py` measures both sides: blank pages, noise, text and photos of garments
against MNIST's test digits and photographed digits.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from mnistflow.data.detector import DigitDetector, probability_of, score_of
from mnistflow.data.images import Framed

INK = 127.0  # a framed pixel brighter than this is ink
MIN_CONTRAST = 60.0  # gray levels the ink stands above its paper; a blank page frames its grain at under 30
MAX_PIECES = 2  # pieces of ink the framing kept (digits: 1 or 2; text: one per letter)
MAX_FRAMED_PIECES = 3  # connected pieces of 3 pixels or more in the 28x28
MIN_LARGEST_PIECE = 0.5  # share of the ink in its largest piece
MAX_WIDTH_TO_HEIGHT = 2.0  # the ink's width over its height
MAX_STROKE_RADIUS = 5.4  # pixels from the ink's deepest point to its edge: strokes are thin, shapes are filled
MAX_INK_SHARE = 0.31  # share of the 784 pixels that are ink
MAX_GRAIN = 0.8  # share of mid-gray pixels (50-200) among the lit ones: noise is grain all over
MIN_PROBABILITY = 0.4  # the model's probability for its answer


def no_digit_reason(framed: Framed, probabilities: np.ndarray, detector: DigitDetector) -> str | None:
    """Why a framed image holds no digit, or None when it may hold one; `probabilities` are the model's ten
    class probabilities for it."""
    ink = framed.pixels > INK
    if not ink.any():
        return "no ink found"
    if framed.contrast < MIN_CONTRAST:
        return (f"the marks are faint ({framed.contrast:.0f} of 255 gray levels above the background; ink gives "
                "150 or more)")
    if framed.pieces > MAX_PIECES:
        return f"the ink is in {framed.pieces} separate pieces, like the letters of a word"
    return _shape_reason(framed.pixels, ink) or _detector_reason(framed, detector) or _answer_reason(probabilities)


def _shape_reason(pixels: np.ndarray, ink: np.ndarray) -> str | None:
    pieces, count = ndimage.label(ink, structure=np.ones((3, 3)))
    areas = np.bincount(pieces.ravel())[1:]
    if (areas >= 3).sum() > MAX_FRAMED_PIECES or areas.max() < MIN_LARGEST_PIECE * areas.sum():
        return f"the ink is in {count} separate pieces, like text or specks"
    rows, columns = np.nonzero(ink)
    width, height = np.ptp(columns) + 1, np.ptp(rows) + 1
    if width > MAX_WIDTH_TO_HEIGHT * height:
        return f"the ink is {width / height:.1f} times wider than high, like a word"
    if ndimage.distance_transform_edt(ink).max() > MAX_STROKE_RADIUS or ink.mean() > MAX_INK_SHARE:
        return "the ink is a filled shape, not pen strokes"
    lit = pixels > 10
    if ((pixels > 50) & (pixels < 200)).sum() > MAX_GRAIN * lit.sum():
        return "the ink is grainy, like noise"
    return None


def _detector_reason(framed: Framed, detector: DigitDetector) -> str | None:
    logits = detector.logits(framed.pixels[np.newaxis])  # one forward pass for the score and the probability
    if float(score_of(logits)[0]) > detector.threshold:
        no_digit = float(probability_of(logits)[0])
        return f"it looks like a picture of something else (p={no_digit:.2f} that it is no digit)"
    return None


def _answer_reason(probabilities: np.ndarray) -> str | None:
    best = float(np.max(probabilities))
    if best < MIN_PROBABILITY:
        return f"the model is unsure (p={best:.2f} for its best guess)"
    return None
