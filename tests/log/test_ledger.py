"""The ledger on both backends: appends, group commit, proofs, receipts, restart, bad input."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from accord.core.checkpoint import open_checkpoint
from accord.core.entry import EntryMetadata, TransactionId, canonical_leaf
from accord.core.merkle import leaf_hash, root_from_leaf_hashes, verify_consistency
from accord.core.note import Signer
from accord.core.receipt import parse_receipt, verify_receipt
from accord.core.tiles import decode_entry_bundle
from accord.errors import (
    InvalidRequest,
    LedgerLocked,
    NotFound,
    RootMismatch,
    SignatureError,
    StorageError,
    VerificationError,
)
from accord.log.audit import audit_storage
from accord.log.ledger import Ledger, LedgerOptions, LedgerReader, NewEntry

ORIGIN = "example.test/ledger"


@pytest.fixture
def signer() -> Signer:
    return Signer.generate(ORIGIN)


def leaves_of(reader: LedgerReader) -> list[bytes]:
    return [e.leaf for e in reader.storage.iter_entries()]


def test_append_get_status_and_commit(location: str, signer: Signer) -> None:
    with Ledger.create_or_open(location, signer) as ledger:
        txid = ledger.append("hello", collection_id="orders", tags=["a", "b"], user_id="alice")
        assert txid == TransactionId(1, 1)
        ledger.wait_for_commit(txid.seqno, timeout=10)
        entry = ledger.get_entry("1.1")
        assert entry.contents == "hello"
        assert entry.status == "Committed"
        assert entry.metadata.collection_id == "orders"
        assert entry.metadata.tags == ("a", "b")
        assert entry.metadata.user_id == "alice"
        assert entry.metadata.contents_sha256 == hashlib.sha256(b"hello").digest()
        assert ledger.status("1.1") == "Committed"
        assert ledger.status("1.2") == "Unknown"
        with pytest.raises(NotFound):
            ledger.get_entry("1.2")
        with pytest.raises(NotFound):
            ledger.get_entry("2.1")  # wrong view


def test_leaf_is_canonical_json(location: str, signer: Signer) -> None:
    with Ledger.create_or_open(location, signer) as ledger:
        ledger.append("x\u00e9\U0001f600", tags=["t"], user_id='us"er\\')
        stored = ledger.storage.get_entries(1, 1)[0]
        md = EntryMetadata.from_leaf(stored.leaf)
        assert stored.leaf == canonical_leaf(md) == md.leaf()


def test_batches_seqnos_are_contiguous_and_tree_matches(location: str, signer: Signer) -> None:
    with Ledger.create_or_open(location, signer, LedgerOptions(max_batch=300)) as ledger:
        ids = ledger.append_batch([NewEntry(f"e{i}") for i in range(700)], wait_for_commit=True)
        assert [t.seqno for t in ids] == list(range(1, 701))
        threads = [
            threading.Thread(target=lambda k=k: [ledger.append(f"t{k}-{i}") for i in range(40)])
            for k in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ledger.wait_for_commit(1020, timeout=30)
        assert ledger.size() == 1020
        hashes = [leaf_hash(leaf) for leaf in leaves_of(ledger)]
        note, cp = ledger.latest_checkpoint()
        assert cp.size == 1020
        assert cp.root_hash == root_from_leaf_hashes(hashes)
        assert open_checkpoint(note, signer.verifier()).size == 1020


def test_the_cached_checkpoint_is_the_latest_once_one_is_stored(
    location: str, signer: Signer
) -> None:
    with Ledger.create_or_open(location, signer) as ledger:
        ledger.append("one", wait_for_commit=True)
        cached = ledger.cached_checkpoint()
        assert cached is not None and cached == ledger.latest_checkpoint()
        ledger.append("two", wait_for_commit=True)
        cached = ledger.cached_checkpoint()
        assert cached is not None and cached[1].size == 2
    with Ledger.create_or_open(location, signer) as reopened:  # nothing stored since it opened
        assert reopened.cached_checkpoint() is None
        assert reopened.latest_checkpoint()[1].size == 2


def test_proofs_and_receipts_verify_offline(location: str, signer: Signer) -> None:
    with Ledger.create_or_open(location, signer) as ledger:
        for chunk in range(3):
            ledger.append_batch(
                [NewEntry(f"c{chunk}-{i}", tags=[f"k{i % 3}"]) for i in range(211)],
                wait_for_commit=True,
            )
        hashes = [leaf_hash(leaf) for leaf in leaves_of(ledger)]
        size = len(hashes)
        for index in (0, 1, 255, 256, 300, size - 1):
            proof = ledger.inclusion_proof(index, size)
            from accord.core.merkle import verify_inclusion

            verify_inclusion(index, size, hashes[index], proof, root_from_leaf_hashes(hashes))
        for first, second in ((1, size), (211, 422), (256, 512), (100, 100), (0, 5)):
            proof = ledger.consistency_proof(first, second)
            verify_consistency(
                first,
                second,
                root_from_leaf_hashes(hashes[:first]),
                root_from_leaf_hashes(hashes[:second]),
                proof,
            )
        receipt = ledger.receipt("1.300")
        verified = verify_receipt(receipt.to_bytes(), signer.verifier(), contents=b"c1-88")
        assert verified.metadata.seqno == 300
        # A receipt does not verify under another key, with other contents, or edited.
        with pytest.raises(SignatureError):
            verify_receipt(receipt.to_bytes(), Signer.generate(ORIGIN).verifier())
        with pytest.raises(VerificationError):
            verify_receipt(receipt.to_bytes(), signer.verifier(), contents=b"other")
        edited = receipt.to_json()
        edited["entry"]["userId"] = "mallory"  # type: ignore[index]
        with pytest.raises(RootMismatch):
            verify_receipt(edited, signer.verifier())
        moved = receipt.to_json()
        moved["leafIndex"] = 298
        with pytest.raises(VerificationError):
            verify_receipt(moved, signer.verifier())
        assert parse_receipt(receipt.to_bytes()) == receipt


def test_tiles_and_entry_bundles(location: str, signer: Signer) -> None:
    with Ledger.create_or_open(location, signer) as ledger:
        ledger.append_batch([NewEntry(f"e{i}") for i in range(300)], wait_for_commit=True)
        leaves = leaves_of(ledger)
        assert decode_entry_bundle(ledger.entry_bundle(0, 256)) == leaves[:256]
        assert decode_entry_bundle(ledger.entry_bundle(1, 44)) == leaves[256:300]
        assert ledger.tile(0, 0, 256) == b"".join(leaf_hash(x) for x in leaves[:256])
        assert ledger.tile(0, 1, 10) == b"".join(leaf_hash(x) for x in leaves[256:266])
        assert len(ledger.tile(1, 0, 1)) == 32
        with pytest.raises(NotFound):
            ledger.tile(0, 1, 256)  # not full yet
        with pytest.raises(NotFound):
            ledger.tile(0, 1, 45)  # wider than the tree
        with pytest.raises(NotFound):
            ledger.entry_bundle(2, 1)


def test_bad_input_changes_nothing(location: str, signer: Signer) -> None:
    with Ledger.create_or_open(location, signer, LedgerOptions(max_contents=100)) as ledger:
        ledger.append("ok", wait_for_commit=True)
        bad = [
            lambda: ledger.append("x" * 101),
            lambda: ledger.append("\ud800"),
            lambda: ledger.append("ok", collection_id="bad id"),
            lambda: ledger.append("ok", collection_id=""),
            lambda: ledger.append("ok", tags=["ok", "ok"]),
            lambda: ledger.append("ok", tags=["sp ace"]),
            lambda: ledger.append("ok", user_id=""),
            lambda: ledger.append_batch([NewEntry("fine"), NewEntry("y" * 101)]),
            lambda: ledger.append_batch([]),
            lambda: ledger.get_entry("1.x"),
            lambda: ledger.get_entry("0.1"),
            lambda: ledger.inclusion_proof(1, 1),
            lambda: ledger.inclusion_proof(0, 2),  # beyond the tree
            lambda: ledger.consistency_proof(2, 1),
            lambda: ledger.consistency_proof(0, 5),
        ]
        for action in bad:
            with pytest.raises(InvalidRequest):
                action()
        assert ledger.size() == 1
        assert ledger.committed_size() == 1


def test_restart_resumes_and_detects_foreign_key(location: str, signer: Signer) -> None:
    with Ledger.create_or_open(location, signer) as ledger:
        ledger.append_batch([NewEntry(f"e{i}") for i in range(500)], wait_for_commit=True)
        root = ledger.root_at(500)
    with Ledger.create_or_open(location, signer) as ledger:
        assert ledger.size() == 500
        assert ledger.root_at(500) == root
        txid = ledger.append("after restart", wait_for_commit=True)
        assert txid.seqno == 501
        first_note, _ = ledger.latest_checkpoint()
    report = audit_storage(
        LedgerReader.open(location, signer.verifier()).storage, signer.verifier()
    )
    assert report.entries == 501
    assert first_note
    with pytest.raises(Exception, match="checkpoint key"):
        Ledger.create_or_open(location, Signer.generate("other.test/ledger"))


def test_single_writer_lock(location: str, signer: Signer) -> None:
    with Ledger.create_or_open(location, signer):
        with pytest.raises(LedgerLocked):
            Ledger.create_or_open(location, signer)
        reader = LedgerReader.open(location, signer.verifier())
        assert reader.size() == 0
        reader.close()


def test_checkpoint_interval_defers_then_commits(location: str, signer: Signer) -> None:
    options = LedgerOptions(checkpoint_interval=0.3)
    with Ledger.create_or_open(location, signer, options) as ledger:
        ledger.append("a", wait_for_commit=True)
        ledger.append("b")  # within the interval: durable but pending
        assert ledger.status("1.2") in ("Pending", "Committed")
        ledger.wait_for_commit(2, timeout=5)
        assert ledger.status("1.2") == "Committed"
        sizes = [c.size for c in ledger.storage.iter_checkpoints()]
        assert sizes == sorted(set(sizes))


def test_reader_refuses_an_unsigned_latest_checkpoint(tmp_path: Path) -> None:
    import sqlite3

    location = str(tmp_path / "ledger.db")
    signer = Signer.generate("example.test/ledger")
    with Ledger.create_or_open(location, signer, LedgerOptions(checkpoint_interval=0)) as ledger:
        for i in range(3):
            ledger.append(f"e {i}", wait_for_commit=True)
    conn = sqlite3.connect(location)
    (note,) = conn.execute("SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1").fetchone()
    body, signature = note.rsplit("\n\n", 1)
    forged = body + "\n\n" + signature.replace(signature[-6], "A" if signature[-6] != "A" else "B")
    conn.execute("UPDATE checkpoints SET note = ? WHERE size = 3", (forged,))
    conn.commit()
    conn.close()
    reader = LedgerReader.open(location, signer.verifier())
    try:
        for call in (reader.committed_size, lambda: reader.status("1.3"), reader.latest_checkpoint):
            with pytest.raises(StorageError, match="does not verify"):
                call()
    finally:
        reader.close()
