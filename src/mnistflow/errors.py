"""Turning expected failures into one clear line and a non-zero exit code."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

USER_ERROR_EXIT = 2


class UsageError(ValueError):
    """A command-line value that cannot be used."""


def user_errors() -> tuple[type[BaseException], ...]:
    """Failures caused by input or environment, reported in one line instead of a traceback."""
    from mnistflow.data import DataError
    from mnistflow.params import ParamsError

    # OSError: a missing or unwritable file, a full disk: the environment, not a bug.
    errors: list[type[BaseException]] = [UsageError, ParamsError, DataError, OSError]
    # Only modules already loaded can have raised their errors; importing them here would be slow.
    for module, name in (("mnistflow.tracking", "TrackingError"), ("mnistflow.images", "ImageFileError")):
        if module in sys.modules:
            errors.append(getattr(sys.modules[module], name))
    return tuple(errors)


def one_line_errors(main: Callable[..., None]) -> Callable[..., None]:
    """Run `main`; print `error: ...` on stderr and exit 2 for user errors, 130 on Ctrl-C."""

    @functools.wraps(main)
    def wrapper(*arguments, **keywords):
        try:
            return main(*arguments, **keywords)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise SystemExit(130) from None
        except user_errors() as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(USER_ERROR_EXIT) from None

    return wrapper
