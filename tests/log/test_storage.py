"""Backend conformance: SQLite and PostgreSQL storage behave the same through ``LogStorage``."""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Iterator

import pytest

from accord.core.tiles import packed_size
from accord.errors import LedgerLocked, StorageError
from accord.log.storage import (
    CCF_TREE,
    LogStorage,
    StoredCheckpoint,
    StoredEntry,
    StoredTile,
    open_storage,
)
from accord.testing.pgserver import PostgresServer

META = {"origin": "example.test/ledger", "view": "1", "format": "test"}


@pytest.fixture
def storage(location: str) -> Iterator[LogStorage]:
    opened = open_storage(location)
    opened.initialize(META)
    yield opened
    opened.close()


def entry(seqno: int, collection_id: str = "orders") -> StoredEntry:
    return StoredEntry(seqno, collection_id, b"leaf-%d" % seqno, b"contents\x00%d" % seqno)


def tile(level: int, index: int, width: int, fill: int = 1, tree: int = 0) -> StoredTile:
    return StoredTile(level, index, bytes([fill]) * packed_size(width), tree)


def checkpoint(size: int, signature: bytes | None = None) -> StoredCheckpoint:
    return StoredCheckpoint(size, f"example.test/ledger\n{size}\nroot\n", signature)


def seqnos(entries: list[StoredEntry]) -> list[int]:
    return [e.seqno for e in entries]


# --- set-up -------------------------------------------------------------------------------------
def test_read_meta_is_empty_before_initialize(location: str) -> None:
    fresh = open_storage(location)
    try:
        assert fresh.read_meta() == {}
    finally:
        fresh.close()


def test_initialize_is_idempotent_and_keeps_meta(storage: LogStorage) -> None:
    storage.write_batch([entry(1)], [tile(0, 0, 1)], checkpoint(1))
    storage.initialize({"origin": "someone.else/ledger", "view": "7", "extra": "new"})
    assert storage.read_meta() == {**META, "extra": "new"}
    assert storage.entry_count() == 1
    assert storage.latest_checkpoint() == checkpoint(1)


def test_concurrent_initialize_of_a_new_ledger(location: str) -> None:
    opened = [open_storage(location) for _ in range(4)]
    barrier = threading.Barrier(len(opened))
    failures: list[BaseException] = []

    def initialize(s: LogStorage) -> None:
        barrier.wait()
        try:
            s.initialize(META)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=initialize, args=(s,)) for s in opened]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert failures == []
        assert all(s.read_meta() == META for s in opened)
    finally:
        for s in opened:
            s.close()


# --- writes -------------------------------------------------------------------------------------
@pytest.mark.parametrize("count", [1, 3, 40], ids=["one", "few", "many"])
def test_write_batch_then_read(storage: LogStorage, count: int) -> None:
    entries = [entry(i, "a" if i % 2 else "b") for i in range(1, count + 1)]
    tiles = [tile(0, 0, min(count, 256)), tile(0, 0, min(count, 256), fill=9, tree=CCF_TREE)]
    storage.write_batch(entries, tiles, checkpoint(count, b"sig"))

    assert storage.entry_count() == count
    got = storage.get_entries(1, count)
    assert got == entries
    for e in got:
        assert type(e.leaf) is bytes
        assert type(e.contents) is bytes
    assert storage.get_entries(count + 1, count + 10) == []
    assert storage.get_tiles([(0, 0)]) == {(0, 0): tiles[0].packed}
    assert storage.get_tiles([(0, 0)], CCF_TREE) == {(0, 0): tiles[1].packed}
    assert type(storage.get_tiles([(0, 0)])[(0, 0)]) is bytes
    assert storage.latest_checkpoint() == checkpoint(count, b"sig")
    latest = storage.latest_checkpoint()
    assert latest is not None
    assert type(latest.ccf_signature) is bytes


def test_empty_storage_reads(storage: LogStorage) -> None:
    assert storage.entry_count() == 0
    assert storage.get_entries(1, 100) == []
    assert list(storage.iter_entries()) == []
    assert storage.collections() == []
    assert storage.last_seqno_in_collection("orders", 100) is None
    assert storage.get_tiles([(0, 0)]) == {}
    assert storage.latest_checkpoint() is None
    assert storage.checkpoint_covering(0) is None
    assert list(storage.iter_checkpoints()) == []


