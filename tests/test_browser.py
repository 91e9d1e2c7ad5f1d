"""The MLflow UI in a real browser: headless Chromium renders the run page and the registered model's page of
a `dvc repro` run registered by `mnistflow register`, served by `mnistflow ui`.

Needs Debian's `chromium` (.ci/run installs it); elsewhere it is skipped with that reason.
"""

import html
import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, commit_all, make_project, repro, start_mnistflow_ui, tool_environment

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    pytest.skip("needs headless Chromium (apt-get install chromium; .ci/run does it)", allow_module_level=True)


def page_text(url: str) -> str:
    """The visible text of a page after its scripts ran (the UI is a single-page app)."""
    result = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=20000",
                             "--dump-dom", url], capture_output=True, text=True, timeout=180)
    document = re.sub(r"<(style|script)\b.*?</\1>", " ", result.stdout, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", document)))


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """A small project after `dvc repro` and `mnistflow register`, its store served by `mnistflow ui`."""
    project = make_project(tmp_path_factory.mktemp("project"))
    commit_all(project)
    repro(project)
    registered = subprocess.run(["mnistflow", "register"], cwd=project, capture_output=True, text=True,
                                env=tool_environment(), timeout=300)
    assert registered.returncode == 0, registered.stderr
    log = project / "ui.log"
    server, base = start_mnistflow_ui(project, log)
    yield base, json.loads((project / "models" / "run.json").read_text())["run_id"], log, project
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)


def test_the_run_page_shows_name_test_accuracy_dataset_and_model(ui):
    base, run_id, _, _ = ui
    text = page_text(f"{base}/#/experiments/1/runs/{run_id}?workflowType=machine_learning")
    assert "dvc repro mlp seed=1" in text, text[:3000]  # the run's name
    assert "Validation accuracy" in text and re.search(r"Test accuracy 0\.\d{4}", text)  # no click needed
    assert "mnist-train" in text  # the training split, logged as the run's dataset
    assert "mnist-digits" in text and "mnist-mlp" in text  # the registered model; the logged model's name
    assert "test/accuracy" in text and "val_recall/3" in text  # metrics in the groups the charts are made of


def test_the_url_mnistflow_ui_prints_lists_runs_best_first_with_the_headline_metrics_as_columns(ui):
    base, _, log, _ = ui
    url = re.search(r"runs by test accuracy: (\S+)", log.read_text())[1]
    text = page_text(url)
    assert "Sort: test/accuracy" in text, text[:3000]
    header = text[text.index("Run Name"):]
    assert re.search(r"test/accuracy test/macro_f1 test/collapsed_classes .*dvc repro mlp seed=1 .*0\.\d{4}", header)


def test_the_logged_model_page_shows_its_name_description_and_test_metrics_with_the_test_set(ui):
    base, run_id, _, project = ui
    model_id = _logged_model_id(project, run_id)
    text = page_text(f"{base}/#/experiments/1/models/{model_id}?workflowType=machine_learning")
    assert "mnist-mlp" in text and "MNIST digit classifier. Input : raw 28×28" in text.replace("**", ""), text[:3000]
    assert re.search(r"test/accuracy mnist-test \(#\w+\) dvc repro mlp seed=1 0\.\d+", text), text[:5000]


def test_the_recall_chart_of_the_last_epoch_renders(ui):
    base, run_id, _, project = ui
    chart = next(name for name in (project / "mlartifacts" / run_id / "artifacts" / "images").iterdir()
                 if name.suffix == ".png")
    page = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=20000",
                           "--dump-dom", f"{base}/#/experiments/1/runs/{run_id}/artifacts/images/{chart.name}"],
                          capture_output=True, text=True, timeout=180).stdout
    assert re.search(rf'<img alt="images/{re.escape(chart.name)}" src="blob:', page), page[-3000:]  # loaded


def image_card(url: str) -> str:
    """The HTML of the charts tab's last section, where the image card of a series without a prefix is, once
    drawn (MLflow draws a card when it scrolls into view: a window as tall as the page, and up to three tries)."""
    for _ in range(3):
        page = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                               "--run-all-compositor-stages-before-draw", "--virtual-time-budget=40000",
                               "--window-size=1280,12000", "--dump-dom", url],
                              capture_output=True, text=True, timeout=180).stdout
        card = page[page.rindex(">Model metrics<"):]
        card = card[:card.find("data-assistant-ui")]  # not the Assistant panel beside it
        if "aria-valuenow" in card:  # the card's step slider: drawn
            return card
    raise AssertionError(f"the image card was never drawn: {card[-3000:]}")


