"""PostgreSQL backend of ledger tables: creating them, closing blocks, reading a snapshot.

The I/O driver only (:class:`PostgresBackend` implements
:class:`~accord.tables.backend.LedgerTablesBackend`): the checks are :mod:`accord.tables.rules`,
the hashing :mod:`accord.tables.core` (and its SQL twin in :mod:`accord.tables.postgres_sql`), the
verification logic :mod:`accord.tables.verify`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import Any

import psycopg
from psycopg import sql

from accord.errors import (
    InvalidRequest,
    MalformedInput,
    NotFound,
    StorageError,
    TamperingDetected,
)
from accord.tables import core
from accord.tables.ddl import (
    check_column_definition,
    cut_identifier,
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
    StoredBlockHead,
    TableSpec,
)
from accord.tables.postgres_sql import (
    CANONICAL_SETTINGS,
    REVOKE_DISPATCHER,
    SCHEMA,
    SHARED_OBJECTS,
    TABLE_SCHEMA,
    TRIGGERS,
    TYPE_TAGS,
    canonical_expression,
    dispatcher,
    dropped_triggers,
    function_name,
    hashes_function,
    ledger_view,
    revoke_public,
    row_functions,
    table_triggers,
)
from accord.tables.rules import (
    added_column,
    check_create_target,
    check_drop_column,
    check_dropped_column_name,
    check_same_table,
    check_user_columns,
    hash_name_for,
    history_name,
    next_block,
    timestamp,
)
from accord.tables.verify import (
    LedgerSnapshot,
    RowVersion,
    StoredBlock,
    StoredTransaction,
    check_registry,
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


def _columns_of(
    conn: psycopg.Connection[Any], schema: str, table: str, renamed: dict[str, str] | None = None
) -> list[Column]:
    """User columns of a table from the catalog, refusing unsupported types.

    ``renamed`` maps the current name of a dropped column to the name its hashes use.
    """
    rows = conn.execute(
        "SELECT a.attname, t.typname, format_type(a.atttypid, a.atttypmod) "
        "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum",
        (schema, table),
    ).fetchall()
    renamed = renamed or {}
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
        columns.append(Column(name, tag, formatted, renamed.get(name)))
    return columns


#: Characters a PostgreSQL ledger column name may not hold: the generated functions use ``$``.
_FORBIDDEN_IN_NAMES = "\x00$"


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


_TABLES = sql.Identifier(SCHEMA, "tables")
_DROPPED_COLUMNS = sql.Identifier(SCHEMA, "dropped_columns")


def _specs(conn: psycopg.Connection[Any]) -> list[TableSpec]:
    """Every registered ledger table, live and dropped, with its columns from the catalog."""
    renamed: dict[int, dict[str, str]] = {}
    for table_id, relation_column, name in conn.execute(
        sql.SQL("SELECT table_id, relation_column, name FROM {}").format(_DROPPED_COLUMNS)
    ):
        renamed.setdefault(int(table_id), {})[str(relation_column)] = str(name)
    specs = []
    for table_id, name, hash_name, relation, history, kind, dropped in conn.execute(
        sql.SQL(
            "SELECT id, name, hash_name, relation, history, kind, dropped IS NOT NULL FROM {} "
            "ORDER BY id"
        ).format(_TABLES)
    ).fetchall():
        columns = _columns_of(conn, TABLE_SCHEMA, relation, renamed.get(int(table_id)))
        specs.append(
            TableSpec(int(table_id), str(name), str(hash_name), str(relation), history,
                      str(kind), tuple(columns), bool(dropped))
        )  # fmt: skip
    return specs


def _live_spec(conn: psycopg.Connection[Any], table: str) -> TableSpec:
    if not _has_schema(conn):
        raise NotFound("this database has no ledger tables")
    for spec in _specs(conn):
        if spec.name == table and not spec.dropped:
            return spec
    raise NotFound(f"{table!r} is not a ledger table")


def _utf8(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT current_setting('server_encoding')").fetchone()
    return row is not None and row[0] == "UTF8"


def _view_name(spec: TableSpec) -> str:
    return f"{spec.relation}_ledger"


def _install_table(conn: psycopg.Connection[Any], spec: TableSpec, triggers: bool) -> None:
    """(Re)generate a live table's functions and ledger view; its triggers too when asked."""
    for statement in row_functions(spec):
        conn.execute(statement)
    conn.execute(hashes_function(spec, _utf8(conn)))
    conn.execute(revoke_public(spec))
    conn.execute(
        sql.SQL("DROP VIEW IF EXISTS {}").format(sql.Identifier(TABLE_SCHEMA, _view_name(spec)))
    )
    conn.execute(ledger_view(spec, _view_name(spec)))
    if triggers:
        for statement in table_triggers(spec):
            conn.execute(statement)


