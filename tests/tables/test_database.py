"""Ledger-table scenarios that hold on both backends (SQLite and PostgreSQL), through the public
entry points of :mod:`accord.tables.database`: objects and history, hashes, blocks and digests,
adding a column. Backend-only behaviour is in test_sqlite.py and test_postgres.py."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from accord.errors import InvalidRequest, NotFound
from accord.tables import core
from accord.tables.database import (
    add_ledger_column,
    close_block,
    create_ledger_table,
    generate_digest,
    list_ledger_tables,
    verify_database,
)
from accord.tables.sqlite import connect
from tests.tables.conftest import LedgerDatabase


def test_objects_history_and_view(accounts_db: LedgerDatabase) -> None:
    db = accounts_db
    names = {t["name"]: t for t in list_ledger_tables(db.dsn)}
    assert names["accounts"]["kind"] == "updatable" and names["accounts"]["rows"] == 3
    assert names["events"]["kind"] == "append_only"
    assert db.query("SELECT count(*) FROM events") == [(1,)]
    if db.postgres:
        objects = {r[0] for r in db.query("SELECT relname FROM pg_class")}
        accord = {f"accord_ledger.{r[0]}" for r in db.query(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'accord_ledger'")}  # fmt: skip
    else:
        objects = {r[0] for r in db.query("SELECT name FROM sqlite_master")}
        accord = {r.replace("accord_ledger_", "accord_ledger.") for r in objects}
    assert {"accounts", "accounts_history", "accounts_ledger", "events", "events_ledger"} <= objects
    assert "events_history" not in objects
    assert {"accord_ledger.transactions", "accord_ledger.blocks", "accord_ledger.tables"} <= accord
    history = db.query("SELECT id, balance, ledger_end_transaction_id IS NOT NULL "
                       "FROM accounts_history ORDER BY id")  # fmt: skip
    assert [(r[0], int(r[1]), bool(r[2])) for r in history] == [
        (1, 100, True), (2, 50, True), (3, 0, True)
    ]  # fmt: skip
    ops = db.query("SELECT ledger_operation_type_desc, count(*) FROM accounts_ledger "
                   "GROUP BY 1 ORDER BY 1")  # fmt: skip
    assert ops == [("DELETE", 3), ("INSERT", 6)]
    assert db.query("SELECT count(*) FROM accounts WHERE ledger_end_transaction_id IS NOT NULL "
                    "OR ledger_start_transaction_id IS NULL") == [(0,)]  # fmt: skip
    # One transaction over two tables has one transactions row with both roots.
    rows = [json.loads(r[0]) if isinstance(r[0], str) else r[0]
            for r in db.query(f"SELECT table_hashes FROM {db.ledger('transactions')}")]  # fmt: skip
    assert [set(h) for h in rows if "events" in h] == [{"accounts", "events"}]
    report = verify_database(db.dsn)
    assert (report.tables, report.row_versions, report.transactions, report.blocks) == (2, 10, 4, 3)


def test_transaction_hash_matches_core(accounts_db: LedgerDatabase) -> None:
    """The stored hash of an UPDATE equals the one computed here from scratch with core."""
    db = accounts_db
    db.write(("UPDATE accounts SET owner = ? WHERE id = 4", ("zoë",)))
    txid, table_hashes, tx_hash = db.query(
        "SELECT transaction_id, table_hashes, transaction_hash FROM "
        f"{db.ledger('transactions')} ORDER BY transaction_id DESC LIMIT 1")[0]  # fmt: skip
    balance = "7.00" if db.postgres else "7"  # numeric(12,2) keeps its scale; SQLite an INTEGER

    def text(owner: str) -> bytes:
        return core.row_text([("id", "int", "4"), ("owner", "text", owner),
                              ("balance", "numeric", balance)])  # fmt: skip

    seq_old, seq_new = 0, 1  # the old side (D) is numbered before the new side (I)
    root = core.table_root([core.version_hash("accounts", "D", txid, seq_old, text("di")),
                            core.version_hash("accounts", "I", txid, seq_new, text("zoë"))])  # fmt: skip
    if db.postgres:
        assert table_hashes == {"accounts": root.hex()}
    else:  # RFC 8785 text
        assert table_hashes == '{"accounts":"' + root.hex() + '"}'
    assert bytes(tx_hash) == core.transaction_hash(txid, {"accounts": root})


def test_close_block_and_digest(accounts_db: LedgerDatabase) -> None:
    db = accounts_db
    assert close_block(db.dsn) is None  # nothing waiting
    digest = generate_digest(db.dsn, clock=lambda: 1_700_000_000.0)
    assert digest.block_id == 2 and digest.digest_time == "2023-11-14T22:13:20.000000Z"
    if not db.postgres:
        assert digest.database.startswith("app.db#")
    assert core.DatabaseDigest.from_bytes(digest.to_bytes()) == digest
    db.write("INSERT INTO accounts (id, owner, balance) VALUES (5, 'ed', 1)")
    assert generate_digest(db.dsn).block_id == 3
    report = verify_database(db.dsn, [digest])
    assert (report.blocks, report.digests_checked, report.unblocked_transactions) == (4, 1, 0)


def test_digest_of_empty_database_is_refused(db: LedgerDatabase) -> None:
    with pytest.raises(NotFound):
        generate_digest(db.dsn)
    assert list_ledger_tables(db.dsn) == []
    create_ledger_table(db.dsn, "CREATE TABLE t (id int)")
    with pytest.raises(NotFound):
        generate_digest(db.dsn)


def test_create_refuses_an_existing_name(db: LedgerDatabase) -> None:
    create_ledger_table(db.dsn, "CREATE TABLE t (id int)")
    for ddl in ("CREATE TABLE t (id int)", "CREATE TABLE t_history (id int)"):
        with pytest.raises(InvalidRequest, match="already exists"):
            create_ledger_table(db.dsn, ddl)


def test_adding_a_nullable_column_keeps_hashes_valid(accounts_db: LedgerDatabase) -> None:
    db = accounts_db
    digest = generate_digest(db.dsn)
    writer = None
    if not db.postgres:  # a wrapper opened before the change picks up the new column
        writer = connect(db.dsn)
        writer.execute("SELECT 1")
        writer.commit()
    add_ledger_column(db.dsn, "accounts", "note text")
    add_ledger_column(db.dsn, "events", "source varchar(20)")
    verify_database(db.dsn, [digest])
    statements = (
        "INSERT INTO accounts (id, owner, balance, note) VALUES (9, 'gus', 1, 'new')",
        "UPDATE accounts SET note = 'edited' WHERE id = 1",
        "INSERT INTO events (what, source) VALUES ('x', 'y')",
    )
    if writer is not None:
        with writer:
            for statement in statements:
                writer.execute(statement)
    else:
        for statement in statements:
            db.write(statement)
    close_block(db.dsn)
    verify_database(db.dsn, [digest])
    assert db.query("SELECT note FROM accounts_ledger WHERE id = 9") == [("new",)]
    assert db.query("SELECT balance FROM accounts_history WHERE id = 1 AND note IS NULL "
                    "AND ledger_end_transaction_id IS NOT NULL") != []  # fmt: skip
    unsupported = "p point" if db.postgres else "p json"
    for bad in ("n int NOT NULL", "n int DEFAULT 1", "ledger_x int", unsupported):
        with pytest.raises(InvalidRequest):
            add_ledger_column(db.dsn, "accounts", bad)
    with pytest.raises(NotFound):
        add_ledger_column(db.dsn, "nope", "n int")
    verify_database(db.dsn, [digest])
    assert Decimal(str(db.query("SELECT balance FROM accounts WHERE id = 9")[0][0])) == 1
