"""The `mnistflow` command: register, compare, predict, show, study, tune and the team stack, beside `dvc repro`
and `mlflow ui`. Each module holds a group of commands; this one puts them on one Typer app."""

from __future__ import annotations

import sys

import typer

from mnistflow.cli import images, runs, studies
from mnistflow.team.commands import team_app

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Track, compare, register and use mnistflow models.")
for command in (runs.register, runs.compare, runs.runs, runs.ui, runs.serve, images.predict, images.show,
                images.review, studies.study, studies.tune, studies.experiment):
    app.command()(command)
app.add_typer(team_app, name="team")


def without_flag_types(command):
    """Typer 0.29's help prints `<bool>` after every flag (`--json <bool>`), as if it took a value; an empty
    metavar, which a flag never uses, leaves the flag bare. For the command and each of its subcommands."""
    help_option = command.get_help_option(command.context_class(command))  # Typer's own click, not click's
    for param in [*command.params, *([help_option] if help_option else [])]:
        if getattr(param, "is_flag", False):
            param.metavar = ""
    for subcommand in getattr(command, "commands", {}).values():
        without_flag_types(subcommand)
    return command


def main() -> None:
    """The console entry point: a mistake on the command line is one line, like every other error."""
    command = without_flag_types(typer.main.get_command(app))
    try:
        code = command.main(prog_name="mnistflow", standalone_mode=False)
    except typer.Abort:
        raise SystemExit(130) from None
    except typer.TyperException as error:
        context = getattr(error, "ctx", None)
        if type(error).__name__ == "NoArgsIsHelpError" and context is not None:
            print(context.get_help())
        elif getattr(error, "exit_code", None) == 2:  # a usage error: bad option, value or command
            path = context.command_path if context is not None else "mnistflow"
            print(f"error: {error.format_message()} (see '{path} --help')", file=sys.stderr)
        else:
            raise
        raise SystemExit(2) from None
    raise SystemExit(code if isinstance(code, int) else 0)
