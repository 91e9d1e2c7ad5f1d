"""How fast Ctrl-C stops a 2-worker study: seconds from SIGINT (to the study's process group, as a terminal
sends it) to the study's exit and to its last process gone, with every run ended KILLED.

    python bench/interrupt.py --rounds 3 --busy-loops 2     # beside two busy loops: a loaded 2-core machine

Each round starts `mnistflow study --config job --seeds 1-6 --workers 2` (5,000 epochs on 3,000 images) in a
fresh folder and store, waits until both workers train, then interrupts it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from mlflow import MlflowClient

REPO = Path(__file__).resolve().parents[1]
JOB = "train.epochs: 5000\nprepare.train_limit: 3000\n"


def start_study(folder: Path) -> tuple[subprocess.Popen, str]:
    (folder / "configs").mkdir()
    (folder / "configs" / "job.yaml").write_text(JOB)
    shutil.copy(REPO / "params.yaml", folder / "params.yaml")
    store = f"sqlite:///{folder / 'mlflow.db'}"
    environment = {**os.environ, "MLFLOW_TRACKING_URI": store,
                   "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    study = subprocess.Popen(["mnistflow", "study", "--config", "job", "--seeds", "1-6", "--workers", "2",
                              "--data", str(REPO / "data" / "raw" / "mnist.npz")], cwd=folder, env=environment,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    return study, store


def wait_until_both_train(folder: Path, store: str) -> MlflowClient:
    while not (folder / "mlflow.db").exists():
        time.sleep(0.2)
    time.sleep(15)  # the study creates the store under its own lock; a second creator would race it
    client = MlflowClient(tracking_uri=store)
    while len([run for run in client.search_runs(["1"], filter_string="attributes.status = 'RUNNING'")
               if "mlflow.parentRunId" in run.data.tags and client.get_metric_history(run.info.run_id, "loss")]) < 2:
        time.sleep(0.2)
    return client


def alive(pids: list[int]) -> bool:
    return any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in pids)


def one_round() -> str:
    folder = Path(tempfile.mkdtemp(prefix="mnistflow-interrupt-"))
    try:
        study, store = start_study(folder)
        client = wait_until_both_train(folder, store)
        members = [study.pid, *(child.pid for child in psutil.Process(study.pid).children(recursive=True))]
        started = time.monotonic()
        os.killpg(study.pid, signal.SIGINT)
        study.wait()
        exited = time.monotonic() - started
        while alive(members):
            time.sleep(0.05)
        gone = time.monotonic() - started
        statuses = sorted(run.info.status for run in client.search_runs(["1"]))
        return (f"study exit {exited:.1f} s, all processes gone {gone:.1f} s, exit code {study.returncode}, "
                f"runs {statuses}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--busy-loops", type=int, default=2, help="CPU-bound processes beside the study")
    arguments = parser.parse_args()
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(arguments.busy_loops)]
    try:
        for round_number in range(1, arguments.rounds + 1):
            print(f"round {round_number} ({arguments.busy_loops} busy loops): {one_round()}", flush=True)
    finally:
        for loop in loops:
            loop.kill()


if __name__ == "__main__":
    main()
