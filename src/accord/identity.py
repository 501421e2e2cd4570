"""X.509 identities of a ledger: the service certificate, node TLS certificates, user certificates.

Following CCF and Azure Confidential Ledger, the *service certificate* is a self-signed CA that
clients pin; each node's TLS certificate is endorsed (issued) by it. User certificates are
self-signed and identified by their SHA-256 fingerprint. Keys are ECDSA P-384 as in CCF.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from accord.errors import ConfigurationError, InvalidRequest

_FINGERPRINT_HEX = re.compile(r"^[0-9A-Fa-f]{64}$")
_FINGERPRINT_COLON = re.compile(r"^(?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$")


@dataclass(frozen=True)
class KeyAndCert:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _validity(now: datetime.datetime, days: int) -> tuple[datetime.datetime, datetime.datetime]:
    return now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    start: datetime.datetime,
    end: datetime.datetime,
) -> x509.CertificateBuilder:
    """The part every accord certificate shares: names, key, a random serial, validity."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )


def make_service_identity(ledger_name: str, *, days: int = 3650) -> KeyAndCert:
    """A self-signed CA certificate for the whole service."""
    key = ec.generate_private_key(ec.SECP384R1())
    now = datetime.datetime.now(datetime.UTC)
    start, end = _validity(now, days)
    subject = _name(f"accord service {ledger_name}")
    cert = (
        _builder(subject, subject, key, start, end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA384())
    )
    return KeyAndCert(key, cert)


def make_node_identity(service: KeyAndCert, hosts: list[str], *, days: int = 3650) -> KeyAndCert:
    """A TLS certificate for one node, issued by the service certificate.

    It serves HTTPS, and it is the node's client certificate when it calls another node or its
    ordering server (mTLS), so it allows both uses.
    """
    if not hosts:
        raise ConfigurationError("a node certificate needs at least one host name")
    key = ec.generate_private_key(ec.SECP384R1())
    now = datetime.datetime.now(datetime.UTC)
    start, end = _validity(now, days)
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        _builder(_name("accord node"), service.cert.subject, key, start, end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(service.key.public_key()),
            critical=False,
        )
        .sign(service.key, hashes.SHA384())
    )
    return KeyAndCert(key, cert)


def make_user_identity(
    common_name: str, *, days: int = 825, now: datetime.datetime | None = None
) -> KeyAndCert:
    """A self-signed client certificate for a user, valid from ``now`` (default: the present)."""
    key = ec.generate_private_key(ec.SECP384R1())
    start, end = _validity(now or datetime.datetime.now(datetime.UTC), days)
    subject = _name(common_name)
    cert = (
        _builder(subject, subject, key, start, end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(key, hashes.SHA384())
    )
    return KeyAndCert(key, cert)


def fingerprint(cert: x509.Certificate | bytes) -> str:
    """Canonical user id of a certificate: SHA-256 of its DER, as upper-case colon-separated hex."""
    der = cert if isinstance(cert, bytes) else cert.public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, 64, 2))


def normalize_fingerprint(text: str) -> str:
    """Accept ``AB:CD:…`` (as ``openssl x509 -fingerprint -sha256`` prints) or plain hex."""
    candidate = text.strip()
    if candidate.lower().startswith("sha256 fingerprint="):
        candidate = candidate.split("=", 1)[1]
    if _FINGERPRINT_COLON.match(candidate):
        candidate = candidate.replace(":", "")
    if not _FINGERPRINT_HEX.match(candidate):
        raise InvalidRequest(
            f"{text!r} is not a SHA-256 certificate fingerprint (64 hex digits, colons optional)"
        )
    upper = candidate.upper()
    return ":".join(upper[i : i + 2] for i in range(0, 64, 2))


def write_private(path: Path, data: bytes) -> None:
    """Write a secret file created with mode 0600 (never world- or group-readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def write_public(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_key_and_cert(key_path: Path, cert_path: Path) -> KeyAndCert:
    try:
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot load {key_path} / {cert_path}: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigurationError(f"{key_path} is not an EC private key")
    return KeyAndCert(key, cert)
