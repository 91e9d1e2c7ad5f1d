"""The run comparison table: the architecture, the params that differ between runs, and the key metrics; and
the part of it that fits a terminal."""

from __future__ import annotations

import dataclasses

import pandas as pd

from mnistflow.core.errors import UsageError

ALWAYS_SHOWN = ("model.arch",)  # the architecture, even when every run shares it
KEY_METRICS = ("test/accuracy", "test/macro_f1", "test/loss", "train/final_collapsed_classes",
               "train/epochs_collapsed")
COUNTS = frozenset({"train/final_collapsed_classes", "train/epochs_collapsed", "test/collapsed_classes"})  # integers


def comparison_table(runs: pd.DataFrame, params: list[str], sort_by: str = "test/accuracy",
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


HEADERS = {"run_id": "run", "run_name": "name", "test/accuracy": "test accuracy", "test/macro_f1": "test macro F1",
           "test/loss": "test loss", "train/final_collapsed_classes": "collapsed classes",
           "train/epochs_collapsed": "epochs collapsed"}  # headers wrap between words in a terminal
CELL_PADDING = 3  # a column's two spaces of padding and its border
MAX_RUN_NAME = 24
MIN_RUN_NAME = 8


@dataclasses.dataclass(frozen=True)
class Fitted:
    """The columns of a comparison table that fit a terminal: (name, header, width of its content) in the
    order shown, and the differing params left out."""

    columns: list[tuple[str, str, int]]
    left_out: list[str]


def fit_to_width(table: pd.DataFrame, params: list[str], width: int) -> Fitted:
    """The run's id (names repeat: `dvc repro mlp seed=1`) and name, then the key metrics, then as many of the
    params that differ as fit in `width` characters
    (the architecture first, then the params with the most distinct values). Run names are cut to what the
    metrics leave (at most MAX_RUN_NAME). A param's header drops its section when that keeps it unique
    (`model.mlp.units` -> `mlp.units`)."""
    metrics = [name for name in KEY_METRICS if name in table.columns]
    shown_params = sorted((name for name in table.columns if name in params),  # the most varied first
                          key=lambda name: (name not in ALWAYS_SHOWN, -table[name].astype(str).nunique(), name))
    headers = {**{name: HEADERS[name] for name in ["run_id", "run_name", *metrics]}, **short_headers(shown_params)}
    widths = {name: column_width(table, name, headers[name]) for name in ["run_id", *metrics, *shown_params]}
    used = 1 + sum(widths[name] for name in ["run_id", *metrics])
    widths["run_name"] = min(column_width(table, "run_name", "name"), max(MIN_RUN_NAME, width - used - CELL_PADDING)
                             + CELL_PADDING)
    used += widths["run_name"]
    columns, left_out = ["run_id", "run_name", *metrics], []
    for name in shown_params:
        if used + widths[name] <= width:
            columns.append(name)
            used += widths[name]
        else:
            left_out.append(name)
    return Fitted([(name, headers[name], widths[name] - CELL_PADDING) for name in columns], left_out)


def short_headers(params: list[str]) -> dict[str, str]:
    short = {name: name.split(".", 1)[-1] for name in params}
    unique = {header for header in short.values() if list(short.values()).count(header) == 1}
    return {name: header if header in unique else name for name, header in short.items()}


def column_width(table: pd.DataFrame, name: str, header: str) -> int:
    """The narrowest a column can be: its longest cell (run names cut at MAX_RUN_NAME) or its header's longest
    word, whichever is wider, plus padding."""
    cells = [len(cell(name, value)) for value in table[name]] if name in table else [0]
    widest = min(max(cells, default=0), MAX_RUN_NAME) if name == "run_name" else max(cells, default=0)
    return max(widest, *(len(word) for word in header.split())) + CELL_PADDING
