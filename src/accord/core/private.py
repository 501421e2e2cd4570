"""Private collections: the formats and checks anyone needs, and their replicated state.

A *private collection* is created by governance (the ``private.create`` action) and names the
member organizations that may read it. Its entries are ordered and cosigned like any other, but
what every node stores and hashes into the shared leaf is only a **public record**::

    {"collectionId":"prices","commitment":"<64 hex>","format":"accord.private.v1",
     "sealedSha256":"<64 hex>"}

``commitment`` is SHA-256 over ``"accord.private.commitment.v1" 0x00``, a fresh 32-byte salt
and the contents' UTF-8 bytes (:func:`commitment`): organizations outside the collection can check
order and integrity but learn nothing of the contents, and cannot test guesses without the salt.
``sealedSha256`` names the *sealed* contents (contents and salt encrypted to the readers' keys,
``docs/formats.md`` §20), which only reader organizations' nodes keep.

A reader can **disclose** one entry (:func:`verify_disclosure`): the entry's receipt, its public
record, its contents and salt, which anyone checks offline against the commitment.

A **purge** (``accord.purge.v1`` in :data:`PURGE_COLLECTION`, by an Administrator of a reader
organization) erases an entry's sealed contents on every node that held them; the public record
and therefore every proof stay.

This module is pure (no I/O, no clock, no randomness: salts come in as arguments); encryption
lives in :mod:`accord.private.sealing`, which is not needed to check anything here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from accord.core.canonical import canonicalize, parse_canonical, parse_json
from accord.core.entry import validate_collection_id
from accord.core.quoting import quoted
from accord.errors import AccordError, Conflict, InvalidRequest, MalformedInput, VerificationError

__all__ = [
    "COMMITMENT_DOMAIN",
    "DISCLOSURE_FORMAT",
    "EXTENSION",
    "PRIVATE_FORMAT",
    "PURGE_COLLECTION",
    "PURGE_FORMAT",
    "SALT_BYTES",
    "WRITE_FORMAT",
    "CreateCollection",
    "Disclosure",
    "PrivateCollection",
    "PrivateRecord",
    "PrivateState",
    "PurgeRecord",
    "apply_create",
    "check_commitment",
    "check_sealed_slots",
    "commitment",
    "disclosure_json",
    "drop_reader",
    "encode_key",
    "key_id",
    "parse_create",
    "parse_disclosure",
    "parse_key",
    "parse_purge",
    "parse_record",
    "parse_write",
    "private_create_action",
    "private_state",
    "purge_record",
    "verify_disclosure_contents",
    "write_contents",
]

PRIVATE_FORMAT = "accord.private.v1"
WRITE_FORMAT = "accord.private.write.v1"
PURGE_FORMAT = "accord.purge.v1"
DISCLOSURE_FORMAT = "accord.disclosure.v1"
PURGE_COLLECTION = "accord.private"
"""Where purge records go: the one more ``accord.*`` collection a user's entry may name."""
EXTENSION = "private"
"""The key of :class:`PrivateState` in ``ConsortiumState.extensions``."""
COMMITMENT_DOMAIN = b"accord.private.commitment.v1\x00"
SALT_BYTES = 32
KEY_BYTES = 32
MAX_READERS = 64
MAX_REASON = 512
MAX_RETENTION_MS = 100 * 366 * 86_400_000
MIN_RETENTION_MS = 1_000

_HEX64 = re.compile(r"[0-9a-f]{64}")
_TXID = re.compile(r"[1-9][0-9]{0,17}\.[1-9][0-9]{0,17}")


# --- commitments --------------------------------------------------------------------------------


def commitment(salt: bytes, contents: bytes) -> bytes:
    """SHA-256(``"accord.private.commitment.v1" 0x00`` || salt || contents)."""
    if not isinstance(salt, bytes) or len(salt) != SALT_BYTES:
        raise MalformedInput(f"a commitment's salt is {SALT_BYTES} bytes")
    return hashlib.sha256(COMMITMENT_DOMAIN + salt + contents).digest()


