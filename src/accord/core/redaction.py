"""Redaction records: erasing one entry's contents from a single-node ledger, on the record.

An entry's Merkle leaf holds only the SHA-256 of its contents (:mod:`accord.core.entry`), so the
contents can be erased without touching the tree: every leaf, tile, checkpoint, proof and receipt
stays valid. What must not happen is contents vanishing *silently*. So a redaction is itself a
ledger entry, a **redaction record** in the reserved collection :data:`REDACTIONS_COLLECTION`,
written by the ledger under the reserved user id :data:`REDACTIONS_USER` (no registrable user id
has a ``:`` outside a certificate fingerprint's hex pairs, and the entry API refuses every
``accord.*`` collection), *before* the contents are erased. Its contents are RFC 8785 canonical
JSON (``docs/formats.md`` §22)::

    {"by":"<user id>","ccfClaimsDigest":"<64 hex>","contentsSha256":"<64 hex>",
     "format":"accord.redaction.v1","reason":"GDPR art. 17 request 2026-114",
     "transactionId":"1.42"}

``contentsSha256`` is copied from the redacted entry's leaf, so an audit can check that the record
names that entry's contents; ``ccfClaimsDigest`` is the entry's claims digest in the CCF tree
(``docs/formats.md`` §8), which is computed from the contents and so could not be recomputed once
they are gone: with it, the CCF tree is still recomputed in full and Azure-format receipts are
still served. Neither reveals more than the leaf already did (the per-entry claim key is published
with every Azure receipt).

:class:`Redactions` folds records in ledger order; :func:`check_redactable` is the rule a new
redaction must pass and :func:`redacted_contents` the rule an audit applies to a redacted entry.
What this does not do: erase anything (the storage backends do), or reach copies outside this
ledger's storage (backups, replicas, downloads). Pure code: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from accord.core.canonical import canonicalize, parse_canonical
from accord.core.entry import EntryMetadata, TransactionId, validate_user_id
from accord.core.quoting import quoted
from accord.errors import AuthError, Conflict, InvalidRequest, MalformedInput, VerificationError

__all__ = [
    "CONSORTIUM_REFUSAL",
    "MAX_REASON_CHARS",
    "OPERATOR",
    "REDACTIONS_COLLECTION",
    "REDACTIONS_USER",
    "REDACTION_FORMAT",
    "Redaction",
    "RedactionRecord",
    "Redactions",
    "check_redactable",
    "redacted_contents",
    "validate_reason",
]

REDACTION_FORMAT = "accord.redaction.v1"
REDACTIONS_COLLECTION = "accord.redactions"
REDACTIONS_USER = "accord:redactions"  # ':' is in no registrable user id (service.users)
OPERATOR = "accord:operator"
"""``by`` of a redaction made offline in the data directory, where no user authenticated."""
MAX_REASON_CHARS = 512
RESERVED_PREFIX = "accord."

ERASED = "erased"
"""The redacted entry's contents are gone from storage."""
PENDING = "pending"
"""The record is durable but the contents are still stored (a crash came between the two); the
next writer to open the ledger erases them."""

CONSORTIUM_REFUSAL = (
    "this ledger is a consortium node's, and an entry there is stored by every organization: "
    "redaction erases entries of a single-node ledger only. Redaction of consortium entries is "
    "done by private-collection purge (keep personal data in a private collection; an "
    "Administrator of a reader organization purges an entry on every node that holds it)"
)

_KEYS = frozenset({"by", "ccfClaimsDigest", "contentsSha256", "format", "reason", "transactionId"})
_HEX64 = re.compile(r"[0-9a-f]{64}")


