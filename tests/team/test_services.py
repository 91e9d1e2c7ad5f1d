"""The team stack's services are really its own: a port another server holds, and a server whose leader was
killed while its workers go on serving."""

import http.server
import os
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from mnistflow.core import process
from mnistflow.team.stack import Stack

from conftest import free_port, tool_environment

pytestmark = pytest.mark.slow
pytest.importorskip("dvc_s3", reason="pip install -c requirements.lock -e '.[team]'")


def team(*arguments: str, folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["mnistflow", "team", *arguments, "--dir", str(folder)], cwd=folder.parent,
                          env=tool_environment(), capture_output=True, text=True, timeout=300)


class Healthy(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the standard library's name
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *arguments):
        pass


def answers_health(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_a_port_that_another_server_holds_is_one_line_and_nothing_is_left_running(tmp_path):
    port = free_port()
    stand_in = http.server.ThreadingHTTPServer(("127.0.0.1", port), Healthy)
    threading.Thread(target=stand_in.serve_forever, daemon=True).start()
    try:
        started = team("start", "--port", str(port), "--s3-port", str(free_port()), folder=tmp_path / "stack")
    finally:
        stand_in.shutdown()
    assert started.returncode == 2, started.stdout
    assert started.stderr.count("\n") == 1 and f"port {port} on 127.0.0.1 is taken" in started.stderr
    assert "export" not in started.stdout and not (tmp_path / "stack" / "stack.json").exists()
    assert subprocess.run(["pgrep", "-f", str(tmp_path / "stack")], capture_output=True).stdout == b""


def test_status_and_stop_follow_a_servers_workers_after_its_leader_is_killed_and_status_tells_of_the_kept_data(
        tmp_path):
    folder, port = tmp_path / "stack", free_port()
    started = team("start", "--port", str(port), "--s3-port", str(free_port()), folder=folder)
    assert started.returncode == 0, started.stderr
    server = Stack.load(folder).server
    try:
        os.kill(server.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while process.is_alive(server.pid, server.started) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert answers_health(port)  # the workers still serve
        status = team("status", folder=folder)
        assert "tracking server  running" in status.stdout, status.stdout
        stopped = team("stop", folder=folder)
        assert stopped.returncode == 0 and "tracking server" in stopped.stdout, stopped.stdout
        assert not answers_health(port) and not process.group_alive(server.pid)
        after = team("status", folder=folder)  # the data stays for the next start
        assert after.returncode == 1 and "stopped; its data is kept there" in after.stdout, after.stdout
    finally:
        team("stop", folder=folder)
        process.stop_process_group(server.pid, 5)


def test_a_stack_on_every_interface_warns_and_answers_requests_addressed_to_this_machines_name(tmp_path):
    import socket

    port = free_port()
    started = team("start", "--host", "0.0.0.0", "--port", str(port), "--s3-port", str(free_port()),
                   folder=tmp_path / "stack")
    try:
        assert started.returncode == 0, started.stderr
        name = socket.gethostname()
        assert started.stderr.count("\n") == 1 and started.stderr.startswith(
            f"warning: --host 0.0.0.0: the MLflow server answers anyone who reaches port {port} of this machine, "
            "with no login"), started.stderr
        assert started.stderr.endswith(f"teammates use MLFLOW_TRACKING_URI=http://{name}:{port}\n")
        assert started.stdout.splitlines()[-1] == f"export MLFLOW_TRACKING_URI=http://127.0.0.1:{port}"
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=1",
                                         headers={"Host": f"{name}:{port}"})  # as a teammate's client sends it
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
    finally:
        team("stop", folder=tmp_path / "stack")
