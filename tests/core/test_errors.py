"""The entry-point rule: user errors and file access are one line (exit 2), interrupts 130 / 143, bugs trace."""

import errno
import signal

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
