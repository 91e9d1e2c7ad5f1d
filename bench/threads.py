"""What `train.threads` costs: s/epoch of the default training at each thread count, each in its own process.

    python bench/threads.py --threads 1 2 --repeats 3 --epochs 6

The counts are run in alternation (1, 2, 1, 2, ...), so drift on a noisy machine hits each alike. Reports the
median over repeats of each process's median s/epoch after the first (compiling) epoch, and the ratio to the
first count. Also says whether every count gave bit-identical weights (they need not).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

ONE_PROCESS = """
import hashlib, json, statistics, sys
from mnistflow.data import mnist
from mnistflow.training import pipeline
from mnistflow.core.params import load_params, parse_params
import dataclasses
threads, epochs = int(sys.argv[1]), int(sys.argv[2])
params = load_params("params.yaml")
params = dataclasses.replace(params, train=dataclasses.replace(params.train, threads=threads, epochs=epochs))
splits = mnist.prepare_splits(mnist.load_mnist("data/raw/mnist.npz"), params.prepare)
model, records = pipeline.train_model(params, splits["train"], splits["validation"])
seconds = [record.metrics["epoch_seconds"] for record in records]
digest = hashlib.sha256(b"".join(weight.tobytes() for weight in model.get_weights())).hexdigest()
print(json.dumps({"median": statistics.median(seconds[1:]), "first": seconds[0], "weights": digest}))
"""


def measure(threads: int, epochs: int) -> dict:
    result = subprocess.run([sys.executable, "-c", ONE_PROCESS, str(threads), str(epochs)], cwd=REPO,
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=6)
    arguments = parser.parse_args()
    runs: dict[int, list[dict]] = {count: [] for count in arguments.threads}
    for _ in range(arguments.repeats):
        for count in arguments.threads:
            runs[count].append(measure(count, arguments.epochs))
    base = statistics.median(run["median"] for run in runs[arguments.threads[0]])
    print("| train.threads | s/epoch (median) | ratio | first epoch (s) |\n|---|---|---|---|")
    for count, measured in runs.items():
        seconds = statistics.median(run["median"] for run in measured)
        first = statistics.median(run["first"] for run in measured)
        print(f"| {count} | {seconds:.3f} | {seconds / base:.2f} | {first:.2f} |")
    digests = {run["weights"] for measured in runs.values() for run in measured}
    print(f"weights identical across thread counts: {len(digests) == 1}")


if __name__ == "__main__":
    main()
