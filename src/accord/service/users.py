"""Users and roles of a ledger service, kept in ``users.json`` in the data directory.

Roles (as in Azure Confidential Ledger): ``Administrator`` (read, write, manage users),
``Contributor`` (read, write), ``Reader`` (read). Certificate users are keyed by their canonical
SHA-256 fingerprint and keep their certificate (PEM) so the TLS layer can trust it; token users are
keyed by the token's object id (see :func:`parse_user_id` for which ids are which). Every change
is written atomically (temp file, fsync, rename), and no change may leave the ledger without an
Administrator (:func:`check_an_administrator_remains`).

Recovery: ``users.json`` is plain JSON in the data directory; the store re-reads it when its
modification time changes (checked at most every :data:`RELOAD_INTERVAL` seconds), so an operator
can restore or edit it, preferably while the service is stopped.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cryptography import x509

from accord.core.quoting import quoted
from accord.errors import ConfigurationError, Conflict, InvalidRequest, NotFound
from accord.identity import fingerprint, normalize_fingerprint

ROLES = ("Administrator", "Contributor", "Reader")
RELOAD_INTERVAL = 1.0
READ_ROLES = frozenset(ROLES)
WRITE_ROLES = frozenset({"Administrator", "Contributor"})
ADMIN_ROLES = frozenset({"Administrator"})
ADMINISTRATOR = "Administrator"

UserKind = Literal["cert", "token"]
# Certificate users: the SHA-256 fingerprint of the certificate's DER, 64 hex digits, colons
# optional; stored canonically as 32 upper-case pairs joined by colons.
CERT_USER_ID_PATTERN = r"^([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f]{64}$"
CERT_USER_ID_RULE = (
    "a certificate user id is the SHA-256 fingerprint of the certificate: 64 hex digits, "
    "optionally written as 32 colon-separated pairs"
)
# Token users: an Azure AD object id (a GUID) or a JWT `sub` such as "auth0|5f7c...".
# At least one letter or digit: "." and ".." would be path segments, not ids.
SUBJECT_ID_PATTERN = r"^(?=[^A-Za-z0-9]{0,127}[A-Za-z0-9])[A-Za-z0-9._@|-]{1,128}$"
SUBJECT_ID_RULE = (
    "a token user id (a JWT oid or sub) is 1-128 characters from A-Z a-z 0-9 . _ @ | -, "
    "at least one a letter or digit"
)
_SUBJECT_ID = re.compile(SUBJECT_ID_PATTERN)
_HEX_DIGITS = re.compile(r"[0-9A-Fa-f]+")
# An all-hex id this long is a certificate fingerprint typed wrong (SHA-1's has 40 digits), not
# a token subject; a 32-digit hex id (a GUID without hyphens) stays a valid token id.
_FINGERPRINT_LIKE_DIGITS = 40


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


def parse_user_id(text: object) -> tuple[UserKind, str]:
    """The kind and canonical form of a user id given by a caller; InvalidRequest if neither.

    The decision, in order: a SHA-256 fingerprint (64 hex digits, colons optional, as
    ``openssl x509 -fingerprint -sha256`` prints it, prefix included) is a certificate user;
    anything else with a colon, or made of 40 or more hex digits, is a mistyped fingerprint and
    refused; the rest must match :data:`SUBJECT_ID_PATTERN` to be a token user.
    """
    if not isinstance(text, str):
        raise InvalidRequest(f"a user id must be a string; {CERT_USER_ID_RULE}")
    try:
        return "cert", normalize_fingerprint(text)
    except InvalidRequest:
        pass
    if ":" in text:
        raise InvalidRequest(f"invalid user id {quoted(text)}: {CERT_USER_ID_RULE}")
    if _HEX_DIGITS.fullmatch(text) and len(text) >= _FINGERPRINT_LIKE_DIGITS:
        raise InvalidRequest(
            f"invalid user id {quoted(text)}: it looks like a certificate fingerprint but has "
            f"{len(text)} hex digits; {CERT_USER_ID_RULE}"
        )
    if not _SUBJECT_ID.fullmatch(text):
        raise InvalidRequest(
            f"invalid user id {quoted(text)}: {SUBJECT_ID_RULE}; {CERT_USER_ID_RULE}"
        )
    return "token", text


def _users_from_file(raw: Any) -> dict[str, User]:
    """Users as ``users.json`` lists them, every id checked and put in canonical form.

    The file may be edited by hand (that is how an operator recovers): an id in another spelling
    of a fingerprint is canonicalized, one listed twice in two spellings is refused, so that the
    users the rules count are exactly the users that can authenticate.
    """
    users: dict[str, User] = {}
    for listed, entry in raw["users"].items():
        kind, user_id = parse_user_id(listed)
        if user_id in users:
            raise InvalidRequest(f"user {user_id} is listed twice (once as {quoted(listed)})")
        users[user_id] = User(user_id, validate_role(entry["role"]), kind, entry.get("cert"))
    return users


def check_an_administrator_remains(
    users: Mapping[str, User], user_id: str, replacement: User | None
) -> None:
    """Refuse replacing ``user_id`` by ``replacement`` (None: deleting it) if no Administrator
    would remain. Raises :class:`~accord.errors.Conflict` (HTTP 409); pure.

    A store that already has no Administrator (being recovered by hand) is not held to the rule.
    """
    if not any(u.role == ADMINISTRATOR for u in users.values()):
        return
    if replacement is not None and replacement.role == ADMINISTRATOR:
        return
    if any(u.role == ADMINISTRATOR for uid, u in users.items() if uid != user_id):
        return
    change = "deleting" if replacement is None else f"making them {replacement.role}"
    raise Conflict(
        f"user {user_id} is the last Administrator; {change} would leave nobody able to manage "
        "users. Make another user an Administrator first"
    )


def expired_certificate_warning(cert_pem: str | None, now: datetime.datetime) -> str | None:
    """A warning if the certificate (when one is known) is outside its validity period."""
    if not cert_pem:
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError:
        return "the stored certificate of this user cannot be parsed; they cannot authenticate"
    if now > cert.not_valid_after_utc:
        return (
            f"the certificate of this user expired on {cert.not_valid_after_utc:%Y-%m-%d}; "
            "they cannot authenticate with it"
        )
    if now < cert.not_valid_before_utc:
        return (
            f"the certificate of this user is not valid before "
            f"{cert.not_valid_before_utc:%Y-%m-%d}; they cannot authenticate with it yet"
        )
    return None


class UserStore:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._users: dict[str, User] = {}
        self._mtime = -1.0
        self._checked = -RELOAD_INTERVAL
        self._reload()

    def _reload(self, *, force: bool = False) -> None:
        # Changes made through this store are seen at once; edits to the file by another process
        # are picked up within RELOAD_INTERVAL seconds (a stat per request would cost throughput),
        # and always before a change is written, so that a write never undoes an edit.
        now = time.monotonic()
        if not force and now - self._checked < RELOAD_INTERVAL:
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
            users = _users_from_file(raw)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, InvalidRequest) as exc:
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
        """Add or replace a user; refused if it would leave no Administrator."""
        validate_role(user.role)
        with self._lock:
            self._reload(force=True)
            check_an_administrator_remains(self._users, user.user_id, user)
            self._users[user.user_id] = user
            self._save()
        return user

    def assign_role(
        self, user_id: str, kind: str, role: str | None, *, by: str | None = None
    ) -> User:
        """Give ``user_id`` a role, creating the user (of ``kind``) if new; atomic.

        ``role`` None keeps an existing user's role and is refused for a new user. A known
        certificate is kept. Refused if it would leave no Administrator. ``by`` (the asking
        Administrator) matters only to a consortium's store, where the change is ordered.
        """
        if role is not None:
            validate_role(role)
        with self._lock:
            self._reload(force=True)
            existing = self._users.get(user_id)
            if existing is None:
                if role is None:
                    raise InvalidRequest(
                        f"assignedRole is required for a new user; one of {', '.join(ROLES)}"
                    )
                user = User(user_id, role, kind)
            else:
                user = User(user_id, role or existing.role, existing.kind, existing.cert_pem)
            check_an_administrator_remains(self._users, user_id, user)
            self._users[user_id] = user
            self._save()
        return user

    def add_certificate(self, cert_pem: str, role: str) -> User:
        try:
            cert = x509.load_pem_x509_certificate(cert_pem.encode())
        except ValueError as exc:
            raise InvalidRequest(f"not a PEM certificate: {exc}") from exc
        return self.put(User(fingerprint(cert), validate_role(role), "cert", cert_pem))

    def delete(self, user_id: str, *, by: str | None = None) -> None:
        with self._lock:
            self._reload(force=True)
            if user_id not in self._users:
                raise NotFound(f"user {user_id} does not exist")
            check_an_administrator_remains(self._users, user_id, None)
            del self._users[user_id]
            self._save()

    @staticmethod
    def canonical_id(user_id: str) -> str:
        """Certificate fingerprints in either accepted form map to one canonical id."""
        try:
            return normalize_fingerprint(user_id)
        except InvalidRequest:
            return user_id
