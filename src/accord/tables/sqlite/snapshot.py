"""Reading an SQLite ledger for verification: one read-only transaction, plain data out."""

# ruff: noqa: S608 -- SQL text here is built only from module constants and identifiers quoted with
# q(); every value is a bound parameter.
from __future__ import annotations

import json
import sqlite3
from contextlib import closing

from accord.errors import InvalidRequest, NotFound, StorageError, TamperingDetected
from accord.tables.sqlite.catalog import (
    BLOCKS,
    BUSY_TIMEOUT,
    DROPPED_COLUMNS,
    TABLES,
    TRANSACTIONS,
    all_tables,
    database_name,
    database_path,
    has_schema,
    open_database,
    read_columns,
    read_versions,
    sqlite_errors,
)
from accord.tables.verify import (
    LedgerSnapshot,
    StoredBlock,
    StoredTransaction,
    check_registry,
)


def _as_bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else b""


def _table_hashes(text: object) -> dict[str, str]:
    try:
        hashes = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        hashes = None
    if not isinstance(hashes, dict):
        return {}
    return {str(k): str(v) for k, v in hashes.items()}


@sqlite_errors
def read_snapshot(dsn: str) -> LedgerSnapshot:
    """Everything the verifier needs, read in one SQLite read transaction."""
    path = database_path(dsn)
    open_database(dsn).close()
    uri = path.resolve().as_uri() + "?mode=ro"
    with closing(
        sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT, isolation_level=None)
    ) as conn:
        conn.execute("BEGIN")
        if not has_schema(conn):
            raise NotFound("this database has no ledger tables")
        try:
            tables = all_tables(conn)
        except InvalidRequest as exc:
            raise StorageError(f"a ledger table's columns changed: {exc}") from exc
        check_registry(TABLES, DROPPED_COLUMNS, tables, None)
        snapshot = LedgerSnapshot(
            database=database_name(conn), tables=sorted(t.hash_name for t in tables)
        )
        for table in tables:
            if table.history is not None:
                history, _ = read_columns(conn, table.history)
                if sorted(c.name for c in history) != sorted(c.name for c in table.columns):
                    raise TamperingDetected(
                        f"{table.history} does not have the columns of {table.relation} "
                        "(changed outside accord?)"
                    )
            snapshot.versions.extend(read_versions(conn, table, None, strict=False))
        for txid, block_id, hashes, tx_hash in conn.execute(
            f"SELECT transaction_id, block_id, table_hashes, transaction_hash "
            f"FROM {TRANSACTIONS} ORDER BY transaction_id"
        ):
            snapshot.transactions.append(
                StoredTransaction(
                    int(txid),
                    block_id if isinstance(block_id, int) else None,
                    _table_hashes(hashes),
                    _as_bytes(tx_hash),
                )
            )
        for row in conn.execute(
            f"SELECT block_id, transaction_count, root_hash, previous_block_hash, "
            f"block_hash FROM {BLOCKS} ORDER BY block_id"
        ):
            snapshot.blocks.append(
                StoredBlock(int(row[0]), int(row[1]), _as_bytes(row[2]), _as_bytes(row[3]),
                            _as_bytes(row[4]))
            )  # fmt: skip
        conn.execute("COMMIT")
        return snapshot
