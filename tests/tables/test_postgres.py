"""Ledger tables on a real PostgreSQL server, what only PostgreSQL has: its DDL refusals, value
types, the refusing triggers, savepoints and the commit hook. Scenarios shared with SQLite are in
test_database.py, test_tampering.py and test_schema_life.py."""

from __future__ import annotations

import psycopg
import pytest

from accord.errors import InvalidRequest
from accord.tables.database import (
    close_block,
    create_ledger_table,
    verify_database,
)
from tests.tables.conftest import sql


def _user_relations(dsn: str) -> list[str]:
    rows = sql(dsn, "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' ORDER BY relname")  # fmt: skip
    return [r[0] for r in rows]


@pytest.mark.parametrize(
    ("ddl", "message"),
    [
        ("CREATE TABLE t (id int); DROP TABLE x", "several statements"),
        ("ALTER TABLE x ADD COLUMN y int", "plain CREATE TABLE"),
        ("CREATE TABLE t (id int, tags text[])", "text\\[\\].*not support"),
        ("CREATE TABLE t (id int, p point)", "point"),
        ("CREATE TABLE t (id int, ledger_note text)", "reserved"),
        ("CREATE TABLE t (id int, nope)", "refused the DDL"),
        ("CREATE TABLE existing (id int)", "already exists"),
    ],
)
def test_create_refuses_and_changes_nothing(pg_dsn: str, ddl: str, message: str) -> None:
    sql(pg_dsn, "CREATE TABLE existing (id int)")
    with pytest.raises(InvalidRequest, match=message):
        create_ledger_table(pg_dsn, ddl)
    assert _user_relations(pg_dsn) == ["existing"]
    rows = sql(pg_dsn, "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'accord_scratch%'")
    assert rows == []


def test_create_refuses_existing_ledger_table_and_unreachable_database(pg_dsn: str) -> None:
    create_ledger_table(pg_dsn, "CREATE TABLE t (id int)")
    with pytest.raises(InvalidRequest, match="already exists"):
        create_ledger_table(pg_dsn, "CREATE TABLE t (id int)")
    with pytest.raises(InvalidRequest, match="cannot connect"):
        create_ledger_table("postgresql://postgres@127.0.0.1:1/nowhere", "CREATE TABLE t (id int)")
    with pytest.raises(InvalidRequest, match="SQLite"):
        create_ledger_table("/tmp/x.db", "CREATE TABLE t (id int)")


def test_canonical_text_of_every_type(pg_dsn: str) -> None:
    create_ledger_table(
        pg_dsn,
        "CREATE TABLE everything (i smallint, n numeric, f real, d double precision, t varchar(9),"
        " b boolean, dt date, ts timestamp, tz timestamptz, u uuid, by bytea, j jsonb)",
    )
    sql(pg_dsn, "SET timezone = 'Europe/Paris'")
    with psycopg.connect(pg_dsn) as conn:
        conn.execute(
            "SET timezone = 'America/New_York'; SET extra_float_digits = 3; SET datestyle = 'German'"
        )
        conn.execute(
            "INSERT INTO everything VALUES (-3, 1.50, 0.1, 1e300, 'héllo', true, '2024-02-29', "
            "'2024-02-29 13:14:15.5', '2024-02-29 13:14:15+01', "
            "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '\\x00FF10', '{\"b\": [1, 2], \"a\": null}')"
        )
        conn.execute("INSERT INTO everything (i) VALUES (NULL)")
    report = verify_database(pg_dsn)  # the verifier recomputes with core from canonical text
    assert report.row_versions == 2
    from accord.tables.postgres import _columns_of
    from accord.tables.postgres_sql import canonical_expression

    with psycopg.connect(pg_dsn) as conn:
        conn.execute("SET extra_float_digits = 1; SET datestyle = 'ISO, YMD'; SET timezone = 'UTC'")
        columns = _columns_of(conn, "public", "everything")
        exprs = psycopg.sql.SQL(", ").join(canonical_expression(c) for c in columns)
        row = conn.execute(
            psycopg.sql.SQL("SELECT {} FROM everything WHERE i = -3").format(exprs)
        ).fetchone()
    assert row == ("-3", "1.50", "0.1", "1e+300", "héllo", "true", "2024-02-29",
                   "2024-02-29 13:14:15.5", "2024-02-29 12:14:15+00",
                   "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "00ff10", '{"a": null, "b": [1, 2]}')  # fmt: skip


def test_append_only_refuses_update_delete_truncate(pg_accounts_db: str) -> None:
    for statement, message in (
        ("UPDATE events SET what = 'x'", "^ledger table public.events is append-only: UPDATE is "),
        ("DELETE FROM events", "append-only: DELETE is not allowed"),
        ("TRUNCATE events", "^ledger table public.events: TRUNCATE would bypass the ledger"),
        ("TRUNCATE accounts", "TRUNCATE would bypass"),
        ("TRUNCATE accounts_history", "TRUNCATE would bypass"),
        ("UPDATE accounts_history SET owner = 'x'",
         "^public.accounts_history holds the history of a ledger table and only grows: UPDATE"),
        ("DELETE FROM accounts_history", "only grows: DELETE is not allowed"),
    ):  # fmt: skip
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=message):
            sql(pg_accounts_db, statement)


