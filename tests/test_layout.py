"""The package's folders are layers: a module imports only from its own folder and the layers below it.

Lazy imports inside functions count too, so no shortcut around the layering hides in a function body.
"""

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "src" / "mnistflow"
# Each layer may import from itself and from every layer listed before it.
LAYERS = ["core", "tracking", "team", "data", "analysis", "models", "training", "study", "stages", "cli", "mlproject"]


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "mnistflow"


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mnistflow"):
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("mnistflow"))
    return names


def layering_violations(package: Path) -> list[str]:
    violations = []
    for path in sorted(package.rglob("*.py")):
        module = ".".join(("mnistflow", *path.relative_to(package).with_suffix("").parts))
        own = layer_of(module)
        if own in ("mnistflow", "__init__"):
            continue  # the package's __init__ imports nothing
        allowed = set(LAYERS[: LAYERS.index(own) + 1])
        for imported in sorted(imported_modules(path)):
            if imported != "mnistflow" and layer_of(imported) not in allowed:
                violations.append(f"{module} imports {imported}")
    return violations


def test_every_folder_is_a_layer_with_a_docstring():
    folders = {path.name for path in PACKAGE.iterdir() if path.is_dir() and (path / "__init__.py").exists()}
    modules = {path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__"}
    assert folders | modules == set(LAYERS)
    for folder in folders:
        assert ast.get_docstring(ast.parse((PACKAGE / folder / "__init__.py").read_text())), folder


def test_no_module_imports_from_a_higher_layer():
    assert layering_violations(PACKAGE) == []


def test_an_import_back_up_is_found(tmp_path):
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "__init__.py").write_text('"""core"""\n')
    (tmp_path / "core" / "params.py").write_text("def f():\n    from mnistflow.training.loop import Trainer\n")
    assert layering_violations(tmp_path) == ["mnistflow.core.params imports mnistflow.training.loop"]
