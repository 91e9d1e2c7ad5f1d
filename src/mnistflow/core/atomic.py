"""Write files so that a reader sees the old file or the whole new one, never a half-written file."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds. The file gets
    `mode`, or the umask's default; until then it is its owner's alone (0600, from mkstemp)."""
    temporary = temporary_sibling(path)
    try:
        with naming(path):
            yield temporary
        move_into_place({temporary: Path(path)}, mode)
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def naming(path: str | Path) -> Iterator[None]:
    """An OSError without a file name (a write to a full disk) raised in the block names `path`."""
    try:
        yield
    except OSError as error:
        if error.filename is not None:
            raise
        raise OSError(error.errno, error.strerror, str(path)) from error


def temporary_sibling(path: str | Path) -> Path:
    """A new, empty temporary file beside `path` (same folder, so a rename into place is atomic), named with
    this process's id; those of processes that are gone (killed with -9) are removed first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=path.suffix)
    os.close(handle)
    return Path(temporary)


def remove_stale_siblings(path: Path) -> list[Path]:
    """Remove the temporary files and folders beside `path` that a process which is gone left behind."""
    stale = [sibling for sibling in path.parent.glob(f".{glob.escape(path.name)}.*")
             if not _process_alive(sibling.name[len(path.name) + 2:].partition(".")[0])]
    for sibling in stale:
        if sibling.is_dir() and not sibling.is_symlink():
            shutil.rmtree(sibling, ignore_errors=True)
        else:
            sibling.unlink(missing_ok=True)
    return stale


def _process_alive(pid: str) -> bool:
    """Whether the process of a temporary's name runs; a name without one (an older version's) counts as gone."""
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def move_into_place(moves: dict[Path, Path], mode: int | None = None) -> None:
    """Rename each finished temporary file onto its destination, with `mode` or the umask's default."""
    for temporary, destination in moves.items():
        os.chmod(temporary, 0o666 & ~_umask() if mode is None else mode)
        os.replace(temporary, destination)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text)


def write_private_text(path: str | Path, text: str) -> None:
    """Like write_text, for a secret: the file is its owner's alone (0600) from its creation on."""
    with atomic_path(path, mode=0o600) as temporary:
        temporary.write_text(text)


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def temporary_directory(path: str | Path) -> Path:
    """A new, empty temporary folder beside `path`, to be moved onto it by `replace_directory`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(path)
    return Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}."))


def replace_directory(temporary: Path, path: str | Path) -> None:
    """Put the finished folder `temporary` in place of `path`: a reader sees the old or the new one."""
    path = Path(path)
    os.chmod(temporary, 0o777 & ~_umask())
    if path.exists():
        retired = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.old."))
        os.replace(path, retired / path.name)
        os.replace(temporary, path)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(temporary, path)


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside `path`; it replaces `path` only if the block succeeds.

    A reader, and DVC, sees the old folder or the complete new one, never a half-written one.
    """
    temporary = temporary_directory(path)
    try:
        with naming(path):
            yield temporary
        replace_directory(temporary, path)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
