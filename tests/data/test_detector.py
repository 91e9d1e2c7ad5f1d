"""The no-digit detector: its NumPy forward pass, its threshold, its file, and the shipped weights."""

import numpy as np

from mnistflow.data import detector
from mnistflow.data.images import already_framed


def _filled_shapes(count: int, seed: int = 0) -> np.ndarray:
    """Filled ellipses of random size and place: pictures of things, not pen strokes."""
    rng = np.random.default_rng(seed)
    rows, columns = np.indices((28, 28))
    shapes = np.zeros((count, 28, 28), np.float32)
    for shape in shapes:
        centre, radii = rng.uniform(10, 18, 2), rng.uniform(5, 11, 2)
        shape[((rows - centre[0]) / radii[0]) ** 2 + ((columns - centre[1]) / radii[1]) ** 2 <= 1] = 255.0
    return shapes


def test_the_numpy_forward_pass_matches_keras(raw_mnist):
    """The oracle: Keras runs the same network, with its initial random weights and with biases set."""
    network = detector.network(filters=4, units=8)
    weights = network.get_weights()
    network.set_weights([array + 0.05 * (array.ndim == 1) for array in weights])  # Keras starts biases at 0
    pixels = np.concatenate([raw_mnist["x_train"][:20].astype(np.float32), _filled_shapes(20)])
    mine = detector.from_network(network, threshold=0.0)
    expected = network.predict(pixels[..., np.newaxis] / 255.0, verbose=0)
    np.testing.assert_allclose(mine.logits(pixels), expected, rtol=1e-4, atol=1e-5)
    exponentials = np.exp(expected - expected.max(axis=1, keepdims=True))
    np.testing.assert_allclose(mine.no_digit_probability(pixels), exponentials[:, 10] / exponentials.sum(axis=1),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(mine.no_digit_score(pixels), expected[:, 10] - expected[:, :10].max(axis=1),
                               rtol=1e-4, atol=1e-5)


def test_the_fitted_threshold_refuses_the_asked_share_of_held_out_digits(raw_mnist, tmp_path):
    digits, labels = raw_mnist["x_train"][:1400].astype(np.float32), raw_mnist["y_train"][:1400]
    fitted = detector.fit(digits[:400], labels[:400], _filled_shapes(400), digits[400:], epochs=10,
                          refused_share=0.05, filters=8, units=32)
    refused = fitted.no_digit_score(digits[400:]) > fitted.threshold
    assert 45 <= refused.sum() <= 50  # 5 % of 1,000, ties aside
    assert (fitted.no_digit_score(_filled_shapes(200, seed=1)) > fitted.threshold).mean() > 0.8  # unseen shapes
    detector.save(fitted, tmp_path / "detector.npz")
    loaded = detector.load(tmp_path / "detector.npz")
    np.testing.assert_array_equal(loaded.no_digit_score(digits[:50]), fitted.no_digit_score(digits[:50]))
    assert loaded.threshold == np.float32(fitted.threshold)


def test_the_shipped_detector_reads_mnist_test_digits(raw_mnist, digit_detector):
    digits = np.stack([already_framed(image).pixels for image in raw_mnist["x_test"][:3000]])
    refused = np.flatnonzero(digit_detector.no_digit_score(digits) > digit_detector.threshold)
    assert len(refused) <= 6, refused  # 0.2 %; bench/refusal.py measures all 10,000 and the garments
