"""What collapse pruning saves: the same tune with pruning on and off, each in its own process, same invocation.

    python bench/tune_pruning.py --trials 20 --workers 2          # tune-classic-failure.yaml, full MNIST

For each side: epochs trained, wall seconds, the best validation accuracy, and the wall seconds until the best
trial so far first reached the target (the lower of the two sides' best validation accuracies, so both reach
it). Pruning off means `collapse_epochs: 0` and `pruner: none`; the sampler seed and the space are the same.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import yaml

REPO = Path(__file__).resolve().parents[1]


def run_side(space: dict, trials: int, workers: int, folder: Path) -> dict:
    folder.mkdir()
    shutil.copy(REPO / "params.yaml", folder / "params.yaml")
    shutil.copy(REPO / "dvc.yaml", folder / "dvc.yaml")
    (folder / "tune.yaml").write_text(yaml.safe_dump(space, sort_keys=False))
    (folder / "data" / "raw").mkdir(parents=True)
    os.symlink(REPO / "data" / "raw" / "mnist.npz", folder / "data" / "raw" / "mnist.npz")
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    environment.pop("MLFLOW_TRACKING_URI", None)
    started = time.perf_counter()
    tuned = subprocess.run(["mnistflow", "tune", "--trials", str(trials), "--workers", str(workers), "--name",
                            "bench"], cwd=folder, env=environment, capture_output=True, text=True)
    if tuned.returncode != 0:
        raise SystemExit(f"mnistflow tune failed in {folder}:\n{tuned.stderr[-3000:]}")
    wall = time.perf_counter() - started
    study = optuna.load_study(study_name="bench", storage=f"sqlite:///{folder / 'optuna.db'}")
    return {"wall_seconds": wall, "trials": study.get_trials(deepcopy=False)}


def summary(side: dict, target: float) -> dict:
    trials = side["trials"]
    complete = [trial for trial in trials if trial.state.name == "COMPLETE"]
    first = min(trials, key=lambda trial: trial.datetime_start).datetime_start
    reached = [trial for trial in complete if trial.value >= target]
    return {"wall_seconds": round(side["wall_seconds"], 1),
            "epochs_trained": sum(len(trial.intermediate_values) for trial in trials),
            "complete": len(complete), "pruned": sum(trial.state.name == "PRUNED" for trial in trials),
            "best_val_accuracy": max(trial.value for trial in complete),
            "seconds_to_target": round(min((trial.datetime_complete - first).total_seconds() for trial in reached), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", type=Path, default=REPO / "tune-classic-failure.yaml")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    arguments = parser.parse_args()
    space = yaml.safe_load(arguments.space.read_text())
    unpruned = {**space, "pruning": {**space.get("pruning", {}), "collapse_epochs": 0, "pruner": "none"}}
    with tempfile.TemporaryDirectory(prefix="mnistflow-tune-bench-") as folder:
        sides = {name: run_side(spec, arguments.trials, arguments.workers, Path(folder, name))
                 for name, spec in (("pruning", space), ("no pruning", unpruned))}
        target = min(max(trial.value for trial in side["trials"] if trial.state.name == "COMPLETE")
                     for side in sides.values())
        results = {name: summary(side, target) for name, side in sides.items()}
    print(f"{arguments.space.name}, {arguments.trials} trials on {arguments.workers} workers; target = "
          f"validation accuracy {target:.4f}")
    print(f"{'':12} {'wall s':>8} {'epochs':>7} {'complete':>9} {'pruned':>7} {'best val':>9} {'s to target':>12}")
    for name, row in results.items():
        print(f"{name:12} {row['wall_seconds']:8.1f} {row['epochs_trained']:7d} {row['complete']:9d} "
              f"{row['pruned']:7d} {row['best_val_accuracy']:9.4f} {row['seconds_to_target']:12.1f}")
    on, off = results["pruning"], results["no pruning"]
    print(f"pruning / no pruning: epochs {on['epochs_trained'] / off['epochs_trained']:.2f}, wall "
          f"{on['wall_seconds'] / off['wall_seconds']:.2f}, seconds to target "
          f"{on['seconds_to_target'] / off['seconds_to_target']:.2f}")
    out = REPO / "bench" / "results" / "tune_pruning.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"target": target, **results}, indent=2))


if __name__ == "__main__":
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    main()
