"""Schema life of ledger tables on real PostgreSQL: dropping tables and columns keeps their data,
renamed and read-only, and every hash still verifies; non-owner roles write without grants on the
ledger's own objects."""

from __future__ import annotations

import secrets

import psycopg
import pytest

from accord.errors import InvalidRequest, NotFound, TamperingDetected
from accord.tables.database import (
    add_ledger_column,
    close_block,
    create_ledger_table,
    drop_ledger_column,
    drop_ledger_table,
    generate_digest,
    list_ledger_tables,
    verify_database,
)
from tests.tables.conftest import ACCOUNTS, sql, tampered


def test_dropped_table_keeps_its_data_read_only_and_verified(accounts_db: str) -> None:
    digest = generate_digest(accounts_db)
    before = verify_database(accounts_db, [digest])
    current = sql(accounts_db, "SELECT id, owner, balance FROM accounts ORDER BY id")
    history = sql(accounts_db, "SELECT count(*) FROM accounts_history")

    renamed = drop_ledger_table(accounts_db, "accounts")

    assert renamed.startswith("dropped_") and renamed.endswith("_accounts")
    relations = {r[0] for r in sql(accounts_db, "SELECT relname FROM pg_class")}
    assert {"accounts", "accounts_history", "accounts_ledger", "accounts_pkey"}.isdisjoint(
        relations
    )
    assert sql(accounts_db, f"SELECT id, owner, balance FROM {renamed} ORDER BY id") == current
    dropped = [t for t in list_ledger_tables(accounts_db) if t["name"] == "accounts"]
    assert dropped[0]["droppedAs"] == renamed and dropped[0]["dropped"] is not None
    history_name = renamed.replace("_accounts", "_history_accounts")
    assert sql(accounts_db, f"SELECT count(*) FROM {history_name}") == history
    for statement in (
        f"INSERT INTO {renamed} (id, owner) VALUES (99, 'x')",
        f"UPDATE {renamed} SET balance = 0",
        f"DELETE FROM {renamed}",
        f"TRUNCATE {renamed}",
        f"DELETE FROM {history_name}",
    ):
        with pytest.raises(
            psycopg.errors.InsufficientPrivilege, match=r"dropped ledger table|TRUNCATE"
        ):
            sql(accounts_db, statement)
    after = verify_database(accounts_db, [digest])
    assert after.row_versions == before.row_versions
    with pytest.raises(NotFound):
        drop_ledger_table(accounts_db, "accounts")

    # The same DDL creates a new `accounts`; old and new both verify.
    create_ledger_table(accounts_db, ACCOUNTS)
    sql(accounts_db, "INSERT INTO accounts VALUES (1, 'new ann', 5)")
    sql(accounts_db, "UPDATE accounts SET balance = 6 WHERE id = 1")
    close_block(accounts_db)
    report = verify_database(accounts_db, [digest])
    assert report.row_versions == before.row_versions + 3

    # Tampering with the dropped table is still caught, and named.
    tampered(accounts_db, renamed, f"UPDATE {renamed} SET balance = 1 WHERE id = 2")
    with pytest.raises(TamperingDetected, match=f"{renamed} row id=2"):
        verify_database(accounts_db, [digest])


