"""SQLite backend of ledger tables, and the connection wrapper through which they are written.

SQLite has no ``sha256()`` and no deferred triggers, so writes are captured by accord's own
connection, :func:`connect` → :class:`LedgerConnection`:

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
other bypassing writes are not prevented, and :func:`verify_database` reports them.

Canonical text of stored values (the ``accord.row.v1`` value field) by column type tag, from the
column's declared type at create time: ``int`` (INTEGER, INT, BIGINT) an INTEGER as decimal;
``float`` (REAL, FLOAT, DOUBLE [PRECISION]) a REAL as Python ``repr`` (shortest round-trip digits);
``text`` (TEXT, VARCHAR, CHAR) the string; ``bytea`` (BLOB) lower-case hex; ``numeric`` (NUMERIC,
DECIMAL; SQLite's NUMERIC affinity) an INTEGER as decimal, a REAL as ``repr``, a TEXT as stored;
``bool`` (BOOLEAN) 0/1 as ``false``/``true``; ``date`` (DATE) TEXT ``YYYY-MM-DD``. A value of
another storage class is refused at commit and reported as tampering by the verifier.
"""

# ruff: noqa: S608 -- SQL text here is built only from module constants and identifiers quoted with
# _q() (table names are checked by ddl.TABLE_NAME); every value is a bound parameter.
from __future__ import annotations

import functools
import getpass
import json
import re
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, cast

from accord.core.canonical import canonicalize
from accord.errors import InvalidRequest, NotFound, StorageError, TamperingDetected
from accord.tables import core
from accord.tables.ddl import (
    LEDGER_COLUMN_PREFIX,
    Token,
    check_column_definition,
    dropped_column_name,
    dropped_names,
    parse_create_table,
    tokenize,
)
from accord.tables.postgres_sql import Column
from accord.tables.verify import (
    LedgerSnapshot,
    RowVersion,
    StoredBlock,
    StoredTransaction,
    check_registry,
)

PREFIX = "accord_ledger_"
TABLES = f"{PREFIX}tables"
TRANSACTIONS = f"{PREFIX}transactions"
BLOCKS = f"{PREFIX}blocks"
STATE = f"{PREFIX}state"
DROPPED_COLUMNS = f"{PREFIX}dropped_columns"
LEDGER_COLUMNS = (
    "ledger_start_transaction_id",
    "ledger_end_transaction_id",
    "ledger_start_sequence_number",
    "ledger_end_sequence_number",
)
BUSY_TIMEOUT = 30.0

#: Declared SQLite type (upper case, arguments such as ``(12,2)`` removed) → accord type tag.
TYPE_TAGS = {
    "INTEGER": "int",
    "INT": "int",
    "BIGINT": "int",
    "REAL": "float",
    "FLOAT": "float",
    "DOUBLE": "float",
    "DOUBLE PRECISION": "float",
    "TEXT": "text",
    "VARCHAR": "text",
    "CHAR": "text",
    "BLOB": "bytea",
    "NUMERIC": "numeric",
    "DECIMAL": "numeric",
    "BOOLEAN": "bool",
    "DATE": "date",
}
_ROWID_NAMES = frozenset({"rowid", "_rowid_", "oid"})
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_REFUSED_PRAGMAS = frozenset({"recursive_triggers", "writable_schema", "schema_version"})

SHARED_OBJECTS = f"""
CREATE TABLE IF NOT EXISTS {TABLES} (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    hash_name TEXT NOT NULL UNIQUE,
    relation TEXT NOT NULL UNIQUE,
    history TEXT UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('updatable', 'append_only')),
    created TEXT NOT NULL,
    dropped TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS {PREFIX}tables_live_name ON {TABLES} (name)
    WHERE dropped IS NULL;
CREATE TABLE IF NOT EXISTS {DROPPED_COLUMNS} (
    table_id INTEGER NOT NULL REFERENCES {TABLES} (id),
    relation_column TEXT NOT NULL,
    name TEXT NOT NULL,
    dropped TEXT NOT NULL,
    PRIMARY KEY (table_id, relation_column),
    UNIQUE (table_id, name)
);
CREATE TABLE IF NOT EXISTS {TRANSACTIONS} (
    transaction_id INTEGER PRIMARY KEY,
    block_id INTEGER,
    commit_time TEXT NOT NULL,
    principal TEXT NOT NULL,
    table_hashes TEXT NOT NULL,
    transaction_hash BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS {PREFIX}transactions_block ON {TRANSACTIONS} (block_id);
CREATE TABLE IF NOT EXISTS {BLOCKS} (
    block_id INTEGER PRIMARY KEY,
    transaction_count INTEGER NOT NULL,
    root_hash BLOB NOT NULL,
    previous_block_hash BLOB NOT NULL,
    block_hash BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS {STATE} (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    database TEXT NOT NULL,
    next_transaction_id INTEGER NOT NULL
);
"""