def _install_dispatcher(conn: psycopg.Connection[Any]) -> None:
    conn.execute(dispatcher(_specs(conn)))
    conn.execute(REVOKE_DISPATCHER)


def create_ledger_table(dsn: str, ddl: str, append_only: bool = False) -> list[Column]:
    """Create a ledger table from one ``CREATE TABLE`` statement; refuse with nothing changed."""
    name = parse_create_table(ddl)
    with connect(dsn) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        owner = conn.execute(
            "SELECT pg_get_userbyid(nspowner), pg_get_userbyid(nspowner) = current_user "
            "FROM pg_namespace WHERE nspname = %s",
            (SCHEMA,),
        ).fetchone()
        if owner is not None and not owner[1]:
            # Whoever owns the schema can drop accord's functions and with them the capture.
            raise InvalidRequest(
                f"schema {SCHEMA} already exists and belongs to {owner[0]}: run `tables create` "
                "as that role (the ledger owner), or have the schema removed"
            )
        _install_shared_objects(conn)
        known = conn.execute(
            sql.SQL("SELECT 1 FROM {} WHERE name = %s AND dropped IS NULL").format(_TABLES),
            (name,),
        ).fetchone()
        check_create_target(lambda r: _relation_exists(conn, r), known is not None, name)
        columns = _try_in_scratch_schema(conn, ddl, name)
        check_user_columns(columns, forbidden_characters=_FORBIDDEN_IN_NAMES)
        conn.execute("SELECT set_config('search_path', %s, true)", (TABLE_SCHEMA,))
        try:
            with conn.transaction():
                conn.execute(ddl.encode())
        except psycopg.Error as exc:
            raise InvalidRequest(f"PostgreSQL refused the DDL: {exc}") from exc
        conn.execute("SELECT set_config('search_path', %s, true)", ("pg_catalog",))
        check_same_table(_columns_of(conn, TABLE_SCHEMA, name), columns)
        main = sql.Identifier(TABLE_SCHEMA, name)
        conn.execute(
            sql.SQL(
                "ALTER TABLE {} ADD COLUMN ledger_start_transaction_id bigint, "
                "ADD COLUMN ledger_end_transaction_id bigint, "
                "ADD COLUMN ledger_start_sequence_number bigint, "
                "ADD COLUMN ledger_end_sequence_number bigint"
            ).format(main)
        )
        history = history_name(name, append_only)
        row = conn.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id'))", (f"{SCHEMA}.tables",)
        ).fetchone()
        earlier = conn.execute(
            sql.SQL("SELECT 1 FROM {} WHERE name = %s").format(_TABLES), (name,)
        ).fetchone()
        if row is None:
            raise StorageError("could not allocate a ledger table id")
        table_id = int(row[0])
        hashed_as = hash_name_for(name, table_id, earlier is not None)
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (id, name, hash_name, relation, history, kind) "
                "OVERRIDING SYSTEM VALUE VALUES (%s, %s, %s, %s, %s, %s)"
            ).format(_TABLES),
            (table_id, name, hashed_as, name, history, APPEND_ONLY if append_only else UPDATABLE),
        )  # fmt: skip
        conn.execute(
            sql.SQL("CREATE INDEX {} ON {} (ledger_start_transaction_id)").format(
                sql.Identifier(f"accord_t{table_id}_start"), main
            )
        )
        if history is not None:
            history_id = sql.Identifier(TABLE_SCHEMA, history)
            conn.execute(sql.SQL("CREATE TABLE {} (LIKE {})").format(history_id, main))
            for side in ("start", "end"):
                conn.execute(
                    sql.SQL("CREATE INDEX {} ON {} ({})").format(
                        sql.Identifier(f"accord_t{table_id}_history_{side}"),
                        history_id,
                        sql.Identifier(f"ledger_{side}_transaction_id"),
                    )
                )
        spec = TableSpec(
            table_id, name, hashed_as, name, history, APPEND_ONLY if append_only else UPDATABLE,
            tuple(columns),
        )  # fmt: skip
        _install_table(conn, spec, triggers=True)
        _install_dispatcher(conn)
    return columns


