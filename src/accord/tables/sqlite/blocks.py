"""Blocks of an SQLite ledger: closing one, and reading the newest for a digest."""

# ruff: noqa: S608 -- SQL text here is built only from module constants; values are parameters.
from __future__ import annotations

import sqlite3

from accord.tables.model import StoredBlockHead
from accord.tables.rules import next_block
from accord.tables.sqlite.catalog import BLOCKS, TRANSACTIONS, database_name, write_transaction


def close_block(conn: sqlite3.Connection) -> int | None:
    """Write the block :func:`accord.tables.rules.next_block` makes of the unblocked
    transactions; its id, or None when none is waiting."""
    with write_transaction(conn):
        last = conn.execute(
            f"SELECT block_id, block_hash FROM {BLOCKS} ORDER BY block_id DESC LIMIT 1"
        ).fetchone()
        rows = conn.execute(
            f"SELECT transaction_id, transaction_hash FROM {TRANSACTIONS} "
            "WHERE block_id IS NULL ORDER BY transaction_id"
        ).fetchall()
        block = next_block(
            None if last is None else (int(last[0]), bytes(last[1])),
            [(int(t), bytes(h)) for t, h in rows],
        )
        if block is None:
            return None
        conn.executemany(
            f"UPDATE {TRANSACTIONS} SET block_id = ? WHERE transaction_id = ?",
            [(block.block_id, txid) for txid in block.transaction_ids],
        )
        conn.execute(
            f"INSERT INTO {BLOCKS} (block_id, transaction_count, root_hash, "
            "previous_block_hash, block_hash) VALUES (?, ?, ?, ?, ?)",
            (block.block_id, len(block.transaction_ids), block.root_hash,
             block.previous_block_hash, block.block_hash),
        )  # fmt: skip
        return block.block_id


def newest_block(conn: sqlite3.Connection) -> StoredBlockHead | None:
    with write_transaction(conn):
        row = conn.execute(
            f"SELECT b.block_id, b.block_hash, (SELECT max(commit_time) FROM {TRANSACTIONS} "
            f"WHERE block_id = b.block_id) FROM {BLOCKS} b ORDER BY b.block_id DESC LIMIT 1"
        ).fetchone()
        database = database_name(conn)
    if row is None:
        return None
    return StoredBlockHead(database, int(row[0]), bytes(row[1]), str(row[2]))
