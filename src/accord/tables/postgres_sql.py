"""The SQL accord installs in a PostgreSQL database for ledger tables (schema ``accord_ledger``).

Only text: the shared objects (bookkeeping tables, Merkle root, sequence counter, the generic
trigger functions, the commit-time hashing) and generators for the per-table objects. The hashing
here must produce exactly the bytes of :mod:`accord.tables.core` (``docs/tables.md``); the
verifier recomputes everything in Python, so a difference shows up as a verification failure,
never as a silently accepted forgery.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import sql

from accord.tables.core import ROW_FORMAT, TRANSACTION_FORMAT

SCHEMA = "accord_ledger"
TABLE_SCHEMA = "public"
LEDGER_COLUMNS = (
    "ledger_start_transaction_id",
    "ledger_end_transaction_id",
    "ledger_start_sequence_number",
    "ledger_end_sequence_number",
)

#: PostgreSQL base type name (``pg_type.typname``) → accord type tag.
TYPE_TAGS = {
    "int2": "int",
    "int4": "int",
    "int8": "int",
    "numeric": "numeric",
    "float4": "float",
    "float8": "float",
    "text": "text",
    "varchar": "text",
    "bpchar": "text",
    "bool": "bool",
    "date": "date",
    "timestamp": "timestamp",
    "timestamptz": "timestamptz",
    "uuid": "uuid",
    "bytea": "bytea",
    "jsonb": "jsonb",
}

#: The session settings under which canonical text is rendered (trigger functions and verifier).
CANONICAL_SETTINGS = (
    ("extra_float_digits", "1"),
    ("datestyle", "ISO, YMD"),
    ("timezone", "UTC"),
    ("intervalstyle", "postgres"),
)
_FUNCTION_SETTINGS = (
    "SET extra_float_digits = 1 SET datestyle = 'ISO, YMD' SET timezone = 'UTC' "
    "SET intervalstyle = 'postgres'"
)


@dataclass(frozen=True)
class Column:
    name: str
    type_tag: str
    sql_type: str


def canonical_expression(column: Column, source: str | None = None) -> sql.Composable:
    """SQL for the canonical text of one column (``docs/tables.md``), NULL when the value is."""
    ref: sql.Composable = sql.Identifier(column.name)
    if source is not None:
        ref = sql.SQL("{}.{}").format(sql.Identifier(source), ref)
    if column.type_tag == "bytea":
        return sql.SQL("encode({}, 'hex')").format(ref)
    return sql.SQL("({})::text").format(ref)


def _length_prefixed(text: str) -> str:
    return f"{len(text.encode())}:{text}"


def row_text_expression(columns: Sequence[Column]) -> sql.Composable:
    """SQL text expression of the ``accord.row.v1`` row text (NULL columns left out)."""
    parts: list[sql.Composable] = []
    for column in sorted(columns, key=lambda c: c.name.encode()):
        value = canonical_expression(column)
        prefix = _length_prefixed(column.name) + _length_prefixed(column.type_tag)
        parts.append(
            sql.SQL(
                "CASE WHEN {value} IS NULL THEN '' ELSE {prefix} || "
                "octet_length(convert_to({value}, 'UTF8'))::text || ':' || {value} END"
            ).format(value=value, prefix=sql.Literal(prefix))
        )
    if not parts:
        return sql.SQL("''")
    return sql.SQL(" || ").join(parts)


def versions_function_name(table: str) -> str:
    return f"versions__{table}"


def versions_function(table: str, columns: Sequence[Column], append_only: bool) -> sql.Composed:
    """The per-table function listing a transaction's version hashes in sequence order."""
    text = row_text_expression(columns)
    main = sql.Identifier(TABLE_SCHEMA, table)
    selects = [
        sql.SQL(
            "SELECT ledger_start_sequence_number AS seq, 'I' AS op, {text} AS rt FROM {main} "
            "WHERE ledger_start_transaction_id = $1"
        ).format(text=text, main=main)
    ]
    if not append_only:
        history = sql.Identifier(TABLE_SCHEMA, f"{table}_history")
        selects.append(
            sql.SQL(
                "SELECT ledger_start_sequence_number, 'I', {text} FROM {history} "
                "WHERE ledger_start_transaction_id = $1"
            ).format(text=text, history=history)
        )
        selects.append(
            sql.SQL(
                "SELECT ledger_end_sequence_number, 'D', {text} FROM {history} "
                "WHERE ledger_end_transaction_id = $1"
            ).format(text=text, history=history)
        )
    header = f"{ROW_FORMAT}\n{table}\n"
    return sql.SQL(
        "CREATE OR REPLACE FUNCTION {function}(bigint) RETURNS TABLE(seq bigint, h bytea) "  # noqa: S608 (constants only)
        "LANGUAGE sql STABLE " + _FUNCTION_SETTINGS + " AS $accord$ "
        "SELECT v.seq, sha256(convert_to({header} || v.op || chr(10) || $1::text || chr(10) || "
        "v.seq::text || chr(10) || v.rt, 'UTF8')) FROM ({selects}) v ORDER BY v.seq "
        "$accord$"
    ).format(
        function=sql.Identifier(SCHEMA, versions_function_name(table)),
        header=sql.Literal(header),
        selects=sql.SQL(" UNION ALL ").join(selects),
    )