def validate_reason(reason: object) -> str:
    """A redaction's reason: 1-512 characters, not only blanks, no control characters.

    The reason stays on the ledger for good: it says *why* (a request number, a legal basis),
    never what was erased.
    """
    if not isinstance(reason, str):
        raise InvalidRequest("the reason must be a string of 1-512 characters")
    if not 1 <= len(reason) <= MAX_REASON_CHARS or not reason.strip():
        raise InvalidRequest(
            f"the reason must be 1-{MAX_REASON_CHARS} characters and not only blanks, got "
            f"{len(reason)}"
        )
    for char in reason:
        category = unicodedata.category(char)
        if category == "Cc":
            raise InvalidRequest(
                f"the reason may not contain control characters (U+{ord(char):04X})"
            )
        if category == "Cs":
            raise InvalidRequest("the reason is not valid Unicode (lone surrogate)")
    return reason


@dataclass(frozen=True, slots=True)
class RedactionRecord:
    """The contents of a redaction record: which entry, its digests, why, and who asked."""

    transaction_id: TransactionId
    contents_sha256: bytes
    ccf_claims_digest: bytes
    reason: str
    by: str

    def to_json(self) -> dict[str, object]:
        return {
            "by": self.by,
            "ccfClaimsDigest": self.ccf_claims_digest.hex(),
            "contentsSha256": self.contents_sha256.hex(),
            "format": REDACTION_FORMAT,
            "reason": self.reason,
            "transactionId": str(self.transaction_id),
        }

    def encode(self) -> bytes:
        """The record's canonical bytes (RFC 8785), the contents of its ledger entry."""
        for name, digest in (
            ("contentsSha256", self.contents_sha256),
            ("ccfClaimsDigest", self.ccf_claims_digest),
        ):
            if len(digest) != 32:
                raise InvalidRequest(f"{name} must be 32 bytes")
        validate_reason(self.reason)
        validate_user_id(self.by)
        return canonicalize(self.to_json())

    @classmethod
    def parse(cls, contents: bytes) -> RedactionRecord:
        """Parse a record's bytes, which must be canonical; MalformedInput on any defect."""
        obj = parse_canonical(contents)
        if not isinstance(obj, dict) or set(obj) != _KEYS:
            raise MalformedInput(f"a redaction record has exactly the keys {sorted(_KEYS)}")
        if obj["format"] != REDACTION_FORMAT:
            raise MalformedInput(f"unknown redaction record format {quoted(obj['format'])}")
        digests = []
        for name in ("contentsSha256", "ccfClaimsDigest"):
            value = obj[name]
            if not isinstance(value, str) or not _HEX64.fullmatch(value):
                raise MalformedInput(f"{name} must be 64 lower-case hex digits")
            digests.append(bytes.fromhex(value))
        try:
            txid = TransactionId.parse(obj["transactionId"])
            reason = validate_reason(obj["reason"])
            by = validate_user_id(obj["by"])
        except InvalidRequest as exc:
            raise MalformedInput(f"redaction record: {exc}") from exc
        return cls(txid, digests[0], digests[1], reason, by)


@dataclass(frozen=True, slots=True)
class Redaction:
    """A redacted entry's record: the record entry's own id, and what it says."""

    record_id: TransactionId
    record: RedactionRecord


def _is_reserved(collection_id: str) -> bool:
    return collection_id.startswith(RESERVED_PREFIX)


