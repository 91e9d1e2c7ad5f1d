"""How long the commands that do not train take: `predict` of one image, `--help` of every command, the
time until `mnistflow ui` and `mnistflow serve` answer their health check, and the time from a SIGTERM to
either (sent to mnistflow alone, as `kill` sends it) until its port is free and it has exited.

    python bench/commands.py --repeats 5

Each command runs in its own process, in alternation, in a scratch project whose store holds the committed
model (models/model.keras) logged twice: as mnistflow logs it now (with its ONNX copy: `predict` runs it with
ONNX Runtime), registered as `mnist-digits@champion`, and as a plain Keras model, as models were logged
before the ONNX copy (`predict` loads TensorFlow for it). `predict` of the champion is timed twice: right
after a change to the store (it asks MLflow which model to use), and with its choice remembered (the store
unchanged since the last `predict`). Reports min, median and max wall seconds and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
IMAGE = REPO / "docs" / "images" / "seven.png"

LOG_MODELS = """
import sys
import mlflow
from mnistflow.core import runtime
from mnistflow.tracking.models import log_keras_model
from mnistflow.training import pipeline
import numpy as np
model = pipeline.serving_model(runtime.keras.saving.load_model(sys.argv[1]), scale=True)
example = np.load(sys.argv[2])["x_test"][:2].astype(np.float32)
mlflow.set_experiment("mnistflow")
with mlflow.start_run(run_name="with ONNX"):
    with_onnx = log_keras_model(model, example)
print(with_onnx)
version = mlflow.register_model(with_onnx, "mnist-digits")
mlflow.MlflowClient().set_registered_model_alias("mnist-digits", "champion", version.version)
with mlflow.start_run(run_name="Keras only"):
    print(mlflow.keras.log_model(model, name="model").model_uri)
"""


def scratch_project(folder: Path, environment: dict[str, str]) -> tuple[str, str]:
    """A project folder with a store holding the model logged both ways; (ONNX model URI, Keras-only URI)."""
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(REPO / name, folder / name)
    logged = subprocess.run([sys.executable, "-c", LOG_MODELS, str(REPO / "models" / "model.keras"),
                             str(REPO / "data" / "raw" / "mnist.npz")], cwd=folder, env=environment,
                            capture_output=True, text=True, check=True)
    with_onnx, keras_only = logged.stdout.strip().splitlines()[-2:]
    return with_onnx, keras_only


def timed(command: list[str], folder: Path, environment: dict[str, str], forget: bool = False) -> float:
    """Wall seconds of one run of `command`; `forget` first drops predict's remembered choice of model, as
    any write to the store does."""
    if forget:
        (folder / "mlflow.db-predict.json").unlink(missing_ok=True)
    started = time.perf_counter()
    subprocess.run(command, cwd=folder, env=environment, capture_output=True, check=True)
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def ready_and_stopped(command: list[str], folder: Path, environment: dict[str, str],
                      timeout: float = 120.0) -> tuple[float, float]:
    """Seconds from starting a server command until GET /health answers, and from a SIGTERM to the command
    until its port is free and it has exited."""
    port = free_port()
    started = time.perf_counter()
    server = subprocess.Popen([*command, "--port", str(port)], cwd=folder, env=environment,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        up = wait_for_health(server, port, started, timeout)
        stopping = time.perf_counter()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=timeout)
        while listening(port) and time.perf_counter() - stopping < timeout:
            time.sleep(0.01)
        return up, time.perf_counter() - stopping
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=60)


def wait_for_health(server: subprocess.Popen, port: int, started: float, timeout: float) -> float:
    while time.perf_counter() - started < timeout:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
            return time.perf_counter() - started
        except OSError:
            if server.poll() is not None:
                raise SystemExit(f"{server.args} exited with {server.returncode}") from None
            time.sleep(0.05)
    raise SystemExit(f"{server.args} did not answer /health within {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    arguments = parser.parse_args()
    mnistflow = str(Path(sys.executable).with_name("mnistflow"))
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        environment = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{folder / 'mlflow.db'}")
        with_onnx, keras_only = scratch_project(folder, environment)
        predict = [mnistflow, "predict", str(IMAGE)]  # @champion: the ONNX copy
        forgetting = {"predict one image (Keras only)": [mnistflow, "predict", "--model-uri", keras_only, str(IMAGE)],
                      "predict one image (@champion, store changed: asks MLflow)": predict}
        commands = {"predict one image (@champion, remembered)": predict, "mnistflow --help": [mnistflow, "--help"]}
        for name in ("register", "compare", "runs", "ui", "serve", "predict", "show", "review", "study", "tune",
                     "experiment", "team"):
            commands[f"mnistflow {name} --help"] = [mnistflow, name, "--help"]
        servers = {"ui": [mnistflow, "ui"], "serve": [mnistflow, "serve", "--model-uri", with_onnx]}
        stages = [f"{name} {stage}" for name in servers for stage in ("ready (GET /health)", "stopped (SIGTERM)")]
        seconds: dict[str, list[float]] = {name: [] for name in [*forgetting, *commands, *stages]}
        for _ in range(arguments.repeats):
            for name, command in forgetting.items():
                seconds[name].append(timed(command, folder, environment, forget=True))
            for name, command in commands.items():
                seconds[name].append(timed(command, folder, environment))
            for name, command in servers.items():
                up, down = ready_and_stopped(command, folder, environment)
                seconds[f"{name} ready (GET /health)"].append(up)
                seconds[f"{name} stopped (SIGTERM)"].append(down)
    base = statistics.median(seconds["predict one image (Keras only)"])
    print("| command | min s | median s | max s | median / Keras-only predict |\n|---|---|---|---|---|")
    for name, measured in seconds.items():
        median = statistics.median(measured)
        print(f"| {name} | {min(measured):.2f} | {median:.2f} | {max(measured):.2f} | {median / base:.2f} |")


if __name__ == "__main__":
    main()
