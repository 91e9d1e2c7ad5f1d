"""Golden weights: short MLP and CNN trainings give committed bits on every x86-64 CPU with AVX2 and FMA.

Each training runs in a fresh process, as the stages do, under every ISA cap this CPU allows (AVX2 up) and
pinned to one core. Portable numerics must give the committed hashes under all of them; a CPU-dependent path
in the training fails this test on whatever machine runs it. Native numerics, for contrast, follow the cap.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import RAW_DATA, REPO, tool_environment

# sha256 (first 16 hex digits) of the trained weights: 200 MLP steps of 64 images and 100 CNN steps of 128.
GOLDEN = {"mlp": "f2c3faefb821dd04", "cnn": "a2d00d33c97495c2"}

SCRIPT = """
import hashlib, sys
import numpy as np
from mnistflow.core.params import apply_overrides, read_yaml
from mnistflow.data import mnist
from mnistflow.training.pipeline import train_model

raw_params, arrays = read_yaml(sys.argv[1]), mnist.load_mnist(sys.argv[2])
numerics = sys.argv[3]
for arch, batch_size, images in (("mlp", 64, 12800), ("cnn", 128, 12800)):
    overrides = {"model.arch": arch, "train.batch_size": batch_size, "train.epochs": 1, "train.threads": 1,
                 "train.numerics": numerics}
    params = apply_overrides(raw_params, overrides)
    train = mnist.make_split(arrays["x_train"], arrays["y_train"], np.arange(images), scale=True)
    validation = mnist.make_split(arrays["x_train"], arrays["y_train"], np.arange(59000, 60000), scale=True)
    model, _ = train_model(params, train, validation)
    weights = b"".join(np.ascontiguousarray(array).tobytes() for array in model.get_weights())
    print(arch, hashlib.sha256(weights).hexdigest()[:16])
"""


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


def train_hashes(numerics: str, cap: dict[str, str], one_core: bool = False) -> dict[str, str]:
    environment = {**tool_environment(), **cap}
    for variable in ("MNISTFLOW_NUMERICS",) + (() if cap else ("XLA_FLAGS", "ONEDNN_MAX_CPU_ISA")):
        environment.pop(variable, None)
    first_core = min(os.sched_getaffinity(0))
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(REPO / "params.yaml"), str(RAW_DATA), numerics],
                            capture_output=True, text=True, env=environment, timeout=600,
                            preexec_fn=(lambda: os.sched_setaffinity(0, {first_core})) if one_core else None)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(line.split() for line in result.stdout.strip().splitlines())


pytestmark = [pytest.mark.slow, pytest.mark.skipif(not {"avx2", "fma"} <= cpu_flags(), reason="needs AVX2 and FMA")]


@pytest.mark.parametrize("cap", list(caps()))
def test_portable_training_gives_the_golden_weights_under_every_isa_cap(cap):
    assert train_hashes("portable", caps()[cap]) == GOLDEN


def test_portable_training_gives_the_golden_weights_on_one_core():
    assert train_hashes("portable", {}, one_core=True) == GOLDEN


@pytest.mark.skipif("AVX512" not in caps(), reason="the contrast needs a CPU with AVX-512")
def test_native_training_follows_the_isa_cap_so_the_check_can_fail():
    assert train_hashes("native", caps()["AVX2"]) != train_hashes("native", caps()["AVX512"])
