"""Self-signed certificates made in a test, for the hub's TLS (hub/wire/tls.py): each pair is a
certificate for 127.0.0.1 and localhost that is its own authority (a client trusts it by its
file: NODE_EXTRA_CA_CERTS, ssl's cafile, the SDK below), and its key; and what a client was
served, by fingerprint. Made with `cryptography` (in the test extra), so no openssl binary is
needed."""

import datetime
import hashlib
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

import pusher
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pusher.requests import RequestsBackend


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path
    fingerprint: str  # sha256 of the certificate's DER


def make_pair(directory: Path, name: str) -> Pair:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"hub test {name}")])
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    der = cert.public_bytes(serialization.Encoding.DER)
    return Pair(cert_path, key_path, hashlib.sha256(der).hexdigest())


def client_context(*trusted: Path) -> ssl.SSLContext:
    """A client's context trusting these certificates (and only them)."""
    context = ssl.create_default_context()
    for cert in trusted:
        context.load_verify_locations(cafile=str(cert))
    return context


def served_fingerprint(port: int, timeout: float = 5.0) -> str:
    """The sha256 fingerprint of the certificate the hub on 127.0.0.1:port serves now (a new
    connection, not verified: only looked at)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return hashlib.sha256(der).hexdigest()


class _TrustingBackend(RequestsBackend):
    """The SDK's requests backend, trusting the test's authority: the SDK pins its own bundle of
    public authorities, which a self-signed certificate is not in."""

    def __init__(self, client: pusher.Pusher, ca: str, **options: object) -> None:
        super().__init__(client, **options)
        self.options["verify"] = ca


def sdk_over_https(port: int, app: dict, ca: Path, timeout: float = 5.0) -> pusher.Pusher:
    """The official SDK for `app` (as `hub apps create --json` prints it) on 127.0.0.1:port over
    https, trusting the certificate `ca`."""
    return pusher.Pusher(
        app_id=app["id"],
        key=app["keys"][0]["key"],
        secret=app["keys"][0]["secret"],
        host="127.0.0.1",
        port=port,
        ssl=True,
        timeout=timeout,
        backend=_TrustingBackend,
        ca=str(ca),  # to the backend
    )
