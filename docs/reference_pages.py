"""The generated reference pages: every params.yaml key and every command, written from the code itself.

`mkdocs build` runs `write_pages` before it reads the docs (docs/hooks.py), so the pages cannot drift from
the params dataclasses, params.yaml's comments or the typer app.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path
from typing import Any

import yaml

KEY_LINE = re.compile(r"^(?P<indent> *)(?P<key>[a-z_]+):(?P<value>[^#]*?)\s*(?:#\s?(?P<comment>.*))?$")
CONTINUATION = re.compile(r"^ +#\s?(?P<comment>.*)$")


def yaml_comments(text: str) -> dict[str, str]:
    """The comment after each key of a YAML file, by dotted key; indented comment lines continue it."""
    comments: dict[str, str] = {}
    path: list[tuple[int, str]] = []
    last, above = None, []  # `above`: the full-line comments right before a top-level key describe it
    for line in text.splitlines():
        match = KEY_LINE.match(line)
        if match:
            indent = len(match["indent"])
            path = [(level, key) for level, key in path if level < indent] + [(indent, match["key"])]
            last = ".".join(key for _, key in path)
            comments[last] = (match["comment"] or "").strip() or (" ".join(above) if indent == 0 else "")
            above = []
        elif last and (continued := CONTINUATION.match(line)) and comments.get(last):
            comments[last] += " " + continued["comment"].strip()
        elif line.startswith("#"):
            above.append(line.lstrip("# ").strip())
        else:
            above = []
    return comments


def leaf_fields(cls: type, prefix: str = "") -> list[tuple[str, str]]:
    """(dotted key, type name) of every leaf field of a params dataclass, in declaration order."""
    hints = typing.get_type_hints(cls)
    rows = []
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if dataclasses.is_dataclass(hint):
            rows += leaf_fields(hint, f"{prefix}{field.name}.")
        else:
            name = getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
            rows.append((f"{prefix}{field.name}", name.replace("NoneType", "null")))
    return rows


def _value(raw: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        raw = raw[part]
    return raw


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def params_page(params_cls: type, params_text: str) -> str:
    """The params reference: one row per key, with its type, its default in params.yaml and its comment."""
    raw, comments = yaml.safe_load(params_text), yaml_comments(params_text)
    lines = ["# params.yaml", "",
             "Every key is required; an unknown key or a value out of range is a one-line error naming the key. "
             "The default is the value in the repository's `params.yaml`. This page is generated from the params "
             "classes and the comments in `params.yaml`.", ""]
    section = None
    for dotted, type_name in leaf_fields(params_cls):
        if dotted.split(".")[0] != section:
            section = dotted.split(".")[0]
            lines += ["", f"## {section}", "", comments.get(section, ""), "",
                      "| key | type | default | meaning |", "|---|---|---|---|"]
        default = yaml.safe_dump(_value(raw, dotted), default_flow_style=True).strip().removesuffix("...").strip()
        lines.append(f"| `{dotted}` | {_cell(type_name)} | `{default}` | {_cell(comments.get(dotted, ''))} |")
    return "\n".join(lines) + "\n"


def _option_row(param: Any) -> str:
    names = ", ".join(f"`{name}`" for name in [*param.opts, *getattr(param, "secondary_opts", [])])
    kind = "argument" if param.param_type_name == "argument" else "option"
    default = "" if param.required or param.default in (None, ()) else f"`{param.default}`"
    help_text = getattr(param, "help", None) or ""
    return f"| {names} | {kind} | {default} | {_cell(help_text)} |"


def cli_page(command: Any) -> str:
    """The CLI reference: every `mnistflow` command with its help and options, from the click command tree."""
    lines = ["# mnistflow commands", "",
             "Generated from the command-line app; `mnistflow COMMAND --help` prints the same.", ""]
    for name in sorted(command.commands):
        sub = command.commands[name]
        lines += [f"## mnistflow {name}", "", (sub.help or "").strip(), ""]
        params = [param for param in sub.params if param.name != "help"]
        if params:
            lines += ["| name | kind | default | meaning |", "|---|---|---|---|", *map(_option_row, params), ""]
    return "\n".join(lines) + "\n"


def write_pages(docs: Path, repo: Path) -> None:
    """Write reference/params.md and reference/cli.md under `docs`."""
    import typer

    from mnistflow.cli import app
    from mnistflow.core.params import Params

    (docs / "reference").mkdir(exist_ok=True)
    (docs / "reference" / "params.md").write_text(params_page(Params, (repo / "params.yaml").read_text()))
    (docs / "reference" / "cli.md").write_text(cli_page(typer.main.get_command(app)))