def test_checkpoint_queries(storage: LogStorage) -> None:
    storage.write_batch([], [], checkpoint(0))
    storage.write_batch([entry(1), entry(2)], [], checkpoint(2, b"ccf-2"))
    storage.write_batch([entry(3), entry(4), entry(5)], [], checkpoint(5))
    storage.write_batch([entry(6)], [], checkpoint(6, b"ccf-6"))

    assert storage.latest_checkpoint() == checkpoint(6, b"ccf-6")
    assert storage.checkpoint_covering(0) == checkpoint(0)
    assert storage.checkpoint_covering(1) == checkpoint(2, b"ccf-2")
    assert storage.checkpoint_covering(3) == checkpoint(5)
    assert storage.checkpoint_covering(7) is None
    assert storage.ccf_checkpoint_covering(3) == checkpoint(6, b"ccf-6")
    assert storage.ccf_checkpoint_covering(2) == checkpoint(2, b"ccf-2")
    assert storage.ccf_checkpoint_covering(7) is None


# The small batch exercises the row-by-row insert, the large one PostgreSQL's COPY path.
@pytest.mark.parametrize("new_entries", [2, 60], ids=["small", "copy"])
def test_write_batch_is_atomic_on_entry_collision(storage: LogStorage, new_entries: int) -> None:
    before_tile = tile(0, 0, 3, fill=1)
    storage.write_batch([entry(1), entry(2), entry(3)], [before_tile], checkpoint(3))

    # New entries first, then one that collides with a stored seqno.
    batch = [entry(i) for i in range(4, 4 + new_entries)] + [entry(2, "intruder")]
    size = 3 + new_entries
    with pytest.raises(StorageError):
        storage.write_batch(
            batch,
            [tile(0, 0, size, fill=2), tile(1, 0, 1, fill=3), tile(0, 0, 1, fill=4, tree=CCF_TREE)],
            checkpoint(size, b"sig"),
        )

    assert storage.entry_count() == 3
    assert storage.get_entries(1, size) == [entry(1), entry(2), entry(3)]
    assert storage.collections() == ["orders"]
    assert storage.get_tiles([(0, 0), (1, 0)]) == {(0, 0): before_tile.packed}
    assert storage.get_tiles([(0, 0)], CCF_TREE) == {}
    assert storage.latest_checkpoint() == checkpoint(3)
    assert list(storage.iter_checkpoints()) == [checkpoint(3)]

    # The storage is still usable, and the same batch without the collision goes in.
    storage.write_batch(batch[:-1], [tile(0, 0, size, fill=2)], checkpoint(size))
    assert storage.entry_count() == size
    assert storage.get_tiles([(0, 0)]) == {(0, 0): tile(0, 0, size, fill=2).packed}


@pytest.mark.parametrize("new_entries", [2, 60], ids=["small", "copy"])
def test_write_batch_is_atomic_on_checkpoint_collision(
    storage: LogStorage, new_entries: int
) -> None:
    storage.write_batch([entry(1), entry(2)], [tile(0, 0, 2)], checkpoint(2))
    batch = [entry(i) for i in range(3, 3 + new_entries)]
    with pytest.raises(StorageError):
        storage.write_batch(batch, [tile(0, 0, 4, fill=7)], checkpoint(2))
    assert storage.entry_count() == 2
    assert storage.get_entries(3, 2 + new_entries) == []
    assert storage.get_tiles([(0, 0)]) == {(0, 0): tile(0, 0, 2).packed}


def test_write_batch_rejects_a_seqno_repeated_within_the_batch(storage: LogStorage) -> None:
    with pytest.raises(StorageError):
        storage.write_batch([entry(i) for i in range(1, 20)] + [entry(5)], [], checkpoint(19))
    assert storage.entry_count() == 0
    assert storage.latest_checkpoint() is None


