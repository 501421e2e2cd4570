"""The one storage interface behind a ledger, and how to open a backend by location.

Backends store bytes; they hold no business logic. The sequencer decides what to write, and every
``write_batch`` is one durable transaction: when it returns, the entries, tiles and checkpoint it
was given survive a crash; if it raises, none of them were written.

Tables every backend keeps (the names are part of the tamper tests and ``docs/formats.md``):

* ``meta``        key → value (origin, view, entry format)
* ``entries``     seqno → collection id, canonical leaf bytes, contents bytes (empty once a
                  redaction erased them: ``erase_contents``)
* ``tiles``       (tree, level, index) → width, packed tile hashes; tree 0 is the RFC 9162 tree,
                  tree 1 the CCF tree over the same entries (for Azure-compatible receipts)
* ``checkpoints`` tree size → signed checkpoint note, and the node's signature over the CCF root
"""

from __future__ import annotations

import abc
import contextlib
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StoredEntry:
    seqno: int
    collection_id: str
    leaf: bytes
    contents: bytes


RFC9162_TREE = 0
CCF_TREE = 1


@dataclass(frozen=True, slots=True)
class StoredTile:
    level: int
    index: int
    packed: bytes
    tree: int = RFC9162_TREE


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    size: int
    note: str
    ccf_signature: bytes | None = None


class LogStorage(abc.ABC):
    """What a ledger needs from a database. Implementations must be safe to call from any thread."""

    description: str
    """Where the storage is, for messages (never a password)."""

    # --- set-up ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def initialize(self, meta: dict[str, str]) -> None:
        """Create the schema if absent and store ``meta`` keys that are not stored yet."""

    @abc.abstractmethod
    def read_meta(self) -> dict[str, str]:
        """All meta keys; empty if the ledger was never initialized."""

    @abc.abstractmethod
    def acquire_writer_lock(self) -> None:
        """Become the only writer of this ledger or raise LedgerLocked."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections and the writer lock."""

    # --- writes ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def write_batch(
        self,
        entries: Sequence[StoredEntry],
        tiles: Sequence[StoredTile],
        checkpoint: StoredCheckpoint | None,
        meta: Mapping[str, str] | None = None,
    ) -> None:
        """Durably insert entries and checkpoint, upsert tiles and ``meta`` keys, in one transaction.

        ``meta`` carries what must move atomically with the entries (a consortium node's position
        in the ordered stream); keys written here replace earlier values.
        """

    @abc.abstractmethod
    def erase_contents(self, seqno: int) -> None:
        """Durably replace the contents of entry ``seqno`` with empty bytes; nothing else changes.

        When it returns, the old bytes are gone from the files this backend controls as far as
        it can make them (SQLite overwrites the freed space and truncates its write-ahead log);
        what it cannot reach is the backend's to document. Raises StorageError if no entry
        ``seqno`` is stored. Whether an entry may be erased is not the backend's to decide.
        """

    # --- reads ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def entry_count(self) -> int:
        """Highest stored seqno (0 if none); seqnos are contiguous from 1."""

    @abc.abstractmethod
    def get_entries(self, first_seqno: int, last_seqno: int) -> list[StoredEntry]:
        """Entries with ``first_seqno <= seqno <= last_seqno``, in seqno order."""

    @abc.abstractmethod
    def get_collection_entries(
        self, collection_id: str, first_seqno: int, last_seqno: int, limit: int
    ) -> list[StoredEntry]:
        """Up to ``limit`` entries of one collection within a seqno range, in seqno order."""

    @abc.abstractmethod
    def last_seqno_in_collection(self, collection_id: str, at_most: int) -> int | None:
        """The newest seqno of a collection not beyond ``at_most``."""

    @abc.abstractmethod
    def collections(self) -> list[str]:
        """Distinct collection ids."""

    @abc.abstractmethod
    def get_tiles(
        self, keys: Sequence[tuple[int, int]], tree: int = RFC9162_TREE
    ) -> dict[tuple[int, int], bytes]:
        """Packed tiles of one tree by ``(level, index)``; absent keys are left out."""

    @abc.abstractmethod
    def latest_checkpoint(self) -> StoredCheckpoint | None: ...

    @abc.abstractmethod
    def checkpoint_covering(self, size: int) -> StoredCheckpoint | None:
        """The oldest checkpoint of a tree of at least ``size`` entries."""

    @abc.abstractmethod
    def ccf_checkpoint_covering(self, size: int) -> StoredCheckpoint | None:
        """The oldest checkpoint of at least ``size`` entries that has a CCF root signature."""

    @abc.abstractmethod
    def iter_checkpoints(self) -> Iterator[StoredCheckpoint]:
        """Every stored checkpoint in size order."""

    def iter_entries(
        self, first_seqno: int = 1, chunk: int = 2000, last_seqno: int | None = None
    ) -> Iterator[StoredEntry]:
        """Stream entries ``first_seqno..last_seqno`` (default: the current end) in seqno order.

        The ranges asked for are contiguous, so no stored row is ever skipped; a hole is left for
        the caller, who checks contiguity. Entries appended meanwhile are not included.
        """
        end = self.entry_count() if last_seqno is None else last_seqno
        seqno = first_seqno
        while seqno <= end:
            last = min(end, seqno + chunk - 1)
            yield from self.get_entries(seqno, last)
            seqno = last + 1

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        """Within the block, this thread's reads all see one consistent state of the storage.

        An audit runs inside one, so a writer appending meanwhile cannot make it see a tile from
        a later tree than the entries it read. (Backends without snapshots may yield at once.)
        """
        yield


POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_location(location: str) -> bool:
    """Whether a storage location names PostgreSQL (a URI DSN) rather than an SQLite file.

    The one place accord tells the two apart; everything else asks this function.
    """
    return location.startswith(POSTGRES_SCHEMES)


def unsupported_scheme(location: str) -> str | None:
    """Why ``location`` names a storage accord does not have (another URL scheme), or None.

    A location is a PostgreSQL DSN or an SQLite file name; anything that looks like another
    URL (``mysql://…``, ``s3:bucket``) is refused instead of becoming an oddly named file.
    """
    if is_postgres_location(location):
        return None
    scheme = urllib.parse.urlsplit(location).scheme
    if "://" in location or (len(scheme) > 1 and location.startswith(scheme + ":")):
        return (
            "accord stores a ledger in PostgreSQL (postgresql://USER@HOST/DBNAME) or in an "
            "SQLite file"
        )
    return None


def open_storage(location: str, *, read_only: bool = False) -> LogStorage:
    """A backend for ``location``: a ``postgresql://`` DSN or an SQLite file path.

    ``read_only`` storage never creates or changes anything: a missing SQLite file is an error
    (not a new empty ledger), PostgreSQL sessions run with ``default_transaction_read_only``, and
    ``initialize``/``write_batch``/``acquire_writer_lock`` raise. Audits open storage this way.
    """
    if is_postgres_location(location):
        from accord.log.postgres import PostgresStorage

        return PostgresStorage(location, read_only=read_only)
    from accord.log.sqlite import SqliteStorage

    return SqliteStorage(location, read_only=read_only)
