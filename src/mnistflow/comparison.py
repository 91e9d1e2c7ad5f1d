"""The run comparison table: only the params that differ between runs, plus the key metrics."""

from __future__ import annotations

import pandas as pd

from mnistflow.errors import UsageError

KEY_METRICS = ("test_accuracy", "test_macro_f1", "test_loss", "final_collapsed_classes", "epochs_collapsed")


def comparison_table(runs: pd.DataFrame, sort_by: str = "test_accuracy", ascending: bool = False) -> pd.DataFrame:
    if runs.empty:
        return pd.DataFrame(columns=["run_id", "run_name", *KEY_METRICS])
    params = [column for column in runs.columns if column.startswith("params.")]
    differing = [column for column in params if runs[column].astype(str).nunique(dropna=False) > 1]
    metrics = [f"metrics.{name}" for name in KEY_METRICS if f"metrics.{name}" in runs.columns]
    table = runs[["run_id", "tags.mlflow.runName", *differing, *metrics]].copy()
    table.columns = ["run_id", "run_name", *(column.split(".", 1)[1] for column in differing + metrics)]
    table["run_id"] = table["run_id"].str[:8]
    if sort_by not in table.columns:
        raise UsageError(f"cannot sort by {sort_by!r}: choose one of {', '.join(table.columns)}")
    return table.sort_values(sort_by, ascending=ascending, na_position="last", ignore_index=True)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


def to_markdown(table: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)
