"""Ledger tables on a real PostgreSQL server, what only PostgreSQL has: its DDL refusals, value
types, the refusing triggers, savepoints and the commit hook; roles (writers need no grant on the
ledger's own objects, and cannot hijack or borrow its owner functions), and a dump and restore.
Scenarios shared with SQLite are in test_database.py, test_tampering.py, test_schema_life.py,
test_cli.py and test_concurrency.py."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import psycopg
import pytest

from accord.errors import InvalidRequest
from accord.tables.database import (
    close_block,
    create_ledger_table,
    verify_database,
)
from accord.testing.pgserver import PostgresServer, find_postgres_bindir
from tests.tables.conftest import ACCOUNTS, sql


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


def test_writers_need_no_grant_on_the_ledger_objects(pg_accounts_db: str) -> None:
    role = f"clerk_{secrets.token_hex(4)}"  # roles are per server, databases per test
    sql(pg_accounts_db, f"CREATE ROLE {role} LOGIN")
    sql(pg_accounts_db, f"GRANT SELECT, INSERT, UPDATE, DELETE ON accounts, events TO {role}")
    sql(pg_accounts_db, f"GRANT USAGE ON SEQUENCE events_id_seq TO {role}")
    clerk = pg_accounts_db.replace("postgres@", f"{role}@")
    assert clerk != pg_accounts_db
    with psycopg.connect(clerk) as conn:
        conn.execute("INSERT INTO accounts VALUES (20, 'zed', 1)")
        conn.execute("UPDATE accounts SET balance = 2 WHERE id = 20")
        conn.execute("DELETE FROM accounts WHERE id = 1")
        conn.execute("INSERT INTO events (what) VALUES ('by clerk')")
    principal = sql(pg_accounts_db, "SELECT principal FROM accord_ledger.transactions "
                                 "ORDER BY transaction_id DESC LIMIT 1")  # fmt: skip
    assert principal == [(role,)]
    for statement in (
        "DELETE FROM accord_ledger.transactions",
        "UPDATE accounts_history SET balance = 0",
        "INSERT INTO accounts_history (id, owner) VALUES (1, 'x')",
    ):
        with psycopg.connect(clerk) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement.encode())
    close_block(pg_accounts_db)
    verify_database(pg_accounts_db)


def test_a_writers_search_path_cannot_hijack_the_owner_functions(pg_accounts_db: str) -> None:
    role = f"mallory_{secrets.token_hex(4)}"
    sql(pg_accounts_db, f"CREATE ROLE {role} LOGIN")
    sql(pg_accounts_db, f"CREATE SCHEMA evil AUTHORIZATION {role}")
    sql(pg_accounts_db, f"GRANT SELECT, INSERT, UPDATE, DELETE ON accounts TO {role}")
    mallory = pg_accounts_db.replace("postgres@", f"{role}@")
    with psycopg.connect(mallory, autocommit=True) as conn:
        for signature, returns in (("starts_with(text, text)", "boolean"),
                                   ("strpos(text, text)", "integer"),
                                   ("current_setting(text, boolean)", "text"),
                                   ("textcat(text, text)", "text")):  # fmt: skip
            conn.execute(
                f"CREATE FUNCTION evil.{signature} RETURNS {returns} LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'hijacked as %', current_user; END $$".encode()
            )
        conn.execute("CREATE OPERATOR evil.|| (LEFTARG = text, RIGHTARG = text, "
                     "FUNCTION = evil.textcat)")  # fmt: skip
        conn.execute("SET search_path = evil, pg_catalog, public")
        conn.execute("UPDATE accounts SET balance = 1 WHERE id = 1")
        conn.execute("DELETE FROM accounts WHERE id = 2")
        conn.execute("INSERT INTO accounts VALUES (30, 'x', 1)")
    close_block(pg_accounts_db)
    verify_database(pg_accounts_db)


def test_owner_functions_cannot_be_borrowed_for_another_table(pg_accounts_db: str) -> None:
    role = f"borrower_{secrets.token_hex(4)}"
    sql(pg_accounts_db, f"CREATE ROLE {role} LOGIN")
    borrower = pg_accounts_db.replace("postgres@", f"{role}@")
    history_before = sql(pg_accounts_db, "SELECT count(*) FROM accounts_history")
    functions = sql(pg_accounts_db, "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN "
                                 "pg_namespace n ON n.oid = p.pronamespace WHERE "
                                 "n.nspname = 'accord_ledger' AND p.prosecdef")  # fmt: skip
    assert len(functions) == 4  # update and delete of accounts, on_commit, hash_transaction
    for (function,) in functions:
        with psycopg.connect(borrower) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            if function.endswith("()") and "hash_transaction" not in function:
                conn.execute(
                    "CREATE TEMP TABLE accounts (id int, owner text, balance numeric, "
                    "ledger_start_transaction_id bigint, ledger_end_transaction_id bigint, "
                    "ledger_start_sequence_number bigint, ledger_end_sequence_number bigint)"
                )
                conn.execute(
                    f"CREATE TRIGGER x BEFORE DELETE ON pg_temp.accounts FOR EACH ROW "
                    f"EXECUTE FUNCTION {function}".encode()
                )
            else:
                conn.execute(f"SELECT {function.split('(')[0]}()".encode())
    # Even the owner cannot point a table's row function at another table.
    sql(pg_accounts_db, "CREATE TABLE decoy (LIKE accounts)")
    sql(pg_accounts_db, "CREATE TRIGGER x BEFORE DELETE ON decoy FOR EACH ROW "
                     "EXECUTE FUNCTION accord_ledger.t1_delete()")  # fmt: skip
    sql(pg_accounts_db, "INSERT INTO decoy (id, owner) VALUES (666, 'mallory')")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="belongs to another table"):
        sql(pg_accounts_db, "DELETE FROM decoy")
    assert sql(pg_accounts_db, "SELECT count(*) FROM accounts_history") == history_before
    verify_database(pg_accounts_db)


def test_a_writer_rewinding_the_sequence_setting_gets_the_commit_refused(
    pg_accounts_db: str,
) -> None:
    before = sql(pg_accounts_db, "SELECT count(*) FROM accounts")
    with psycopg.connect(pg_accounts_db) as conn:
        conn.execute("INSERT INTO accounts VALUES (50, 'x', 1)")
        conn.execute("SELECT set_config('accord.seq', txid_current() || ':-1', true)")
        conn.execute("INSERT INTO accounts VALUES (51, 'y', 1)")
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="repeat"):
            conn.commit()
    assert sql(pg_accounts_db, "SELECT count(*) FROM accounts") == before
    verify_database(pg_accounts_db)


def test_writes_and_verification_survive_a_dump_and_restore(
    pg_accounts_db: str, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    bindir = find_postgres_bindir()
    assert bindir is not None
    dump = tmp_path / "ledger.sql"
    subprocess.run([str(bindir / "pg_dump"), "--no-owner", "-f", str(dump), pg_accounts_db],
                   check=True, capture_output=True)  # fmt: skip
    restored = postgres_server.create_database(f"restored_{secrets.token_hex(4)}")
    subprocess.run([str(bindir / "psql"), "-q", "-v", "ON_ERROR_STOP=1", "-f", str(dump),
                    restored], check=True, capture_output=True)  # fmt: skip
    verify_database(restored)
    sql(restored, "INSERT INTO accounts VALUES (40, 'new', 1)")
    sql(restored, "UPDATE accounts SET balance = 2 WHERE id = 40")
    sql(restored, "DELETE FROM accounts WHERE id = 1")
    close_block(restored)
    assert (
        verify_database(restored).row_versions == verify_database(pg_accounts_db).row_versions + 4
    )


def test_a_schema_squatted_by_another_role_is_refused(pg_dsn: str) -> None:
    role = f"squatter_{secrets.token_hex(4)}"
    sql(pg_dsn, f"CREATE ROLE {role} LOGIN")
    database = pg_dsn.rsplit("/", 1)[1]
    sql(pg_dsn, f'GRANT CREATE ON DATABASE "{database}" TO {role}')
    sql(pg_dsn.replace("postgres@", f"{role}@"), "CREATE SCHEMA accord_ledger")
    with pytest.raises(InvalidRequest, match=f"belongs to {role}"):
        create_ledger_table(pg_dsn, ACCOUNTS)
    assert sql(pg_dsn, "SELECT to_regclass('public.accounts')") == [(None,)]
