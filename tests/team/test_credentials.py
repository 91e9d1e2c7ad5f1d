"""The store's keys: where they come from, and that only their owner can read the files that hold them."""

import json

from mnistflow.team.credentials import (
    CREDENTIALS_FILE,
    Credentials,
    dvc_local_config,
    seaweed_identities,
    stack_credentials,
    write_dvc_local_config,
)


def test_keys_come_from_the_environment_once_and_then_from_the_stack_folder(tmp_path):
    first = stack_credentials(tmp_path, {"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s3cret"})
    assert first == Credentials("AKID", "s3cret")
    assert stack_credentials(tmp_path, {"AWS_ACCESS_KEY_ID": "OTHER", "AWS_SECRET_ACCESS_KEY": "x"}) == first
    assert (tmp_path / CREDENTIALS_FILE).stat().st_mode & 0o777 == 0o600


def test_new_keys_are_random_and_private(tmp_path):
    made = [stack_credentials(tmp_path / name, {}) for name in ("a", "b")]
    assert made[0] != made[1] and len(made[0].secret_access_key) >= 30
    assert all((tmp_path / name / CREDENTIALS_FILE).stat().st_mode & 0o777 == 0o600 for name in ("a", "b"))
    assert made[0].secret_access_key not in repr(made[0])


def test_the_store_gets_one_identity_and_dvc_a_local_config(tmp_path):
    keys = Credentials("AKID", "s3cret")
    identity = json.loads(seaweed_identities(keys))["identities"]
    assert [entry["credentials"] for entry in identity] == [[{"accessKey": "AKID", "secretKey": "s3cret"}]]
    assert dvc_local_config("team", "http://127.0.0.1:8333", keys) == (
        "['remote \"team\"']\n    endpointurl = http://127.0.0.1:8333\n    access_key_id = AKID\n"
        "    secret_access_key = s3cret\n")
    path = write_dvc_local_config(tmp_path, "team", "http://127.0.0.1:8333", keys)
    assert path == tmp_path / ".dvc" / "config.local" and path.stat().st_mode & 0o777 == 0o600
