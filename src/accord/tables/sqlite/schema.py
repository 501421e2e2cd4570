"""Schema changes of SQLite ledger tables: create, add a column, drop a column, drop, list.

Each is one ``BEGIN IMMEDIATE`` transaction on a plain connection. The checks are
:mod:`accord.tables.rules`; what is SQLite's own (the scratch in-memory database that parses the
DDL, rowid names, NOT NULL columns that cannot be relaxed in place) stays here.
"""

# ruff: noqa: S608 -- SQL text here is built only from module constants and identifiers quoted with
# q() (table names are checked by ddl.TABLE_NAME); every value is a bound parameter.
from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from datetime import UTC, datetime

from accord.errors import InvalidRequest
from accord.tables.ddl import (
    check_column_definition,
    dropped_column_name,
    dropped_names,
    parse_create_table,
)
from accord.tables.model import (
    APPEND_ONLY,
    LEDGER_COLUMNS,
    UPDATABLE,
    Column,
    LedgerTableInfo,
)
from accord.tables.rules import (
    added_column,
    ascii_fold,
    check_create_target,
    check_drop_column,
    check_dropped_column_name,
    check_same_table,
    check_user_columns,
    hash_name_for,
    history_name,
    timestamp,
)
from accord.tables.sqlite.catalog import (
    DROPPED_COLUMNS,
    PREFIX,
    ROWID_NAMES,
    TABLES,
    column_users,
    database_path,
    has_schema,
    install_shared_objects,
    live_table,
    open_database,
    q,
    read_columns,
    relation_exists,
    sqlite_errors,
    write_transaction,
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
        columns, _ = read_columns(scratch, name)
    check_user_columns(columns, reserved=ROWID_NAMES)
    return columns


def _view_sql(view: str, relation: str, history_name: str | None, columns: Sequence[Column]) -> str:
    """The ledger view: every version of the columns applications see (dropped ones left out)."""
    prefix = "".join(f"{q(c.name)}, " for c in columns if c.hash_name is None)
    parts = [
        f"SELECT {prefix}ledger_start_transaction_id AS ledger_transaction_id, "
        "ledger_start_sequence_number AS ledger_sequence_number, "
        f"'INSERT' AS ledger_operation_type_desc FROM {q(relation)}"
    ]
    if history_name is not None:
        history = q(history_name)
        parts.append(
            f"SELECT {prefix}ledger_start_transaction_id, ledger_start_sequence_number, "
            f"'INSERT' FROM {history}"
        )
        parts.append(
            f"SELECT {prefix}ledger_end_transaction_id, ledger_end_sequence_number, 'DELETE' "
            f"FROM {history}"
        )
    return f"CREATE VIEW {q(view)} AS " + " UNION ALL ".join(parts)


def _guard_triggers(table: str, append_only: bool) -> list[str]:
    """Permanent triggers, effective for every SQLite client, not only the wrapper."""
    t = q(table)
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


@sqlite_errors
def create_ledger_table(dsn: str, ddl: str, append_only: bool = False) -> list[Column]:
    """Create a ledger table from one ``CREATE TABLE`` statement; refuse with nothing changed."""
    name = parse_create_table(ddl)
    if name.startswith((PREFIX, "sqlite_")):
        raise InvalidRequest(f"table name {name!r} is reserved")
    columns = _try_in_scratch(ddl, name)
    with closing(open_database(dsn, create=str(dsn).startswith("sqlite:"))) as conn:
        with write_transaction(conn):
            install_shared_objects(conn, database_path(dsn))
            known = conn.execute(
                f"SELECT 1 FROM {TABLES} WHERE name = ? AND dropped IS NULL",
                (name,),
            ).fetchone()
            check_create_target(lambda r: relation_exists(conn, r), known is not None, name)
            conn.execute(ddl)
            check_same_table(read_columns(conn, name)[0], columns)
            t = q(name)
            for column in LEDGER_COLUMNS:
                conn.execute(f"ALTER TABLE {t} ADD COLUMN {column} INTEGER")
            conn.execute(
                f"CREATE INDEX {q(name + '_ledger_start')} ON {t} (ledger_start_transaction_id)"
            )
            if not append_only:
                quoted = q(f"{name}_history")
                definitions = [f"{q(c.name)} {c.sql_type}" for c in columns]
                definitions += [f"{c} INTEGER" for c in LEDGER_COLUMNS]
                conn.execute(f"CREATE TABLE {quoted} ({', '.join(definitions)})")
                for side in ("start", "end"):
                    conn.execute(
                        f"CREATE INDEX {q(f'{name}_history_ledger_{side}')} ON {quoted} "
                        f"(ledger_{side}_transaction_id)"
                    )
            history = history_name(name, append_only)
            conn.execute(_view_sql(f"{name}_ledger", name, history, columns))
            for statement in _guard_triggers(name, append_only):
                conn.execute(statement)
            table_id = conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {TABLES}").fetchone()[0]
            earlier = conn.execute(f"SELECT 1 FROM {TABLES} WHERE name = ?", (name,)).fetchone()
            conn.execute(
                f"INSERT INTO {TABLES} (id, name, hash_name, relation, history, kind, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (table_id, name, hash_name_for(name, table_id, earlier is not None), name, history,
                 APPEND_ONLY if append_only else UPDATABLE, timestamp(datetime.now(UTC))),
            )  # fmt: skip
    return columns


