"""Shared fixtures: the real MNIST file, shrunk params, real MLflow stores and one small trained run.

TensorFlow is imported once per test process; every store is a real SQLite MLflow store under tmp_path.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from mnistflow.core import process

REPO = Path(__file__).resolve().parents[1]
RAW_DATA = REPO / "data" / "raw" / "mnist.npz"

# A shrunk pipeline: 2,000 training images, 2 epochs.
SMALL_OVERRIDES = {"prepare": {"train_limit": 2000, "validation_fraction": 0.2},
                   "train": {"epochs": 2},
                   "diagnostics": {"saturation_sample": 200},
                   "evaluate": {"confident_mistakes": 16, "class_gallery_limit": 30, "label_issues_top_k": 20}}


def default_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def small_params(**sections) -> dict:
    """Default params with SMALL_OVERRIDES, then the given {section: {key: value}} overrides."""
    raw = copy.deepcopy(default_params())
    for overrides in (SMALL_OVERRIDES, sections):
        _merge(raw, overrides)
    return raw


def _merge(raw: dict, overrides: dict) -> None:
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            _merge(raw[key], value)
        else:
            raw[key] = value


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


EMULATIONS = pytest.StashKey[list]()  # the emulated trainings that this session started


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--emulations-early", action="store_true",
                     help="start the golden trainings under QEMU as the session begins (tests/golden.py)")


def pytest_configure(config: pytest.Config) -> None:
    """With --emulations-early, the controller (not an xdist worker) starts the emulated golden trainings, and
    its workers find their folder in the environment they inherit."""
    if not config.getoption("--emulations-early") or hasattr(config, "workerinput") or not shutil.which(
            "qemu-x86_64"):
        return
    import golden

    folder = Path(tempfile.mkdtemp(prefix="mnistflow-emulations-"))
    os.environ[golden.EMULATIONS_VARIABLE] = str(folder)
    config.stash[EMULATIONS] = golden.start_emulations(folder)


def pytest_unconfigure(config: pytest.Config) -> None:
    import golden

    golden.stop_emulations(config.stash.get(EMULATIONS, []))
    if EMULATIONS in config.stash:
        shutil.rmtree(os.environ.pop(golden.EMULATIONS_VARIABLE), ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The modules with the most slow tests run first. `make test` gives each of two workers whole modules
    (--dist loadfile) in this order, so the long ones start early and the workers end together, instead of one
    worker running the last long module alone. The order inside a module is kept."""
    slow = collections.Counter(item.path for item in items if item.get_closest_marker("slow"))
    items.sort(key=lambda item: -slow[item.path])


def tool_environment(**extra: str) -> dict[str, str]:
    """The environment for dvc / mnistflow / mlflow subprocesses: this venv first, no inherited MLflow vars."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment['PATH']}"
    return {**environment, **extra}


def make_project(folder: Path) -> Path:
    """A git + DVC copy of the project with the shrunk params file."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("dvc.yaml", "src", "MLproject", "conda.yaml"):
        source = REPO / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, folder / name)
    (folder / "data" / "raw").mkdir(parents=True)
    shutil.copy(RAW_DATA, folder / "data" / "raw" / "mnist.npz")
    shutil.copy(REPO / "data" / "label_review.csv", folder / "data" / "label_review.csv")
    write_yaml(folder / "params.yaml", small_params())
    for command in (["git", "init", "-q"], ["dvc", "init", "-q"]):
        subprocess.run(command, cwd=folder, check=True, env=tool_environment())
    return folder


def commit_all(folder: Path) -> None:
    for command in (["git", "add", "-A"],
                    ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "baseline"]):
        subprocess.run(command, cwd=folder, check=True, env=tool_environment())


