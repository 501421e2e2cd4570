"""Ledger tables in a user's database: the public entry points.

Each takes a database DSN (see :func:`accord.tables.backend.backend_for`) and runs on that
database's :class:`~accord.tables.backend.LedgerTablesBackend`. Digests and verification are
decided here and in :mod:`accord.tables.verify`, never in a backend.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from accord.errors import NotFound
from accord.tables import core
from accord.tables.backend import backend_for
from accord.tables.model import Column, LedgerTableInfo
from accord.tables.rules import timestamp
from accord.tables.verify import VerificationReport, verify_snapshot


def create_ledger_table(dsn: str, ddl: str, append_only: bool = False) -> list[Column]:
    """Create a ledger table from one ``CREATE TABLE name (...)`` statement.

    Refuses (``InvalidRequest``, nothing changed) several statements, other DDL, unsupported
    column types, an existing name, columns named ``ledger_*`` and an unreachable database.
    """
    return backend_for(dsn).create_table(ddl, append_only)


def add_ledger_column(dsn: str, table: str, definition: str) -> Column:
    """Add one nullable column without default; existing hashes stay valid."""
    return backend_for(dsn).add_column(table, definition)


def drop_ledger_table(dsn: str, table: str) -> str:
    """Drop a ledger table, keeping it and its history renamed, read-only and still verified.

    Returns the new name. A new table of the old name can be created afterwards.
    """
    return backend_for(dsn).drop_table(table)


def drop_ledger_column(dsn: str, table: str, column: str) -> str:
    """Drop a column, keeping its data under a reserved ``ledger_dropped_*`` name (returned)."""
    return backend_for(dsn).drop_column(table, column)


def list_ledger_tables(dsn: str) -> list[LedgerTableInfo]:
    return backend_for(dsn).list_tables()


def close_block(dsn: str) -> int | None:
    """Assign every committed unblocked transaction to a new block; its id, or None."""
    return backend_for(dsn).close_block()


def generate_digest(dsn: str, clock: Callable[[], float] = time.time) -> core.DatabaseDigest:
    """Close a block if transactions are waiting and return the digest of the newest block."""
    now = datetime.fromtimestamp(clock(), UTC)
    backend = backend_for(dsn)
    backend.close_block()
    head = backend.newest_block()
    if head is None:
        raise NotFound("no ledger transaction has been committed yet: nothing to digest")
    return core.DatabaseDigest(
        database=head.database,
        block_id=head.block_id,
        block_hash=head.block_hash,
        last_commit_time=head.last_commit_time,
        digest_time=timestamp(now),
    )


def verify_database(dsn: str, digests: Sequence[core.DatabaseDigest] = ()) -> VerificationReport:
    """Recompute every hash of the database's ledger; raise ``TamperingDetected`` naming every
    inconsistency found (the first one first), including a block whose hash differs from an
    anchored digest."""
    return verify_snapshot(backend_for(dsn).read_snapshot(), digests)