def add_ledger_column(dsn: str, table: str, definition: str) -> Column:
    """Add one nullable column (no default) to a ledger table and its history.

    Existing row versions keep their hashes because NULL columns are left out of the row text.
    """
    check_column_definition(definition)
    with connect(dsn) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        spec = _live_spec(conn, table)
        main = sql.Identifier(TABLE_SCHEMA, spec.relation)
        try:
            with conn.transaction():
                conn.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN ").format(main).as_bytes(conn)
                    + definition.encode()
                )
        except psycopg.Error as exc:
            raise InvalidRequest(f"PostgreSQL refused the column: {exc}") from exc
        column = added_column(
            spec,
            _columns_of(conn, TABLE_SCHEMA, spec.relation),
            forbidden_characters=_FORBIDDEN_IN_NAMES,
        )
        has_default = conn.execute(
            "SELECT a.atthasdef OR a.attnotnull OR a.attgenerated <> '' FROM pg_attribute a "
            "WHERE a.attrelid = %s::regclass AND a.attname = %s",
            (f'"{TABLE_SCHEMA}"."{spec.relation}"', column.name),
        ).fetchone()
        if has_default is None or has_default[0]:
            raise InvalidRequest("the new column must be nullable, with no default")
        if spec.history is not None:
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD COLUMN {} " + _type_sql(column)).format(
                    sql.Identifier(TABLE_SCHEMA, spec.history),
                    sql.Identifier(column.name),
                )
            )
        _install_table(conn, _live_spec(conn, table), triggers=False)
    return column


#: PostgreSQL's identifier length limit, in bytes.
_NAME_LIMIT = 63


