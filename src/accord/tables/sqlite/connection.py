"""The SQLite connection through which ledger tables are written: :func:`connect`.

SQLite has no ``sha256()`` and no deferred triggers, so writes are captured by accord's own
connection, :class:`LedgerConnection`:

* Statements are not parsed. SQLite's authorizer reports, while it prepares a statement, every
  table and column the statement (and every trigger it would fire) writes; a statement that would
  write something the wrapper cannot capture is refused before it runs (:class:`LedgerWriteRefused`):
  writes to ``<t>_history`` or ``accord_ledger_*``, UPDATE of the ``ledger_*`` columns, UPDATE or
  DELETE of an append-only table, DDL on ledger objects, transaction control (use
  :meth:`LedgerConnection.commit`), ATTACH, and the pragmas that would switch the capture off.
* INSERT/UPDATE/DELETE on a ledger table (including upserts, ``REPLACE`` and writes made by the
  user's own triggers) fire TEMP triggers of the wrapper's connection that stamp row versions with
  the ledger transaction id and sequence number and move old versions to ``<t>_history``.
* :meth:`LedgerConnection.commit` reads back the transaction's row versions, hashes them with
  :mod:`accord.tables.core` and stores the ``accord_ledger_transactions`` row in the same SQLite
  transaction.

What it does not do: capture writes made with plain ``sqlite3`` (or any other SQLite client) that
bypass the wrapper. Append-only tables refuse UPDATE/DELETE from any client (permanent
``RAISE(ABORT)`` triggers), and every table refuses an INSERT that sets the ``ledger_*`` columns;
other bypassing writes are not prevented, and verification reports them.
"""

# ruff: noqa: S608 -- SQL text here is built only from module constants and identifiers quoted with
# q() (table names are checked by ddl.TABLE_NAME); every value is a bound parameter.
from __future__ import annotations

import getpass
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from os import PathLike
from types import TracebackType
from typing import Any

from accord.core.canonical import canonicalize
from accord.errors import LedgerWriteRefused, StorageError
from accord.tables import core
from accord.tables.model import LEDGER_COLUMNS, TableSpec
from accord.tables.rules import timestamp
from accord.tables.sqlite.catalog import (
    BLOCKS,
    BUSY_TIMEOUT,
    DROPPED_COLUMNS,
    PREFIX,
    STATE,
    TABLES,
    TRANSACTIONS,
    all_tables,
    database_path,
    has_schema,
    live_tables,
    open_database,
    q,
    read_versions,
)

_REFUSED_PRAGMAS = frozenset({"recursive_triggers", "writable_schema", "schema_version"})


def _trigger_names(table: TableSpec) -> list[str]:
    names = [f"{PREFIX}capture_{table.name}_insert"]
    if not table.append_only:
        names += [f"{PREFIX}capture_{table.name}_update", f"{PREFIX}capture_{table.name}_delete"]
    return names


def _capture_triggers(table: TableSpec) -> list[str]:
    """TEMP triggers of a wrapper connection: stamp versions and move old ones to history."""
    t, history = q(table.relation), q(table.history or "")
    name = table.name.replace("'", "''")
    stamp = (
        f"UPDATE {t} SET ledger_start_transaction_id = {PREFIX}txid(), "
        f"ledger_start_sequence_number = {PREFIX}seq('{name}'), "
        "ledger_end_transaction_id = NULL, ledger_end_sequence_number = NULL "
        "WHERE rowid = NEW.rowid;"
    )
    insert_name, *others = _trigger_names(table)
    statements = [f"CREATE TEMP TRIGGER {insert_name} AFTER INSERT ON main.{t} BEGIN {stamp} END"]
    if table.append_only:
        return statements
    user = [q(c.name) for c in table.columns]
    to_history = (
        f"INSERT INTO {history} ({', '.join([*user, *LEDGER_COLUMNS])}) VALUES ("
        + ", ".join(f"OLD.{c}" for c in user)
        + f", OLD.ledger_start_transaction_id, {PREFIX}txid(), "
        f"OLD.ledger_start_sequence_number, {PREFIX}seq('{name}'));"
    )
    update_name, delete_name = others
    # UPDATE OF the user columns only: the stamping UPDATE (ledger columns) does not re-fire it.
    statements.append(
        f"CREATE TEMP TRIGGER {update_name} AFTER UPDATE OF {', '.join(user)} ON main.{t} "
        f"BEGIN {to_history} {stamp} END"
    )
    statements.append(
        f"CREATE TEMP TRIGGER {delete_name} AFTER DELETE ON main.{t} BEGIN {to_history} END"
    )
    return statements


