"""A node's store of sealed private contents: ``DIR/private/sealed.db`` (SQLite).

Only nodes of a collection's reader organizations keep rows here; every other node keeps only
the public record, in the ledger. A row is written (and fsynced) *before* the ledger batch that
holds its entry, so an acknowledged private write is never missing its contents; rows past the
ledger's size after a crash are dropped on start (:meth:`SealedStore.drop_after`) and written
again when the stream is applied again. Purging deletes a row with SQLite's ``secure_delete`` (the
freed pages are zeroed) and keeps a marker saying which purge record, or which retention, erased
it, so an audit can tell *purged* from *missing*.

Storage only: which rows to keep or purge is decided by the node from the ledger.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

from accord.errors import StorageError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sealed (
    seqno INTEGER PRIMARY KEY,
    collection TEXT NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    sealed BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS purged (
    seqno INTEGER PRIMARY KEY,
    collection TEXT NOT NULL,
    by TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sealed_by_collection ON sealed (collection, timestamp_ms);
"""

EXPIRED = "retention"
"""The ``by`` of a row erased because its collection's retention ran out."""


class SealedStore:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = directory / "sealed.db"
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=DELETE")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the sealed-contents store {self.path}: {exc}") from exc
        self.path.chmod(0o600)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, statements: Iterable[tuple[str, tuple[object, ...]]]) -> None:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                for sql, params in statements:
                    self._db.execute(sql, params)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StorageError(f"the sealed-contents store failed: {exc}") from exc

    def put_many(self, rows: Iterable[tuple[int, str, int, bytes]]) -> None:
        """Keep ``(seqno, collection, timestamp, sealed)`` rows, durably, in one transaction."""
        self._write(("INSERT OR REPLACE INTO sealed VALUES (?, ?, ?, ?)", row) for row in rows)

    def put_unless_purged(
        self, seqno: int, collection: str, timestamp_ms: int, sealed: bytes
    ) -> bool:
        """Keep one row fetched from a peer, unless a purge of it is recorded (in the same
        transaction, so a purge that lands meanwhile wins); whether it was kept."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                cursor = self._db.execute(
                    "INSERT OR REPLACE INTO sealed SELECT ?, ?, ?, ? "
                    "WHERE NOT EXISTS (SELECT 1 FROM purged WHERE seqno = ?)",
                    (seqno, collection, timestamp_ms, sealed, seqno),
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StorageError(f"the sealed-contents store failed: {exc}") from exc
        return cursor.rowcount > 0

    def get(self, seqno: int) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT sealed FROM sealed WHERE seqno = ?", (seqno,)).fetchone()
        if row is None:
            return None
        if not isinstance(row[0], bytes):
            raise StorageError(f"the sealed contents of entry {seqno} are not bytes: edited?")
        return row[0]

    def purged_by(self, seqno: int) -> str | None:
        """The purge record (transaction id) or :data:`EXPIRED` that erased ``seqno``, if any."""
        with self._lock:
            row = self._db.execute("SELECT by FROM purged WHERE seqno = ?", (seqno,)).fetchone()
        return None if row is None else str(row[0])

    def purge(self, seqno: int, collection: str, by: str) -> None:
        """Erase the sealed contents of ``seqno`` (if held) and remember who erased them."""
        self._write(
            [
                ("DELETE FROM sealed WHERE seqno = ?", (seqno,)),
                ("INSERT OR IGNORE INTO purged VALUES (?, ?, ?)", (seqno, collection, by)),
            ]
        )

    def expired(self, collection: str, before_ms: int) -> list[int]:
        """Entries of ``collection`` written at or before ``before_ms`` that are still held."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seqno FROM sealed WHERE collection = ? AND timestamp_ms <= ?",
                (collection, before_ms),
            ).fetchall()
        return [int(r[0]) for r in rows]

    def drop_after(self, size: int) -> int:
        """Forget rows of entries past ``size`` (written before a batch that never committed)."""
        with self._lock:
            count = self._db.execute("SELECT count(*) FROM sealed WHERE seqno > ?", (size,))
            n = int(count.fetchone()[0])
        if n:
            self._write([("DELETE FROM sealed WHERE seqno > ?", (size,))])
        return n

    def held(self) -> list[tuple[int, str, bytes]]:
        """Every held row as ``(seqno, collection, sealed)``, in order (for the audit)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seqno, collection, sealed FROM sealed ORDER BY seqno"
            ).fetchall()
        for s, _, b in rows:
            if not isinstance(b, bytes):
                raise StorageError(f"the sealed contents of entry {s} are not bytes: edited?")
        return [(int(s), str(c), b) for s, c, b in rows]

    def purges(self) -> dict[int, str]:
        with self._lock:
            rows = self._db.execute("SELECT seqno, by FROM purged").fetchall()
        return {int(s): str(b) for s, b in rows}