@sqlite_errors
def add_ledger_column(dsn: str, table: str, definition: str) -> Column:
    """Add one nullable column (no default) to a ledger table and its history."""
    check_column_definition(definition)
    with closing(open_database(dsn)) as conn, write_transaction(conn):
        before = live_table(conn, table)
        try:
            conn.execute(f"ALTER TABLE {q(table)} ADD COLUMN {definition}")
        except sqlite3.Error as exc:
            raise InvalidRequest(f"SQLite refused the column: {exc}") from exc
        columns, _ = read_columns(conn, table)
        column = added_column(before, columns, fold=ascii_fold, reserved=ROWID_NAMES)
        if before.history is not None:
            conn.execute(
                f"ALTER TABLE {q(before.history)} ADD COLUMN {q(column.name)} {column.sql_type}"
            )
        after = live_table(conn, table)
        conn.execute(f"DROP VIEW {q(table + '_ledger')}")
        conn.execute(_view_sql(table + "_ledger", table, after.history, after.columns))
    return column


@sqlite_errors
def drop_ledger_table(dsn: str, table: str) -> str:
    """Drop a ledger table the ledger way: keep it and its history, renamed and read-only.

    Returns the new name. Its row versions stay in every verification, hashed under the original
    name; a new table of the old name can be created afterwards.
    """
    with closing(open_database(dsn)) as conn, write_transaction(conn):
        spec = live_table(conn, table)
        relation, history, view = dropped_names(spec.id, spec.name, spec.append_only, None)
        for new in (relation, history, view):
            if new is not None and relation_exists(conn, new):
                raise InvalidRequest(f"cannot drop {table!r}: a table or view named {new!r} exists")
        conn.execute(f"DROP VIEW IF EXISTS {q(spec.name + '_ledger')}")
        for (trigger,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN (?, ?)",
            (spec.relation, spec.history or ""),
        ).fetchall():
            if str(trigger).startswith(PREFIX):
                conn.execute(f"DROP TRIGGER {q(trigger)}")
        for index in (f"{spec.name}_ledger_start", f"{spec.name}_history_ledger_start",
                      f"{spec.name}_history_ledger_end"):  # fmt: skip
            conn.execute(f"DROP INDEX IF EXISTS {q(index)}")
        conn.execute(f"ALTER TABLE {q(spec.relation)} RENAME TO {q(relation)}")
        if spec.history is not None and history is not None:
            conn.execute(f"ALTER TABLE {q(spec.history)} RENAME TO {q(history)}")
        conn.execute(_view_sql(view, relation, history, spec.columns))
        for target in (relation, history):
            if target is None:
                continue
            for verb in ("INSERT", "UPDATE", "DELETE"):
                conn.execute(
                    f"CREATE TRIGGER {q(f'{PREFIX}{target}_{verb.lower()}_refused')} "
                    f"BEFORE {verb} ON {q(target)} BEGIN SELECT RAISE(ABORT, 'ledger table "
                    f"{target} was dropped and is kept read-only for verification: {verb} is "
                    "not allowed'); END"
                )
        conn.execute(
            f"UPDATE {TABLES} SET relation = ?, history = ?, dropped = ? WHERE id = ?",
            (relation, history, timestamp(datetime.now(UTC)), spec.id),
        )
        return relation


@sqlite_errors
def drop_ledger_column(dsn: str, table: str, column: str) -> str:
    """Drop a column the ledger way: keep its data under a reserved name; returns that name.

    SQLite cannot relax NOT NULL or remove a default in place: a NOT NULL column is refused, and
    a column with a default keeps giving new rows that default (hashed like any other value).
    """
    with closing(open_database(dsn)) as conn, write_transaction(conn):
        spec = live_table(conn, table)
        live = {c.name for c in spec.live_columns()}
        users = column_users(conn, spec.relation, column) if column in live else []
        check_drop_column(spec, column, spec.key, users)
        notnull = [
            row[3] for row in conn.execute(f"PRAGMA table_xinfo({q(spec.relation)})")
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
        check_dropped_column_name(spec, column, new, fold=ascii_fold)
        conn.execute(f"DROP VIEW IF EXISTS {q(spec.name + '_ledger')}")
        for relation in (spec.relation, spec.history):
            if relation is not None:
                conn.execute(f"ALTER TABLE {q(relation)} RENAME COLUMN {q(column)} TO {q(new)}")
        conn.execute(
            f"INSERT INTO {DROPPED_COLUMNS} (table_id, relation_column, name, dropped) "
            "VALUES (?, ?, ?, ?)",
            (spec.id, new, column, timestamp(datetime.now(UTC))),
        )
        after = live_table(conn, table)
        conn.execute(_view_sql(f"{table}_ledger", table, after.history, after.columns))
        return new


@sqlite_errors
def list_ledger_tables(dsn: str) -> list[LedgerTableInfo]:
    with closing(open_database(dsn)) as conn:
        if not has_schema(conn):
            return []
        tables: list[LedgerTableInfo] = []
        for name, kind, created, relation, dropped in conn.execute(
            f"SELECT name, kind, created, relation, dropped FROM {TABLES} ORDER BY name, id"
        ).fetchall():
            count = conn.execute(f"SELECT count(*) FROM {q(relation)}").fetchone()[0]
            tables.append(
                {"name": name, "kind": kind, "created": created,
                 "droppedAs": relation if dropped is not None else None, "dropped": dropped,
                 "rows": count}
            )  # fmt: skip
        return tables
