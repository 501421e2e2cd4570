"""Concurrent writers and repeated block closing: every committed transaction lands in exactly
one block, including transactions that commit out of transaction-id order."""

from __future__ import annotations

import random
import threading

import psycopg

from accord.tables.database import close_block, create_ledger_table, verify_database
from tests.tables.conftest import sql

WRITERS = 6
TRANSACTIONS_PER_WRITER = 25


def test_concurrent_writes_and_blocks(pg_dsn: str) -> None:
    create_ledger_table(pg_dsn, "CREATE TABLE items (id int PRIMARY KEY, v int)")
    create_ledger_table(pg_dsn, "CREATE TABLE audit (n bigserial PRIMARY KEY, note text)",
                        append_only=True)  # fmt: skip
    errors: list[BaseException] = []
    done = threading.Event()

    # A long transaction takes its transaction id first and commits last: out of id order.
    early = psycopg.connect(pg_dsn)
    early.execute("INSERT INTO items VALUES (-1, 0)")
    early_txid = early.execute("SELECT txid_current()").fetchone()

    def writer(k: int) -> None:
        rng = random.Random(k)
        try:
            with psycopg.connect(pg_dsn) as conn:
                for i in range(TRANSACTIONS_PER_WRITER):
                    with conn.transaction():
                        key = k * 1000 + i
                        conn.execute("INSERT INTO items VALUES (%s, 0)", (key,))
                        if i and rng.random() < 0.5:
                            conn.execute("UPDATE items SET v = v + 1 WHERE id = %s", (key - 1,))
                        if rng.random() < 0.3:
                            conn.execute("INSERT INTO audit (note) VALUES (%s)", (f"{k}/{i}",))
                        if i > 2 and rng.random() < 0.2:
                            conn.execute("DELETE FROM items WHERE id = %s", (key - 2,))
        except BaseException as exc:
            errors.append(exc)

    def closer() -> None:
        try:
            while not done.is_set():
                close_block(pg_dsn)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(WRITERS)]
    closers = [threading.Thread(target=closer) for _ in range(2)]
    for t in threads + closers:
        t.start()
    for t in threads:
        t.join()
    early.commit()
    early.close()
    done.set()
    for t in closers:
        t.join()
    close_block(pg_dsn)
    assert errors == []

    rows = sql(pg_dsn, "SELECT transaction_id, block_id FROM accord_ledger.transactions")
    assert len(rows) == WRITERS * TRANSACTIONS_PER_WRITER + 1
    assert all(block is not None for _, block in rows)
    counts = dict(sql(pg_dsn, "SELECT block_id, transaction_count FROM accord_ledger.blocks"))
    per_block: dict[int, int] = {}
    for _, block in rows:
        per_block[block] = per_block.get(block, 0) + 1
    assert per_block == counts
    assert early_txid is not None
    early_block = dict(rows)[early_txid[0]]
    assert early_block == max(counts)  # committed last, blocked last despite its small id
    report = verify_database(pg_dsn)
    assert report.unblocked_transactions == 0 and report.blocks == len(counts) > 1
