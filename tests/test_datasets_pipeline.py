"""A user's own image-folder dataset goes through the whole pipeline with no code change: `dvc repro`, a
registered model of its own, and `predict` answering with its class names."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from mlflow import MlflowClient
from PIL import Image

from mnistflow.data.catalog import FASHION_CLASSES
from mnistflow.data.datasets import FASHION_SYSTEM_FOLDER as FASHION_FOLDER

from conftest import RAW_DATA, REPO, commit_all, make_project, repro, tool_environment

CLASSES = {"one": 1, "seven": 7, "zero": 0}  # folder name -> MNIST digit drawn in it


def write_image_folder(folder, per_class: dict[str, int]) -> None:
    """train/<class>/*.png and test/<class>/*.png: MNIST digits saved dark on light at 56x56, as a scan would."""
    mnist = np.load(RAW_DATA)
    for split, count in per_class.items():
        images, labels = mnist[f"x_{split}"], mnist[f"y_{split}"]
        for name, digit in CLASSES.items():
            (folder / split / name).mkdir(parents=True)
            for number, index in enumerate(np.flatnonzero(labels == digit)[:count]):
                Image.fromarray(255 - images[index]).resize((56, 56)).save(folder / split / name / f"{number}.png")


@pytest.mark.slow
def test_an_image_folder_dataset_trains_registers_and_predicts_by_class_name(tmp_path):
    project = make_project(tmp_path / "project")
    write_image_folder(project / "data" / "raw" / "my-scans", {"train": 120, "test": 30})
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["prepare"].update(dataset="data/raw/my-scans", train_limit=None, validation_fraction=0.2)
    params["train"]["epochs"] = 4
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    commit_all(project)
    output = repro(project)
    assert "dataset my-scans: 3 classes (one, seven, zero)" in output
    described = json.loads((project / "data" / "dataset.json").read_text())
    assert described["classes"] == ["one", "seven", "zero"] and described["files"][0]["files"] == 450
    assert [line.split(",")[0] for line in (project / "reports/per_class.csv").read_text().splitlines()] == [
        "class", "one", "seven", "zero"]
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    assert any(dep["path"] == "data/raw" for dep in lock["stages"]["prepare"]["deps"])  # the data is a DVC dep
    shutil.copytree(REPO / ".dvc" / "plots", project / ".dvc" / "plots", dirs_exist_ok=True)
    plots = subprocess.run(["dvc", "plots", "show", "-o", str(tmp_path / "plots")], cwd=project, capture_output=True,
                           text=True, env=tool_environment(), timeout=300)
    assert plots.returncode == 0, plots.stderr[-2000:]  # the recall plot draws 3 classes' lines, not val_recall_0-9
    assert "Validation_recall_per_class" in (tmp_path / "plots" / "index.html").read_text()

    def mnistflow(*arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run(["mnistflow", *arguments], cwd=project, capture_output=True, text=True,
                              env=tool_environment(), timeout=300)

    registered = mnistflow("register")
    assert registered.returncode == 0 and "my-scans v1 from run" in registered.stdout, registered.stderr
    model = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}").get_registered_model("my-scans")
    assert "3 class probabilities per image, of the classes one, seven, zero" in model.description
    seven = project / "data/raw/my-scans/test/seven/0.png"
    predicted = mnistflow("predict", str(seven), "--json")
    assert predicted.returncode == 0, predicted.stderr
    assert "model: my-scans v1 @champion" in predicted.stderr
    assert json.loads(predicted.stdout)[0]["class"] == "seven"


def shoe_photo(path) -> None:
    """A Fashion-MNIST test sneaker as a product photo: dark on a white page, 224 pixels wide, with a margin."""
    from mnistflow.data import datasets

    arrays, _ = datasets.load("fashion-mnist", datasets.FASHION_SYSTEM_FOLDER)
    sneaker = arrays["x_test"][np.flatnonzero(arrays["y_test"] == 7)[0]]
    page = Image.new("L", (260, 260), 255)
    page.paste(Image.fromarray(255 - sneaker).resize((224, 224), Image.Resampling.BICUBIC), (18, 18))
    page.save(path)


@pytest.mark.slow
@pytest.mark.skipif(not FASHION_FOLDER.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_trains_as_an_experiment_with_a_champion_of_its_own(tmp_path):
    project = make_project(tmp_path / "project")
    commit_all(project)
    repro(project)  # MNIST first: its champion must survive Fashion-MNIST's

    def run(*command: str) -> subprocess.CompletedProcess:
        result = subprocess.run(list(command), cwd=project, capture_output=True, text=True, env=tool_environment(),
                                timeout=600)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        return result

    assert "mnist-digits v1 from run" in run("mnistflow", "register").stdout
    output = run("dvc", "exp", "run", "-S", "prepare.dataset=fashion-mnist", "-S", "prepare.train_limit=12000").stdout
    assert "warning: training ended with collapsed" not in output
    assert "dataset fashion-mnist: 10 classes (T-shirt/top, Trouser," in output
    per_class = (project / "reports/per_class.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in per_class[1:]] == list(FASHION_CLASSES)
    assert "fashion-mnist v1 from run" in run("mnistflow", "register").stdout
    shoe_photo(project / "shoe.png")
    predicted = run("mnistflow", "predict", "shoe.png", "--json")
    assert "model: fashion-mnist v1 @champion" in predicted.stderr
    assert json.loads(predicted.stdout)[0]["class"] in FASHION_CLASSES  # a real Fashion-MNIST image: not refused
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    champion = client.get_model_version_by_alias("fashion-mnist", "champion")
    logged = client.get_logged_model(champion.source.removeprefix("models:/"))
    folder = Path(logged.artifact_location.removeprefix("file://"))
    metadata = yaml.safe_load((folder if folder.is_absolute() else project / folder).joinpath("MLmodel").read_text())[
        "metadata"]
    assert metadata["classes"] == list(FASHION_CLASSES) and 0 < metadata["confidence_threshold"] < 1
    seven = run("mnistflow", "predict", str(REPO / "docs/images/seven.png"), "--name", "mnist-digits")
    assert "model: mnist-digits v1 @champion" in seven.stderr and ": 7 (p=" in seven.stdout
