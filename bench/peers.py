"""One training peer, timed in a process of its own: `python bench/peers.py PEER --epochs N`.

Every peer trains the same model (784 -> Dense 64 relu -> Dense 10 softmax, weights N(0, 0.05), zero biases)
with Adam (lr 1e-3, eps 1e-7) on batches of 64 from the same 55,000 scaled training images, one shuffle per
epoch, and prints one JSON line: the seconds of every epoch. Peers, each at its best settings:

- mnistflow: the pipeline's own training (pipeline.train_model, params.yaml's defaults);
- torch-eager: PyTorch eager, with torch.set_flush_denormal(True) (MNIST's zeros make subnormals);
- torch-compile: the same, with the training step under torch.compile;
- jax-scan: one jitted jax.lax.scan over the epoch's batches, with optax's Adam.

The CNN peers train configs/cnn.yaml's network (two 5x5 stride-2 ReLU convolutions, 32 and 64 filters, dropout,
Dense 128, dropout, Dense 10) with Adam on its batch size, timing the training steps only (mnistflow's shifted
images are drawn before its epoch clock starts):
- mnistflow-cnn: pipeline.train_model with params.yaml + configs/cnn.yaml;
- mnistflow-native, mnistflow-cnn-native: the same two with train.numerics native (the CPU's widest kernels);
- torch-cnn-eager: the same network in PyTorch eager, flushed denormals, at configs/cnn.yaml's thread count.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BATCH = 64


def splits():
    from mnistflow.core.params import load_params
    from mnistflow.data import mnist

    params = load_params(REPO / "params.yaml")
    prepared = mnist.prepare_splits(mnist.load_mnist(REPO / "data" / "raw" / "mnist.npz"), params.prepare)
    return params, prepared["train"], prepared["validation"]


def cnn_params(epochs: int):
    """params.yaml with configs/cnn.yaml's overrides and the given epoch count."""
    from mnistflow.core.params import apply_overrides, read_yaml

    overrides = {**read_yaml(REPO / "configs" / "cnn.yaml"), "train.epochs": epochs}
    return apply_overrides(read_yaml(REPO / "params.yaml"), overrides)


def mnistflow_epochs(epochs: int, cnn: bool = False, numerics: str = "portable") -> list[float]:
    import dataclasses

    from mnistflow.training import pipeline

    params, train, validation = splits()
    params = cnn_params(epochs) if cnn else params
    params = dataclasses.replace(params, train=dataclasses.replace(params.train, epochs=epochs, numerics=numerics))
    _, records = pipeline.train_model(params, train, validation)
    return [record.metrics["epoch_seconds"] for record in records]


def torch_cnn_epochs(epochs: int) -> list[float]:
    import torch
    from torch import nn

    params = cnn_params(epochs)
    cnn, batch = params.model.cnn, params.train.batch_size
    torch.set_flush_denormal(True)
    torch.set_num_threads(params.train.threads)
    torch.manual_seed(1)
    model = nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, cnn.filters, 5, stride=2, padding=2), nn.ReLU(),
                          nn.Conv2d(cnn.filters, 2 * cnn.filters, 5, stride=2, padding=2), nn.ReLU(), nn.Flatten(),
                          nn.Dropout(cnn.conv_dropout), nn.Linear(49 * 2 * cnn.filters, cnn.dense_units), nn.ReLU(),
                          nn.Dropout(cnn.dense_dropout), nn.Linear(cnn.dense_units, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=params.train.learning_rate, eps=1e-7)
    _, train, _ = splits()
    return _torch_loop(model, optimizer, train, batch, epochs)


def _torch_loop(model, optimizer, train, batch_size: int, epochs: int, compiled: bool = False) -> list[float]:
    import torch

    loss_function = torch.nn.CrossEntropyLoss()

    def step(images, labels):
        optimizer.zero_grad()
        loss = loss_function(model(images), labels)
        loss.backward()
        optimizer.step()
        return loss

    step = torch.compile(step) if compiled else step
    images, labels = torch.from_numpy(train.images), torch.from_numpy(train.labels.astype(np.int64))
    times = []
    for _ in range(epochs):
        started = time.perf_counter()
        order = torch.randperm(len(labels))
        for start in range(0, len(labels), batch_size):
            batch = order[start:start + batch_size]
            step(images[batch], labels[batch])
        times.append(time.perf_counter() - started)
    return times


def torch_epochs(epochs: int, compiled: bool) -> list[float]:
    import torch

    torch.set_flush_denormal(True)
    torch.manual_seed(1)
    _, train, _ = splits()
    model = torch.nn.Sequential(torch.nn.Linear(784, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    for layer in (model[0], model[2]):
        torch.nn.init.normal_(layer.weight, std=0.05)
        torch.nn.init.zeros_(layer.bias)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    return _torch_loop(model, optimizer, train, BATCH, epochs, compiled)


def jax_epochs(epochs: int) -> list[float]:
    import jax
    import jax.numpy as jnp
    import optax

    _, train, _ = splits()
    key = jax.random.PRNGKey(1)
    first, second = jax.random.split(key)
    params = {"w1": 0.05 * jax.random.normal(first, (784, 64)), "b1": jnp.zeros(64),
              "w2": 0.05 * jax.random.normal(second, (64, 10)), "b2": jnp.zeros(10)}
    optimizer = optax.adam(1e-3, eps=1e-7)

    def loss(params, images, labels):
        hidden = jax.nn.relu(images @ params["w1"] + params["b1"])
        logits = hidden @ params["w2"] + params["b2"]
        return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    @jax.jit
    def epoch(params, state, images, labels, order):
        steps = order.shape[0] // BATCH

        def body(carry, index):
            params, state = carry
            batch = jax.lax.dynamic_slice(order, (index * BATCH,), (BATCH,))
            grads = jax.grad(loss)(params, images[batch], labels[batch])
            updates, state = optimizer.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), None

        (params, state), _ = jax.lax.scan(body, (params, state), jnp.arange(steps))
        return params, state

    images, labels = jnp.asarray(train.images), jnp.asarray(train.labels.astype(np.int32))
    state, generator, times = optimizer.init(params), np.random.default_rng(1), []
    full = len(train.labels) // BATCH * BATCH  # the scan takes the full batches (the last 24 images wait)
    for _ in range(epochs):
        started = time.perf_counter()
        order = jnp.asarray(generator.permutation(len(train.labels))[:full].astype(np.int32))
        params, state = epoch(params, state, images, labels, order)
        jax.block_until_ready(params)
        times.append(time.perf_counter() - started)
    return times


PEERS = {"mnistflow": mnistflow_epochs, "mnistflow-cnn": lambda epochs: mnistflow_epochs(epochs, cnn=True),
         "mnistflow-native": lambda epochs: mnistflow_epochs(epochs, numerics="native"),
         "mnistflow-cnn-native": lambda epochs: mnistflow_epochs(epochs, cnn=True, numerics="native"),
         "torch-cnn-eager": torch_cnn_epochs, "torch-eager": lambda epochs: torch_epochs(epochs, compiled=False),
         "torch-compile": lambda epochs: torch_epochs(epochs, compiled=True), "jax-scan": jax_epochs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("peer", choices=sorted(PEERS))
    parser.add_argument("--epochs", type=int, default=6)
    arguments = parser.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    print(json.dumps({"peer": arguments.peer, "epoch_seconds": PEERS[arguments.peer](arguments.epochs)}))


if __name__ == "__main__":
    main()
