"""Schema life of ledger tables, on both backends: dropping tables and columns keeps their data,
renamed and read-only, and every hash still verifies; a re-created table hashes under its own
name, and relabelling a dropped table as the live one is caught. What only one backend has (the
PostgreSQL roles and owner functions, SQLite's NOT NULL, constraint and index refusals) is in
test_postgres.py and test_sqlite.py."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

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
from accord.tables.sqlite import LedgerWriteRefused, connect
from tests.tables.conftest import ACCOUNTS, SQLITE_ACCOUNTS, LedgerDatabase


def accounts_ddl(db: LedgerDatabase) -> str:
    return ACCOUNTS if db.postgres else SQLITE_ACCOUNTS


def relations(db: LedgerDatabase) -> set[str]:
    """Every table, view, index (and, on PostgreSQL, sequence) name in the database."""
    query = "SELECT relname FROM pg_class" if db.postgres else "SELECT name FROM sqlite_master"
    return {r[0] for r in db.query(query)}


def columns_of(db: LedgerDatabase, relation: str) -> list[str]:
    if db.postgres:
        return [r[0] for r in db.query("SELECT column_name FROM information_schema.columns "
                                       "WHERE table_name = ?", (relation,))]  # fmt: skip
    return [r[1] for r in db.query(f"PRAGMA table_info({relation})")]


def test_dropped_table_keeps_its_data_read_only_and_verified(accounts_db: LedgerDatabase) -> None:
    db = accounts_db
    digest = generate_digest(db.dsn)
    before = verify_database(db.dsn, [digest])
    current = db.query("SELECT id, owner, balance FROM accounts ORDER BY id")
    history_rows = db.query("SELECT count(*) FROM accounts_history")
    # SQLite: an application connection opened before the drop must notice it.
    writer = None if db.postgres else connect(db.dsn)

    renamed = drop_ledger_table(db.dsn, "accounts")

    assert renamed.startswith("dropped_") and renamed.endswith("_accounts")
    history = renamed.replace("_accounts", "_history_accounts")
    names = relations(db)
    gone = {"accounts", "accounts_history", "accounts_ledger"}
    assert (gone | {"accounts_pkey"} if db.postgres else gone).isdisjoint(names)
    assert {renamed, history} <= names
    assert db.query(f"SELECT id, owner, balance FROM {renamed} ORDER BY id") == current
    assert db.query(f"SELECT count(*) FROM {history}") == history_rows
    dropped = [t for t in list_ledger_tables(db.dsn) if t["name"] == "accounts"]
    assert dropped[0]["droppedAs"] == renamed and dropped[0]["dropped"] is not None
    assert dropped[0]["rows"] == len(current)

    statements = [
        f"INSERT INTO {renamed} (id, owner) VALUES (99, 'x')",
        f"UPDATE {renamed} SET balance = 0",
        f"DELETE FROM {renamed}",
        f"DELETE FROM {history}",
    ]
    refusal: tuple[type[Exception], str] = (sqlite3.IntegrityError, "dropped")
    if db.postgres:
        statements.append(f"TRUNCATE {renamed}")
        refusal = (psycopg.errors.InsufficientPrivilege, r"dropped ledger table|TRUNCATE")
    for statement in statements:
        with pytest.raises(refusal[0], match=refusal[1]):
            db.query(statement)
        if writer is not None:
            with pytest.raises(LedgerWriteRefused, match="dropped ledger table"):
                writer.execute(statement)
            writer.rollback()
    if writer is not None:
        writer.close()
    assert verify_database(db.dsn, [digest]).row_versions == before.row_versions
    with pytest.raises(NotFound):
        drop_ledger_table(db.dsn, "accounts")

    # The same DDL creates a new `accounts`; old and new both verify.
    create_ledger_table(db.dsn, accounts_ddl(db))
    db.write("INSERT INTO accounts (id, owner, balance) VALUES (1, 'new ann', 5)")
    db.write("UPDATE accounts SET balance = 6 WHERE id = 1")
    close_block(db.dsn)
    assert verify_database(db.dsn, [digest]).row_versions == before.row_versions + 3
    db.write(
        "INSERT INTO accounts (id, owner, balance) VALUES (2, 'new bob', 5)",
        "UPDATE accounts SET balance = 6 WHERE id = 2",  # inserted and updated in one transaction
    )
    close_block(db.dsn)
    assert verify_database(db.dsn, [digest]).row_versions == before.row_versions + 6

    # Tampering with the dropped table is still caught, and named.
    db.tamper(renamed, f"UPDATE {renamed} SET balance = 1 WHERE id = 2")
    with pytest.raises(TamperingDetected, match=f"{renamed} row id=2"):
        verify_database(db.dsn, [digest])


def test_dropped_column_keeps_its_data_under_a_reserved_name(accounts_db: LedgerDatabase) -> None:
    db = accounts_db
    digest = generate_digest(db.dsn)
    balances = db.query("SELECT id, balance FROM accounts ORDER BY id")

    renamed = drop_ledger_column(db.dsn, "accounts", "balance")

    assert renamed == "ledger_dropped_1_balance"
    assert db.query(f"SELECT id, {renamed} FROM accounts ORDER BY id") == balances
    view = columns_of(db, "accounts_ledger")
    assert "balance" not in view and renamed not in view and "owner" in view
    verify_database(db.dsn, [digest])

    # Applications go on without the column: inserts leave it NULL, updates keep old values.
    db.write(
        "INSERT INTO accounts (id, owner) VALUES (7, 'flo')",
        "UPDATE accounts SET owner = 'ann b' WHERE id = 1",
        "DELETE FROM accounts WHERE id = 2",
    )
    close_block(db.dsn)
    verify_database(db.dsn, [digest])
    assert db.query(f"SELECT {renamed} FROM accounts WHERE id = 7") == [(None,)]
    assert db.query(f"SELECT {renamed} FROM accounts WHERE id = 1") == [balances[0][1:]]

    # The dropped name cannot come back (its hashes use it); other names can.
    with pytest.raises(InvalidRequest, match="was dropped"):
        add_ledger_column(db.dsn, "accounts", "balance numeric")
    with pytest.raises(NotFound):
        drop_ledger_column(db.dsn, "accounts", "balance")
    add_ledger_column(db.dsn, "accounts", "balance2 numeric")
    db.write("UPDATE accounts SET balance2 = 1 WHERE id = 1")
    verify_database(db.dsn, [digest])

    # The kept values are hashed under the original name: editing them is caught.
    db.tamper("accounts", f"UPDATE accounts SET {renamed} = 0 WHERE id = 4")
    with pytest.raises(TamperingDetected, match="accounts row id=4"):
        verify_database(db.dsn, [digest])


def test_drop_column_refusals_change_nothing(accounts_db: LedgerDatabase) -> None:
    db = accounts_db
    refusals: list[tuple[str, str, type[Exception], str | None]] = [
        ("accounts", "id", InvalidRequest, "primary key"),
        ("accounts", "nope", NotFound, None),
        ("accounts", "ledger_start_transaction_id", NotFound, None),
        ("nope", "x", NotFound, None),
        ("events", "id", InvalidRequest, "primary key"),
    ]
    for table, column, error, message in refusals:
        with pytest.raises(error, match=message):
            drop_ledger_column(db.dsn, table, column)
    drop_ledger_column(db.dsn, "events", "what")
    with pytest.raises(NotFound):
        drop_ledger_column(db.dsn, "events", "what")
    create_ledger_table(db.dsn, "CREATE TABLE solo (v text)")
    with pytest.raises(InvalidRequest, match="last column"):
        drop_ledger_column(db.dsn, "solo", "v")
    verify_database(db.dsn)


def test_a_re_created_table_hashes_under_its_own_name(accounts_db: LedgerDatabase) -> None:
    """Rows of a dropped table and of a new table of the same name cannot be swapped unseen."""
    db = accounts_db
    db.write("UPDATE accounts SET balance = 1 WHERE id = 2")
    dropped = drop_ledger_table(db.dsn, "accounts")
    create_ledger_table(db.dsn, accounts_ddl(db))
    db.write("INSERT INTO accounts (id, owner, balance) VALUES (2, 'bob', 1)")  # the same values
    assert db.query(f"SELECT name, hash_name FROM {db.ledger('tables')} "
                    "WHERE name = 'accounts' ORDER BY id") == [
        ("accounts", "accounts"), ("accounts", "accounts#3")]  # fmt: skip
    digest = generate_digest(db.dsn)
    verify_database(db.dsn, [digest])
    # Swap bob's rows, ledger columns included, between the dropped table and its namesake.
    columns = "id, owner, balance, ledger_start_transaction_id, ledger_start_sequence_number"
    old = db.query(f"SELECT {columns} FROM {dropped} WHERE id = 2")[0]
    new = db.query(f"SELECT {columns} FROM accounts WHERE id = 2")[0]

    def values(row: tuple[Any, ...]) -> str:
        return f"({row[0]}, '{row[1]}', {row[2]}, {row[3]}, {row[4]})"

    db.tamper("accounts", "DELETE FROM accounts WHERE id = 2")
    db.tamper(dropped, f"DELETE FROM {dropped} WHERE id = 2")
    db.tamper("accounts", f"INSERT INTO accounts ({columns}) VALUES {values(old)}")
    db.tamper(dropped, f"INSERT INTO {dropped} ({columns}) VALUES {values(new)}")
    with pytest.raises(TamperingDetected):
        verify_database(db.dsn, [digest])


def test_relabelling_a_dropped_table_as_the_live_one_is_caught(
    accounts_db: LedgerDatabase,
) -> None:
    db = accounts_db
    dropped = drop_ledger_table(db.dsn, "accounts")
    history = dropped.replace("_accounts", "_history_accounts")
    create_ledger_table(db.dsn, accounts_ddl(db))
    db.write("INSERT INTO accounts (id, owner, balance) VALUES (2, 'bob', 1)")
    digest = generate_digest(db.dsn)
    tables = db.ledger("tables")
    # Swap the table pairs and their registry rows: every row still hashes as before.
    swap = f"""
        ALTER TABLE accounts RENAME TO swap; ALTER TABLE accounts_history RENAME TO swap_h;
        ALTER TABLE {dropped} RENAME TO accounts; ALTER TABLE {history} RENAME TO accounts_history;
        ALTER TABLE swap RENAME TO {dropped}; ALTER TABLE swap_h RENAME TO {history};
        UPDATE {tables} SET relation = 'x', history = 'xh' WHERE id = 3;
        UPDATE {tables} SET relation = 'accounts', history = 'accounts_history' WHERE id = 1;
        UPDATE {tables} SET relation = '{dropped}', history = '{history}' WHERE id = 3;
    """
    if db.postgres:
        db.query(swap)
    else:  # SQLite's RENAME re-checks the views over the renamed tables: drop them first
        conn = sqlite3.connect(db.dsn)
        conn.executescript("DROP VIEW accounts_ledger; DROP VIEW dropped_1_ledger_accounts;" + swap)
        conn.close()
    with pytest.raises(TamperingDetected, match=rf"{re.escape(tables)}: table id 1"):
        verify_database(db.dsn, [digest])
