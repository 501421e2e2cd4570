"""The one error tree of accord.

Every error accord raises on purpose is an :class:`AccordError`. Parsers of untrusted input raise
only these, never a bare ``ValueError``/``KeyError``/``binascii.Error``::

    AccordError
    ├── VerificationError          a proof, signature or audit did not check out
    │   ├── MalformedInput         bytes that do not parse as the format they claim to be
    │   ├── SignatureError         a note/checkpoint signature is missing or invalid
    │   ├── RootMismatch           a proof leads to a different root than the one trusted
    │   ├── QuorumNotMet           a checkpoint's cosignatures fall short of the policy quorum
    │   └── TamperingDetected      an audit found stored data that contradicts the log
    ├── InvalidRequest             a caller's request is wrong (bad id, oversized entry, index ≥ size)
    │   ├── NotFound               the thing asked for does not exist (yet)
    │   │   └── Gone               it existed, but its contents were erased (purge, redaction)
    │   │       └── EntryRedacted  erased by a redaction record, which it names
    │   ├── Conflict               the request is well-formed but would break an invariant
    │   │   └── PreconditionFailed  a conditional write's condition (If-Match, ...) is false
    │   ├── WitnessRefused         a tlog-witness add-checkpoint refusal, with its HTTP status
    │   ├── DocumentLocked         a document's retention or legal hold forbids the change
    │   └── LedgerWriteRefused     a SQL write a ledger table cannot capture was refused
    ├── StorageError               the backend failed or holds something unusable
    │   ├── LedgerLocked           another process is already the writer of this ledger
    │   ├── DatabaseMissing        the SQLite file or PostgreSQL database does not exist
    │   ├── LedgerMissing          storage holds less than this data directory has signed
    │   └── OrderingUnavailable    the consortium's ordering service cannot order a write now
    ├── ConfigurationError         a data directory, key or option is missing or wrong
    └── AuthError                  authentication or authorization refused

``MalformedInput`` is a ``VerificationError`` because input that does not parse can never verify; a
caller that catches ``VerificationError`` rejects it too.
"""

from __future__ import annotations


class AccordError(Exception):
    """Base of every error accord raises on purpose."""


class VerificationError(AccordError):
    """A proof, signature, receipt or audit did not verify."""


class MalformedInput(VerificationError):
    """Input does not parse as the format it claims to be."""


class SignatureError(VerificationError):
    """A signature is missing, from an unknown key, or invalid."""


class RootMismatch(VerificationError):
    """A proof leads to a root hash different from the trusted one."""


class QuorumNotMet(VerificationError):
    """A checkpoint's verified cosignatures do not satisfy the trust policy's quorum."""


class TamperingDetected(VerificationError):
    """An audit found stored data that contradicts the log.

    ``seqno`` names the first bad entry when one can be named (1-based, as in transaction ids).
    """

    def __init__(self, message: str, *, seqno: int | None = None) -> None:
        super().__init__(message)
        self.seqno = seqno


class InvalidRequest(AccordError):
    """A caller's request is invalid: nothing was changed."""


class NotFound(InvalidRequest):
    """The requested object does not exist (or is not visible yet)."""


class Conflict(InvalidRequest):
    """The request is well-formed but would break an invariant (e.g. remove the last admin)."""


class Gone(NotFound):
    """The object existed, but its contents were erased (a purge or a redaction): answered 410."""


class EntryRedacted(Gone):
    """An entry's contents were erased by a redaction record; its leaf, proofs and receipts stay.

    ``redaction_id`` is the transaction id of the redaction record (``docs/formats.md`` §22).
    """

    def __init__(self, message: str, *, redaction_id: str) -> None:
        super().__init__(message)
        self.redaction_id = redaction_id


class PreconditionFailed(Conflict):
    """A conditional write's precondition (If-Match, If-None-Match) does not hold."""


class WitnessRefused(InvalidRequest):
    """A C2SP tlog-witness request refused, with the status the spec gives for the reason.

    ``body`` and ``content_type`` are the answer the spec prescribes, when it prescribes one
    (a 409 answers the witness's recorded size as ``text/x.tlog.size``).
    """

    def __init__(
        self, status: int, message: str, *, body: str | None = None, content_type: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.content_type = content_type


class DocumentLocked(InvalidRequest):
    """A document version's retention or legal hold forbids the deletion or change asked for."""


class LedgerWriteRefused(InvalidRequest):
    """A statement would change a ledger table in a way accord cannot capture; nothing ran."""


class StorageError(AccordError):
    """A storage backend failed or holds unusable data."""


class LedgerLocked(StorageError):
    """Another process already holds the writer lock of this ledger."""


class DatabaseMissing(StorageError):
    """The SQLite file or the PostgreSQL database named by a storage location does not exist."""


class LedgerMissing(StorageError):
    """The ledger's storage is missing, empty or shorter than a checkpoint this node signed.

    Raised instead of silently starting a fresh ledger: the data directory remembers (outside the
    database) the newest checkpoint it signed, and storage must hold at least that much.
    """


class OrderingUnavailable(StorageError):
    """The consortium's ordering service (JetStream) cannot take or deliver a write right now.

    Nothing was acknowledged; the caller may retry (the service answers 503 with Retry-After).
    """

    def __init__(self, message: str, *, retry_after: float = 2.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConfigurationError(AccordError):
    """A data directory, key file or option is missing or wrong."""


class AuthError(AccordError):
    """Authentication or authorization was refused."""