def drop_ledger_table(dsn: str, table: str) -> str:
    """Drop a ledger table the ledger way: keep it and its history, renamed and read-only.

    Returns the table's new name. Its row versions stay in every verification, hashed under the
    original name, so the transactions that wrote them still verify.
    """
    with connect(dsn) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        spec = _live_spec(conn, table)
        prefix = f"dropped_{spec.id}_"
        relation, history, view = dropped_names(spec.id, spec.name, spec.append_only, _NAME_LIMIT)
        # Indexes (and the constraints they carry) and owned sequences are renamed too, so a new
        # table of the same name can be created with the same DDL. Numbered, so that names cut to
        # 63 bytes stay distinct.
        owned = conn.execute(
            "SELECT c.relname, c.relkind FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.oid IN ("
            "  SELECT indexrelid FROM pg_index WHERE indrelid = ANY(%s::regclass[]) "
            "  UNION SELECT d.objid FROM pg_depend d WHERE d.refobjid = ANY(%s::regclass[]) "
            "    AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))"
            "  AND c.relkind IN ('i', 'S') AND c.relname <> ALL(%s) "
            "ORDER BY c.relname",
            (TABLE_SCHEMA, *([[f'"{TABLE_SCHEMA}"."{r}"' for r in (spec.relation, spec.history)
                               if r is not None]] * 2),
             [f"accord_t{spec.id}_{k}" for k in ("start", "history_start", "history_end")]),
        ).fetchall()  # fmt: skip
        renames = [
            (str(name), str(kind), cut_identifier(f"{prefix}{k}_{name}", _NAME_LIMIT))
            for k, (name, kind) in enumerate(owned, start=1)
        ]
        for new in (relation, history, view, *(r[2] for r in renames)):
            if new is not None and _relation_exists(conn, new):
                raise InvalidRequest(f"cannot drop {table!r}: a relation named {new!r} exists")
        for old in (spec.relation, spec.history):
            if old is None:
                continue
            for trigger in TRIGGERS:
                conn.execute(
                    sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(
                        sql.Identifier(trigger), sql.Identifier(TABLE_SCHEMA, old)
                    )
                )
        for name, kind, new in renames:
            conn.execute(
                sql.SQL("ALTER {} {} RENAME TO {}").format(
                    sql.SQL("INDEX" if kind == "i" else "SEQUENCE"),
                    sql.Identifier(TABLE_SCHEMA, name),
                    sql.Identifier(new),
                )
            )
        conn.execute(
            sql.SQL("ALTER VIEW IF EXISTS {} RENAME TO {}").format(
                sql.Identifier(TABLE_SCHEMA, _view_name(spec)), sql.Identifier(view)
            )
        )
        conn.execute(
            sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                sql.Identifier(TABLE_SCHEMA, spec.relation), sql.Identifier(relation)
            )
        )
        if spec.history is not None and history is not None:
            conn.execute(
                sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                    sql.Identifier(TABLE_SCHEMA, spec.history), sql.Identifier(history)
                )
            )
        conn.execute(
            sql.SQL(
                "UPDATE {} SET relation = %s, history = %s, dropped = clock_timestamp() "
                "WHERE id = %s"
            ).format(_TABLES),
            (relation, history, spec.id),
        )
        dropped = TableSpec(
            spec.id,
            spec.name,
            spec.hash_name,
            relation,
            history,
            spec.kind,
            spec.columns,
            dropped=True,
        )
        for statement in dropped_triggers(dropped):
            conn.execute(statement)
        for role in ("insert", "update", "delete", "hashes"):
            conn.execute(
                sql.SQL("DROP FUNCTION IF EXISTS {}").format(
                    sql.Identifier(SCHEMA, function_name(spec, role))
                )
            )
        _install_dispatcher(conn)
        return relation


def drop_ledger_column(dsn: str, table: str, column: str) -> str:
    """Drop a column the ledger way: keep its data under a reserved name; returns that name.

    The column disappears from the ledger view and new rows leave it NULL; stored versions keep
    their values and are still hashed under the column's original name.
    """
    with connect(dsn) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        spec = _live_spec(conn, table)
        # Constraints and indexes on the column (found through pg_depend, so CHECKs, foreign keys
        # and expression or partial indexes count too).
        users = conn.execute(
            "SELECT DISTINCT CASE WHEN d.classid = 'pg_constraint'::regclass "
            "THEN 'constraint ' || (SELECT conname FROM pg_constraint WHERE oid = d.objid) "
            "ELSE 'index ' || d.objid::regclass::text END "
            "FROM pg_depend d JOIN pg_attribute a ON a.attrelid = d.refobjid "
            "AND a.attnum = d.refobjsubid "
            "WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = %(t)s::regclass "
            "AND a.attname = %(c)s AND (d.classid = 'pg_constraint'::regclass OR "
            "(d.classid = 'pg_class'::regclass AND (SELECT relkind FROM pg_class "
            "WHERE oid = d.objid) = 'i')) ORDER BY 1",
            {"t": f'"{TABLE_SCHEMA}"."{spec.relation}"', "c": column},
        ).fetchall()
        check_drop_column(spec, column, _primary_key(conn, spec.relation), [u[0] for u in users])
        count = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE table_id = %s").format(_DROPPED_COLUMNS),
            (spec.id,),
        ).fetchone()
        new = dropped_column_name((count[0] if count else 0) + 1, column, _NAME_LIMIT)
        check_dropped_column_name(spec, column, new)
        for relation in (spec.relation, spec.history):
            if relation is None:
                continue
            target = sql.Identifier(TABLE_SCHEMA, relation)
            conn.execute(
                sql.SQL("ALTER TABLE {} RENAME COLUMN {} TO {}").format(
                    target, sql.Identifier(column), sql.Identifier(new)
                )
            )
            conn.execute(
                sql.SQL(
                    "ALTER TABLE {t} ALTER COLUMN {c} DROP IDENTITY IF EXISTS, "
                    "ALTER COLUMN {c} DROP EXPRESSION IF EXISTS, ALTER COLUMN {c} DROP DEFAULT, "
                    "ALTER COLUMN {c} DROP NOT NULL"
                ).format(t=target, c=sql.Identifier(new))
            )
        conn.execute(
            sql.SQL("INSERT INTO {} (table_id, relation_column, name) VALUES (%s, %s, %s)").format(
                _DROPPED_COLUMNS
            ),
            (spec.id, new, column),
        )
        _install_table(conn, _live_spec(conn, table), triggers=False)
        return new