def ledger_view(table: str, columns: Sequence[Column], append_only: bool) -> sql.Composed:
    user = sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
    prefix = sql.SQL("{}, ").format(user) if columns else sql.SQL("")
    parts = [
        sql.SQL(
            "SELECT {prefix}ledger_start_transaction_id AS ledger_transaction_id, "
            "ledger_start_sequence_number AS ledger_sequence_number, "
            "'INSERT'::text AS ledger_operation_type_desc FROM {main}"
        ).format(prefix=prefix, main=sql.Identifier(TABLE_SCHEMA, table))
    ]
    if not append_only:
        history = sql.Identifier(TABLE_SCHEMA, f"{table}_history")
        parts.append(
            sql.SQL(
                "SELECT {prefix}ledger_start_transaction_id, ledger_start_sequence_number, "
                "'INSERT' FROM {history}"
            ).format(prefix=prefix, history=history)
        )
        parts.append(
            sql.SQL(
                "SELECT {prefix}ledger_end_transaction_id, ledger_end_sequence_number, 'DELETE' "
                "FROM {history}"
            ).format(prefix=prefix, history=history)
        )
    return sql.SQL("CREATE VIEW {view} AS {body}").format(
        view=sql.Identifier(TABLE_SCHEMA, f"{table}_ledger"),
        body=sql.SQL(" UNION ALL ").join(parts),
    )


def table_triggers(table: str, append_only: bool) -> list[sql.Composed]:
    main = sql.Identifier(TABLE_SCHEMA, table)

    def trigger(name: str, timing: str, function: str) -> sql.Composed:
        return sql.SQL(
            "CREATE TRIGGER {name} " + timing + " ON {main} {each} EXECUTE FUNCTION {f}()"
        ).format(
            name=sql.Identifier(name),
            main=main,
            each=sql.SQL("FOR EACH STATEMENT" if "TRUNCATE" in timing else "FOR EACH ROW"),
            f=sql.Identifier(SCHEMA, function),
        )

    statements = [
        trigger("accord_ledger_insert", "BEFORE INSERT", "before_insert"),
        trigger("accord_ledger_truncate", "BEFORE TRUNCATE", "refuse_truncate"),
    ]
    if append_only:
        statements.append(
            trigger("accord_ledger_append_only", "BEFORE UPDATE OR DELETE", "refuse_change")
        )
    else:
        statements.append(trigger("accord_ledger_update", "BEFORE UPDATE", "before_update"))
        statements.append(trigger("accord_ledger_delete", "BEFORE DELETE", "before_delete"))
    statements.append(
        sql.SQL(
            "CREATE CONSTRAINT TRIGGER accord_ledger_commit AFTER INSERT OR UPDATE OR DELETE "
            "ON {main} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            "EXECUTE FUNCTION {f}()"
        ).format(main=main, f=sql.Identifier(SCHEMA, "on_commit"))
    )
    return statements


# The shared objects. Installed (CREATE OR REPLACE) by every `tables create`, under an advisory
# lock, so upgrades of these functions reach existing databases. Only module constants are
# interpolated.
SHARED_OBJECTS = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.tables (
    name text PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('updatable', 'append_only')),
    created timestamptz NOT NULL DEFAULT clock_timestamp(),
    dropped_as text
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.transactions (
    transaction_id bigint PRIMARY KEY,
    block_id bigint,
    commit_time timestamptz NOT NULL,
    principal text NOT NULL,
    table_hashes jsonb NOT NULL,
    transaction_hash bytea NOT NULL
);
CREATE INDEX IF NOT EXISTS transactions_unblocked ON {SCHEMA}.transactions (transaction_id)
    WHERE block_id IS NULL;
