"""Golden numbers: short MLP and CNN trainings give committed bits on every x86-64 CPU with AVX2 and FMA.

Each training runs in a fresh process, as the stages do, with the default run's shapes: a last training
batch smaller than the others, a 5,000-image validation pass after every epoch, and the test-set
evaluation of the evaluate stage. The hash covers the trained weights, every per-epoch number of the
history and the test probabilities. Portable numerics must give the committed hashes under every ISA cap
this CPU allows (AVX2 up), pinned to one core, and under QEMU's emulation of CPUs without AVX-512
(Intel Haswell, AMD EPYC Rome), whose CPUID reports other vector units and cache sizes. Native numerics, for
contrast, follow the cap.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import RAW_DATA, REPO, tool_environment

# sha256 (first 16 hex digits) of the weights, the history and the test probabilities of each training below.
GOLDEN = {"mlp": "ffa4728dd6da554e", "cnn": "72ba4e462f433e93", "cnn-short": "7dba9d99d66999df"}

SCRIPT = """
import hashlib, sys
from mnistflow.core import runtime
import numpy as np
from mnistflow.core.params import apply_overrides, read_yaml
from mnistflow.data import mnist
from mnistflow.training import evaluation
from mnistflow.training.pipeline import history_rows, train_model

raw_params, arrays = read_yaml(sys.argv[1]), mnist.load_mnist(sys.argv[2])
numerics, architectures = sys.argv[3], sys.argv[4].split(",")
# (architecture, batch size, training images, epochs, validation and test images): 2 epochs of 200 full MLP
# batches and one of 24, as the default run's epochs end; a CNN epoch of 7 full batches and one of 104; a short
# CNN epoch of 2 full batches and one of 44, for emulated CPUs.
TRAININGS = {"mlp": ("mlp", 64, 12824, 2, 5000, 10000), "cnn": ("cnn", 128, 1000, 1, 500, 500),
             "cnn-short": ("cnn", 128, 300, 1, 100, 100)}
for name in architectures:
    arch, batch_size, images, epochs, validation_images, test_images = TRAININGS[name]
    overrides = {"model.arch": arch, "train.batch_size": batch_size, "train.epochs": epochs, "train.threads": 1,
                 "train.numerics": numerics}
    params = apply_overrides(raw_params, overrides)
    train = mnist.make_split(arrays["x_train"], arrays["y_train"], np.arange(images), scale=True)
    validation = mnist.make_split(arrays["x_train"], arrays["y_train"], np.arange(60000 - validation_images, 60000),
                                   scale=True)
    test = mnist.make_split(arrays["x_test"], arrays["y_test"], np.arange(test_images), scale=True)
    model, records = train_model(params, train, validation)
    result = evaluation.evaluate_model(model, params.train.loss, test, 0.05, params.train.portable_products)
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(array).tobytes() for array in model.get_weights()))
    digest.update(repr(history_rows(records)).encode())
    digest.update(result.probabilities.tobytes())
    print(name, digest.hexdigest()[:16], flush=True)
"""

# QEMU's models of an Intel and an AMD CPU with AVX2, no AVX-512, and what each trains
EMULATIONS = (("Haswell-v4", "mlp"), ("EPYC-Rome", "mlp"), ("Haswell-v4", "cnn-short"))


def cpu_flags() -> set[str]:
    text = Path("/proc/cpuinfo").read_text()
    return set(next(line for line in text.splitlines() if line.startswith("flags")).split(":", 1)[1].split())


def caps() -> dict[str, dict[str, str]]:
    """The ISA caps this CPU allows, from AVX2 up, as the environment of a process started under each."""
    allowed = {"AVX2": {"XLA_FLAGS": "--xla_cpu_max_isa=AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}}
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= cpu_flags():
        allowed["AVX512"] = {"XLA_FLAGS": "--xla_cpu_max_isa=AVX512", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}
    allowed["none"] = {}
    return allowed


def training_command(numerics: str, architectures: str, emulated_cpu: str | None = None) -> list[str]:
    command = [sys.executable, "-c", SCRIPT, str(REPO / "params.yaml"), str(RAW_DATA), numerics, architectures]
    return ["qemu-x86_64", "-cpu", emulated_cpu, *command] if emulated_cpu else command


def environment_under(cap: dict[str, str]) -> dict[str, str]:
    environment = {**tool_environment(), **cap}
    for variable in ("MNISTFLOW_NUMERICS",) + (() if cap else ("XLA_FLAGS", "ONEDNN_MAX_CPU_ISA")):
        environment.pop(variable, None)
    return environment


def read_hashes(returncode: int, stdout: str, stderr: str) -> dict[str, str]:
    assert returncode == 0, stderr[-3000:]
    return dict(line.split() for line in stdout.strip().splitlines())


def train_hashes(numerics: str, cap: dict[str, str], one_core: bool = False,
                 architectures: str = "mlp,cnn,cnn-short"):
    first_core = min(os.sched_getaffinity(0))
    result = subprocess.run(training_command(numerics, architectures), capture_output=True, text=True,
                            env=environment_under(cap), timeout=900,
                            preexec_fn=(lambda: os.sched_setaffinity(0, {first_core})) if one_core else None)
    return read_hashes(result.returncode, result.stdout, result.stderr)


pytestmark = [pytest.mark.slow, pytest.mark.skipif(not {"avx2", "fma"} <= cpu_flags(), reason="needs AVX2 and FMA")]


@pytest.mark.parametrize("cap", list(caps()))
def test_portable_training_gives_the_golden_numbers_under_every_isa_cap(cap):
    assert train_hashes("portable", caps()[cap]) == GOLDEN


def test_portable_training_gives_the_golden_numbers_on_one_core():
    assert train_hashes("portable", {}, one_core=True) == GOLDEN


@pytest.mark.skipif(shutil.which("qemu-x86_64") is None,
                    reason="QEMU user mode is not installed (Debian: apt-get install qemu-user)")
def test_portable_training_gives_the_golden_numbers_on_emulated_cpus_without_avx512():
    """The MLP on both CPUs and the short CNN on one, at once: each takes 5 to 10 minutes under emulation,
    most of it XLA compiling (the CNN's 1,000-image epoch ran past 30 minutes)."""
    runs = {(cpu, trainings): subprocess.Popen(training_command("portable", trainings, cpu), stdout=subprocess.PIPE,
                                               stderr=subprocess.PIPE, text=True, env=environment_under({}))
            for cpu, trainings in EMULATIONS}
    hashes = {}
    for key, run in runs.items():
        stdout, stderr = run.communicate(timeout=3000)
        hashes[key] = read_hashes(run.returncode, stdout, stderr)
    assert hashes == {(cpu, trainings): {trainings: GOLDEN[trainings]} for cpu, trainings in EMULATIONS}


@pytest.mark.skipif("AVX512" not in caps(), reason="the contrast needs a CPU with AVX-512")
def test_native_training_follows_the_isa_cap_so_the_check_can_fail():
    assert (train_hashes("native", caps()["AVX2"], architectures="mlp")
            != train_hashes("native", caps()["AVX512"], architectures="mlp"))
