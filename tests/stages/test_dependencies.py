"""dvc.yaml declares what each stage really uses: every mnistflow module it imports, every param it reads.

Each stage runs in its own process on small data, exactly as dvc.yaml calls it, with a recorder that
notes the params keys read after params.yaml is loaded (validation inside the loader does not count) and
the mnistflow modules loaded at the end. Anything used but not declared is named.
"""

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, commit_all, make_project, small_params, tool_environment, write_yaml

HEAVY = ("tensorflow", "keras", "mlflow", "sklearn", "cleanlab", "matplotlib", "pandas", "scipy", "PIL", "jax",
         "torch")
# What each stage may load of the heavy libraries (each costs a second or more of start-up). Keras 3.15 itself
# imports PIL, pandas, scipy and matplotlib (not its pyplot) when they are installed; scikit-learn is for the
# folds of crossval and the metrics of evaluate, cleanlab for evaluate's label audit.
ALLOWED_HEAVY = {"prepare": set(),
                 "crossval": {"tensorflow", "keras", "mlflow", "pandas", "scipy", "PIL", "matplotlib", "sklearn"},
                 "train": {"tensorflow", "keras", "mlflow", "pandas", "scipy", "PIL", "matplotlib"},
                 "evaluate": {"tensorflow", "keras", "mlflow", "pandas", "scipy", "sklearn", "cleanlab",
                              "matplotlib", "PIL"}}

RECORDER = f"""
HEAVY = {HEAVY!r}
""" + """
import dataclasses, importlib, json, sys, typing
from mnistflow.core import params as params_module

read, recording = set(), [False]

def record_reads(cls, section):
    names = {field.name for field in dataclasses.fields(cls)}
    original = object.__getattribute__
    def getattribute(self, name):
        if recording[0] and name in names:
            read.add(f"{section}.{name}")
        return original(self, name)
    cls.__getattribute__ = getattribute

for section, cls in typing.get_type_hints(params_module.Params).items():
    record_reads(cls, section)
load_params = params_module.load_params
def recording_load(*arguments, **keywords):
    loaded = load_params(*arguments, **keywords)
    recording[0] = True
    return loaded
params_module.load_params = recording_load

module_name, argv, report = sys.argv[1], sys.argv[2:-1], sys.argv[-1]
try:
    importlib.import_module(module_name).main(argv)
finally:
    modules = sorted(name for name in sys.modules if name == "mnistflow" or name.startswith("mnistflow."))
    heavy = sorted(name for name in HEAVY if name in sys.modules)
    with open(report, "w") as handle:
        json.dump({"modules": modules, "params": sorted(read), "heavy": heavy}, handle)
"""


def module_file(name: str, source: Path) -> str:
    """mnistflow.tracking.queries -> src/mnistflow/tracking/queries.py (or the package's __init__.py)."""
    relative = Path(*name.split("."))
    path = relative.with_suffix(".py") if (source / relative.with_suffix(".py")).is_file() else relative / "__init__.py"
    return (Path("src") / path).as_posix()


def declared_params(stage: dict) -> set[str]:
    names = set()
    for entry in stage.get("params", []):
        names |= {entry} if isinstance(entry, str) else {key for keys in entry.values() for key in keys}
    return names


def declared_deps(stage: dict) -> set[str]:
    return {Path(dep).as_posix() for dep in stage.get("deps", [])}


def missing_declarations(stage: dict, modules: list[str], params_read: list[str], source: Path) -> list[str]:
    """What the stage used but dvc.yaml does not declare, as 'dep src/...' and 'param section.key'."""
    deps, params = declared_deps(stage), declared_params(stage)
    missing = []
    for name in modules:
        path = module_file(name, source)
        if not any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in deps):
            missing.append(f"dep {path}")
    for key in params_read:
        if key not in params and key.split(".")[0] not in params:
            missing.append(f"param {key}")
    return missing


def run_recorded(project: Path, command: str, report: Path) -> dict:
    words = shlex.split(command)
    assert words[:2] == ["python", "-m"], command
    result = subprocess.run([sys.executable, "-c", RECORDER, words[2], *words[3:], str(report)], cwd=project,
                            capture_output=True, text=True, env=tool_environment(), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(report.read_text())


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> dict[str, dict]:
    """Each stage of dvc.yaml, run in order in a small copy of the project, with what it used."""
    project = make_project(tmp_path_factory.mktemp("project"))
    write_yaml(project / "params.yaml", small_params(crossval={"enabled": True, "folds": 2}))
    commit_all(project)
    stages = yaml.safe_load((project / "dvc.yaml").read_text())["stages"]
    return {name: run_recorded(project, stage["cmd"], project / f"{name}.used.json") for name, stage in stages.items()}


@pytest.mark.slow
@pytest.mark.parametrize("stage_name", ["prepare", "crossval", "train", "evaluate"])
def test_dvc_yaml_declares_every_module_and_param_the_stage_uses(recorded, stage_name):
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][stage_name]
    used = recorded[stage_name]
    assert used["modules"] and (stage_name == "prepare" or used["params"])
    missing = missing_declarations(stage, used["modules"], used["params"], REPO / "src")
    assert not missing, f"dvc.yaml stage {stage_name} does not declare: {', '.join(missing)}"


@pytest.mark.slow
def test_a_removed_dep_or_param_is_named(recorded):
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["evaluate"]
    stage["deps"] = [dep for dep in stage["deps"] if dep != "src/mnistflow/analysis/gallery.py"]
    stage["params"] = [entry for entry in stage["params"] if entry != "diagnostics"]
    used = recorded["evaluate"]
    assert missing_declarations(stage, used["modules"], used["params"], REPO / "src") == [
        "dep src/mnistflow/analysis/gallery.py", "param diagnostics.collapse_threshold"]


def test_module_files_and_directory_deps():
    source = REPO / "src"
    assert module_file("mnistflow.tracking", source) == "src/mnistflow/tracking/__init__.py"
    assert module_file("mnistflow.data.mnist", source) == "src/mnistflow/data/mnist.py"
    stage = {"deps": ["src/mnistflow/tracking"], "params": ["train", {"params.yaml": ["evaluate.top"]}]}
    assert missing_declarations(stage, ["mnistflow.tracking", "mnistflow.tracking.queries", "mnistflow.data.mnist"],
                                ["train.units", "evaluate.top", "evaluate.other"], source) == [
        "dep src/mnistflow/data/mnist.py", "param evaluate.other"]


@pytest.mark.slow
@pytest.mark.parametrize("stage_name", ["prepare", "crossval", "train", "evaluate"])
def test_each_stage_loads_only_the_heavy_libraries_it_needs(recorded, stage_name):
    assert set(recorded[stage_name]["heavy"]) <= ALLOWED_HEAVY[stage_name], recorded[stage_name]["heavy"]
