"""File hashes as DVC takes them, for the stages dvc.yaml declares."""

import hashlib

from mnistflow.core import fingerprint

DVC_YAML = """stages:
  prepare:
    cmd: p
    deps: [raw.txt]
    outs: [prepared]
  train:
    cmd: t
    deps: [prepared, code.py]
    outs:
      - model.bin
      - history.csv:
          cache: false
    metrics: [metrics.json]
"""


def _project(tmp_path):
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    (tmp_path / "raw.txt").write_text("raw")
    (tmp_path / "prepared").mkdir()
    (tmp_path / "prepared" / "b.npz").write_bytes(b"b")
    (tmp_path / "prepared" / "a.npz").write_bytes(b"a" * 3_000_000)  # more than one read chunk
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "model.bin").write_bytes(b"weights")
    return tmp_path


def test_file_md5_is_the_plain_md5_of_the_content(tmp_path):
    (tmp_path / "big").write_bytes(b"x" * 2_500_000)
    assert fingerprint.file_md5(tmp_path / "big") == hashlib.md5(b"x" * 2_500_000).hexdigest()


def test_provenance_hashes_every_dep_and_the_outs_asked_for(tmp_path):
    project = _project(tmp_path)
    used = fingerprint.provenance(project / "dvc.yaml", with_outs=("train",))
    assert used["prepare"] == {"deps": {"raw.txt": hashlib.md5(b"raw").hexdigest()}}
    assert list(used["train"]["deps"]) == ["prepared/a.npz", "prepared/b.npz", "code.py"]
    assert used["train"]["deps"]["prepared/b.npz"] == hashlib.md5(b"b").hexdigest()
    assert used["train"]["outs"] == {"model.bin": hashlib.md5(b"weights").hexdigest(), "history.csv": "missing",
                                     "metrics.json": "missing"}


def test_dvc_managed_names_dvc_lock_and_every_out(tmp_path):
    project = _project(tmp_path)
    assert fingerprint.dvc_managed(project / "dvc.yaml") == [
        str(project / name) for name in ("dvc.lock", "prepared", "model.bin", "history.csv", "metrics.json")]
    assert fingerprint.dvc_managed(project / "missing.yaml") == []