CREATE INDEX IF NOT EXISTS transactions_block ON {SCHEMA}.transactions (block_id);
CREATE TABLE IF NOT EXISTS {SCHEMA}.blocks (
    block_id bigint PRIMARY KEY,
    transaction_count bigint NOT NULL,
    root_hash bytea NOT NULL,
    previous_block_hash bytea NOT NULL,
    block_hash bytea NOT NULL
);

-- RFC 9162 Merkle tree hash over leaves already hashed by the caller (leaf = SHA-256(0x00||h)).
-- Bottom-up pairing with the odd last node promoted equals the RFC's recursive split.
CREATE OR REPLACE FUNCTION {SCHEMA}.merkle_root(hashes bytea[]) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE AS $accord$
DECLARE
    level bytea[];
    next_level bytea[];
    i integer;
    n integer;
BEGIN
    n := coalesce(array_length(hashes, 1), 0);
    IF n = 0 THEN
        RETURN sha256(''::bytea);
    END IF;
    level := ARRAY(SELECT sha256('\\x00'::bytea || h) FROM unnest(hashes) WITH ORDINALITY u(h, o)
                   ORDER BY o);
    WHILE array_length(level, 1) > 1 LOOP
        next_level := '{{}}';
        n := array_length(level, 1);
        i := 1;
        WHILE i <= n LOOP
            IF i < n THEN
                next_level := array_append(next_level,
                                           sha256('\\x01'::bytea || level[i] || level[i + 1]));
            ELSE
                next_level := array_append(next_level, level[i]);
            END IF;
            i := i + 2;
        END LOOP;
        level := next_level;
    END LOOP;
    RETURN level[1];
END
$accord$;

-- Per-transaction sequence counter, kept as 'txid:n' in a transaction-local setting (a rolled
-- back savepoint rolls the counter back together with the rows that used it).
CREATE OR REPLACE FUNCTION {SCHEMA}.next_sequence() RETURNS bigint
LANGUAGE plpgsql AS $accord$
DECLARE
    tx text := txid_current()::text;
    state text := coalesce(current_setting('accord.seq', true), '');
    n bigint;
BEGIN
    IF split_part(state, ':', 1) = tx THEN
        n := split_part(state, ':', 2)::bigint + 1;
    ELSE
        n := 0;
    END IF;
    PERFORM set_config('accord.seq', tx || ':' || n, true);
    RETURN n;
END
$accord$;

-- Remember which ledger tables this transaction wrote: 'txid:name,name'.
CREATE OR REPLACE FUNCTION {SCHEMA}.touch(name text) RETURNS void
LANGUAGE plpgsql AS $accord$
DECLARE
    tx text := txid_current()::text;
    state text := coalesce(current_setting('accord.touched', true), '');
    names text := '';
BEGIN
    IF split_part(state, ':', 1) = tx THEN
        names := substr(state, length(tx) + 2);
    END IF;
    IF NOT (name = ANY (string_to_array(names, ','))) OR names = '' THEN
        names := CASE WHEN names = '' THEN name ELSE names || ',' || name END;
        PERFORM set_config('accord.touched', tx || ':' || names, true);
    END IF;
END
$accord$;

CREATE OR REPLACE FUNCTION {SCHEMA}.before_insert() RETURNS trigger
LANGUAGE plpgsql AS $accord$
BEGIN
    NEW.ledger_start_transaction_id := txid_current();
    NEW.ledger_start_sequence_number := {SCHEMA}.next_sequence();
    NEW.ledger_end_transaction_id := NULL;
    NEW.ledger_end_sequence_number := NULL;
    PERFORM {SCHEMA}.touch(TG_TABLE_NAME);
    RETURN NEW;
END
$accord$;

