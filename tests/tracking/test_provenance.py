"""Provenance: git state that ignores what DVC rewrites, run names from DVC experiments."""

import subprocess

from mnistflow.tracking.provenance import git_tags, run_name


def _commit(folder) -> str:
    subprocess.run(["git", "add", "-A"], cwd=folder, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"], cwd=folder, check=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=folder).stdout.strip()


def test_git_tags_name_the_commit_and_whether_tracked_files_changed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert git_tags() == {"git_commit": "unknown", "git_dirty": "unknown"}  # not a repository
    subprocess.run(["git", "init", "-q"], check=True)
    (tmp_path / "code.py").write_text("x = 1\n")
    head = _commit(tmp_path)
    (tmp_path / "untracked.txt").write_text("ignored by the flag\n")
    assert git_tags() == {"git_commit": head, "git_dirty": "False"}
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_tags()["git_dirty"] == "True"


def test_what_dvc_rewrites_does_not_make_a_checkout_dirty(tmp_path, monkeypatch):
    from mnistflow.core import fingerprint

    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q"], check=True)
    (tmp_path / "dvc.yaml").write_text("stages:\n  train:\n    cmd: x\n    outs:\n    - models/history.csv:\n"
                                       "        cache: false\n")
    (tmp_path / "models").mkdir()
    for name in ("dvc.lock", "models/history.csv", "params.yaml"):
        (tmp_path / name).write_text("before\n")
    _commit(tmp_path)
    managed = fingerprint.dvc_managed(tmp_path / "dvc.yaml")
    (tmp_path / "dvc.lock").write_text("rewritten by dvc\n")
    (tmp_path / "models" / "history.csv").write_text("rewritten by the stage\n")
    assert git_tags()["git_dirty"] == "True"  # without the exclusion, as before
    assert git_tags(managed)["git_dirty"] == "False"
    (tmp_path / "params.yaml").write_text("edited\n")
    assert git_tags(managed)["git_dirty"] == "True"


def test_runs_are_named_after_their_dvc_experiment(monkeypatch):
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    assert run_name("dvc repro mlp seed=1") == "dvc repro mlp seed=1"
    monkeypatch.setenv("DVC_EXP_NAME", "cnn")
    assert run_name("dvc repro cnn seed=1") == "cnn"
    assert run_name("crossval cnn K=5", " crossval") == "cnn crossval"  # the experiment's cross-validation run