class LedgerWriteRefused(InvalidRequest):
    """A statement would change a ledger table in a way the wrapper cannot capture."""


class _UnfitValue(Exception):
    pass


# --- canonical text and columns (pure) -------------------------------------------------------
def canonical_text(type_tag: str, value: object) -> str | None:
    """Canonical text of one stored SQLite value of a column with this type tag; None for NULL."""
    if value is None:
        return None
    if type_tag == "int" and isinstance(value, int):
        return str(value)
    if type_tag == "float" and isinstance(value, float):
        return repr(value)
    if type_tag == "text" and isinstance(value, str):
        return value
    if type_tag == "bytea" and isinstance(value, bytes):
        return value.hex()
    if type_tag == "numeric" and isinstance(value, int | float | str):
        return repr(value) if isinstance(value, float) else str(value)
    if type_tag == "bool" and isinstance(value, int) and value in (0, 1):
        return "true" if value else "false"
    if type_tag == "date" and isinstance(value, str) and _DATE.fullmatch(value):
        try:
            date.fromisoformat(value)
        except ValueError:
            pass
        else:
            return value
    kind = {int: "INTEGER", float: "REAL", str: "TEXT", bytes: "BLOB"}.get(type(value), "?")
    raise _UnfitValue(f"a {kind} value {value!r:.40} does not fit type {type_tag}")


def type_tag_of(declared: str) -> str | None:
    """The type tag of a declared SQLite column type, or None when ledger tables refuse it."""
    base = re.sub(r"\(.*\)", "", declared).split()
    return TYPE_TAGS.get(" ".join(base).upper())


def _q(name: str) -> str:
    """Quote an identifier for SQLite."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class _Table:
    id: int
    name: str
    """The table's name for users (the name it was created with)."""
    hash_name: str
    """The name in every hash: ``name``, or ``name#<id>`` when an earlier table of that name was
    dropped."""
    relation: str
    history: str | None
    kind: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    dropped: bool = False

    @property
    def append_only(self) -> bool:
        return self.kind == "append_only"

    def live_columns(self) -> list[Column]:
        return [c for c in self.columns if c.hash_name is None]


def _columns(
    conn: sqlite3.Connection, table: str, renamed: dict[str, str] | None = None
) -> tuple[list[Column], list[str]]:
    """User columns (refusing unsupported ones) and primary-key columns of a table.

    ``renamed`` maps the current name of a dropped column to the name its hashes use.
    """
    renamed = renamed or {}
    columns: list[Column] = []
    key: list[tuple[int, str]] = []
    for _cid, name, declared, _notnull, _default, pk, hidden in conn.execute(
        f"PRAGMA table_xinfo({_q(table)})"
    ):
        if name in LEDGER_COLUMNS:
            continue
        if hidden:
            raise InvalidRequest(f"column {name!r}: generated columns are not supported")
        tag = type_tag_of(declared or "")
        if tag is None:
            raise InvalidRequest(
                f"column {name!r} has type {declared or '(none)'!r}, which ledger tables do not "
                f"support (supported: {', '.join(TYPE_TAGS)}; see docs/tables.md)"
            )
        columns.append(Column(name, tag, declared, renamed.get(name)))
        if pk:
            key.append((pk, name))
    return columns, [name for _, name in sorted(key)]


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _fold(name: str) -> str:
    """SQLite compares identifiers case-insensitively for ASCII letters only."""
    return name.translate(_ASCII_LOWER)


