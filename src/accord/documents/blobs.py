"""Where document bytes live: a content-addressed, write-once blob store, one interface.

A blob is named by the SHA-256 of its bytes, computed while it streams in; writing the same bytes
twice stores them once. A blob is visible only once it is whole and durable, so a crash leaves
either nothing or the complete blob (never a torn one). Backends implement :class:`BlobStore`:

* :class:`FileBlobStore`, the embedded default: ``DIR/documents/blobs/<2 hex>/<64 hex>``, written
  to a temporary file, fsync'd, renamed into place, and the directory fsync'd;
* :class:`PostgresBlobStore`, for production: chunks of :data:`CHUNK` bytes in the ledger's
  PostgreSQL database, made visible by one transaction.

Backends hold no business logic: which blobs must exist, and with which digests, is decided by
the ledger's document records (:mod:`accord.documents.records`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from accord.errors import NotFound, StorageError

CHUNK = 1024 * 1024
SYNC_EVERY = 16 * CHUNK  # flush a large blob to disk as it streams: the final fsync is short
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int


class BlobWriter(Protocol):
    """One blob being written: feed it bytes, then commit (durable, visible) or abort.

    ``hasher`` is the running ``hashlib.sha256()`` of the bytes written so far (read it, never
    update it), so a caller checking a digest need not hash the bytes a second time."""

    hasher: Any

    def write(self, data: bytes) -> None: ...

    def commit(self) -> StoredBlob: ...

    def abort(self) -> None: ...


class BlobStore(Protocol):
    def writer(self) -> BlobWriter: ...

    def exists(self, sha256: str) -> bool: ...

    def size(self, sha256: str) -> int: ...

    def read(self, sha256: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes ``[start, end)`` of a blob, in chunks of at most :data:`CHUNK`."""
        ...

    def delete(self, sha256: str) -> None: ...

    def digests(self) -> Iterator[str]: ...

    def close(self) -> None: ...


def _check_digest(sha256: str) -> str:
    if len(sha256) != 64 or not set(sha256) <= _HEX:
        raise NotFound(f"no blob {sha256[:80]!r}")
    return sha256


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- files ----------------------------------------------------------------------------------------
class _FileWriter:
    def __init__(self, store: FileBlobStore) -> None:
        self._store = store
        self._path = store.tmp / f"{secrets.token_hex(16)}.part"
        self._file = open(self._path, "xb")
        self.hasher = hashlib.sha256()
        self._size = 0
        self._unsynced = 0

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self.hasher.update(data)
        self._size += len(data)
        self._unsynced += len(data)
        if self._unsynced >= SYNC_EVERY:
            os.fdatasync(self._file.fileno())
            self._unsynced = 0

    def commit(self) -> StoredBlob:
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        finally:
            self._file.close()
        digest = self.hasher.hexdigest()
        final = self._store.path_of(digest)
        if final.exists():  # the same bytes are stored already: keep one copy
            self._path.unlink()
        else:
            final.parent.mkdir(exist_ok=True)
            os.replace(self._path, final)
            _fsync_dir(final.parent)
        return StoredBlob(digest, self._size)

    def abort(self) -> None:
        self._file.close()
        self._path.unlink(missing_ok=True)