class Redactions:
    """The fold of redaction records in ledger order: redacted seqno → its :class:`Redaction`.

    :meth:`add` takes each record entry as stored (its leaf's metadata and its contents) and
    raises :class:`MalformedInput` naming the record if it is not one the ledger could have
    written: contents that are not its leaf's, another user or collection, a target that is not an
    earlier entry of the same view, or a second record for the same entry.
    """

    def __init__(self) -> None:
        self._by_seqno: dict[int, Redaction] = {}
        self.last_record_seqno = 0
        """Seqno of the newest record folded (0 if none): the next fold starts after it."""
        self.newest: Redaction | None = None
        """The redaction of the newest record folded."""

    def add(self, metadata: EntryMetadata, contents: bytes) -> Redaction:
        record_id = metadata.transaction_id
        where = f"redaction record {record_id}"
        if metadata.collection_id != REDACTIONS_COLLECTION:
            raise MalformedInput(f"{where} is in collection {metadata.collection_id!r}")
        if record_id.seqno <= self.last_record_seqno:
            raise MalformedInput(f"{where} comes after record {self.last_record_seqno}")
        if metadata.user_id != REDACTIONS_USER:
            raise MalformedInput(
                f"{where} was written by {metadata.user_id!r}, not by the ledger "
                f"({REDACTIONS_USER!r})"
            )
        if not hmac.compare_digest(hashlib.sha256(contents).digest(), metadata.contents_sha256):
            raise MalformedInput(f"{where}: its contents are not the ones its leaf names")
        try:
            record = RedactionRecord.parse(contents)
        except MalformedInput as exc:
            raise MalformedInput(f"{where}: {exc}") from exc
        target = record.transaction_id
        if target.view != record_id.view or target.seqno >= record_id.seqno:
            raise MalformedInput(f"{where} names transaction {target}, not an earlier entry")
        earlier = self._by_seqno.get(target.seqno)
        if earlier is not None:
            raise MalformedInput(
                f"{where} redacts transaction {target} again (already by {earlier.record_id})"
            )
        redaction = Redaction(record_id, record)
        self._by_seqno[target.seqno] = redaction
        self.last_record_seqno = record_id.seqno
        self.newest = redaction
        return redaction

    def get(self, seqno: int) -> Redaction | None:
        return self._by_seqno.get(seqno)

    def __contains__(self, seqno: object) -> bool:
        return seqno in self._by_seqno

    def __len__(self) -> int:
        return len(self._by_seqno)

    def __iter__(self) -> Iterator[int]:
        """Redacted seqnos in order (of a copy: a fold may go on meanwhile)."""
        return iter(sorted(self._by_seqno.copy()))


def check_redactable(target: EntryMetadata, redactions: Redactions) -> None:
    """Raise unless a new redaction of ``target`` may be written.

    Entries of ``accord.*`` collections are accord's own records (documents, governance, earlier
    redactions): erasing one would break what is built on them, so they are refused
    (:class:`AuthError`, as the entry API refuses writing them); an entry redacted already is a
    :class:`Conflict` naming its record.
    """
    txid = target.transaction_id
    if _is_reserved(target.collection_id):
        raise AuthError(
            f"transaction {txid} is in collection {target.collection_id}: entries of accord.* "
            "collections are accord's own records and cannot be redacted"
        )
    earlier = redactions.get(txid.seqno)
    if earlier is not None:
        raise Conflict(
            f"transaction {txid} is already redacted (by redaction record {earlier.record_id})"
        )


def redacted_contents(target: EntryMetadata, stored: bytes, redaction: Redaction) -> str:
    """Whether a redacted entry's stored contents are :data:`ERASED` or :data:`PENDING`.

    Raises :class:`VerificationError` if the record does not fit the entry (another
    ``contentsSha256``, an ``accord.*`` entry) or the stored contents are neither erased (empty)
    nor the entry's own (changed).
    """
    record = redaction.record
    where = f"entry {target.seqno} (redacted by record {redaction.record_id})"
    if record.transaction_id != target.transaction_id:
        raise VerificationError(f"{where}: the record names transaction {record.transaction_id}")
    if _is_reserved(target.collection_id):
        raise VerificationError(f"{where} is in collection {target.collection_id}")
    if not hmac.compare_digest(record.contents_sha256, target.contents_sha256):
        raise VerificationError(
            f"{where}: the record's contentsSha256 {record.contents_sha256.hex()[:16]}… is not "
            f"the entry's {target.contents_sha256.hex()[:16]}…"
        )
    if not stored:
        return ERASED
    if hmac.compare_digest(hashlib.sha256(stored).digest(), target.contents_sha256):
        return PENDING
    raise VerificationError(f"{where}: its stored contents were changed, not erased")