def check_commitment(expected_hex: str, salt: bytes, contents: bytes) -> None:
    """Raise :class:`VerificationError` unless ``contents`` and ``salt`` open the commitment."""
    actual = commitment(salt, contents).hex()
    if not hmac.compare_digest(actual, expected_hex):
        raise VerificationError(
            "the contents and salt do not match the entry's commitment: they are not what was "
            "recorded"
        )


# --- encryption keys ----------------------------------------------------------------------------


def parse_key(value: object, what: str = "an encryption key") -> bytes:
    """A member's X25519 public key, written as standard base64 of its 32 raw bytes."""
    if not isinstance(value, str) or len(value) != 44:
        raise MalformedInput(f"{what} is the base64 of a 32-byte X25519 public key")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedInput(f"{what} is not valid base64") from None
    if len(raw) != KEY_BYTES or base64.b64encode(raw).decode() != value:
        raise MalformedInput(f"{what} is the base64 of a 32-byte X25519 public key")
    return raw


def encode_key(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def key_id(raw: bytes) -> str:
    """A short name for a public key: the first 8 bytes of its SHA-256, in hex."""
    return hashlib.sha256(raw).hexdigest()[:16]


# --- the replicated state -----------------------------------------------------------------------


@dataclass(frozen=True)
class PrivateCollection:
    """A private collection: its readers (member names, sorted), an optional retention after which
    contents are purged automatically, and the entry from which it is private (its creation).

    Entries of the same collection id written before ``since_seqno`` stay public: create a
    private collection before its first use.
    """

    collection_id: str
    readers: tuple[str, ...]
    retention_ms: int | None
    since_seqno: int

    def to_json(self) -> dict[str, object]:
        return {
            "collectionId": self.collection_id,
            "readers": list(self.readers),
            "retentionMs": self.retention_ms,
            "since": self.since_seqno,
        }

    def covers(self, seqno: int) -> bool:
        """Whether entry ``seqno`` of this collection id is private."""
        return seqno > self.since_seqno

    def expired(self, entry_time_ms: int, now_ms: int) -> bool:
        """Whether an entry written at ``entry_time_ms`` is past its retention at ``now_ms``."""
        return self.retention_ms is not None and now_ms >= entry_time_ms + self.retention_ms


@dataclass(frozen=True)
class PrivateState:
    """Every private collection of a consortium, by id (``ConsortiumState.extensions``)."""

    collections: Mapping[str, PrivateCollection] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "collections", MappingProxyType(dict(self.collections)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrivateState) and dict(self.collections) == dict(other.collections)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.collections.items())))

    def get(self, collection_id: str, seqno: int | None = None) -> PrivateCollection | None:
        """The private collection ``collection_id`` (None if public); with ``seqno``, only if
        that entry of it is private."""
        found = self.collections.get(collection_id)
        if found is None or (seqno is not None and not found.covers(seqno)):
            return None
        return found

    def to_json(self) -> dict[str, object]:
        return {"collections": [self.collections[c].to_json() for c in sorted(self.collections)]}


NO_PRIVATE_COLLECTIONS = PrivateState()


def private_state(extensions: Mapping[str, object]) -> PrivateState:
    """The private state held in a consortium state's ``extensions`` (empty if none yet)."""
    found = extensions.get(EXTENSION)
    return found if isinstance(found, PrivateState) else NO_PRIVATE_COLLECTIONS


@dataclass(frozen=True)
class CreateCollection:
    collection_id: str
    readers: tuple[str, ...]
    retention_ms: int | None


