"""Fixtures shared by every test: a throwaway PostgreSQL server and a fresh database per test.

Tests that need PostgreSQL never skip: if the server cannot be installed or started, the test
errors with the reason (see :mod:`accord.testing.pgserver`).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from accord.testing.pgserver import PostgresServer


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway server for the whole session, started on first use."""
    with PostgresServer() as server:
        yield server


@pytest.fixture
def pg_dsn(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """DSN of a database created empty for this test and dropped after it."""
    # Named after the test (readable in the server log) plus a random suffix; ≤ 63 bytes.
    stem = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")[:40]
    name = f"t_{stem}_{uuid.uuid4().hex[:12]}"
    dsn = postgres_server.create_database(name)
    yield dsn
    postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh ledger location on each backend: an SQLite path, or a PostgreSQL DSN."""
    if request.param == "sqlite":
        return str(tmp_path / "ledger.db")
    dsn: str = request.getfixturevalue("pg_dsn")
    return dsn