class LedgerConnection:
    """An SQLite connection whose writes to ledger tables are captured and hashed at commit.

    Every ``execute`` runs inside a transaction that the wrapper opens with ``BEGIN IMMEDIATE``
    (SQLite then serializes writers; others wait up to the busy timeout). ``commit`` hashes the
    transaction's row versions and commits; ``rollback`` discards. Used as a context manager it
    commits on success, rolls back on an exception, and closes. One thread per connection.
    """

    def __init__(self, conn: sqlite3.Connection, principal: str) -> None:
        self._conn = conn
        self._principal = principal
        self._internal = False
        self._tables: dict[str, TableSpec] = {}
        self._protected: dict[str, TableSpec | None] = {}
        self._dropped: set[str] = set()
        self._our_triggers: frozenset[str] = frozenset()
        self._schema_version: int | None = None
        self._txid: int | None = None
        self._sequence = 0
        self._touched: set[str] = set()
        self._refusal: str | None = None
        conn.create_function(f"{PREFIX}txid", 0, self._current_txid)
        conn.create_function(f"{PREFIX}seq", 1, self._next_sequence)
        conn.set_authorizer(self._authorize)
        with self._internal_mode():
            # REPLACE deletes rows without firing DELETE triggers unless this is on.
            conn.execute("PRAGMA recursive_triggers = ON")

    # -- SQLite callbacks --
    def _current_txid(self) -> int:
        if self._txid is None or not self._conn.in_transaction:
            raise StorageError("ledger write outside a transaction of the accord wrapper")
        return self._txid

    def _next_sequence(self, table: str) -> int:
        self._current_txid()
        self._touched.add(table)
        self._sequence += 1
        return self._sequence - 1

    def _authorize(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, source: str | None
    ) -> int:
        if self._internal:
            return sqlite3.SQLITE_OK
        reason = self._refuse(action, arg1, arg2, db, source)
        if reason is None:
            return sqlite3.SQLITE_OK
        self._refusal = self._refusal or reason
        return sqlite3.SQLITE_DENY

    def _refuse(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, source: str | None
    ) -> str | None:
        ours = source is not None and source.lower() in self._our_triggers
        name = (arg1 or "").lower()
        if action in (sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE):
            if name not in self._protected:
                return None
            if db != "main":
                return f"{arg1} in database {db} shadows a ledger object"
            table = self._protected[name]
            if name in self._dropped:
                return f"{arg1} is a dropped ledger table, kept read-only for verification"
            if table is None or name != table.name:  # history, view or accord_ledger_* table
                return (
                    None
                    if ours and action == sqlite3.SQLITE_INSERT
                    else (f"{arg1} is written only by accord's ledger capture")
                )
            if action == sqlite3.SQLITE_UPDATE and (arg2 or "").lower() in LEDGER_COLUMNS:
                return None if ours else f"the {arg2} column of {arg1} is set only by accord"
            if table.append_only and action != sqlite3.SQLITE_INSERT:
                verb = "UPDATE" if action == sqlite3.SQLITE_UPDATE else "DELETE"
                return f"ledger table {table.name} is append-only: {verb} is not allowed"
            return None
        if action in (sqlite3.SQLITE_DROP_TABLE, sqlite3.SQLITE_DROP_VIEW,
                      sqlite3.SQLITE_CREATE_TEMP_TABLE, sqlite3.SQLITE_CREATE_TEMP_VIEW,
                      sqlite3.SQLITE_DROP_TEMP_TABLE, sqlite3.SQLITE_DROP_TEMP_VIEW):  # fmt: skip
            return f"{arg1} is a ledger object" if name in self._protected else None
        if action == sqlite3.SQLITE_ALTER_TABLE:
            if (arg2 or "").lower() in self._protected:
                return (
                    f"{arg2} is a ledger object (use `accord tables add-column`, `drop-column` "
                    "or `drop`)"
                )
            return None
        if action in (sqlite3.SQLITE_CREATE_TRIGGER, sqlite3.SQLITE_CREATE_TEMP_TRIGGER,
                      sqlite3.SQLITE_DROP_TRIGGER, sqlite3.SQLITE_DROP_TEMP_TRIGGER):  # fmt: skip
            return f"trigger {arg1} is accord's" if name.startswith(PREFIX) else None
        if action in (sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT):
            return "transactions are managed by the wrapper: use commit() and rollback()"
        if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
            return "ATTACH/DETACH would let writes bypass the ledger capture"
        if action == sqlite3.SQLITE_PRAGMA and name in _REFUSED_PRAGMAS and arg2 is not None:
            return f"PRAGMA {arg1} would switch off the ledger capture"
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower().startswith(PREFIX):
            return None if ours else f"{arg2}() is accord's"
        return None

    # -- transactions --
    def _internal_mode(self) -> _InternalMode:
        return _InternalMode(self)

    def _begin(self) -> None:
        if self._conn.in_transaction:
            return
        with self._internal_mode():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                version = self._conn.execute("PRAGMA schema_version").fetchone()[0]
                if version != self._schema_version:
                    self._install_capture()
                    self._schema_version = version
                self._txid = None
                if has_schema(self._conn):
                    row = self._conn.execute(
                        f"SELECT next_transaction_id FROM {STATE} WHERE id = 1"
                    ).fetchone()
                    self._txid = int(row[0]) if row else None
                self._sequence = 0
                self._touched = set()
            except BaseException:
                self._conn.execute("ROLLBACK")
                self._schema_version = None
                raise

    def _install_capture(self) -> None:
        self._tables = live_tables(self._conn)
        self._dropped = set()
        protected: dict[str, TableSpec | None] = {
            n: None for n in (TABLES, TRANSACTIONS, BLOCKS, STATE, DROPPED_COLUMNS)
        }
        for table in all_tables(self._conn):
            if table.dropped:
                self._dropped.update(
                    n.lower() for n in (table.relation, table.history) if n is not None
                )
                for name in (table.relation, table.history):
                    if name is not None:
                        protected[name.lower()] = None
                continue
            for name in (table.name, f"{table.name}_history", f"{table.name}_ledger"):
                protected[name] = table
        self._protected = protected
        old = self._conn.execute(
            "SELECT name FROM sqlite_temp_master WHERE type = 'trigger' AND name LIKE ?",
            (f"{PREFIX}%",),
        ).fetchall()
        for (name,) in old:
            self._conn.execute(f"DROP TRIGGER temp.{q(name)}")
        ours = []
        for table in self._tables.values():
            for statement in _capture_triggers(table):
                self._conn.execute(statement)
            ours += _trigger_names(table)
        self._our_triggers = frozenset(n.lower() for n in ours)

    def _run(self, method: str, sql: str, params: Any) -> sqlite3.Cursor:
        self._begin()
        self._refusal = None
        try:
            cursor: sqlite3.Cursor = getattr(self._conn, method)(sql, params)
        except sqlite3.DatabaseError as exc:
            if self._refusal is not None:
                raise LedgerWriteRefused(f"refused: {self._refusal}") from exc
            if isinstance(exc, sqlite3.IntegrityError) and str(exc).startswith("ledger table "):
                raise LedgerWriteRefused(f"refused: {exc}") from exc  # a guard trigger
            raise
        return cursor

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        """Run one statement in the current transaction (opened if needed)."""
        return self._run("execute", sql, params)

    def executemany(
        self, sql: str, seq_of_params: Iterable[Sequence[Any] | dict[str, Any]]
    ) -> sqlite3.Cursor:
        return self._run("executemany", sql, seq_of_params)

    def commit(self) -> None:
        """Hash the transaction's ledger changes, record them, and commit, atomically."""
        if not self._conn.in_transaction:
            return
        try:
            with self._internal_mode():
                self._record_transaction()
                self._conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise
        finally:
            self._txid = None

    def _record_transaction(self) -> None:
        if not self._touched or self._txid is None:
            return
        txid = self._txid
        roots: dict[str, bytes] = {}
        for name in sorted(self._touched, key=str.encode):
            table = self._tables[name]
            versions = sorted(
                read_versions(self._conn, table, txid, strict=True),
                key=lambda v: v.sequence or 0,
            )
            if versions:
                roots[table.hash_name] = core.table_root(
                    [core.version_hash(table.hash_name, v.operation, txid, v.sequence or 0,
                                       v.text)
                     for v in versions]
                )  # fmt: skip
        if not roots:
            return
        self._conn.execute(
            f"INSERT INTO {TRANSACTIONS} (transaction_id, block_id, commit_time, principal, "
            "table_hashes, transaction_hash) VALUES (?, NULL, ?, ?, ?, ?)",
            (
                txid,
                timestamp(datetime.now(UTC)),
                self._principal,
                canonicalize({t: r.hex() for t, r in roots.items()}).decode(),
                core.transaction_hash(txid, roots),
            ),
        )
        self._conn.execute(
            f"UPDATE {STATE} SET next_transaction_id = ? WHERE id = 1",
            (txid + 1,),
        )

    def rollback(self) -> None:
        self._txid = None
        if self._conn.in_transaction:
            with self._internal_mode():
                self._conn.execute("ROLLBACK")
        self._schema_version = None  # TEMP triggers made in the transaction are gone too

    def close(self) -> None:
        self.rollback()
        self._conn.close()

    def __enter__(self) -> LedgerConnection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.commit()
        finally:
            self.close()


class _InternalMode:
    """While active, the authorizer lets accord's own statements through."""

    def __init__(self, owner: LedgerConnection) -> None:
        self._owner = owner
        self._previous = False

    def __enter__(self) -> None:
        self._previous = self._owner._internal
        self._owner._internal = True

    def __exit__(self, *exc: object) -> None:
        self._owner._internal = self._previous


def connect(path: str | PathLike[str], principal: str | None = None) -> LedgerConnection:
    """Open an existing SQLite database for writing through the ledger capture."""
    conn = open_database(path)
    conn.close()
    # No statement cache: every statement is prepared, and so authorized, in its own context.
    raw = sqlite3.connect(
        database_path(path), timeout=BUSY_TIMEOUT, isolation_level=None, cached_statements=0
    )
    if principal is None:
        try:
            principal = getpass.getuser()
        except (KeyError, OSError):
            principal = "unknown"
    return LedgerConnection(raw, principal)
