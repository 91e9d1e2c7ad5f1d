import dataclasses
import hashlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from mnistflow.core.params import parse_params
from mnistflow.models.architectures import build_model, make_loss, make_optimizer
from mnistflow.training import pipeline
from mnistflow.training.loop import epoch_orders, make_epoch_function, one_hot

from conftest import REPO, run_python, small_params

WEIGHTS_SCRIPT = """
import hashlib, sys
import numpy as np
sys.path.insert(0, {tests!r})
from conftest import RAW_DATA, small_params
from mnistflow.data import mnist
from mnistflow.training import pipeline
from mnistflow.core.params import parse_params
arrays = mnist.load_mnist(RAW_DATA)
params = parse_params(small_params(train={{"seed": {seed}, **{train}}}, model={model}))
splits = mnist.prepare_splits(arrays, params.prepare)
model, records = pipeline.train_model(params, splits["train"], splits["validation"])
digest = hashlib.sha256(b"".join(np.asarray(w).tobytes() for w in model.get_weights())).hexdigest()
print(digest, repr(records[-1].metrics["val_accuracy"]), repr(records[-1].metrics["loss"]))
"""


def _weights_digest(model) -> str:
    return hashlib.sha256(b"".join(np.asarray(w).tobytes() for w in model.get_weights())).hexdigest()


# The CNN, small, with every source of randomness on: dropout, augmentation and a decaying step.
SMALL_CNN = {"arch": "cnn", "cnn": {"filters": 4, "dense_units": 16}}
CNN_TRAINING = {"augment_shift": 2, "learning_rate_decay": 0.8}


