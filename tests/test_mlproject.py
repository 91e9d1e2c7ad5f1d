"""`mlflow run` entry points pass on only the parameters the user gave."""

from mnistflow.mlproject import PARAMETERS, dvc_command


def test_only_given_parameters_become_overrides():
    assert dvc_command("main", ["epochs=", "units=128", "scale="]) == [
        "dvc", "exp", "run", "--temp", "--force", "-S", "model.mlp.units=128"]
    assert dvc_command("main", ["--units", "128", "--scale", "false"]) == [  # as `mlflow run` appends them
        "dvc", "exp", "run", "--temp", "--force", "-S", "model.mlp.units=128", "-S", "prepare.scale=false"]
    assert dvc_command("train", ["epochs="]) == ["dvc", "exp", "run", "--temp", "--force", "--single-item", "train"]
    assert dvc_command("main", [f"{name}=1" for name in PARAMETERS])[6::2] == [
        f"{dotted}=1" for dotted in PARAMETERS.values()]


def test_an_unknown_or_valueless_parameter_is_one_line(capsys):
    import pytest

    from mnistflow.mlproject import main

    for arguments, message in ((["--unitz", "3"], "unknown parameter -P unitz (expected one of arch, epochs"),
                               (["--units"], "-P units has no value")):
        with pytest.raises(SystemExit) as exited:
            main(["main", *arguments])
        assert exited.value.code == 2 and message in capsys.readouterr().err
