"""What a run records: training params and per-epoch metrics, then the evaluation's params and reports."""

import json

from mlflow import MlflowClient

from mnistflow import tracking
from mnistflow.core.params import parse_params
from mnistflow.data.catalog import FASHION_CLASSES, MNIST_DATASET, Dataset
from mnistflow.training import recording
from mnistflow.training.loop import CompiledModels

from conftest import small_params


def test_a_study_run_records_every_param_once_and_its_reports(store, small_splits):
    params = parse_params(small_params(train={"epochs": 2}))
    tracking.connect("recording")
    with tracking.active_run() as run_id:
        row = recording.train_and_evaluate(params, small_splits, CompiledModels(), MNIST_DATASET)
    run = MlflowClient().get_run(run_id)
    sections = {name.split(".")[0] for name in run.data.params}
    assert sections == set(recording.TRAINING_SECTIONS)  # no review params: the review file has no verdict
    raw = small_params()  # every training param once; of the model section, the chosen architecture's only
    training = sum(len(raw[section]) for section in recording.TRAINING_SECTIONS) - 2 + len(raw["model"]["mlp"])
    assert len(run.data.params) == training  # no review counts: the review file has no verdict
    evaluation = {key for key in run.data.tags if key.split(".")[0] in recording.EVALUATION_SECTIONS}
    assert evaluation == {f"{section}.{key}" for section in recording.EVALUATION_SECTIONS for key in raw[section]}
    assert run.data.tags["label_suspects_probabilities"] == "this model"
    assert run.data.metrics["train/seconds"] > 0
    assert [point.step for point in MlflowClient().get_metric_history(run_id, "val/accuracy")] == [1, 2]
    assert row["status"] == "FINISHED" and row["test_accuracy"] == run.data.metrics["test/accuracy"]
    assert {"final_collapsed_classes", "epochs_collapsed", "min_class_recall_final"} <= set(row)
    artifacts = {item.path for item in MlflowClient().list_artifacts(run_id)}
    assert {"figures", "errors", "confusion_matrix.json"} <= artifacts
    inputs = {item.dataset.name: item for item in run.inputs.dataset_inputs}  # the splits, with their digests
    assert set(inputs) == {"mnist-train", "mnist-validation", "mnist-test"}
    description = run.data.tags[tracking.DESCRIPTION_TAG]  # training's paragraph, then the evaluation's
    assert description.startswith("Dataset **mnist** (digits 0-9). **mlp** (units 64,")
    assert "\n\nTest accuracy **" in description
    assert run.data.tags["mnistflow.dataset"] == "mnist" and json.loads(run.data.tags["mnistflow.classes"]) == [
        str(digit) for digit in range(10)]
    profile = json.loads(inputs["mnist-train"].dataset.profile)
    assert profile["features_shape"] == [len(small_splits["train"].labels), 784]
    assert [tag.value for tag in inputs["mnist-test"].tags if tag.key == "mlflow.data.context"] == ["test"]
    assert run.data.tags[tracking.MODEL_URI_TAG].startswith("models:/")  # MLflow 3: a logged model, not an artifact
    images = [item.path for item in MlflowClient().list_artifacts(run_id, "images")]  # the recall chart per epoch
    steps = sorted(path.split("+step+")[1].split("+")[0] for path in images
                   if recording.RECALL_CHART in path and path.endswith(".png"))
    # 2 short epochs: the chart of the last one, and of the first too where it took longer than the chart interval
    # (a loaded machine): the interval is wall-clock, the last epoch's chart is not; the last one again at step 0,
    # where MLflow's image card opens
    assert [int(step) for step in steps] in ([0, 2], [0, 1, 2]), images


def test_the_train_stage_logs_only_the_params_it_declares(store, small_splits):
    params = parse_params(small_params())
    tracking.connect("sections")
    with tracking.active_run() as run_id:
        recording.start(params, small_splits, MNIST_DATASET)
    logged = MlflowClient().get_run(run_id).data.params
    assert logged and all(name.split(".")[0] in recording.TRAINING_SECTIONS for name in logged)
    assert "evaluate.label_issues_top_k" not in logged


def test_the_run_description_names_the_model_the_training_and_the_outcome(small_model):
    _, records, _ = small_model
    params = parse_params(small_params(model={"arch": "cnn"}))
    text = recording.training_description(params, records, MNIST_DATASET)
    assert text.startswith("Dataset **mnist** (digits 0-9). **cnn** (filters 32, dense_units 256, conv_dropout 0.25, "
                           "dense_dropout 0.5); 2 epochs")
    fashion = Dataset("fashion-mnist", FASHION_CLASSES)
    assert recording.training_description(params, records, fashion).startswith(
        "Dataset **fashion-mnist** (10 classes: T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, "
        "Bag, Ankle boot). **cnn**")
    assert f"Validation accuracy {records[-1].metrics['val_accuracy']:.4f}" in text
    assert recording.test_outcome({"test_accuracy": 0.99431, "test_macro_f1": 0.9941}, []) == \
        "Test accuracy **0.9943**, macro F1 0.9941; no class collapsed."
    assert "collapsed classes on the test set: [4, 9]" in recording.test_outcome(
        {"test_accuracy": 0.9, "test_macro_f1": 0.8}, ["4", "9"])
    assert "collapsed classes on the test set: [Shirt, Coat]" in recording.test_outcome(
        {"test_accuracy": 0.9, "test_macro_f1": 0.8}, ["Shirt", "Coat"])