def test_tile_upsert_replaces_a_partial_tile(storage: LogStorage) -> None:
    storage.write_batch([], [tile(0, 0, 3, fill=1), tile(0, 0, 3, fill=5, tree=CCF_TREE)], None)
    storage.write_batch([], [tile(0, 0, 200, fill=2)], None)
    assert storage.get_tiles([(0, 0)]) == {(0, 0): tile(0, 0, 200, fill=2).packed}
    storage.write_batch([], [tile(0, 0, 256, fill=3)], None)
    assert storage.get_tiles([(0, 0)]) == {(0, 0): tile(0, 0, 256, fill=3).packed}
    # The other tree's tile at the same position is untouched.
    assert storage.get_tiles([(0, 0)], CCF_TREE) == {(0, 0): tile(0, 0, 3, fill=5).packed}


def test_tile_repeated_in_one_batch_keeps_the_last(storage: LogStorage) -> None:
    storage.write_batch([], [tile(0, 0, 1, fill=1), tile(0, 0, 2, fill=2)], None)
    assert storage.get_tiles([(0, 0)]) == {(0, 0): tile(0, 0, 2, fill=2).packed}


def test_get_tiles_leaves_out_missing_keys(storage: LogStorage) -> None:
    stored = [tile(0, i, 256, fill=i) for i in range(250)] + [tile(1, 0, 250), tile(2, 0, 1)]
    storage.write_batch([], [*stored, tile(3, 0, 1, tree=CCF_TREE)], None)

    got = storage.get_tiles([(0, 0), (0, 5), (0, 999), (1, 0), (1, 1), (4, 0), (0, 5)])
    assert got == {(0, 0): stored[0].packed, (0, 5): stored[5].packed, (1, 0): stored[250].packed}
    assert storage.get_tiles([]) == {}
    assert storage.get_tiles([(3, 0)]) == {}
    assert storage.get_tiles([(3, 0), (0, 0)], CCF_TREE) == {(3, 0): tile(3, 0, 1).packed}
    # More keys than one query chunk of the SQLite backend.
    wanted = [(0, i) for i in range(400)]
    many = storage.get_tiles(wanted)
    assert sorted(many) == [(0, i) for i in range(250)]
    assert many[(0, 249)] == stored[249].packed


# --- collections --------------------------------------------------------------------------------
def test_collection_queries(storage: LogStorage) -> None:
    names = ["a", "b", "c"]
    storage.write_batch([entry(i, names[i % 3]) for i in range(1, 31)], [], checkpoint(30))

    assert storage.collections() == ["a", "b", "c"]
    a_all = storage.get_collection_entries("a", 1, 30, 100)
    assert seqnos(a_all) == list(range(3, 31, 3))
    assert all(e.collection_id == "a" for e in a_all)
    assert a_all[0] == entry(3, "a")
    assert seqnos(storage.get_collection_entries("b", 5, 20, 100)) == [7, 10, 13, 16, 19]
    assert seqnos(storage.get_collection_entries("b", 5, 20, 2)) == [7, 10]
    assert storage.get_collection_entries("nope", 1, 30, 100) == []
    assert storage.last_seqno_in_collection("c", 30) == 29
    assert storage.last_seqno_in_collection("c", 10) == 8
    assert storage.last_seqno_in_collection("c", 1) is None
    assert storage.last_seqno_in_collection("nope", 30) is None


# --- iteration ----------------------------------------------------------------------------------
def test_iter_entries_across_chunks(storage: LogStorage) -> None:
    # Two batches, each given in descending order: reads must sort by seqno.
    storage.write_batch([entry(s) for s in reversed(range(1, 21))], [], None)
    storage.write_batch([entry(s) for s in reversed(range(21, 46))], [], None)

    assert seqnos(list(storage.iter_entries(chunk=7))) == list(range(1, 46))
    assert seqnos(list(storage.iter_entries(first_seqno=10, chunk=7))) == list(range(10, 46))
    assert seqnos(list(storage.iter_entries(chunk=15))) == list(range(1, 46))
    assert list(storage.iter_entries(first_seqno=46, chunk=7)) == []