def repro(project: Path, **extra: str) -> str:
    result = subprocess.run(["dvc", "repro"], cwd=project, capture_output=True, text=True,
                            env=tool_environment(**extra), timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def concurrent_trainings(folder: Path, epochs: int, count: int = 4, **environment: str) -> list[str]:
    """Prepare a small split in `folder`, then run `count` train stages at once; return their outputs."""
    from mnistflow.stages import prepare

    params = write_yaml(folder / "params.yaml", small_params(train={"epochs": epochs}))
    prepare.main(["--params", str(params), "--raw", str(RAW_DATA), "--out", str(folder / "prepared")])
    processes = [subprocess.Popen(
        [sys.executable, "-m", "mnistflow.stages.train", "--params", str(params), "--prepared", "prepared",
         "--model", f"m{k}.keras", "--history", f"h{k}.csv", "--run-file", f"r{k}.json"],
        cwd=folder, env=tool_environment(**environment), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True) for k in range(count)]
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    assert [process.returncode for process in processes] == [0] * count, outputs
    return outputs


POSTGRES_BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def as_postgres(*command: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True)


@pytest.fixture(scope="module")
def postgres_cluster():
    """A private PostgreSQL cluster (trust authentication) on a free port, with a database `mlflow`:
    (socket folder, port). Needs the server binaries and root; .ci/run installs them."""
    if not POSTGRES_BINARIES or os.geteuid() != 0:
        pytest.skip("needs PostgreSQL server binaries and root (apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="mnistflow-pg-"))
    shutil.chown(folder, "postgres")
    port = free_port()
    binaries = POSTGRES_BINARIES[-1]
    as_postgres(f"{binaries}/initdb", "-D", str(folder / "data"), "-A", "trust", "-U", "postgres")
    as_postgres(f"{binaries}/pg_ctl", "-D", str(folder / "data"), "-w", "-l", str(folder / "log"), "-o",
                f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start")
    as_postgres(f"{binaries}/createdb", "-h", "127.0.0.1", "-p", str(port), "mlflow")
    yield folder, port
    as_postgres(f"{binaries}/pg_ctl", "-D", str(folder / "data"), "-m", "fast", "stop")
    shutil.rmtree(folder, ignore_errors=True)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_mnistflow_ui(project: Path, log: Path, seconds: float = 180, options: tuple[str, ...] = (),
                       environment: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """`mnistflow ui` (with `options`, in `environment`, default tool_environment()) on a free port in
    `project`, its output in `log`, once GET /health answers; (the server, its base URL). The caller stops its
    process group."""
    import time
    import urllib.request

    port = free_port()
    with log.open("w") as sink:
        server = subprocess.Popen([str(Path(sys.executable).with_name("mnistflow")), "ui", "--port", str(port),
                                   *options], cwd=project, env=environment or tool_environment(), stdout=sink,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    base, deadline = f"http://127.0.0.1:{port}", time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(f"{base}/health", timeout=2).read()
            return server, base
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=60)
                raise AssertionError(log.read_text()[-3000:]) from None
            time.sleep(0.2)


def run_python(code: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def interruptible() -> None:
    """preexec_fn for a child that a test interrupts: Ctrl-C and SIGTERM back to their defaults.

    A process started with SIGINT ignored (a script's background job, nohup) passes that on to its
    children, and Python then installs no Ctrl-C handler: a test that sends SIGINT would test nothing.
    """
    import signal

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)


@pytest.fixture(scope="session", autouse=True)
def signals_as_in_a_terminal() -> None:
    """Ctrl-C raises KeyboardInterrupt in the test process, however the suite was started.

    Started as a script's background job or under nohup, a process inherits SIGINT ignored, Python then
    installs no handler, and so do the processes it starts: every test that interrupts something would fail.
    """
    import signal

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


LEFTOVER_GRACE = 15.0  # seconds a test's processes get to end after the test, under load


def _tagged_processes(tag: str) -> list[tuple[int, str]]:
    """(pid, command line) of every running process whose environment carries the test's tag."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if tag.encode() not in (entry / "environ").read_bytes():
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        facts = process.process_facts(int(entry.name))
        if facts is None or facts[1] == "Z":
            continue  # gone, or a zombie: it has ended
        if "multiprocessing.resource_tracker" in command and facts[2] == os.getpid():
            continue  # the test process's own resource tracker, started once and kept until it exits
        found.append((int(entry.name), command[:200]))
    return found


@pytest.fixture(autouse=True)
def no_process_left_behind(request):
    """Fail the test that leaves a process running: every process started during a test inherits a tag in
    its environment (also when it is re-parented to init), and none may still run shortly after the test."""
    import signal
    import time
    import uuid

    tag = f"MNISTFLOW_TEST_TAG={uuid.uuid4().hex}"
    os.environ["MNISTFLOW_TEST_TAG"] = tag.split("=", 1)[1]
    yield
    del os.environ["MNISTFLOW_TEST_TAG"]
    deadline = time.monotonic() + LEFTOVER_GRACE
    while (left := _tagged_processes(tag)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid, _ in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if left:
        pytest.fail(f"{request.node.nodeid} left {len(left)} process(es) running: "
                    + "; ".join(f"{pid} {command}" for pid, command in left), pytrace=False)


@pytest.fixture(autouse=True)
def restore_signal_handlers():
    """An entry point that was interrupted in-process ignores further signals, as it should while exiting."""
    import signal

    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


@pytest.fixture(scope="session", autouse=True)
def no_dvc_usage_reports():
    """DVC forks a reporter after each command that tries to reach its analytics server: 0.17 s of CPU each, and
    a file left in /tmp on a machine offline."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DVC_NO_ANALYTICS", "1")
        yield


@pytest.fixture(scope="session", autouse=True)
def tensorflow_threads() -> None:
    """TensorFlow in the test process runs with params.yaml's threads and numerics, like every launcher."""
    from mnistflow.core import runtime
    from mnistflow.core.params import parse_params

    train = parse_params(default_params()).train
    runtime.configure(train.threads, train.numerics)


@pytest.fixture(scope="session")
def raw_mnist() -> dict[str, np.ndarray]:
    from mnistflow.data.mnist import load_mnist

    return load_mnist(RAW_DATA)


@pytest.fixture(scope="session")
def digit_detector():
    """The no-digit detector `predict` ships with."""
    from mnistflow.data import detector

    return detector.load()


@pytest.fixture(scope="session")
def empty_store_template(tmp_path_factory) -> Path:
    """An initialized, empty MLflow SQLite database, made once (its migrations take seconds)."""
    import mlflow

    path = tmp_path_factory.mktemp("store-template") / "mlflow.db"
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store(tmp_path, monkeypatch, empty_store_template) -> str:
    """A fresh real MLflow store for one test, selected through MLFLOW_TRACKING_URI."""
    import mlflow

    database = tmp_path / "store" / "mlflow.db"
    database.parent.mkdir()
    shutil.copy(empty_store_template, database)
    uri = f"sqlite:///{database}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    mlflow.set_tracking_uri(uri)
    yield uri
    while mlflow.active_run():
        mlflow.end_run()


@pytest.fixture(scope="session")
def small_splits(raw_mnist):
    """Train/validation/test splits of the shrunk configuration, scaled, exactly as the prepare stage makes them."""
    from mnistflow.core.params import parse_params
    from mnistflow.data import mnist

    return mnist.prepare_splits(raw_mnist, parse_params(small_params()).prepare)


@pytest.fixture(scope="session")
def small_model(small_splits):
    """A model trained for 3 epochs on the 1,600-image split (about 90% test accuracy)."""
    from mnistflow.core.params import parse_params
    from mnistflow.training import pipeline

    params = parse_params(small_params(train={"epochs": 3}))
    model, records = pipeline.train_model(params, small_splits["train"], small_splits["validation"])
    return model, records, params


@pytest.fixture
def make_run(store, small_model, raw_mnist):
    """Log a real run: metrics, params, a collapse tag and (optionally) the real trained model."""
    from mnistflow import tracking
    from mnistflow.training import pipeline

    model, _, _ = small_model
    serving = pipeline.serving_model(model, scale=True)
    experiment_id = tracking.connect("mnistflow")

    def make(accuracy: float, collapsed: list[int] = (), with_model: bool = True, units: int = 64,
             learning_rate: float = 0.001) -> str:
        with tracking.active_run() as run_id:
            tracking.log_params({"model.mlp.units": units, "train.seed": 1, "train.learning_rate": learning_rate})
            tracking.log_metrics({"test_accuracy": accuracy, "final_collapsed_classes": float(len(collapsed)),
                                  "test_collapsed_classes": 0.0})
            tracking.set_tags({tracking.COLLAPSED_TAG: list(collapsed), "git_commit": "abc123"})
            if with_model:
                tracking.log_keras_model(serving, raw_mnist["x_test"][:2].astype(np.float32))
        return run_id

    make.experiment_id = experiment_id
    return make
