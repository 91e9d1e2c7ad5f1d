"""`mlflow run` entry points: pass on the -P parameters a user gave as `dvc exp run -S` overrides.

MLproject declares no parameters, so MLflow logs only those given (never an empty placeholder) and appends
each to the command as `--name value`; params.yaml stays the one home of the defaults. The stages then write
into the run that `mlflow run` created (they find it through MLFLOW_RUN_ID).
"""

from __future__ import annotations

import os
import subprocess
import sys
from types import MappingProxyType

from mnistflow.core.errors import UsageError, one_line_errors

PARAMETERS = MappingProxyType({
    "arch": "model.arch", "epochs": "train.epochs", "units": "model.mlp.units", "learning_rate": "train.learning_rate",
    "batch_size": "train.batch_size", "seed": "train.seed", "loss": "train.loss",
    "output_initializer": "model.mlp.output_initializer", "threads": "train.threads",
    "numerics": "train.numerics",
    "scale": "prepare.scale", "validation_fraction": "prepare.validation_fraction",
})
ENTRY_STAGES = MappingProxyType({"main": (), "prepare": ("--single-item", "prepare"),
                                 "train": ("--single-item", "train"), "evaluate": ("--single-item", "evaluate")})


def given_parameters(arguments: list[str]) -> dict[str, str]:
    """`--epochs 5 --units 128` (as `mlflow run` appends them) or `epochs=5` -> {"epochs": "5", ...}."""
    given, words = {}, list(arguments)
    while words:
        word = words.pop(0)
        if word.startswith("--") and "=" not in word:
            if not words:
                raise UsageError(f"-P {word[2:]} has no value")
            given[word[2:]] = words.pop(0)
        else:
            name, _, value = word.removeprefix("--").partition("=")
            given[name] = value
    unknown = sorted(set(given) - set(PARAMETERS))
    if unknown:
        raise UsageError(f"unknown parameter -P {unknown[0]} (expected one of {', '.join(PARAMETERS)})")
    return given


def dvc_command(entry: str, arguments: list[str]) -> list[str]:
    """`dvc exp run` for an entry point, with `-S` for each parameter given a value, in a temporary copy of the
    project: the workspace's params.yaml and outs stay as they are (`dvc exp apply` brings the experiment's)."""
    command = ["dvc", "exp", "run", "--temp", "--force", *ENTRY_STAGES[entry]]
    for name, value in given_parameters(arguments).items():
        if value:
            command += ["-S", f"{PARAMETERS[name]}={value}"]
    return command


def _check_experiment(run_id: str) -> None:
    from mnistflow import tracking
    from mnistflow.core import paths
    from mnistflow.core.params import load_params

    root = tracking.require_project_root()
    experiment = os.environ.get("MLFLOW_EXPERIMENT_NAME") or load_params(root / paths.PARAMS).tracking.experiment
    tracking.use_store(root)
    tracking.check_run_experiment(run_id, experiment)


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    entry, *arguments = sys.argv[1:] if argv is None else argv
    command = dvc_command(entry, arguments)
    if os.environ.get("MLFLOW_RUN_ID"):
        _check_experiment(os.environ["MLFLOW_RUN_ID"])
    print(" ".join(command), file=sys.stderr)
    raise SystemExit(subprocess.run(command).returncode)


if __name__ == "__main__":
    main()
