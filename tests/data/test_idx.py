"""IDX files: the arrays come back as written, gzipped or not; a wrong magic or a short body is one line."""

import numpy as np
import pytest

from mnistflow.core.errors import DataError
from mnistflow.data import idx


@pytest.mark.parametrize("name", ["images.idx", "images.idx.gz"])
def test_an_idx_file_round_trips(tmp_path, name):
    array = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    idx.write(tmp_path / name, array)
    np.testing.assert_array_equal(idx.read(tmp_path / name), array)


def test_a_wrong_magic_number_is_named(tmp_path):
    (tmp_path / "bad-idx").write_bytes(b"\x12\x34\x08\x01" + bytes(8))
    with pytest.raises(DataError, match=r"bad-idx: not an IDX file \(magic number 12340801"):
        idx.read(tmp_path / "bad-idx")


def test_a_truncated_body_is_named(tmp_path):
    idx.write(tmp_path / "labels", np.arange(10, dtype=np.uint8))
    (tmp_path / "labels").write_bytes((tmp_path / "labels").read_bytes()[:-3])
    with pytest.raises(DataError, match=r"labels: IDX body holds 7 bytes; its header \(10,\) needs 10"):
        idx.read(tmp_path / "labels")
