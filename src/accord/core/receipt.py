"""accord receipts: an entry's metadata, its leaf index, an inclusion proof and a signed checkpoint.

A receipt is checked offline with nothing but the ledger's checkpoint verifier key::

    {"format": "accord.receipt.v1",
     "entry": {...entry metadata, the leaf object...},
     "leafIndex": 41, "treeSize": 1000,
     "inclusionProof": ["<base64 hash>", ...],
     "checkpoint": "<C2SP signed note text>"}

:func:`verify_receipt` checks the checkpoint signature first, then parses, then recomputes the leaf
and walks the proof to the signed root. It raises on any failure and never returns False.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from accord.core.canonical import canonicalize, parse_json
from accord.core.checkpoint import Checkpoint, open_checkpoint
from accord.core.entry import EntryMetadata
from accord.core.merkle import leaf_hash, verify_inclusion
from accord.core.note import Verifier
from accord.core.quoting import quoted
from accord.errors import MalformedInput, VerificationError

RECEIPT_FORMAT = "accord.receipt.v1"
_RECEIPT_KEYS = frozenset(
    {"format", "entry", "leafIndex", "treeSize", "inclusionProof", "checkpoint"}
)


@dataclass(frozen=True)
class Receipt:
    metadata: EntryMetadata
    leaf_index: int
    tree_size: int
    inclusion_proof: tuple[bytes, ...]
    checkpoint_note: str

    def to_json(self) -> dict[str, object]:
        return {
            "format": RECEIPT_FORMAT,
            "entry": self.metadata.to_json(),
            "leafIndex": self.leaf_index,
            "treeSize": self.tree_size,
            "inclusionProof": [base64.b64encode(h).decode() for h in self.inclusion_proof],
            "checkpoint": self.checkpoint_note,
        }

    def to_bytes(self) -> bytes:
        return canonicalize(self.to_json())


@dataclass(frozen=True)
class VerifiedReceipt:
    """What a successful :func:`verify_receipt` vouches for."""

    metadata: EntryMetadata
    checkpoint: Checkpoint


def _int_field(obj: dict[str, object], key: str) -> int:
    value = obj[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MalformedInput(f"receipt field {key} must be a non-negative integer")
    return value


def parse_receipt(data: bytes | str | dict[str, object]) -> Receipt:
    """Parse a receipt's JSON structure (no verification: see :func:`verify_receipt`)."""
    obj = data if isinstance(data, dict) else parse_json(data)
    if not isinstance(obj, dict) or set(obj) != _RECEIPT_KEYS:
        raise MalformedInput(f"a receipt must have exactly the keys {sorted(_RECEIPT_KEYS)}")
    if obj["format"] != RECEIPT_FORMAT:
        raise MalformedInput(f"unknown receipt format {quoted(obj['format'])}")
    proof_field = obj["inclusionProof"]
    if not isinstance(proof_field, list):
        raise MalformedInput("inclusionProof must be a list of base64 hashes")
    proof: list[bytes] = []
    for item in proof_field:
        if not isinstance(item, str):
            raise MalformedInput("inclusionProof must be a list of base64 hashes")
        try:
            proof.append(base64.b64decode(item, validate=True))
        except (binascii.Error, ValueError) as exc:
            raise MalformedInput("inclusionProof holds invalid base64") from exc
    note = obj["checkpoint"]
    if not isinstance(note, str):
        raise MalformedInput("checkpoint must be the signed note text")
    return Receipt(
        metadata=EntryMetadata.from_json(obj["entry"]),
        leaf_index=_int_field(obj, "leafIndex"),
        tree_size=_int_field(obj, "treeSize"),
        inclusion_proof=tuple(proof),
        checkpoint_note=note,
    )


def verify_receipt(
    data: bytes | str | dict[str, object] | Receipt,
    verifier: Verifier,
    *,
    contents: bytes | None = None,
) -> VerifiedReceipt:
    """Verify a receipt offline against the ledger's checkpoint verifier key.

    If ``contents`` is given, it must hash to the receipt's ``contentsSha256`` as well.
    """
    receipt = data if isinstance(data, Receipt) else parse_receipt(data)
    checkpoint = open_checkpoint(receipt.checkpoint_note, verifier)
    return _check_receipt(receipt, checkpoint, contents)


class ReceiptVerifier:
    """Verifies many receipts with one key, checking each distinct checkpoint signature once.

    Receipts issued together usually share their checkpoint; the signature check dominates the
    cost of verifying a receipt, so a verified checkpoint note is remembered (keyed by its exact
    text, at most ``cache_size`` of them). Everything else is checked for every receipt.
    """

    def __init__(self, verifier: Verifier, cache_size: int = 1024) -> None:
        self.verifier = verifier
        self._cache: dict[str, Checkpoint] = {}
        self._cache_size = cache_size

    def verify(
        self, data: bytes | str | dict[str, object] | Receipt, *, contents: bytes | None = None
    ) -> VerifiedReceipt:
        receipt = data if isinstance(data, Receipt) else parse_receipt(data)
        checkpoint = self._cache.get(receipt.checkpoint_note)
        if checkpoint is None:
            checkpoint = open_checkpoint(receipt.checkpoint_note, self.verifier)
            if len(self._cache) >= self._cache_size:
                self._cache.pop(next(iter(self._cache)))
            self._cache[receipt.checkpoint_note] = checkpoint
        return _check_receipt(receipt, checkpoint, contents)


def _check_receipt(
    receipt: Receipt, checkpoint: Checkpoint, contents: bytes | None
) -> VerifiedReceipt:
    if receipt.tree_size != checkpoint.size:
        raise VerificationError(
            f"receipt claims tree size {receipt.tree_size}, its checkpoint has {checkpoint.size}"
        )
    if receipt.leaf_index != receipt.metadata.seqno - 1:
        raise VerificationError(
            f"leaf index {receipt.leaf_index} does not match transaction "
            f"{receipt.metadata.transaction_id}"
        )
    verify_inclusion(
        receipt.leaf_index,
        receipt.tree_size,
        leaf_hash(receipt.metadata.leaf()),
        receipt.inclusion_proof,
        checkpoint.root_hash,
    )
    if contents is not None and not hmac.compare_digest(
        hashlib.sha256(contents).digest(), receipt.metadata.contents_sha256
    ):
        raise VerificationError("contents do not match the receipt's contentsSha256")
    return VerifiedReceipt(receipt.metadata, checkpoint)
