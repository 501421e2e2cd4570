"""SQLite backend: the embedded default. WAL journal, ``synchronous=FULL`` so a commit is fsync'd.

One connection per thread (SQLite connections must not be shared across threads without care);
the writer holds an exclusive ``flock`` on ``<db>.writer-lock`` so two processes can never both
sequence the same ledger.

``erase_contents`` (a redaction) empties one entry's contents with ``secure_delete`` on, so the
freed bytes are overwritten with zeros, then checkpoints and truncates the write-ahead log, so
neither ``ledger.db`` nor ``ledger.db-wal`` holds them afterwards. Copies of the file made before
(backups, snapshots) and blocks the filesystem itself keeps are beyond its reach.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from accord.errors import DatabaseMissing, LedgerLocked, StorageError
from accord.log.storage import (
    RFC9162_TREE,
    LogStorage,
    StoredCheckpoint,
    StoredEntry,
    StoredTile,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    seqno INTEGER PRIMARY KEY,
    collection_id TEXT NOT NULL,
    leaf BLOB NOT NULL,
    contents BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_by_collection ON entries (collection_id, seqno);
CREATE TABLE IF NOT EXISTS tiles (
    tree INTEGER NOT NULL,
    level INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    width INTEGER NOT NULL,
    hashes BLOB NOT NULL,
    PRIMARY KEY (tree, level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    size INTEGER PRIMARY KEY,
    note TEXT NOT NULL,
    ccf_signature BLOB
);
"""


def _as_bytes(value: object) -> bytes:
    """A BLOB column's value as bytes, even if someone stored another type in it by hand.

    SQLite columns are not typed: a tampered row may hold TEXT or a number where accord wrote a
    BLOB. Converting (not failing) lets the audit report the row as tampered.
    """
    if isinstance(value, bytes):
        return value
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    return str(value).encode("utf-8", "surrogatepass")


def read_only_uri(path: str, *, immutable: bool) -> str:
    """The URI that opens ``path`` without creating or writing it.

    ``immutable`` also tells SQLite that nobody writes the file meanwhile, so it needs neither the
    ``-wal`` nor the ``-shm`` file (nothing is created, and a read-only filesystem works); only
    correct while no writer is active (see :meth:`SqliteStorage._open_read_only`).
    """
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
    return uri + "&immutable=1" if immutable else uri


def _missing_or_unusable(path: str) -> None:
    if not os.path.lexists(path):
        raise DatabaseMissing(f"the SQLite ledger {path} does not exist")
    if os.path.isdir(path):
        raise StorageError(f"{path} is a directory, not an SQLite ledger")


