"""The document store over a real ledger and real blob stores (SQLite + files, PostgreSQL)."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from pathlib import Path

import psycopg
import pytest

from accord.core.note import Signer
from accord.documents.blobs import CHUNK, FileBlobStore, PostgresBlobStore, copy_into
from accord.documents.records import (
    COMPLIANCE,
    DOCUMENTS_COLLECTION,
    DefaultRetention,
    Retention,
    decode_record,
)
from accord.documents.runtime import now_ms
from accord.documents.store import DocumentStore, fold_ledger, verify_documents
from accord.errors import DocumentLocked, InvalidRequest
from accord.log.ledger import Ledger
from accord.log.storage import is_postgres_location

ORIGIN = "example.com/documents-test"


def blob_store(location: str, tmp_path: Path) -> FileBlobStore | PostgresBlobStore:
    if is_postgres_location(location):
        return PostgresBlobStore(location)
    return FileBlobStore(tmp_path / "documents")


def test_versions_survive_a_reopen_and_verify_catches_changed_bytes(
    location: str, tmp_path: Path
) -> None:
    signer = Signer.generate(ORIGIN)
    data = b"certificate of analysis, lot 17\n" * 50_000  # > 1 chunk
    ledger = Ledger.create_or_open(location, signer)
    blobs = blob_store(location, tmp_path)

    async def write() -> tuple[str, str]:
        store = DocumentStore(ledger, ledger, blobs, clock=now_ms)
        await store.create_container("coa", object_lock=True, by="alice")
        blob = copy_into(blobs, [data[i : i + 4096] for i in range(0, len(data), 4096)])
        until = Retention(COMPLIANCE, now_ms() + 86_400_000)
        v1 = await store.put_version(
            "coa",
            "lot-17.pdf",
            blob,
            content_type="application/pdf",
            metadata={"lot": "17"},
            retention=until,
            legal_hold=False,
            by="alice",
        )
        with pytest.raises(DocumentLocked):
            await store.delete("coa", "lot-17.pdf", v1.version_id, by="alice", bypass=True)
        small = copy_into(blobs, [b"v2"])
        v2 = await store.put_version(
            "coa",
            "lot-17.pdf",
            small,
            content_type="text/plain",
            metadata={},
            retention=None,
            legal_hold=True,
            by="bob",
        )
        return v1.version_id, v2.version_id

    v1, v2 = asyncio.run(write())
    ledger.close()

    ledger = Ledger.create_or_open(location, signer)
    try:
        state = fold_ledger(ledger)
        c = state.container("coa")
        assert [v.version_id for v in c.objects["lot-17.pdf"]] == [v1, v2]
        first = c.version("lot-17.pdf", v1)
        assert first.sha256 == hashlib.sha256(data).hexdigest() and first.size == len(data)
        assert first.retention is not None and first.retention.mode == COMPLIANCE
        assert c.version("lot-17.pdf", v2).legal_hold
        assert b"".join(blobs.read(first.sha256, 5, 5 + CHUNK + 10)) == data[5 : 5 + CHUNK + 10]
        report = verify_documents(ledger, blobs)
        assert report.problems == [] and report.versions == 2 and report.bytes == len(data) + 2

        # one byte of the stored bytes changes: reported by container, key and version
        if isinstance(blobs, FileBlobStore):
            path = blobs.path_of(first.sha256)
            raw = bytearray(path.read_bytes())
            raw[1000] ^= 1
            path.write_bytes(bytes(raw))
        else:
            with psycopg.connect(location, autocommit=True) as conn:
                conn.execute(
                    "UPDATE accord_document_chunks SET data = overlay(data placing '\\x00'::bytea "
                    "from 10 for 1) WHERE blob = %s AND n = 0",
                    (first.sha256,),
                )
        problems = verify_documents(ledger, blobs).problems
        assert [(p.container, p.key, p.version_id) for p in problems] == [("coa", "lot-17.pdf", v1)]
        assert "differ" in problems[0].problem

        blobs.delete(c.version("lot-17.pdf", v2).sha256)  # a stored version goes missing
        problems = verify_documents(ledger, blobs).problems
        assert ("coa", "lot-17.pdf", v2, "file is missing") in [
            (p.container, p.key, p.version_id, p.problem) for p in problems
        ]
    finally:
        ledger.close()
        blobs.close()


def test_an_edited_record_is_named(tmp_path: Path) -> None:
    location = str(tmp_path / "ledger.db")
    signer = Signer.generate(ORIGIN)
    ledger = Ledger.create_or_open(location, signer)
    blobs = FileBlobStore(tmp_path / "documents")

    async def write() -> str:
        store = DocumentStore(ledger, ledger, blobs, clock=now_ms)
        await store.create_container("bills", object_lock=False, by="alice")
        blob = copy_into(blobs, [b"bill of lading 42"])
        v = await store.put_version(
            "bills",
            "bl-42",
            blob,
            content_type="text/plain",
            metadata={},
            retention=None,
            legal_hold=False,
            by="alice",
        )
        return v.version_id

    vid = asyncio.run(write())
    ledger.close()
    seqno = int(vid.split(".")[1])
    with sqlite3.connect(location) as db:
        contents = db.execute("SELECT contents FROM entries WHERE seqno = ?", (seqno,)).fetchone()[
            0
        ]
        edited = bytes(contents).replace(b'"size":17', b'"size":18')
        assert edited != bytes(contents)
        db.execute("UPDATE entries SET contents = ? WHERE seqno = ?", (edited, seqno))
    ledger = Ledger.create_or_open(location, signer)
    try:
        problems = verify_documents(ledger, blobs).problems
        assert [(p.container, p.key, p.version_id) for p in problems] == [("bills", "bl-42", vid)]
        assert "edited" in problems[0].problem
    finally:
        ledger.close()


def test_records_from_anyone_but_the_store_are_refused(tmp_path: Path) -> None:
    """A record in accord.documents not written by the store itself (the entry API refuses
    accord.* collections; this one is forced in below the API) changes nothing."""
    signer = Signer.generate(ORIGIN)
    with Ledger.create_or_open(str(tmp_path / "l.db"), signer) as ledger:
        forged = (
            '{"by":"mallory","container":"coa","defaultRetention":null,'
            '"format":"accord.document.v1","objectLock":true,"op":"container.create",'
            '"time":1}'
        )
        ledger.append(forged, collection_id=DOCUMENTS_COLLECTION, user_id="mallory")
        state = fold_ledger(ledger)
        assert state.containers == {}
        assert "not by the document store" in state.refused[0].reason


def test_an_upload_racing_a_deletion_of_the_same_bytes_is_refused(tmp_path: Path) -> None:
    signer = Signer.generate(ORIGIN)
    with Ledger.create_or_open(str(tmp_path / "l.db"), signer) as ledger:
        blobs = FileBlobStore(tmp_path / "documents")

        async def run() -> None:
            store = DocumentStore(ledger, ledger, blobs, clock=now_ms)
            await store.create_container("box", object_lock=False, by="a")
            blob = copy_into(blobs, [b"same"])
            v = await store.put_version(
                "box",
                "k",
                blob,
                content_type="",
                metadata={},
                retention=None,
                legal_hold=False,
                by="a",
            )
            again = copy_into(blobs, [b"same"])  # deduplicated: the same file
            await store.delete("box", "k", v.version_id, by="a", bypass=False)
            assert not blobs.exists(blob.sha256)  # no other version held these bytes
            with pytest.raises(InvalidRequest, match="raced"):
                await store.put_version(
                    "box",
                    "k2",
                    again,
                    content_type="",
                    metadata={},
                    retention=None,
                    legal_hold=False,
                    by="a",
                )
            assert "k2" not in store.state.container("box").objects

        asyncio.run(run())


def test_file_blobs_are_atomic_and_deduplicated(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "d")
    w = store.writer()
    w.write(b"partial")
    w.abort()
    assert list(store.digests()) == [] and list(store.tmp.iterdir()) == []
    a = copy_into(store, [b"x" * 10])
    b = copy_into(store, [b"x" * 5, b"x" * 5])
    assert a == b and list(store.digests()) == [a.sha256]
    left = store.tmp / "crashed.part"
    left.write_bytes(b"half")
    FileBlobStore(tmp_path / "d")  # reopening removes a crash's temporaries
    assert not left.exists()
    assert oct(store.blobs.stat().st_mode & 0o777) == "0o700"


def test_postgres_blobs_are_invisible_until_committed(pg_dsn: str) -> None:
    store = PostgresBlobStore(pg_dsn)
    w = store.writer()
    w.write(b"y" * (CHUNK + 3))
    assert list(store.digests()) == []
    blob = w.commit()
    assert list(store.digests()) == [blob.sha256] and store.size(blob.sha256) == CHUNK + 3
    assert b"".join(store.read(blob.sha256, CHUNK - 1, CHUNK + 2)) == b"yyy"
    aborted = store.writer()
    aborted.write(b"z")
    aborted.abort()
    assert list(store.digests()) == [blob.sha256]


def test_a_default_retention_is_dated_by_its_records_own_time(tmp_path: Path) -> None:
    """The default's retain-until and the fold's check use one time, however the clock moves
    between reads (a clock that ticks on every read made this fail)."""
    import itertools

    ticks = itertools.count(1_800_000_000_000, 7)
    with Ledger.create_or_open(str(tmp_path / "l.db"), Signer.generate(ORIGIN)) as ledger:
        blobs = FileBlobStore(tmp_path / "documents")

        async def run() -> None:
            store = DocumentStore(ledger, ledger, blobs, clock=lambda: next(ticks))
            await store.create_container(
                "coa", object_lock=True, by="a", default=DefaultRetention(COMPLIANCE, 2)
            )
            v = await store.put_version(
                "coa",
                "k",
                copy_into(blobs, [b"x"]),
                content_type="",
                metadata={},
                retention=None,
                legal_hold=False,
                by="a",
            )
            assert v.retention is not None and v.retention.mode == COMPLIANCE
            record = decode_record(ledger.get_entry(v.version_id).contents)
            assert v.retention.retain_until == record["time"] + 2 * 86_400_000

        asyncio.run(run())
