"""`mlflow run` entry points pass on only the parameters the user gave."""

from mnistflow.mlproject import PARAMETERS, dvc_command


def test_only_given_parameters_become_overrides():
    assert dvc_command("main", ["epochs=", "units=128", "scale="]) == [
        "dvc", "exp", "run", "--force", "-S", "model.mlp.units=128"]
    assert dvc_command("train", ["epochs="]) == ["dvc", "exp", "run", "--force", "--single-item", "train"]
    assert dvc_command("main", [f"{name}=1" for name in PARAMETERS])[5::2] == [
        f"{dotted}=1" for dotted in PARAMETERS.values()]