def parse_create(args: Mapping[str, object]) -> CreateCollection:
    """The payload of a ``private.create`` action: ``{"collection": {"collectionId", "readers",
    "retentionMs"}}`` (``retentionMs`` null or 1 s to 100 years)."""
    if set(args) != {"collection"} or not isinstance(args["collection"], dict):
        raise MalformedInput('a private.create action is {"collection": {...}}')
    obj = args["collection"]
    if set(obj) != {"collectionId", "readers", "retentionMs"}:
        raise MalformedInput("a private collection has exactly collectionId, readers, retentionMs")
    collection = obj["collectionId"]
    if not isinstance(collection, str):
        raise MalformedInput("a private collection's collectionId is a string")
    try:
        validate_collection_id(collection)
    except InvalidRequest as exc:
        raise MalformedInput(str(exc)) from None
    if collection.startswith("accord."):
        raise MalformedInput(f"collection {collection} is reserved")
    readers = obj["readers"]
    if (
        not isinstance(readers, list)
        or not 1 <= len(readers) <= MAX_READERS
        or not all(isinstance(r, str) for r in readers)
    ):
        raise MalformedInput(f"readers is a list of 1 to {MAX_READERS} member names")
    if len(set(readers)) != len(readers):
        raise MalformedInput("a reader is listed twice")
    retention = obj["retentionMs"]
    if retention is not None and (
        not isinstance(retention, int)
        or isinstance(retention, bool)
        or not MIN_RETENTION_MS <= retention <= MAX_RETENTION_MS
    ):
        raise MalformedInput(
            f"retentionMs is null or an integer from {MIN_RETENTION_MS} to {MAX_RETENTION_MS}"
        )
    return CreateCollection(collection, tuple(sorted(readers)), retention)


def private_create_action(
    collection_id: str, readers: Sequence[str], retention_ms: int | None = None
) -> dict[str, object]:
    """The JSON of a ``private.create`` action, for a proposal."""
    return {
        "type": "private.create",
        "collection": {
            "collectionId": collection_id,
            "readers": sorted(readers),
            "retentionMs": retention_ms,
        },
    }


# --- records ------------------------------------------------------------------------------------


def _object(data: bytes | str, what: str, keys: frozenset[str]) -> dict[str, object]:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        obj = parse_canonical(raw)
    except MalformedInput as exc:
        raise MalformedInput(f"{what}: {exc}") from None
    if not isinstance(obj, dict) or set(obj) != keys:
        raise MalformedInput(f"{what} is a JSON object with exactly {', '.join(sorted(keys))}")
    return obj


def _hex64(obj: Mapping[str, object], key: str, what: str) -> str:
    value = obj[key]
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise MalformedInput(f"{what}: {key} must be 64 lower-case hex digits")
    return value


_RECORD_KEYS = frozenset({"collectionId", "commitment", "format", "sealedSha256"})


@dataclass(frozen=True)
class PrivateRecord:
    """The public record of one private entry: what every node stores and hashes."""

    collection_id: str
    commitment: str
    sealed_sha256: str

    def to_bytes(self) -> bytes:
        return canonicalize(
            {
                "collectionId": self.collection_id,
                "commitment": self.commitment,
                "format": PRIVATE_FORMAT,
                "sealedSha256": self.sealed_sha256,
            }
        )


def parse_record(data: bytes | str) -> PrivateRecord:
    """A public record (canonical JSON, ``accord.private.v1``); MalformedInput otherwise."""
    obj = _object(data, "a private entry's record", _RECORD_KEYS)
    if obj["format"] != PRIVATE_FORMAT:
        raise MalformedInput(f"unknown private record format {quoted(obj['format'])}")
    collection = obj["collectionId"]
    if not isinstance(collection, str):
        raise MalformedInput("a private record's collectionId is a string")
    return PrivateRecord(
        collection,
        _hex64(obj, "commitment", "a private record"),
        _hex64(obj, "sealedSha256", "a private record"),
    )


def write_contents(record: PrivateRecord, sealed: bytes) -> str:
    """What a reader node orders for a private write: the record and the sealed contents."""
    return canonicalize(
        {
            "format": WRITE_FORMAT,
            "record": parse_canonical(record.to_bytes()),
            "sealed": base64.b64encode(sealed).decode(),
        }
    ).decode()


