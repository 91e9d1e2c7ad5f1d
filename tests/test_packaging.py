"""The project's own files install and run what the README says."""

import re
import tomllib

import yaml

from conftest import REPO


def _pins(requirements) -> dict[str, str]:
    pins = {}
    for requirement in requirements:
        name, _, version = requirement.partition("==")
        pins[name.lower()] = version
    return pins


def test_conda_yaml_lists_the_same_pins_as_pyproject():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    conda = yaml.safe_load((REPO / "conda.yaml").read_text())["dependencies"]
    pip_section = next(item["pip"] for item in conda if isinstance(item, dict))
    assert _pins(requirement for requirement in pip_section if "==" in requirement) == _pins(pyproject)
    assert all("==" in requirement for requirement in pyproject)


def test_lock_file_agrees_with_pyproject_pins():
    lock = _pins(line for line in (REPO / "requirements.lock").read_text().splitlines() if "==" in line)
    pyproject = _pins(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"])
    assert {name: lock.get(name) for name in pyproject} == pyproject
    assert "torch" not in lock  # the benchmark's peer is an optional extra, never a pipeline dependency


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    test_command = re.search(r"```(?:bash|sh)?\n(make test)\n```", readme).group(1)
    assert test_command in (REPO / ".ci" / "run").read_text().splitlines()


def test_mlproject_entry_points():
    project = yaml.safe_load((REPO / "MLproject").read_text())
    assert set(project["entry_points"]) >= {"main", "prepare", "train", "evaluate"}
    from mnistflow.mlproject import PARAMETERS

    for entry in ("main", "prepare", "train"):  # parameters declared in MLproject would be logged even when empty
        assert "parameters" not in project["entry_points"][entry]
        assert project["entry_points"][entry]["command"] == f"python -m mnistflow.mlproject {entry}"
    assert all(name in (REPO / "MLproject").read_text() for name in PARAMETERS)  # the names are listed there


def test_the_makefile_installs_with_the_uv_the_lock_file_pins():
    makefile = (REPO / "Makefile").read_text()
    lock = _pins(line for line in (REPO / "requirements.lock").read_text().splitlines() if "==" in line)
    assert "pip install --quiet -c requirements.lock uv" in makefile and lock.get("uv")
    assert "uv pip install --quiet --compile-bytecode --python $(VENV)/bin/python -c requirements.lock" in makefile
