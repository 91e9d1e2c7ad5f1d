"""`mnistflow team start | status | stop | connect`: the team stack, and a clone's DVC keys for its store."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer

from mnistflow.core.errors import TrackingError, UsageError, one_line_errors

team_app = typer.Typer(no_args_is_help=True, help="A shared S3 store and MLflow server for a team.")
FolderOption = Annotated[Path, typer.Option("--dir", help="the stack's folder: its data, keys, logs and state")]
REMOTE = "team"  # the DVC remote in .dvc/config


def _project_root() -> Path:
    from mnistflow.tracking import project_root

    root = project_root()
    if root is None:
        raise UsageError(f"{Path.cwd()} is not inside an mnistflow project (no dvc.yaml here or above)")
    return root


@team_app.command()
@one_line_errors
def start(folder: FolderOption = Path(".team"),
          host: Annotated[str, typer.Option(help="0.0.0.0 to let other machines in")] = "127.0.0.1",
          port: Annotated[int, typer.Option(min=1, max=65535, help="MLflow server port")] = 5000,
          s3_port: Annotated[int, typer.Option(min=1, max=65535, help="S3 gateway port")] = 8333,
          postgres: Annotated[bool, typer.Option(
              "--postgres", help="MLflow metadata in PostgreSQL at MNISTFLOW_POSTGRES_URI (else SQLite in --dir)")]
          = False) -> None:
    """Start SeaweedFS's S3 gateway and an MLflow server whose artifacts live there; write this clone's DVC keys."""
    from mnistflow.team import stack
    from mnistflow.team.credentials import stack_credentials, write_dvc_local_config

    postgres_uri = os.environ.get("MNISTFLOW_POSTGRES_URI") if postgres else None
    if postgres and not postgres_uri:
        raise UsageError("--postgres needs MNISTFLOW_POSTGRES_URI=postgresql://USER:PASSWORD@HOST:PORT/DB")
    from mnistflow.tracking import project_root

    running = stack.start(folder, host, s3_port, port, postgres_uri)
    print("\n".join(stack.status_lines(running)))
    if host in stack.WILDCARD_HOSTS:
        print(f"warning: --host {host}: the MLflow server answers anyone who reaches port {port} of this machine, "
              f"with no login (the S3 gateway on port {s3_port} asks for its keys); teammates use "
              f"MLFLOW_TRACKING_URI=http://{socket.gethostname()}:{port}", file=sys.stderr)
    root = project_root()
    if root is not None:  # this clone can push and pull at once, and its raw data is shared for a cluster
        write_dvc_local_config(root, REMOTE, running.store.url, stack_credentials(Path(running.folder), {}))
        print(f"DVC remote '{REMOTE}': {stack.DVC_PREFIX}, keys in {root / '.dvc' / 'config.local'}")
        _share_raw_data(root, running.server.url)
    print(f"export MLFLOW_TRACKING_URI={running.server.url}")


@team_app.command()
@one_line_errors
def status(folder: FolderOption = Path(".team")) -> None:
    """One line per service: running or stopped, where, and its log. Exit 1 unless both run."""
    from mnistflow.team import stack

    running = stack.Stack.load(folder.resolve())
    if running is None:
        kept = (folder / "seaweedfs").is_dir()
        print(f"team stack in {folder}: stopped; its data is kept there (`mnistflow team start --dir {folder}`)"
              if kept else f"no team stack in {folder}")
        raise typer.Exit(1)
    print("\n".join(stack.status_lines(running)))
    raise typer.Exit(0 if stack.alive(running.store) and stack.alive(running.server) else 1)


@team_app.command()
@one_line_errors
def stop(folder: FolderOption = Path(".team")) -> None:
    """Stop the MLflow server, then the store; their data stays in --dir."""
    from mnistflow.team import stack

    stopped = stack.stop(folder)
    print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@team_app.command()
@one_line_errors
def connect(folder: FolderOption = Path(".team")) -> None:
    """Give this clone the stack's DVC remote keys (in .dvc/config.local, git-ignored): for a teammate's clone."""
    from mnistflow.team import stack
    from mnistflow.team.credentials import CREDENTIALS_FILE, stack_credentials, write_dvc_local_config

    running = stack.Stack.load(folder.resolve())
    if running is None or not (folder / CREDENTIALS_FILE).is_file():
        raise TrackingError(f"no team stack in {folder}: start one with `mnistflow team start --dir {folder}`")
    root = _project_root()
    path = write_dvc_local_config(root, REMOTE, running.store.url, stack_credentials(folder, {}))
    print(f"{path}: DVC remote '{REMOTE}' at {running.store.url}")
    _share_raw_data(root, running.server.url)
    print(f"export MLFLOW_TRACKING_URI={running.server.url}")


def _share_raw_data(root: Path, server_url: str) -> None:
    from mnistflow.core import paths
    from mnistflow.tracking import datasets

    raw = paths.raw_data(root)
    if raw.is_file():
        print(f"raw data shared for studies on a cluster: --data {datasets.share(raw, server_url)}")


@team_app.command()
@one_line_errors
def check(remote: Annotated[str, typer.Option(help="the DVC remote to check")] = REMOTE) -> None:
    """Check this clone's DVC remote in one line: does the store answer, and does it accept the keys?"""
    from mnistflow.team.remote import check_remote

    print(check_remote(_project_root(), remote))
