"""Process ties: a stage or study worker must not outlive the process that started it."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

PR_SET_PDEATHSIG = 1
SHELLS = frozenset({"sh", "dash", "bash", "zsh", "ksh", "mksh", "busybox"})
WATCH_SECONDS = 0.5


def die_with_parent(parent_pid: int | None = None) -> None:
    """Linux: have the kernel send SIGTERM to this process when its parent dies.

    A `dvc repro` killed by `timeout` then takes its stage along (the stage's run ends KILLED), and a killed
    study takes its workers. DVC starts a stage through `$SHELL -c` (or `/bin/sh -c` when `$SHELL` is unset),
    and dash keeps itself between DVC and the stage: the stage's parent is then a shell that outlives DVC. So
    when the parent is a shell, a watcher thread also sends SIGTERM once the nearest non-shell ancestor is gone.
    If the parent `parent_pid` is already gone, exit at once.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if parent_pid is not None and os.getppid() != parent_pid:
        raise SystemExit(0)
    launcher = launching_process(os.getppid())
    if launcher is not None and launcher[0] != os.getppid():
        threading.Thread(target=_terminate_when_gone, args=launcher, name="launcher-watch", daemon=True).start()


def _stat(pid: int | str) -> tuple[str, list[str]] | None:
    """(command name, the fields after it) of /proc/<pid>/stat, or None where the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()


def process_facts(pid: int) -> tuple[str, str, int, str] | None:
    """(command name, state, parent pid, start time) from /proc, or None where the process is gone."""
    if (stat := _stat(pid)) is None:
        return None
    name, fields = stat
    return name, fields[0], int(fields[1]), fields[19]


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), None if gone."""
    facts = process_facts(pid)
    return None if facts is None else facts[3]


def launching_process(pid: int) -> tuple[int, str] | None:
    """(pid, start time) of `pid` or, where it is a shell, of its nearest ancestor that is not one."""
    while (facts := process_facts(pid)) is not None and facts[0] in SHELLS and facts[2] > 1:
        pid = facts[2]
    return None if facts is None else (pid, facts[3])


def is_alive(pid: int, start_time: str) -> bool:
    """Whether the process `pid` that started at `start_time` still runs (a zombie or a reused pid does not)."""
    facts = process_facts(pid)
    return facts is not None and facts[1] != "Z" and facts[3] == start_time


def _terminate_when_gone(pid: int, start_time: str) -> None:
    while is_alive(pid, start_time):
        time.sleep(WATCH_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)


def group_alive(group: int) -> bool:
    """Whether any process of process group `group` is still running (zombies count as gone)."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return any(_in_group_and_running(entry.name, group) for entry in Path("/proc").iterdir()
               if entry.name.isdigit())


def _in_group_and_running(pid: str, group: int) -> bool:
    stat = _stat(pid)
    return stat is not None and int(stat[1][2]) == group and stat[1][0] != "Z"


def stop_group(leader: subprocess.Popen, grace: float = 3.0) -> None:
    """Stop a process group started with start_new_session, and reap the leader. No member is left holding a
    port."""
    stop_process_group(leader.pid, grace)
    leader.wait()


def stop_process_group(leader_pid: int, grace: float = 30.0) -> None:
    """SIGTERM to every member of the group led by `leader_pid`, then SIGKILL to what is left after `grace`
    seconds. Works for a group another command started (a service launched by `team start`)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader_pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while group_alive(leader_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader_pid, signal.SIGKILL)


def run_group(command: list[str], environment: dict[str, str],
              stderr_sink: Callable[[IO[str]], None] | None = None,
              beside: Callable[[], None] | None = None) -> int:
    """Run a server in a process group of its own until it exits; its exit code.

    Ctrl-C or SIGTERM here (KeyboardInterrupt, Terminated) stops the whole group, children included, then
    goes on up. `beside`, if given, runs here while the server starts; an error in it stops the server too.
    `stderr_sink`, if given, reads the server's stderr until it closes.
    """
    leader = subprocess.Popen(command, env=environment, start_new_session=True, text=True,
                              stderr=subprocess.PIPE if stderr_sink else None)
    try:
        if beside is not None:
            beside()
        if stderr_sink is not None and leader.stderr is not None:
            stderr_sink(leader.stderr)
        return leader.wait()
    except BaseException:
        stop_group(leader)
        raise
