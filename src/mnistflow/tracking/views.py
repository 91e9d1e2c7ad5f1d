"""What the MLflow UI shows first, as the project chooses it through experiment tags: the experiment's
description, and a saved runs view sorted by test accuracy with the headline metrics as columns.

MLflow 3.17's UI has no server-side default for the runs table. It does open a view saved as the experiment
tag `mlflow.sharedViewState.<key>` when the URL names the key, so `mnistflow ui` prints that URL.
"""

from __future__ import annotations

import json

EXPERIMENT_KIND, CLASSIC_ML = "mlflow.experimentKind", "custom_model_development"
DESCRIPTION_TAG = "mlflow.note.content"
VIEW_KEY = "mnistflow"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"
HEADLINE = ("test/accuracy", "test/macro_f1", "test/collapsed_classes", "train/final_collapsed_classes")
VIEW_PARAMS = ("model.arch",)

DESCRIPTION = """MNIST digit classifiers trained by the mnistflow pipeline (`dvc repro`, `mnistflow experiment`,
studies and tune). Each run's description says how training ended and its test accuracy.

- **Headline metrics**: `test/accuracy`, `test/macro_f1`, `test/collapsed_classes` (classes the model never
  predicts right; 0 is healthy) and `train/final_collapsed_classes`.
- **Charts**: one section per group, `test/` first; `train/loss` and `val/loss` per epoch; `val_recall/0…9`
  per class. The image series `val_recall_per_class` opens on the last epoch's recall per class (step 0); its
  slider walks the epochs.
- **Register** the best run without a collapsed class: `mnistflow register`."""


def column(kind: str, name: str) -> str:
    """A runs-table column as the UI keys it: metrics.`test/accuracy`."""
    return f"{kind}.`{name}`"


def runs_view() -> dict:
    """The saved runs view: best test accuracy first, the headline metrics and the architecture as columns."""
    columns = [*(column("metrics", name) for name in HEADLINE), *(column("params", name) for name in VIEW_PARAMS),
               column("attributes", "Models")]
    return {"orderByKey": column("metrics", HEADLINE[0]), "orderByAsc": False, "selectedColumns": columns,
            "columnOrder": columns}


def experiment_tags() -> dict[str, str]:
    return {EXPERIMENT_KIND: CLASSIC_ML, DESCRIPTION_TAG: DESCRIPTION, VIEW_TAG: json.dumps(runs_view())}


def runs_url(base: str, experiment_id: str) -> str:
    """The experiment's runs page in the saved view and in the UI's model-training mode (not GenAI)."""
    return f"{base}/#/experiments/{experiment_id}/runs?viewStateShareKey={VIEW_KEY}&workflowType=machine_learning"
