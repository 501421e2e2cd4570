"""Ledger tables in real SQLite files, what only SQLite has: its DDL refusals, value types, the
connection wrapper (refusals, every way of writing, rollback), and the columns it cannot drop (NOT
NULL, used by a constraint or an index). Scenarios shared with PostgreSQL are in test_database.py,
test_tampering.py, test_schema_life.py, test_cli.py and test_concurrency.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from accord.errors import InvalidRequest, StorageError, TamperingDetected
from accord.tables.database import (
    add_ledger_column,
    create_ledger_table,
    drop_ledger_column,
    drop_ledger_table,
    list_ledger_tables,
    verify_database,
)
from accord.tables.sqlite import LedgerWriteRefused, canonical_text, connect
from tests.tables.conftest import LedgerDatabase, populate, raw


def empty_db(tmp_path: Path) -> str:
    path = tmp_path / "app.db"
    sqlite3.connect(path).close()
    return str(path)


def populated(tmp_path: Path) -> str:
    """The two-table, three-block database of conftest.populate, in an SQLite file."""
    return populate(LedgerDatabase("sqlite", empty_db(tmp_path))).dsn


@pytest.fixture
def accounts_db(tmp_path: Path) -> str:
    return populated(tmp_path)


def _objects(db: str) -> list[tuple[Any, ...]]:
    return raw(db, "SELECT type, name FROM sqlite_master ORDER BY type, name")


@pytest.mark.parametrize(
    ("ddl", "message"),
    [
        ("CREATE TABLE t (id int); DROP TABLE x", "several statements"),
        ("ALTER TABLE x ADD COLUMN y int", "plain CREATE TABLE"),
        ("CREATE TABLE t (id int, tags json)", "'json', which ledger tables do not support"),
        ("CREATE TABLE t (id int, untyped)", "type '\\(none\\)'"),
        ("CREATE TABLE t (id int, ledger_note text)", "reserved"),
        ("CREATE TABLE t (id int, rowid int)", "rowid"),
        ("CREATE TABLE t (id int, x int GENERATED ALWAYS AS (id + 1))", "generated"),
        ("CREATE TABLE t (id int, nope int REFERENCES)", "SQLite refused the DDL"),
        ("CREATE TABLE t (id int) WITHOUT ROWID", "nothing may follow"),
        ("CREATE TABLE existing (id int)", "already exists"),
        ("CREATE TABLE accord_ledger_x (id int)", "reserved"),
    ],
)
def test_create_refuses_and_changes_nothing(tmp_path: Path, ddl: str, message: str) -> None:
    db = empty_db(tmp_path)
    raw(db, "CREATE TABLE existing (id int)")
    before = _objects(db)
    with pytest.raises(InvalidRequest, match=message):
        create_ledger_table(db, ddl)
    assert _objects(db) == before


def test_create_refuses_existing_ledger_table_and_missing_database(tmp_path: Path) -> None:
    db = empty_db(tmp_path)
    create_ledger_table(db, "CREATE TABLE t (id int)")
    for ddl in ("CREATE TABLE t (id int)", "CREATE TABLE t_history (id int)"):
        with pytest.raises(InvalidRequest, match="already exists"):
            create_ledger_table(db, ddl)
    with pytest.raises(InvalidRequest, match=r"directory .* does not exist"):
        create_ledger_table(str(tmp_path / "nowhere" / "x.db"), "CREATE TABLE t (id int)")
    with pytest.raises(InvalidRequest, match=r"directory .* does not exist"):
        create_ledger_table(f"sqlite:{tmp_path}/nowhere/x.db", "CREATE TABLE t (id int)")
    # A bare path must name an existing file (a typo must not create a new, empty database)...
    with pytest.raises(InvalidRequest, match=r"does not exist .*--db sqlite:"):
        create_ledger_table(str(tmp_path / "new.db"), "CREATE TABLE t (id int)")
    assert not (tmp_path / "new.db").exists()
    # ...while sqlite:PATH creates it.
    create_ledger_table(f"sqlite:{tmp_path}/new.db", "CREATE TABLE t (id int)")
    assert [t["name"] for t in list_ledger_tables(str(tmp_path / "new.db"))] == ["t"]
    with pytest.raises(InvalidRequest, match="not a database"):
        not_a_db = tmp_path / "junk.db"
        not_a_db.write_bytes(b"definitely not sqlite" * 100)
        create_ledger_table(str(not_a_db), "CREATE TABLE t (id int)")


def test_canonical_text_of_every_type(tmp_path: Path) -> None:
    db = empty_db(tmp_path)
    columns = create_ledger_table(
        db,
        "CREATE TABLE everything (i BIGINT, n DECIMAL(12,2), m NUMERIC, f REAL, d DOUBLE PRECISION,"
        " t VARCHAR(9), b BOOLEAN, dt DATE, by BLOB)",
    )
    assert [c.type_tag for c in columns] == [
        "int", "numeric", "numeric", "float", "float", "text", "bool", "date", "bytea"
    ]  # fmt: skip
    with connect(db) as conn:
        conn.execute(
            "INSERT INTO everything (i, n, m, f, d, t, b, dt, by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (-3, "1.50", "abc", 0.1, 1e300, "héllo", True, "2024-02-29", b"\x00\xff\x10"),
        )
        conn.execute("INSERT INTO everything (i) VALUES (NULL)")
    row = raw(db, "SELECT i, n, m, f, d, t, b, dt, by FROM everything WHERE i = -3")[0]
    rendered = [canonical_text(c.type_tag, v) for c, v in zip(columns, row, strict=True)]
    # NUMERIC affinity keeps SQLite's conversion: '1.50' is stored as the REAL 1.5.
    assert rendered == ["-3", "1.5", "abc", "0.1", "1e+300", "héllo", "true", "2024-02-29",
                        "00ff10"]  # fmt: skip
    assert verify_database(db).row_versions == 2


@pytest.mark.parametrize(
    ("column", "value"),
    [("i", "twelve"), ("i", 1.5), ("t", b"\x00"), ("b", 2), ("dt", "2024-02-30"), ("by", "x")],
)
def test_values_that_do_not_fit_their_column_are_refused_at_commit(
    tmp_path: Path, column: str, value: object
) -> None:
    db = empty_db(tmp_path)
    create_ledger_table(db, "CREATE TABLE v (i INT, t TEXT, b BOOLEAN, dt DATE, by BLOB)")
    conn = connect(db)
    conn.execute(f"INSERT INTO v ({column}) VALUES (?)", (value,))
    with pytest.raises(InvalidRequest, match="does not fit type"):
        conn.commit()
    conn.close()
    assert raw(db, "SELECT count(*) FROM v") == [(0,)]
    # The same value written by plain sqlite3 is reported by the verifier, naming the row.
    with connect(db) as ok:
        ok.execute("INSERT INTO v (i) VALUES (1)")
    raw(db, f"UPDATE v SET {column} = ?", (value,))
    with pytest.raises(TamperingDetected, match=r"table v: v row .* does not fit type"):
        verify_database(db)


def test_wrapper_refuses_what_it_cannot_capture(accounts_db: str) -> None:
    refused = {
        "UPDATE events SET what = 'x'": "events is append-only: UPDATE",
        "DELETE FROM events": "events is append-only: DELETE",
        "INSERT OR REPLACE INTO events (id, what) VALUES (1, 'x')": "append-only: DELETE",
        "UPDATE accounts SET ledger_start_sequence_number = 5": "set only by accord",
        "INSERT INTO accounts_history (id, owner) VALUES (9, 'x')": "only by accord",
        "DELETE FROM accounts_history": "only by accord",
        "UPDATE accord_ledger_transactions SET block_id = NULL": "only by accord",
        "DELETE FROM accord_ledger_blocks": "only by accord",
        "DROP TABLE accounts": "ledger object",
        "DROP VIEW accounts_ledger": "ledger object",
        "ALTER TABLE accounts RENAME TO a2": "add-column",
        "ALTER TABLE accounts ADD COLUMN x int": "add-column",
        "CREATE TEMP TABLE accounts_history (id int)": "ledger object",
        "DROP TRIGGER accord_ledger_events_append_only_delete": "accord's",
        "COMMIT": "commit\\(\\) and rollback\\(\\)",
        "SAVEPOINT s": "commit\\(\\) and rollback\\(\\)",
        f"ATTACH '{accounts_db}' AS other": "ATTACH",
        "PRAGMA recursive_triggers = OFF": "recursive_triggers",
        "SELECT accord_ledger_seq('accounts')": "accord's",
    }
    before = verify_database(accounts_db)
    with connect(accounts_db) as conn:
        for statement, message in refused.items():
            with pytest.raises(LedgerWriteRefused, match=message):
                conn.execute(statement)
        conn.execute("SELECT count(*) FROM accounts").fetchall()  # reads are fine
    assert verify_database(accounts_db) == before


def test_append_only_triggers_refuse_plain_sqlite3_too(accounts_db: str) -> None:
    for statement in ("UPDATE events SET what = 'x'", "DELETE FROM events"):
        with pytest.raises(sqlite3.IntegrityError, match="events is append-only"):
            raw(accounts_db, statement)
    with pytest.raises(sqlite3.IntegrityError, match="ledger_\\* columns are set by accord"):
        raw(accounts_db, "INSERT INTO accounts (id, owner, ledger_start_transaction_id) "
                         "VALUES (9, 'eve', 1)")  # fmt: skip


def test_every_way_of_writing_is_captured(accounts_db: str) -> None:
    """Upserts, REPLACE, user triggers and DELETE without WHERE go through the capture."""
    raw(accounts_db, "CREATE TABLE audit (n INTEGER PRIMARY KEY, note TEXT)")
    raw(accounts_db, "CREATE TRIGGER audit_to_events AFTER INSERT ON audit BEGIN "
                     "INSERT INTO events (what) VALUES (NEW.note); END")  # fmt: skip
    with connect(accounts_db) as conn:
        conn.execute("INSERT INTO accounts (id, owner, balance) VALUES (1, 'ann', 5) "
                     "ON CONFLICT (id) DO UPDATE SET balance = excluded.balance")  # fmt: skip
        conn.execute("REPLACE INTO accounts (id, owner, balance) VALUES (2, 'bo', 1)")
        conn.execute("INSERT INTO audit (note) VALUES ('via a user trigger')")
    with connect(accounts_db) as conn:
        conn.execute("DELETE FROM accounts")
    assert raw(accounts_db, "SELECT count(*) FROM accounts") == [(0,)]
    assert raw(accounts_db, "SELECT what FROM events ORDER BY id") == [
        ("transfer 1->2",), ("via a user trigger",)
    ]  # fmt: skip
    ops = raw(accounts_db, "SELECT ledger_operation_type_desc, count(*) FROM accounts_ledger "
                           "GROUP BY 1 ORDER BY 1")  # fmt: skip
    assert ops == [("DELETE", 8), ("INSERT", 8)]
    verify_database(accounts_db)


def test_rollback_and_exceptions_leave_no_trace(accounts_db: str) -> None:
    before = raw(accounts_db, "SELECT count(*) FROM accord_ledger_transactions")
    conn = connect(accounts_db)
    conn.execute("UPDATE accounts SET balance = 0")
    conn.rollback()
    with pytest.raises(RuntimeError), conn:
        conn.execute("INSERT INTO accounts (id, owner) VALUES (10, 'x')")
        raise RuntimeError("application failure")
    assert raw(accounts_db, "SELECT count(*) FROM accord_ledger_transactions") == before
    with connect(accounts_db) as again:  # only non-ledger writes: no ledger transaction
        again.execute("CREATE TABLE plain (x int)")
        again.execute("INSERT INTO plain VALUES (1)")
    assert raw(accounts_db, "SELECT count(*) FROM accord_ledger_transactions") == before
    with connect(accounts_db) as again:  # the same id is reused: nothing was committed with it
        again.execute("INSERT INTO accounts (id, owner) VALUES (10, 'x')")
    verify_database(accounts_db)


def test_uncaptured_write_through_a_raw_cursor_fails(accounts_db: str) -> None:
    conn = connect(accounts_db)
    cursor = conn.execute("SELECT 1")
    conn.commit()  # the cursor's connection is now outside any wrapper transaction
    with pytest.raises(sqlite3.OperationalError):
        cursor.execute("INSERT INTO accounts (id, owner) VALUES (11, 'x')")
    conn.close()
    verify_database(accounts_db)


def test_raw_sqlite3_update_makes_verify_fail_naming_the_row(accounts_db: str) -> None:
    raw(accounts_db, "UPDATE accounts SET balance = 1000000 WHERE id = 2")
    with pytest.raises(
        TamperingDetected, match=r"table accounts: .* do not match .*accounts row id=2"
    ):
        verify_database(accounts_db)


def test_drop_column_refuses_a_not_null_column(accounts_db: str) -> None:
    """SQLite cannot drop a NOT NULL constraint in place (PostgreSQL does, and drops the column):
    the kept column would refuse every later insert."""
    with pytest.raises(InvalidRequest, match="NOT NULL"):
        drop_ledger_column(accounts_db, "accounts", "owner")
    assert "owner" in [r[1] for r in raw(accounts_db, "PRAGMA table_info(accounts)")]
    verify_database(accounts_db)


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
    with pytest.raises(StorageError, match=r"SQLite error: .*no such table"):
        drop_ledger_table(accounts_db, "accounts")
    with pytest.raises(StorageError, match=r"SQLite error: .*no such table"):
        drop_ledger_column(accounts_db, "accounts", "balance")
    assert "accounts" in {r[0] for r in raw(accounts_db, "SELECT name FROM sqlite_master")}
