"""The locks on SeaweedFS's inner servers: made once and private, and a command that keeps them on loopback."""

import ssl

from mnistflow.team import locks
from mnistflow.team.stack import seaweed_command


def test_the_locks_are_made_once_private_and_chain_to_the_stacks_own_authority(tmp_path):
    locks.make_locks(tmp_path)
    tls = tmp_path / locks.TLS_FOLDER
    made = {path.name: path.read_bytes() for path in tls.iterdir()}
    locks.make_locks(tmp_path)
    assert {path.name: path.read_bytes() for path in tls.iterdir()} == made
    assert oct(tls.stat().st_mode & 0o777) == "0o700"
    assert all(oct(path.stat().st_mode & 0o777) == "0o600" for path in tls.iterdir())
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(tls / "ca.crt"))
    context.load_cert_chain(tls / "stack.crt", tls / "stack.key")  # the key matches the certificate
    environment = locks.seaweed_environment(tmp_path)
    assert environment["WEED_JWT_SIGNING_KEY"] != environment["WEED_JWT_SIGNING_READ_KEY"]
    assert environment["WEED_GRPC_FILER_CERT"] == str(tls / "stack.crt")


def test_only_the_s3_gateway_listens_on_the_given_host(tmp_path):
    command = seaweed_command(tmp_path, "0.0.0.0", 9000)
    assert "-s3.ip.bind=0.0.0.0" in command and "-ip.bind=127.0.0.1" in command and "-ip=127.0.0.1" in command
    assert "-filer.disableHttp" in command and "-disableHttp" in command
    assert not any("0.0.0.0" in argument for argument in command if not argument.startswith("-s3.ip.bind="))
