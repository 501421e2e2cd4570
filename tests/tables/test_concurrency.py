"""Concurrent writers and repeated block closing, on both backends: every committed transaction
lands in exactly one block, and blocks close while writes are in flight. On PostgreSQL writers run
in parallel, and one transaction commits out of transaction-id order; SQLite serializes the
writers (busy timeout) and numbers their transactions without gaps."""

from __future__ import annotations

import random
import threading

import psycopg

from accord.tables.database import close_block, create_ledger_table, verify_database
from accord.tables.sqlite import connect
from tests.tables.conftest import LedgerDatabase

WRITERS = 6
TRANSACTIONS_PER_WRITER = 25


def test_concurrent_writes_and_blocks(db: LedgerDatabase) -> None:
    if db.postgres:
        items, audit = "id int PRIMARY KEY, v int", "n bigserial PRIMARY KEY, note text"
    else:
        items, audit = "id INTEGER PRIMARY KEY, v INTEGER", "n INTEGER PRIMARY KEY, note TEXT"
    create_ledger_table(db.dsn, f"CREATE TABLE items ({items})")
    create_ledger_table(db.dsn, f"CREATE TABLE audit ({audit})", append_only=True)
    mark = "%s" if db.postgres else "?"
    errors: list[BaseException] = []
    done = threading.Event()
    first_block = threading.Event()
    blocks_closed: list[int] = []

    early, early_txid = None, None
    if db.postgres:
        # A long transaction takes its transaction id first and commits last: out of id order.
        early = psycopg.connect(db.dsn)
        early.execute("INSERT INTO items VALUES (-1, 0)")
        early_txid = early.execute("SELECT txid_current()").fetchone()

    def writer(k: int) -> None:
        rng = random.Random(k)
        try:
            # Each writer has its own connection, as an application's threads would.
            conn = psycopg.connect(db.dsn) if db.postgres else connect(db.dsn)
            try:
                for i in range(TRANSACTIONS_PER_WRITER):
                    if i == TRANSACTIONS_PER_WRITER // 2:
                        # Halfway, make sure a block has closed while writes are in flight.
                        first_block.wait(timeout=30)
                    key = k * 1000 + i
                    conn.execute(f"INSERT INTO items (id, v) VALUES ({mark}, 0)", (key,))
                    if i and rng.random() < 0.5:
                        conn.execute(f"UPDATE items SET v = v + 1 WHERE id = {mark}", (key - 1,))
                    if rng.random() < 0.3:
                        conn.execute(f"INSERT INTO audit (note) VALUES ({mark})", (f"{k}/{i}",))
                    if i > 2 and rng.random() < 0.2:
                        conn.execute(f"DELETE FROM items WHERE id = {mark}", (key - 2,))
                    conn.commit()
            finally:
                conn.close()
        except BaseException as exc:
            errors.append(exc)

    def closer() -> None:
        try:
            while not done.is_set():
                block = close_block(db.dsn)
                if block is not None:
                    blocks_closed.append(block)
                    first_block.set()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(WRITERS)]
    closers = [threading.Thread(target=closer) for _ in range(2)]
    for t in threads + closers:
        t.start()
    for t in threads:
        t.join()
    if early is not None:
        early.commit()
        early.close()
    done.set()
    for t in closers:
        t.join()
    close_block(db.dsn)
    assert errors == []

    rows = db.query(f"SELECT transaction_id, block_id FROM {db.ledger('transactions')}")
    assert len(rows) == WRITERS * TRANSACTIONS_PER_WRITER + (1 if db.postgres else 0)
    assert all(block is not None for _, block in rows)
    counts = dict(db.query(f"SELECT block_id, transaction_count FROM {db.ledger('blocks')}"))
    per_block: dict[object, int] = {}
    for _, block in rows:
        per_block[block] = per_block.get(block, 0) + 1
    assert per_block == counts
    assert blocks_closed  # blocks really closed while writes continued
    if db.postgres:
        assert early_txid is not None
        early_block = dict(rows)[early_txid[0]]
        assert early_block == max(counts)  # committed last, blocked last despite its small id
    else:
        assert sorted(t for t, _ in rows) == list(range(1, len(rows) + 1))
    report = verify_database(db.dsn)
    assert report.unblocked_transactions == 0 and report.blocks == len(counts) > 1
