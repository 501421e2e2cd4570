"""Where the SQLite backend keeps things and how it reads them back.

The names of accord's bookkeeping tables (``accord_ledger_*``) and their schema, opening a
database file, reading the registry, a table's columns from its catalog and its row versions with
their canonical text. Used by the capturing connection, schema changes, blocks and snapshots; no
business rule lives here (those are :mod:`accord.tables.rules`).
"""

# ruff: noqa: S608 -- SQL text here is built only from module constants and identifiers quoted with
# q() (table names are checked by ddl.TABLE_NAME); every value is a bound parameter.
from __future__ import annotations

import functools
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from os import PathLike
from pathlib import Path
from typing import Any, TypeVar, cast

from accord.errors import InvalidRequest, NotFound, StorageError, TamperingDetected
from accord.tables import core
from accord.tables.ddl import Token, tokenize
from accord.tables.model import LEDGER_COLUMNS, Column, TableSpec
from accord.tables.rules import ascii_fold
from accord.tables.sqlite.values import TYPE_TAGS, UnfitValue, canonical_text, type_tag_of
from accord.tables.verify import RowVersion

PREFIX = "accord_ledger_"
TABLES = f"{PREFIX}tables"
TRANSACTIONS = f"{PREFIX}transactions"
BLOCKS = f"{PREFIX}blocks"
STATE = f"{PREFIX}state"
DROPPED_COLUMNS = f"{PREFIX}dropped_columns"
BUSY_TIMEOUT = 30.0

#: Column names that would hide SQLite's rowid.
ROWID_NAMES = frozenset({"rowid", "_rowid_", "oid"})

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


def q(name: str) -> str:
    """Quote an identifier for SQLite."""
    return '"' + name.replace('"', '""') + '"'


def read_columns(
    conn: sqlite3.Connection, table: str, renamed: dict[str, str] | None = None
) -> tuple[list[Column], list[str]]:
    """User columns (refusing unsupported ones) and primary-key columns of a table.

    ``renamed`` maps the current name of a dropped column to the name its hashes use.
    """
    renamed = renamed or {}
    columns: list[Column] = []
    key: list[tuple[int, str]] = []
    for _cid, name, declared, _notnull, _default, pk, hidden in conn.execute(
        f"PRAGMA table_xinfo({q(table)})"
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


def column_users(conn: sqlite3.Connection, table: str, column: str) -> list[str]:
    """Indexes, CHECK constraints and foreign keys of ``table`` that involve ``column``."""
    target = ascii_fold(column)
    users = []
    for _seq, index, *_rest in conn.execute(f"PRAGMA index_list({q(table)})").fetchall():
        names = [r[2] for r in conn.execute(f"PRAGMA index_xinfo({q(index)})") if r[1] >= -1]
        row = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (index,)).fetchone()
        words = _identifiers(row[0]) if row and row[0] else set()
        if target in {ascii_fold(n) for n in names if n} or target in words:
            users.append(f"index {index}")
    for fk in conn.execute(f"PRAGMA foreign_key_list({q(table)})").fetchall():
        if ascii_fold(str(fk[3])) == target:
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
                    inside.add(ascii_fold(t.text))
                j += 1
            if target in inside:
                users.append("a CHECK constraint")
    return users


def _identifiers(statement: str) -> set[str]:
    return {ascii_fold(t.text) for t in tokenize(statement) if t.kind in ("word", "ident")}


# --- opening databases -----------------------------------------------------------------------
def database_path(dsn: str | PathLike[str]) -> Path:
    text = str(dsn)
    for prefix in ("sqlite://", "sqlite:"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    return Path(text)


def open_database(dsn: str | PathLike[str], *, create: bool = False) -> sqlite3.Connection:
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


def has_schema(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN (?, ?, ?, ?, ?)",
        (TABLES, TRANSACTIONS, BLOCKS, STATE, DROPPED_COLUMNS),
    ).fetchone()
    return bool(row and row[0] == 5)


def all_tables(conn: sqlite3.Connection) -> list[TableSpec]:
    """Every registered ledger table, live and dropped, in registration order."""
    if not has_schema(conn):
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
        columns, key = read_columns(conn, str(relation), renamed.get(int(table_id)))
        tables.append(
            TableSpec(int(table_id), str(name), str(hash_name), str(relation), history, str(kind),
                      tuple(columns), dropped=bool(dropped), key=tuple(key))
        )  # fmt: skip
    return tables


def live_tables(conn: sqlite3.Connection) -> dict[str, TableSpec]:
    """The live ledger tables by name."""
    return {t.name: t for t in all_tables(conn) if not t.dropped}


# --- reading row versions (shared by commit and verification) --------------------------------
def read_versions(
    conn: sqlite3.Connection, table: TableSpec, txid: int | None, strict: bool
) -> Iterator[RowVersion]:
    """Row versions of a table (of one transaction when ``txid`` is given), with canonical text.

    ``strict``: a value that does not fit its column raises ``InvalidRequest`` (at commit) rather
    than ``TamperingDetected`` (verification).
    """
    names = [c.name for c in table.columns]
    select = ", ".join([*(q(n) for n in names), *LEDGER_COLUMNS])
    sources = [(table.relation, False)]
    if table.history is not None:
        sources.append((table.history, True))
    for source, is_history in sources:
        query = f"SELECT {select} FROM {q(source)}"
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
            except UnfitValue as exc:
                if strict:
                    raise InvalidRequest(f"table {table.name}: {where}: {exc}") from None
                raise TamperingDetected(
                    f"table {table.name}: {where}: {exc} (written bypassing the accord "
                    "connection wrapper?)"
                ) from None
            started = (start_tx, start_seq)
            if txid is None or start_tx == txid:
                yield RowVersion(
                    table.hash_name, core.INSERT, start_tx, start_seq, text, where, started
                )
            if is_history and (txid is None or end_tx == txid):
                yield RowVersion(
                    table.hash_name, core.DELETE, end_tx, end_seq, text, where, started
                )
            elif not is_history and (end_tx is not None or end_seq is not None):
                yield RowVersion(
                    table.hash_name, core.DELETE, None, None, text, where + " (ended in place)",
                    started,
                )  # fmt: skip


def install_shared_objects(conn: sqlite3.Connection, path: Path) -> None:
    for statement in SHARED_OBJECTS.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(
        f"INSERT OR IGNORE INTO {STATE} (id, database, next_transaction_id) VALUES (1, ?, 1)",
        (f"{path.name}#{secrets.token_hex(6)}",),
    )


def relation_exists(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE lower(name) = lower(?)", (name,)
    ).fetchone()
    return row is not None


_F = TypeVar("_F", bound=Callable[..., Any])


def sqlite_errors(function: _F) -> _F:
    """Report SQLite's own errors (a locked database, a broken view, ...) as StorageError."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite error: {exc}") from exc

    return cast(_F, wrapper)


def write_transaction(conn: sqlite3.Connection) -> _WriteTransaction:
    return _WriteTransaction(conn)


class _WriteTransaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        self._conn.execute("COMMIT" if exc_type is None else "ROLLBACK")


def live_table(conn: sqlite3.Connection, name: str) -> TableSpec:
    if not has_schema(conn):
        raise NotFound("this database has no ledger tables")
    table = live_tables(conn).get(name)
    if table is None:
        raise NotFound(f"{name!r} is not a ledger table")
    return table


def database_name(conn: sqlite3.Connection) -> str:
    row = conn.execute(f"SELECT database FROM {STATE} WHERE id = 1").fetchone()
    if row is None:
        raise StorageError(f"{STATE} has no row: the ledger bookkeeping was damaged")
    return str(row[0])
