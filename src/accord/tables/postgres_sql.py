"""The SQL accord installs in a PostgreSQL database for ledger tables (schema ``accord_ledger``).

Only text: the shared objects (bookkeeping tables, Merkle root, sequence counter, the generic
trigger functions, the commit-time hashing) and generators for the per-table objects. The hashing
here must produce exactly the bytes of :mod:`accord.tables.core` (``docs/tables.md``); the
verifier recomputes everything in Python, so a difference shows up as a verification failure,
never as a silently accepted forgery.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

from accord.tables.core import ROW_FORMAT, TRANSACTION_FORMAT
from accord.tables.model import LEDGER_COLUMNS, Column, TableSpec

SCHEMA = "accord_ledger"
TABLE_SCHEMA = "public"

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


def row_text_expression(
    columns: Sequence[Column], utf8: bool = False, source: str | None = None
) -> sql.Composable:
    """SQL text expression of the ``accord.row.v1`` row text (NULL columns left out).

    ``utf8``: the database encoding is UTF8, so ``octet_length`` of a text is already its UTF-8
    byte length (otherwise each value is converted first).
    """
    parts: list[sql.Composable] = []
    for column in sorted(columns, key=lambda c: c.key.encode()):
        value = canonical_expression(column, source)
        length = (
            sql.SQL("octet_length({})").format(value)
            if utf8
            else sql.SQL("octet_length(convert_to({}, 'UTF8'))").format(value)
        )
        prefix = _length_prefixed(column.key) + _length_prefixed(column.type_tag)
        # NULL || anything is NULL: the whole field collapses to '' for a NULL value.
        parts.append(
            sql.SQL("coalesce({prefix} || {length}::text || ':' || {value}, '')").format(
                prefix=sql.Literal(prefix), length=length, value=value
            )
        )
    if not parts:
        return sql.SQL("''")
    return sql.SQL(" || ").join(parts)


def _ident(name: str) -> sql.Identifier:
    return sql.Identifier(SCHEMA, name)


def function_name(spec: TableSpec, role: str) -> str:
    """Per-table generated functions are named by registry id: ``t<id>_<role>``."""
    return f"t{spec.id}_{role}"


# Sequence numbering and the touched-table list, inlined into each per-table row trigger. State
# lives in transaction-local settings (rolled back with a savepoint together with the rows):
# accord.seq = '<txid>:<last sequence number>', accord.touched = '<txid>:,<id>,<id>,'.
_STAMP = """
    tx := pg_catalog.txid_current();
    s := pg_catalog.current_setting('accord.seq', true);
    IF s IS NOT NULL AND pg_catalog.starts_with(s, tx::pg_catalog.text || ':') THEN
        n := pg_catalog.substr(s, pg_catalog.length(tx::pg_catalog.text) + 2)::bigint + 1;
    ELSE
        n := 0;
    END IF;
    PERFORM pg_catalog.set_config('accord.seq', tx::pg_catalog.text || ':' || (n + {extra})::pg_catalog.text, true);
    s := pg_catalog.current_setting('accord.touched', true);
    IF s IS NULL OR NOT pg_catalog.starts_with(s, tx::pg_catalog.text || ':') THEN
        PERFORM pg_catalog.set_config('accord.touched', tx::pg_catalog.text || ':,{id},', true);
    ELSIF pg_catalog.strpos(s, ',{id},') = 0 THEN
        PERFORM pg_catalog.set_config('accord.touched', s || '{id},', true);
    END IF;
