"""Document records on the ledger, and the pure fold that turns them into the store's state.

Every change to the document store is one ledger entry in :data:`DOCUMENTS_COLLECTION`, written
by the store itself under the reserved user id :data:`DOCUMENTS_USER` (no registered user can
hold that id, so no user can forge a record through the entry API). Its contents are one
canonical JSON object (``docs/formats.md`` §19)::

    {"format": "accord.document.v1", "op": "version.put", "container": "coa",
     "key": "lot-17/analysis.pdf", "sha256": "<64 hex>", "size": 1048576,
     "contentType": "application/pdf", "metadata": {"lot": "17"},
     "retention": {"mode": "COMPLIANCE", "retainUntil": 1830000000000}, "legalHold": false,
     "by": "<user id>", "time": 1764633600000}

A version's id is the transaction id of the record that created it (``"2.41"``), so a version's
receipt is that entry's receipt. :class:`DocumentState` folds records in ledger order; each
change is checked against the state *at that record* by the same functions the store calls
before it writes (:meth:`DocumentState.check`), so the rules cannot drift between the edge and
the audit. A record that breaks them (only a bug or a forged database could write one) is
refused by the fold and reported by ``accord documents verify``.

Time comes from the record (``time``, milliseconds since the epoch, the writing node's clock):
retention is judged at the time the deletion was recorded. Pure code: no I/O, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from accord.core.canonical import canonicalize, parse_json
from accord.core.quoting import quoted
from accord.errors import Conflict, DocumentLocked, InvalidRequest, MalformedInput, NotFound

RECORD_FORMAT = "accord.document.v1"
DOCUMENTS_COLLECTION = "accord.documents"
DOCUMENTS_USER = "accord:documents"  # ':' is in no registrable user id (service.users)
GOVERNANCE = "GOVERNANCE"
COMPLIANCE = "COMPLIANCE"
MODES = (GOVERNANCE, COMPLIANCE)
DAY_MS = 86_400_000
MAX_RETENTION_DAYS = 36_500
MAX_KEY_BYTES = 1024
MAX_METADATA_BYTES = 2048  # S3's limit on user metadata
OPS = (
    "container.create",
    "container.retention",
    "version.put",
    "version.delete_marker",
    "version.delete",
    "version.retention",
    "version.hold",
)

_CONTAINER = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_META_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,127}")


# --- validation of names and values (shared with the S3 edge) -----------------------------------
def validate_container(name: object) -> str:
    """S3 bucket naming rules: 3-63 of a-z 0-9 . -, starting and ending with a letter or digit."""
    if (
        not isinstance(name, str)
        or not _CONTAINER.fullmatch(name)
        or ".." in name
        or ".-" in name
        or "-." in name
        or re.fullmatch(r"[0-9.]+", name)
        or name.startswith(("xn--", "sthree-", "amzn-s3-demo-"))
        or name.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3"))
    ):
        raise InvalidRequest(
            f"invalid container (bucket) name {quoted(name)}: 3-63 characters from a-z 0-9 . -, "
            "starting and ending with a letter or digit, not an IP address, no '..', '.-' or "
            "'-.', and none of S3's reserved prefixes (xn--, sthree-) or suffixes (-s3alias, "
            "--ol-s3)"
        )
    return name


MAX_CONTENT_TYPE = 1024


def validate_content_type(value: object) -> str:
    if (
        not isinstance(value, str)
        or len(value) > MAX_CONTENT_TYPE
        or any(ord(c) < 32 or ord(c) == 127 for c in value)
    ):
        raise InvalidRequest(f"a content type is at most {MAX_CONTENT_TYPE} printable characters")
    return value


def validate_key(key: object) -> str:
    if not isinstance(key, str) or not key:
        raise InvalidRequest("an object key must be a non-empty string")
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequest("an object key must be valid Unicode") from exc
    if len(encoded) > MAX_KEY_BYTES:
        raise InvalidRequest(f"an object key is at most {MAX_KEY_BYTES} bytes of UTF-8")
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        raise InvalidRequest("an object key may not contain control characters")
    return key


def validate_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    total = 0
    for name, value in metadata.items():
        lowered = name.lower()
        if not _META_NAME.fullmatch(lowered):
            raise InvalidRequest(
                f"metadata name {quoted(name)}: 1-128 of a-z 0-9 _ -, starting with a letter or digit"
            )
        if not isinstance(value, str) or any(ord(c) < 32 and c != "\t" for c in value):
            raise InvalidRequest(f"metadata {lowered}: the value must be printable text")
        total += len(lowered.encode()) + len(value.encode("utf-8", "surrogatepass"))
        out[lowered] = value
    if total > MAX_METADATA_BYTES:
        raise InvalidRequest(f"user metadata is at most {MAX_METADATA_BYTES} bytes in all")
    return out


@dataclass(frozen=True)
class Retention:
    """A version's retention: it may not be deleted before ``retain_until`` (ms since the epoch).

    COMPLIANCE retention can only be extended; GOVERNANCE retention can be shortened or removed
    by an Administrator who asks to bypass it explicitly (recorded as ``bypass``).
    """

    mode: str
    retain_until: int

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "retainUntil": self.retain_until}

    @classmethod
    def from_json(cls, obj: object) -> Retention | None:
        if obj is None:
            return None
        if not isinstance(obj, dict) or set(obj) != {"mode", "retainUntil"}:
            raise MalformedInput('retention must be {"mode", "retainUntil"} or null')
        mode, until = obj["mode"], obj["retainUntil"]
        if mode not in MODES:
            raise MalformedInput(f"retention mode must be one of {', '.join(MODES)}")
        if not isinstance(until, int) or isinstance(until, bool) or until < 0:
            raise MalformedInput("retainUntil must be milliseconds since the epoch")
        return cls(mode, until)


@dataclass(frozen=True)
class DefaultRetention:
    """A container's default retention for new versions: ``days`` from each version's upload.

    A COMPLIANCE default is *locked*: it can be extended but never shortened, weakened or removed.
    """

    mode: str
    days: int

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "days": self.days}

    @classmethod
    def from_json(cls, obj: object) -> DefaultRetention | None:
        if obj is None:
            return None
        if not isinstance(obj, dict) or set(obj) != {"mode", "days"}:
            raise MalformedInput('default retention must be {"mode", "days"} or null')
        mode, days = obj["mode"], obj["days"]
        if mode not in MODES:
            raise MalformedInput(f"retention mode must be one of {', '.join(MODES)}")
        if (
            not isinstance(days, int)
            or isinstance(days, bool)
            or not 1 <= days <= MAX_RETENTION_DAYS
        ):
            raise MalformedInput(f"retention days must be 1-{MAX_RETENTION_DAYS}")
        return cls(mode, days)


@dataclass(frozen=True)
class Version:
    """One version of an object: stored bytes, or a delete marker."""

    version_id: str
    seqno: int
    key: str
    time: int
    by: str
    delete_marker: bool = False
    sha256: str = ""
    size: int = 0
    content_type: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    retention: Retention | None = None
    legal_hold: bool = False


@dataclass
class Container:
    name: str
    object_lock: bool
    default_retention: DefaultRetention | None
    created: int
    by: str
    objects: dict[str, list[Version]] = field(default_factory=dict)  # oldest first
    copies: tuple[str, ...] | None = None
    """In a consortium, the organizations that keep a copy of every version (besides the one
    that wrote it); None: every organization."""

    def latest(self, key: str) -> Version | None:
        versions = self.objects.get(key)
        return versions[-1] if versions else None

    def version(self, key: str, version_id: str) -> Version:
        for v in self.objects.get(key, ()):
            if v.version_id == version_id:
                return v
        raise NotFound(f"no version {quoted(version_id)} of {quoted(key)} in {self.name}")


# --- records -------------------------------------------------------------------------------------
def encode_record(op: str, fields: Mapping[str, Any], *, by: str, time: int) -> str:
    """The canonical contents of one document record."""
    if op not in OPS:
        raise InvalidRequest(f"unknown document operation {quoted(op)}")
    obj = {"format": RECORD_FORMAT, "op": op, **fields, "by": by, "time": time}
    return canonicalize(obj).decode()


def decode_record(contents: str) -> dict[str, Any]:
    obj = parse_json(contents)
    if not isinstance(obj, dict) or obj.get("format") != RECORD_FORMAT:
        raise MalformedInput(f"not a {RECORD_FORMAT} record")
    if obj.get("op") not in OPS:
        raise MalformedInput(f"unknown document operation {quoted(obj.get('op'))}")
    for name in ("by",):
        if not isinstance(obj.get(name), str):
            raise MalformedInput(f"a document record needs a string {name!r}")
    if not isinstance(obj.get("time"), int) or isinstance(obj.get("time"), bool):
        raise MalformedInput("a document record needs an integer time")
    return obj


def _str(obj: Mapping[str, Any], name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str):
        raise MalformedInput(f"field {name!r} must be a string")
    return value


def _int(obj: Mapping[str, Any], name: str) -> int:
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MalformedInput(f"field {name!r} must be a non-negative integer")
    return value


def _bool(obj: Mapping[str, Any], name: str) -> bool:
    value = obj.get(name)
    if not isinstance(value, bool):
        raise MalformedInput(f"field {name!r} must be true or false")
    return value


def _copies(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise MalformedInput("copies must be a list of organization names, or null")
    return tuple(sorted(set(value)))


# --- the rules -----------------------------------------------------------------------------------
def check_deletable(version: Version, *, now: int, bypass: bool) -> None:
    """Raise :class:`DocumentLocked` unless ``version`` may be deleted permanently at ``now``."""
    if version.legal_hold:
        raise DocumentLocked(
            f"{version.key} version {version.version_id} is under a legal hold; "
            "clear the hold before deleting it"
        )
    r = version.retention
    if r is None or now >= r.retain_until:
        return
    if r.mode == GOVERNANCE and bypass:
        return
    raise DocumentLocked(
        f"{version.key} version {version.version_id} is retained in {r.mode} mode until "
        f"{format_ms(r.retain_until)}"
        + ("; an Administrator may bypass GOVERNANCE retention" if r.mode == GOVERNANCE else "")
    )


def check_retention_change(
    old: Retention | None, new: Retention | None, *, now: int, bypass: bool
) -> None:
    """Extending or strengthening is always allowed; anything else only under a GOVERNANCE
    retention (or an expired one) with an explicit bypass."""
    if old is None or now >= old.retain_until:
        return
    weaker = (
        new is None
        or new.retain_until < old.retain_until
        or (old.mode == COMPLIANCE and new.mode != COMPLIANCE)
    )
    if not weaker:
        return
    if old.mode == COMPLIANCE:
        raise DocumentLocked(
            f"COMPLIANCE retention until {format_ms(old.retain_until)} can be extended, "
            "never shortened or removed"
        )
    if not bypass:
        raise DocumentLocked(
            f"shortening or removing GOVERNANCE retention until {format_ms(old.retain_until)} "
            "needs x-amz-bypass-governance-retention: true (Administrators only)"
        )


def check_meets_default(
    default: DefaultRetention | None, retention: Retention | None, *, written: int
) -> None:
    """A new version's retention must be at least a locked (COMPLIANCE) container default:
    COMPLIANCE, until no earlier than ``written`` plus the default's days. (A GOVERNANCE
    default is only a default: a version may name another retention, as in S3.)"""
    if default is None or default.mode != COMPLIANCE:
        return
    floor = written + default.days * DAY_MS
    if retention is None or retention.mode != COMPLIANCE or retention.retain_until < floor:
        raise DocumentLocked(
            f"the container's locked COMPLIANCE default retention of {default.days} days "
            f"applies to every new version: retain it in COMPLIANCE mode until "
            f"{format_ms(floor)} or later (or give no retention to get the default)"
        )


def check_default_change(
    old: DefaultRetention | None, new: DefaultRetention | None, *, bypass: bool
) -> None:
    """A COMPLIANCE (locked) default can only be extended; a GOVERNANCE one changed with bypass."""
    if old is None:
        return
    weaker = (
        new is None or new.days < old.days or (old.mode == COMPLIANCE and new.mode != COMPLIANCE)
    )
    if not weaker:
        return
    if old.mode == COMPLIANCE:
        raise DocumentLocked(
            f"the container's locked COMPLIANCE default retention of {old.days} days can be "
            "extended, never shortened or removed"
        )
    if not bypass:
        raise DocumentLocked(
            "shortening or removing a GOVERNANCE default retention needs "
            "x-amz-bypass-governance-retention: true (Administrators only)"
        )


def format_ms(ms: int) -> str:
    import datetime

    when = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


# --- the fold ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Refused:
    """A record the fold refused, with why (only a bug or a forged database writes one)."""

    version_id: str
    reason: str
    container: str = "-"
    key: str = "-"
    error: Exception | None = field(default=None, compare=False)

    @classmethod
    def of(
        cls,
        version_id: str,
        reason: str,
        record: Mapping[str, Any] | None,
        error: Exception | None = None,
    ) -> Refused:
        """A refusal naming the record's container and key where it names them."""
        container = key = "-"
        if isinstance(record, Mapping):
            container = str(record.get("container", "-"))
            key = str(record.get("key", "-"))
        return cls(version_id, reason, container, key, error)


