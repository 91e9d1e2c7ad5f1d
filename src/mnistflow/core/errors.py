"""The one error family, and how entry points turn it into one line.

Rule: an entry point (a stage's or a command's ``main``, wrapped in ``one_line_errors``) prints one line and
exits 2 for a ``MnistflowError`` (a param, data file, command-line value, image file or tracking store the
user can fix) and for the OSErrors of file access (missing, unreadable or read-only file, full disk). Ctrl-C
exits 130 and SIGTERM 143, each with one line. Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable

USER_ERROR_EXIT = 2
INTERRUPTED_EXIT = 130
TERMINATED_EXIT = 143
FILE_ACCESS_ERRNOS = frozenset({errno.ENOENT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT,
                                errno.EISDIR, errno.ENOTDIR, errno.ENAMETOOLONG})


class MnistflowError(Exception):
    """Something the user can fix; the message names the key, file or store and what was expected."""


class ParamsError(MnistflowError):
    """A params file, study file or override that cannot be used."""


class DataError(MnistflowError):
    """A data or pipeline file that cannot be used."""


class UsageError(MnistflowError):
    """A command-line value that cannot be used."""


class TrackingError(MnistflowError):
    """The tracking store cannot be used; the message says which store and why."""


class ImageFileError(MnistflowError):
    """A file that cannot be read as a digit; the message names the file."""


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM, so that runs end KILLED like on Ctrl-C."""


def raise_terminated(signum, frame):
    """Raise Terminated, unless Python is inside a finalizer: it would print the exception there and drop it.

    Python runs a signal handler in whatever frame the main thread is in, including a ``__del__`` called by
    the garbage collector. The signal is then sent again 10 ms later, when that finalizer has returned.
    """
    if _inside_finalizer(frame):
        threading.Timer(0.01, os.kill, (os.getpid(), signum)).start()
        return
    raise Terminated(f"received signal {signum}")


def _inside_finalizer(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


def is_file_access_error(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in FILE_ACCESS_ERRNOS


def ignore_further_signals() -> None:
    """While an entry point is exiting, a second Ctrl-C or SIGTERM must not turn into a traceback."""
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_IGN)


def _report_interrupt(message: str, code: int) -> SystemExit:
    ignore_further_signals()
    print(message, file=sys.stderr)
    return SystemExit(code)


def run_as_program(main: Callable[[], None]) -> None:
    """A stage run as a program (`python -m`). Once `main` has returned, its outs are in place and its run has
    ended, so a Ctrl-C or SIGTERM while the interpreter exits (TensorFlow's teardown takes a second) is ignored:
    the stage exits 0 instead of dying with 143 and no line, which would fail a complete stage under DVC."""
    signal.signal(signal.SIGTERM, raise_terminated)  # `main` restores this, so that no default handler kills us
    with contextlib.suppress(KeyboardInterrupt, Terminated):  # arrived just after `main` returned (inside, `main`
        main()                                                 # reports it)
    ignore_further_signals()


def one_line_errors(main: Callable[..., None]) -> Callable[..., None]:
    """Run `main` with SIGTERM raising Terminated; report user errors and interrupts in one line."""

    @functools.wraps(main)
    def wrapper(*arguments, **keywords):
        in_main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, raise_terminated) if in_main_thread else None
        try:
            return main(*arguments, **keywords)
        except KeyboardInterrupt:
            raise _report_interrupt("interrupted", INTERRUPTED_EXIT) from None
        except Terminated:
            raise _report_interrupt("terminated", TERMINATED_EXIT) from None
        except MnistflowError as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(USER_ERROR_EXIT) from None
        except OSError as error:
            if not is_file_access_error(error):
                raise
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(USER_ERROR_EXIT) from None
        finally:
            if previous is not None and signal.getsignal(signal.SIGTERM) is raise_terminated:
                signal.signal(signal.SIGTERM, previous)

    return wrapper
