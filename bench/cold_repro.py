"""Where the time of a cold `dvc repro` goes: a fresh clone, an empty DVC cache, a new MLflow store.

    python bench/cold_repro.py

Two fresh clones of this repository. In the first, `dvc repro` runs as a user runs it: its wall time is the
headline. In the second, each stage's command from dvc.yaml runs by itself, in order, under
`python -X importtime`, so each stage's wall time splits into the interpreter's start and imports, and the
rest. Then, in the second clone's store: the training's first epoch against its others (the first one
compiles the model with XLA), and the time a new process takes to create an MLflow store (its SQLite
migrations) and to open an existing one. DVC's own share is the first clone's wall time less the sum of the
stages. Writes bench/results/cold_repro.json and prints a table.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
STORE_FIRST_USE = """
import time, sys
started = time.perf_counter()
import mlflow
imported = time.perf_counter()
mlflow.set_tracking_uri(sys.argv[1])
mlflow.MlflowClient().search_experiments()
print(imported - started, time.perf_counter() - imported)
"""


def environment() -> dict[str, str]:
    kept = {key: value for key, value in os.environ.items() if not key.startswith(("MLFLOW_", "DVC_"))}
    return kept | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{kept['PATH']}"}


def clone(folder: Path, name: str) -> Path:
    target = folder / name
    subprocess.run(["git", "clone", "-q", str(REPO), str(target)], check=True)
    return target


def timed(command: list[str], cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=environment(), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stderr[-2000:]}")
    return time.perf_counter() - started, result.stderr


def import_seconds(importtime: str) -> float:
    """The interpreter's imports: the cumulative microseconds of each top-level import, summed."""
    total = 0
    for line in importtime.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", line)
        if match and not match[2].startswith(" "):
            total += int(match[1])
    return total / 1e6


def stage_commands(project: Path) -> list[tuple[str, list[str]]]:
    """The stages and their commands, in dvc.yaml's order (each stage comes after those it depends on)."""
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    return [(name, shlex.split(" ".join(stage["cmd"].split()))) for name, stage in stages.items()]


def epoch_seconds(project: Path, run_id: str) -> list[float]:
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    return [point.value for point in sorted(client.get_metric_history(run_id, "train/epoch_seconds"),
                                            key=lambda point: point.step)]


def measure(folder: Path) -> dict:
    whole = clone(folder, "whole")
    results: dict = {"dvc_repro_seconds": timed(["dvc", "repro"], whole)[0]}
    staged, stages = clone(folder, "staged"), {}
    for name, command in stage_commands(staged):
        assert command[0] == "python", command
        wall, stderr = timed([sys.executable, "-X", "importtime", *command[1:]], staged)
        stages[name] = {"seconds": wall, "imports_seconds": import_seconds(stderr)}
    results["stages"] = stages
    results["dvc_own_seconds"] = results["dvc_repro_seconds"] - sum(stage["seconds"] for stage in stages.values())
    epochs = epoch_seconds(staged, json.loads((staged / "models" / "run.json").read_text())["run_id"])
    results["first_epoch_seconds"], results["other_epochs_median_seconds"] = epochs[0], statistics.median(epochs[1:])
    results["epochs_seconds"] = sum(epochs)
    for label, uri in (("new", f"sqlite:///{folder / 'new.db'}"), ("existing", f"sqlite:///{staged / 'mlflow.db'}")):
        output = subprocess.run([sys.executable, "-c", STORE_FIRST_USE, uri], env=environment(), capture_output=True,
                                text=True, check=True).stdout.split()
        results[f"mlflow_import_seconds_{label}"], results[f"store_open_seconds_{label}"] = map(float, output)
    return results


def train_rest(results: dict) -> float:
    train = results["stages"]["train"]
    return train["seconds"] - train["imports_seconds"] - results["epochs_seconds"]


def table(results: dict) -> str:
    lines = ["| part | seconds |", "|---|---|", f"| `dvc repro`, cold, in all | {results['dvc_repro_seconds']:.1f} |",
             f"| DVC itself (all less the stages) | {results['dvc_own_seconds']:.1f} |"]
    for name, stage in results["stages"].items():
        lines.append(f"| stage {name} | {stage['seconds']:.1f} |")
        lines.append(f"| &nbsp;&nbsp;of which imports | {stage['imports_seconds']:.1f} |")
    lines += [f"| train: first epoch (XLA compiles) | {results['first_epoch_seconds']:.2f} |",
              f"| train: any other epoch (median) | {results['other_epochs_median_seconds']:.2f} |",
              f"| train: the rest (store, logging and saving the model) | {train_rest(results):.1f} |",
              f"| a new process creates an MLflow store (migrations) | {results['store_open_seconds_new']:.1f} |",
              f"| a new process opens the existing store | {results['store_open_seconds_existing']:.1f} |",
              f"| `import mlflow` | {results['mlflow_import_seconds_existing']:.1f} |"]
    return "\n".join(lines)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        results = measure(Path(folder))
    out = REPO / "bench" / "results" / "cold_repro.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
