"""A process tied to its parent gets SIGTERM when the parent dies."""

import subprocess
import sys
import time
from pathlib import Path

CHILD = """
import signal, sys, time
from mnistflow.process import die_with_parent
die_with_parent()
signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
print("ready", flush=True)
time.sleep(120)
"""
PARENT = f"""
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", {CHILD!r}], stdout=subprocess.PIPE, text=True)
child.stdout.readline()
print(child.pid, flush=True)
time.sleep(120)
"""


def test_the_child_dies_with_its_killed_parent():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    assert Path(f"/proc/{child_pid}").exists()
    parent.kill()  # SIGKILL: the parent can do nothing; the kernel signals the child
    parent.wait()
    deadline = time.monotonic() + 20
    while Path(f"/proc/{child_pid}").exists() and "State:\tZ" not in Path(f"/proc/{child_pid}/status").read_text():
        assert time.monotonic() < deadline, "the child outlived its parent"
        time.sleep(0.2)
