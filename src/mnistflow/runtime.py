"""Process-wide TensorFlow settings: seeds, op determinism and thread counts, set before any op runs."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

_configured = False


def configure(threads: int | None = None) -> None:
    """Turn on op determinism (once) and optionally pin the CPU thread pools."""
    global _configured
    if _configured:
        return
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    tf.config.experimental.enable_op_determinism()
    tf.get_logger().setLevel("ERROR")  # each run builds its own functions; retracing notes are noise
    keras.config.disable_interactive_logging()  # no per-call progress bars from model.predict
    _configured = True


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow (keras.utils.set_random_seed) from one number."""
    configure()
    keras.utils.set_random_seed(seed)
