"""TensorFlow's thread pools follow train.threads, numerics follow train.numerics, and a process cannot
silently switch either."""

import pytest

from mnistflow.core import runtime
from mnistflow.core.errors import ParamsError

from conftest import REPO, run_python

EXTRAS = """
import sys
from mnistflow.core import runtime
print(sorted(name for name in runtime.KERAS_EXTRAS if name in sys.modules))
import keras, sklearn.metrics, matplotlib.pyplot
print(keras.layers.Dense(2)(keras.ops.ones((1, 3))).shape, sklearn.metrics.accuracy_score([1], [1]))
"""

SCRIPT = """
import tensorflow as tf
from mnistflow.core import runtime
from mnistflow.core.params import ParamsError
runtime.configure(1, "portable")
runtime.configure(1, "portable")  # the same count again is fine
tf.constant(1.0) + 1.0  # TensorFlow's runtime starts: its pools are fixed now
print(tf.config.threading.get_intra_op_parallelism_threads(), tf.config.threading.get_inter_op_parallelism_threads())
try:
    runtime.configure(2, "portable")
except ParamsError as error:
    print("refused:", error)
try:
    runtime.configure(1, "native")
except ParamsError as error:
    print("refused:", error)
"""


def test_configure_pins_threads_and_refuses_another_count_later():
    result = run_python(SCRIPT, REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "1 1"
    assert lines[1].startswith("refused: train.threads is 2, but TensorFlow in this process already runs with 1")
    assert lines[2] == ("refused: train.numerics is native, but TensorFlow in this process already runs with "
                        "portable numerics; start a new process")


def test_portable_numerics_cap_xla_and_onednn_and_keep_the_users_other_flags():
    users = {"XLA_FLAGS": "--xla_dump_to=/tmp/x --xla_cpu_max_isa=AVX512", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}
    environment = runtime.numerics_environment("portable", users, 7)
    assert environment == {"XLA_FLAGS": "--xla_dump_to=/tmp/x --xla_cpu_max_isa=AVX2 --xla_cpu_prefer_vector_width=256 "
                                        "--xla_cpu_multi_thread_eigen=false --xla_cpu_experimental_ynn_fusion_type= "
                                        "--xla_cpu_experimental_xnn_fusion_type= "
                                        "--xla_backend_extra_options=xla_force_enable_experimental_llvm_ir_gemm",
                           "ONEDNN_MAX_CPU_ISA": "AVX2", "MNISTFLOW_NUMERICS": "portable:7"}


def test_native_numerics_take_back_only_what_a_portable_parent_set():
    inherited = runtime.numerics_environment("portable", {"XLA_FLAGS": "--xla_dump_to=/tmp/x"}, 7)
    assert runtime.numerics_environment("native", inherited, 8) == {
        "XLA_FLAGS": "--xla_dump_to=/tmp/x", "ONEDNN_MAX_CPU_ISA": None, "MNISTFLOW_NUMERICS": "native:8"}
    users_own = {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}
    assert runtime.numerics_environment("native", users_own, 8) == {
        "XLA_FLAGS": None, "ONEDNN_MAX_CPU_ISA": "AVX512_CORE", "MNISTFLOW_NUMERICS": "native:8"}


def test_portable_numerics_need_avx2_and_fma():
    assert runtime.missing_cpu_flags("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma avx512f\n") == []
    assert runtime.missing_cpu_flags("flags\t\t: fpu sse2 avx\n") == ["avx2", "fma"]


def test_an_unknown_numerics_mode_is_one_line():
    from mnistflow.core.params import parse_params

    from conftest import small_params
    with pytest.raises(ParamsError, match="train.numerics must be one of portable, native, got 'fast'"):
        parse_params(small_params(train={"numerics": "fast"}))


def test_tensorflow_loads_without_the_keras_extras_and_they_import_later():
    """The train stage's start-up does not pay for scikit-learn and pyplot, which Keras imports when it can."""
    result = run_python(EXTRAS, REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == ["[]", "(1, 2) 1.0"]


def test_a_hidden_module_cannot_be_imported_inside_the_block_only(tmp_path, monkeypatch):
    (tmp_path / "hidden_probe.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with runtime.modules_hidden(("hidden_probe", "os")):
        with pytest.raises(ImportError):
            import hidden_probe  # noqa: F401
        import os  # already loaded: not hidden
    import hidden_probe

    assert hidden_probe.VALUE == 1 and os.sep
