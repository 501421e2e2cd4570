"""The one interface of a ledger-tables backend, and which backend a database DSN names.

A backend does the I/O of one kind of database (PostgreSQL: :mod:`accord.tables.postgres`;
SQLite: :mod:`accord.tables.sqlite`) and holds no business logic: the checks it applies are
:mod:`accord.tables.rules`, the hashing :mod:`accord.tables.core`, the verdict
:mod:`accord.tables.verify`. The public entry points are :mod:`accord.tables.database`.
"""

from __future__ import annotations

from typing import Protocol

from accord.errors import InvalidRequest
from accord.log.storage import is_postgres_location
from accord.tables.model import Column, LedgerTableInfo, StoredBlockHead
from accord.tables.verify import LedgerSnapshot


class LedgerTablesBackend(Protocol):
    """One database holding ledger tables. Every method is one database transaction."""

    def create_table(self, ddl: str, append_only: bool) -> list[Column]:
        """Create a ledger table from one ``CREATE TABLE`` statement; refuse with nothing
        changed."""
        ...

    def add_column(self, table: str, definition: str) -> Column:
        """Add one nullable column (no default) to a live ledger table and its history."""
        ...

    def drop_table(self, table: str) -> str:
        """Keep the table and its history renamed and read-only; return the new name."""
        ...

    def drop_column(self, table: str, column: str) -> str:
        """Keep the column's values under a reserved name; return that name."""
        ...

    def list_tables(self) -> list[LedgerTableInfo]:
        """Every registered ledger table, live and dropped, by name."""
        ...

    def close_block(self) -> int | None:
        """Put every committed, unblocked transaction into a new block; its id, or None."""
        ...

    def newest_block(self) -> StoredBlockHead | None:
        """The newest block (None before the first), with the database's name for digests."""
        ...

    def read_snapshot(self) -> LedgerSnapshot:
        """Everything the verifier needs, read in one consistent snapshot."""
        ...


def is_postgres_dsn(dsn: str) -> bool:
    """Whether a ``--db`` value names a PostgreSQL database (URL or ``key=value`` DSN).

    The only place in ``accord.tables`` that tells the storage kinds apart; it defers to
    :func:`accord.log.storage.is_postgres_location` for URLs.
    """
    # URL DSNs are the log's rule; libpq's key=value form is accepted by ledger tables only.
    return is_postgres_location(dsn) or ("=" in dsn and not dsn.startswith("sqlite:"))


def is_sqlite_dsn(dsn: str) -> bool:
    return dsn.startswith("sqlite:") or dsn.endswith((".db", ".sqlite", ".sqlite3"))


def backend_for(dsn: str) -> LedgerTablesBackend:
    """The backend of a database DSN: PostgreSQL (``postgresql://…`` or ``key=value``) or SQLite
    (``sqlite:PATH``, or a path ending in ``.db``, ``.sqlite``, ``.sqlite3``)."""
    if is_postgres_dsn(dsn):
        from accord.tables.postgres import PostgresBackend

        return PostgresBackend(dsn)
    if is_sqlite_dsn(dsn):
        from accord.tables.sqlite import SQLiteBackend

        return SQLiteBackend(dsn)
    raise InvalidRequest(
        f"not a database DSN: {dsn!r} (expected postgresql://..., or an SQLite file *.db, "
        "*.sqlite, *.sqlite3 or sqlite:PATH)"
    )
