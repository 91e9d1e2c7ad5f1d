"""The run comparison table: the architecture, the params that differ between runs, and the key metrics."""

from __future__ import annotations

import pandas as pd

from mnistflow.core.errors import UsageError

ALWAYS_SHOWN = ("model.arch",)  # the architecture, even when every run shares it
KEY_METRICS = ("test_accuracy", "test_macro_f1", "test_loss", "final_collapsed_classes", "epochs_collapsed")


def comparison_table(runs: pd.DataFrame, params: list[str], sort_by: str = "test_accuracy",
                     ascending: bool = False) -> pd.DataFrame:
    """`runs` has run_id, run_name, each param (named in `params`) and metric as a column."""
    if runs.empty:
        return pd.DataFrame(columns=["run_id", "run_name", *KEY_METRICS])
    differing = [name for name in params
                 if name in ALWAYS_SHOWN or runs[name].astype(str).nunique(dropna=False) > 1]
    metrics = [name for name in KEY_METRICS if name in runs.columns]
    table = runs[["run_id", "run_name", *differing, *metrics]].copy()
    table["run_id"] = table["run_id"].str[:8]
    if sort_by not in table.columns:
        raise UsageError(f"--sort {sort_by!r}: choose one of {', '.join(table.columns)}")
    return table.sort_values(sort_by, ascending=ascending, na_position="last", ignore_index=True)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


def to_markdown(table: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)
