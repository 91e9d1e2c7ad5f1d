"""mnistflow's benchmark: everything measured in one run on one machine, as ratios to peers.

    make bench            (sets up the peers in .venv-peers: bench/requirements.txt; then runs this)
    python bench/run.py --skip-repro --skip-study --epochs 6

Measures, each training peer in a process of its own (bench/peers.py), at its best settings:
- training s/epoch of the default MLP on the 55,000-image training split: mnistflow, PyTorch eager with
  flushed denormals, PyTorch with torch.compile, and a jitted JAX lax.scan epoch with optax Adam. Reported:
  the median of the epochs after the first, and the first (compiling) epoch on its own;
- the arithmetic floor, two ways: the epoch's matmul FLOPs at a 2048x2048 sgemm's rate, and the same
  matmuls timed at the shapes the training uses (64x784 by 784x64, ...), both with the training's thread
  count (train.threads); the larger floor is the one that binds;
- MLflow logging overhead: 20-epoch trainings with mnistflow's tracking on (per-epoch metrics and recall chart,
  system metrics) and off (3 alternating pairs);
- wall time of a cold `dvc repro` (fresh clone, empty DVC cache, new store) and of a no-op one;
- study throughput in runs per minute (classic-failure and fixed, 2 seeds each, 20 epochs);
- training s/epoch of configs/cnn.yaml's CNN: mnistflow against the same network in PyTorch eager;
- the price of portable numerics (train.numerics, the default) against native, for the MLP and the CNN.

Prints one table with the targets and writes bench/results/bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRAIN_IMAGES, BATCH, UNITS = 55_000, 64, 64
PEERS = ("mnistflow", "mnistflow-native", "jax-scan", "torch-eager", "torch-compile")
CNN_PEERS = ("mnistflow-cnn", "mnistflow-cnn-native", "torch-cnn-eager")
# (m, k, n) of each matmul in one training step: forward, then the gradients (no gradient for the input).
STEP_MATMULS = ((BATCH, 784, UNITS), (BATCH, UNITS, 10), (UNITS, BATCH, 10), (BATCH, 10, UNITS), (784, BATCH, UNITS))


def run_peer(peer: str, epochs: int, python: str) -> dict[str, float] | None:
    """One peer in a fresh process: mnistflow in this environment, the others in the peers' own."""
    interpreter = sys.executable if peer.startswith("mnistflow") else python
    environment = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run([interpreter, str(REPO / "bench" / "peers.py"), peer, "--epochs", str(epochs)],
                            capture_output=True, text=True, cwd=REPO, env=environment)
    if result.returncode != 0:
        print(f"{peer}: skipped ({result.stderr.strip().splitlines()[-1][:200]})", file=sys.stderr)
        return None
    seconds = json.loads(result.stdout.strip().splitlines()[-1])["epoch_seconds"]
    return {"first_epoch": seconds[0], "seconds_per_epoch": statistics.median(seconds[1:])}


FLOOR = """
import json, sys, time
import numpy as np
from threadpoolctl import threadpool_limits
threads, shapes = int(sys.argv[1]), json.loads(sys.argv[2])

def seconds(m, k, n, repeats):
    a, b = (np.random.default_rng(0).random(shape, dtype=np.float32) for shape in ((m, k), (k, n)))
    a @ b
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - started)
    return min(times)

with threadpool_limits(threads):
    print(json.dumps({"sgemm_2048_gflops": 2 * 2048**3 / seconds(2048, 2048, 2048, 5) / 1e9,
                      "step_matmul_seconds": [seconds(m, k, n, 2000) for m, k, n in shapes]}))
"""


