"""Ledger tables in a user's database: the public entry points, one per backend.

``create_ledger_table``, ``close_block``, ``generate_digest`` and ``verify_database`` take a
database DSN and dispatch to its backend: PostgreSQL (``postgresql://`` or ``key=value`` DSNs,
:mod:`accord.tables.postgres`) or SQLite (``sqlite:PATH``, or a path ending in ``.db``,
``.sqlite``, ``.sqlite3``: :mod:`accord.tables.sqlite`, whose writes go through its connection
wrapper). Each backend provides the same functions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from accord.errors import InvalidRequest
from accord.tables import core
from accord.tables.postgres_sql import Column
from accord.tables.verify import VerificationReport, verify_snapshot


def _backend(dsn: str) -> ModuleType:
    """The backend module for a DSN. Backends hold no business logic, only I/O."""
    if dsn.startswith("sqlite:"):
        from accord.tables import sqlite

        return sqlite
    if dsn.startswith(("postgresql://", "postgres://")) or "=" in dsn:
        from accord.tables import postgres

        return postgres
    if dsn.endswith((".db", ".sqlite", ".sqlite3")):
        from accord.tables import sqlite

        return sqlite
    raise InvalidRequest(
        f"not a database DSN: {dsn!r} (expected postgresql://..., or an SQLite file *.db, "
        "*.sqlite, *.sqlite3 or sqlite:PATH)"
    )


def create_ledger_table(dsn: str, ddl: str, append_only: bool = False) -> list[Column]:
    """Create a ledger table from one ``CREATE TABLE name (...)`` statement.

    Refuses (``InvalidRequest``, nothing changed) several statements, other DDL, unsupported
    column types, an existing name, columns named ``ledger_*`` and an unreachable database.
    """
    columns: list[Column] = _backend(dsn).create_ledger_table(dsn, ddl, append_only)
    return columns


def add_ledger_column(dsn: str, table: str, definition: str) -> Column:
    """Add one nullable column without default; existing hashes stay valid."""
    column: Column = _backend(dsn).add_ledger_column(dsn, table, definition)
    return column


def drop_ledger_table(dsn: str, table: str) -> str:
    """Drop a ledger table, keeping it and its history renamed, read-only and still verified.

    Returns the new name. A new table of the old name can be created afterwards.
    """
    relation: str = _backend(dsn).drop_ledger_table(dsn, table)
    return relation


def drop_ledger_column(dsn: str, table: str, column: str) -> str:
    """Drop a column, keeping its data under a reserved ``ledger_dropped_*`` name (returned)."""
    renamed: str = _backend(dsn).drop_ledger_column(dsn, table, column)
    return renamed


def list_ledger_tables(dsn: str) -> list[dict[str, Any]]:
    tables: list[dict[str, Any]] = _backend(dsn).list_ledger_tables(dsn)
    return tables


def close_block(dsn: str) -> int | None:
    """Assign every committed unblocked transaction to a new block; its id, or None."""
    block: int | None = _backend(dsn).close_block(dsn)
    return block


def generate_digest(dsn: str, clock: Callable[[], float] = time.time) -> core.DatabaseDigest:
    """Close a block if needed and return the digest of the newest block."""
    now = datetime.fromtimestamp(clock(), UTC)
    digest: core.DatabaseDigest = _backend(dsn).generate_digest(dsn, now)
    return digest


def verify_database(dsn: str, digests: Sequence[core.DatabaseDigest] = ()) -> VerificationReport:
    """Recompute every hash of the database's ledger; raise ``TamperingDetected`` on the first
    inconsistency, including a block whose hash differs from an anchored digest."""
    snapshot = _backend(dsn).read_snapshot(dsn)
    return verify_snapshot(snapshot, digests)
