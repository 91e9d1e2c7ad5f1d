"""Provenance tags: versions, git and dvc.lock hashes."""



from mnistflow import tracking


def test_dvc_lock_tags(tmp_path):
    (tmp_path / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  prepare:\n    deps:\n    - path: data/raw/mnist.npz\n      md5: abc\n"
        "    outs:\n    - path: data/prepared\n      md5: def.dir\n")
    assert tracking.dvc_lock_tags(tmp_path / "dvc.lock") == {
        "dvc.prepare.data/raw/mnist.npz": "abc", "dvc.prepare.data/prepared": "def.dir"}
    assert tracking.dvc_lock_tags(tmp_path / "missing.lock") == {}


def test_git_tags_name_the_commit_and_whether_tracked_files_changed(tmp_path, monkeypatch):
    import subprocess

    from mnistflow.tracking.provenance import git_tags

    monkeypatch.chdir(tmp_path)
    assert git_tags() == {"git_commit": "unknown", "git_dirty": "unknown"}  # not a repository
    subprocess.run(["git", "init", "-q"], check=True)
    (tmp_path / "code.py").write_text("x = 1\n")
    subprocess.run(["git", "add", "code.py"], check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"], check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    (tmp_path / "untracked.txt").write_text("ignored by the flag\n")
    assert git_tags() == {"git_commit": head, "git_dirty": "False"}
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_tags()["git_dirty"] == "True"
