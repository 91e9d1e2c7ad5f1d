"""The mnistflow command, run in-process against a real store with real logged models."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from mnistflow.cli import app

from conftest import REPO, tool_environment

runner = CliRunner()


@pytest.fixture
def champion(make_run):
    run_id = make_run(0.9)
    result = runner.invoke(app, ["register"])
    assert result.exit_code == 0 and "is now @champion" in result.stdout
    return run_id


def _digit_files(tmp_path, raw_mnist, indices):
    paths = []
    for index in indices:
        digit = raw_mnist["x_test"][index]
        if index % 2:  # dark on light, larger: must be inverted and reframed
            image = Image.fromarray(255 - digit).resize((140, 140), Image.Resampling.BILINEAR)
        else:
            image = Image.fromarray(digit)
        paths.append(tmp_path / f"test_{index}.png")
        image.save(paths[-1])
    return paths


def test_predict_reads_pngs_and_npy_and_reports_bad_files(champion, tmp_path, raw_mnist, small_model):
    model, _, _ = small_model
    scaled = raw_mnist["x_test"][:40].reshape(40, 784).astype(np.float32) / 255.0
    confident = [int(k) for k in np.flatnonzero(model.predict(scaled, verbose=0).max(axis=1) > 0.97)[:6]]
    confident = [k for k in confident if raw_mnist["y_test"][k] == model.predict(scaled[k:k + 1], verbose=0).argmax()]
    paths = _digit_files(tmp_path, raw_mnist, confident)
    np.save(tmp_path / "batch.npy", raw_mnist["x_test"][:3])
    (tmp_path / "junk.png").write_text("not an image")
    (tmp_path / "empty.jpg").write_bytes(b"")
    arguments = ["predict", *map(str, paths), str(tmp_path / "batch.npy"), str(tmp_path / "junk.png"),
                 str(tmp_path / "empty.jpg")]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 1
    assert "junk.png: not a readable image" in result.stderr and "empty.jpg: file is empty" in result.stderr
    for path, index in zip(paths, confident, strict=True):
        assert f"{path}[0]: {raw_mnist['y_test'][index]} (p=" in result.stdout
    assert "batch.npy[2]:" in result.stdout

    result = runner.invoke(app, ["predict", "--json", str(paths[0]), str(tmp_path / "batch.npy")])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert len(rows) == 4 and rows[0]["label"] == raw_mnist["y_test"][confident[0]]
    assert sum(rows[0]["probabilities"]) == pytest.approx(1, abs=1e-4)


def test_predict_says_no_digit_for_a_blank_page_and_text_and_reads_the_digit_beside_them(champion, tmp_path,
                                                                                          raw_mnist):
    from non_digits import blank_page, text_page

    from photo_digits import photo

    rng = np.random.default_rng(0)
    blank_page(rng).save(tmp_path / "blank.jpg")
    text_page(rng).save(tmp_path / "note.png")
    photo(raw_mnist["x_test"][0], "white", rng).save(tmp_path / "seven.png")
    files = [str(tmp_path / name) for name in ("blank.jpg", "note.png", "seven.png")]
    result = runner.invoke(app, ["predict", *files])
    assert result.exit_code == 0, result.stderr  # a refusal is neither a digit nor an error
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{files[0]}[0]: no digit: ") and lines[1].startswith(f"{files[1]}[0]: no digit: ")
    assert lines[2].startswith(f"{files[2]}[0]: 7 (p=") and "error" not in result.stderr
    rows = json.loads(runner.invoke(app, ["predict", "--json", *files]).stdout)
    assert [row["label"] for row in rows] == [None, None, 7]
    assert rows[0]["no_digit"] and rows[1]["no_digit"] and rows[2]["no_digit"] is None


LEAN_PREDICT = """
import sys
from typer.testing import CliRunner
from mnistflow.cli import app
result = CliRunner().invoke(app, ["predict", "--json", *sys.argv[1:]])
assert result.exit_code == 0, result.output
print(result.stdout)
print(sorted(name for name in ("tensorflow", "keras") if name in sys.modules))
"""


def test_predict_runs_the_models_onnx_copy_without_tensorflow_and_agrees_with_keras(champion, tmp_path,
                                                                                  raw_mnist):
    np.save(tmp_path / "digits.npy", raw_mnist["x_test"][:20])
    lean = subprocess.run([sys.executable, "-c", LEAN_PREDICT, str(tmp_path / "digits.npy")], cwd=REPO,
                          capture_output=True, text=True, timeout=300,
                          env=tool_environment(MLFLOW_TRACKING_URI=os.environ["MLFLOW_TRACKING_URI"]))
    assert lean.returncode == 0, lean.stderr[-3000:]
    *document, loaded = lean.stdout.strip().splitlines()
    assert loaded == "[]"  # neither TensorFlow nor Keras was imported
    from mnistflow.tracking import predictors

    keras_model = predictors.load_model("models:/mnist-digits@champion")
    expected = predictors.predict_probabilities(keras_model, raw_mnist["x_test"][:20])
    onnx = np.array([row["probabilities"] for row in json.loads("\n".join(document))])
    np.testing.assert_allclose(onnx, expected, atol=1e-5)


def test_predict_without_any_model_is_one_line(store):
    result = runner.invoke(app, ["predict", "x.png"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: no experiment named 'mnistflow' in the tracking store ")
    assert result.stderr.count("\n") == 1


def test_every_model_command_uses_the_champion_else_the_newest_run_and_says_which(make_run, tmp_path, raw_mnist):
    from mlflow import MlflowClient

    make_run(0.9)
    newest = make_run(0.5)  # newer and weaker: used only while there is no champion
    digit = tmp_path / "digit.npy"
    np.save(digit, raw_mnist["x_test"][:1])
    newest_name = MlflowClient().get_run(newest).info.run_name
    for command in (["show", "1", "--out", str(tmp_path / "shown.png")], ["predict", str(digit)]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0 and f"model: run {newest_name}\n" in result.stderr, result.stderr
    assert runner.invoke(app, ["register"]).exit_code == 0
    for command in (["show", "1", "--out", str(tmp_path / "shown.png")], ["predict", str(digit)]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0 and "model: mnist-digits v1 @champion\n" in result.stderr, result.stderr


def test_show_writes_the_picture_and_rejects_bad_input(champion, tmp_path):
    out = tmp_path / "show.png"
    result = runner.invoke(app, ["show", "4433", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert Image.open(out).size[0] > 500
    result = runner.invoke(app, ["show", "7", "--split", "train", "--run", champion, "--out", str(out)])
    assert result.exit_code == 0
    result = runner.invoke(app, ["show", "10000"])
    assert result.exit_code == 2 and "index 10000 is out of range for the test split (0-9999)" in result.stderr
    result = runner.invoke(app, ["show", "1", "--run", "0123456789abcdef"])
    assert result.exit_code == 2 and "unknown run '0123456789abcdef'" in result.stderr


def test_review_show_pictures_one_image_of_either_split(champion):
    result = runner.invoke(app, ["review", "--show", "7", "--split", "train"])
    assert result.exit_code == 0, result.stderr
    shown = Path(result.stdout.strip())
    assert shown.name == "train_7.png" and shown.parent.parts[-2:] == ("reports", "shown")
    with Image.open(shown) as picture:
        assert picture.size[0] > 500
    shown.unlink()


def test_review_without_suspect_tables_says_what_to_run(champion, tmp_path, monkeypatch):
    import shutil

    from conftest import REPO

    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    (tmp_path / "data" / "raw").mkdir(parents=True)
    (tmp_path / "data" / "raw" / "mnist.npz").symlink_to(REPO / "data" / "raw" / "mnist.npz")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["review"])
    assert result.exit_code != 0
    assert result.stderr.strip() == (f"error: {tmp_path / 'reports' / 'errors'}: no suspects tables "
                                     "(label_issues.csv); run `dvc repro` first")
    assert not (tmp_path / "data" / "label_review.csv").exists()


def test_compare_shows_only_differing_params(make_run):
    run_ids = [make_run(0.91, units=64), make_run(0.95, units=128), make_run(0.93, units=256)]
    result = runner.invoke(app, ["compare", "--format", "csv"])
    assert result.exit_code == 0
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("run_id,run_name,model.mlp.units,test/accuracy")
    assert "train.seed" not in lines[0] and "train.learning_rate" not in lines[0]
    assert [line.split(",")[2] for line in lines[1:]] == ["128", "256", "64"]
    result = runner.invoke(app, ["compare", "--format", "markdown", "--sort", "model.mlp.units", "--ascending",
                                 "--filter", "metrics.test_accuracy > 0.92"])  # a flat name still works
    assert result.exit_code == 0
    rows = result.stdout.strip().splitlines()
    assert rows[0].startswith("| run_id | run_name |") and len(rows) == 4
    result = runner.invoke(app, ["compare"])
    assert result.exit_code == 0 and "3 finished runs" in result.stdout
    assert all(run_id[:8] in result.stdout for run_id in run_ids)  # runs apart even when their names repeat
    narrow = runner.invoke(app, ["compare"], env={"COLUMNS": "60"})
    assert narrow.exit_code == 0 and max(len(line) for line in narrow.stdout.splitlines()) <= 60, narrow.stdout
    assert "accuracy" in narrow.stdout and "0.9500" in narrow.stdout  # the headline metric, not cut
    result = runner.invoke(app, ["compare", "--sort", "nope"])
    assert result.exit_code == 2 and "--sort 'nope': choose one of" in result.stderr


def test_register_with_a_mistyped_experiment_is_one_line_and_creates_nothing(store):
    from mlflow import MlflowClient

    result = runner.invoke(app, ["register", "--mlflow-experiment", "typo"])
    assert result.exit_code == 2 and "no experiment named 'typo'" in result.stderr
    assert MlflowClient().get_experiment_by_name("typo") is None


def test_register_with_nothing_eligible_fails(make_run):
    make_run(0.5, collapsed=[3])  # a collapsed class: never a champion
    result = runner.invoke(app, ["register"])
    assert result.exit_code == 1 and "no eligible run" in result.stdout


def test_register_before_any_run_is_one_line_exit_1_and_creates_no_store(tmp_path, monkeypatch):
    from conftest import REPO

    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(REPO / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = runner.invoke(app, ["register"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "no eligible run: no tracking store yet" in result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == ["dvc.yaml", "params.yaml"]


def test_register_by_a_mistyped_metric_names_it(make_run):
    make_run(0.9)
    result = runner.invoke(app, ["register", "--metric", "tset_accuracy"])
    assert result.exit_code != 0
    assert "--metric 'tset_accuracy': no run in the experiment logs it (test metrics: test/accuracy" in result.output


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG header that claims a huge image: Pillow refuses it as a decompression bomb on open."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_predict_reports_each_bad_file_and_predicts_the_rest(champion, tmp_path, raw_mnist):
    digit = raw_mnist["x_test"][0]
    Image.fromarray(digit).save(tmp_path / "plain.png")
    rgba = np.zeros((28, 28, 4), np.uint8)  # black ink, drawn only through the alpha channel
    rgba[..., 3] = digit
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "alpha.png")
    np.save(tmp_path / "empty.npy", np.zeros((0, 28, 28), np.float32))
    np.save(tmp_path / "nan.npy", np.full((1, 28, 28), np.nan, np.float32))
    (tmp_path / "bomb.png").write_bytes(_png_claiming(20000, 20000))
    names = ["empty.npy", "plain.png", "nan.npy", "bomb.png", "alpha.png"]
    result = runner.invoke(app, ["predict", "--json", *(str(tmp_path / name) for name in names)])
    assert result.exit_code == 1, result.stderr
    said, *errors = result.stderr.strip().splitlines()
    assert said == "model: mnist-digits v1 @champion"
    assert len(errors) == 3 and "empty.npy: holds no image" in errors[0]
    assert "nan.npy: holds NaN or infinite pixels" in errors[1] and "bomb.png: not a readable image" in errors[2]
    predictions = {Path(item["file"]).name: item for item in json.loads(result.stdout)}
    assert set(predictions) == {"plain.png", "alpha.png"}
    assert predictions["alpha.png"]["probabilities"] == predictions["plain.png"]["probabilities"]


@pytest.mark.slow
def test_a_server_that_answers_health_but_hangs_is_one_line_within_a_minute(tmp_path):
    import http.server
    import subprocess
    import threading
    import time

    from conftest import REPO, tool_environment

    class Hanging(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            if self.path == "/health":
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"OK")
            else:
                time.sleep(120)

        do_POST = do_GET  # noqa: N815

        def log_message(self, *arguments):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hanging)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        started = time.monotonic()
        result = subprocess.run(["mnistflow", "compare"], cwd=REPO, capture_output=True, text=True, timeout=120,
                                env=tool_environment(MLFLOW_TRACKING_URI=f"http://127.0.0.1:{server.server_port}"))
        seconds = time.monotonic() - started
    finally:
        server.shutdown()
    assert result.returncode == 2 and seconds < 60, (seconds, result.stderr[-2000:])
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and f"http://127.0.0.1:{server.server_port}" in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_predict_show_writes_each_photo_beside_the_frame_the_model_read(champion, tmp_path, raw_mnist):
    from photo_digits import photo

    photo(raw_mnist["x_test"][0], "grey", np.random.default_rng(0)).save(tmp_path / "grey_seven.jpg")
    result = runner.invoke(app, ["predict", "--show", str(tmp_path / "grey_seven.jpg")])
    assert result.exit_code == 0, result.stderr
    shown = Path(result.stdout.split(" -> ")[1].strip())
    assert shown.name == "predict_grey_seven.png" and shown.parent.parts[-2:] == ("reports", "shown")
    with Image.open(shown) as picture:
        assert picture.format == "PNG" and picture.width > 600


LEAN_COMMANDS = """
import sys
from typer.testing import CliRunner
from mnistflow.cli import app
for command in (["compare"], ["runs"], ["register"]):
    result = CliRunner().invoke(app, command)
    assert result.exit_code in (0, 1, 2) and "Traceback" not in result.output, (command, result.output)
