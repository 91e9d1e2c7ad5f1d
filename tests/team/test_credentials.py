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


def test_the_store_gets_one_identity_and_dvc_a_local_config_that_keeps_other_settings(tmp_path):
    from configobj import ConfigObj

    keys = Credentials("AKID", "s3cret")
    identity = json.loads(seaweed_identities(keys))["identities"]
    assert [entry["credentials"] for entry in identity] == [[{"accessKey": "AKID", "secretKey": "s3cret"}]]
    (tmp_path / ".dvc").mkdir()
    (tmp_path / ".dvc" / "config.local").write_text("[cache]\n    dir = /shared/cache\n")
    path = write_dvc_local_config(tmp_path, "team", "http://127.0.0.1:8333", keys)
    assert path == tmp_path / ".dvc" / "config.local" and path.stat().st_mode & 0o777 == 0o600
    config = ConfigObj(str(path))
    assert config["cache"] == {"dir": "/shared/cache"}  # `team connect` keeps what the clone had
    assert config['remote "team"'] == {"endpointurl": "http://127.0.0.1:8333", "access_key_id": "AKID",
                                       "secret_access_key": "s3cret"}
    assert ConfigObj(dvc_local_config("", "team", "http://h:1", keys).splitlines())['remote "team"']["endpointurl"] \
        == "http://h:1"


def test_the_team_remote_is_a_clones_default_only_once_it_is_connected(tmp_path):
    """The committed .dvc/config names no default remote: with the S3 remote as default, `dvc exp run` (and so
    `mnistflow experiment`) failed in a clone set up by `make run`, which leaves dvc-s3 out. `team start` and
    `team connect` make it this clone's default, in .dvc/config.local."""
    from configobj import ConfigObj

    from conftest import REPO

    committed = ConfigObj(str(REPO / ".dvc" / "config"))
    assert "remote" not in committed.get("core", {}) and 'remote "team"' in committed
    path = write_dvc_local_config(tmp_path, "team", "http://127.0.0.1:8333", Credentials("AKID", "s3cret"))
    assert ConfigObj(str(path))["core"] == {"remote": "team"}
