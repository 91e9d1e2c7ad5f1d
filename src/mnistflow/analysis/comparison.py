"""The run comparison table: the architecture, the params that differ between runs, and the key metrics."""

from __future__ import annotations

import pandas as pd

from mnistflow.core.errors import UsageError

ALWAYS_SHOWN = ("model.arch",)  # the architecture, even when every run shares it
KEY_METRICS = ("test_accuracy", "test_macro_f1", "test_loss", "final_collapsed_classes", "epochs_collapsed")
COUNTS = frozenset({"final_collapsed_classes", "epochs_collapsed", "test_collapsed_classes"})  # whole numbers


def comparison_table(runs: pd.DataFrame, params: list[str], sort_by: str = "test_accuracy",
                     ascending: bool = False) -> pd.DataFrame:
    """`runs` has run_id, run_name, each param (named in `params`) and metric as a column."""
    if runs.empty:
        return pd.DataFrame(columns=["run_id", "run_name", *KEY_METRICS])
    differing = sorted((name for name in params
                        if name in ALWAYS_SHOWN or runs[name].astype(str).nunique(dropna=False) > 1),
                       key=lambda name: (name not in ALWAYS_SHOWN, name))  # the same order on every call
    metrics = [name for name in KEY_METRICS if name in runs.columns]
    table = runs[["run_id", "run_name", *differing, *metrics]].copy()
    table["run_id"] = table["run_id"].str[:8]
    if sort_by not in table.columns:
        raise UsageError(f"--sort {sort_by!r}: choose one of {', '.join(table.columns)}")
    return table.sort_values(sort_by, ascending=ascending, na_position="last", ignore_index=True)


def cell(column: str, value) -> str:
    """A value as shown: counts as integers, other numbers to 4 decimals, a missing value empty."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return str(int(value)) if column in COUNTS and value.is_integer() else f"{value:.4f}"
    return str(value)


def rows(table: pd.DataFrame) -> list[list[str]]:
    return [[cell(column, value) for column, value in zip(table.columns, row, strict=True)]
            for row in table.itertuples(index=False)]


def to_markdown(table: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(table)]
    return "\n".join(lines)
