"""The golden trainings of tests/training/test_golden_numerics.py: the script, its command and its hashes; and
the trainings under QEMU's emulated CPUs, which `make test` starts as the suite begins (`--emulations-early`),
so that their 10 minutes overlap the rest of the suite instead of following it."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

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
EMULATIONS = (("EPYC-Rome", "mlp"), ("Haswell-v4", "cnn-short"))
EMULATIONS_VARIABLE = "MNISTFLOW_TEST_EMULATIONS"  # the folder of the emulations that the suite started early


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


def start_emulations(folder: Path) -> list[subprocess.Popen]:
    """Start every emulated training in its own process group; each writes `<cpu>-<training>.out` and `.err`
    into `folder`, and `.rc` once it has ended."""
    folder.mkdir(parents=True, exist_ok=True)
    started = []
    for cpu, training in EMULATIONS:
        stem = shlex.quote(str(folder / f"{cpu}-{training}"))
        shell = (f"{shlex.join(training_command('portable', training, cpu))} > {stem}.out 2> {stem}.err; "
                 f"echo $? > {stem}.rc.part && mv {stem}.rc.part {stem}.rc")
        started.append(subprocess.Popen(["sh", "-c", shell], env=environment_under({}), start_new_session=True))
    return started


def stop_emulations(started: list[subprocess.Popen]) -> None:
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def emulated_hashes(folder: Path | None, timeout: float = 3000) -> dict[tuple[str, str], dict[str, str]]:
    """Each emulation's hashes: read from `folder` (started early), waiting for them; else run here, at once."""
    if folder is None:
        folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"mnistflow-emulations-{os.getpid()}"
        started = start_emulations(folder)
        for process in started:
            process.wait(timeout=timeout)
    deadline = time.monotonic() + timeout
    hashes = {}
    for cpu, training in EMULATIONS:
        stem = folder / f"{cpu}-{training}"
        while not Path(f"{stem}.rc").exists():
            assert time.monotonic() < deadline, f"{stem} did not end within {timeout} s"
            time.sleep(5)
        hashes[(cpu, training)] = read_hashes(int(Path(f"{stem}.rc").read_text()), Path(f"{stem}.out").read_text(),
                                              Path(f"{stem}.err").read_text())
    return hashes
