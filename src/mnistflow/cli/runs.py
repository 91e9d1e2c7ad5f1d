"""Commands on runs and models in the store: register, compare, runs, ui and serve."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mnistflow.cli.options import (
    Direction,
    ExperimentOption,
    Format,
    ModelNameOption,
    connect_experiment,
    current_dataset,
    model_name,
)
from mnistflow.core import paths
from mnistflow.core.errors import one_line_errors


@one_line_errors
def register(metric: Annotated[str, typer.Option(help="metric that picks the best run")] = "test/accuracy",
             direction: Annotated[Direction, typer.Option(help="max: higher is better")] = Direction.max,
             name: ModelNameOption = None, experiment: ExperimentOption = None) -> None:
    """Register the best FINISHED run of the project's dataset and move @champion to it if it beats the current
    one: one registered model per dataset (mnist-digits, fashion-mnist, ...)."""
    from mnistflow.tracking import registry, require_project_root, tracking_uri

    root = require_project_root()
    database = paths.sqlite_path(tracking_uri(root))
    if database is not None and not database.exists():
        print(f"no eligible run: no tracking store yet ({database}); `dvc repro` records the first run")
        raise typer.Exit(1)  # and nothing is created
    experiment_id = connect_experiment(experiment)
    dataset = current_dataset(root)
    outcome = registry.register_best(experiment_id, model_name(root, name), metric, direction.value,
                                     root / paths.REGISTRY_LOCK, dataset)
    print(outcome.message)
    if outcome.candidate is None and outcome.version is None:
        raise typer.Exit(1)  # nothing to register and no champion: not a success


@one_line_errors
def compare(sort: Annotated[str, typer.Option(help="column to sort by")] = "test/accuracy",
            ascending: Annotated[bool, typer.Option("--ascending", help="lowest first (default: highest)")] = False,
            filter: Annotated[str, typer.Option(help="MLflow filter, e.g. \"params.`model.mlp.units` = '128'\"")] = "",
            output_format: Annotated[Format, typer.Option("--format", help="how to print the table")] = Format.table,
            experiment: ExperimentOption = None) -> None:
    """Print the experiment's finished runs: params that differ, plus key metrics."""
    from mnistflow.analysis.comparison import comparison_table, to_markdown
    from mnistflow.tracking import metric_keys, queries

    runs, params, _ = queries.runs_table(connect_experiment(experiment), filter)
    table = comparison_table(runs, params, sort if sort in runs.columns else metric_keys.mlflow_key(sort), ascending)
    if output_format is Format.csv:
        sys.stdout.write(table.to_csv(index=False))
    elif output_format is Format.markdown:
        print(to_markdown(table))
    else:
        print_fitted(table, params, Console())


def print_fitted(table, params: list[str], console: Console) -> None:
    """The comparison as a table that fits the console's width; the params left out are named under it."""
    from rich.table import Table

    from mnistflow.analysis.comparison import cell, fit_to_width

    fitted = fit_to_width(table, params, console.width)
    rich_table = Table(title=f"{len(table)} finished runs")
    for _, header, width in fitted.columns:  # fixed widths, headers wrapped between words: rich keeps to them
        rich_table.add_column(textwrap.fill(header, width), width=width, no_wrap=True, overflow="ellipsis")
    for row in table.itertuples(index=False):
        values = dict(zip(table.columns, row, strict=True))
        rich_table.add_row(*(cell(name, values[name]) for name, _, _ in fitted.columns))
    console.print(rich_table)
    if fitted.left_out:
        console.print(f"{len(fitted.left_out)} more params differ: {', '.join(fitted.left_out)}. A wider terminal "
                      "shows them; --format markdown or csv shows every column.", highlight=False)


@one_line_errors
def runs(stale: Annotated[bool, typer.Option("--stale", help="only runs whose process is gone")] = False,
         mark_killed: Annotated[bool, typer.Option("--mark-killed", help="end the stale runs as KILLED")] = False,
         experiment: ExperimentOption = None) -> None:
    """List the runs the store calls RUNNING: is the process that started each alive, gone, or elsewhere?"""
    from mnistflow.tracking import runs as run_states

    running = run_states.running_runs([connect_experiment(experiment)])
    gone = [run for run in running if run.process == "gone"]
    for run in gone if stale else running:
        print(f"{run.run_id}  {run.process:7}  {run.host}:{run.pid}  {run.name}")
    if mark_killed and gone:
        run_states.mark_killed([run.run_id for run in gone])
        print(f"{len(gone)} stale run(s) marked KILLED")
    elif gone:
        print(f"{len(gone)} stale run(s): their process is gone; `mnistflow runs --mark-killed` ends them KILLED")
    elif not running:
        print("no RUNNING runs")


@one_line_errors
def ui(port: Annotated[int, typer.Option(min=1, max=65535, help="port of the MLflow UI")] = 5000,
       host: Annotated[str, typer.Option(help="0.0.0.0 to let other machines in")] = "127.0.0.1",
       access_log: Annotated[bool, typer.Option("--access-log", help="print a line per HTTP request")] = False) -> None:
    """Open MLflow's UI on this project's store: `mlflow ui`, one worker, no GenAI job runners, no warnings."""
    from mnistflow.core.process import run_group
    from mnistflow.tracking.ui import ui_command

    root = paths.require_project_root()
    uri = paths.tracking_uri(root)
    command, environment = ui_command(uri, host, port, access_log)
    database = paths.sqlite_path(uri)
    if database is not None and database.is_file():  # the server starts at once; the store opens beside it
        raise typer.Exit(run_group(command, environment, beside=lambda: _open_store_and_view(root, host, port)))
    _open_store_and_view(root, host, port)  # a new store is made before the server can see it half-made
    raise typer.Exit(run_group(command, environment))


def _open_store_and_view(root: Path, host: str, port: int) -> None:
    """Open the store safely, give the experiment the project's runs view, and say where the UI is."""
    from mnistflow.tracking import use_store, views
    from mnistflow.tracking.ui import apply_views

    use_store(root)
    base = f"http://{host}:{port}"
    message = f"MLflow UI on {base} (Ctrl-C stops it)"
    if (root / paths.PARAMS).is_file():  # the experiment's name is there; a bare store is served as it is
        experiment_id = connect_experiment(None, create=True)
        apply_views(experiment_id)
        message += f"; runs by test accuracy: {views.runs_url(base, experiment_id)}"
    print(message, file=sys.stderr)


@one_line_errors
def serve(model_uri: Annotated[str | None, typer.Option(
              help="model URI (default: models:/<name>@champion if it exists, else the newest finished run's)")]
          = None, name: ModelNameOption = None,
          port: Annotated[int, typer.Option(min=1, max=65535, help="port to serve on")] = 5001,
          host: Annotated[str, typer.Option(help="0.0.0.0 to let other machines in")] = "127.0.0.1",
          experiment: ExperimentOption = None) -> None:
    """Serve a model over HTTP with MLflow's scoring server: POST /invocations with raw pixels."""
    from mnistflow.tracking import registry, require_project_root, use_store
    from mnistflow.tracking.serving import serve as run_server

    root = require_project_root()
    use_store(root)
    chosen = registry.choose_model(lambda: connect_experiment(experiment), model_name(root, name), model_uri,
                                   dataset=current_dataset(root))
    print(f"model: {chosen.label}", file=sys.stderr)
    raise typer.Exit(run_server(require_project_root(), chosen.uri, host, port))
