"""The S3 store's key pair: from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, else made once and kept in the
stack's folder (mode 0600). Keys travel in files and environments, never on a command line that `ps` shows."""

from __future__ import annotations

import dataclasses
import json
import secrets
from pathlib import Path

from mnistflow.core import atomic

CREDENTIALS_FILE = "credentials.json"


@dataclasses.dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str

    def environment(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}

    def __repr__(self) -> str:  # a traceback or log line never shows the secret
        return f"Credentials(access_key_id={self.access_key_id!r}, secret_access_key='***')"


def _write_private(path: Path, text: str) -> None:
    atomic.write_private_text(path, text)


def stack_credentials(folder: Path, environment: dict[str, str]) -> Credentials:
    """The stack's keys: the folder's file if there is one, else the environment's, else new ones; saved."""
    path = folder / CREDENTIALS_FILE
    if path.is_file():
        return Credentials(**json.loads(path.read_text()))
    if environment.get("AWS_ACCESS_KEY_ID") and environment.get("AWS_SECRET_ACCESS_KEY"):
        found = Credentials(environment["AWS_ACCESS_KEY_ID"], environment["AWS_SECRET_ACCESS_KEY"])
    else:
        found = Credentials(f"MNISTFLOW{secrets.token_hex(6).upper()}", secrets.token_urlsafe(30))
    _write_private(path, json.dumps(dataclasses.asdict(found)))
    return found


def seaweed_identities(credentials: Credentials) -> str:
    """SeaweedFS's S3 configuration: one identity with every right, and no anonymous access."""
    return json.dumps({"identities": [{
        "name": "mnistflow", "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        "credentials": [{"accessKey": credentials.access_key_id, "secretKey": credentials.secret_access_key}]}]})


def write_seaweed_identities(path: Path, credentials: Credentials) -> None:
    _write_private(path, seaweed_identities(credentials))


def dvc_local_config(existing: str, remote: str, endpoint: str, credentials: Credentials) -> str:
    """`.dvc/config.local` (git-ignored by DVC) with the remote's keys and, for this clone, its endpoint, and the
    remote as this clone's default (the committed .dvc/config names none: a clone without the team's packages,
    `make run`'s, could not run `dvc exp run` with an S3 default remote); every other setting already there (a
    cache dir, say) is kept."""
    from configobj import ConfigObj

    config = ConfigObj(existing.splitlines())
    config.setdefault("core", {})["remote"] = remote
    section = config.setdefault(f'remote "{remote}"', {})
    section.update({"endpointurl": endpoint, "access_key_id": credentials.access_key_id,
                    "secret_access_key": credentials.secret_access_key})
    return "\n".join(config.write()) + "\n"


def write_dvc_local_config(project: Path, remote: str, endpoint: str, credentials: Credentials) -> Path:
    path = project / ".dvc" / "config.local"
    existing = path.read_text() if path.is_file() else ""
    _write_private(path, dvc_local_config(existing, remote, endpoint, credentials))
    return path
