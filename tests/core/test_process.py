"""A process tied to its parent gets SIGTERM when the parent dies, also when a shell stands between them."""

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from mnistflow.core import process

CHILD = """
import os, signal, sys, time
from mnistflow.core.process import die_with_parent
die_with_parent()
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
print(os.getpid(), flush=True)
time.sleep(120)
"""


def parent_program(launch: str) -> str:
    """A parent that starts CHILD directly ("direct") or through `<shell> -c` the way DVC does."""
    command = f"[sys.executable, '-c', {CHILD!r}]"
    if launch != "direct":  # a second command after the child stops the shell from exec-ing into it
        command = f"[{launch!r}, '-c', shlex.join({command}) + '; true']"
    return f"""
import shlex, subprocess, sys, time
child = subprocess.Popen({command}, stdout=subprocess.PIPE, text=True)
print(child.stdout.readline().strip(), flush=True)
time.sleep(120)
"""


def wait_until_gone(pid: int, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    started = process.start_time(pid)
    while started is not None and process.is_alive(pid, started):
        assert time.monotonic() < deadline, "the child outlived its parent"
        time.sleep(0.2)


@pytest.mark.parametrize("launch", ["direct", "/bin/sh", "/bin/bash"])
def test_the_child_dies_with_its_killed_parent(launch):
    parent = subprocess.Popen([sys.executable, "-c", parent_program(launch)], stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    child = process.process_facts(child_pid)
    assert child is not None and child[1] != "Z"
    assert (child[2] == parent.pid) == (launch == "direct")
    parent.kill()  # SIGKILL: the parent can do nothing; the kernel or the watcher signals the child
    parent.wait()
    wait_until_gone(child_pid)


def test_launching_process_skips_shells_and_stops_at_the_first_other_process():
    shell = subprocess.Popen(["/bin/sh", "-c", f"{sys.executable} -c 'import time; time.sleep(60)'; true"])
    try:
        time.sleep(0.5)
        grandchild = int(subprocess.check_output(["pgrep", "-P", str(shell.pid)]).split()[0])
        assert process.launching_process(grandchild)[0] == grandchild  # python is no shell
        assert process.launching_process(shell.pid)[0] == os.getpid()
    finally:
        subprocess.run(["pkill", "-P", str(shell.pid)])
        shell.wait()


def test_a_reused_pid_or_a_zombie_is_not_alive():
    child = subprocess.Popen(["sleep", "60"])
    name, state, parent, started = process.process_facts(child.pid)
    assert (name, parent) == ("sleep", os.getpid()) and process.is_alive(child.pid, started)
    assert not process.is_alive(child.pid, started + "0")
    child.kill()
    deadline = time.monotonic() + 30
    while process.process_facts(child.pid)[1] != "Z":  # killed, not yet reaped: a zombie
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert not process.is_alive(child.pid, started)
    child.wait()
    assert process.process_facts(child.pid) is None


# A server like `mlflow ui`: the leader starts a worker that holds the port and ignores the leader's death.
SERVER = """
import subprocess, sys, time
worker = subprocess.Popen([sys.executable, "-c", '''
import signal, socket, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a worker that outlives a polite request
listener = socket.socket(); listener.bind(("127.0.0.1", int(sys.argv[1]))); listener.listen()
print("listening", flush=True)
time.sleep(600)
''', sys.argv[1]])
time.sleep(600)
"""

RUNNER = """
import sys
from mnistflow.core.errors import one_line_errors
from mnistflow.core.process import run_group

@one_line_errors
def main():
    raise SystemExit(run_group([sys.executable, "-c", sys.argv[1], sys.argv[2]], dict(__import__("os").environ)))

main()
"""


def _port_is_free(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_run_group_stops_the_whole_server_and_frees_its_port(signum):
    from conftest import free_port, interruptible

    port = free_port()
    runner = subprocess.Popen([sys.executable, "-c", RUNNER, SERVER, str(port)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
    assert runner.stdout.readline().strip() == "listening"  # the worker has bound the port
    members = psutil.Process(runner.pid).children(recursive=True)
    assert len(members) == 2 and not _port_is_free(port)
    runner.send_signal(signum)
    assert runner.wait(timeout=30) == {signal.SIGTERM: 143, signal.SIGINT: 130}[signum]
    deadline = time.monotonic() + 15
    while any(member.is_running() and member.status() != psutil.STATUS_ZOMBIE for member in members):
        assert time.monotonic() < deadline, [member.pid for member in members if member.is_running()]
        time.sleep(0.05)
    assert _port_is_free(port)
