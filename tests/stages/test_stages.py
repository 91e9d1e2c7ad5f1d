"""Stage entry points: bad input gives one clear line (exit 2) before any work, and no outs at all."""

import sys

import pytest
from mlflow import MlflowClient

from mnistflow.stages import evaluate, prepare, train

from conftest import RAW_DATA, small_params, write_yaml


def _fails_with(capsys, main, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and error.startswith("error: ") and message in error


def test_prepare_writes_three_splits_and_the_review_summary(tmp_path, capsys):
    params = write_yaml(tmp_path / "params.yaml", small_params())
    prepare.main(["--params", str(params), "--raw", str(RAW_DATA), "--out", str(tmp_path / "prepared")])
    assert sorted(p.name for p in (tmp_path / "prepared").iterdir()) == ["review.json", "test.npz", "train.npz",
                                                                         "validation.npz"]
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
            "--per-class", "p.csv", "--confusion", "c.csv", "--figures", "f", "--errors", "e"]
    _fails_with(capsys, evaluate.main, argv, "run.json: expected JSON with a run_id")


def test_prepare_and_the_cli_start_without_tensorflow_or_mlflow():
    import subprocess
    import sys

    code = ("import sys, mnistflow.stages.prepare, mnistflow.cli; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'mlflow') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# ---- A user's mistake is one line naming the key, file or store, before any work --------------------------

def _prepared(tmp_path, **sections):
    params = write_yaml(tmp_path / "params.yaml", small_params(**sections))
    prepare.main(["--params", str(params), "--raw", str(RAW_DATA), "--out", str(tmp_path / "prepared")])
    return params


def _train_argv(tmp_path, params):
    return ["--params", str(params), "--prepared", str(tmp_path / "prepared"), "--model", str(tmp_path / "m.keras"),
            "--history", str(tmp_path / "h.csv"), "--run-file", str(tmp_path / "run.json")]


def test_a_batch_larger_than_the_training_split_is_one_line_before_any_run(tmp_path, capsys, store):
    params = _prepared(tmp_path)
    write_yaml(params, small_params(train={"batch_size": 5000}))
    _fails_with(capsys, train.main, _train_argv(tmp_path, params),
                "train.batch_size is 5000, larger than the training split (1600 images)")
    assert MlflowClient().search_experiments(filter_string="name = 'mnistflow'") == []


def test_a_validation_fraction_that_leaves_no_image_is_one_line(tmp_path, capsys):
    params = write_yaml(tmp_path / "params.yaml",
                        small_params(prepare={"train_limit": 20, "validation_fraction": 0.01}))
    _fails_with(capsys, prepare.main, ["--params", str(params), "--raw", str(RAW_DATA), "--out", str(tmp_path / "p")],
                "prepare.validation_fraction 0.01 of 20 images leaves 0 validation and 20 training images")
    assert not (tmp_path / "p").exists()


def test_an_npy_file_at_the_npz_path_is_one_line(tmp_path, capsys):
    import numpy as np

    params = write_yaml(tmp_path / "params.yaml", small_params())
    with open(tmp_path / "mnist.npz", "wb") as handle:
        np.save(handle, np.zeros((3, 28, 28), np.uint8))
    _fails_with(capsys, prepare.main, ["--params", str(params), "--raw", str(tmp_path / "mnist.npz"), "--out",
                                       str(tmp_path / "p")], "mnist.npz: a single .npy array, expected an .npz archive")


def test_a_params_file_that_is_not_utf8_is_one_line(tmp_path, capsys):
    (tmp_path / "params.yaml").write_bytes("prepare:\n  scale: true # caf\xe9\n".encode("latin-1"))
    _fails_with(capsys, prepare.main, ["--params", str(tmp_path / "params.yaml"), "--raw", str(RAW_DATA), "--out",
                                       str(tmp_path / "p")], "params.yaml: not UTF-8 text (byte 28)")


def test_a_soft_deleted_experiment_is_one_line_naming_how_to_restore_it(tmp_path, capsys, store):
    params = _prepared(tmp_path)
    client = MlflowClient()
    client.delete_experiment(client.create_experiment("mnistflow"))
    _fails_with(capsys, train.main, _train_argv(tmp_path, params),
                "experiment 'mnistflow' is deleted in the tracking store")
    assert not (tmp_path / "m.keras").exists()


def _evaluate_argv(tmp_path, params, model="m.keras", history="h.csv"):
    return ["--params", str(params), "--prepared", str(tmp_path / "prepared"), "--model", str(tmp_path / model),
            "--history", str(tmp_path / history), "--run-file", str(tmp_path / "run.json"), "--metrics",
            str(tmp_path / "metrics.json"), "--per-class", str(tmp_path / "p.csv"), "--confusion",
            str(tmp_path / "c.csv"), "--figures", str(tmp_path / "figures"), "--errors", str(tmp_path / "errors")]


@pytest.mark.slow
def test_a_truncated_model_or_a_bad_history_in_evaluate_is_one_line(tmp_path, capsys, store):
    params = _prepared(tmp_path, train={"epochs": 1})
    train.main(_train_argv(tmp_path, params))
    capsys.readouterr()
    (tmp_path / "cut.keras").write_bytes((tmp_path / "m.keras").read_bytes()[:3000])
    _fails_with(capsys, evaluate.main, _evaluate_argv(tmp_path, params, model="cut.keras"),
                "cut.keras: not a loadable .keras model")
    (tmp_path / "bad.csv").write_text("epoch,loss\n1,abc\n")
    _fails_with(capsys, evaluate.main, _evaluate_argv(tmp_path, params, history="bad.csv"),
                "bad.csv: expected a per-epoch CSV with columns epoch, loss, accuracy, val_loss, val_accuracy")
    (tmp_path / "nan.csv").write_text((tmp_path / "h.csv").read_text().replace("\n1,", "\nx,", 1))
    _fails_with(capsys, evaluate.main, _evaluate_argv(tmp_path, params, history="nan.csv"),
                "nan.csv: not a number in the per-epoch CSV")
    assert not (tmp_path / "metrics.json").exists() and not (tmp_path / "figures").exists()


@pytest.mark.slow
def test_a_read_only_store_is_one_line(tmp_path):
    """As an unprivileged user (root writes anywhere), the store's folder and file are read-only."""
    import os
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    as_nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root to run the stage as the unprivileged user nobody")
    if subprocess.run([*as_nobody, sys.executable, "-c", "import mnistflow"], capture_output=True).returncode:
        pytest.skip("the user nobody cannot run this checkout's Python (a folder above it is closed to others)")
    top = Path(tempfile.mkdtemp(prefix="mnistflow-readonly-"))  # pytest's own folders are closed to others
    try:
        os.chmod(top, 0o755)
        work, store = top / "work", top / "store"
        work.mkdir()
        store.mkdir()
        params = _prepared(work)
        MlflowClient(tracking_uri=f"sqlite:///{store / 'mlflow.db'}").create_experiment("mnistflow")
        subprocess.run(["chmod", "-R", "a+rwX", str(work)], check=True)
        environment = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}", "HOME": str(work)}
        result = subprocess.run([*as_nobody, sys.executable, "-m", "mnistflow.stages.train",
                                 *_train_argv(work, params)], cwd=work,
                                env=environment, capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(top, ignore_errors=True)
    assert result.returncode == 2, result.stderr[-3000:]
    error = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(error) == 1 and "mlflow.db" in error[0] and "readonly database" in error[0], result.stderr[:3000]
    assert "Traceback" not in result.stderr, result.stderr[:4000]


# The stage as DVC runs it (python -m), with a SIGTERM sent from inside its exit: an atexit hook runs after the
# module's code, where TensorFlow's teardown is on a real run.
SIGNAL_DURING_EXIT = """
import atexit, os, runpy, signal, sys, time
atexit.register(lambda: (os.kill(os.getpid(), signal.SIGTERM), time.sleep(0.5)))
sys.argv = ["prepare", *sys.argv[1:]]
runpy.run_module("mnistflow.stages.prepare", run_name="__main__")
"""


def test_a_sigterm_while_a_finished_stage_exits_leaves_it_finished(tmp_path):
    import subprocess

    params = write_yaml(tmp_path / "params.yaml", small_params())
    result = subprocess.run([sys.executable, "-c", SIGNAL_DURING_EXIT, "--params", str(params), "--raw",
                             str(RAW_DATA), "--out", str(tmp_path / "prepared")],
                            capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr[-2000:]
    assert (tmp_path / "prepared" / "train.npz").is_file()


def test_a_bad_dataset_stops_prepare_in_one_line_and_writes_nothing(tmp_path, capsys):
    folder = tmp_path / "scans"
    for split in ("train", "test"):
        (folder / split / "only").mkdir(parents=True)
        (folder / split / "only" / "1.png").write_bytes(b"not a png")
    params = write_yaml(tmp_path / "params.yaml", small_params(prepare={"dataset": str(folder)}))
    _fails_with(capsys, prepare.main, ["--params", str(params), "--raw", str(RAW_DATA.parent), "--out",
                                       str(tmp_path / "prepared"), "--dataset", str(tmp_path / "dataset.json")],
                "scans: 1 class folder(s) in train/ (only); a classifier needs at least 2")
    assert not (tmp_path / "prepared").exists() and not (tmp_path / "dataset.json").exists()
