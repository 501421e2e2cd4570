"""Schema life of ledger tables in SQLite: dropped tables and columns keep their data, renamed and
read-only (for the wrapper and for plain sqlite3), and still verify."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from accord.errors import InvalidRequest, NotFound, StorageError, TamperingDetected
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
from tests.tables.conftest import SQLITE_ACCOUNTS as ACCOUNTS
from tests.tables.conftest import raw
from tests.tables.test_sqlite import populated


@pytest.fixture
def accounts_db(tmp_path: Path) -> str:
    return populated(tmp_path)


def test_dropped_table_keeps_its_data_read_only_and_verified(accounts_db: str) -> None:
    digest = generate_digest(accounts_db)
    before = verify_database(accounts_db, [digest])
    current = raw(accounts_db, "SELECT id, owner, balance FROM accounts ORDER BY id")
    writer = connect(accounts_db)  # opened before the drop: must notice it

    renamed = drop_ledger_table(accounts_db, "accounts")

    history = renamed.replace("_accounts", "_history_accounts")
    names = {r[0] for r in raw(accounts_db, "SELECT name FROM sqlite_master")}
    assert {"accounts", "accounts_history", "accounts_ledger"}.isdisjoint(names)
    assert {renamed, history}.issubset(names)
    assert raw(accounts_db, f"SELECT id, owner, balance FROM {renamed} ORDER BY id") == current
    dropped = [t for t in list_ledger_tables(accounts_db) if t["name"] == "accounts"]
    assert dropped[0]["droppedAs"] == renamed and dropped[0]["rows"] == len(current)
    for statement in (f"INSERT INTO {renamed} (id, owner) VALUES (99, 'x')",
                      f"UPDATE {renamed} SET balance = 0", f"DELETE FROM {history}"):  # fmt: skip
        with pytest.raises(sqlite3.IntegrityError, match="dropped"):
            raw(accounts_db, statement)
        with pytest.raises(LedgerWriteRefused, match="dropped ledger table"):
            writer.execute(statement)
        writer.rollback()
    writer.close()
    assert verify_database(accounts_db, [digest]).row_versions == before.row_versions
    with pytest.raises(NotFound):
        drop_ledger_table(accounts_db, "accounts")

    create_ledger_table(accounts_db, ACCOUNTS)
    with connect(accounts_db) as conn:
        conn.execute("INSERT INTO accounts (id, owner, balance) VALUES (1, 'new ann', 5)")
        conn.execute("UPDATE accounts SET balance = 6 WHERE id = 1")
    close_block(accounts_db)
    assert verify_database(accounts_db, [digest]).row_versions == before.row_versions + 3

    raw(accounts_db, f"DROP TRIGGER accord_ledger_{renamed}_update_refused")
    raw(accounts_db, f"UPDATE {renamed} SET balance = 1 WHERE id = 2")
    with pytest.raises(TamperingDetected, match=f"{renamed} row id=2"):
        verify_database(accounts_db, [digest])


def test_dropped_column_keeps_its_data_under_a_reserved_name(accounts_db: str) -> None:
    digest = generate_digest(accounts_db)
    balances = raw(accounts_db, "SELECT id, balance FROM accounts ORDER BY id")

    renamed = drop_ledger_column(accounts_db, "accounts", "balance")

    assert renamed == "ledger_dropped_1_balance"
    assert raw(accounts_db, f"SELECT id, {renamed} FROM accounts ORDER BY id") == balances
    view = [r[1] for r in raw(accounts_db, "PRAGMA table_info(accounts_ledger)")]
    assert "balance" not in view and renamed not in view and "owner" in view
    verify_database(accounts_db, [digest])
    with connect(accounts_db) as conn:
        conn.execute("INSERT INTO accounts (id, owner) VALUES (7, 'flo')")
        conn.execute("UPDATE accounts SET owner = 'ann b' WHERE id = 1")
        conn.execute("DELETE FROM accounts WHERE id = 2")
    close_block(accounts_db)
    verify_database(accounts_db, [digest])
    assert raw(accounts_db, f"SELECT {renamed} FROM accounts WHERE id = 1") == [balances[0][1:]]

    with pytest.raises(InvalidRequest, match="was dropped"):
        add_ledger_column(accounts_db, "accounts", "balance NUMERIC")
    with pytest.raises(InvalidRequest, match="NOT NULL"):
        drop_ledger_column(accounts_db, "accounts", "owner")
    with pytest.raises(InvalidRequest, match="primary key"):
        drop_ledger_column(accounts_db, "accounts", "id")
    with pytest.raises(NotFound):
        drop_ledger_column(accounts_db, "accounts", "balance")

    raw(accounts_db, f"UPDATE accounts SET {renamed} = 0 WHERE id = 4")
    with pytest.raises(TamperingDetected, match="accounts row id=4"):
        verify_database(accounts_db, [digest])


def test_a_re_created_table_hashes_under_its_own_name(accounts_db: str) -> None:
    dropped = drop_ledger_table(accounts_db, "accounts")
    create_ledger_table(accounts_db, ACCOUNTS)
    with connect(accounts_db) as conn:
        conn.execute("INSERT INTO accounts (id, owner, balance) VALUES (2, 'bob', 60)")
    assert raw(accounts_db, "SELECT hash_name FROM accord_ledger_tables WHERE name = 'accounts' "
                            "ORDER BY id") == [("accounts",), ("accounts#3",)]  # fmt: skip
    digest = generate_digest(accounts_db)
    verify_database(accounts_db, [digest])
    # Swap bob's rows between the dropped table and its namesake: caught.
    for trigger in ("update", "insert", "delete"):
        raw(accounts_db, f"DROP TRIGGER accord_ledger_{dropped}_{trigger}_refused")
    raw(accounts_db, "DROP TRIGGER accord_ledger_accounts_insert_guard")
    columns = "id, owner, balance, ledger_start_transaction_id, ledger_start_sequence_number"
    old = raw(accounts_db, f"SELECT {columns} FROM {dropped} WHERE id = 2")[0]
    new = raw(accounts_db, f"SELECT {columns} FROM accounts WHERE id = 2")[0]
    raw(accounts_db, f"DELETE FROM {dropped} WHERE id = 2")
    raw(accounts_db, "DELETE FROM accounts WHERE id = 2")
    marks = ", ".join("?" * 5)
    raw(accounts_db, f"INSERT INTO {dropped} ({columns}) VALUES ({marks})", new)
    raw(accounts_db, f"INSERT INTO accounts ({columns}) VALUES ({marks})", old)
    with pytest.raises(TamperingDetected):
        verify_database(accounts_db, [digest])


def test_drop_column_refuses_columns_that_constraints_or_indexes_use(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    create_ledger_table(
        f"sqlite:{db}",
        "CREATE TABLE w (id INTEGER PRIMARY KEY, cn INTEGER CHECK (cn IS NOT NULL), "
        'un TEXT UNIQUE, ix TEXT, e TEXT, "Ñandú" TEXT, ok TEXT)',
    )
    raw(db, "CREATE INDEX w_ix ON w (ix)")
    raw(db, "CREATE INDEX w_e ON w (lower(e))")
    for column, used_by in (("cn", "CHECK"), ("un", "index"), ("ix", "index w_ix"),
                            ("e", "index w_e")):  # fmt: skip
        with pytest.raises(InvalidRequest, match=used_by):
            drop_ledger_column(db, "w", column)
    assert drop_ledger_column(db, "w", "ok") == "ledger_dropped_1_ok"
    assert drop_ledger_column(db, "w", "Ñandú") == "ledger_dropped_2_Ñandú"
    add_ledger_column(db, "w", '"ñandú" TEXT')  # SQLite folds only ASCII case: another name
    with connect(db) as conn:
        conn.execute("INSERT INTO w (id, cn, un) VALUES (1, 1, 'a')")
    verify_database(db)


def test_sqlite_errors_in_schema_commands_are_clear(accounts_db: str) -> None:
    raw(accounts_db, "CREATE TABLE other (x INTEGER)")
    raw(accounts_db, "CREATE VIEW v AS SELECT x FROM other")
    raw(accounts_db, "DROP TABLE other")
    for call in (lambda: drop_ledger_table(accounts_db, "accounts"),
                 lambda: drop_ledger_column(accounts_db, "accounts", "balance")):  # fmt: skip
        with pytest.raises(StorageError, match=r"SQLite error: .*no such table"):
            call()
    assert "accounts" in {r[0] for r in raw(accounts_db, "SELECT name FROM sqlite_master")}


def test_relabelling_a_dropped_table_as_the_live_one_is_caught(accounts_db: str) -> None:
    dropped = drop_ledger_table(accounts_db, "accounts")
    history = dropped.replace("_accounts", "_history_accounts")
    create_ledger_table(accounts_db, ACCOUNTS)
    digest = generate_digest(accounts_db)
    conn = sqlite3.connect(accounts_db)
    conn.executescript(f"""
        DROP VIEW accounts_ledger; DROP VIEW dropped_1_ledger_accounts;
        ALTER TABLE accounts RENAME TO swap; ALTER TABLE accounts_history RENAME TO swap_h;
        ALTER TABLE {dropped} RENAME TO accounts; ALTER TABLE {history} RENAME TO accounts_history;
        ALTER TABLE swap RENAME TO {dropped}; ALTER TABLE swap_h RENAME TO {history};
        UPDATE accord_ledger_tables SET relation = 'x', history = 'xh' WHERE id = 3;
        UPDATE accord_ledger_tables SET relation = 'accounts', history = 'accounts_history'
            WHERE id = 1;
        UPDATE accord_ledger_tables SET relation = '{dropped}', history = '{history}' WHERE id = 3;
    """)
    conn.close()
    with pytest.raises(TamperingDetected, match="table id 1"):
        verify_database(accounts_db, [digest])
