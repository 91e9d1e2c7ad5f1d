"""The DVC remote on the team store, as DVC itself reads it (.dvc/config, then .dvc/config.local): checked
in one line, since a failing `dvc push` or `dvc pull` says `Forbidden` without naming the remote or its keys."""

from __future__ import annotations

from pathlib import Path

from mnistflow.core.errors import TrackingError
from mnistflow.team.credentials import Credentials


def remote_config(project: Path, name: str) -> dict:
    from dvc.repo import Repo

    with Repo(str(project)) as repo:
        remotes = repo.config["remote"]
        if name not in remotes:
            raise TrackingError(f"{project / '.dvc' / 'config'} has no DVC remote {name!r}")
        return dict(remotes[name])


def check_remote(project: Path, name: str) -> str:
    """One line: the remote answers and accepts its keys, or why not."""
    from botocore.exceptions import BotoCoreError, ClientError

    from mnistflow.team.stack import s3_client

    config = remote_config(project, name)
    url, endpoint = config["url"], config.get("endpointurl", "(AWS)")
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    keys = Credentials(config.get("access_key_id", ""), config.get("secret_access_key", ""))
    where = f"DVC remote {name!r} ({url} at {endpoint})"
    try:
        found = s3_client(config.get("endpointurl"), keys).list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1000)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "refused")
        raise TrackingError(f"{where} refused the keys in .dvc/config.local ({code}); `mnistflow team connect "
                            "--dir STACK_FOLDER` writes the stack's keys there") from None
    except BotoCoreError as error:
        raise TrackingError(f"{where} is unreachable ({str(error).splitlines()[0][:200]}); is the team stack "
                            "running? (`mnistflow team status`)") from None
    count = found.get("KeyCount", 0)
    return f"{where}: reachable, keys accepted, {count}{'+' if found.get('IsTruncated') else ''} objects"
