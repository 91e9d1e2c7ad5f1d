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
from pathlib import Path

import pytest

from golden import (
    EMULATIONS_VARIABLE,
    GOLDEN,
    caps,
    cpu_flags,
    emulated_hashes,
    environment_under,
    read_hashes,
    training_command,
)


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
def test_portable_training_gives_the_golden_numbers_on_emulated_cpus_without_avx512(request):
    """The MLP on an AMD CPU and the short CNN on an Intel one, at once: each takes 5 to 10 minutes under
    emulation, most of it XLA compiling (the CNN's 1,000-image epoch ran past 30 minutes). `make test` starts
    them as the suite begins."""
    folder = os.environ.get(EMULATIONS_VARIABLE)
    hashes = emulated_hashes(Path(folder) if folder else None)
    assert hashes == {(cpu, training): {training: GOLDEN[training]} for cpu, training in hashes}
    assert sorted(training for _, training in hashes) == ["cnn-short", "mlp"]


@pytest.mark.skipif("AVX512" not in caps(), reason="the contrast needs a CPU with AVX-512")
def test_native_training_follows_the_isa_cap_so_the_check_can_fail():
    assert (train_hashes("native", caps()["AVX2"], architectures="mlp")
            != train_hashes("native", caps()["AVX512"], architectures="mlp"))
