"""Receipts: offline verification, the batch verifier's cache, malformed receipts."""

from __future__ import annotations

import hashlib

import pytest

from accord.core.checkpoint import Checkpoint, sign_checkpoint
from accord.core.entry import EntryMetadata, TransactionId
from accord.core.merkle import leaf_hash, root_from_leaf_hashes
from accord.core.note import Signer
from accord.core.receipt import Receipt, ReceiptVerifier, parse_receipt, verify_receipt
from accord.errors import MalformedInput, RootMismatch, SignatureError, VerificationError

ORIGIN = "receipts.test/ledger"


def _metadata(seqno: int) -> EntryMetadata:
    return EntryMetadata(
        TransactionId(1, seqno),
        "subledger:0",
        (),
        hashlib.sha256(f"contents {seqno}".encode()).digest(),
        "alice",
        1_764_000_000_000 + seqno,
    )


def _receipts(signer: Signer, size: int = 13) -> list[Receipt]:
    metas = [_metadata(i + 1) for i in range(size)]
    hashes = [leaf_hash(m.leaf()) for m in metas]
    note = sign_checkpoint(Checkpoint(ORIGIN, size, root_from_leaf_hashes(hashes)), signer)
    from tests.core.test_merkle import ref_path

    return [Receipt(m, i, size, tuple(ref_path(i, hashes)), note) for i, m in enumerate(metas)]


def test_every_receipt_verifies_and_roundtrips() -> None:
    signer = Signer.generate(ORIGIN)
    batch = ReceiptVerifier(signer.verifier())
    for r in _receipts(signer):
        verified = verify_receipt(
            r.to_bytes(), signer.verifier(), contents=f"contents {r.metadata.seqno}".encode()
        )
        assert verified.metadata == r.metadata
        assert batch.verify(r.to_bytes()).metadata == r.metadata
        assert parse_receipt(r.to_bytes()) == r


def test_batch_verifier_rechecks_any_changed_note() -> None:
    signer = Signer.generate(ORIGIN)
    receipts = _receipts(signer)
    batch = ReceiptVerifier(signer.verifier())
    batch.verify(receipts[0])
    forged_note = receipts[1].checkpoint_note.replace(f"\n{len(receipts)}\n", "\n12\n")
    forged = Receipt(receipts[1].metadata, 1, 12, receipts[1].inclusion_proof, forged_note)
    with pytest.raises(SignatureError):
        batch.verify(forged)
    other_key = ReceiptVerifier(Signer.generate(ORIGIN).verifier())
    with pytest.raises(SignatureError):
        other_key.verify(receipts[0])


def test_broken_receipts_are_rejected() -> None:
    signer = Signer.generate(ORIGIN)
    r = _receipts(signer)[5]
    good = r.to_json()
    cases: list[tuple[dict[str, object], type[Exception]]] = []
    for key in ("leafIndex", "treeSize"):
        bad = dict(good)
        bad[key] = int(good[key]) + 1  # type: ignore[call-overload]
        cases.append((bad, VerificationError))
    bad = dict(good)
    bad["inclusionProof"] = list(good["inclusionProof"])[:-1]  # type: ignore[call-overload]
    cases.append((bad, VerificationError))
    bad = dict(good)
    entry = dict(good["entry"])  # type: ignore[call-overload]
    entry["timestamp"] = entry["timestamp"] + 1
    bad["entry"] = entry
    cases.append((bad, RootMismatch))
    bad = dict(good)
    bad["format"] = "accord.receipt.v2"
    cases.append((bad, MalformedInput))
    bad = dict(good)
    del bad["checkpoint"]
    cases.append((bad, MalformedInput))
    bad = dict(good)
    bad["inclusionProof"] = ["not base64!"]
    cases.append((bad, MalformedInput))
    for receipt, error in cases:
        with pytest.raises(error):
            verify_receipt(receipt, signer.verifier())
    for raw in (b"", b"[]", b"{", b'{"format":"accord.receipt.v1"}', b"\xff"):
        with pytest.raises(MalformedInput):
            verify_receipt(raw, signer.verifier())
    with pytest.raises(VerificationError):
        verify_receipt(r, signer.verifier(), contents=b"other contents")