"""
# The row functions that run as the owner (update/delete) carry no SET search_path (it costs a
# configuration change per row): every name in them is schema-qualified instead, operators
# included (see _qualify_operators), so the caller's search_path cannot substitute anything.
_DEFINER = "SECURITY DEFINER"
_OPERATORS = ("||", "+", "=")


def _qualify_operators(body: str) -> str:
    """Write every ``||``, ``+`` and ``=`` of generated plpgsql as ``OPERATOR(pg_catalog.op)``."""
    out = []
    for line in body.split("\n"):
        for op in _OPERATORS:
            line = line.replace(f" {op} ", f" OPERATOR(pg_catalog.{op}) ")
        out.append(line)
    return "\n".join(out)


def _row_function(spec: TableSpec, role: str, body: sql.Composable, definer: bool) -> sql.Composed:
    stamp = _STAMP.replace("{id}", str(spec.id))
    stamp = _qualify_operators(stamp.replace("{extra}", "1" if role == "update" else "0"))
    return sql.SQL(
        "CREATE OR REPLACE FUNCTION {f}() RETURNS trigger LANGUAGE plpgsql "
        + (_DEFINER if definer else "")
        + " AS $accord$ DECLARE tx bigint; s pg_catalog.text; n bigint; BEGIN "
        # Owner-run code only ever for the table it was generated for (not, say, a caller's
        # own table with this function attached as its trigger). By name, not OID, so that a
        # dump and restore keeps working.
        + "IF TG_TABLE_SCHEMA OPERATOR(pg_catalog.<>) {schema} "
        + "OR TG_TABLE_NAME OPERATOR(pg_catalog.<>) {relation} THEN "
        + "RAISE EXCEPTION 'accord: this trigger function belongs to another table' "
        + "USING ERRCODE = 'insufficient_privilege'; END IF; "
        + stamp.replace("{", "{{").replace("}", "}}")
        + "{body} END $accord$"
    ).format(
        f=_ident(function_name(spec, role)),
        body=body,
        schema=sql.Literal(TABLE_SCHEMA),
        relation=sql.Literal(spec.relation),
    )


def _history_insert(spec: TableSpec, history: str) -> sql.Composed:
    """Static INSERT of the OLD version into the history table, ended at (tx, n)."""
    names = [c.name for c in spec.columns]
    targets = [sql.Identifier(n) for n in names] + [sql.Identifier(c) for c in LEDGER_COLUMNS]
    values = [sql.SQL("OLD.{}").format(sql.Identifier(n)) for n in names] + [
        sql.SQL("OLD.ledger_start_transaction_id"),
        sql.SQL("tx"),
        sql.SQL("OLD.ledger_start_sequence_number"),
        sql.SQL("n"),
    ]
    return sql.SQL("INSERT INTO {h} ({t}) VALUES ({v});").format(
        h=sql.Identifier(TABLE_SCHEMA, history),
        t=sql.SQL(", ").join(targets),
        v=sql.SQL(", ").join(values),
    )


_NEW_VERSION = (
    "NEW.ledger_start_transaction_id := tx; "
    "NEW.ledger_start_sequence_number := n OPERATOR(pg_catalog.+) {};"
    " NEW.ledger_end_transaction_id := NULL; NEW.ledger_end_sequence_number := NULL;"
)


def row_functions(spec: TableSpec) -> list[sql.Composed]:
    """The per-table BEFORE ROW trigger functions, with static SQL (plans cached per session).

    Stamping a new version needs no privilege beyond the write itself; moving the old version to
    history runs as the owner (``SECURITY DEFINER``), so writers need no grant on the history.
    """
    functions = [
        _row_function(spec, "insert", sql.SQL(_NEW_VERSION.format(0) + " RETURN NEW;"), False)
    ]
    if spec.history is not None:
        history = _history_insert(spec, spec.history)
        functions.append(
            _row_function(
                spec,
                "update",
                sql.SQL("{} " + _NEW_VERSION.format(1) + " RETURN NEW;").format(history),
                True,
            )
        )
        functions.append(
            _row_function(spec, "delete", sql.SQL("{} RETURN OLD;").format(history), True)
        )
    return functions


def revoke_public(spec: TableSpec) -> sql.Composed:
    """Take EXECUTE on a table's generated functions away from PUBLIC (the default grant)."""
    roles = (
        ["insert", "hashes"] if spec.history is None else ["insert", "update", "delete", "hashes"]
    )
    return sql.SQL("REVOKE EXECUTE ON FUNCTION {} FROM PUBLIC").format(
        sql.SQL(", ").join(
            sql.SQL("{}()").format(_ident(function_name(spec, r)))
            if r != "hashes"
            else sql.SQL("{}(bigint)").format(_ident(function_name(spec, r)))
            for r in roles
        )
    )


