"""S3 access keys: an access key id and secret that map to one accord user (and its role).

Kept in ``DIR/documents/access-keys.json`` (mode 0600). SigV4 needs the server to know each
secret, so secrets cannot be stored as one-way hashes; they are stored encrypted with
AES-256-GCM under ``DIR/documents/access-keys.key`` (32 random bytes, mode 0600), the key id
bound as associated data. This protects secrets in a copied or backed-up ``access-keys.json``;
it does not protect them from someone who can read the data directory's key file as well.
A secret is shown once, when the key is created, and is never logged.

The role is not stored with the key: each request looks up the key's user in ``users.json``, so
changing or removing a user's role applies to their access keys within a second (the
user file is re-read when it changes). Revoked keys stay
listed (with their revocation time) and are refused.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from accord.errors import ConfigurationError, NotFound
from accord.identity import write_private

KEYS_FILE = "access-keys.json"
MASTER_FILE = "access-keys.key"
FORMAT = "accord.access-keys.v1"
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    user_id: str
    created: str
    revoked: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "access_key_id": self.access_key_id,
            "user_id": self.user_id,
            "created": self.created,
            "revoked": self.revoked,
        }


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AccessKeyStore:
    """The access keys of a data directory's document store (re-read when the file changes)."""

    def __init__(self, documents_dir: Path) -> None:
        self.dir = documents_dir
        self.path = documents_dir / KEYS_FILE
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._keys: dict[str, dict[str, Any]] = {}
        self._aead: AESGCM | None = None

    def _master(self, *, create: bool) -> AESGCM:
        if self._aead is not None:
            return self._aead
        path = self.dir / MASTER_FILE
        if not path.exists():
            if not create:
                raise ConfigurationError(f"{path} is missing: the access keys cannot be read")
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_private(path, secrets.token_bytes(32))
        try:
            key = path.read_bytes()
        except OSError as exc:
            raise ConfigurationError(f"cannot read {path}: {exc}") from exc
        if len(key) != 32:
            raise ConfigurationError(f"{path} is not a 32-byte key")
        self._aead = AESGCM(key)
        return self._aead

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            self._keys, self._mtime = {}, None
            return self._keys
        if mtime != self._mtime:
            try:
                raw = json.loads(self.path.read_text())
                if raw.get("format") != FORMAT or not isinstance(raw.get("keys"), dict):
                    raise ValueError("unknown format")
            except (OSError, ValueError, AttributeError) as exc:
                raise ConfigurationError(f"cannot read {self.path}: {exc}") from exc
            self._keys, self._mtime = raw["keys"], mtime
        return self._keys

    def _save(self, keys: dict[str, dict[str, Any]]) -> None:
        data = json.dumps({"format": FORMAT, "keys": keys}, indent=2, sort_keys=True).encode()
        tmp = self.path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        write_private(tmp, data)
        os.replace(tmp, self.path)
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self._mtime = None

    def create(self, user_id: str) -> tuple[AccessKey, str]:
        """A new key for ``user_id``: (the key, its secret — shown once, never stored in clear)."""
        with self._lock:
            aead = self._master(create=True)
            keys = dict(self._load())
            key_id = "AKAC" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))
            secret = base64.b64encode(secrets.token_bytes(30)).decode()
            nonce = secrets.token_bytes(12)
            sealed = aead.encrypt(nonce, secret.encode(), key_id.encode())
            key = AccessKey(key_id, user_id, _now())
            keys[key_id] = {
                **key.to_json(),
                "secret": base64.b64encode(nonce + sealed).decode(),
            }
            self._save(keys)
            return key, secret

    def revoke(self, key_id: str) -> AccessKey:
        with self._lock:
            keys = dict(self._load())
            if key_id not in keys:
                raise NotFound(f"no access key {key_id!r}")
            if keys[key_id].get("revoked") is None:
                keys[key_id] = {**keys[key_id], "revoked": _now()}
                self._save(keys)
            return self._public(keys[key_id])

    def list(self) -> list[AccessKey]:
        with self._lock:
            return [self._public(k) for k in self._load().values()]

    @staticmethod
    def _public(raw: dict[str, Any]) -> AccessKey:
        return AccessKey(
            str(raw["access_key_id"]), str(raw["user_id"]), str(raw["created"]), raw.get("revoked")
        )

    def lookup(self, key_id: str) -> tuple[AccessKey, str] | None:
        """The key and its secret, or None for an unknown or revoked key."""
        with self._lock:
            raw = self._load().get(key_id)
            if raw is None or raw.get("revoked") is not None:
                return None
            try:
                blob = base64.b64decode(raw["secret"])
                secret = self._master(create=False).decrypt(blob[:12], blob[12:], key_id.encode())
            except Exception as exc:  # a damaged file: refuse the key, say which file
                raise ConfigurationError(f"access key {key_id} in {self.path} is damaged") from exc
            return self._public(raw), secret.decode()