def _type_sql(column: Column) -> str:
    # format_type() output is PostgreSQL's own rendering of a catalog type: safe to splice.
    if not all(ch.isalnum() or ch in ' (),_"' for ch in column.sql_type):
        raise InvalidRequest(f"unexpected type name {column.sql_type!r}")
    return column.sql_type.replace("{", "{{").replace("}", "}}")


def list_ledger_tables(dsn: str) -> list[LedgerTableInfo]:
    with connect(dsn) as conn:
        if not _has_schema(conn):
            return []
        rows = conn.execute(
            sql.SQL(
                "SELECT name, kind, created, relation, dropped FROM {} ORDER BY name, id"
            ).format(_TABLES)
        ).fetchall()
        tables: list[LedgerTableInfo] = []
        for name, kind, created, relation, dropped in rows:
            count = conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(TABLE_SCHEMA, relation))
            ).fetchone()
            tables.append(
                {
                    "name": name,
                    "kind": kind,
                    "created": created.astimezone(UTC).isoformat(),
                    "droppedAs": relation if dropped is not None else None,
                    "dropped": None if dropped is None else dropped.astimezone(UTC).isoformat(),
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
        block = next_block(
            None if last is None else (int(last[0]), bytes(last[1])),
            [(int(t), bytes(h)) for t, h in rows],
        )
        if block is None:
            return None
        conn.execute(
            sql.SQL("UPDATE {} SET block_id = %s WHERE transaction_id = ANY(%s)").format(
                sql.Identifier(SCHEMA, "transactions")
            ),
            (block.block_id, list(block.transaction_ids)),
        )
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (block_id, transaction_count, root_hash, previous_block_hash, "
                "block_hash) VALUES (%s, %s, %s, %s, %s)"
            ).format(sql.Identifier(SCHEMA, "blocks")),
            (block.block_id, len(block.transaction_ids), block.root_hash,
             block.previous_block_hash, block.block_hash),
        )  # fmt: skip
        return block.block_id


def close_block(dsn: str) -> int | None:
    """Put every committed, unblocked transaction into a new block; its id, or None if none."""
    with connect(dsn) as conn:
        if not _has_schema(conn):
            raise NotFound("this database has no ledger tables")
        return _close_block(conn)


def newest_block(dsn: str) -> StoredBlockHead | None:
    with connect(dsn) as conn:
        if not _has_schema(conn):
            raise NotFound("this database has no ledger tables")
        row = conn.execute(
            sql.SQL(
                "SELECT b.block_id, b.block_hash, current_database(), "
                "(SELECT max(commit_time) FROM {t} WHERE block_id = b.block_id) "
                "FROM {b} b ORDER BY b.block_id DESC LIMIT 1"
            ).format(t=sql.Identifier(SCHEMA, "transactions"), b=sql.Identifier(SCHEMA, "blocks"))
        ).fetchone()
    if row is None:
        return None
    block_id, block_hash, database, last_commit = row
    return StoredBlockHead(str(database), int(block_id), bytes(block_hash), timestamp(last_commit))


# --- verification snapshot ------------------------------------------------------------------
def _primary_key(conn: psycopg.Connection[Any], table: str) -> list[str]:
    rows = conn.execute(
        "SELECT a.attname FROM pg_index i "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = to_regclass(%s) AND i.indisprimary ORDER BY a.attnum",
        (f'"{TABLE_SCHEMA}"."{table}"',),
    ).fetchall()
    return [str(r[0]) for r in rows]


def _read_versions(conn: psycopg.Connection[Any], spec: TableSpec) -> Iterator[RowVersion]:
    table = spec.hash_name
    columns = list(spec.columns)
    key = _primary_key(conn, spec.relation)
    texts = [canonical_expression(c) for c in columns]
    select = sql.SQL(", ").join(
        [
            *texts,
            sql.SQL("ledger_start_transaction_id, ledger_start_sequence_number, "
                    "ledger_end_transaction_id, ledger_end_sequence_number"),
        ]
    )  # fmt: skip
    sources = [(spec.relation, False)]
    if spec.history is not None:
        history_columns = _columns_of(conn, TABLE_SCHEMA, spec.history)
        if sorted(c.name for c in history_columns) != sorted(c.name for c in columns):
            raise TamperingDetected(
                f"{spec.history} does not have the columns of {spec.relation} (changed by "
                "ALTER TABLE outside accord?)"
            )
        sources.append((spec.history, True))
    for column in columns:
        if column.type_tag not in core.TYPE_TAGS:
            raise MalformedInput(f"unknown column type tag {column.type_tag!r}")
    # accord.row.v1 (core.row_text), with the per-column work done once per table: the columns in
    # ascending byte order of their names, each with its encoded ``<len>:<name><len>:<type>``.
    order = sorted(range(len(columns)), key=lambda i: columns[i].key.encode())
    layout = [
        (i, core.field(columns[i].key.encode()) + core.field(columns[i].type_tag.encode()))
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
            started = (start_tx, start_seq)
            yield RowVersion(table, insert, start_tx, start_seq, text, where, started)
            if is_history:
                yield RowVersion(table, delete, end_tx, end_seq, text, where, started)
            elif end_tx is not None or end_seq is not None:
                yield RowVersion(
                    table, delete, None, None, text, where + " (ended in place)", started
                )
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
            specs = _specs(conn)
            check_registry(f"{SCHEMA}.tables", f"{SCHEMA}.dropped_columns", specs, _NAME_LIMIT)
            snapshot = LedgerSnapshot(database=database, tables=[s.hash_name for s in specs])
            for spec in specs:
                snapshot.versions.extend(_read_versions(conn, spec))
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


class PostgresBackend:
    """Ledger tables in one PostgreSQL database (a ``postgresql://`` or ``key=value`` DSN)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def create_table(self, ddl: str, append_only: bool) -> list[Column]:
        return create_ledger_table(self.dsn, ddl, append_only)

    def add_column(self, table: str, definition: str) -> Column:
        return add_ledger_column(self.dsn, table, definition)

    def drop_table(self, table: str) -> str:
        return drop_ledger_table(self.dsn, table)

    def drop_column(self, table: str, column: str) -> str:
        return drop_ledger_column(self.dsn, table, column)

    def list_tables(self) -> list[LedgerTableInfo]:
        return list_ledger_tables(self.dsn)

    def close_block(self) -> int | None:
        return close_block(self.dsn)

    def newest_block(self) -> StoredBlockHead | None:
        return newest_block(self.dsn)

    def read_snapshot(self) -> LedgerSnapshot:
        return read_snapshot(self.dsn)
