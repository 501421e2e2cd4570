"""Several threads, each with its own wrapper connection, write one SQLite file while blocks are
closed concurrently: SQLite serializes the writers (busy timeout), and every committed transaction
lands in exactly one block."""

from __future__ import annotations

import random
import threading
from pathlib import Path

from accord.tables.database import close_block, create_ledger_table, verify_database
from accord.tables.sqlite import connect
from tests.tables.conftest import raw
from tests.tables.test_sqlite import empty_db

WRITERS = 6
TRANSACTIONS_PER_WRITER = 25


def test_concurrent_writes_and_blocks(tmp_path: Path) -> None:
    db = empty_db(tmp_path)
    create_ledger_table(db, "CREATE TABLE items (id INTEGER PRIMARY KEY, v INTEGER)")
    create_ledger_table(db, "CREATE TABLE audit (n INTEGER PRIMARY KEY, note TEXT)",
                        append_only=True)  # fmt: skip
    errors: list[BaseException] = []
    done = threading.Event()
    first_block = threading.Event()
    blocks_closed: list[int] = []

    def writer(k: int) -> None:
        rng = random.Random(k)
        try:
            conn = connect(db)
            try:
                for i in range(TRANSACTIONS_PER_WRITER):
                    if i == TRANSACTIONS_PER_WRITER // 2:
                        # Halfway, make sure a block has closed while writes are in flight.
                        first_block.wait(timeout=30)
                    key = k * 1000 + i
                    conn.execute("INSERT INTO items (id, v) VALUES (?, 0)", (key,))
                    if i and rng.random() < 0.5:
                        conn.execute("UPDATE items SET v = v + 1 WHERE id = ?", (key - 1,))
                    if rng.random() < 0.3:
                        conn.execute("INSERT INTO audit (note) VALUES (?)", (f"{k}/{i}",))
                    if i > 2 and rng.random() < 0.2:
                        conn.execute("DELETE FROM items WHERE id = ?", (key - 2,))
                    conn.commit()
            finally:
                conn.close()
        except BaseException as exc:
            errors.append(exc)

    def closer() -> None:
        try:
            while not done.is_set():
                block = close_block(db)
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
    done.set()
    for t in closers:
        t.join()
    close_block(db)
    assert errors == []

    rows = raw(db, "SELECT transaction_id, block_id FROM accord_ledger_transactions")
    assert len(rows) == WRITERS * TRANSACTIONS_PER_WRITER
    assert sorted(t for t, _ in rows) == list(range(1, len(rows) + 1))
    assert all(block is not None for _, block in rows)
    counts = dict(raw(db, "SELECT block_id, transaction_count FROM accord_ledger_blocks"))
    per_block: dict[object, int] = {}
    for _, block in rows:
        per_block[block] = per_block.get(block, 0) + 1
    assert per_block == counts
    assert blocks_closed  # blocks really closed while writes continued
    report = verify_database(db)
    assert report.unblocked_transactions == 0 and report.blocks == len(counts) > 1
