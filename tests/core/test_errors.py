"""The entry-point rule: user errors and file access are one line (exit 2), interrupts 130 / 143, bugs trace."""

import errno
import signal
import subprocess
import sys

import pytest

from mnistflow.core.errors import DataError, Terminated, one_line_errors, raise_terminated


def _run(error: BaseException, capsys) -> tuple[int, str]:
    @one_line_errors
    def main():
        raise error

    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code, capsys.readouterr().err


def test_user_errors_and_file_access_are_one_line(capsys):
    assert _run(DataError("data.npz: not a readable .npz archive"), capsys) == (
        2, "error: data.npz: not a readable .npz archive\n")
    code, message = _run(FileNotFoundError(errno.ENOENT, "No such file or directory", "x.png"), capsys)
    assert code == 2 and message.startswith("error: [Errno 2] No such file or directory: 'x.png'")
    assert _run(OSError(errno.ENOSPC, "No space left on device"), capsys)[0] == 2


def test_interrupts_exit_130_and_143_with_one_line(capsys):
    assert _run(KeyboardInterrupt(), capsys) == (130, "interrupted\n")
    assert _run(Terminated("received signal 15"), capsys) == (143, "terminated\n")
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN  # a second signal cannot turn into a traceback


def test_bugs_keep_their_traceback():
    @one_line_errors
    def main():
        raise ConnectionResetError(errno.ECONNRESET, "reset")  # an OSError, but not one of file access

    with pytest.raises(ConnectionResetError):
        main()
    with pytest.raises(ZeroDivisionError):
        one_line_errors(lambda: 1 / 0)()


def test_sigterm_raises_terminated_inside_an_entry_point_only():
    seen = []

    @one_line_errors
    def main():
        seen.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)
    main()
    assert seen == [raise_terminated] and signal.getsignal(signal.SIGTERM) is before


FINALIZER_SCRIPT = '''
import gc, os, signal, sys, time
from mnistflow.core.errors import one_line_errors

class Handle:  # like GitPython's Repo, whose __del__ ran during garbage collection when this was found
    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:  # Python runs the handler here, inside the finalizer
            pass

@one_line_errors
def main():
    handle = Handle()
    handle.cycle = handle
    del handle
    gc.collect()
    time.sleep(5)  # the signal must not have been dropped: the command ends here as terminated
    print("finished")

main()
'''


def test_sigterm_inside_a_finalizer_still_terminates_the_command(tmp_path):
    """Python prints and drops an exception raised in __del__: SIGTERM there must be delivered once it returns."""
    script = tmp_path / "finalizer.py"
    script.write_text(FINALIZER_SCRIPT)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (143, "", "terminated\n")