def test_the_recall_image_card_opens_on_a_chart(ui):
    """The run's charts tab: MLflow's image card starts at step 0, where the last epoch's chart is logged too."""
    base, run_id, _, _ = ui
    card = image_card(f"{base}/#/experiments/1/runs/{run_id}/model-metrics")
    assert 'aria-valuenow="0"' in card and "No image logged at this step" not in card, card[:5000]
    assert re.search(r'<img[^>]+src="[^"]+"', card), card[:5000]


def _logged_model_id(project: Path, run_id: str) -> str:
    import sqlite3

    with sqlite3.connect(project / "mlflow.db") as database:
        (uri,) = database.execute("select value from tags where run_uuid = ? and key = 'mnistflow.model_uri'",
                                  (run_id,)).fetchone()
    return uri.removeprefix("models:/")


def test_the_registered_model_page_shows_the_champion_and_its_description(ui):
    base, run_id, log, _ = ui
    text = page_text(f"{base}/#/models/mnist-digits")
    assert "MNIST digit classifier trained by the mnistflow pipeline" in text, text[:3000]
    assert "Version 1" in text and re.search(r"@ ?champion", text)
    assert run_id in text  # the version's source_run_id tag
    assert "Warning" not in log.read_text()  # `mnistflow ui` starts quietly


def screenshot(url: str, path) -> None:
    """A 1280x900 PNG of the page after its scripts ran."""
    result = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                             "--virtual-time-budget=20000", "--window-size=1280,900", f"--screenshot={path}", url],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0 and path.stat().st_size > 0, result.stderr[-2000:]


def test_screenshots_of_the_run_page_and_the_registered_model(ui, tmp_path):
    """The docs' screenshots come from here: MNISTFLOW_SCREENSHOTS=docs/images pytest tests/test_browser.py."""
    from PIL import Image

    folder = Path(os.environ.get("MNISTFLOW_SCREENSHOTS") or tmp_path)
    base, run_id, log, project = ui
    runs = re.search(r"runs by test accuracy: (\S+)", log.read_text())[1]
    model = f"{base}/#/experiments/1/models/{_logged_model_id(project, run_id)}?workflowType=machine_learning"
    for name, url in (("mlflow-run-page.png", f"{base}/#/experiments/1/runs/{run_id}?workflowType=machine_learning"),
                      ("mlflow-runs.png", runs), ("mlflow-logged-model.png", model),
                      ("mlflow-registered-model.png", f"{base}/#/models/mnist-digits")):
        screenshot(url, folder / name)
        with Image.open(folder / name) as image:
            colours = image.convert("L").getextrema()
        assert image.size == (1280, 900) and colours[1] - colours[0] > 100  # a drawn page, not a blank one


def test_dvc_plots_draws_every_plot_without_internet(ui, tmp_path):
    """`dvc plots show` with the committed .dvc/config and .dvc/plots: every vega plot has drawn its canvas and
    every figure its image, from a page that loads nothing from the network."""
    project = ui[3]
    shutil.copy(REPO / ".dvc" / "config", project / ".dvc" / "config")
    shutil.copytree(REPO / ".dvc" / "plots", project / ".dvc" / "plots", dirs_exist_ok=True)
    shown = subprocess.run(["dvc", "plots", "show", "-o", str(tmp_path / "plots")], cwd=project,
                           capture_output=True, text=True, env=tool_environment(), timeout=300)
    assert shown.returncode == 0, shown.stderr[-3000:]
    page = (tmp_path / "plots" / "index.html").read_text()
    assert not re.search(r"<script[^>]+src=", page) and "cdn." not in page  # everything it runs is inlined
    vega = re.findall(r"vegaEmbed\('#([^']+)'", page)
    assert {"Loss_per_epoch", "Test_recall_per_class", "Test_F1_per_class", "reports_confusion_csv"} <= set(vega)
    result = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=20000",
                             "--dump-dom", (tmp_path / "plots" / "index.html").as_uri()],
                            capture_output=True, text=True, timeout=180)
    divs = dict(re.findall(r'<div id="([^"]+)"(.*?)(?=<div id="|$)', result.stdout, flags=re.S))
    canvas = re.compile(r'<canvas width="[1-9]\d*" height="[1-9]\d*" class="marks"')
    drawn = [name for name in vega if canvas.search(divs.get(name, ""))]
    assert drawn == vega, f"not drawn: {sorted(set(vega) - set(drawn))}"
    images = re.findall(r'<img src="(static/[^"]+)"', result.stdout)
    assert len(images) == 3 and all((tmp_path / "plots" / source).is_file() for source in images), images