def connect(path: str) -> sqlite3.Connection:
    """A connection with the durability settings every accord SQLite connection uses."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    # Switching a new file to WAL takes an exclusive lock without waiting on the busy handler, so
    # processes opening the same new ledger at once can get "database is locked": retry a while.
    deadline = time.monotonic() + 30
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                conn.close()
                raise
            time.sleep(0.01)
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class SqliteStorage(LogStorage):
    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = False) -> None:
        self.path = str(path)
        self.description = self.path
        self.read_only = read_only
        self._read_only_uri: str | None = None
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._lock_file: IO[bytes] | None = None

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = self._open_read_only() if self.read_only else connect(self.path)
            except sqlite3.Error as exc:
                raise StorageError(f"cannot open SQLite database {self.path}: {exc}") from exc
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite read failed: {exc}") from exc

    def _open_read_only(self) -> sqlite3.Connection:
        """A read-only connection that creates nothing when no writer is active.

        With no writer (its lock is free, and we hold it shared so none can start) and no
        write-ahead log, the file is opened ``immutable``: no ``-wal``/``-shm`` files are made
        and a read-only filesystem works. Beside a running writer, it is an ordinary ``mode=ro``
        reader, which shares the writer's ``-shm`` index.
        """
        _missing_or_unusable(self.path)
        if self._read_only_uri is None:
            self._read_only_uri = read_only_uri(self.path, immutable=self._quiescent())
        conn = sqlite3.connect(
            self._read_only_uri, uri=True, isolation_level=None, check_same_thread=False, timeout=30
        )
        conn.execute("PRAGMA query_only=ON")
        return conn

    def _quiescent(self) -> bool:
        """Whether no writer is active now; if so, hold its lock shared so none starts."""
        wal = self.path + "-wal"
        if os.path.exists(wal) and os.path.getsize(wal) > 0:
            return False
        try:
            lock = open(self.path + ".writer-lock", "rb")
        except FileNotFoundError:
            return True  # no writer ever ran here (say, a copied backup)
        except OSError:
            return False
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            return False  # a writer holds it
        self._lock_file = lock
        # A writer may have closed between our look at the log and the lock: look again.
        if os.path.exists(wal) and os.path.getsize(wal) > 0:
            return False
        return True

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        # A WAL read transaction: every read of this thread's connection sees the same commit.
        conn = self._conn()
        try:
            conn.execute("BEGIN")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot start a read transaction on {self.path}: {exc}") from exc
        try:
            yield
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    def _refuse_if_read_only(self, what: str) -> None:
        if self.read_only:
            raise StorageError(f"cannot {what}: {self.path} is open read-only")

    def initialize(self, meta: dict[str, str]) -> None:
        self._refuse_if_read_only("initialize the ledger")
        parent = Path(self.path).parent
        if not parent.is_dir():
            raise StorageError(f"directory {parent} does not exist")
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.executemany(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", sorted(meta.items())
            )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StorageError(f"cannot initialize {self.path}: {exc}") from exc

    def read_meta(self) -> dict[str, str]:
        try:
            rows = self._conn().execute("SELECT key, value FROM meta").fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return {}
            raise StorageError(f"cannot read {self.path}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc):  # a damaged or foreign file where the ledger was
                raise DatabaseMissing(f"{self.path} is not an SQLite database") from exc
            raise StorageError(f"cannot read {self.path}: {exc}") from exc
        return {str(k): str(v) for k, v in rows}

    def acquire_writer_lock(self) -> None:
        self._refuse_if_read_only("become the writer")
        if self._lock_file is not None:
            return
        lock_file = open(self.path + ".writer-lock", "ab")
        try:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            lock_file.close()
            raise LedgerLocked(
                f"another process holds {self.path}: a writer (accord serve), or a reader such as "
                "`accord verify` that keeps writers out while it reads"
            ) from exc
        self._lock_file = lock_file

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def write_batch(
        self,
        entries: Sequence[StoredEntry],
        tiles: Sequence[StoredTile],
        checkpoint: StoredCheckpoint | None,
        meta: Mapping[str, str] | None = None,
    ) -> None:
        from accord.core.tiles import width_from_packed_size

        self._refuse_if_read_only("write")
        conn = self._conn()
        tile_rows = [
            (t.tree, t.level, t.index, width_from_packed_size(len(t.packed)), t.packed)
            for t in tiles
        ]  # computed before BEGIN: a malformed tile must not leave a transaction open
        try:
            conn.execute("BEGIN IMMEDIATE")
            if entries:
                conn.executemany(
                    "INSERT INTO entries (seqno, collection_id, leaf, contents) VALUES (?,?,?,?)",
                    [(e.seqno, e.collection_id, e.leaf, e.contents) for e in entries],
                )
            if tile_rows:
                conn.executemany(
                    "INSERT OR REPLACE INTO tiles (tree, level, idx, width, hashes) "
                    "VALUES (?,?,?,?,?)",
                    tile_rows,
                )
            if checkpoint is not None:
                conn.execute(
                    "INSERT INTO checkpoints (size, note, ccf_signature) VALUES (?, ?, ?)",
                    (checkpoint.size, checkpoint.note, checkpoint.ccf_signature),
                )
            if meta:
                conn.executemany(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", sorted(meta.items())
                )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StorageError(f"SQLite write failed: {exc}") from exc

    def erase_contents(self, seqno: int) -> None:
        self._refuse_if_read_only("erase contents")
        conn = self._conn()
        try:
            # Without it SQLite only unlinks the old cell and overflow pages: their bytes would
            # stay in the file until reused. With it, freed space is overwritten with zeros.
            conn.execute("PRAGMA secure_delete=ON")
            conn.execute("BEGIN IMMEDIATE")
            changed = conn.execute(
                "UPDATE entries SET contents = X'' WHERE seqno = ?", (seqno,)
            ).rowcount
            if changed != 1:
                conn.execute("ROLLBACK")
                raise StorageError(f"cannot erase entry {seqno}: no such entry is stored")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StorageError(f"SQLite erasure failed: {exc}") from exc
        self._truncate_wal(conn)

    def _truncate_wal(self, conn: sqlite3.Connection) -> None:
        """Copy every page into the database file and truncate the write-ahead log to nothing.

        Until then the log still holds the page as it was before an erasure. A reader's open
        snapshot keeps the log busy: the connection's busy handler waits for it, then this retries
        until the deadline and raises StorageError naming what is left.
        """
        deadline = time.monotonic() + 30
        while True:
            try:
                row = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise StorageError(f"SQLite checkpoint failed: {exc}") from exc
                row = (1, -1, -1)
            if row is not None and row[0] == 0:
                return
            if time.monotonic() > deadline:
                raise StorageError(
                    f"the contents were erased from {self.path}, but readers kept its "
                    "write-ahead log busy, so the log still holds the old page: it is truncated "
                    "by the next erasure, or removed when the last connection closes"
                )
            time.sleep(0.05)

    def entry_count(self) -> int:
        rows = self._query("SELECT max(seqno) FROM entries")
        value = rows[0][0]
        return int(value) if isinstance(value, int) else 0

    @staticmethod
    def _entries(rows: list[tuple[Any, ...]]) -> list[StoredEntry]:
        return [
            StoredEntry(int(s), str(c), _as_bytes(leaf), _as_bytes(b)) for s, c, leaf, b in rows
        ]

    def get_entries(self, first_seqno: int, last_seqno: int) -> list[StoredEntry]:
        return self._entries(
            self._query(
                "SELECT seqno, collection_id, leaf, contents FROM entries "
                "WHERE seqno BETWEEN ? AND ? ORDER BY seqno",
                (first_seqno, last_seqno),
            )
        )

    def get_collection_entries(
        self, collection_id: str, first_seqno: int, last_seqno: int, limit: int
    ) -> list[StoredEntry]:
        return self._entries(
            self._query(
                "SELECT seqno, collection_id, leaf, contents FROM entries "
                "WHERE collection_id = ? AND seqno BETWEEN ? AND ? ORDER BY seqno LIMIT ?",
                (collection_id, first_seqno, last_seqno, limit),
            )
        )

    def last_seqno_in_collection(self, collection_id: str, at_most: int) -> int | None:
        rows = self._query(
            "SELECT max(seqno) FROM entries WHERE collection_id = ? AND seqno <= ?",
            (collection_id, at_most),
        )
        value = rows[0][0]
        return int(value) if isinstance(value, int) else None

    def collections(self) -> list[str]:
        rows = self._query("SELECT DISTINCT collection_id FROM entries ORDER BY collection_id")
        return [str(r[0]) for r in rows]

    def get_tiles(
        self, keys: Sequence[tuple[int, int]], tree: int = RFC9162_TREE
    ) -> dict[tuple[int, int], bytes]:
        # Point lookups on the primary key: a proof needs a handful of tiles, and an OR-list
        # makes SQLite scan the table.
        out: dict[tuple[int, int], bytes] = {}
        conn = self._conn()
        try:
            for level, idx in sorted(set(keys)):
                row = conn.execute(
                    "SELECT hashes FROM tiles WHERE tree = ? AND level = ? AND idx = ?",
                    (tree, level, idx),
                ).fetchone()
                if row is not None:
                    out[(level, idx)] = _as_bytes(row[0])
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite read failed: {exc}") from exc
        return out

    @staticmethod
    def _checkpoint(rows: list[tuple[Any, ...]]) -> StoredCheckpoint | None:
        if not rows:
            return None
        size, note, signature = rows[0]
        return StoredCheckpoint(
            int(size), str(note), None if signature is None else _as_bytes(signature)
        )

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        return self._checkpoint(
            self._query(
                "SELECT size, note, ccf_signature FROM checkpoints ORDER BY size DESC LIMIT 1"
            )
        )

    def checkpoint_covering(self, size: int) -> StoredCheckpoint | None:
        return self._checkpoint(
            self._query(
                "SELECT size, note, ccf_signature FROM checkpoints WHERE size >= ? "
                "ORDER BY size LIMIT 1",
                (size,),
            )
        )

    def ccf_checkpoint_covering(self, size: int) -> StoredCheckpoint | None:
        return self._checkpoint(
            self._query(
                "SELECT size, note, ccf_signature FROM checkpoints "
                "WHERE size >= ? AND ccf_signature IS NOT NULL ORDER BY size LIMIT 1",
                (size,),
            )
        )

    def iter_checkpoints(self) -> Iterator[StoredCheckpoint]:
        last = -1
        while True:
            rows = self._query(
                "SELECT size, note, ccf_signature FROM checkpoints WHERE size > ? "
                "ORDER BY size LIMIT 500",
                (last,),
            )
            for size, note, signature in rows:
                yield StoredCheckpoint(
                    int(size), str(note), None if signature is None else _as_bytes(signature)
                )
            if len(rows) < 500:
                return
            last = int(rows[-1][0])