def parse_write(contents: str, collection_id: str) -> tuple[PrivateRecord, bytes]:
    """The record and sealed bytes of an ordered private write to ``collection_id``.

    Raises MalformedInput unless it is canonical ``accord.private.write.v1`` JSON whose record
    names this collection and whose ``sealedSha256`` is the SHA-256 of the sealed bytes: the leaf
    every node derives then binds exactly the ciphertext the readers keep.
    """
    obj = _object(contents, "a private write", frozenset({"format", "record", "sealed"}))
    if obj["format"] != WRITE_FORMAT:
        raise MalformedInput(f"unknown private write format {quoted(obj['format'])}")
    record = parse_record(canonicalize(obj["record"]))
    if record.collection_id != collection_id:
        raise MalformedInput(
            f"the record names collection {quoted(record.collection_id)}, not {collection_id}"
        )
    sealed_b64 = obj["sealed"]
    if not isinstance(sealed_b64, str):
        raise MalformedInput("a private write's sealed contents are base64 text")
    try:
        sealed = base64.b64decode(sealed_b64, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedInput("a private write's sealed contents are not valid base64") from None
    if not hmac.compare_digest(hashlib.sha256(sealed).hexdigest(), record.sealed_sha256):
        raise MalformedInput("the sealed contents do not match the record's sealedSha256")
    return record, sealed


SEALED_FORMAT = "accord.sealed.v1"
SEALED_SUITE = "HPKE-base-X25519-HKDF-SHA256-AES-256-GCM"


def check_sealed_slots(sealed: bytes, reader_keys: Mapping[str, bytes]) -> None:
    """Check, without any key, that ``sealed`` is ``accord.sealed.v1`` with exactly one wrapped
    key for every reader, named by the key id of the reader's current key (``reader_keys``:
    member → raw X25519 public key). A writer cannot leave a reader out, or seal to a stale key,
    without every node rejecting the write. MalformedInput otherwise."""
    try:
        obj = parse_canonical(sealed)
    except MalformedInput as exc:
        raise MalformedInput(f"sealed contents: {exc}") from None
    keys = {"ciphertext", "format", "nonce", "suite", "wrapped"}
    if not isinstance(obj, dict) or set(obj) != keys:
        raise MalformedInput(f"sealed contents are {SEALED_FORMAT} with exactly {sorted(keys)}")
    if obj["format"] != SEALED_FORMAT or obj["suite"] != SEALED_SUITE:
        raise MalformedInput(f"sealed contents are {SEALED_FORMAT}, suite {SEALED_SUITE}")
    wrapped = obj["wrapped"]
    if not isinstance(wrapped, list) or not all(
        isinstance(w, dict) and set(w) == {"key", "keyId", "member"} for w in wrapped
    ):
        raise MalformedInput("sealed contents wrap the data key as {key, keyId, member} slots")
    members = [w["member"] for w in wrapped]
    if members != sorted(reader_keys):
        raise MalformedInput(
            f"the contents are sealed to {members}, not to every reader ({sorted(reader_keys)})"
        )
    for slot in wrapped:
        if slot["keyId"] != key_id(reader_keys[slot["member"]]):
            raise MalformedInput(
                f"the contents are sealed to a key of {slot['member']} that is not its current "
                "encryption key"
            )


_PURGE_KEYS = frozenset({"collectionId", "format", "reason", "transactionId"})


@dataclass(frozen=True)
class PurgeRecord:
    """An Administrator of a reader organization erases one private entry's contents."""

    collection_id: str
    transaction_id: str
    reason: str

    @property
    def seqno(self) -> int:
        return int(self.transaction_id.split(".", 1)[1])


def purge_record(collection_id: str, transaction_id: str, reason: str) -> str:
    """The canonical text of a purge record (checked by :func:`parse_purge`)."""
    text = canonicalize(
        {
            "collectionId": collection_id,
            "format": PURGE_FORMAT,
            "reason": reason,
            "transactionId": transaction_id,
        }
    ).decode()
    parse_purge(text)
    return text


def parse_purge(contents: bytes | str) -> PurgeRecord:
    obj = _object(contents, "a purge record", _PURGE_KEYS)
    if obj["format"] != PURGE_FORMAT:
        raise MalformedInput(f"unknown purge record format {quoted(obj['format'])}")
    collection, txid, reason = obj["collectionId"], obj["transactionId"], obj["reason"]
    if not isinstance(collection, str) or not isinstance(txid, str) or not _TXID.fullmatch(txid):
        raise MalformedInput("a purge record names a collection and a transaction id '<v>.<n>'")
    if not isinstance(reason, str) or not 1 <= len(reason) <= MAX_REASON or not reason.strip():
        raise MalformedInput(f"a purge's reason is 1 to {MAX_REASON} characters of text")
    return PurgeRecord(collection, txid, reason)


# --- governance: private.create -----------------------------------------------------------------


def apply_create(
    private: PrivateState,
    create: CreateCollection,
    *,
    members: Mapping[str, object],
    member_keys: Mapping[str, bytes | None],
    seqno: int,
) -> PrivateState:
    """``private`` with the collection ``create`` added at entry ``seqno``; Conflict if the id is
    private already, a reader is not a member, or a reader has no encryption key."""
    if create.collection_id in private.collections:
        raise Conflict(f"collection {create.collection_id} is private already")
    for reader in create.readers:
        if reader not in members:
            raise Conflict(f"reader {reader} is not a member")
        if member_keys.get(reader) is None:
            raise Conflict(
                f"reader {reader} has no encryption key yet (a member.encryption-key action sets "
                "it)"
            )
    added = PrivateCollection(create.collection_id, create.readers, create.retention_ms, seqno)
    return replace(private, collections={**private.collections, create.collection_id: added})


def drop_reader(private: PrivateState, member: str) -> PrivateState:
    """``private`` without ``member`` among any collection's readers (the member left)."""
    changed = {
        cid: replace(c, readers=tuple(r for r in c.readers if r != member))
        for cid, c in private.collections.items()
        if member in c.readers
    }
    if not changed:
        return private
    return replace(private, collections={**private.collections, **changed})


# --- disclosure ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Disclosure:
    receipt: object
    record: str
    contents: str
    salt: bytes


def disclosure_json(receipt: object, record: str, contents: str, salt: bytes) -> dict[str, object]:
    return {
        "format": DISCLOSURE_FORMAT,
        "receipt": receipt,
        "record": record,
        "contents": contents,
        "salt": salt.hex(),
    }


def parse_disclosure(data: bytes | str | Mapping[str, object]) -> Disclosure:
    obj = data if isinstance(data, Mapping) else parse_json(data)
    keys = {"format", "receipt", "record", "contents", "salt"}
    if not isinstance(obj, Mapping) or set(obj) != keys:
        raise MalformedInput(
            f"a disclosure is a JSON object with exactly {', '.join(sorted(keys))}"
        )
    if obj["format"] != DISCLOSURE_FORMAT:
        raise MalformedInput(f"unknown disclosure format {quoted(obj['format'])}")
    record, contents, salt = obj["record"], obj["contents"], obj["salt"]
    if not isinstance(record, str) or not isinstance(contents, str):
        raise MalformedInput("a disclosure's record and contents are strings")
    if not isinstance(salt, str) or not re.fullmatch(r"[0-9a-f]{64}", salt):
        raise MalformedInput("a disclosure's salt is 64 lower-case hex digits")
    return Disclosure(obj["receipt"], record, contents, bytes.fromhex(salt))


def verify_disclosure_contents(
    disclosure: Disclosure, leaf_contents_sha256: bytes, leaf_collection_id: str
) -> PrivateRecord:
    """Check a disclosure's record against the leaf's ``contentsSha256`` and collection (from a
    receipt that was verified already) and its contents and salt against the record's commitment.
    Raises :class:`VerificationError`; returns the record.

    What this proves: the commitment was recorded in that entry and these contents open it. That
    the collection was private when the entry was written is in the consortium's state, not in
    the receipt."""
    try:
        record_bytes = disclosure.record.encode("utf-8")
        record = parse_record(record_bytes)
        contents = disclosure.contents.encode("utf-8")
    except (AccordError, UnicodeEncodeError) as exc:
        raise VerificationError(f"the disclosure's record is not a private record: {exc}") from None
    if not hmac.compare_digest(hashlib.sha256(record_bytes).digest(), leaf_contents_sha256):
        raise VerificationError(
            "the disclosure's record is not the contents of the receipt's entry (its SHA-256 "
            "differs from contentsSha256)"
        )
    if record.collection_id != leaf_collection_id:
        raise VerificationError(
            f"the disclosure's record names collection {record.collection_id!r}, but the entry "
            f"is in {leaf_collection_id!r}"
        )
    check_commitment(record.commitment, disclosure.salt, contents)
    return record
