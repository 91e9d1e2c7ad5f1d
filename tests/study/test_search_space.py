"""The tune file: ranges, choices and pruning rules, each checked against params.yaml before any work."""

from pathlib import Path

import pytest

from mnistflow.core.errors import ParamsError
from mnistflow.core.params import MAX_SEED
from mnistflow.study.search_space import Dimension, read_search_space, trial_seed

from conftest import REPO, default_params


def _space(tmp_path: Path, text: str):
    path = tmp_path / "tune.yaml"
    path.write_text(text)
    return read_search_space(path, default_params())


def test_the_default_tune_files_are_valid():
    for name in ("tune.yaml", "tune-classic-failure.yaml"):
        space = read_search_space(REPO / name, default_params())
        assert {dimension.name for dimension in space.dimensions} >= {"model.mlp.units", "train.learning_rate"}


@pytest.mark.parametrize(("entry", "message"), [
    ("model.mlp.units: {low: 64, high: 64}", "model.mlp.units: the range is empty (low 64 must be below high 64)"),
    ("model.mlp.units: {low: 64, high: 8}", "model.mlp.units: the range is inverted (low 64 must be below high 8)"),
    ("model.mlp.unitz: {low: 8, high: 64}", "unknown param 'model.mlp.unitz'"),
    ("model.mlp.units: {low: 0, high: 64}", "model.mlp.units must be an integer in 1-65536, got 0"),
    ("train.learning_rate: {low: 0.0, high: 0.1, log: true}", "a log range needs low > 0, got 0.0"),
    ("train.loss: {choices: []}", "choices must be a non-empty list"),
    ("train.loss: {choices: [crossentropy, hinge]}", "train.loss must be one of"),
    ("model.cnn.filters: {low: 8, high: 64}", "space.model.cnn.filters applies to no trial (model.arch is mlp)"),
    ("model.mlp.units: {low: 8, hihg: 64}", "expected {low: ..., high: ...} or {choices: [...]}"),
    ("model.mlp.units: {low: 8, high: .inf}", "low and high must be numbers"),
])
def test_a_bad_dimension_is_one_line_naming_it(tmp_path, entry, message):
    with pytest.raises(ParamsError, match="tune.yaml: ") as raised:
        _space(tmp_path, f"space:\n  {entry}\n")
    assert message in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize(("text", "message"), [
    ("space: {}\n", "space a non-empty mapping"),
    ("spaces: {train.epochs: {low: 1, high: 2}}\n", "unknown key 'spaces'"),
    ("seed: -1\nspace: {train.epochs: {low: 1, high: 2}}\n", "seed must be an integer"),
    ("space: {train.epochs: {low: 1, high: 2}}\npruning: {pruner: hyperband}\n", "pruning.pruner must be one of"),
    ("space: {train.epochs: {low: 1, high: 2}}\npruning: {collapse_epochs: -1}\n", "collapse_epochs must be"),
    ("space: {train.epochs: {low: 1, high: 2}}\npruning: {patience: 3}\n", "pruning: unknown key 'patience'"),
    ("base: {train.epochs: 0}\nspace: {model.mlp.units: {low: 8, high: 16}}\n", "base: train.epochs"),
    ("base: {train.epochz: 3}\nspace: {model.mlp.units: {low: 8, high: 16}}\n", "base: unknown param 'train.epochz'"),
    ("space: {train.loss: {choices: [[a, b]]}}\n", "choices must be at most 100 numbers, strings"),
    ("space: {train.epochs: {choices: [" + ", ".join(["1"] * 101) + "]}}\n", "choices must be at most 100"),
])
def test_a_bad_tune_file_is_one_line(tmp_path, text, message):
    with pytest.raises(ParamsError, match="tune.yaml: ") as raised:
        _space(tmp_path, text)
    assert message in str(raised.value)


def test_a_yaml_anchor_bomb_in_choices_is_one_line_at_once(tmp_path):
    """Nine nested aliases stand for 10^9 strings: refused before Optuna sees (and warns about) any of them."""
    bomb = "&a0 [" + ", ".join(["x"] * 10) + "]"
    for level in range(1, 9):
        bomb = f"&a{level} [{bomb}, " + ", ".join([f"*a{level - 1}"] * 9) + "]"
    text = f"space: {{train.loss: {{choices: [{bomb}]}}}}\n"
    with pytest.raises(ParamsError, match="choices must be at most 100"):
        _space(tmp_path, text)


def test_both_architectures_sample_only_their_own_params(tmp_path):
    import optuna

    space = _space(tmp_path, "space:\n  model.arch: {choices: [mlp, cnn]}\n  model.mlp.units: {low: 8, high: 64}\n"
                             "  model.cnn.filters: {low: 4, high: 16}\n"
                             "  train.learning_rate: {low: 0.001, high: 0.01}\n")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(12):
        overrides = space.suggest(study.ask(), "mlp")
        other = "model.cnn.filters" if overrides["model.arch"] == "mlp" else "model.mlp.units"
        assert other not in overrides and "train.learning_rate" in overrides
        seen.add(overrides["model.arch"])
    assert seen == {"mlp", "cnn"}


def test_integer_bounds_give_integers_and_float_bounds_floats():
    assert Dimension("model.mlp.units", 8, 64).is_integer
    assert not Dimension("train.learning_rate", 0.001, 1).is_integer


def test_a_trial_seed_depends_on_the_study_seed_and_trial_number_only():
    seeds = [trial_seed(0, number) for number in range(200)]
    assert seeds == [trial_seed(0, number) for number in range(200)]
    assert len(set(seeds)) == 200 and all(0 <= seed <= MAX_SEED for seed in seeds)
    assert trial_seed(1, 0) != trial_seed(0, 0)


def test_zero_trials_or_a_bad_space_is_one_line_before_any_work(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from mnistflow.cli import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    (tmp_path / "tune.yaml").write_text("space:\n  model.mlp.units: {low: 64, high: 8}\n")
    for arguments, message in ((["--trials", "0"], "error: --trials must be at least 1, got 0\n"),
                               ([], "space.model.mlp.units: the range is inverted (low 64 must be below high 8)\n")):
        result = CliRunner().invoke(app, ["tune", *arguments])
        assert result.exit_code == 2 and result.stderr.endswith(message), result.stderr
    assert not (tmp_path / "optuna.db").exists() and not (tmp_path / "mlflow.db").exists()
