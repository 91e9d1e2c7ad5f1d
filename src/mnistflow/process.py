"""Process ties: a stage or study worker must not outlive the process that started it."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int | None = None) -> None:
    """Linux: have the kernel send SIGTERM to this process when its parent dies.

    A `dvc repro` killed by `timeout` then takes its stage along (the stage's run ends KILLED), and a killed
    study takes its workers. If the parent `parent_pid` is already gone, exit at once.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if parent_pid is not None and os.getppid() != parent_pid:
        raise SystemExit(0)
