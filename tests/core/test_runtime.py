"""TensorFlow's thread pools follow train.threads, and a process cannot silently switch counts."""

from conftest import REPO, run_python

SCRIPT = """
import tensorflow as tf
from mnistflow.core import runtime
from mnistflow.core.params import ParamsError
runtime.configure(1)
runtime.configure(1)  # the same count again is fine
tf.constant(1.0) + 1.0  # TensorFlow's runtime starts: its pools are fixed now
print(tf.config.threading.get_intra_op_parallelism_threads(), tf.config.threading.get_inter_op_parallelism_threads())
try:
    runtime.configure(2)
except ParamsError as error:
    print("refused:", error)
"""


def test_configure_pins_threads_and_refuses_another_count_later():
    result = run_python(SCRIPT, REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "1 1"
    assert lines[1].startswith("refused: train.threads is 2, but TensorFlow in this process already runs with 1")
