"""The locks on SeaweedFS's inner servers: only the S3 gateway, which checks the store's keys, serves objects.

`weed server` also runs a master, a volume server and a filer, each with an HTTP and a gRPC port, and by
default none of them asks who calls. Here:
- they listen on the loopback interface only, whatever address the S3 gateway is given;
- the filer's and the master's HTTP APIs are off (the gateway reaches both through gRPC);
- the volume server accepts a read or a write only with a JWT signed by a key of the stack's own (the master
  hands such a token to the gateway, and to no one else, as its HTTP API is off);
- every gRPC port asks for a client certificate of the stack's own certificate authority (mutual TLS).
The keys and certificates are made once, in the stack's folder (`tls/`, private files), and reach SeaweedFS
through `WEED_*` variables, never a command line.
"""

from __future__ import annotations

import datetime
import json
import secrets
from pathlib import Path

from mnistflow.core import atomic

TLS_FOLDER, JWT_FILE = "tls", "jwt.json"
INNER_HOST = "127.0.0.1"
COMPONENTS = ("master", "volume", "filer", "s3", "client")
VALID_DAYS = 3650


def _private_key():  # noqa: ANN202 - cryptography's key type
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key) -> str:  # noqa: ANN001
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _certificate(subject_name: str, public_key, issuer_name: str, signing_key, authority: bool):  # noqa: ANN001
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_name)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
               .add_extension(x509.BasicConstraints(ca=authority, path_length=None), critical=True))
    if not authority:
        builder = (builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                                      x509.IPAddress(_loopback())]), critical=False)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                         ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
    return builder.sign(signing_key, hashes.SHA256())


def _loopback():  # noqa: ANN202
    import ipaddress

    return ipaddress.ip_address(INNER_HOST)


def _pem_certificate(certificate) -> str:  # noqa: ANN001
    from cryptography.hazmat.primitives import serialization

    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def make_locks(folder: Path) -> None:
    """The stack's certificate authority, one certificate for its servers and clients, and two JWT keys; kept
    when already made."""
    tls = folder / TLS_FOLDER
    if (tls / JWT_FILE).is_file():
        return
    tls.mkdir(mode=0o700, exist_ok=True)
    authority_key, server_key = _private_key(), _private_key()
    authority = _certificate("mnistflow team stack CA", authority_key.public_key(), "mnistflow team stack CA",
                             authority_key, authority=True)
    server = _certificate("mnistflow team stack", server_key.public_key(), "mnistflow team stack CA",
                          authority_key, authority=False)
    atomic.write_private_text(tls / "ca.crt", _pem_certificate(authority))
    atomic.write_private_text(tls / "stack.crt", _pem_certificate(server))
    atomic.write_private_text(tls / "stack.key", _pem_key(server_key))
    keys = {"write": secrets.token_urlsafe(32), "read": secrets.token_urlsafe(32)}
    atomic.write_private_text(tls / JWT_FILE, json.dumps(keys))


def seaweed_environment(folder: Path) -> dict[str, str]:
    """The `WEED_*` variables that put the locks on: JWT keys for the volume server, mutual TLS on every gRPC
    port (a component's certificate is also the one it shows as a client)."""
    tls = folder / TLS_FOLDER
    keys = json.loads((tls / JWT_FILE).read_text())
    environment = {"WEED_JWT_SIGNING_KEY": keys["write"], "WEED_JWT_SIGNING_READ_KEY": keys["read"],
                   "WEED_GRPC_CA": str(tls / "ca.crt"), "WEED_ACCESS_UI": "false"}
    for component in COMPONENTS:
        environment[f"WEED_GRPC_{component.upper()}_CERT"] = str(tls / "stack.crt")
        environment[f"WEED_GRPC_{component.upper()}_KEY"] = str(tls / "stack.key")
    return environment
