"""The tracking package is the only code that talks to MLflow."""

import ast
from pathlib import Path

from mnistflow import tracking

from conftest import REPO


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_nothing_outside_tracking_imports_mlflow():
    source = REPO / "src" / "mnistflow"
    outside = [path.relative_to(source).as_posix() for path in sorted(source.rglob("*.py"))
               if "tracking" not in path.relative_to(source).parts and "mlflow" in _imports(path)]
    assert outside == []


def test_the_package_exposes_one_name_per_job():
    assert tracking.connect.__module__ == "mnistflow.tracking.store"
    assert tracking.active_run.__module__ == "mnistflow.tracking.runs"
    assert tracking.log_provenance.__module__ == "mnistflow.tracking.provenance"
    assert tracking.log_keras_model.__module__ == "mnistflow.tracking.models"


def test_the_package_loads_mlflow_only_when_a_name_that_needs_it_is_used(tmp_path):
    """`mnistflow ui` starts MLflow's server before it opens the store: importing the package is cheap."""
    import subprocess
    import sys

    script = ("import sys; from mnistflow import tracking; from mnistflow.tracking.ui import ui_command; "
              "print('mlflow' in sys.modules); tracking.runs.process_tags; tracking.log_metrics; "
              "print('mlflow' in sys.modules); getattr(tracking, 'nonsense', None)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.stdout.split() == ["False", "True"], result.stderr[-2000:]