class FileBlobStore:
    """Blobs as files under ``root`` (``DIR/documents``): ``blobs/ab/ab12…``, temporaries in
    ``tmp/`` (left-over temporaries of a crash are removed when the store opens)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs"
        self.tmp = root / "tmp"
        for d in (root, self.blobs, self.tmp):
            d.mkdir(mode=0o700, exist_ok=True)
        for stale in self.tmp.glob("*.part"):
            stale.unlink(missing_ok=True)

    def path_of(self, sha256: str) -> Path:
        _check_digest(sha256)
        return self.blobs / sha256[:2] / sha256

    def writer(self) -> BlobWriter:
        return _FileWriter(self)

    def exists(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def size(self, sha256: str) -> int:
        try:
            return self.path_of(sha256).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"blob {sha256} is missing from {self.blobs}") from None

    def read(self, sha256: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        try:
            f = open(self.path_of(sha256), "rb")
        except FileNotFoundError:
            raise NotFound(f"blob {sha256} is missing from {self.blobs}") from None
        return self._chunks(f, start, end)

    @staticmethod
    def _chunks(f: Any, start: int, end: int | None) -> Iterator[bytes]:
        with f:
            with contextlib.suppress(OSError, AttributeError):  # a hint only; not everywhere
                # read ahead in the background while the chunks are being sent
                os.posix_fadvise(f.fileno(), start, 0, os.POSIX_FADV_SEQUENTIAL)
                os.posix_fadvise(
                    f.fileno(), start, 0 if end is None else end - start, os.POSIX_FADV_WILLNEED
                )
            f.seek(start)
            left = None if end is None else end - start
            while left is None or left > 0:
                data = f.read(CHUNK if left is None else min(CHUNK, left))
                if not data:
                    return
                if left is not None:
                    left -= len(data)
                yield data

    def delete(self, sha256: str) -> None:
        path = self.path_of(sha256)
        path.unlink(missing_ok=True)
        if path.parent.exists():
            _fsync_dir(path.parent)

    def digests(self) -> Iterator[str]:
        for sub in sorted(self.blobs.iterdir()):
            if sub.is_dir():
                for f in sorted(sub.iterdir()):
                    if len(f.name) == 64 and set(f.name) <= _HEX:
                        yield f.name

    def close(self) -> None:
        pass


# --- PostgreSQL ------------------------------------------------------------------------------------
_PG_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS accord_document_blobs ("
    " sha256 text PRIMARY KEY, size bigint NOT NULL)",
    "CREATE TABLE IF NOT EXISTS accord_document_chunks ("
    " blob text NOT NULL, n integer NOT NULL, data bytea NOT NULL, PRIMARY KEY (blob, n))",
)


class _PostgresWriter:
    """Chunks go in under a temporary name inside one transaction; commit renames them to the
    digest and records the blob, so a blob is visible whole or not at all."""

    def __init__(self, store: PostgresBlobStore) -> None:
        self._conn = store._connect()
        self._conn.autocommit = False
        self._temp = "tmp:" + secrets.token_hex(16)
        self.hasher = hashlib.sha256()
        self._size = 0
        self._n = 0
        self._buffer = bytearray()

    def _flush(self) -> None:
        if self._buffer:
            self._conn.execute(
                "INSERT INTO accord_document_chunks (blob, n, data) VALUES (%s, %s, %s)",
                (self._temp, self._n, bytes(self._buffer)),
            )
            self._n += 1
            self._buffer.clear()

    def write(self, data: bytes) -> None:
        self.hasher.update(data)
        self._size += len(data)
        self._buffer += data
        while len(self._buffer) >= CHUNK:
            rest = self._buffer[CHUNK:]
            del self._buffer[CHUNK:]
            self._flush()
            self._buffer = rest

    def commit(self) -> StoredBlob:
        import psycopg

        try:
            self._flush()
            digest = self.hasher.hexdigest()
            conn = self._conn
            row = conn.execute(
                "SELECT 1 FROM accord_document_blobs WHERE sha256 = %s", (digest,)
            ).fetchone()
            if row:
                conn.execute("DELETE FROM accord_document_chunks WHERE blob = %s", (self._temp,))
            else:
                conn.execute(
                    "UPDATE accord_document_chunks SET blob = %s WHERE blob = %s",
                    (digest, self._temp),
                )
                conn.execute(
                    "INSERT INTO accord_document_blobs (sha256, size) VALUES (%s, %s)",
                    (digest, self._size),
                )
            conn.commit()
        except psycopg.Error as exc:
            raise StorageError(f"PostgreSQL refused the document blob: {exc}") from exc
        finally:
            self._conn.close()
        return StoredBlob(digest, self._size)

    def abort(self) -> None:
        try:
            self._conn.rollback()
        finally:
            self._conn.close()


class PostgresBlobStore:
    """Blobs in PostgreSQL (the ledger's database), as rows of :data:`CHUNK` bytes."""

    def __init__(self, dsn: str) -> None:
        import psycopg

        self._dsn = dsn
        self._lock = threading.Lock()
        try:
            with self._connect() as conn:
                for statement in _PG_SCHEMA:
                    conn.execute(statement)
        except psycopg.Error as exc:
            raise StorageError(f"cannot prepare the document tables: {exc}") from exc

    def _connect(self) -> Any:
        import psycopg

        try:
            return psycopg.connect(self._dsn, autocommit=True)
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to PostgreSQL for documents: {exc}") from exc

    def writer(self) -> BlobWriter:
        return _PostgresWriter(self)

    def exists(self, sha256: str) -> bool:
        _check_digest(sha256)
        with self._connect() as conn:
            return bool(
                conn.execute(
                    "SELECT 1 FROM accord_document_blobs WHERE sha256 = %s", (sha256,)
                ).fetchone()
            )

    def size(self, sha256: str) -> int:
        _check_digest(sha256)
        with self._connect() as conn:
            row = conn.execute(
                "SELECT size FROM accord_document_blobs WHERE sha256 = %s", (sha256,)
            ).fetchone()
        if row is None:
            raise NotFound(f"blob {sha256} is missing from PostgreSQL")
        return int(row[0])

    def read(self, sha256: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        size = self.size(sha256)
        end = size if end is None else min(end, size)
        return self._chunks(sha256, start, end)

    def _chunks(self, sha256: str, start: int, end: int) -> Iterator[bytes]:
        with self._connect() as conn:
            n = start // CHUNK
            offset = start - n * CHUNK
            position = start
            while position < end:
                row = conn.execute(
                    "SELECT data FROM accord_document_chunks WHERE blob = %s AND n = %s",
                    (sha256, n),
                ).fetchone()
                if row is None:
                    raise NotFound(f"blob {sha256} lost chunk {n} in PostgreSQL")
                data = bytes(row[0])[offset : offset + end - position]
                if not data:
                    return
                yield data
                position += len(data)
                n += 1
                offset = 0

    def delete(self, sha256: str) -> None:
        _check_digest(sha256)
        with self._connect() as conn, conn.transaction():
            conn.execute("DELETE FROM accord_document_chunks WHERE blob = %s", (sha256,))
            conn.execute("DELETE FROM accord_document_blobs WHERE sha256 = %s", (sha256,))

    def digests(self) -> Iterator[str]:
        with self._connect() as conn:
            rows = conn.execute("SELECT sha256 FROM accord_document_blobs ORDER BY 1").fetchall()
        return iter([str(r[0]) for r in rows])

    def close(self) -> None:
        pass


def open_blob_store(documents_dir: Path, storage_location: str) -> BlobStore:
    """The blob store beside a ledger: PostgreSQL when the ledger is there, else files."""
    from accord.log.storage import is_postgres_location

    if is_postgres_location(storage_location):
        return PostgresBlobStore(storage_location)
    return FileBlobStore(documents_dir)


def copy_into(store: BlobStore, chunks: Iterable[bytes]) -> StoredBlob:
    writer = store.writer()
    try:
        for chunk in chunks:
            writer.write(chunk)
    except BaseException:
        writer.abort()
        raise
    return writer.commit()