def hashes_function(spec: TableSpec, utf8: bool) -> sql.Composed:
    """``t<id>_hashes(tx)``: the transaction's row-version hashes of this table, in sequence order.

    Called only from ``hash_transaction`` (which sets the canonical session settings).
    """
    text = row_text_expression(spec.columns, utf8)
    main = sql.Identifier(TABLE_SCHEMA, spec.relation)
    selects = [
        sql.SQL(
            "SELECT ledger_start_sequence_number AS seq, 'I' AS op, {text} AS rt FROM {main} "
            "WHERE ledger_start_transaction_id = tx"
        ).format(text=text, main=main)
    ]
    if spec.history is not None:
        history = sql.Identifier(TABLE_SCHEMA, spec.history)
        selects.append(
            sql.SQL(
                "SELECT ledger_start_sequence_number, 'I', {text} FROM {history} "
                "WHERE ledger_start_transaction_id = tx"
            ).format(text=text, history=history)
        )
        selects.append(
            sql.SQL(
                "SELECT ledger_end_sequence_number, 'D', {text} FROM {history} "
                "WHERE ledger_end_transaction_id = tx"
            ).format(text=text, history=history)
        )
    header = f"{ROW_FORMAT}\n{spec.hash_name}\n"
    return sql.SQL(
        "CREATE OR REPLACE FUNCTION {function}(tx bigint, OUT hashes bytea[], OUT seqs bigint[]) "
        "LANGUAGE plpgsql STABLE AS $accord$ BEGIN "
        "SELECT array_agg(v.seq ORDER BY v.seq), "
        "array_agg(sha256(convert_to({header} || v.op || chr(10) || tx::text || chr(10) "
        "|| v.seq::text || chr(10) || v.rt, 'UTF8')) ORDER BY v.seq) INTO seqs, hashes "
        "FROM ({selects}) v; END $accord$"
    ).format(
        function=_ident(function_name(spec, "hashes")),
        header=sql.Literal(header),
        selects=sql.SQL(" UNION ALL ").join(selects),
    )


def dispatcher(specs: Sequence[TableSpec]) -> sql.Composed:
    """``table_hashes(id, tx)``: static calls of each live table's ``t<id>_hashes``.

    Regenerated whenever a ledger table is created or dropped, so the commit-time hashing runs
    only statements whose plans PostgreSQL caches (no dynamic SQL per transaction).
    """
    branches: list[sql.Composable] = []
    for spec in specs:
        if spec.dropped:
            continue
        branches.append(
            sql.SQL(
                "IF id = {id} THEN name := {name}; "
                "SELECT h.hashes, h.seqs INTO hashes, seqs FROM {f}(tx) h; RETURN; END IF;"
            ).format(
                id=sql.Literal(spec.id),
                name=sql.Literal(spec.hash_name),
                f=_ident(function_name(spec, "hashes")),
            )
        )
    return sql.SQL(
        "CREATE OR REPLACE FUNCTION {f}(id bigint, tx bigint, OUT name text, OUT hashes bytea[], "
        "OUT seqs bigint[]) "
        "LANGUAGE plpgsql STABLE AS $accord$ BEGIN {branches} "
        "RAISE EXCEPTION 'accord: no live ledger table has id %', id; END $accord$"
    ).format(f=_ident("table_hashes"), branches=sql.SQL(" ").join(branches))


REVOKE_DISPATCHER = sql.SQL("REVOKE EXECUTE ON FUNCTION {}(bigint, bigint) FROM PUBLIC").format(
    _ident("table_hashes")
)


def ledger_view(spec: TableSpec, view: str) -> sql.Composed:
    columns = spec.live_columns()
    user = sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
    prefix = sql.SQL("{}, ").format(user) if columns else sql.SQL("")
    parts = [
        sql.SQL(
            "SELECT {prefix}ledger_start_transaction_id AS ledger_transaction_id, "
            "ledger_start_sequence_number AS ledger_sequence_number, "
            "'INSERT'::text AS ledger_operation_type_desc FROM {main}"
        ).format(prefix=prefix, main=sql.Identifier(TABLE_SCHEMA, spec.relation))
    ]
    if spec.history is not None:
        history = sql.Identifier(TABLE_SCHEMA, spec.history)
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
    return sql.SQL("CREATE OR REPLACE VIEW {view} AS {body}").format(
        view=sql.Identifier(TABLE_SCHEMA, view),
        body=sql.SQL(" UNION ALL ").join(parts),
    )


#: Names of the triggers accord puts on a ledger table and its history.
TRIGGERS = (
    "accord_ledger_insert",
    "accord_ledger_update",
    "accord_ledger_delete",
    "accord_ledger_append_only",
    "accord_ledger_truncate",
    "accord_ledger_commit",
    "accord_ledger_history",
    "accord_ledger_dropped",
)