@pytest.mark.parametrize(("model", "train"), [({}, {}), (SMALL_CNN, CNN_TRAINING)], ids=["mlp", "cnn"])
def test_same_seed_gives_bit_identical_weights_across_processes_and_other_seed_differs(small_splits, model, train):
    params = parse_params(small_params(model=model, train=train))
    model_trained, records = pipeline.train_model(params, small_splits["train"], small_splits["validation"])
    here = f"{_weights_digest(model_trained)} {records[-1].metrics['val_accuracy']!r} {records[-1].metrics['loss']!r}"
    script = WEIGHTS_SCRIPT.format(tests=str(REPO / "tests"), seed=params.train.seed, model=model, train=train)
    result = run_python(script, REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[-2] == here
    other = parse_params(small_params(model=model, train={**train, "seed": params.train.seed + 1}))
    other_model, _ = pipeline.train_model(other, small_splits["train"], small_splits["validation"])
    assert _weights_digest(other_model) != _weights_digest(model_trained)


def test_retraining_starts_from_fresh_weights(small_splits):
    params = parse_params(small_params(train={"epochs": 1}))
    first, _ = pipeline.train_model(params, small_splits["train"], small_splits["validation"])
    second, _ = pipeline.train_model(params, small_splits["train"], small_splits["validation"])
    assert _weights_digest(first) == _weights_digest(second)  # no hidden state carried between runs


def test_epoch_function_takes_the_same_steps_as_keras_fit(small_splits):
    """Oracle: keras.Model.fit without shuffling, from the same initial weights, on the same batches."""
    params = parse_params(small_params()).model
    images, labels = small_splits["train"].images[:640], small_splits["train"].labels[:640]
    keras.utils.set_random_seed(3)
    ours, reference = build_model(params), build_model(params)
    reference.set_weights(ours.get_weights())
    run_epoch = make_epoch_function(ours, make_loss("crossentropy"), make_optimizer("adam", 1e-3), 64)
    loss, accuracy = run_epoch(tf.constant(images), one_hot(labels), tf.range(640))
    reference.compile(optimizer=make_optimizer("adam", 1e-3), loss=make_loss("crossentropy"), metrics=["accuracy"])
    history = reference.fit(images, one_hot(labels), batch_size=64, epochs=1, shuffle=False, verbose=0)
    for mine, theirs in zip(ours.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-6)
    assert float(loss) == pytest.approx(history.history["loss"][0], rel=1e-4)
    assert float(accuracy) == pytest.approx(history.history["accuracy"][0], abs=1e-6)


def test_fast_path_and_keras_fit_reach_the_same_accuracy(small_splits):
    params = parse_params(small_params(train={"epochs": 4}))
    train, validation = small_splits["train"], small_splits["validation"]
    _, records = pipeline.train_model(params, train, validation)
    keras.utils.set_random_seed(params.train.seed)
    reference = build_model(params.model)
    reference.compile(optimizer=make_optimizer("adam", 1e-3), loss=make_loss("crossentropy"), metrics=["accuracy"])
    reference.fit(train.images, one_hot(train.labels), batch_size=64, epochs=4, verbose=0)
    _, reference_accuracy = reference.evaluate(validation.images, one_hot(validation.labels), verbose=0)
    assert records[-1].metrics["val_accuracy"] == pytest.approx(reference_accuracy, abs=0.03)
    assert records[-1].metrics["val_accuracy"] > 0.8


def test_epoch_records_carry_every_per_epoch_metric(small_model):
    _, records, params = small_model
    assert [record.epoch for record in records] == [1, 2, 3]
    expected = {"loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds", "collapsed_classes",
                "min_class_recall", "true_class_prob_below_eps", "top_prob_above_1_minus_eps",
                "dead_relu_fraction", *(f"val_recall_{k}" for k in range(10))}
    assert set(records[-1].metrics) == expected
    rows = pipeline.history_rows(records)  # models/history.csv, a DVC out: no wall-clock timing
    assert set(rows[-1]) == {"epoch", *expected} - {"epoch_seconds"}
    assert records[-1].metrics["loss"] < records[0].metrics["loss"]


def test_epoch_orders_are_seeded_permutations():
    orders = list(epoch_orders(100, 3, seed=5))
    assert all(sorted(order.tolist()) == list(range(100)) for order in orders)
    assert not np.array_equal(orders[0], orders[1])
    assert all(np.array_equal(a, b) for a, b in zip(orders, epoch_orders(100, 3, seed=5), strict=True))


def test_epoch_orders_are_drawn_lazily():
    orders = epoch_orders(60000, 10**9, seed=1)  # a list would need 480 TB; a generator holds one order
    assert len(next(orders)) == 60000 and len(next(orders)) == 60000


def test_compiled_models_are_shared_only_by_runs_of_one_description():
    from mnistflow.training.loop import CompiledModels

    models, base = CompiledModels(), parse_params(small_params())
    restarted = dataclasses.replace(base.train, seed=7, epochs=3, learning_rate=0.01, augment_shift=2)
    assert models.get(base) is models.get(dataclasses.replace(base, train=restarted))
    model_changes = [("mlp", {"units": 32}), ("mlp", {"activation": "tanh"}), ("mlp", {"output_initializer": "zeros"}),
                     ("cnn", {"filters": 4}), ("cnn", {"dense_dropout": 0.1})]
    for family, change in model_changes:
        part = dataclasses.replace(getattr(base.model, family), **change)
        changed = dataclasses.replace(base, model=dataclasses.replace(base.model, **{family: part}))
        assert models.get(changed) is not models.get(base), change
    for change in ({"batch_size": 32}, {"loss": "clipped_crossentropy"}, {"optimizer": "sgd"}):
        assert models.get(dataclasses.replace(base, train=dataclasses.replace(base.train, **change))) is not \
            models.get(base), change
    assert len(models.by_key) == 9


@pytest.mark.parametrize(("model", "train"), [({}, {}), (SMALL_CNN, CNN_TRAINING)], ids=["mlp", "cnn"])
def test_a_reused_compiled_model_trains_like_a_fresh_one(small_splits, model, train):
    from mnistflow.training.loop import CompiledModels

    params = parse_params(small_params(model=model, train={"epochs": 1, **train}))
    train, validation = small_splits["train"], small_splits["validation"]
    fresh, _ = pipeline.train_model(params, train, validation)
    shared = CompiledModels()
    pipeline.train_model(dataclasses.replace(params, train=dataclasses.replace(params.train, seed=9)), train,
                         validation, compiled_models=shared)
    reused, _ = pipeline.train_model(params, train, validation, compiled_models=shared)
    assert _weights_digest(reused) == _weights_digest(fresh)