def floors(threads: int) -> dict[str, float]:
    """The epoch's matmul time at the big-sgemm rate and at the training's own shapes."""
    result = subprocess.run([sys.executable, "-c", FLOOR, str(threads), json.dumps(STEP_MATMULS)],
                            capture_output=True, text=True, check=True)
    measured = json.loads(result.stdout)
    steps = -(-TRAIN_IMAGES // BATCH)
    flops = steps * sum(2 * m * k * n for m, k, n in STEP_MATMULS)
    return {"sgemm_2048_gflops": measured["sgemm_2048_gflops"],
            "floor_sgemm_2048": flops / (measured["sgemm_2048_gflops"] * 1e9),
            "floor_at_shapes": steps * sum(measured["step_matmul_seconds"])}


LOGGING = """
import dataclasses, json, os, sys, tempfile, time
sys.path.insert(0, sys.argv[2])
from mnistflow.data import mnist
from mnistflow.training import pipeline, recording
from mnistflow import tracking
from mnistflow.core.params import load_params
from mnistflow.training.loop import CompiledModels
params = load_params(os.path.join(sys.argv[3], "params.yaml"))
params = dataclasses.replace(params, train=dataclasses.replace(params.train, epochs=int(sys.argv[1])))
splits = mnist.prepare_splits(mnist.load_mnist(os.path.join(sys.argv[3], "data/raw/mnist.npz")), params.prepare)
compiled, totals = CompiledModels(), {False: [], True: []}
pipeline.train_model(params, splits["train"], splits["validation"], compiled_models=compiled)  # compile once
with tempfile.TemporaryDirectory() as folder:
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder}/mlflow.db"
    tracking.connect("bench", root=__import__("pathlib").Path(folder))
    for _ in range(3):
        for logged in (False, True):
            started = time.perf_counter()
            if logged:
                with tracking.active_run():  # as the train stage: system metrics, epoch metrics, recall chart
                    pipeline.train_model(params, splits["train"], splits["validation"],
                                         [recording.EpochLogger(params.diagnostics.collapse_threshold)], compiled)
            else:
                pipeline.train_model(params, splits["train"], splits["validation"], compiled_models=compiled)
            totals[logged].append(time.perf_counter() - started)
print(json.dumps({str(key): value for key, value in totals.items()}))
"""


def logging_overhead(epochs: int) -> float:
    result = subprocess.run([sys.executable, "-c", LOGGING, str(epochs), str(REPO / "src"), str(REPO)],
                            capture_output=True, text=True, check=True)
    totals = json.loads(result.stdout.strip().splitlines()[-1])
    return statistics.median(totals["True"]) / statistics.median(totals["False"]) - 1


def timed(command: list[str], cwd: Path, environment: dict) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr[-2000:]}")
    return time.perf_counter() - started


def repro_and_study(skip_repro: bool, skip_study: bool) -> dict[str, float]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment['PATH']}"
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        clone = Path(folder) / "clone"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        if not skip_repro:
            results["cold_repro_seconds"] = timed(["dvc", "repro"], clone, environment)
            results["noop_repro_seconds"] = timed(["dvc", "repro"], clone, environment)
        if not skip_study:
            seconds = timed(["mnistflow", "study", "--config", "classic-failure", "--config", "fixed",
                             "--seeds", "1-2", "--name", "bench"], clone, environment)
            results["study_runs_per_minute"] = 4 / seconds * 60
        shutil.rmtree(clone, ignore_errors=True)
    return results


def table(results: dict) -> str:
    peers = results["peers"]
    ours = peers["mnistflow"]["seconds_per_epoch"]
    lines = ["| training (55,000 images) | s/epoch (median, epochs 2+) | first epoch (s) | "
             "mnistflow / this |", "|---|---|---|---|"]
    for name, peer in peers.items():
        reference = peers.get("mnistflow-cnn" if name in CNN_PEERS else "mnistflow", peer)["seconds_per_epoch"]
        lines.append(f"| {name} | {peer['seconds_per_epoch']:.3f} | {peer['first_epoch']:.2f} | "
                     f"{reference / peer['seconds_per_epoch']:.2f} |")
    for name in ("floor_sgemm_2048", "floor_at_shapes"):
        lines.append(f"| {name.replace('_', ' ')} | {results[name]:.3f} | | {ours / results[name]:.2f} |")
    return "\n".join(lines)


def targets(results: dict) -> list[tuple[str, str, bool]]:
    peers, checks = results["peers"], []
    ours = peers["mnistflow"]["seconds_per_epoch"]
    floor = max(results["floor_sgemm_2048"], results["floor_at_shapes"])
    if "jax-scan" in peers:
        ratio = ours / peers["jax-scan"]["seconds_per_epoch"]
        checks.append(("training <= 1.0 x JAX scan", f"{ratio:.2f} x", ratio <= 1.0))
    if "torch-eager" in peers:
        ratio = ours / peers["torch-eager"]["seconds_per_epoch"]
        checks.append(("training <= 0.5 x PyTorch eager (flushed)", f"{ratio:.2f} x", ratio <= 0.5))
    for portable, native, name in (("mnistflow", "mnistflow-native", "MLP"),
                                   ("mnistflow-cnn", "mnistflow-cnn-native", "CNN")):
        if {portable, native} <= set(peers):
            ratio = peers[portable]["seconds_per_epoch"] / peers[native]["seconds_per_epoch"]
            checks.append((f"{name} portable numerics <= 1.10 x native", f"{ratio:.2f} x", ratio <= 1.10))
    checks.append(("training <= 2.0 x the binding floor", f"{ours / floor:.2f} x", ours / floor <= 2.0))
    if {"mnistflow-cnn", "torch-cnn-eager"} <= set(peers):
        ratio = peers["mnistflow-cnn"]["seconds_per_epoch"] / peers["torch-cnn-eager"]["seconds_per_epoch"]
        checks.append(("CNN training <= 1.0 x PyTorch eager (flushed)", f"{ratio:.2f} x", ratio <= 1.0))
    if "cold_repro_seconds" in results:
        checks.append(("cold dvc repro <= 25 s", f"{results['cold_repro_seconds']:.1f} s",
                       results["cold_repro_seconds"] <= 25))
        checks.append(("no-op dvc repro <= 2 s", f"{results['noop_repro_seconds']:.2f} s",
                       results["noop_repro_seconds"] <= 2))
    if "mlflow_logging_overhead" in results:
        overhead = results["mlflow_logging_overhead"]
        checks.append(("MLflow logging overhead <= 5 %", f"{overhead:+.1%}", overhead <= 0.05))
    return checks


