"""The docs cannot rot: the reference pages are generated from the code, and the tutorial's commands run."""

import dataclasses
import re
import shutil
import subprocess
import sys
import typing

import pytest
import typer

from mnistflow.cli import app
from mnistflow.core.params import Params, TrainParams, flatten, load_params

from conftest import REPO, commit_all, make_project, repro, tool_environment

sys.path.insert(0, str(REPO / "docs"))
from reference_pages import cli_page, params_page, yaml_comments  # noqa: E402

PARAMS_TEXT = (REPO / "params.yaml").read_text()


def test_the_params_page_has_every_key_with_its_default_and_meaning():
    page = params_page(Params, PARAMS_TEXT)
    for key, value in flatten(load_params(REPO / "params.yaml")).items():
        row = next(line for line in page.splitlines() if line.startswith(f"| `{key}` |"))
        assert row.count("|") >= 5 and ("null" if value is None else str(value).lower()) in row.lower(), row
    assert "| `train.numerics` | str | `portable` | portable: AVX2 with FMA and single-threaded products" in page


def test_the_params_page_changes_when_a_param_is_added():
    extended_train = dataclasses.make_dataclass("TrainParams", [("momentum", float)], bases=(TrainParams,),
                                                frozen=True)
    hints = typing.get_type_hints(Params)
    fields = [(field.name, extended_train if field.name == "train" else hints[field.name])
              for field in dataclasses.fields(Params)]
    extended = dataclasses.make_dataclass("Params", fields, frozen=True)
    text = PARAMS_TEXT.replace("  threads: 1 ", "  momentum: 0.9            # the new param\n  threads: 1 ")
    page = params_page(extended, text)
    assert page != params_page(Params, PARAMS_TEXT)
    assert "| `train.momentum` | float | `0.9` | the new param |" in page


def test_comments_continue_on_indented_comment_lines():
    comments = yaml_comments("# section: what it is\ntrain:\n  threads: 1   # first\n               # second\n")
    assert comments == {"train": "section: what it is", "train.threads": "first second"}


def test_the_cli_page_lists_every_command_with_its_options():
    command = typer.main.get_command(app)
    page = cli_page(command)
    assert {line.removeprefix("## mnistflow ") for line in page.splitlines() if line.startswith("## ")} == set(
        command.commands)
    assert "| `--metric` | option | `test/accuracy` |" in page


def tutorial_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", (REPO / "docs" / "tutorial.md").read_text(), flags=re.S)


@pytest.mark.slow
def test_the_tutorial_runs_as_written(tmp_path):
    """Each ```bash block of docs/tutorial.md, in order, in a fresh project on small data (after `make run`)."""
    project = make_project(tmp_path / "project")
    for folder in ("configs", "docs/images"):
        shutil.copytree(REPO / folder, project / folder)
    (project / ".gitignore").write_text("/mlflow.db\n/mlartifacts/\n")
    repro(project)
    commit_all(project)
    blocks = tutorial_blocks()
    assert len(blocks) >= 6
    for block in blocks:
        result = subprocess.run(["bash", "-e", "-c", block], cwd=project, capture_output=True, text=True,
                                env=tool_environment(), timeout=900)
        assert result.returncode == 0, f"{block}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    assert "relabel" in (project / "data" / "label_review.csv").read_text()
