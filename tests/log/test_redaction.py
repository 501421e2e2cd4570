"""Redaction on both backends: the record first, then the erasure; reads, receipts, the audit,
refusals that write nothing, a SIGKILL between the record and the erasure, and (SQLite) no trace
of the contents left in the database file or its write-ahead log."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import psycopg
import pytest

from accord.core.ccf import entry_claim_key, ledger_entry_claims_digest, verify_ccf_receipt
from accord.core.entry import TransactionId
from accord.core.note import Signer
from accord.core.receipt import verify_receipt
from accord.core.redaction import (
    REDACTIONS_COLLECTION,
    REDACTIONS_USER,
    RedactionRecord,
)
from accord.errors import (
    AuthError,
    Conflict,
    EntryRedacted,
    InvalidRequest,
    NotFound,
    TamperingDetected,
)
from accord.identity import KeyAndCert, make_node_identity, make_service_identity
from accord.log.audit import AuditReport, RedactedEntry, audit_storage
from accord.log.ledger import Ledger, LedgerOptions, LedgerReader, NewEntry, _Request
from accord.log.storage import StoredEntry, open_storage

NAME = "redact.test/ledger"
PERSONAL = "Jane Doe, 12 Acacia Avenue, born 1970-01-01"
WRITER = Path(__file__).with_name("redaction_writer.py")


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.generate(NAME)


@pytest.fixture(scope="module")
def identities() -> tuple[KeyAndCert, KeyAndCert]:
    service = make_service_identity(NAME)
    return service, make_node_identity(service, ["127.0.0.1"])


@pytest.fixture
def ledger(
    location: str, signer: Signer, identities: tuple[KeyAndCert, KeyAndCert]
) -> Iterator[Ledger]:
    with Ledger.create_or_open(location, signer, node=identities[1]) as opened:
        opened.append(PERSONAL, collection_id="customers", tags=["eu"], user_id="alice")
        opened.append("an order of 3 pallets", collection_id="orders", user_id="alice")
        opened.append_batch([NewEntry(f"filler {i}") for i in range(20)], wait_for_commit=True)
        yield opened


def rows(ledger: LedgerReader) -> list[StoredEntry]:
    return ledger.storage.get_entries(1, ledger.storage.entry_count())


def audit(location: str, signer: Signer, node: KeyAndCert | None = None) -> AuditReport:
    storage = open_storage(location, read_only=True)
    try:
        return audit_storage(storage, signer.verifier(), node_cert=node.cert if node else None)
    finally:
        storage.close()


def execute(location: str, sql: str, params: tuple[object, ...] = ()) -> None:
    """A direct edit of the stored ledger, as a tamperer would make it."""
    if location.startswith("postgresql://"):
        with psycopg.connect(location, autocommit=True) as pg:
            pg.execute(sql.replace("?", "%s"), params)
        return
    conn = sqlite3.connect(location)
    try:
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def write_record(ledger: Ledger, record: RedactionRecord) -> TransactionId:
    """Write a redaction record through the sequencer *without* erasing anything: what a crash
    right after the record leaves behind, or (with wrong fields) a record the key holder forged."""
    future: Future[list[TransactionId]] = Future()
    ledger._queue.put(
        _Request([(REDACTIONS_COLLECTION, (), record.encode())], REDACTIONS_USER, future)
    )
    return future.result()[0]


def honest_record(ledger: Ledger, seqno: int, **changes: object) -> RedactionRecord:
    row = ledger.storage.get_entries(seqno, seqno)[0]
    txid = TransactionId(1, seqno)
    assert ledger.commit_secret is not None
    fields: dict[str, object] = {
        "transaction_id": txid,
        "contents_sha256": hashlib.sha256(row.contents).digest(),
        "ccf_claims_digest": ledger_entry_claims_digest(
            row.collection_id, row.contents, entry_claim_key(txid, ledger.commit_secret)
        ),
        "reason": "crash test",
        "by": "tester",
    }
    fields.update(changes)
    return RedactionRecord(**fields)  # type: ignore[arg-type]


# --- the operation ------------------------------------------------------------------------------
def test_redaction_writes_the_record_then_erases_the_contents(
    ledger: Ledger, location: str, signer: Signer, identities: tuple[KeyAndCert, KeyAndCert]
) -> None:
    service, node = identities
    before = rows(ledger)
    ccf_before = ledger.ccf_receipt("1.1", node.cert)
    assert ccf_before is not None

    redaction = ledger.redact("1.1", reason="GDPR art. 17 request 2026-114", by="admin-7")

    record_id = redaction.record_id
    assert record_id == TransactionId(1, len(before) + 1)
    after = rows(ledger)
    assert after[0].contents == b"" and after[0].leaf == before[0].leaf
    assert after[1:-1] == before[1:]  # nothing else changed
    stored_record = after[-1]
    assert stored_record.collection_id == REDACTIONS_COLLECTION
    record = json.loads(stored_record.contents)
    assert record == {
        "by": "admin-7",
        "ccfClaimsDigest": ccf_before["receipt"]["leafComponents"]["claimsDigest"],  # type: ignore[index]
        "contentsSha256": hashlib.sha256(PERSONAL.encode()).hexdigest(),
        "format": "accord.redaction.v1",
        "reason": "GDPR art. 17 request 2026-114",
        "transactionId": "1.1",
    }
    assert ledger.entry_metadata(record_id).user_id == REDACTIONS_USER

    # Reads: the entry is gone, named by its record; listings show it without contents.
    with pytest.raises(
        EntryRedacted, match=re.escape(f"redacted by transaction {record_id}")
    ) as raised:
        ledger.get_entry("1.1")
    assert raised.value.redaction_id == str(record_id)
    listed = ledger.get_entries(1, 3)
    assert (listed[0].contents, listed[0].redaction) == ("", record_id)
    assert listed[0].metadata.collection_id == "customers"
    assert (listed[1].contents, listed[1].redaction) == ("an order of 3 pallets", None)
    assert ledger.get_entry("1.2").contents == "an order of 3 pallets"

    # Receipts: the leaf is unchanged, so the receipt verifies, and still binds the contents.
    ledger.wait_for_commit(record_id.seqno)
    receipt = ledger.receipt("1.1")
    verify_receipt(receipt.to_bytes(), signer.verifier())
    verify_receipt(receipt.to_bytes(), signer.verifier(), contents=PERSONAL.encode())
    ccf = ledger.ccf_receipt("1.1", node.cert)
    assert ccf is not None and "applicationClaims" not in ccf
    assert ccf["receipt"]["leafComponents"] == ccf_before["receipt"]["leafComponents"]  # type: ignore[index]
    verify_ccf_receipt(
        ccf["receipt"],  # type: ignore[arg-type]
        service.cert,
        entry_leaf=before[0].leaf,
        commit_secret=ledger.commit_secret,
    )

    # A separate reader sees it too, and the audit reports it as redacted, not tampered.
    reader = LedgerReader.open(location, signer.verifier())
    try:
        with pytest.raises(EntryRedacted):
            reader.get_entry("1.1")
        assert reader.get_entries(1, 1)[0].redaction == record_id
    finally:
        reader.close()
    report = audit(location, signer, node)
    assert report.redacted == (RedactedEntry(TransactionId(1, 1), record_id, True),)


def test_a_reopened_ledger_remembers_its_redactions(
    ledger: Ledger, location: str, signer: Signer
) -> None:
    first = ledger.redact("1.1", reason="request 1", by="admin")
    ledger.close()
    with Ledger.create_or_open(location, signer) as reopened:
        with pytest.raises(EntryRedacted):
            reopened.get_entry(1)
        with pytest.raises(
            Conflict, match=re.escape(f"already redacted (by redaction record {first.record_id})")
        ):
            reopened.redact("1.1", reason="again", by="admin")
        second = reopened.redact(2, reason="request 2", by="admin")
        assert second.record_id.seqno == first.record_id.seqno + 1
    assert [r.transaction_id.seqno for r in audit(location, signer).redacted] == [1, 2]


@pytest.mark.parametrize(
    ("txid", "reason", "by", "error", "match"),
    [
        ("1.1", "", "admin", InvalidRequest, "reason"),
        ("1.1", "x" * 513, "admin", InvalidRequest, "reason"),
        ("1.1", "new\nline", "admin", InvalidRequest, "control"),
        ("1.1", "ok", "bad\x00id", InvalidRequest, "user id"),
        ("1.999", "ok", "admin", NotFound, "does not exist"),
        ("2.1", "ok", "admin", NotFound, "view"),
        ("1.0x", "ok", "admin", InvalidRequest, "malformed"),
        ("1.23", "ok", "admin", AuthError, "accord.documents"),
    ],
)
def test_refusals_write_nothing(
    ledger: Ledger, txid: str, reason: str, by: str, error: type[Exception], match: str
) -> None:
    ledger.append("a document record", collection_id="accord.documents", user_id="accord:documents")
    before = rows(ledger)
    with pytest.raises(error, match=match):
        ledger.redact(txid, reason=reason, by=by)
    assert rows(ledger) == before and ledger.size() == len(before)
    assert len(ledger.redactions()) == 0


def test_redacting_twice_or_a_record_is_refused_and_writes_nothing(ledger: Ledger) -> None:
    redaction = ledger.redact("1.2", reason="request", by="admin")
    before = rows(ledger)
    with pytest.raises(Conflict, match="already redacted"):
        ledger.redact("1.2", reason="request", by="admin")
    with pytest.raises(AuthError, match=r"accord\.redactions"):
        ledger.redact(redaction.record_id, reason="request", by="admin")
    assert rows(ledger) == before


def test_the_redactions_collection_is_written_only_by_redact(ledger: Ledger) -> None:
    before = rows(ledger)
    with pytest.raises(InvalidRequest, match=r"only Ledger\.redact writes"):
        ledger.append('{"format":"accord.redaction.v1"}', collection_id=REDACTIONS_COLLECTION)
    assert rows(ledger) == before


def test_a_consortium_nodes_ledger_refuses(location: str, signer: Signer) -> None:
    options = LedgerOptions(external_finality=True)
    with Ledger.create_or_open(location, signer, options) as node_ledger:
        with pytest.raises(InvalidRequest, match="private-collection purge"):
            node_ledger.redact("1.1", reason="request", by="admin")
        assert node_ledger.size() == 0


# --- the audit ----------------------------------------------------------------------------------
def test_contents_missing_without_a_record_are_tampering(
    ledger: Ledger, location: str, signer: Signer
) -> None:
    ledger.redact("1.1", reason="request", by="admin")
    ledger.storage.erase_contents(2)  # erased behind the ledger's back: no record names it
    with pytest.raises(TamperingDetected, match="missing and no redaction record") as raised:
        audit(location, signer)
    assert raised.value.seqno == 2


def test_changed_contents_of_a_redacted_entry_are_tampering(
    ledger: Ledger, location: str, signer: Signer
) -> None:
    ledger.redact("1.1", reason="request", by="admin")
    ledger.close()
    execute(location, "UPDATE entries SET contents = ? WHERE seqno = 1", (b"forged",))
    with pytest.raises(TamperingDetected, match="changed, not erased") as raised:
        audit(location, signer)
    assert raised.value.seqno == 1


def test_changed_contents_of_other_entries_are_still_tampering(
    ledger: Ledger, location: str, signer: Signer
) -> None:
    ledger.redact("1.1", reason="request", by="admin")
    ledger.close()
    execute(location, "UPDATE entries SET contents = ? WHERE seqno = 2", (b"3000 pallets",))
    with pytest.raises(TamperingDetected, match="do not match") as raised:
        audit(location, signer)
    assert raised.value.seqno == 2


def test_an_edited_record_no_longer_covers_its_entry(
    ledger: Ledger, location: str, signer: Signer
) -> None:
    redaction = ledger.redact("1.1", reason="request", by="admin")
    ledger.close()
    edited = RedactionRecord(
        redaction.record.transaction_id,
        redaction.record.contents_sha256,
        redaction.record.ccf_claims_digest,
        "a different reason",
        "admin",
    )
    execute(
        location,
        "UPDATE entries SET contents = ? WHERE seqno = ?",
        (edited.encode(), redaction.record_id.seqno),
    )
    with pytest.raises(TamperingDetected, match="missing and no redaction record") as raised:
        audit(location, signer)
    assert raised.value.seqno == 1


def test_a_record_naming_other_contents_is_tampering(
    ledger: Ledger, location: str, signer: Signer
) -> None:
    # Even a record the ledger's key holder wrote into the tree must name the entry's own digest.
    write_record(ledger, honest_record(ledger, 2, contents_sha256=b"\x01" * 32))
    ledger.storage.erase_contents(2)
    ledger.close()
    with pytest.raises(TamperingDetected, match="contentsSha256") as raised:
        audit(location, signer)
    assert raised.value.seqno == 2


def test_a_record_with_another_claims_digest_breaks_the_ccf_tree(
    ledger: Ledger, location: str, signer: Signer, identities: tuple[KeyAndCert, KeyAndCert]
) -> None:
    write_record(ledger, honest_record(ledger, 2, ccf_claims_digest=b"\x02" * 32))
    ledger.storage.erase_contents(2)
    ledger.close()
    with pytest.raises(TamperingDetected, match="CCF"):
        audit(location, signer, identities[1])


def test_a_record_without_its_erasure_is_pending_until_the_next_writer(
    ledger: Ledger, location: str, signer: Signer
) -> None:
    record_id = write_record(ledger, honest_record(ledger, 1))
    ledger.close()
    report = audit(location, signer)
    assert report.redacted == (RedactedEntry(TransactionId(1, 1), record_id, False),)
    reader = LedgerReader.open(location, signer.verifier())
    try:  # the contents are still stored, but no reader serves them
        assert reader.storage.get_entries(1, 1)[0].contents == PERSONAL.encode()
        with pytest.raises(EntryRedacted):
            reader.get_entry("1.1")
    finally:
        reader.close()
    Ledger.create_or_open(location, signer).close()  # opening for writing finishes the erasure
    assert audit(location, signer).redacted == (
        RedactedEntry(TransactionId(1, 1), record_id, True),
    )


def test_sigkill_between_the_record_and_the_erasure(
    ledger: Ledger, location: str, signer: Signer, tmp_path: Path
) -> None:
    ledger.close()
    skey = tmp_path / "checkpoint.key"
    skey.write_text(signer.to_skey())
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[2] / "src"), *sys.path])
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), location, str(skey), "1.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == b"READY"
        line = proc.stdout.readline().decode()
        assert line.startswith("RECORDED "), line + (
            proc.stderr.read().decode() if proc.stderr else ""
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    record_id = TransactionId.parse(line.split()[1])

    # Killed between the two: the audit calls it consistent (a pending erasure)...
    assert audit(location, signer).redacted == (
        RedactedEntry(TransactionId(1, 1), record_id, False),
    )
    # ...and the restart finishes the erasure before it serves anything.
    with Ledger.create_or_open(location, signer) as restarted:
        assert restarted.storage.get_entries(1, 1)[0].contents == b""
        with pytest.raises(EntryRedacted):
            restarted.get_entry("1.1")
    assert audit(location, signer).redacted == (
        RedactedEntry(TransactionId(1, 1), record_id, True),
    )


# --- SQLite: no trace left in the files ---------------------------------------------------------
def _files_holding(directory: Path, marker: bytes) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.is_file() and marker in p.read_bytes())


@pytest.mark.parametrize("checkpointed", [False, True], ids=["in-wal", "in-database-file"])
def test_sqlite_database_and_wal_hold_no_trace_of_the_contents(
    tmp_path: Path, signer: Signer, checkpointed: bool
) -> None:
    """The markers are found in the files before the redaction and nowhere after it, whether
    the entries were still only in the write-ahead log or already copied into ledger.db."""
    location = str(tmp_path / "ledger.db")
    small, large = b"SMALL-MARKER-7f3a9c", b"LARGE-MARKER-b41e02"
    ledger = Ledger.create_or_open(location, signer)
    for i in range(300):  # neighbours of every size, so the markers share pages and overflow
        text = f"neighbour {i} " + "n" * (i * 37 % 5000)
        if i == 100:
            text = small.decode() + " patient record"
        if i == 200:
            text = (large.decode() + " scan ") * 2000  # ~50 KB: overflow pages
        ledger.append(text)
    ledger.wait_for_commit(300)
    if checkpointed:  # closing copies every page into ledger.db and removes the log
        ledger.close()
        assert not (tmp_path / "ledger.db-wal").exists()
        assert _files_holding(tmp_path, small) == _files_holding(tmp_path, large) == ["ledger.db"]
        ledger = Ledger.create_or_open(location, signer)
    assert _files_holding(tmp_path, small) and _files_holding(tmp_path, large)
    try:
        ledger.redact(101, reason="request 1", by="admin")
        ledger.redact(201, reason="request 2", by="admin")
        # With the ledger still open (and its write-ahead log in use):
        assert _files_holding(tmp_path, small) == []
        assert _files_holding(tmp_path, large) == []
        assert _files_holding(tmp_path, b"neighbour 150 ")  # the others are all still there
        ledger.append("after the redaction", wait_for_commit=True)
    finally:
        ledger.close()
    assert _files_holding(tmp_path, small) == [] and _files_holding(tmp_path, large) == []
    assert [r.transaction_id.seqno for r in audit(location, signer).redacted] == [101, 201]