#: Messages of the refusing triggers (format() templates: the table, then the operation).
_APPEND_ONLY = "ledger table %s is append-only: %s is not allowed"
_HISTORY = "%s holds the history of a ledger table and only grows: %s is not allowed"
_DROPPED = "%s is a dropped ledger table, kept read-only for verification: %s is not allowed"
_TRUNCATE = "ledger table %s: TRUNCATE would bypass the ledger; use DELETE"


def _trigger(
    name: str, timing: str, relation: str, function: str, message: str | None = None
) -> sql.Composed:
    """``CREATE TRIGGER``; with a ``message``, the function gets it as its argument."""
    each = "FOR EACH STATEMENT" if "TRUNCATE" in timing else "FOR EACH ROW"
    return sql.SQL(
        "CREATE TRIGGER {name} " + timing + " ON {rel} " + each + " EXECUTE FUNCTION {f}({m})"
    ).format(
        name=sql.Identifier(name),
        rel=sql.Identifier(TABLE_SCHEMA, relation),
        f=_ident(function),
        m=sql.SQL("") if message is None else sql.Literal(message),
    )


def table_triggers(spec: TableSpec) -> list[sql.Composed]:
    """Triggers of a live ledger table (and its history)."""
    main = spec.relation
    statements = [
        _trigger("accord_ledger_insert", "BEFORE INSERT", main, function_name(spec, "insert")),
        _trigger("accord_ledger_truncate", "BEFORE TRUNCATE", main, "refuse", _TRUNCATE),
    ]
    if spec.history is None:
        statements.append(
            _trigger(
                "accord_ledger_append_only", "BEFORE UPDATE OR DELETE", main, "refuse", _APPEND_ONLY
            )
        )
    else:
        history = spec.history
        statements += [
            _trigger("accord_ledger_update", "BEFORE UPDATE", main, function_name(spec, "update")),
            _trigger("accord_ledger_delete", "BEFORE DELETE", main, function_name(spec, "delete")),
            _trigger("accord_ledger_truncate", "BEFORE TRUNCATE", history, "refuse", _TRUNCATE),
            _trigger(
                "accord_ledger_history", "BEFORE UPDATE OR DELETE", history, "refuse", _HISTORY
            ),
        ]
    statements.append(
        sql.SQL(
            "CREATE CONSTRAINT TRIGGER accord_ledger_commit AFTER INSERT OR UPDATE OR DELETE "
            "ON {main} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            "EXECUTE FUNCTION {f}()"
        ).format(main=sql.Identifier(TABLE_SCHEMA, main), f=_ident("on_commit"))
    )
    return statements


def dropped_triggers(spec: TableSpec) -> list[sql.Composed]:
    """Triggers of a dropped ledger table: it and its history are read-only from then on."""
    statements = []
    for relation in (spec.relation, spec.history):
        if relation is None:
            continue
        statements.append(
            _trigger(
                "accord_ledger_dropped", "BEFORE INSERT OR UPDATE OR DELETE", relation, "refuse",
                _DROPPED,
            )
        )  # fmt: skip
        statements.append(
            _trigger("accord_ledger_truncate", "BEFORE TRUNCATE", relation, "refuse", _TRUNCATE)
        )
    return statements


# The shared objects. Installed (CREATE OR REPLACE) by every `tables create`, under an advisory
# lock, so upgrades of these functions reach existing databases. Only module constants are
# interpolated.
SHARED_OBJECTS = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
-- Writers reach accord's functions by name; the tables stay private to their owner.
GRANT USAGE ON SCHEMA {SCHEMA} TO PUBLIC;
CREATE TABLE IF NOT EXISTS {SCHEMA}.tables (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    hash_name text NOT NULL UNIQUE,
    relation text NOT NULL UNIQUE,
    history text UNIQUE,
    kind text NOT NULL CHECK (kind IN ('updatable', 'append_only')),
    created timestamptz NOT NULL DEFAULT clock_timestamp(),
    dropped timestamptz
);
CREATE UNIQUE INDEX IF NOT EXISTS tables_live_name ON {SCHEMA}.tables (name)
    WHERE dropped IS NULL;