print(sorted(name for name in ("tensorflow", "keras") if name in sys.modules))
"""


def test_compare_runs_and_register_never_load_tensorflow(tmp_path):
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    result = subprocess.run([sys.executable, "-c", LEAN_COMMANDS], cwd=tmp_path, env=tool_environment(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(("arguments", "message"), [
    (["show", "abc"], "error: Invalid value for 'index': Input should be a valid integer, unable to parse string "
                      "as an integer (see 'mnistflow show --help')"),
    (["show", "-1"], "error: No such option: -1 (see 'mnistflow show --help')"),
    (["study", "--workers", "0"], "error: Invalid value for '--workers': Input should be greater than or equal "
                                  "to 1 (see 'mnistflow study --help')"),
    (["registr"], "error: No such command 'registr'. Did you mean 'register'? (see 'mnistflow --help')"),
])
def test_a_command_line_mistake_is_one_line(tmp_path, arguments, message):
    result = subprocess.run(["mnistflow", *arguments], cwd=tmp_path, capture_output=True, text=True,
                            env=tool_environment(), timeout=120)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", message + "\n")


def test_help_and_no_arguments_print_the_usage(tmp_path):
    for arguments, code in (["--help"], 0), ([], 2):
        result = subprocess.run(["mnistflow", *arguments], cwd=tmp_path, capture_output=True, text=True,
                                env=tool_environment(), timeout=120)
        assert result.returncode == code and "Usage: mnistflow" in result.stdout and not result.stderr


def test_flags_show_no_value_type_in_help(tmp_path):
    """Typer 0.29 prints `--json <bool>` as if the flag took a value."""
    shown = {}
    for arguments in (["predict", "--help"], ["team", "start", "--help"]):
        result = subprocess.run(["mnistflow", *arguments], cwd=tmp_path, capture_output=True, text=True,
                                env={**tool_environment(), "COLUMNS": "120"}, timeout=120)
        assert result.returncode == 0 and "<bool>" not in result.stdout, result.stdout
        shown[arguments[0]] = result.stdout
    assert "--json     " in shown["predict"] and "print JSON instead of lines" in shown["predict"]


def test_every_option_of_every_command_says_what_it_does():
    import typer

    def commands(group, prefix: str = ""):  # typer's own click: groups have commands, options a type name
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                yield from commands(command, f"{prefix}{name} ")
            else:
                yield f"{prefix}{name}", command

    listed = list(commands(typer.main.get_command(app)))
    silent = [f"{name} {parameter.opts[0]}" for name, command in listed for parameter in command.params
              if parameter.param_type_name == "option" and not parameter.help]
    assert "team start" in dict(listed) and silent == []
