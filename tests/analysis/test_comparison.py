"""The comparison table: only the params that differ, the key metrics, sorted; markdown output."""

import pandas as pd
import pytest

from mnistflow.analysis.comparison import comparison_table, fit_to_width, to_markdown
from mnistflow.core.errors import UsageError

RUNS = pd.DataFrame({"run_id": ["aaaaaaaa11", "bbbbbbbb22", "cccccccc33"], "run_name": ["a", "b", "c"],
                     "model.mlp.units": ["64", "128", "64"], "train.seed": ["1", "1", "1"],
                     "test/accuracy": [0.97, 0.98, 0.95], "train/loss": [0.1, 0.2, 0.3]})


def test_only_differing_params_and_key_metrics_sorted_best_first():
    table = comparison_table(RUNS, ["model.mlp.units", "train.seed"])
    assert list(table.columns) == ["run_id", "run_name", "model.mlp.units", "test/accuracy"]
    assert list(table["run_name"]) == ["b", "a", "c"] and list(table["run_id"]) == ["bbbbbbbb", "aaaaaaaa", "cccccccc"]
    ascending = comparison_table(RUNS, ["model.mlp.units"], "test/accuracy", ascending=True)
    assert list(ascending["run_name"]) == ["c", "a", "b"]


def test_a_column_that_does_not_exist_cannot_sort():
    with pytest.raises(UsageError, match="--sort 'train.seed': choose one of run_id, run_name, model.mlp.units"):
        comparison_table(RUNS, ["model.mlp.units", "train.seed"], "train.seed")


def test_markdown_and_an_empty_experiment():
    markdown = to_markdown(comparison_table(RUNS, ["model.mlp.units"]))
    assert markdown.splitlines()[:3] == ["| run_id | run_name | model.mlp.units | test/accuracy |", "|---|---|---|---|",
                                         "| bbbbbbbb | b | 128 | 0.9800 |"]
    assert list(comparison_table(RUNS.iloc[:0], [])["run_id"]) == []


def test_the_architecture_is_always_shown():
    runs = RUNS.assign(**{"model.arch": ["mlp", "mlp", "mlp"]})
    assert "model.arch" in comparison_table(runs, ["model.arch", "model.mlp.units", "train.seed"]).columns


def test_counts_print_as_integers_and_missing_values_as_empty():
    runs = RUNS.assign(**{"train/final_collapsed_classes": [0.0, 1.0, float("nan")],
                          "train/epochs_collapsed": [0.0, 20.0, 3.0]})
    markdown = to_markdown(comparison_table(runs, ["model.mlp.units"]))
    assert markdown.splitlines()[2:] == ["| bbbbbbbb | b | 128 | 0.9800 | 1 | 20 |",
                                         "| aaaaaaaa | a | 64 | 0.9700 | 0 | 0 |",
                                         "| cccccccc | c | 64 | 0.9500 |  | 3 |"]


def test_the_column_order_does_not_depend_on_the_order_params_come_in():
    runs = RUNS.assign(**{"train.learning_rate": ["0.1", "0.01", "0.1"], "model.arch": ["mlp", "mlp", "mlp"]})
    names = ["train.learning_rate", "model.mlp.units", "model.arch"]
    tables = [comparison_table(runs, order) for order in (names, names[::-1], sorted(names))]
    assert [list(table.columns) for table in tables] == [["run_id", "run_name", "model.arch", "model.mlp.units",
                                                          "train.learning_rate", "test/accuracy"]] * 3


def test_a_terminal_gets_the_run_its_headline_metrics_the_params_that_differ_then_the_other_metrics():
    params = [f"train.param_{k}" for k in range(12)]
    runs = RUNS.assign(**{name: [f"{k}", f"{k}{k}", "x" * (k + 1)] for k, name in enumerate(params)},
                       **{"model.arch": ["mlp", "mlp", "cnn"], "train.seed": ["1", "2", "1"],
                          "run_name": ["a very long run name with every override in it", "b", "c"],
                          "test/macro_f1": [0.9, 0.9, 0.9], "train/final_collapsed_classes": [0.0, 1.0, 0.0]})
    table = comparison_table(runs, ["model.arch", "train.seed", *params])
    fitted = fit_to_width(table, ["model.arch", "train.seed", *params], 80)
    names = [name for name, _, _ in fitted.columns]
    assert names[:5] == ["run_id", "run_name", "test/accuracy", "train/final_collapsed_classes", "model.arch"]
    assert 1 + sum(width + 3 for _, _, width in fitted.columns) <= 80
    assert "test/macro_f1" not in names  # no room left for the other metrics
    assert set(names[4:]) | set(fitted.left_out) == {"model.arch", "train.seed", *params} and fitted.left_out
    assert fitted.left_out[-1] == "train.seed"  # two values: shown after the params with three
    headers = dict((name, header) for name, header, _ in fitted.columns)
    assert headers["model.arch"] == "arch" and headers["train.param_0"] == "param_0"
    wide = [name for name, _, _ in fit_to_width(table, ["model.arch", "train.seed", *params], 400).columns]
    assert wide == ["run_id", "run_name", "test/accuracy", "test/macro_f1", "train/final_collapsed_classes",
                    "model.arch", *params, "train.seed"]  # ties: the narrower first
    narrow = [name for name, _, _ in fit_to_width(table, ["model.arch", "train.seed", *params], 40).columns]
    assert narrow[:3] == ["run_id", "run_name", "test/accuracy"]