@dataclass
class DocumentState:
    """The store's state: containers, their objects' versions, and refused records."""

    containers: dict[str, Container] = field(default_factory=dict)
    refused: list[Refused] = field(default_factory=list)
    records: int = 0
    last_seqno: int = 0

    def container(self, name: str) -> Container:
        try:
            return self.containers[name]
        except KeyError:
            raise NotFound(f"no container (bucket) {quoted(name)}") from None

    def check(self, record: Mapping[str, Any], *, now: int | None = None) -> None:
        """Raise (InvalidRequest, NotFound, Conflict, DocumentLocked) unless ``record`` may be
        applied to this state at ``now`` (default: the record's own time). Changes nothing."""
        self._apply(record, "0.0", 0, dry_run=True, now=now)

    def apply(
        self, record: Mapping[str, Any], version_id: str, seqno: int, *, now: int | None = None
    ) -> None:
        """Apply one record at ledger position ``seqno`` (transaction id ``version_id``), judged
        at ``now`` — the entry's ledger timestamp, which in a consortium no minority of nodes can
        move (default: the record's own time). A record that breaks the rules is kept in
        :attr:`refused` and changes nothing else."""
        if seqno <= self.last_seqno:
            raise InvalidRequest(f"records must be applied in ledger order ({seqno})")
        self.last_seqno = seqno
        self.records += 1
        try:
            self._apply(record, version_id, seqno, dry_run=False, now=now)
        except (InvalidRequest, MalformedInput) as exc:
            self.refused.append(Refused.of(version_id, str(exc), record, exc))

    def versions(self) -> Iterator[tuple[Container, Version]]:
        for container in self.containers.values():
            for versions in container.objects.values():
                for v in versions:
                    yield container, v

    def _apply(
        self, rec: Mapping[str, Any], vid: str, seqno: int, *, dry_run: bool, now: int | None
    ) -> None:
        op, by = rec["op"], rec["by"]
        now = rec["time"] if now is None else now
        name = validate_container(rec.get("container"))
        if op == "container.create":
            if name in self.containers:
                raise Conflict(f"container (bucket) {name} already exists")
            lock = _bool(rec, "objectLock")
            default = DefaultRetention.from_json(rec.get("defaultRetention"))
            if default is not None and not lock:
                raise InvalidRequest("a default retention needs object lock on the container")
            copies = _copies(rec.get("copies"))
            if not dry_run:
                self.containers[name] = Container(name, lock, default, now, by, copies=copies)
            return
        container = self.container(name)
        if op == "container.retention":
            if not container.object_lock:
                raise InvalidRequest(f"container {name} was created without object lock")
            new = DefaultRetention.from_json(rec.get("defaultRetention"))
            check_default_change(container.default_retention, new, bypass=_bool(rec, "bypass"))
            if not dry_run:
                container.default_retention = new
            return
        key = validate_key(rec.get("key"))
        if op == "version.put":
            sha = _str(rec, "sha256")
            if not _SHA256.fullmatch(sha):
                raise MalformedInput("sha256 must be 64 lower-case hex digits")
            retention = Retention.from_json(rec.get("retention"))
            hold = _bool(rec, "legalHold")
            if (retention is not None or hold) and not container.object_lock:
                raise InvalidRequest(
                    f"container {name} was created without object lock: no retention or hold"
                )
            meta = rec.get("metadata")
            if not isinstance(meta, dict):
                raise MalformedInput("metadata must be an object")
            check_meets_default(container.default_retention, retention, written=rec["time"])
            version = Version(
                vid,
                seqno,
                key,
                now,
                by,
                sha256=sha,
                size=_int(rec, "size"),
                content_type=validate_content_type(_str(rec, "contentType")),
                metadata=validate_metadata(meta),
                retention=retention,
                legal_hold=hold,
            )
            if not dry_run:
                container.objects.setdefault(key, []).append(version)
            return
        if op == "version.delete_marker":
            if not dry_run:
                container.objects.setdefault(key, []).append(
                    Version(vid, seqno, key, now, by, delete_marker=True)
                )
            return
        target = container.version(key, _str(rec, "versionId"))
        if op == "version.delete":
            if not target.delete_marker:
                check_deletable(target, now=now, bypass=_bool(rec, "bypass"))
            if not dry_run:
                remaining = [v for v in container.objects[key] if v is not target]
                if remaining:
                    container.objects[key] = remaining
                else:
                    del container.objects[key]
            return
        if target.delete_marker:
            raise InvalidRequest("a delete marker has no retention or legal hold")
        if not container.object_lock:
            raise InvalidRequest(f"container {name} was created without object lock")
        if op == "version.retention":
            new_retention = Retention.from_json(rec.get("retention"))
            check_retention_change(
                target.retention, new_retention, now=now, bypass=_bool(rec, "bypass")
            )
            changed = replace(target, retention=new_retention)
        else:  # version.hold
            hold = _bool(rec, "legalHold")
            if target.legal_hold and not hold and rec.get("administrator") is not True:
                raise DocumentLocked(
                    f"{key} version {target.version_id} is under a legal hold that only an "
                    "Administrator may clear"
                )
            changed = replace(target, legal_hold=hold)
        if not dry_run:
            versions = container.objects[key]
            versions[versions.index(target)] = changed
