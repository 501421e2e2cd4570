"""Ledger entries: transaction ids, validation rules, and the canonical Merkle leaf.

The leaf of entry ``seqno`` is the RFC 8785 canonical JSON of its metadata
(see ``docs/formats.md``)::

    {"collectionId":"subledger:0","contentsSha256":"<64 hex>","format":"accord.entry.v1",
     "tags":["a","b"],"timestamp":1700000000000,"transactionId":"1.42","userId":"..."}

Contents are not in the leaf, only their SHA-256, so a receipt can be shared without the contents.
Pure code: the timestamp is passed in, nothing is read from a clock.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from accord.core.canonical import canonicalize, parse_canonical, parse_json
from accord.core.quoting import quoted
from accord.errors import InvalidRequest, MalformedInput

ENTRY_FORMAT = "accord.entry.v1"
DEFAULT_COLLECTION = "subledger:0"
DEFAULT_MAX_CONTENTS = 1 << 20
MAX_TAGS = 32

# The id rules, as anchored patterns that other layers (the OpenAPI document) publish unchanged.
COLLECTION_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$"
TAG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-=]{0,63}$"
TRANSACTION_ID_PATTERN = r"^([1-9][0-9]{0,17})\.([1-9][0-9]{0,17})$"
# A user id as recorded in an entry's leaf: any text without control characters. Which ids may be
# *registered* as users is stricter (accord.service.users.parse_user_id); this rule stays wide so
# that every leaf already written keeps parsing.
USER_ID_PATTERN = r"^[^\x00-\x1f\x7f]{1,256}$"
_COLLECTION_RE = re.compile(COLLECTION_ID_PATTERN)
_TAG_RE = re.compile(TAG_PATTERN)
_TXID_RE = re.compile(TRANSACTION_ID_PATTERN)
_USER_RE = re.compile(USER_ID_PATTERN)
_LEAF_KEYS = frozenset(
    {"collectionId", "contentsSha256", "format", "tags", "timestamp", "transactionId", "userId"}
)
_encode_str = json.encoder.encode_basestring


@dataclass(frozen=True, slots=True)
class TransactionId:
    """A CCF-style transaction id ``"<view>.<seqno>"``; seqno counts entries from 1."""

    view: int
    seqno: int

    @classmethod
    def parse(cls, text: str) -> TransactionId:
        m = _TXID_RE.fullmatch(text) if isinstance(text, str) else None
        if not m:
            raise InvalidRequest(
                f"malformed transaction id {quoted(text)}: expected '<view>.<seqno>', e.g. '1.42'"
            )
        return cls(int(m.group(1)), int(m.group(2)))

    def __str__(self) -> str:
        return f"{self.view}.{self.seqno}"


@functools.lru_cache(maxsize=4096)
def _valid_collection(collection_id: str) -> bool:
    return _COLLECTION_RE.fullmatch(collection_id) is not None


def validate_collection_id(collection_id: str) -> str:
    if not isinstance(collection_id, str) or not _valid_collection(collection_id):
        raise InvalidRequest(
            f"invalid collection id {quoted(collection_id)}: 1-128 characters from A-Z a-z 0-9 _ . : -, "
            "starting with a letter or digit"
        )
    return collection_id


def validate_tags(tags: Sequence[str]) -> tuple[str, ...]:
    if not tags:
        return ()
    if isinstance(tags, str):
        raise InvalidRequest("tags must be a list of strings, not one string")
    out = tuple(tags)
    if len(out) > MAX_TAGS:
        raise InvalidRequest(f"at most {MAX_TAGS} tags per entry, got {len(out)}")
    for tag in out:
        if not isinstance(tag, str) or not _TAG_RE.fullmatch(tag):
            raise InvalidRequest(
                f"invalid tag {quoted(tag)}: 1-64 characters from A-Z a-z 0-9 _ . : - =, "
                "starting with a letter or digit"
            )
    if len(set(out)) != len(out):
        raise InvalidRequest("duplicate tags")
    return out


@functools.lru_cache(maxsize=4096)
def _valid_user(user_id: str) -> bool:
    return _USER_RE.fullmatch(user_id) is not None


def validate_user_id(user_id: str) -> str:
    if not isinstance(user_id, str) or not _valid_user(user_id):
        raise InvalidRequest("invalid user id: 1-256 characters, no control characters")
    return user_id


def encode_contents(contents: str, max_size: int = DEFAULT_MAX_CONTENTS) -> bytes:
    """Contents as UTF-8, rejecting non-strings, unencodable strings and oversized contents."""
    if not isinstance(contents, str):
        raise InvalidRequest("contents must be a string")
    try:
        data = contents.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequest("contents is not valid Unicode (lone surrogate)") from exc
    if len(data) > max_size:
        raise InvalidRequest(
            f"contents is {len(data)} bytes; the limit of this ledger is {max_size} bytes"
        )
    return data


@dataclass(frozen=True, slots=True)
class EntryMetadata:
    """Everything about an entry that is hashed into its Merkle leaf."""

    transaction_id: TransactionId
    collection_id: str
    tags: tuple[str, ...]
    contents_sha256: bytes
    user_id: str
    timestamp_ms: int

    @property
    def seqno(self) -> int:
        return self.transaction_id.seqno

    def leaf(self) -> bytes:
        """The canonical leaf bytes (RFC 8785)."""
        # Hand-built for speed: keys already in RFC 8785 order, strings escaped by json's C
        # encoder (identical to ECMAScript's for these values); tests cross-check canonicalize().
        tags = ",".join(_encode_str(t) for t in self.tags)
        return (
            f'{{"collectionId":{_encode_str(self.collection_id)},'
            f'"contentsSha256":"{self.contents_sha256.hex()}",'
            f'"format":"{ENTRY_FORMAT}","tags":[{tags}],"timestamp":{self.timestamp_ms},'
            f'"transactionId":"{self.transaction_id}","userId":{_encode_str(self.user_id)}}}'
        ).encode()

    def to_json(self) -> dict[str, object]:
        return {
            "collectionId": self.collection_id,
            "contentsSha256": self.contents_sha256.hex(),
            "format": ENTRY_FORMAT,
            "tags": list(self.tags),
            "timestamp": self.timestamp_ms,
            "transactionId": str(self.transaction_id),
            "userId": self.user_id,
        }

    @classmethod
    def from_json(cls, obj: object) -> EntryMetadata:
        """Parse the leaf's JSON object, validating every field; MalformedInput on any defect."""
        if not isinstance(obj, dict) or set(obj) != _LEAF_KEYS:
            raise MalformedInput(f"entry metadata must have exactly the keys {sorted(_LEAF_KEYS)}")
        if obj["format"] != ENTRY_FORMAT:
            raise MalformedInput(f"unknown entry format {quoted(obj['format'])}")
        try:
            txid = TransactionId.parse(obj["transactionId"])
            collection = validate_collection_id(obj["collectionId"])
            tags = validate_tags(obj["tags"])
            user = validate_user_id(obj["userId"])
        except InvalidRequest as exc:
            raise MalformedInput(f"entry metadata: {exc}") from exc
        digest = obj["contentsSha256"]
        if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise MalformedInput("contentsSha256 must be 64 lowercase hex digits")
        ts = obj["timestamp"]
        if not isinstance(ts, int) or isinstance(ts, bool) or not 0 <= ts < 1 << 53:
            raise MalformedInput("timestamp must be a non-negative integer of milliseconds")
        return cls(txid, collection, tags, bytes.fromhex(digest), user, ts)

    @classmethod
    def from_stored_leaf(cls, leaf: bytes) -> EntryMetadata:
        """Parse and validate leaf bytes without re-checking canonical form.

        For serving reads from the ledger's own storage, whose canonical form the audit checks;
        untrusted leaves go through :meth:`from_leaf`.
        """
        return cls.from_json(parse_json(leaf))

    @classmethod
    def from_leaf(cls, leaf: bytes) -> EntryMetadata:
        """Parse leaf bytes, which must be in canonical form."""
        return cls.from_json(parse_canonical(leaf))


def canonical_leaf(metadata: EntryMetadata) -> bytes:
    """Reference encoding through the generic canonicalizer (used to cross-check ``leaf()``)."""
    return canonicalize(metadata.to_json())
