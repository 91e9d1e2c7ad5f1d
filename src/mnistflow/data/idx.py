"""IDX files, the format MNIST, Fashion-MNIST, KMNIST and EMNIST ship in, gzipped or not.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions), one big-endian
32-bit size per dimension, then the values. Only unsigned bytes (type 0x08) are read: every 28x28 image
dataset in this format stores its pixels and labels that way.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from mnistflow.core.errors import DataError

UNSIGNED_BYTE = 0x08
MAX_DIMENSIONS = 3


def read(path: Path) -> np.ndarray:
    """The uint8 array in an IDX file (`.gz` or not); a wrong magic number or a short body is a DataError."""
    content = _content(path)
    if len(content) < 4 or content[0] != 0 or content[1] != 0:
        raise DataError(f"{path}: not an IDX file (magic number {content[:4].hex() or 'missing'}, expected "
                        f"0000080N)")
    if content[2] != UNSIGNED_BYTE or not 1 <= content[3] <= MAX_DIMENSIONS:
        raise DataError(f"{path}: IDX type 0x{content[2]:02x} with {content[3]} dimensions; expected unsigned "
                        f"bytes (0x08) in 1-{MAX_DIMENSIONS} dimensions")
    header = 4 + 4 * content[3]
    if len(content) < header:
        raise DataError(f"{path}: truncated IDX header ({len(content)} bytes)")
    shape = tuple(int(size) for size in np.frombuffer(content[4:header], ">u4"))
    expected = int(np.prod(shape))
    if len(content) - header != expected:
        raise DataError(f"{path}: IDX body holds {len(content) - header:,} bytes; its header {shape} needs "
                        f"{expected:,} (truncated or not one file)")
    return np.frombuffer(content[header:], np.uint8).reshape(shape).copy()


def write(path: Path, array: np.ndarray) -> None:
    """An IDX file of a uint8 array, gzipped when the name ends in .gz (for tests and conversions)."""
    array = np.ascontiguousarray(array, np.uint8)
    content = (bytes([0, 0, UNSIGNED_BYTE, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
               + array.tobytes())
    path.write_bytes(gzip.compress(content, mtime=0) if path.suffix == ".gz" else content)


def _content(path: Path) -> bytes:
    raw = path.read_bytes()
    if not raw.startswith(b"\x1f\x8b"):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"{path}: not a readable gzip file ({error})") from None
