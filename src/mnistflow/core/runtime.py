"""Process-wide TensorFlow settings, set before any op runs: numerics, op determinism, thread counts; seeds.

Importing this module loads TensorFlow quietly: TensorFlow 2.21's native libraries print INFO lines (oneDNN,
the CUDA stub, cuInit) while they load, before absl logging starts and regardless of TF_CPP_MIN_LOG_LEVEL.
Only the native stderr of that load is silenced; later warnings and errors print as usual.

It also loads TensorFlow without Keras's optional extras (KERAS_EXTRAS).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

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


# Keras 3 imports scikit-learn (for its scikit-learn wrappers) and matplotlib.pyplot (for its image galleries)
# whenever they are installed: 1.2 s of the start-up of a process that needs neither, such as the train stage.
# They are hidden while Keras loads, so Keras takes them as not installed; a later import of either works.
KERAS_EXTRAS = ("sklearn", "matplotlib.pyplot")


@contextlib.contextmanager
def modules_hidden(names: tuple[str, ...]) -> Iterator[None]:
    """Imports of `names` fail inside the block, unless already loaded; afterwards they import as usual."""
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # the import system's "not importable" marker
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]


with native_stderr_silenced(), modules_hidden(KERAS_EXTRAS):
    import keras
    import tensorflow as tf

from mnistflow.core.errors import ParamsError  # noqa: E402

# Portable numerics: XLA's own code stops at AVX2 with FMA and 256-bit vectors, on one thread, and compiles
# every matrix product itself (its tiled LLVM IR GEMM; models.portable keeps each product in the form it takes),
# instead of handing it to YNNPACK or XNNPACK (which pick kernels from their own CPU detection, past the ISA cap)
# or to Eigen (whose blocking follows the L1 size), so neither the CPU model nor the core count changes how a
# sum is split. Read when the first op runs.
PORTABLE_XLA_FLAGS = ("--xla_cpu_max_isa=AVX2", "--xla_cpu_prefer_vector_width=256",
                      "--xla_cpu_multi_thread_eigen=false", "--xla_cpu_experimental_ynn_fusion_type=",
                      "--xla_cpu_experimental_xnn_fusion_type=",
                      "--xla_backend_extra_options=xla_force_enable_experimental_llvm_ir_gemm")
PORTABLE_ONEDNN_ISA = "AVX2"
PORTABLE_CPU_FLAGS = ("avx2", "fma")
NUMERICS_VARIABLE = "MNISTFLOW_NUMERICS"  # "<mode>:<pid>": the mode this process set for itself


def _flag_name(flag: str) -> str:
    return flag.split("=", 1)[0]


def numerics_environment(mode: str, environment: Mapping[str, str], pid: int) -> dict[str, str | None]:
    """The variables (None: unset) that put process `pid`, started with `environment`, in numerics `mode`.

    Other XLA flags the user set are kept; native takes back only what portable set.
    """
    ours = {_flag_name(flag) for flag in PORTABLE_XLA_FLAGS}
    kept = [flag for flag in environment.get("XLA_FLAGS", "").split() if _flag_name(flag) not in ours]
    if mode == "portable":
        return {"XLA_FLAGS": " ".join([*kept, *PORTABLE_XLA_FLAGS]), "ONEDNN_MAX_CPU_ISA": PORTABLE_ONEDNN_ISA,
                NUMERICS_VARIABLE: f"{mode}:{pid}"}
    inherited_portable = environment.get(NUMERICS_VARIABLE, "").startswith("portable:")
    onednn = None if inherited_portable else environment.get("ONEDNN_MAX_CPU_ISA")
    return {"XLA_FLAGS": " ".join(kept) or None, "ONEDNN_MAX_CPU_ISA": onednn, NUMERICS_VARIABLE: f"{mode}:{pid}"}


def missing_cpu_flags(cpuinfo: str) -> list[str]:
    """The CPU features portable numerics need that /proc/cpuinfo's text does not list."""
    listed = next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), [])
    return [flag for flag in PORTABLE_CPU_FLAGS if flag not in listed]


def set_numerics(mode: str) -> None:
    """Put this process in numerics `mode`; a process whose mode is already set cannot switch."""
    current = os.environ.get(NUMERICS_VARIABLE, "")
    if current.endswith(f":{os.getpid()}") and not current.startswith(f"{mode}:"):
        raise ParamsError(f"train.numerics is {mode}, but TensorFlow in this process already runs with "
                          f"{current.split(':')[0]} numerics; start a new process")
    cpuinfo = Path("/proc/cpuinfo")
    missing = missing_cpu_flags(cpuinfo.read_text()) if mode == "portable" and cpuinfo.exists() else []
    if missing:
        raise ParamsError(f"train.numerics portable needs an x86-64 CPU with AVX2 and FMA; this one lacks "
                          f"{', '.join(missing)} (set train.numerics: native)")
    for variable, value in numerics_environment(mode, os.environ, os.getpid()).items():
        if value is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = value


def configure(threads: int, numerics: str) -> None:
    """Set the numerics mode, pin TensorFlow's CPU thread pools to `threads` and turn on op determinism.

    The thread count is part of a run's configuration (`train.threads`): XLA and oneDNN split sums by
    thread, so another count gives other low-order bits. TensorFlow fixes its pools when its runtime
    starts, so a process that already runs with another count cannot honour the request: that is an error.
    """
    set_numerics(numerics)
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
