"""Shared helpers for ledger-table tests: a populated database and direct (superuser) SQL."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from accord.tables.database import close_block, create_ledger_table

ACCOUNTS = "CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(12,2))"


def sql(dsn: str, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement in its own committed transaction; rows if it returns any."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(statement.encode() if not params else statement, params or None)
        return cur.fetchall() if cur.description else []


def tampered(dsn: str, table: str, statement: str) -> None:
    """What a superuser can do: change a table with every trigger disabled."""
    with psycopg.connect(dsn) as conn:
        conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER ALL".encode())
        conn.execute(statement.encode())
        conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER ALL".encode())


@pytest.fixture
def accounts_db(pg_dsn: str) -> str:
    """A database with an updatable `accounts` and append-only `events`, three blocks of history."""
    create_ledger_table(pg_dsn, ACCOUNTS)
    create_ledger_table(
        pg_dsn, "CREATE TABLE events (id bigserial PRIMARY KEY, what text)", append_only=True
    )
    sql(pg_dsn, "INSERT INTO accounts VALUES (1, 'ann', 100), (2, 'bob', 50), (3, 'cy', 0)")
    close_block(pg_dsn)
    with psycopg.connect(pg_dsn) as conn:  # one transaction over two tables
        conn.execute("UPDATE accounts SET balance = balance - 10 WHERE id = 1")
        conn.execute("UPDATE accounts SET balance = balance + 10 WHERE id = 2")
        conn.execute("INSERT INTO events (what) VALUES ('transfer 1->2')")
    sql(pg_dsn, "DELETE FROM accounts WHERE id = 3")
    close_block(pg_dsn)
    sql(pg_dsn, "INSERT INTO accounts VALUES (4, 'di', 7)")
    close_block(pg_dsn)
    return pg_dsn
