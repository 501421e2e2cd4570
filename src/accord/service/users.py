"""Users and roles of a ledger service, kept in ``users.json`` in the data directory.

Roles (as in Azure Confidential Ledger): ``Administrator`` (read, write, manage users),
``Contributor`` (read, write), ``Reader`` (read). Certificate users are keyed by their canonical
SHA-256 fingerprint and keep their certificate (PEM) so the TLS layer can trust it; token users are
keyed by the token's object id. Every change is written atomically (temp file, fsync, rename).
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from accord.errors import ConfigurationError, InvalidRequest, NotFound
from accord.identity import fingerprint, normalize_fingerprint

ROLES = ("Administrator", "Contributor", "Reader")
RELOAD_INTERVAL = 1.0
READ_ROLES = frozenset(ROLES)
WRITE_ROLES = frozenset({"Administrator", "Contributor"})
ADMIN_ROLES = frozenset({"Administrator"})


@dataclass(frozen=True)
class User:
    user_id: str
    role: str
    kind: str  # "cert" or "token"
    cert_pem: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "kind": self.kind}
        if self.cert_pem:
            out["cert"] = self.cert_pem
        return out


def validate_role(role: object) -> str:
    if role not in ROLES:
        raise InvalidRequest(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return str(role)


class UserStore:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._users: dict[str, User] = {}
        self._mtime = -1.0
        self._checked = -RELOAD_INTERVAL
        self._reload()

    def _reload(self) -> None:
        # Changes made through this store are seen at once; edits to the file by another process
        # are picked up within RELOAD_INTERVAL seconds (a stat per request would cost throughput).
        now = time.monotonic()
        if now - self._checked < RELOAD_INTERVAL:
            return
        self._checked = now
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._users = {}
            return
        if stat.st_mtime == self._mtime:
            return
        try:
            raw = json.loads(self.path.read_text())
            users = {
                uid: User(uid, validate_role(v["role"]), str(v.get("kind", "cert")), v.get("cert"))
                for uid, v in raw.get("users", {}).items()
            }
        except (OSError, ValueError, KeyError, TypeError, InvalidRequest) as exc:
            raise ConfigurationError(f"cannot read {self.path}: {exc}") from exc
        self._users = users
        self._mtime = stat.st_mtime

    def _save(self) -> None:
        data = {"users": {uid: u.to_json() for uid, u in sorted(self._users.items())}}
        tmp = self.path.with_suffix(".json.tmp")
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._mtime = self.path.stat().st_mtime

    def all(self) -> list[User]:
        with self._lock:
            self._reload()
            return list(self._users.values())

    def get(self, user_id: str) -> User:
        with self._lock:
            self._reload()
            user = self._users.get(user_id)
        if user is None:
            raise NotFound(f"user {user_id} does not exist")
        return user

    def find(self, user_id: str) -> User | None:
        with self._lock:
            self._reload()
            return self._users.get(user_id)

    def put(self, user: User) -> User:
        validate_role(user.role)
        with self._lock:
            self._reload()
            self._users[user.user_id] = user
            self._save()
        return user

    def add_certificate(self, cert_pem: str, role: str) -> User:
        try:
            cert = x509.load_pem_x509_certificate(cert_pem.encode())
        except ValueError as exc:
            raise InvalidRequest(f"not a PEM certificate: {exc}") from exc
        return self.put(User(fingerprint(cert), validate_role(role), "cert", cert_pem))

    def delete(self, user_id: str) -> None:
        with self._lock:
            self._reload()
            if user_id not in self._users:
                raise NotFound(f"user {user_id} does not exist")
            del self._users[user_id]
            self._save()

    @staticmethod
    def canonical_id(user_id: str) -> str:
        """Certificate fingerprints in either accepted form map to one canonical id."""
        try:
            return normalize_fingerprint(user_id)
        except InvalidRequest:
            return user_id