NUMERICS_PEERS = (("MLP (params.yaml)", "mnistflow", "mnistflow-native"),
                  ("CNN (configs/cnn.yaml)", "mnistflow-cnn", "mnistflow-cnn-native"))


def numerics_price(epochs: int, cnn_epochs: int) -> str:
    """Portable against native s/epoch, each training in its own process, as a markdown table."""
    lines = ["| training | portable s/epoch | native s/epoch | portable / native |", "|---|---|---|---|"]
    for name, portable, native in NUMERICS_PEERS:
        count = cnn_epochs if portable in CNN_PEERS else epochs
        measured = {peer: run_peer(peer, count, sys.executable) for peer in (portable, native)}
        if None in measured.values():
            continue
        seconds = [measured[peer]["seconds_per_epoch"] for peer in (portable, native)]
        lines.append(f"| {name} | {seconds[0]:.3f} | {seconds[1]:.3f} | {seconds[0] / seconds[1]:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=6, help="epochs timed per peer")
    parser.add_argument("--overhead-epochs", type=int, default=20, help="epochs per run of the logging comparison")
    parser.add_argument("--skip-repro", action="store_true")
    parser.add_argument("--skip-study", action="store_true")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-cnn", action="store_true")
    parser.add_argument("--only-overhead", action="store_true", help="measure only the MLflow logging overhead")
    parser.add_argument("--only-numerics", action="store_true",
                        help="measure only the price of portable numerics: portable against native, MLP and CNN")
    parser.add_argument("--cnn-epochs", type=int, default=3, help="epochs timed per CNN peer")
    parser.add_argument("--peers-python", default=str(REPO / ".venv-peers" / "bin" / "python"),
                        help="the interpreter that has torch, jax and optax (make bench sets it up)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "bench.json")
    arguments = parser.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    from mnistflow.core.params import load_params

    if arguments.only_overhead:
        print(f"MLflow logging overhead: {logging_overhead(arguments.overhead_epochs):+.1%}")
        return
    if arguments.only_numerics:
        print(numerics_price(arguments.epochs, arguments.cnn_epochs))
        return
    threads = load_params(REPO / "params.yaml").train.threads
    results: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "train_threads": threads,
                     "peers": {}}
    for peer in PEERS + (() if arguments.skip_cnn else CNN_PEERS):
        measured = run_peer(peer, arguments.cnn_epochs if peer in CNN_PEERS else arguments.epochs,
                            arguments.peers_python)
        if measured:
            results["peers"][peer] = measured
    results.update(floors(threads))
    if not arguments.skip_overhead:
        results["mlflow_logging_overhead"] = logging_overhead(arguments.overhead_epochs)
    results.update(repro_and_study(arguments.skip_repro, arguments.skip_study))
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    binding = "at the training's shapes" if results["floor_at_shapes"] > results["floor_sgemm_2048"] else \
        "the 2048² sgemm rate"
    print(f"\nbinding floor: {binding}; sgemm 2048² at {results['sgemm_2048_gflops']:.0f} GFLOP/s, {threads} thread(s)")
    if "study_runs_per_minute" in results:
        print(f"study: {results['study_runs_per_minute']:.2f} runs/min (4 runs x 20 epochs, start-up included)")
    print("\n| target | measured | met |\n|---|---|---|")
    for name, measured, met in targets(results):
        print(f"| {name} | {measured} | {'yes' if met else '**no**'} |")


if __name__ == "__main__":
    main()
