"""`mlflow run` entry points: pass on only the -P parameters a user gave, as `dvc exp run -S` overrides.

MLproject gives every parameter an empty default, so params.yaml stays the one home of the defaults: an
empty value means "not given" and is not passed on. The stages then write into the run that `mlflow run`
created (they find it through MLFLOW_RUN_ID).
"""

from __future__ import annotations

import subprocess
import sys
from types import MappingProxyType

PARAMETERS = MappingProxyType({
    "arch": "model.arch", "epochs": "train.epochs", "units": "model.mlp.units", "learning_rate": "train.learning_rate",
    "batch_size": "train.batch_size", "seed": "train.seed", "loss": "train.loss",
    "output_initializer": "model.mlp.output_initializer", "threads": "train.threads",
    "numerics": "train.numerics",
    "scale": "prepare.scale", "validation_fraction": "prepare.validation_fraction",
})
ENTRY_STAGES = MappingProxyType({"main": (), "prepare": ("--single-item", "prepare"),
                                 "train": ("--single-item", "train"), "evaluate": ("--single-item", "evaluate")})


def dvc_command(entry: str, assignments: list[str]) -> list[str]:
    """`dvc exp run` for an entry point, with `-S` for each `name=value` whose value is not empty."""
    command = ["dvc", "exp", "run", "--force", *ENTRY_STAGES[entry]]
    for assignment in assignments:
        name, _, value = assignment.partition("=")
        if value:
            command += ["-S", f"{PARAMETERS[name]}={value}"]
    return command


def main(argv: list[str] | None = None) -> None:
    entry, *assignments = sys.argv[1:] if argv is None else argv
    command = dvc_command(entry, assignments)
    print(" ".join(command), file=sys.stderr)
    raise SystemExit(subprocess.run(command).returncode)


if __name__ == "__main__":
    main()