def test_savepoints_and_immediate_constraints(pg_dsn: str) -> None:
    create_ledger_table(pg_dsn, "CREATE TABLE t (id int PRIMARY KEY, v text)")
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("INSERT INTO t VALUES (1, 'a')")
        with pytest.raises(psycopg.errors.UniqueViolation), conn.transaction():
            conn.execute("INSERT INTO t VALUES (2, 'b')")
            conn.execute("INSERT INTO t VALUES (2, 'dup')")
        conn.execute("INSERT INTO t VALUES (3, 'c')")
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
        conn.execute("INSERT INTO t VALUES (4, 'd')")
        conn.execute("UPDATE t SET v = 'e' WHERE id = 1")
    assert sql(pg_dsn, "SELECT count(*) FROM accord_ledger.transactions") == [(2,)]
    verify_database(pg_dsn)


def test_commit_hook_edge_cases(pg_dsn: str) -> None:
    """Every transaction is hashed once, exactly, also when its first write is skipped, when
    constraints turn IMMEDIATE halfway, or when a user's trigger on another table writes."""
    create_ledger_table(pg_dsn, "CREATE TABLE t (id int PRIMARY KEY, v text)")
    sql(pg_dsn, "INSERT INTO t VALUES (1, 'a')")
    with psycopg.connect(pg_dsn) as conn:  # first write skipped, then a real one
        conn.execute("INSERT INTO t VALUES (1, 'dup') ON CONFLICT DO NOTHING")
        conn.execute("INSERT INTO t VALUES (2, 'b')")
    with psycopg.connect(pg_dsn) as conn:  # only a skipped write: no ledger transaction
        conn.execute("INSERT INTO t VALUES (2, 'dup') ON CONFLICT DO NOTHING")
    with psycopg.connect(pg_dsn) as conn:  # upsert turning into an UPDATE
        conn.execute("INSERT INTO t VALUES (2, 'c') ON CONFLICT (id) DO UPDATE SET v = 'c2'")
    with psycopg.connect(pg_dsn) as conn:  # IMMEDIATE halfway: earlier rows hashed then, later too
        conn.execute("INSERT INTO t VALUES (3, 'd')")
        conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
        conn.execute("INSERT INTO t VALUES (4, 'e')")
        conn.execute("UPDATE t SET v = 'f' WHERE id IN (3, 4)")
        conn.execute("SET CONSTRAINTS ALL DEFERRED")
        conn.execute("DELETE FROM t WHERE id = 1")
    sql(pg_dsn, "CREATE TABLE inbox (id int)")
    sql(pg_dsn, "CREATE FUNCTION relay() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN INSERT INTO t VALUES (NEW.id, 'relayed'); RETURN NEW; END $$")  # fmt: skip
    sql(pg_dsn, "CREATE TRIGGER relay AFTER INSERT ON inbox FOR EACH ROW EXECUTE FUNCTION relay()")
    for mode in ("DEFERRED", "IMMEDIATE"):
        with psycopg.connect(pg_dsn) as conn:
            conn.execute(f"SET CONSTRAINTS ALL {mode}".encode())
            first = 10 if mode == "DEFERRED" else 20
            conn.execute("INSERT INTO inbox VALUES (%s), (%s)", (first, first + 1))
    assert sql(pg_dsn, "SELECT count(*) FROM accord_ledger.transactions") == [(6,)]
    placeholders = "SELECT count(*) FROM accord_ledger.transactions WHERE transaction_hash = ''"
    assert sql(pg_dsn, placeholders) == [(0,)]
    assert sql(pg_dsn, "SELECT id, v FROM t ORDER BY id") == [
        (2, "c2"), (3, "f"), (4, "f"), (10, "relayed"), (11, "relayed"), (20, "relayed"),
        (21, "relayed"),
    ]  # fmt: skip
    close_block(pg_dsn)
    assert verify_database(pg_dsn).transactions == 6
