"""The run comparison table: the architecture, the params that differ between runs, and the key metrics; and
the part of it that fits a terminal."""

from __future__ import annotations

import dataclasses

import pandas as pd

from mnistflow.core.errors import UsageError

ALWAYS_SHOWN = ("model.arch",)  # the architecture, even when every run shares it
KEY_METRICS = ("test/accuracy", "test/macro_f1", "test/loss", "train/final_collapsed_classes",
               "train/epochs_collapsed")
HEADLINE = ("test/accuracy", "train/final_collapsed_classes")  # shown first in a narrow terminal
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
    """What fits in `width` characters, in this order of need: the run's id (names repeat: `dvc repro mlp
    seed=1`), its name (cut at MAX_RUN_NAME, or shorter when the terminal is narrow) and the HEADLINE metrics;
    then the params that differ (the architecture first, then the most varied, the narrower first), so that a
    param just changed is seen; then the other key metrics. Shown as run, metrics, params. A param's header
    drops its section when that keeps it unique (`model.mlp.units` -> `mlp.units`)."""
    metrics = [name for name in KEY_METRICS if name in table.columns]
    differing = [name for name in table.columns if name in params]
    headers = {**{name: HEADERS[name] for name in ["run_id", "run_name", *metrics]}, **short_headers(differing)}
    widths = {name: column_width(table, name, headers[name]) for name in ["run_id", "run_name", *metrics, *differing]}
    shown_params = sorted(differing, key=lambda name: (name not in ALWAYS_SHOWN, -table[name].astype(str).nunique(),
                                                       widths[name], name))
    chosen = ["run_id", "run_name", *(name for name in metrics if name in HEADLINE)]
    used = 1 + sum(widths[name] for name in chosen)
    widths["run_name"] = max(MIN_RUN_NAME + CELL_PADDING, widths["run_name"] - max(0, used - width))
    used = 1 + sum(widths[name] for name in chosen)
    for name in [*shown_params, *(name for name in metrics if name not in HEADLINE)]:
        if used + widths[name] <= width:
            chosen.append(name)
            used += widths[name]
    order = ["run_id", "run_name", *(name for name in metrics if name in chosen),
             *(name for name in shown_params if name in chosen)]
    return Fitted([(name, headers[name], widths[name] - CELL_PADDING) for name in order],
                  [name for name in shown_params if name not in chosen])


def short_headers(params: list[str]) -> dict[str, str]:
    """Each param's shortest header that no other shares: its last part (`units`), else without its section
    (`mlp.units`), else its full name."""
    headers = {}
    for name in params:
        parts = name.split(".")
        candidates = [".".join(parts[start:]) for start in range(len(parts) - 1, -1, -1)]
        headers[name] = next(candidate for candidate in candidates
                             if sum(other == candidate or other.endswith(f".{candidate}") for other in params) == 1)
    return headers


def column_width(table: pd.DataFrame, name: str, header: str) -> int:
    """The narrowest a column can be: its longest cell (run names cut at MAX_RUN_NAME) or its header's longest
    word, whichever is wider, plus padding."""
    cells = [len(cell(name, value)) for value in table[name]] if name in table else [0]
    widest = min(max(cells, default=0), MAX_RUN_NAME) if name == "run_name" else max(cells, default=0)
    return max(widest, *(len(word) for word in header.split())) + CELL_PADDING
