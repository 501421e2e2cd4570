"""SQLite backend of ledger tables, and the connection wrapper through which they are written.

Modules, one concern each:

* :mod:`.values`: canonical text of stored SQLite values (pure);
* :mod:`.catalog`: accord's bookkeeping tables, opening a file, reading the registry, columns and
  row versions;
* :mod:`.connection`: :func:`connect` → :class:`LedgerConnection`, which captures and hashes
  writes (SQLite has no ``sha256()`` and no deferred triggers);
* :mod:`.schema`: create, add-column, drop-column, drop, list;
* :mod:`.blocks`: closing a block, the newest block;
* :mod:`.snapshot`: the verification snapshot.

:class:`SQLiteBackend` is the :class:`~accord.tables.backend.LedgerTablesBackend` over these.
"""

from __future__ import annotations

from contextlib import closing

from accord.errors import LedgerWriteRefused, NotFound
from accord.tables.model import Column, LedgerTableInfo, StoredBlockHead
from accord.tables.sqlite import blocks, schema
from accord.tables.sqlite.catalog import has_schema, open_database, sqlite_errors
from accord.tables.sqlite.connection import LedgerConnection, connect
from accord.tables.sqlite.snapshot import read_snapshot
from accord.tables.sqlite.values import canonical_text, type_tag_of
from accord.tables.verify import LedgerSnapshot


class SQLiteBackend:
    """Ledger tables in one SQLite file (``sqlite:PATH`` creates it at ``create``)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def create_table(self, ddl: str, append_only: bool) -> list[Column]:
        return schema.create_ledger_table(self.dsn, ddl, append_only)

    def add_column(self, table: str, definition: str) -> Column:
        return schema.add_ledger_column(self.dsn, table, definition)

    def drop_table(self, table: str) -> str:
        return schema.drop_ledger_table(self.dsn, table)

    def drop_column(self, table: str, column: str) -> str:
        return schema.drop_ledger_column(self.dsn, table, column)

    def list_tables(self) -> list[LedgerTableInfo]:
        return schema.list_ledger_tables(self.dsn)

    @sqlite_errors
    def close_block(self) -> int | None:
        with closing(open_database(self.dsn)) as conn:
            if not has_schema(conn):
                raise NotFound("this database has no ledger tables")
            return blocks.close_block(conn)

    @sqlite_errors
    def newest_block(self) -> StoredBlockHead | None:
        with closing(open_database(self.dsn)) as conn:
            if not has_schema(conn):
                raise NotFound("this database has no ledger tables")
            return blocks.newest_block(conn)

    def read_snapshot(self) -> LedgerSnapshot:
        return read_snapshot(self.dsn)


__all__ = [
    "LedgerConnection",
    "LedgerWriteRefused",
    "SQLiteBackend",
    "canonical_text",
    "connect",
    "read_snapshot",
    "type_tag_of",
]
