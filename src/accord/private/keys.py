"""An organization's encryption keys: X25519 private keys, one file each, 0600.

``DIR/encryption.key`` is the current key (its public half is the member's ``encryptionKey``
in the consortium state); keys rotated away are kept as ``DIR/encryption-<key id>.key`` so that
entries sealed to them still open. Every node of an organization holds the same keys.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from accord.core.private import key_id
from accord.errors import ConfigurationError
from accord.identity import write_private

ENCRYPTION_KEY = "encryption.key"


def public_bytes(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def private_pem(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def generate(path: Path) -> X25519PrivateKey:
    """A new key written to ``path`` (PEM PKCS#8, 0600); refuses to overwrite one."""
    if path.exists():
        raise ConfigurationError(f"{path} exists: refusing to overwrite an encryption key")
    key = X25519PrivateKey.generate()
    write_private(path, private_pem(key))
    return key


def _load(path: Path) -> X25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read the encryption key {path}: {exc}") from None
    if not isinstance(key, X25519PrivateKey):
        raise ConfigurationError(f"{path} is not an X25519 private key")
    return key


def load_keyring(directory: Path) -> dict[str, X25519PrivateKey]:
    """Every encryption key in ``directory``, by key id (empty if it has none)."""
    ring: dict[str, X25519PrivateKey] = {}
    for path in sorted(directory.glob("encryption*.key")):
        key = _load(path)
        ring[key_id(public_bytes(key))] = key
    return ring


def current_public(directory: Path) -> bytes | None:
    path = directory / ENCRYPTION_KEY
    return public_bytes(_load(path)) if path.exists() else None