def test_dropped_column_keeps_its_data_under_a_reserved_name(accounts_db: str) -> None:
    digest = generate_digest(accounts_db)
    balances = sql(accounts_db, "SELECT id, balance FROM accounts ORDER BY id")

    renamed = drop_ledger_column(accounts_db, "accounts", "balance")

    assert renamed == "ledger_dropped_1_balance"
    assert sql(accounts_db, f"SELECT id, {renamed} FROM accounts ORDER BY id") == balances
    view_columns = sql(accounts_db, "SELECT column_name FROM information_schema.columns "
                                    "WHERE table_name = 'accounts_ledger'")  # fmt: skip
    assert ("balance",) not in view_columns and (renamed,) not in view_columns
    verify_database(accounts_db, [digest])

    # Applications go on without the column: inserts leave it NULL, updates keep old values.
    sql(accounts_db, "INSERT INTO accounts (id, owner) VALUES (7, 'flo')")
    sql(accounts_db, "UPDATE accounts SET owner = 'ann b' WHERE id = 1")
    sql(accounts_db, "DELETE FROM accounts WHERE id = 2")
    close_block(accounts_db)
    verify_database(accounts_db, [digest])
    assert sql(accounts_db, f"SELECT {renamed} FROM accounts WHERE id = 7") == [(None,)]
    assert sql(accounts_db, f"SELECT {renamed} FROM accounts WHERE id = 1") == [balances[0][1:]]

    # The dropped name cannot come back (its hashes use it); other names can.
    with pytest.raises(InvalidRequest, match="was dropped"):
        add_ledger_column(accounts_db, "accounts", "balance numeric")
    add_ledger_column(accounts_db, "accounts", "balance2 numeric")
    sql(accounts_db, "UPDATE accounts SET balance2 = 1 WHERE id = 1")
    verify_database(accounts_db, [digest])

    # The kept values are hashed under the original name: editing them is caught.
    tampered(accounts_db, "accounts", f"UPDATE accounts SET {renamed} = 0 WHERE id = 4")
    with pytest.raises(TamperingDetected, match="accounts row id=4"):
        verify_database(accounts_db, [digest])


def test_drop_column_refusals_change_nothing(accounts_db: str) -> None:
    for table, column, error in (
        ("accounts", "id", InvalidRequest),  # primary key
        ("accounts", "nope", NotFound),
        ("accounts", "ledger_start_transaction_id", NotFound),
        ("nope", "x", NotFound),
        ("events", "id", InvalidRequest),
    ):
        with pytest.raises(error):
            drop_ledger_column(accounts_db, table, column)
    drop_ledger_column(accounts_db, "events", "what")
    with pytest.raises(NotFound):
        drop_ledger_column(accounts_db, "events", "what")
    with pytest.raises(InvalidRequest, match="last column"):
        create_ledger_table(accounts_db, "CREATE TABLE solo (v text)")
        drop_ledger_column(accounts_db, "solo", "v")
    verify_database(accounts_db)


def test_writers_need_no_grant_on_the_ledger_objects(accounts_db: str) -> None:
    role = f"clerk_{secrets.token_hex(4)}"  # roles are per server, databases per test
    sql(accounts_db, f"CREATE ROLE {role} LOGIN")
    sql(accounts_db, f"GRANT SELECT, INSERT, UPDATE, DELETE ON accounts, events TO {role}")
    sql(accounts_db, f"GRANT USAGE ON SEQUENCE events_id_seq TO {role}")
    clerk = accounts_db.replace("postgres@", f"{role}@")
    assert clerk != accounts_db
    with psycopg.connect(clerk) as conn:
        conn.execute("INSERT INTO accounts VALUES (20, 'zed', 1)")
        conn.execute("UPDATE accounts SET balance = 2 WHERE id = 20")
        conn.execute("DELETE FROM accounts WHERE id = 1")
        conn.execute("INSERT INTO events (what) VALUES ('by clerk')")
    principal = sql(accounts_db, "SELECT principal FROM accord_ledger.transactions "
                                 "ORDER BY transaction_id DESC LIMIT 1")  # fmt: skip
    assert principal == [(role,)]
    for statement in (
        "DELETE FROM accord_ledger.transactions",
        "UPDATE accounts_history SET balance = 0",
        "INSERT INTO accounts_history (id, owner) VALUES (1, 'x')",
    ):
        with psycopg.connect(clerk) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement.encode())
    close_block(accounts_db)
    verify_database(accounts_db)


def test_a_writers_search_path_cannot_hijack_the_owner_functions(accounts_db: str) -> None:
    role = f"mallory_{secrets.token_hex(4)}"
    sql(accounts_db, f"CREATE ROLE {role} LOGIN")
    sql(accounts_db, f"CREATE SCHEMA evil AUTHORIZATION {role}")
    sql(accounts_db, f"GRANT SELECT, INSERT, UPDATE, DELETE ON accounts TO {role}")
    mallory = accounts_db.replace("postgres@", f"{role}@")
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
    close_block(accounts_db)
    verify_database(accounts_db)
