"""PostgreSQL backend: the same tables and semantics as the SQLite backend, for production.

Every ``write_batch`` is one transaction committed with the server's default
``synchronous_commit=on``, so it is durable when it returns. Large batches of entries go in with
``COPY``; tiles are upserted. One connection per thread, opened lazily in autocommit mode so each
read sees the latest commit; writes use an explicit transaction.

The writer holds a session-level advisory lock on a dedicated connection. Advisory locks are
scoped to one database, so a database is one ledger. If that connection is lost the server drops
the lock; this module does not detect that between writes (run one writer per ledger anyway).

``erase_contents`` (a redaction) updates the row in one transaction. PostgreSQL keeps the row's
old version in the table's files until VACUUM reclaims it and the space is reused, and in its
write-ahead log (and any WAL archive, replica or backup) until those are recycled: that is
PostgreSQL's to purge (``VACUUM FULL entries``, then a ``CHECKPOINT``), not this module's.

Every failure is raised as :class:`~accord.errors.StorageError`; messages name the server and
database but never the password of the DSN.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from accord.errors import DatabaseMissing, LedgerLocked, StorageError
from accord.log.storage import (
    RFC9162_TREE,
    LogStorage,
    StoredCheckpoint,
    StoredEntry,
    StoredTile,
)

# Column names and meanings match the SQLite schema (the tamper tests and docs/formats.md use them).
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS entries (
        seqno BIGINT PRIMARY KEY,
        collection_id TEXT NOT NULL,
        leaf BYTEA NOT NULL,
        contents BYTEA NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS entries_by_collection ON entries (collection_id, seqno)",
    """CREATE TABLE IF NOT EXISTS tiles (
        tree INTEGER NOT NULL,
        level INTEGER NOT NULL,
        idx BIGINT NOT NULL,
        width INTEGER NOT NULL,
        hashes BYTEA NOT NULL,
        PRIMARY KEY (tree, level, idx)
    )""",
    """CREATE TABLE IF NOT EXISTS checkpoints (
        size BIGINT PRIMARY KEY,
        note TEXT NOT NULL,
        ccf_signature BYTEA
    )""",
)


def _advisory_key(name: bytes) -> int:
    """A constant signed 64-bit advisory-lock key derived from ``name``."""
    return int.from_bytes(hashlib.sha256(name).digest()[:8], "big", signed=True)


#: Held for the whole session by the ledger's only writer.
WRITER_LOCK_KEY = _advisory_key(b"accord-ledger")
#: Held for one transaction while creating the schema: concurrent ``CREATE ... IF NOT EXISTS``
#: can still collide in the catalogs. A different key, so a writer can (re)initialize.
SCHEMA_LOCK_KEY = _advisory_key(b"accord-ledger-schema")

#: Batches with more entries than this are sent with COPY; fewer with one pipelined executemany.
COPY_THRESHOLD = 8
CHECKPOINT_CHUNK = 500


class PostgresStorage(LogStorage):
    def __init__(self, dsn: str, *, read_only: bool = False) -> None:
        self._dsn = dsn
        self.read_only = read_only
        self.description = _describe(dsn)
        self._local = threading.local()
        self._all: list[psycopg.Connection[Any]] = []
        self._all_lock = threading.Lock()
        self._lock_conn: psycopg.Connection[Any] | None = None

    def __repr__(self) -> str:
        return f"PostgresStorage({self.description})"

    # --- connections ----------------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection[Any]:
        try:
            params = conninfo_to_dict(self._dsn)
        except psycopg.Error:
            # The message of a parse error may quote the DSN, password included.
            raise StorageError("the PostgreSQL DSN does not parse") from None
        params.setdefault("connect_timeout", 30)
        params.setdefault("application_name", "accord")
        if self.read_only:
            options = str(params.get("options") or "")
            params["options"] = (options + " -c default_transaction_read_only=on").strip()
        try:
            return psycopg.connect(make_conninfo("", **params), autocommit=True)
        except psycopg.Error as exc:
            # Not chained: the cause would carry the connection parameters into tracebacks.
            reason = _redact(str(exc), self._dsn)
            error = DatabaseMissing if _is_missing_database(exc) else StorageError
            raise error(f"cannot connect to PostgreSQL {self.description}: {reason}") from None

    def _conn(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            # A connection broken by a server restart is replaced on the next call.
            conn = self._connect()
            self._local.conn = conn
            with self._all_lock:
                self._all = [c for c in self._all if not c.closed]
                self._all.append(conn)
        return conn

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._conn().cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        except psycopg.Error as exc:
            raise StorageError(
                f"PostgreSQL read failed on {self.description}: {_redact(str(exc), self._dsn)}"
            ) from exc

    # --- set-up ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        # One REPEATABLE READ transaction on this thread's connection: one snapshot for all reads.
        conn = self._conn()
        try:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        except psycopg.Error as exc:
            raise StorageError(
                f"cannot start a read transaction on {self.description}: "
                f"{_redact(str(exc), self._dsn)}"
            ) from None
        try:
            yield
        finally:
            if not conn.closed:
                try:
                    conn.execute("ROLLBACK")
                except psycopg.Error:
                    conn.close()  # replaced on the next call

    def _refuse_if_read_only(self, what: str) -> None:
        if self.read_only:
            raise StorageError(f"cannot {what}: {self.description} is open read-only")

    def initialize(self, meta: dict[str, str]) -> None:
        self._refuse_if_read_only("initialize the ledger")
        conn = self._conn()
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
                for statement in SCHEMA:
                    cur.execute(statement)
                if meta:
                    cur.executemany(
                        "INSERT INTO meta (key, value) VALUES (%s, %s) "
                        "ON CONFLICT (key) DO NOTHING",
                        sorted(meta.items()),
                    )
        except psycopg.Error as exc:
            raise StorageError(
                f"cannot initialize {self.description}: {_redact(str(exc), self._dsn)}"
            ) from exc

    def read_meta(self) -> dict[str, str]:
        try:
            with self._conn().cursor() as cur:
                cur.execute("SELECT key, value FROM meta")
                rows = cur.fetchall()
        except pg_errors.UndefinedTable:
            return {}
        except psycopg.Error as exc:
            raise StorageError(
                f"PostgreSQL read failed on {self.description}: {_redact(str(exc), self._dsn)}"
            ) from exc
        return {str(k): str(v) for k, v in rows}

    def acquire_writer_lock(self) -> None:
        self._refuse_if_read_only("become the writer")
        if self._lock_conn is not None and not self._lock_conn.closed:
            return
        conn = self._connect()
        try:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (WRITER_LOCK_KEY,)).fetchone()
        except psycopg.Error as exc:
            conn.close()
            raise StorageError(
                f"cannot take the writer lock on {self.description}: {_redact(str(exc), self._dsn)}"
            ) from exc
        if row is None or row[0] is not True:
            conn.close()
            raise LedgerLocked(f"another process is writing to {self.description}")
        self._lock_conn = conn

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
        if self._lock_conn is not None:
            # Released explicitly, so the next writer can take it as soon as close() returns:
            # the server ends a closed session's backend (and frees its locks) a moment later.
            if not self._lock_conn.closed:
                try:
                    self._lock_conn.execute("SELECT pg_advisory_unlock(%s)", (WRITER_LOCK_KEY,))
                except psycopg.Error:
                    pass  # the session is gone, and its lock with it
            self._lock_conn.close()
            self._lock_conn = None

    # --- writes ---------------------------------------------------------------------------------
    def write_batch(
        self,
        entries: Sequence[StoredEntry],
        tiles: Sequence[StoredTile],
        checkpoint: StoredCheckpoint | None,
        meta: Mapping[str, str] | None = None,
    ) -> None:
        from accord.core.tiles import width_from_packed_size

        self._refuse_if_read_only("write")
        # Computed before the transaction: a malformed tile raises before anything is sent.
        tile_rows = [
            (t.tree, t.level, t.index, width_from_packed_size(len(t.packed)), t.packed)
            for t in tiles
        ]
        conn = self._conn()
        try:
            with conn.transaction(), conn.cursor() as cur:
                if len(entries) > COPY_THRESHOLD:
                    with cur.copy(
                        "COPY entries (seqno, collection_id, leaf, contents) FROM STDIN (FORMAT BINARY)"
                    ) as copy:
                        copy.set_types(["int8", "text", "bytea", "bytea"])
                        for e in entries:
                            copy.write_row((e.seqno, e.collection_id, e.leaf, e.contents))
                elif entries:
                    cur.executemany(
                        "INSERT INTO entries (seqno, collection_id, leaf, contents) VALUES (%s, %s, %s, %s)",
                        [(e.seqno, e.collection_id, e.leaf, e.contents) for e in entries],
                    )
                if tile_rows:
                    # One row per statement, so a key repeated in a batch ends as its last
                    # value, as with SQLite's INSERT OR REPLACE.
                    cur.executemany(
                        "INSERT INTO tiles (tree, level, idx, width, hashes) "
                        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (tree, level, idx) "
                        "DO UPDATE SET width = EXCLUDED.width, hashes = EXCLUDED.hashes",
                        tile_rows,
                    )
                if checkpoint is not None:
                    cur.execute(
                        "INSERT INTO checkpoints (size, note, ccf_signature) VALUES (%s, %s, %s)",
                        (checkpoint.size, checkpoint.note, checkpoint.ccf_signature),
                    )
                if meta:
                    cur.executemany(
                        "INSERT INTO meta (key, value) VALUES (%s, %s) "
                        "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                        sorted(meta.items()),
                    )
        except psycopg.Error as exc:
            # Leaving conn.transaction() with an exception has rolled the batch back.
            raise StorageError(
                f"PostgreSQL write failed on {self.description}, nothing of the batch was "
                f"written: {_redact(str(exc), self._dsn)}"
            ) from exc

    def erase_contents(self, seqno: int) -> None:
        self._refuse_if_read_only("erase contents")
        conn = self._conn()
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("UPDATE entries SET contents = ''::bytea WHERE seqno = %s", (seqno,))
                changed = cur.rowcount
                if changed != 1:
                    raise StorageError(f"cannot erase entry {seqno}: no such entry is stored")
        except psycopg.Error as exc:
            raise StorageError(
                f"PostgreSQL erasure failed on {self.description}, nothing was changed: "
                f"{_redact(str(exc), self._dsn)}"
            ) from exc

    # --- reads ----------------------------------------------------------------------------------
    def entry_count(self) -> int:
        value = self._query("SELECT max(seqno) FROM entries")[0][0]
        return int(value) if value is not None else 0

    @staticmethod
    def _entries(rows: list[tuple[Any, ...]]) -> list[StoredEntry]:
        return [StoredEntry(int(s), str(c), bytes(leaf), bytes(b)) for s, c, leaf, b in rows]

    def get_entries(self, first_seqno: int, last_seqno: int) -> list[StoredEntry]:
        return self._entries(
            self._query(
                "SELECT seqno, collection_id, leaf, contents FROM entries "
                "WHERE seqno BETWEEN %s AND %s ORDER BY seqno",
                (first_seqno, last_seqno),
            )
        )

    def get_collection_entries(
        self, collection_id: str, first_seqno: int, last_seqno: int, limit: int
    ) -> list[StoredEntry]:
        return self._entries(
            self._query(
                "SELECT seqno, collection_id, leaf, contents FROM entries "
                "WHERE collection_id = %s AND seqno BETWEEN %s AND %s ORDER BY seqno LIMIT %s",
                (collection_id, first_seqno, last_seqno, limit),
            )
        )

    def last_seqno_in_collection(self, collection_id: str, at_most: int) -> int | None:
        value = self._query(
            "SELECT max(seqno) FROM entries WHERE collection_id = %s AND seqno <= %s",
            (collection_id, at_most),
        )[0][0]
        return int(value) if value is not None else None

    def collections(self) -> list[str]:
        rows = self._query("SELECT DISTINCT collection_id FROM entries ORDER BY collection_id")
        return [str(r[0]) for r in rows]

    def get_tiles(
        self, keys: Sequence[tuple[int, int]], tree: int = RFC9162_TREE
    ) -> dict[tuple[int, int], bytes]:
        unique = sorted(set(keys))
        if not unique:
            return {}
        rows = self._query(
            "SELECT t.level, t.idx, t.hashes FROM tiles t "
            "JOIN unnest(%s::integer[], %s::bigint[]) AS k(level, idx) "
            "ON t.level = k.level AND t.idx = k.idx WHERE t.tree = %s",
            ([level for level, _ in unique], [idx for _, idx in unique], tree),
        )
        return {(int(level), int(idx)): bytes(hashes) for level, idx, hashes in rows}

    @staticmethod
    def _checkpoint(row: tuple[Any, ...]) -> StoredCheckpoint:
        size, note, signature = row
        return StoredCheckpoint(
            int(size), str(note), None if signature is None else bytes(signature)
        )

    def _one_checkpoint(self, sql: str, params: Sequence[Any] = ()) -> StoredCheckpoint | None:
        rows = self._query(sql, params)
        return self._checkpoint(rows[0]) if rows else None

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        return self._one_checkpoint(
            "SELECT size, note, ccf_signature FROM checkpoints ORDER BY size DESC LIMIT 1"
        )

    def checkpoint_covering(self, size: int) -> StoredCheckpoint | None:
        return self._one_checkpoint(
            "SELECT size, note, ccf_signature FROM checkpoints WHERE size >= %s "
            "ORDER BY size LIMIT 1",
            (size,),
        )

    def ccf_checkpoint_covering(self, size: int) -> StoredCheckpoint | None:
        return self._one_checkpoint(
            "SELECT size, note, ccf_signature FROM checkpoints "
            "WHERE size >= %s AND ccf_signature IS NOT NULL ORDER BY size LIMIT 1",
            (size,),
        )

    def iter_checkpoints(self) -> Iterator[StoredCheckpoint]:
        last = -1
        while True:
            rows = self._query(
                "SELECT size, note, ccf_signature FROM checkpoints WHERE size > %s "
                "ORDER BY size LIMIT %s",
                (last, CHECKPOINT_CHUNK),
            )
            for row in rows:
                yield self._checkpoint(row)
            if len(rows) < CHECKPOINT_CHUNK:
                return
            last = int(rows[-1][0])


def _is_missing_database(exc: psycopg.Error) -> bool:
    """Whether a connection failed because the database does not exist (SQLSTATE 3D000)."""
    if getattr(exc, "sqlstate", None) == "3D000":
        return True
    text = str(exc)
    return "database" in text and "does not exist" in text


def _describe(dsn: str) -> str:
    """``user@host:port/dbname`` of a DSN, for messages; never its password."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error:
        return "<unparsable DSN>"
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    port = params.get("port")
    where = f"{host}:{port}" if port else host
    user = params.get("user")
    dbname = params.get("dbname") or user or "<default>"
    return f"{user}@{where}/{dbname}" if user else f"{where}/{dbname}"


def _redact(text: str, dsn: str) -> str:
    """``text`` with the DSN's password (raw or as the DSN spells it) replaced by ``***``."""
    secrets: set[str] = set()
    try:
        password = conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        password = None
    if password:
        secrets.add(str(password))
    _, sep, rest = dsn.partition("://")
    if sep:
        authority = rest.split("/", 1)[0].split("?", 1)[0]
        userinfo = authority.rpartition("@")[0]
        if ":" in userinfo:
            secrets.add(userinfo.split(":", 1)[1])  # percent-encoded form, as written
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
