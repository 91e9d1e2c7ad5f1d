"""Regenerate the pictures of the docs from real runs.

    mnistflow experiment classic-failure && mnistflow experiment fixed   # in a project, as the tutorial does
    python docs/make_pictures.py            # docs/images/collapse-vs-fixed.png, then the MLflow screenshots

Reads the newest finished runs named `classic-failure` and `fixed` from the project's store and draws their
last validation recall per class side by side, the way each run logs it (`val_recall_per_class`). Then
tests/test_browser.py photographs the MLflow run page and the registered model in headless Chromium
(docs/images/mlflow-*.png); `--no-screenshots` skips that.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

from mnistflow import tracking
from mnistflow.analysis import recall_chart
from mnistflow.core.params import load_params
from mnistflow.data.mnist import NUM_CLASSES
from mnistflow.tracking import queries

HERE = Path(__file__).resolve().parent


def final_recall(runs, name: str) -> list[float]:
    rows = runs[runs["run_name"] == name]
    if rows.empty:
        raise SystemExit(f"error: no finished run named {name!r}: run `mnistflow experiment {name}` first")
    row = rows.iloc[0]  # newest first
    return [float(row[f"val_recall/{label}"]) for label in range(NUM_CLASSES)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE / "images" / "collapse-vs-fixed.png")
    parser.add_argument("--no-screenshots", action="store_true", help="only the recall picture")
    arguments = parser.parse_args()
    root = tracking.require_project_root()
    params = load_params(root / "params.yaml")
    runs, _, _ = queries.runs_table(tracking.connect(params.tracking.experiment))
    threshold = params.diagnostics.collapse_threshold
    panels = [recall_chart.render(final_recall(runs, name), threshold, title)
              for name, title in (("classic-failure", "classic-failure: raw pixels, clipped loss"),
                                  ("fixed", "fixed: scaled pixels, Keras 3's loss"))]
    picture = Image.new("RGB", (sum(panel.width for panel in panels), panels[0].height), "white")
    for index, panel in enumerate(panels):
        picture.paste(panel, (index * panel.width, 0))
    picture.save(arguments.out)
    print(f"wrote {arguments.out}")
    if not arguments.no_screenshots:
        environment = {**os.environ, "MNISTFLOW_SCREENSHOTS": str(HERE / "images")}
        test = HERE.parent / "tests" / "test_browser.py"
        raise SystemExit(subprocess.run([sys.executable, "-m", "pytest", "-q", str(test), "-k", "screenshots"],
                                        env=environment).returncode)


if __name__ == "__main__":
    main()
