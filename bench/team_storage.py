"""Team storage, measured: `dvc push` and `dvc pull` of the default pipeline's outputs through the team stack's
S3 store, and the seconds a run spends logging its artifacts through the MLflow server to S3 against a server
that keeps them in a local folder, both servers started in this invocation.

    make run && python bench/team_storage.py --rounds 5

Needs the default pipeline's outputs in this clone's DVC cache (`make run` or `dvc pull`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import mlflow

from mnistflow.team.credentials import stack_credentials
from mnistflow.team.stack import BUCKET, free_port, s3_client

REPO = Path(__file__).resolve().parents[1]
ENVIRONMENT = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
ENVIRONMENT.pop("MLFLOW_TRACKING_URI", None)


def run(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=ENVIRONMENT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed in {cwd}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return time.perf_counter() - started


def clone(target: Path, stack: Path, cache: Path | None = None) -> Path:
    run(["git", "clone", "-q", str(REPO), str(target)], REPO)
    if cache is not None:
        run(["dvc", "cache", "dir", "--local", str(cache)], target)
    run(["mnistflow", "team", "connect", "--dir", str(stack)], target)
    return target


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def remote_bytes(stack: Path, endpoint: str) -> tuple[int, int]:
    """(bytes, objects) under the DVC remote's prefix, as S3 lists them."""
    client, total, count, token = s3_client(endpoint, stack_credentials(stack, {})), 0, 0, {}
    while True:
        page = client.list_objects_v2(Bucket=BUCKET, Prefix="dvcstore/", **token)
        total += sum(item["Size"] for item in page.get("Contents", []))
        count += page.get("KeyCount", 0)
        if not page.get("IsTruncated"):
            return total, count
        token = {"ContinuationToken": page["NextContinuationToken"]}


def log_one_run(tracking_uri: str) -> float:
    """The artifacts a pipeline run logs besides its metrics: the model file, figures and error galleries."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("bench")
    started = time.perf_counter()
    with mlflow.start_run(log_system_metrics=False):
        mlflow.log_artifact(str(REPO / "models" / "model.keras"), "model")
        mlflow.log_artifacts(str(REPO / "reports" / "figures"), "figures")
        mlflow.log_artifacts(str(REPO / "reports" / "errors"), "errors")
    return time.perf_counter() - started


def local_server(folder: Path) -> tuple[subprocess.Popen, str]:
    port = free_port("127.0.0.1")
    server = subprocess.Popen([str(REPO / "scripts" / "tracking-server"), "--port", str(port), "--sqlite",
                               str(folder / "local.db"), "--artifacts", str(folder / "local-artifacts")],
                              env=ENVIRONMENT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2).read()
            return server, url
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("the local-folder server did not come up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mnistflow-team-bench-") as scratch:
        folder = Path(scratch)
        stack, s3_port, port = folder / "stack", free_port("127.0.0.1"), free_port("127.0.0.1")
        run(["mnistflow", "team", "start", "--dir", str(stack), "--port", str(port), "--s3-port", str(s3_port)],
            folder)
        server = None
        try:
            pusher = clone(folder / "pusher", stack, REPO / ".dvc" / "cache")
            before = folder_bytes(stack / "seaweedfs")
            push_seconds = run(["dvc", "push"], pusher)
            on_disk = folder_bytes(stack / "seaweedfs") - before
            pushed, objects = remote_bytes(stack, f"http://127.0.0.1:{s3_port}")
            puller = clone(folder / "puller", stack)
            pull_seconds = run(["dvc", "pull"], puller)
            pulled = folder_bytes(puller / ".dvc" / "cache")
            server, local_url = local_server(folder)
            s3_url = f"http://127.0.0.1:{port}"
            times: dict[str, list[float]] = {"S3 through the server": [], "local folder": []}
            for _ in range(arguments.rounds):
                times["S3 through the server"].append(log_one_run(s3_url))
                times["local folder"].append(log_one_run(local_url))
        finally:
            if server is not None:
                os.killpg(server.pid, 15)
                server.wait()
            run(["mnistflow", "team", "stop", "--dir", str(stack)], folder)
        shutil.rmtree(folder, ignore_errors=True)
    print(f"dvc push: {push_seconds:.1f} s, {objects} objects of {pushed / 2**20:.1f} MiB "
          f"({on_disk / 2**20:.1f} MiB on the store's disk, which compresses)")
    print(f"dvc pull into a fresh clone: {pull_seconds:.1f} s, {pulled / 2**20:.1f} MiB in its cache")
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(f"log a run's artifacts, {name}: median {medians[name]:.2f} s (min {min(values):.2f}, "
              f"max {max(values):.2f}, {len(values)} rounds)")
    extra = medians["S3 through the server"] - medians["local folder"]
    print(f"S3 / local folder: {medians['S3 through the server'] / medians['local folder']:.2f}x, "
          f"{extra:+.2f} s per run")


if __name__ == "__main__":
    main()