def test_iter_checkpoints_across_chunks(storage: LogStorage) -> None:
    sizes = list(range(1001))  # both backends read checkpoints 500 at a time
    random.Random(2).shuffle(sizes)
    for size in sizes:
        storage.write_batch([], [], checkpoint(size, b"s" if size % 2 else None))
    got = list(storage.iter_checkpoints())
    assert [c.size for c in got] == list(range(1001))
    assert got[7] == checkpoint(7, b"s")
    assert got[500] == checkpoint(500)


# --- locking, restart and threads ---------------------------------------------------------------
def test_writer_lock_is_exclusive(location: str) -> None:
    first = open_storage(location)
    first.initialize(META)
    first.acquire_writer_lock()
    first.acquire_writer_lock()  # taking it again is a no-op
    second = open_storage(location)
    try:
        with pytest.raises(LedgerLocked):
            second.acquire_writer_lock()
        # Readers are not blocked by the writer lock.
        assert second.read_meta() == META
    finally:
        first.close()
    try:
        second.acquire_writer_lock()
        third = open_storage(location)
        with pytest.raises(LedgerLocked):
            third.acquire_writer_lock()
        third.close()
    finally:
        second.close()


def test_data_survives_reopening(location: str) -> None:
    writer = open_storage(location)
    writer.initialize(META)
    writer.acquire_writer_lock()
    entries = [entry(i, "x" if i < 10 else "y") for i in range(1, 21)]
    writer.write_batch(entries[:10], [tile(0, 0, 10)], checkpoint(10))
    writer.write_batch(entries[10:], [tile(0, 0, 20)], checkpoint(20, b"ccf"))
    writer.close()

    reader = open_storage(location)
    try:
        assert reader.read_meta() == META
        assert reader.entry_count() == 20
        assert list(reader.iter_entries()) == entries
        assert reader.collections() == ["x", "y"]
        assert reader.get_tiles([(0, 0)]) == {(0, 0): tile(0, 0, 20).packed}
        assert list(reader.iter_checkpoints()) == [checkpoint(10), checkpoint(20, b"ccf")]
        reader.acquire_writer_lock()  # the closed writer released it
    finally:
        reader.close()


def test_reads_and_writes_from_many_threads(storage: LogStorage) -> None:
    storage.write_batch([entry(i) for i in range(1, 101)], [], checkpoint(100))
    failures: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(20):
                assert len(storage.get_entries(1, 100)) == 100
                assert storage.entry_count() >= 100
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=read) for _ in range(6)]
    for t in threads:
        t.start()
    for i in range(101, 121):
        storage.write_batch([entry(i)], [], checkpoint(i))
    for t in threads:
        t.join()
    assert failures == []
    assert storage.entry_count() == 120


# --- PostgreSQL only ----------------------------------------------------------------------------
def test_postgres_writer_lock_is_per_database(pg_dsn: str, postgres_server: PostgresServer) -> None:
    other_dsn = postgres_server.create_database("t_storage_other_ledger")
    first, second = open_storage(pg_dsn), open_storage(other_dsn)
    try:
        first.acquire_writer_lock()
        second.acquire_writer_lock()  # another database is another ledger
    finally:
        first.close()
        second.close()
        postgres_server.drop_database("t_storage_other_ledger")


def test_postgres_connection_failure_names_the_server_but_not_the_password() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dsn = f"postgresql://ledger:s3cr%40t-pw@127.0.0.1:{port}/ledgerdb?connect_timeout=5"
    failing = open_storage(dsn)
    with pytest.raises(StorageError) as caught:
        failing.read_meta()
    with pytest.raises(StorageError) as caught_lock:
        failing.acquire_writer_lock()
    failing.close()
    for exc in (caught.value, caught_lock.value):
        message = str(exc)
        assert "127.0.0.1" in message
        assert "ledgerdb" in message
        assert "s3cr" not in message
        assert exc.__cause__ is None
    assert "s3cr" not in repr(failing)


def test_postgres_unparsable_dsn_is_a_storage_error() -> None:
    failing = open_storage("postgresql://ledger:hunter2@[bad/db?nonsense_option=1")
    with pytest.raises(StorageError) as caught:
        failing.entry_count()
    assert "hunter2" not in str(caught.value)
