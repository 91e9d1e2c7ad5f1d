"""Process-wide TensorFlow settings: op determinism and thread counts, set before any op runs, and seeds.

Importing this module loads TensorFlow quietly: TensorFlow 2.21's native libraries print INFO lines (oneDNN,
the CUDA stub, cuInit) while they load, before absl logging starts and regardless of TF_CPP_MIN_LOG_LEVEL.
Only the native stderr of that load is silenced; later warnings and errors print as usual.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null while the block runs (what C++ libraries print goes there)."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


with native_stderr_silenced():
    import keras
    import tensorflow as tf

from mnistflow.core.errors import ParamsError  # noqa: E402


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
    with native_stderr_silenced():
        tf.config.list_logical_devices("CPU")  # starts the runtime now, with its cuInit line silenced
    tf.get_logger().setLevel("ERROR")  # each run builds its own functions; retracing notes are noise
    keras.config.disable_interactive_logging()  # no per-call progress bars from model.predict


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow (keras.utils.set_random_seed) from one number."""
    keras.utils.set_random_seed(seed)
