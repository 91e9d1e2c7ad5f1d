"""mnistflow's benchmark: everything measured in one run on one machine, as ratios to peers.

    make bench            (installs the optional torch==2.13.0 peer, then runs this)
    python bench/run.py --skip-repro --skip-study --epochs 4

Measures:
- training s/epoch of the default configuration on the full 55,000-image training split (median of the
  epochs after the first, which includes XLA compilation), against the same model and optimizer in PyTorch
  eager, and against the arithmetic floor (FLOPs per epoch / a measured sgemm rate);
- MLflow logging overhead: the default 20-epoch training (compiled once, then 3 alternating pairs) with
  per-epoch tracking on and off, as the ratio of median wall times;
- wall time of a cold `dvc repro` (fresh clone, empty DVC cache, embedded store) and of a no-op one;
- study throughput in runs per minute (classic-failure and fixed, 2 seeds each, 20 epochs).

Prints a table and writes bench/results/bench.json.
"""

from __future__ import annotations

import argparse
import contextlib
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

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
TRAIN_IMAGES = 55_000


def flops_per_epoch(images: int = TRAIN_IMAGES, units: int = 64) -> float:
    """Forward multiply-adds of both layers, x2 for FLOPs, x3 for forward + backward."""
    return 3 * 2 * images * (784 * units + units * 10)


def sgemm_gflops(size: int = 2048, repeats: int = 5) -> float:
    a, b = (np.random.default_rng(0).random((size, size), dtype=np.float32) for _ in range(2))
    a @ b
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - started)
    return 2 * size**3 / min(times) / 1e9


def default_splits():
    from mnistflow import data
    from mnistflow.params import load_params

    params = load_params(REPO / "params.yaml")
    splits = data.prepare_splits(data.load_mnist(REPO / "data" / "raw" / "mnist.npz"), params.prepare)
    return params, [splits["train"], splits["validation"]]


def mnistflow_epochs(epochs: int, log_to_mlflow: bool) -> list[float]:
    import dataclasses

    from mnistflow import pipeline, tracking

    params, (train, validation) = default_splits()
    params = dataclasses.replace(params, train=dataclasses.replace(params.train, epochs=epochs))
    callbacks = []
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        if log_to_mlflow:
            os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder}/mlflow.db"
            tracking.connect("bench")
            stack.enter_context(tracking.active_run())
            callbacks = [lambda record: tracking.log_metrics(record.metrics, step=record.epoch)]
        started = time.perf_counter()
        _, records = pipeline.train_model(params, train, validation, callbacks)
        total = time.perf_counter() - started
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    return [record.metrics["epoch_seconds"] for record in records], total


def torch_epochs(epochs: int) -> list[float]:
    import torch

    _, (train, _) = default_splits()
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(784, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    for layer in (model[0], model[2]):
        torch.nn.init.normal_(layer.weight, std=0.05)
        torch.nn.init.zeros_(layer.bias)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_function = torch.nn.CrossEntropyLoss()
    images, labels = torch.from_numpy(train.images), torch.from_numpy(train.labels.astype(np.int64))
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        order = torch.randperm(len(labels))
        for start in range(0, len(labels), 64):
            batch = order[start:start + 64]
            optimizer.zero_grad()
            loss = loss_function(model(images[batch]), labels[batch])
            loss.backward()
            optimizer.step()
        times.append(time.perf_counter() - started)
    return times


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
            results["study_runs_per_minute_wall_seconds"] = seconds
        shutil.rmtree(clone, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=6, help="epochs timed for s/epoch")
    parser.add_argument("--overhead-epochs", type=int, default=20, help="epochs per run of the logging comparison")
    parser.add_argument("--skip-repro", action="store_true")
    parser.add_argument("--skip-study", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "bench.json")
    arguments = parser.parse_args()
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "epochs": arguments.epochs}
    results["sgemm_gflops"] = sgemm_gflops()
    results["floor_seconds_per_epoch"] = flops_per_epoch() / (results["sgemm_gflops"] * 1e9)
    first, _ = mnistflow_epochs(arguments.epochs, log_to_mlflow=False)  # includes the XLA compilation
    results["mnistflow_seconds_per_epoch"] = statistics.median(first[1:])
    results["mnistflow_first_epoch_seconds"] = first[0]
    totals = {False: [], True: []}
    for _ in range(3):  # alternate, so drift on a noisy machine hits both alike
        for logged in (False, True):
            totals[logged].append(mnistflow_epochs(arguments.overhead_epochs, log_to_mlflow=logged)[1])
    results["mlflow_logging_overhead"] = statistics.median(totals[True]) / statistics.median(totals[False]) - 1
    try:
        results["torch_eager_seconds_per_epoch"] = statistics.median(torch_epochs(arguments.epochs)[1:])
        results["ratio_to_torch"] = results["mnistflow_seconds_per_epoch"] / results["torch_eager_seconds_per_epoch"]
    except ImportError:
        print("torch is not installed (pip install torch==2.13.0): the PyTorch peer is skipped", file=sys.stderr)
    results["ratio_to_floor"] = results["mnistflow_seconds_per_epoch"] / results["floor_seconds_per_epoch"]
    results.update(repro_and_study(arguments.skip_repro, arguments.skip_study))
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(results, indent=2) + "\n")
    width = max(map(len, results))
    for key, value in results.items():
        print(f"{key:<{width}}  {value:.4g}" if isinstance(value, float) else f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
