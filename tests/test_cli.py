"""The mnistflow command, run in-process against a real store with real logged models."""

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from mnistflow.cli import app

runner = CliRunner()


@pytest.fixture
def champion(make_run):
    run_id = make_run(0.9)
    result = runner.invoke(app, ["register"])
    assert result.exit_code == 0 and "is now @champion" in result.stdout
    return run_id


def _digit_files(tmp_path, mnist, indices):
    paths = []
    for index in indices:
        digit = mnist["x_test"][index]
        if index % 2:  # dark on light, larger: must be inverted and reframed
            image = Image.fromarray(255 - digit).resize((140, 140), Image.Resampling.BILINEAR)
        else:
            image = Image.fromarray(digit)
        paths.append(tmp_path / f"test_{index}.png")
        image.save(paths[-1])
    return paths


def test_predict_reads_pngs_and_npy_and_reports_bad_files(champion, tmp_path, mnist, small_model):
    model, _, _ = small_model
    scaled = mnist["x_test"][:40].reshape(40, 784).astype(np.float32) / 255.0
    confident = [int(k) for k in np.flatnonzero(model.predict(scaled, verbose=0).max(axis=1) > 0.97)[:6]]
    confident = [k for k in confident if mnist["y_test"][k] == model.predict(scaled[k:k + 1], verbose=0).argmax()]
    paths = _digit_files(tmp_path, mnist, confident)
    np.save(tmp_path / "batch.npy", mnist["x_test"][:3])
    (tmp_path / "junk.png").write_text("not an image")
    (tmp_path / "empty.jpg").write_bytes(b"")
    arguments = ["predict", *map(str, paths), str(tmp_path / "batch.npy"), str(tmp_path / "junk.png"),
                 str(tmp_path / "empty.jpg")]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 1
    assert "junk.png: not a readable image" in result.stderr and "empty.jpg: file is empty" in result.stderr
    for path, index in zip(paths, confident):
        assert f"{path}[0]: {mnist['y_test'][index]} (p=" in result.stdout
    assert "batch.npy[2]:" in result.stdout

    result = runner.invoke(app, ["predict", "--json", str(paths[0]), str(tmp_path / "batch.npy")])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert len(rows) == 4 and rows[0]["label"] == mnist["y_test"][confident[0]]
    assert sum(rows[0]["probabilities"]) == pytest.approx(1, abs=1e-4)


def test_predict_without_a_champion_is_one_line(store):
    result = runner.invoke(app, ["predict", "x.png"])
    assert result.exit_code == 2 and result.stderr.startswith("error: cannot load model 'models:/mnist-mlp@champion'")


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


def test_compare_shows_only_differing_params(make_run):
    make_run(0.91, units=64)
    make_run(0.95, units=128)
    make_run(0.93, units=256)
    result = runner.invoke(app, ["compare", "--format", "csv"])
    assert result.exit_code == 0
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("run_id,run_name,train.units,test_accuracy")
    assert "train.seed" not in lines[0] and "train.learning_rate" not in lines[0]
    assert [line.split(",")[2] for line in lines[1:]] == ["128", "256", "64"]
    result = runner.invoke(app, ["compare", "--format", "markdown", "--sort", "train.units", "--ascending",
                                 "--filter", "metrics.test_accuracy > 0.92"])
    assert result.exit_code == 0
    rows = result.stdout.strip().splitlines()
    assert rows[0].startswith("| run_id | run_name |") and len(rows) == 4
    result = runner.invoke(app, ["compare"])
    assert result.exit_code == 0 and "3 finished runs" in result.stdout
    result = runner.invoke(app, ["compare", "--sort", "nope"])
    assert result.exit_code == 2 and "cannot sort by 'nope'" in result.stderr