def _column_users(conn: sqlite3.Connection, table: str, column: str) -> list[str]:
    """Indexes, CHECK constraints and foreign keys of ``table`` that involve ``column``."""
    target = _fold(column)
    users = []
    for _seq, index, *_rest in conn.execute(f"PRAGMA index_list({_q(table)})").fetchall():
        names = [r[2] for r in conn.execute(f"PRAGMA index_xinfo({_q(index)})") if r[1] >= -1]
        row = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (index,)).fetchone()
        words = _identifiers(row[0]) if row and row[0] else set()
        if target in {_fold(n) for n in names if n} or target in words:
            users.append(f"index {index}")
    for fk in conn.execute(f"PRAGMA foreign_key_list({_q(table)})").fetchall():
        if _fold(str(fk[3])) == target:
            users.append(f"a foreign key to {fk[2]}")
    row = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()
    tokens = tokenize(row[0]) if row and row[0] else []
    for i, token in enumerate(tokens):
        if token.kind == "word" and token.text.lower() == "check":
            depth, j, inside = 0, i + 1, set()
            while j < len(tokens):
                t = tokens[j]
                if t == Token("punct", "("):
                    depth += 1
                elif t == Token("punct", ")"):
                    depth -= 1
                    if depth == 0:
                        break
                elif t.kind in ("word", "ident"):
                    inside.add(_fold(t.text))
                j += 1
            if target in inside:
                users.append("a CHECK constraint")
    return users


def _identifiers(statement: str) -> set[str]:
    return {_fold(t.text) for t in tokenize(statement) if t.kind in ("word", "ident")}


def _check_user_columns(columns: Iterable[Column]) -> None:
    for column in columns:
        if column.name.lower().startswith(LEDGER_COLUMN_PREFIX):
            raise InvalidRequest(
                f"column {column.name!r}: names starting with {LEDGER_COLUMN_PREFIX!r} are "
                "reserved for the ledger columns"
            )
        if column.name.lower() in _ROWID_NAMES:
            raise InvalidRequest(f"column {column.name!r}: would hide SQLite's rowid")
        if "\x00" in column.name:
            raise InvalidRequest("column names may not contain NUL")