CREATE OR REPLACE FUNCTION {SCHEMA}.before_update() RETURNS trigger
LANGUAGE plpgsql AS $accord$
BEGIN
    -- The old version goes to history whole (same columns in the same order: CREATE TABLE ...
    -- LIKE, and add-column extends both alike), with its end stamped.
    OLD.ledger_end_transaction_id := txid_current();
    OLD.ledger_end_sequence_number := {SCHEMA}.next_sequence();
    EXECUTE format('INSERT INTO %I.%I SELECT ($1).*', TG_TABLE_SCHEMA, TG_TABLE_NAME || '_history')
        USING OLD;
    NEW.ledger_start_transaction_id := txid_current();
    NEW.ledger_start_sequence_number := {SCHEMA}.next_sequence();
    NEW.ledger_end_transaction_id := NULL;
    NEW.ledger_end_sequence_number := NULL;
    PERFORM {SCHEMA}.touch(TG_TABLE_NAME);
    RETURN NEW;
END
$accord$;

CREATE OR REPLACE FUNCTION {SCHEMA}.before_delete() RETURNS trigger
LANGUAGE plpgsql AS $accord$
BEGIN
    OLD.ledger_end_transaction_id := txid_current();
    OLD.ledger_end_sequence_number := {SCHEMA}.next_sequence();
    EXECUTE format('INSERT INTO %I.%I SELECT ($1).*', TG_TABLE_SCHEMA, TG_TABLE_NAME || '_history')
        USING OLD;
    PERFORM {SCHEMA}.touch(TG_TABLE_NAME);
    RETURN OLD;
END
$accord$;

CREATE OR REPLACE FUNCTION {SCHEMA}.refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $accord$
BEGIN
    RAISE EXCEPTION 'ledger table %.% is append-only: % is not allowed',
        TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END
$accord$;

CREATE OR REPLACE FUNCTION {SCHEMA}.refuse_truncate() RETURNS trigger
LANGUAGE plpgsql AS $accord$
BEGIN
    RAISE EXCEPTION 'ledger table %.%: TRUNCATE would bypass the ledger; use DELETE',
        TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$accord$;

-- Deferred to commit: hash every ledger table this transaction touched and record the
-- transaction. Runs once per row event; 'accord.hashed' remembers the sequence state it hashed,
-- so later events of the same transaction are no-ops unless more rows were written since (which
-- happens under SET CONSTRAINTS ... IMMEDIATE).
CREATE OR REPLACE FUNCTION {SCHEMA}.on_commit() RETURNS trigger
LANGUAGE plpgsql {_FUNCTION_SETTINGS} AS $accord$
DECLARE
    tx bigint := txid_current();
    state text := coalesce(current_setting('accord.seq', true), '');
    touched text := coalesce(current_setting('accord.touched', true), '');
    name text;
    hashes bytea[];
    root bytea;
    roots jsonb := '{{}}'::jsonb;
    tx_text text;
BEGIN
    IF coalesce(current_setting('accord.hashed', true), '') = state
       OR split_part(touched, ':', 1) <> tx::text THEN
        RETURN NULL;
    END IF;
    tx_text := '{TRANSACTION_FORMAT}' || chr(10) || tx::text || chr(10);
    FOR name IN
        SELECT t FROM unnest(string_to_array(substr(touched, length(tx::text) + 2), ',')) t
        ORDER BY convert_to(t, 'UTF8')
    LOOP
        EXECUTE format('SELECT array_agg(h ORDER BY seq) FROM %I.%I($1)', '{SCHEMA}',
                       'versions__' || name)
            INTO hashes USING tx;
        IF hashes IS NOT NULL THEN
            root := {SCHEMA}.merkle_root(hashes);
            roots := roots || jsonb_build_object(name, encode(root, 'hex'));
            tx_text := tx_text || name || ':' || encode(root, 'hex') || chr(10);
        END IF;
    END LOOP;
    PERFORM set_config('accord.hashed', state, true);
    IF roots = '{{}}'::jsonb THEN
        DELETE FROM {SCHEMA}.transactions WHERE transaction_id = tx;
        RETURN NULL;
    END IF;
    INSERT INTO {SCHEMA}.transactions
        (transaction_id, block_id, commit_time, principal, table_hashes, transaction_hash)
    VALUES (tx, NULL, clock_timestamp(), current_user, roots,
            sha256(convert_to(tx_text, 'UTF8')))
    ON CONFLICT (transaction_id) DO UPDATE SET
        commit_time = EXCLUDED.commit_time,
        principal = EXCLUDED.principal,
        table_hashes = EXCLUDED.table_hashes,
        transaction_hash = EXCLUDED.transaction_hash;
    RETURN NULL;
END
$accord$;
"""  # noqa: S608
