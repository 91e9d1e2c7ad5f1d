"""`mnistflow serve` (`mlflow models serve`) on the champion, bound to loopback, answers like `mnistflow predict`,
without TensorFlow's native start-up lines."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mnistflow.cli import app

from conftest import free_port

pytestmark = pytest.mark.slow
# What TensorFlow's native libraries print while loading, e.g. "E0000 00:00:17... cuda_platform.cc:52] failed
# call to cuInit" or "I0000 00:00:17... port.cc:153] oneDNN custom operations are on".
NATIVE_LINE = re.compile(r"^[IWE]\d{4} |^WARNING: All log messages before absl")


def _wait_until_up(port: int, server: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"server exited: {server.stdout.read()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise AssertionError("server did not come up")


def _loaded_tensorflow(pid: int) -> list[int]:
    """The processes of the server's group that have TensorFlow's native library mapped."""
    import psutil

    processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    return [process.pid for process in processes
            if "libtensorflow" in Path(f"/proc/{process.pid}/maps").read_text()]


def test_served_champion_matches_predict(make_run, store, tmp_path, raw_mnist):
    make_run(0.9)
    runner = CliRunner()
    assert runner.invoke(app, ["register"]).exit_code == 0
    np.save(tmp_path / "digits.npy", raw_mnist["x_test"][:8])
    local = json.loads(runner.invoke(app, ["predict", "--json", str(tmp_path / "digits.npy")]).stdout)
    port = free_port()
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    server = subprocess.Popen(["mnistflow", "serve", "--port", str(port)], env=environment, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        _wait_until_up(port, server)
        body = json.dumps({"inputs": raw_mnist["x_test"][:8].astype(float).tolist()}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            served = np.array(json.loads(response.read())["predictions"])
        bad = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=b'{"inputs": [[[NaN]]]}',
                                     headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(bad, timeout=60)
        assert refused.value.code == 400 and "NaN or infinite" in json.loads(refused.value.read())["message"]
        assert not _loaded_tensorflow(server.pid)  # the ONNX copy answers: no TensorFlow in the server
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output = server.communicate(timeout=30)[0]
    assert not [line for line in output.splitlines() if NATIVE_LINE.match(line)], output[-3000:]  # quiet
    assert f"serving models:/mnist-digits@champion on http://127.0.0.1:{port}" in output, output  # the banner
    assert output.count('"POST /invocations HTTP/1.1"') == 2 and "Downloading artifacts" not in output, output
    assert served.shape == (8, 10)
    assert served.argmax(axis=1).tolist() == [int(np.argmax(row["probabilities"])) for row in local]
    np.testing.assert_allclose(served, [row["probabilities"] for row in local], atol=1e-5)


@pytest.mark.parametrize("command", [["serve"], ["ui"]])
def test_sigterm_to_serve_or_ui_leaves_no_process_and_frees_the_port(make_run, store, command):
    """The deadline tells a hang from a slow machine; how fast it stops is bench/stop_time.py's."""
    import psutil

    make_run(0.9)
    assert CliRunner().invoke(app, ["register"]).exit_code == 0
    port = free_port()
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    server = subprocess.Popen(["mnistflow", *command, "--port", str(port)], env=environment, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=Path(store.removeprefix("sqlite:///")).parent)
    _wait_until_listening(port, server)
    members = psutil.Process(server.pid).children(recursive=True)
    server.send_signal(signal.SIGTERM)  # to mnistflow alone, as `kill` or a service manager sends it
    deadline = time.monotonic() + 60
    while _listening(port) or any(member.is_running() and member.status() != psutil.STATUS_ZOMBIE
                                  for member in members):
        assert time.monotonic() < deadline, f"{[m.pid for m in members if m.is_running()]} {_listening(port)}"
        time.sleep(0.05)
    assert server.wait(timeout=60) == 143


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait_until_listening(port: int, server: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while not _listening(port):
        assert server.poll() is None, server.stdout.read()[-3000:]
        assert time.monotonic() < deadline, "server did not come up"
        time.sleep(0.2)


def test_a_champion_whose_files_are_gone_is_one_line_in_predict_and_serve(make_run, store, tmp_path):
    import shutil

    from mlflow.store.artifact.models_artifact_repo import ModelsArtifactRepository

    make_run(0.9)
    runner = CliRunner()
    assert runner.invoke(app, ["register"]).exit_code == 0
    files = ModelsArtifactRepository.get_underlying_uri("models:/mnist-digits@champion").removeprefix("file://")
    shutil.rmtree(files)
    expected = (f"error: cannot load model 'models:/mnist-digits@champion': its files are gone from the artifact "
                f"store ({files} does not exist); pass --model-uri runs:/<run id>/model to use another run's model\n")
    predicted = runner.invoke(app, ["predict", str(tmp_path / "x.png")])
    assert (predicted.exit_code, predicted.stderr) == (2, expected)
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    served = subprocess.run(["mnistflow", "serve", "--port", str(free_port())], env=environment, capture_output=True,
                            text=True, timeout=300)
    assert (served.returncode, served.stderr) == (2, "model: mnist-digits v1 @champion\n" + expected)
