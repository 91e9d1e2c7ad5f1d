"""Process-wide TensorFlow settings: op determinism and thread counts, set before any op runs, and seeds."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from mnistflow.errors import ParamsError  # noqa: E402


def configure(threads: int) -> None:
    """Pin TensorFlow's CPU thread pools to `threads` and turn on op determinism.

    The thread count is part of a run's configuration (`train.threads`): XLA and oneDNN split sums by
    thread, so another count gives other low-order bits. TensorFlow fixes its pools when its runtime
    starts, so a process that already runs with another count cannot honour the request: that is an error.
    """
    current = tf.config.threading.get_intra_op_parallelism_threads()
    if current != threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:
            raise ParamsError(f"train.threads is {threads}, but TensorFlow in this process already runs with "
                              f"{current or 'its default'} threads; start a new process") from None
    tf.config.experimental.enable_op_determinism()
    tf.get_logger().setLevel("ERROR")  # each run builds its own functions; retracing notes are noise
    keras.config.disable_interactive_logging()  # no per-call progress bars from model.predict


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow (keras.utils.set_random_seed) from one number."""
    keras.utils.set_random_seed(seed)
