"""Shared helpers for ledger-table tests: one database of each backend, written the way an
application writes it (psycopg; accord's SQLite connection), read and tampered with directly.

Scenarios that hold on both backends take the ``db`` (empty) or ``accounts_db`` (populated)
fixture, parametrized over SQLite and PostgreSQL as the log's ``location`` fixture is.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from accord.tables.database import close_block, create_ledger_table
from accord.tables.sqlite import connect

ACCOUNTS = "CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(12,2))"
SQLITE_ACCOUNTS = (
    "CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance NUMERIC)"
)


def sql(dsn: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """PostgreSQL: one statement in its own committed transaction; rows if it returns any."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(statement.encode() if not params else statement, params or None)
        return cur.fetchall() if cur.description else []


def tampered(dsn: str, table: str, statement: str) -> None:
    """What a PostgreSQL superuser can do: change a table with every trigger disabled."""
    with psycopg.connect(dsn) as conn:
        conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER ALL".encode())
        conn.execute(statement.encode())
        conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER ALL".encode())


def raw(path: str | Path, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """SQLite through plain sqlite3, bypassing accord's wrapper: one statement, committed."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(statement, params).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


@dataclass(frozen=True)
class LedgerDatabase:
    """A database of one backend, with the few operations whose SQL differs between them."""

    kind: str
    """``sqlite`` or ``postgres``."""
    dsn: str

    @property
    def postgres(self) -> bool:
        return self.kind == "postgres"

    def ledger(self, name: str) -> str:
        """An accord bookkeeping table: ``accord_ledger.NAME`` or ``accord_ledger_NAME``."""
        return f"accord_ledger.{name}" if self.postgres else f"accord_ledger_{name}"

    @property
    def junk_hash(self) -> str:
        """An SQL expression for 32 bytes that are no hash accord wrote."""
        return "sha256('x')" if self.postgres else "zeroblob(32)"

    def write(self, *statements: str | tuple[str, tuple[Any, ...]]) -> None:
        """One application transaction, written the ordinary way (``?`` placeholders)."""
        if self.postgres:
            with psycopg.connect(self.dsn) as conn:
                for statement in statements:
                    text, params = (statement, ()) if isinstance(statement, str) else statement
                    conn.execute(text.replace("?", "%s"), params or None)
        else:
            with connect(self.dsn) as lconn:
                for statement in statements:
                    text, params = (statement, ()) if isinstance(statement, str) else statement
                    lconn.execute(text, params)

    def query(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement directly (no capture), committed; its rows. ``?`` placeholders."""
        if self.postgres:
            return sql(self.dsn, statement.replace("?", "%s") if params else statement, params)
        return raw(self.dsn, statement, params)

    def tamper(self, table: str, statement: str) -> None:
        """What the database's administrator can do: change a table past every accord trigger
        (PostgreSQL: DISABLE TRIGGER ALL; SQLite: plain sqlite3 with accord's guard triggers
        dropped and re-created)."""
        if self.postgres:
            tampered(self.dsn, table, statement)
            return
        conn = sqlite3.connect(self.dsn, isolation_level=None)
        try:
            conn.execute("BEGIN")
            guards = conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? "
                "AND name LIKE 'accord_ledger_%'",
                (table,),
            ).fetchall()
            for name, _ in guards:
                conn.execute(f'DROP TRIGGER "{name}"')
            conn.execute(statement)
            for _, text in guards:
                conn.execute(text)
            conn.execute("COMMIT")
        finally:
            conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> LedgerDatabase:
    """An empty database on each backend (an existing SQLite file, a fresh PostgreSQL database)."""
    if request.param == "sqlite":
        path = tmp_path / "app.db"
        sqlite3.connect(path).close()
        return LedgerDatabase("sqlite", str(path))
    return LedgerDatabase("postgres", request.getfixturevalue("pg_dsn"))


def populate(db: LedgerDatabase) -> LedgerDatabase:
    """Updatable `accounts` and append-only `events`, five transactions in three blocks."""
    create_ledger_table(db.dsn, ACCOUNTS if db.postgres else SQLITE_ACCOUNTS)
    events = (
        "id bigserial PRIMARY KEY, what text"
        if db.postgres
        else "id INTEGER PRIMARY KEY, what TEXT"
    )
    create_ledger_table(db.dsn, f"CREATE TABLE events ({events})", append_only=True)
    db.write("INSERT INTO accounts (id, owner, balance) VALUES (1, 'ann', 100), (2, 'bob', 50), "
             "(3, 'cy', 0)")  # fmt: skip
    close_block(db.dsn)
    db.write(  # one transaction over two tables
        "UPDATE accounts SET balance = balance - 10 WHERE id = 1",
        "UPDATE accounts SET balance = balance + 10 WHERE id = 2",
        "INSERT INTO events (what) VALUES ('transfer 1->2')",
    )
    db.write("DELETE FROM accounts WHERE id = 3")
    close_block(db.dsn)
    db.write("INSERT INTO accounts (id, owner, balance) VALUES (4, 'di', 7)")
    close_block(db.dsn)
    return db


@pytest.fixture
def accounts_db(db: LedgerDatabase) -> LedgerDatabase:
    return populate(db)


@pytest.fixture
def pg_accounts_db(pg_dsn: str) -> str:
    """The populated database on PostgreSQL only, as a DSN (PostgreSQL-specific tests)."""
    return populate(LedgerDatabase("postgres", pg_dsn)).dsn
