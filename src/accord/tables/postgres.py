"""PostgreSQL backend of ledger tables: creating them, closing blocks, reading a snapshot.

The I/O driver only: the hashing rules are :mod:`accord.tables.core` (and their SQL twin in
:mod:`accord.tables.postgres_sql`), the verification logic is :mod:`accord.tables.verify`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from accord.errors import InvalidRequest, MalformedInput, NotFound, StorageError
from accord.tables import core
from accord.tables.ddl import LEDGER_COLUMN_PREFIX, check_column_definition, parse_create_table
from accord.tables.postgres_sql import (
    CANONICAL_SETTINGS,
    LEDGER_COLUMNS,
    SCHEMA,
    SHARED_OBJECTS,
    TABLE_SCHEMA,
    TYPE_TAGS,
    Column,
    canonical_expression,
    ledger_view,
    table_triggers,
    versions_function,
)
from accord.tables.verify import (
    LedgerSnapshot,
    RowVersion,
    StoredBlock,
    StoredTransaction,
)

# pg_advisory_xact_lock keys: one for schema changes, one for block closing.
_SCHEMA_LOCK = 0x6163636F72640001
_BLOCK_LOCK = 0x6163636F72640002


@contextmanager
def connect(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    try:
        conn = psycopg.connect(dsn, connect_timeout=10, autocommit=True)
    except psycopg.Error as exc:
        raise InvalidRequest(f"cannot connect to the database: {exc}") from exc
    try:
        yield conn
    except psycopg.Error as exc:
        raise StorageError(f"database error: {exc}") from exc
    finally:
        conn.close()


class _Rollback(Exception):
    pass


def _install_shared_objects(conn: psycopg.Connection[Any]) -> None:
    conn.execute(SHARED_OBJECTS.encode())


def _relation_exists(conn: psycopg.Connection[Any], name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s",
        (TABLE_SCHEMA, name),
    ).fetchone()
    return row is not None


def _columns_of(conn: psycopg.Connection[Any], schema: str, table: str) -> list[Column]:
    """User columns of a table from the catalog, refusing unsupported types."""
    rows = conn.execute(
        "SELECT a.attname, t.typname, format_type(a.atttypid, a.atttypmod) "
        "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum",
        (schema, table),
    ).fetchall()
    columns = []
    for name, typname, formatted in rows:
        if name in LEDGER_COLUMNS:
            continue
        tag = TYPE_TAGS.get(typname)
        if tag is None:
            raise InvalidRequest(
                f"column {name!r} has type {formatted}, which ledger tables do not support "
                f"(supported: {', '.join(sorted(set(TYPE_TAGS)))}; see docs/tables.md)"
            )
        columns.append(Column(name, tag, formatted))
    return columns


def _check_user_columns(columns: list[Column]) -> None:
    for column in columns:
        if column.name.startswith(LEDGER_COLUMN_PREFIX):
            raise InvalidRequest(
                f"column {column.name!r}: names starting with {LEDGER_COLUMN_PREFIX!r} are "
                "reserved for the ledger columns"
            )
        if "\x00" in column.name:
            raise InvalidRequest("column names may not contain NUL")


def _try_in_scratch_schema(conn: psycopg.Connection[Any], ddl: str, name: str) -> list[Column]:
    """Run the DDL in a throwaway schema, read its columns from the catalog, roll it back."""
    scratch = f"accord_scratch_{secrets.token_hex(6)}"
    columns: list[Column] = []
    try:
        with conn.transaction():
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(scratch)))
            conn.execute(
                "SELECT set_config('search_path', %s, true)",
                (f'"{scratch}", {TABLE_SCHEMA}',),
            )
            try:
                with conn.transaction():
                    conn.execute(ddl.encode())
            except psycopg.Error as exc:
                raise InvalidRequest(f"PostgreSQL refused the DDL: {exc}") from exc
            created = conn.execute(
                "SELECT c.relname, c.relkind FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
                (scratch,),
            ).fetchall()
            if created != [(name, "r")]:
                raise InvalidRequest(
                    f"the DDL must create exactly one ordinary table named {name!r}"
                )
            columns = _columns_of(conn, scratch, name)
            raise _Rollback
    except _Rollback:
        pass
    return columns


def create_ledger_table(dsn: str, ddl: str, append_only: bool = False) -> list[Column]:
    """Create a ledger table from one ``CREATE TABLE`` statement; refuse with nothing changed."""
    name = parse_create_table(ddl)
    with connect(dsn) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        _install_shared_objects(conn)
        for relation in (name, f"{name}_history", f"{name}_ledger"):
            if _relation_exists(conn, relation):
                raise InvalidRequest(f"a table or view named {relation!r} already exists")
        known = conn.execute(
            sql.SQL("SELECT 1 FROM {} WHERE name = %s").format(sql.Identifier(SCHEMA, "tables")),
            (name,),
        ).fetchone()
        if known is not None:
            raise InvalidRequest(f"{name!r} is already registered as a ledger table")
        columns = _try_in_scratch_schema(conn, ddl, name)
        _check_user_columns(columns)
        conn.execute("SELECT set_config('search_path', %s, true)", (TABLE_SCHEMA,))
        conn.execute(ddl.encode())
        conn.execute("SELECT set_config('search_path', %s, true)", ("pg_catalog",))
        if [c.name for c in _columns_of(conn, TABLE_SCHEMA, name)] != [c.name for c in columns]:
            raise InvalidRequest("the DDL did not create the same table twice; refusing")
        main = sql.Identifier(TABLE_SCHEMA, name)
        conn.execute(
            sql.SQL(
                "ALTER TABLE {} ADD COLUMN ledger_start_transaction_id bigint, "
                "ADD COLUMN ledger_end_transaction_id bigint, "
                "ADD COLUMN ledger_start_sequence_number bigint, "
                "ADD COLUMN ledger_end_sequence_number bigint"
            ).format(main)
        )
        conn.execute(
            sql.SQL("CREATE INDEX {} ON {} (ledger_start_transaction_id)").format(
                sql.Identifier(f"{name}_ledger_start"), main
            )
        )
        if not append_only:
            history = sql.Identifier(TABLE_SCHEMA, f"{name}_history")
            conn.execute(sql.SQL("CREATE TABLE {} (LIKE {})").format(history, main))
            for side in ("start", "end"):
                conn.execute(
                    sql.SQL("CREATE INDEX {} ON {} ({})").format(
                        sql.Identifier(f"{name}_history_ledger_{side}"),
                        history,
                        sql.Identifier(f"ledger_{side}_transaction_id"),
                    )
                )
            conn.execute(
                sql.SQL("CREATE TRIGGER accord_ledger_truncate BEFORE TRUNCATE ON {} "
                        "FOR EACH STATEMENT EXECUTE FUNCTION {}()").format(
                    history, sql.Identifier(SCHEMA, "refuse_truncate")
                )
            )  # fmt: skip
        conn.execute(versions_function(name, columns, append_only))
        conn.execute(ledger_view(name, columns, append_only))
        for statement in table_triggers(name, append_only):
            conn.execute(statement)
        conn.execute(
            sql.SQL("INSERT INTO {} (name, kind) VALUES (%s, %s)").format(
                sql.Identifier(SCHEMA, "tables")
            ),
            (name, "append_only" if append_only else "updatable"),
        )
    return columns


def add_ledger_column(dsn: str, table: str, definition: str) -> Column:
    """Add one nullable column (no default) to a ledger table and its history.

    Existing row versions keep their hashes because NULL columns are left out of the row text.
    """
    check_column_definition(definition)
    with connect(dsn) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        kind = _table_kind(conn, table)
        before = {c.name for c in _columns_of(conn, TABLE_SCHEMA, table)}
        main = sql.Identifier(TABLE_SCHEMA, table)
        try:
            with conn.transaction():
                conn.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN ").format(main).as_bytes(conn)
                    + definition.encode()
                )
        except psycopg.Error as exc:
            raise InvalidRequest(f"PostgreSQL refused the column: {exc}") from exc
        columns = _columns_of(conn, TABLE_SCHEMA, table)
        added = [c for c in columns if c.name not in before]
        if len(added) != 1:
            raise InvalidRequest("give exactly one column definition")
        column = added[0]
        _check_user_columns([column])
        has_default = conn.execute(
            "SELECT a.atthasdef OR a.attnotnull OR a.attgenerated <> '' FROM pg_attribute a "
            "WHERE a.attrelid = %s::regclass AND a.attname = %s",
            (f'"{TABLE_SCHEMA}"."{table}"', column.name),
        ).fetchone()
        if has_default is None or has_default[0]:
            raise InvalidRequest("the new column must be nullable, with no default")
        append_only = kind == "append_only"
        if not append_only:
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD COLUMN {} " + _type_sql(column)).format(
                    sql.Identifier(TABLE_SCHEMA, f"{table}_history"),
                    sql.Identifier(column.name),
                )
            )
        conn.execute(versions_function(table, columns, append_only))
        conn.execute(
            sql.SQL("DROP VIEW {}").format(sql.Identifier(TABLE_SCHEMA, f"{table}_ledger"))
        )
        conn.execute(ledger_view(table, columns, append_only))
    return column


def _type_sql(column: Column) -> str:
    # format_type() output is PostgreSQL's own rendering of a catalog type: safe to splice.
    if not all(ch.isalnum() or ch in ' (),_"' for ch in column.sql_type):
        raise InvalidRequest(f"unexpected type name {column.sql_type!r}")
    return column.sql_type.replace("{", "{{").replace("}", "}}")


def _table_kind(conn: psycopg.Connection[Any], table: str) -> str:
    try:
        row = conn.execute(
            sql.SQL("SELECT kind FROM {} WHERE name = %s AND dropped_as IS NULL").format(
                sql.Identifier(SCHEMA, "tables")
            ),
            (table,),
        ).fetchone()
    except psycopg.errors.UndefinedTable as exc:
        raise NotFound("this database has no ledger tables") from exc
    if row is None:
        raise NotFound(f"{table!r} is not a ledger table")
    return str(row[0])


def list_ledger_tables(dsn: str) -> list[dict[str, Any]]:
    with connect(dsn) as conn:
        if not _has_schema(conn):
            return []
        rows = conn.execute(
            sql.SQL("SELECT name, kind, created, dropped_as FROM {} ORDER BY name").format(
                sql.Identifier(SCHEMA, "tables")
            )
        ).fetchall()
        tables = []
        for name, kind, created, dropped_as in rows:
            count = None
            if dropped_as is None:
                count = conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(TABLE_SCHEMA, name))
                ).fetchone()
            tables.append(
                {
                    "name": name,
                    "kind": kind,
                    "created": created.astimezone(UTC).isoformat(),
                    "droppedAs": dropped_as,
                    "rows": count[0] if count else None,
                }
            )
        return tables


def _has_schema(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.transactions",)).fetchone()
    return row is not None and row[0] is not None


# --- blocks and digests ---------------------------------------------------------------------
def _close_block(conn: psycopg.Connection[Any]) -> int | None:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_BLOCK_LOCK,))
        last = conn.execute(
            sql.SQL("SELECT block_id, block_hash FROM {} ORDER BY block_id DESC LIMIT 1").format(
                sql.Identifier(SCHEMA, "blocks")
            )
        ).fetchone()
        rows = conn.execute(
            sql.SQL(
                "SELECT transaction_id, transaction_hash FROM {} WHERE block_id IS NULL "
                "ORDER BY transaction_id FOR UPDATE"
            ).format(sql.Identifier(SCHEMA, "transactions"))
        ).fetchall()
        if not rows:
            return None
        block_id = 0 if last is None else int(last[0]) + 1
        previous = core.ZERO_HASH if last is None else bytes(last[1])
        root = core.block_root([bytes(h) for _, h in rows])
        digest = core.block_hash(block_id, previous, root, len(rows))
        conn.execute(
            sql.SQL("UPDATE {} SET block_id = %s WHERE transaction_id = ANY(%s)").format(
                sql.Identifier(SCHEMA, "transactions")
            ),
            (block_id, [t for t, _ in rows]),
        )
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (block_id, transaction_count, root_hash, previous_block_hash, "
                "block_hash) VALUES (%s, %s, %s, %s, %s)"
            ).format(sql.Identifier(SCHEMA, "blocks")),
            (block_id, len(rows), root, previous, digest),
        )
        return block_id


def close_block(dsn: str) -> int | None:
    """Put every committed, unblocked transaction into a new block; its id, or None if none."""
    with connect(dsn) as conn:
        if not _has_schema(conn):
            raise NotFound("this database has no ledger tables")
        return _close_block(conn)


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def generate_digest(dsn: str, now: datetime) -> core.DatabaseDigest:
    """Close a block if transactions are waiting, then describe the newest block."""
    with connect(dsn) as conn:
        if not _has_schema(conn):
            raise NotFound("this database has no ledger tables")
        _close_block(conn)
        with conn.transaction():
            row = conn.execute(
                sql.SQL(
                    "SELECT b.block_id, b.block_hash, current_database(), "
                    "(SELECT max(commit_time) FROM {t} WHERE block_id = b.block_id) "
                    "FROM {b} b ORDER BY b.block_id DESC LIMIT 1"
                ).format(
                    t=sql.Identifier(SCHEMA, "transactions"), b=sql.Identifier(SCHEMA, "blocks")
                )
            ).fetchone()
        if row is None:
            raise NotFound("no ledger transaction has been committed yet: nothing to digest")
        block_id, block_hash, database, last_commit = row
        return core.DatabaseDigest(
            database=str(database),
            block_id=int(block_id),
            block_hash=bytes(block_hash),
            last_commit_time=_timestamp(last_commit),
            digest_time=_timestamp(now),
        )


# --- verification snapshot ------------------------------------------------------------------
def _primary_key(conn: psycopg.Connection[Any], table: str) -> list[str]:
    rows = conn.execute(
        "SELECT a.attname FROM pg_index i "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = to_regclass(%s) AND i.indisprimary ORDER BY a.attnum",
        (f'"{TABLE_SCHEMA}"."{table}"',),
    ).fetchall()
    return [str(r[0]) for r in rows]


def _read_versions(conn: psycopg.Connection[Any], table: str, kind: str) -> Iterator[RowVersion]:
    columns = _columns_of(conn, TABLE_SCHEMA, table)
    key = _primary_key(conn, table)
    texts = [canonical_expression(c) for c in columns]
    select = sql.SQL(", ").join(
        [
            *texts,
            sql.SQL("ledger_start_transaction_id, ledger_start_sequence_number, "
                    "ledger_end_transaction_id, ledger_end_sequence_number"),
        ]
    )  # fmt: skip
    sources = [(table, False)]
    if kind == "updatable":
        history_columns = _columns_of(conn, TABLE_SCHEMA, f"{table}_history")
        if [c.name for c in history_columns] != [c.name for c in columns]:
            raise StorageError(f"{table}_history does not have the columns of {table}")
        sources.append((f"{table}_history", True))
    for column in columns:
        if column.type_tag not in core.TYPE_TAGS:
            raise MalformedInput(f"unknown column type tag {column.type_tag!r}")
    # accord.row.v1 (core.row_text), with the per-column work done once per table: the columns in
    # ascending byte order of their names, each with its encoded ``<len>:<name><len>:<type>``.
    order = sorted(range(len(columns)), key=lambda i: columns[i].name.encode())
    layout = [
        (i, core.field(columns[i].name.encode()) + core.field(columns[i].type_tag.encode()))
        for i in order
    ]
    width = len(columns)
    names = [c.name for c in columns]
    key_at = [(k, names.index(k) if k in names else None) for k in key]
    insert, delete = core.INSERT, core.DELETE
    for source, is_history in sources:
        cursor = conn.cursor(name=f"accord_verify_{source}")
        cursor.itersize = 10_000
        cursor.execute(
            sql.SQL("SELECT {} FROM {}").format(select, sql.Identifier(TABLE_SCHEMA, source))
        )
        row_prefix = f"{source} row "
        for record in cursor:
            parts: list[bytes] = []
            append = parts.append
            for i, prefix in layout:
                value = record[i]
                if value is not None:
                    data = value.encode()
                    append(prefix)
                    append(b"%d:" % len(data))
                    append(data)
            text = b"".join(parts)
            start_tx, start_seq, end_tx, end_seq = record[width:]
            if len(key_at) == 1:
                where = f"{row_prefix}{key_at[0][0]}={None if key_at[0][1] is None else record[key_at[0][1]]}"
            elif key_at:
                where = row_prefix + ", ".join(
                    f"{k}={None if i is None else record[i]}" for k, i in key_at
                )
            else:
                where = f"{row_prefix}ledger_start_transaction_id={start_tx}, sequence={start_seq}"
            yield RowVersion(table, insert, start_tx, start_seq, text, where)
            if is_history:
                yield RowVersion(table, delete, end_tx, end_seq, text, where)
            elif end_tx is not None or end_seq is not None:
                yield RowVersion(table, delete, None, None, text, where + " (ended in place)")
        cursor.close()


def read_snapshot(dsn: str) -> LedgerSnapshot:
    """Everything the verifier needs, read in one REPEATABLE READ snapshot."""
    with connect(dsn) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            for setting, value in CANONICAL_SETTINGS:
                conn.execute("SELECT set_config(%s, %s, true)", (setting, value))
            database_row = conn.execute("SELECT current_database()").fetchone()
            database = str(database_row[0]) if database_row else ""
            if not _has_schema(conn):
                raise NotFound("this database has no ledger tables")
            tables = conn.execute(
                sql.SQL("SELECT name, kind FROM {} WHERE dropped_as IS NULL ORDER BY name").format(
                    sql.Identifier(SCHEMA, "tables")
                )
            ).fetchall()
            snapshot = LedgerSnapshot(database=database, tables=[str(t[0]) for t in tables])
            for name, kind in tables:
                snapshot.versions.extend(_read_versions(conn, str(name), str(kind)))
            for txid, block_id, table_hashes, tx_hash in conn.execute(
                sql.SQL(
                    "SELECT transaction_id, block_id, table_hashes, transaction_hash FROM {} "
                    "ORDER BY transaction_id"
                ).format(sql.Identifier(SCHEMA, "transactions"))
            ):
                hashes = table_hashes if isinstance(table_hashes, dict) else {}
                snapshot.transactions.append(
                    StoredTransaction(
                        int(txid),
                        None if block_id is None else int(block_id),
                        {str(k): str(v) for k, v in hashes.items()},
                        bytes(tx_hash),
                    )
                )
            for row in conn.execute(
                sql.SQL(
                    "SELECT block_id, transaction_count, root_hash, previous_block_hash, "
                    "block_hash FROM {} ORDER BY block_id"
                ).format(sql.Identifier(SCHEMA, "blocks"))
            ):
                snapshot.blocks.append(
                    StoredBlock(int(row[0]), int(row[1]), bytes(row[2]), bytes(row[3]),
                                bytes(row[4]))
                )  # fmt: skip
            return snapshot