# --- opening databases -----------------------------------------------------------------------
def database_path(dsn: str | PathLike[str]) -> Path:
    text = str(dsn)
    for prefix in ("sqlite://", "sqlite:"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    return Path(text)


def _open(dsn: str | PathLike[str], *, create: bool = False) -> sqlite3.Connection:
    """A plain connection in autocommit mode; the file must exist unless creating is allowed."""
    path = database_path(dsn)
    if not path.parent.is_dir():
        raise InvalidRequest(f"SQLite database {path}: directory {path.parent} does not exist")
    if not path.exists() and not create:
        raise InvalidRequest(
            f"SQLite database file {path} does not exist (to create a new database file with "
            f"`tables create`, write --db sqlite:{path})"
        )
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
        conn.execute("PRAGMA user_version").fetchone()  # fails fast on a non-database file
    except sqlite3.Error as exc:
        raise InvalidRequest(f"cannot open SQLite database {path}: {exc}") from exc
    return conn


def _has_schema(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN (?, ?, ?, ?, ?)",
        (TABLES, TRANSACTIONS, BLOCKS, STATE, DROPPED_COLUMNS),
    ).fetchone()
    return bool(row and row[0] == 5)


def _all_tables(conn: sqlite3.Connection) -> list[_Table]:
    """Every registered ledger table, live and dropped, in registration order."""
    if not _has_schema(conn):
        return []
    renamed: dict[int, dict[str, str]] = {}
    for table_id, relation_column, name in conn.execute(
        f"SELECT table_id, relation_column, name FROM {DROPPED_COLUMNS}"
    ):
        renamed.setdefault(int(table_id), {})[str(relation_column)] = str(name)
    tables = []
    for table_id, name, hash_name, relation, history, kind, dropped in conn.execute(
        f"SELECT id, name, hash_name, relation, history, kind, dropped IS NOT NULL FROM {TABLES} "
        "ORDER BY id"
    ).fetchall():
        columns, key = _columns(conn, str(relation), renamed.get(int(table_id)))
        tables.append(
            _Table(int(table_id), str(name), str(hash_name), str(relation), history, str(kind),
                   tuple(columns), tuple(key), bool(dropped))
        )  # fmt: skip
    return tables


def _load_tables(conn: sqlite3.Connection) -> dict[str, _Table]:
    """The live ledger tables by name."""
    return {t.name: t for t in _all_tables(conn) if not t.dropped}


# --- reading row versions (shared by commit and verification) --------------------------------
def _read_versions(
    conn: sqlite3.Connection, table: _Table, txid: int | None, strict: bool
) -> Iterator[RowVersion]:
    """Row versions of a table (of one transaction when ``txid`` is given), with canonical text.

    ``strict``: a value that does not fit its column raises ``InvalidRequest`` (at commit) rather
    than ``TamperingDetected`` (verification).
    """
    names = [c.name for c in table.columns]
    select = ", ".join([*(_q(n) for n in names), *LEDGER_COLUMNS])
    sources = [(table.relation, False)]
    if table.history is not None:
        sources.append((table.history, True))
    for source, is_history in sources:
        query = f"SELECT {select} FROM {_q(source)}"
        params: tuple[int, ...] = ()
        if txid is not None:
            query += " WHERE ledger_start_transaction_id = ?"
            params = (txid,)
            if is_history:
                query += " OR ledger_end_transaction_id = ?"
                params = (txid, txid)
        for record in conn.execute(query, params):
            values = record[: len(names)]
            start_tx, end_tx, start_seq, end_seq = (
                v if isinstance(v, int) else None for v in record[len(names) :]
            )
            by_name = dict(zip(names, values, strict=True))
            if table.key:
                label = ", ".join(f"{k}={by_name.get(k)}" for k in table.key)
            else:
                label = f"ledger_start_transaction_id={start_tx}, sequence={start_seq}"
            where = f"{source} row {label}"
            try:
                text = core.row_text(
                    (c.key, c.type_tag, canonical_text(c.type_tag, v))
                    for c, v in zip(table.columns, values, strict=True)
                )
            except _UnfitValue as exc:
                if strict:
                    raise InvalidRequest(f"table {table.name}: {where}: {exc}") from None
                raise TamperingDetected(
                    f"table {table.name}: {where}: {exc} (written bypassing the accord "
                    "connection wrapper?)"
                ) from None
            if txid is None or start_tx == txid:
                yield RowVersion(table.hash_name, core.INSERT, start_tx, start_seq, text, where)
            if is_history and (txid is None or end_tx == txid):
                yield RowVersion(table.hash_name, core.DELETE, end_tx, end_seq, text, where)
            elif not is_history and (end_tx is not None or end_seq is not None):
                yield RowVersion(
                    table.hash_name, core.DELETE, None, None, text, where + " (ended in place)"
                )


# --- the connection wrapper ------------------------------------------------------------------
def _trigger_names(table: _Table) -> list[str]:
    names = [f"{PREFIX}capture_{table.name}_insert"]
    if not table.append_only:
        names += [f"{PREFIX}capture_{table.name}_update", f"{PREFIX}capture_{table.name}_delete"]
    return names


def _capture_triggers(table: _Table) -> list[str]:
    """TEMP triggers of a wrapper connection: stamp versions and move old ones to history."""
    t, history = _q(table.relation), _q(table.history or "")
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
    user = [_q(c.name) for c in table.columns]
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
        self._tables: dict[str, _Table] = {}
        self._protected: dict[str, _Table | None] = {}
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
                if _has_schema(self._conn):
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
        self._tables = _load_tables(self._conn)
        self._dropped = set()
        protected: dict[str, _Table | None] = {
            n: None for n in (TABLES, TRANSACTIONS, BLOCKS, STATE, DROPPED_COLUMNS)
        }
        for table in _all_tables(self._conn):
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
            self._conn.execute(f"DROP TRIGGER temp.{_q(name)}")
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
                _read_versions(self._conn, table, txid, strict=True),
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
                _timestamp(datetime.now(UTC)),
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
    conn = _open(path)
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


# --- creating ledger tables ------------------------------------------------------------------
def _install_shared_objects(conn: sqlite3.Connection, path: Path) -> None:
    for statement in SHARED_OBJECTS.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(
        f"INSERT OR IGNORE INTO {STATE} (id, database, next_transaction_id) VALUES (1, ?, 1)",
        (f"{path.name}#{secrets.token_hex(6)}",),
    )


def _try_in_scratch(ddl: str, name: str) -> list[Column]:
    with closing(sqlite3.connect(":memory:")) as scratch:
        try:
            scratch.execute(ddl)
        except sqlite3.Error as exc:
            raise InvalidRequest(f"SQLite refused the DDL: {exc}") from exc
        created = scratch.execute(
            "SELECT type, name FROM sqlite_master WHERE type <> 'index'"
        ).fetchall()
        if created != [("table", name)]:
            raise InvalidRequest(f"the DDL must create exactly one ordinary table named {name!r}")
        columns, _ = _columns(scratch, name)
    _check_user_columns(columns)
    return columns


def _relation_exists(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE lower(name) = lower(?)", (name,)
    ).fetchone()
    return row is not None


def _view_sql(view: str, relation: str, history_name: str | None, columns: Sequence[Column]) -> str:
    """The ledger view: every version of the columns applications see (dropped ones left out)."""
    prefix = "".join(f"{_q(c.name)}, " for c in columns if c.hash_name is None)
    parts = [
        f"SELECT {prefix}ledger_start_transaction_id AS ledger_transaction_id, "
        "ledger_start_sequence_number AS ledger_sequence_number, "
        f"'INSERT' AS ledger_operation_type_desc FROM {_q(relation)}"
    ]
    if history_name is not None:
        history = _q(history_name)
        parts.append(
            f"SELECT {prefix}ledger_start_transaction_id, ledger_start_sequence_number, "
            f"'INSERT' FROM {history}"
        )
        parts.append(
            f"SELECT {prefix}ledger_end_transaction_id, ledger_end_sequence_number, 'DELETE' "
            f"FROM {history}"
        )
    return f"CREATE VIEW {_q(view)} AS " + " UNION ALL ".join(parts)


def _guard_triggers(table: str, append_only: bool) -> list[str]:
    """Permanent triggers, effective for every SQLite client, not only the wrapper."""
    t = _q(table)
    stamped = " OR ".join(f"NEW.{c} IS NOT NULL" for c in LEDGER_COLUMNS)
    statements = [
        f"CREATE TRIGGER {PREFIX}{table}_insert_guard BEFORE INSERT ON {t} WHEN {stamped} "
        f"BEGIN SELECT RAISE(ABORT, 'ledger table {table}: the ledger_* columns are set by "
        "accord'); END"
    ]
    if append_only:
        # Rows not yet stamped are the wrapper's own INSERT in progress: it stamps them.
        statements.append(
            f"CREATE TRIGGER {PREFIX}{table}_append_only_update BEFORE UPDATE ON {t} "
            "WHEN OLD.ledger_start_transaction_id IS NOT NULL "
            f"BEGIN SELECT RAISE(ABORT, 'ledger table {table} is append-only: UPDATE is not "
            "allowed'); END"
        )
        statements.append(
            f"CREATE TRIGGER {PREFIX}{table}_append_only_delete BEFORE DELETE ON {t} "
            f"BEGIN SELECT RAISE(ABORT, 'ledger table {table} is append-only: DELETE is not "
            "allowed'); END"
        )
    return statements


_F = TypeVar("_F", bound=Callable[..., Any])


def _sqlite_errors(function: _F) -> _F:
    """Report SQLite's own errors (a locked database, a broken view, ...) as StorageError."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite error: {exc}") from exc

    return cast(_F, wrapper)


def _write_transaction(conn: sqlite3.Connection) -> _WriteTransaction:
    return _WriteTransaction(conn)


class _WriteTransaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        self._conn.execute("COMMIT" if exc_type is None else "ROLLBACK")


@_sqlite_errors
def create_ledger_table(dsn: str, ddl: str, append_only: bool = False) -> list[Column]:
    """Create a ledger table from one ``CREATE TABLE`` statement; refuse with nothing changed."""
    name = parse_create_table(ddl)
    if name.startswith((PREFIX, "sqlite_")):
        raise InvalidRequest(f"table name {name!r} is reserved")
    columns = _try_in_scratch(ddl, name)
    with closing(_open(dsn, create=str(dsn).startswith("sqlite:"))) as conn:
        with _write_transaction(conn):
            _install_shared_objects(conn, database_path(dsn))
            for relation in (name, f"{name}_history", f"{name}_ledger"):
                if _relation_exists(conn, relation):
                    raise InvalidRequest(f"a table or view named {relation!r} already exists")
            known = conn.execute(
                f"SELECT 1 FROM {TABLES} WHERE name = ? AND dropped IS NULL",
                (name,),
            ).fetchone()
            if known is not None:
                raise InvalidRequest(f"{name!r} is already registered as a ledger table")
            conn.execute(ddl)
            if [c.name for c in _columns(conn, name)[0]] != [c.name for c in columns]:
                raise InvalidRequest("the DDL did not create the same table twice; refusing")
            t = _q(name)
            for column in LEDGER_COLUMNS:
                conn.execute(f"ALTER TABLE {t} ADD COLUMN {column} INTEGER")
            conn.execute(
                f"CREATE INDEX {_q(name + '_ledger_start')} ON {t} (ledger_start_transaction_id)"
            )
            if not append_only:
                history = _q(f"{name}_history")
                definitions = [f"{_q(c.name)} {c.sql_type}" for c in columns]
                definitions += [f"{c} INTEGER" for c in LEDGER_COLUMNS]
                conn.execute(f"CREATE TABLE {history} ({', '.join(definitions)})")
                for side in ("start", "end"):
                    conn.execute(
                        f"CREATE INDEX {_q(f'{name}_history_ledger_{side}')} ON {history} "
                        f"(ledger_{side}_transaction_id)"
                    )
            history_name = None if append_only else f"{name}_history"
            conn.execute(_view_sql(f"{name}_ledger", name, history_name, columns))
            for statement in _guard_triggers(name, append_only):
                conn.execute(statement)
            # A table created with the name of a dropped one hashes under name#id, so the
            # rows of the two can never pass for each other.
            table_id = conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {TABLES}").fetchone()[0]
            earlier = conn.execute(f"SELECT 1 FROM {TABLES} WHERE name = ?", (name,)).fetchone()
            conn.execute(
                f"INSERT INTO {TABLES} (id, name, hash_name, relation, history, kind, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (table_id, name, name if earlier is None else f"{name}#{table_id}", name,
                 history_name, "append_only" if append_only else "updatable",
                 _timestamp(datetime.now(UTC))),
            )  # fmt: skip
    return columns


def _table(conn: sqlite3.Connection, name: str) -> _Table:
    if not _has_schema(conn):
        raise NotFound("this database has no ledger tables")
    table = _load_tables(conn).get(name)
    if table is None:
        raise NotFound(f"{name!r} is not a ledger table")
    return table


@_sqlite_errors
def add_ledger_column(dsn: str, table: str, definition: str) -> Column:
    """Add one nullable column (no default) to a ledger table and its history."""
    check_column_definition(definition)
    with closing(_open(dsn)) as conn, _write_transaction(conn):
        before = _table(conn, table)
        try:
            conn.execute(f"ALTER TABLE {_q(table)} ADD COLUMN {definition}")
        except sqlite3.Error as exc:
            raise InvalidRequest(f"SQLite refused the column: {exc}") from exc
        columns, _ = _columns(conn, table)
        known = {c.name for c in before.columns}
        added = [c for c in columns if c.name not in known]
        if len(added) != 1:
            raise InvalidRequest("give exactly one column definition")
        column = added[0]
        _check_user_columns([column])
        if _fold(column.name) in {_fold(c.key) for c in before.columns}:
            raise InvalidRequest(
                f"{table!r} had a column {column.name!r} that was dropped; its data is kept under "
                "another name and its hashes use this name: choose a different name"
            )
        if before.history is not None:
            conn.execute(
                f"ALTER TABLE {_q(before.history)} ADD COLUMN {_q(column.name)} {column.sql_type}"
            )
        after = _table(conn, table)
        conn.execute(f"DROP VIEW {_q(table + '_ledger')}")
        conn.execute(_view_sql(table + "_ledger", table, after.history, after.columns))
    return column


@_sqlite_errors
def drop_ledger_table(dsn: str, table: str) -> str:
    """Drop a ledger table the ledger way: keep it and its history, renamed and read-only.

    Returns the new name. Its row versions stay in every verification, hashed under the original
    name; a new table of the old name can be created afterwards.
    """
    with closing(_open(dsn)) as conn, _write_transaction(conn):
        spec = _table(conn, table)
        relation, history, view = dropped_names(spec.id, spec.name, spec.append_only, None)
        for new in (relation, history, view):
            if new is not None and _relation_exists(conn, new):
                raise InvalidRequest(f"cannot drop {table!r}: a table or view named {new!r} exists")
        conn.execute(f"DROP VIEW IF EXISTS {_q(spec.name + '_ledger')}")
        for (trigger,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN (?, ?)",
            (spec.relation, spec.history or ""),
        ).fetchall():
            if str(trigger).startswith(PREFIX):
                conn.execute(f"DROP TRIGGER {_q(trigger)}")
        for index in (f"{spec.name}_ledger_start", f"{spec.name}_history_ledger_start",
                      f"{spec.name}_history_ledger_end"):  # fmt: skip
            conn.execute(f"DROP INDEX IF EXISTS {_q(index)}")
        conn.execute(f"ALTER TABLE {_q(spec.relation)} RENAME TO {_q(relation)}")
        if spec.history is not None and history is not None:
            conn.execute(f"ALTER TABLE {_q(spec.history)} RENAME TO {_q(history)}")
        conn.execute(_view_sql(view, relation, history, spec.columns))
        for target in (relation, history):
            if target is None:
                continue
            for verb in ("INSERT", "UPDATE", "DELETE"):
                conn.execute(
                    f"CREATE TRIGGER {_q(f'{PREFIX}{target}_{verb.lower()}_refused')} "
                    f"BEFORE {verb} ON {_q(target)} BEGIN SELECT RAISE(ABORT, 'ledger table "
                    f"{target} was dropped and is kept read-only for verification: {verb} is "
                    "not allowed'); END"
                )
        conn.execute(
            f"UPDATE {TABLES} SET relation = ?, history = ?, dropped = ? WHERE id = ?",
            (relation, history, _timestamp(datetime.now(UTC)), spec.id),
        )
        return relation


@_sqlite_errors
def drop_ledger_column(dsn: str, table: str, column: str) -> str:
    """Drop a column the ledger way: keep its data under a reserved name; returns that name.

    SQLite cannot relax NOT NULL or remove a default in place: a NOT NULL column is refused, and
    a column with a default keeps giving new rows that default (hashed like any other value).
    """
    with closing(_open(dsn)) as conn, _write_transaction(conn):
        spec = _table(conn, table)
        live = {c.name: c for c in spec.live_columns()}
        if column not in live:
            raise NotFound(f"ledger table {table!r} has no column {column!r}")
        if column in spec.key:
            raise InvalidRequest(
                f"{column!r} is part of the primary key of {table!r}; drop the table instead"
            )
        if len(live) == 1:
            raise InvalidRequest(f"{column!r} is the last column of {table!r}; drop the table")
        users = _column_users(conn, spec.relation, column)
        if users:
            raise InvalidRequest(
                f"column {column!r} of {table!r} is used by {', '.join(users)}: drop those "
                "first (a kept column must accept the NULLs new rows leave in it)"
            )
        notnull = [
            row[3] for row in conn.execute(f"PRAGMA table_xinfo({_q(spec.relation)})")
            if row[1] == column
        ]  # fmt: skip
        if notnull and notnull[0]:
            raise InvalidRequest(
                f"{column!r} is NOT NULL, and SQLite cannot relax that in place: new rows could "
                "not be written once the column is hidden"
            )
        count = conn.execute(
            f"SELECT count(*) FROM {DROPPED_COLUMNS} WHERE table_id = ?", (spec.id,)
        ).fetchone()[0]
        new = dropped_column_name(int(count) + 1, column, None)
        if new.lower() in {c.name.lower() for c in spec.columns}:
            raise InvalidRequest(f"cannot drop {column!r}: {table!r} has a column named {new!r}")
        conn.execute(f"DROP VIEW IF EXISTS {_q(spec.name + '_ledger')}")
        for relation in (spec.relation, spec.history):
            if relation is not None:
                conn.execute(f"ALTER TABLE {_q(relation)} RENAME COLUMN {_q(column)} TO {_q(new)}")
        conn.execute(
            f"INSERT INTO {DROPPED_COLUMNS} (table_id, relation_column, name, dropped) "
            "VALUES (?, ?, ?, ?)",
            (spec.id, new, column, _timestamp(datetime.now(UTC))),
        )
        after = _table(conn, table)
        conn.execute(_view_sql(f"{table}_ledger", table, after.history, after.columns))
        return new


@_sqlite_errors
def list_ledger_tables(dsn: str) -> list[dict[str, Any]]:
    with closing(_open(dsn)) as conn:
        if not _has_schema(conn):
            return []
        tables = []
        for name, kind, created, relation, dropped in conn.execute(
            f"SELECT name, kind, created, relation, dropped FROM {TABLES} ORDER BY name, id"
        ).fetchall():
            count = conn.execute(f"SELECT count(*) FROM {_q(relation)}").fetchone()[0]
            tables.append(
                {"name": name, "kind": kind, "created": created,
                 "droppedAs": relation if dropped is not None else None, "dropped": dropped,
                 "rows": count}
            )  # fmt: skip
        return tables


# --- blocks and digests ---------------------------------------------------------------------
def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _close_block(conn: sqlite3.Connection) -> int | None:
    with _write_transaction(conn):
        last = conn.execute(
            f"SELECT block_id, block_hash FROM {BLOCKS} ORDER BY block_id DESC LIMIT 1"
        ).fetchone()
        rows = conn.execute(
            f"SELECT transaction_id, transaction_hash FROM {TRANSACTIONS} "
            "WHERE block_id IS NULL ORDER BY transaction_id"
        ).fetchall()
        if not rows:
            return None
        block_id = 0 if last is None else int(last[0]) + 1
        previous = core.ZERO_HASH if last is None else bytes(last[1])
        root = core.block_root([bytes(h) for _, h in rows])
        digest = core.block_hash(block_id, previous, root, len(rows))
        conn.executemany(
            f"UPDATE {TRANSACTIONS} SET block_id = ? WHERE transaction_id = ?",
            [(block_id, txid) for txid, _ in rows],
        )
        conn.execute(
            f"INSERT INTO {BLOCKS} (block_id, transaction_count, root_hash, "
            "previous_block_hash, block_hash) VALUES (?, ?, ?, ?, ?)",
            (block_id, len(rows), root, previous, digest),
        )
        return block_id


@_sqlite_errors
def close_block(dsn: str) -> int | None:
    """Put every committed, unblocked transaction into a new block; its id, or None if none."""
    with closing(_open(dsn)) as conn:
        if not _has_schema(conn):
            raise NotFound("this database has no ledger tables")
        return _close_block(conn)


def _database_name(conn: sqlite3.Connection) -> str:
    row = conn.execute(f"SELECT database FROM {STATE} WHERE id = 1").fetchone()
    if row is None:
        raise StorageError(f"{STATE} has no row: the ledger bookkeeping was damaged")
    return str(row[0])


@_sqlite_errors
def generate_digest(dsn: str, now: datetime) -> core.DatabaseDigest:
    """Close a block if transactions are waiting, then describe the newest block."""
    with closing(_open(dsn)) as conn:
        if not _has_schema(conn):
            raise NotFound("this database has no ledger tables")
        _close_block(conn)
        with _write_transaction(conn):
            row = conn.execute(
                f"SELECT b.block_id, b.block_hash, (SELECT max(commit_time) FROM {TRANSACTIONS} "
                f"WHERE block_id = b.block_id) FROM {BLOCKS} b ORDER BY b.block_id DESC LIMIT 1"
            ).fetchone()
            database = _database_name(conn)
        if row is None:
            raise NotFound("no ledger transaction has been committed yet: nothing to digest")
        return core.DatabaseDigest(
            database=database,
            block_id=int(row[0]),
            block_hash=bytes(row[1]),
            last_commit_time=str(row[2]),
            digest_time=_timestamp(now),
        )


# --- verification snapshot ------------------------------------------------------------------
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


@_sqlite_errors
def read_snapshot(dsn: str) -> LedgerSnapshot:
    """Everything the verifier needs, read in one SQLite read transaction."""
    path = database_path(dsn)
    _open(dsn).close()
    uri = path.resolve().as_uri() + "?mode=ro"
    with closing(
        sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT, isolation_level=None)
    ) as conn:
        conn.execute("BEGIN")
        if not _has_schema(conn):
            raise NotFound("this database has no ledger tables")
        try:
            tables = _all_tables(conn)
        except InvalidRequest as exc:
            raise StorageError(f"a ledger table's columns changed: {exc}") from exc
        check_registry(TABLES, DROPPED_COLUMNS, tables, None)
        snapshot = LedgerSnapshot(
            database=_database_name(conn), tables=sorted(t.hash_name for t in tables)
        )
        for table in tables:
            if table.history is not None:
                history, _ = _columns(conn, table.history)
                if sorted(c.name for c in history) != sorted(c.name for c in table.columns):
                    raise TamperingDetected(
                        f"{table.history} does not have the columns of {table.relation} "
                        "(changed outside accord?)"
                    )
            snapshot.versions.extend(_read_versions(conn, table, None, strict=False))
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


__all__ = [
    "LedgerConnection",
    "LedgerWriteRefused",
    "add_ledger_column",
    "canonical_text",
    "close_block",
    "connect",
    "create_ledger_table",
    "drop_ledger_column",
    "drop_ledger_table",
    "generate_digest",
    "list_ledger_tables",
    "read_snapshot",
    "type_tag_of",
]