CREATE TABLE IF NOT EXISTS {SCHEMA}.dropped_columns (
    table_id bigint NOT NULL REFERENCES {SCHEMA}.tables (id),
    relation_column text NOT NULL,
    name text NOT NULL,
    dropped timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (table_id, relation_column),
    UNIQUE (table_id, name)
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

-- Refuses the write that fired it: TG_ARGV[0] is the message, a format() template given the
-- table and the operation.
CREATE OR REPLACE FUNCTION {SCHEMA}.refuse() RETURNS trigger
LANGUAGE plpgsql AS $accord$
BEGIN
    RAISE EXCEPTION '%', format(TG_ARGV[0], TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, TG_OP)
        USING ERRCODE = 'insufficient_privilege';
END
$accord$;

-- Hash the current transaction's row versions of every ledger table it wrote and record it.
-- Runs as the owner of the ledger (writers need no grant on accord_ledger), only ever for the
-- calling transaction, from the state the row triggers left in accord.touched.
CREATE OR REPLACE FUNCTION {SCHEMA}.hash_transaction() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
{_FUNCTION_SETTINGS} AS $accord$
DECLARE
    tx bigint := txid_current();
    touched text := coalesce(current_setting('accord.touched', true), '');
    entry record;
    all_seqs bigint[] := '{{}}';
    tx_text text;
    roots jsonb := '{{}}'::jsonb;
BEGIN
    IF NOT starts_with(touched, tx::text || ':') THEN
        RETURN;
    END IF;
    tx_text := '{TRANSACTION_FORMAT}' || chr(10) || tx::text || chr(10);
    FOR entry IN
        SELECT h.name, encode({SCHEMA}.merkle_root(h.hashes), 'hex') AS root, h.seqs
        FROM unnest(string_to_array(trim(BOTH ',' FROM substr(touched, length(tx::text) + 2)),
                                    ',')) AS t(id),
             LATERAL {SCHEMA}.table_hashes(t.id::bigint, tx) AS h
        WHERE h.hashes IS NOT NULL
        ORDER BY convert_to(h.name, 'UTF8')
    LOOP
        roots := roots || jsonb_build_object(entry.name, entry.root);
        tx_text := tx_text || entry.name || ':' || entry.root || chr(10);
        all_seqs := all_seqs || entry.seqs;
    END LOOP;
    -- The numbering lives in a setting the writer's session could change: refuse the commit
    -- rather than record versions that verification would report.
    IF (SELECT count(*) <> count(DISTINCT q) FROM unnest(all_seqs) q) THEN
        RAISE EXCEPTION 'accord: the ledger sequence numbers of transaction % repeat (the '
            'accord.seq setting was changed); the transaction is refused', tx
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF roots = '{{}}'::jsonb THEN
        DELETE FROM {SCHEMA}.transactions WHERE transaction_id = tx;
        RETURN;
    END IF;
    INSERT INTO {SCHEMA}.transactions
        (transaction_id, block_id, commit_time, principal, table_hashes, transaction_hash)
    VALUES (tx, NULL, clock_timestamp(), session_user, roots,
            sha256(convert_to(tx_text, 'UTF8')))
    ON CONFLICT (transaction_id) DO UPDATE SET
        commit_time = EXCLUDED.commit_time,
        principal = EXCLUDED.principal,
        table_hashes = EXCLUDED.table_hashes,
        transaction_hash = EXCLUDED.transaction_hash;
END
$accord$;

-- Deferred to commit, once per row event: the first event of a transaction hashes it, later ones
-- return at once ('accord.hashed' remembers the sequence state it hashed). Under SET CONSTRAINTS
-- ... IMMEDIATE events fire after each statement, and a statement that wrote more rows since the
-- last hashing hashes the transaction again.
CREATE OR REPLACE FUNCTION {SCHEMA}.on_commit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $accord$
DECLARE
    state pg_catalog.text := coalesce(pg_catalog.current_setting('accord.seq', true), '');
BEGIN
    IF coalesce(pg_catalog.current_setting('accord.hashed', true), '')
       OPERATOR(pg_catalog.=) state THEN
        RETURN NULL;
    END IF;
    PERFORM pg_catalog.set_config('accord.hashed', state, true);
    PERFORM {SCHEMA}.hash_transaction();
    RETURN NULL;
END
$accord$;
-- Only the owner may call (or attach as a trigger) the functions that run as the owner; firing
-- the triggers accord created needs no EXECUTE privilege.
REVOKE EXECUTE ON FUNCTION {SCHEMA}.on_commit(), {SCHEMA}.hash_transaction() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION {SCHEMA}.merkle_root(bytea[]) FROM PUBLIC;
"""  # noqa: S608
