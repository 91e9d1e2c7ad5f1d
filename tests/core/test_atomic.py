"""Atomic outs: a reader sees the old file or folder, or the complete new one, never a partial one."""

import errno
import os

import pytest

from mnistflow.core import atomic


def test_a_file_is_replaced_only_when_the_block_succeeds(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic.atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old" and sorted(path.name for path in tmp_path.iterdir()) == ["out.txt"]
    atomic.write_json(target, {"b": 1, "a": 2})
    assert target.read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_folder_is_swapped_in_whole_or_not_at_all(tmp_path):
    target = tmp_path / "figures"
    target.mkdir()
    (target / "old.png").write_text("old")
    with pytest.raises(OSError), atomic.atomic_directory(target) as temporary:
        (temporary / "a.png").write_text("new")
        raise OSError(28, "No space left on device")
    assert sorted(path.name for path in target.iterdir()) == ["old.png"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["figures"]  # no temporary folder left
    with atomic.atomic_directory(target) as temporary:
        (temporary / "a.png").write_text("new")
        assert not (target / "a.png").exists()  # nothing is visible before the block completes
    assert sorted(path.name for path in target.iterdir()) == ["a.png"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["figures"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o777 & ~_umask())


@pytest.mark.parametrize("writer", [atomic.atomic_path, atomic.atomic_directory])
def test_a_full_disk_names_the_file_being_written(tmp_path, writer):
    """A write to a full disk fails without a file name (the kernel's ENOSPC, here from /dev/full)."""
    target = tmp_path / "history.csv"
    with pytest.raises(OSError) as raised, writer(target), open("/dev/full", "w") as full:
        full.write("x")
        full.flush()
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(target)
    assert str(target) in str(raised.value) and not target.exists()


def test_temporaries_of_a_process_that_is_gone_are_removed_and_a_living_ones_kept(tmp_path):
    """`kill -9` during train leaves `.model.keras.<pid>.XXXX.keras`: the next write beside it removes it."""
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(gone.stdout)
    stale = [tmp_path / f".model.keras.{dead_pid}.abcd1234.keras", tmp_path / ".model.keras.k2j3h4g5.keras"]
    stale_folder = tmp_path / f".prepared.{dead_pid}.x1y2z3"
    living = tmp_path / f".model.keras.{os.getpid()}.efgh5678.keras"
    for path in (*stale, living):
        path.write_bytes(b"")
    (stale_folder / "inner").mkdir(parents=True)
    other = tmp_path / "model.keras.notes"
    other.write_text("a file of the user's")

    temporary = atomic.temporary_sibling(tmp_path / "model.keras")
    atomic.temporary_directory(tmp_path / "prepared")
    assert not any(path.exists() for path in (*stale, stale_folder))
    assert living.exists() and other.exists() and temporary.exists()
    assert temporary.name.startswith(f".model.keras.{os.getpid()}.")
