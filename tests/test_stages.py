"""Stage entry points: bad input gives one clear line (exit 2) before any work, and no outs at all."""

import pytest
from mlflow import MlflowClient

from conftest import RAW_DATA, small_params, write_yaml
from mnistflow.stages import evaluate, prepare, train


def _fails_with(capsys, main, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and error.startswith("error: ") and message in error


def test_prepare_writes_three_splits(tmp_path, capsys):
    params = write_yaml(tmp_path / "params.yaml", small_params())
    prepare.main(["--params", str(params), "--raw", str(RAW_DATA), "--out", str(tmp_path / "prepared")])
    assert sorted(p.name for p in (tmp_path / "prepared").iterdir()) == ["test.npz", "train.npz", "validation.npz"]
    assert "train: 1600 images" in capsys.readouterr().out


@pytest.mark.parametrize(("override", "message"), [
    ({"train": {"epochs": 0}}, "train.epochs must be an integer >= 1, got 0"),
    ({"train": {"optimizer": "adamm"}}, "train.optimizer must be one of"),
    ({"prepare": {"validation_fraction": 1.5}}, "prepare.validation_fraction must be in (0, 1)"),
])
def test_prepare_rejects_bad_params_and_writes_nothing(tmp_path, capsys, override, message):
    params = write_yaml(tmp_path / "params.yaml", small_params(**override))
    _fails_with(capsys, prepare.main, ["--params", str(params), "--raw", str(RAW_DATA), "--out",
                                       str(tmp_path / "prepared")], message)
    assert not (tmp_path / "prepared").exists()


def test_prepare_rejects_truncated_data(tmp_path, capsys):
    params = write_yaml(tmp_path / "params.yaml", small_params())
    truncated = tmp_path / "mnist.npz"
    truncated.write_bytes(RAW_DATA.read_bytes()[:5000])
    _fails_with(capsys, prepare.main, ["--params", str(params), "--raw", str(truncated), "--out",
                                       str(tmp_path / "prepared")], "mnist.npz: not a readable .npz archive")
    assert not (tmp_path / "prepared").exists()


def test_train_rejects_bad_params_before_any_run_or_out(tmp_path, capsys, store):
    params = write_yaml(tmp_path / "params.yaml", small_params())
    prepare.main(["--params", str(params), "--raw", str(RAW_DATA), "--out", str(tmp_path / "prepared")])
    bad = write_yaml(tmp_path / "bad.yaml", {**small_params(), "extra": 1})
    outs = ["--model", str(tmp_path / "m.keras"), "--history", str(tmp_path / "h.csv"),
            "--run-file", str(tmp_path / "run.json")]
    _fails_with(capsys, train.main, ["--params", str(bad), "--prepared", str(tmp_path / "prepared"), *outs],
                "unknown key extra")
    _fails_with(capsys, train.main, ["--params", str(params), "--prepared", str(tmp_path / "missing"), *outs],
                "missing/train.npz: data file not found")
    assert not any(tmp_path.glob("m.keras")) and not any(tmp_path.glob("run.json"))
    assert MlflowClient().search_experiments(filter_string="name = 'mnistflow'") == []


def test_evaluate_rejects_a_broken_run_file(tmp_path, capsys):
    params = write_yaml(tmp_path / "params.yaml", small_params())
    prepare.main(["--params", str(params), "--raw", str(RAW_DATA), "--out", str(tmp_path / "prepared")])
    (tmp_path / "run.json").write_text("{}")
    argv = ["--params", str(params), "--prepared", str(tmp_path / "prepared"), "--model", "m.keras",
            "--history", "h.csv", "--run-file", str(tmp_path / "run.json"), "--metrics", "m.json",
            "--confusion", "c.csv", "--figures", "f", "--errors", "e"]
    _fails_with(capsys, evaluate.main, argv, "run.json: expected JSON with a run_id")


def test_prepare_and_the_cli_start_without_tensorflow_or_mlflow():
    import subprocess
    import sys

    code = ("import sys, mnistflow.stages.prepare, mnistflow.cli; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'mlflow') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
