"""Tests of the throwaway PostgreSQL harness (accord.testing.pgserver) against a real server."""

from __future__ import annotations

import socket

import psycopg
import pytest

from accord.errors import ConfigurationError
from accord.testing.pgserver import PostgresServer, find_postgres_bindir


def test_finds_server_binaries(postgres_server: PostgresServer) -> None:
    bindir = find_postgres_bindir()
    assert bindir is not None
    assert (bindir / "initdb").exists()
    assert (bindir / "pg_ctl").exists()


def test_accepts_tcp_connection_on_loopback_with_durable_settings(
    postgres_server: PostgresServer,
) -> None:
    assert postgres_server.superuser_dsn.startswith("postgresql://postgres@127.0.0.1:")
    with psycopg.connect(postgres_server.superuser_dsn) as conn:
        row = conn.execute("SELECT host(inet_server_addr()), inet_server_port()").fetchone()
        assert row == ("127.0.0.1", postgres_server.port)
        settings: dict[str, str] = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                (["listen_addresses", "fsync", "synchronous_commit", "max_connections"],),
            ).fetchall()
        )
    assert settings == {
        "listen_addresses": "127.0.0.1",
        "fsync": "on",
        "synchronous_commit": "on",
        "max_connections": "200",
    }


def test_accepts_unix_socket_connection(postgres_server: PostgresServer) -> None:
    with psycopg.connect(
        host=str(postgres_server.socket_dir),
        port=postgres_server.port,
        user="postgres",
        dbname="postgres",
    ) as conn:
        row = conn.execute("SELECT inet_server_addr() IS NULL").fetchone()
    assert row == (True,)


def test_committed_write_is_visible_from_another_connection(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as writer:
        writer.execute("CREATE TABLE entries (id int PRIMARY KEY, body text NOT NULL)")
        with writer.transaction():
            writer.execute("INSERT INTO entries VALUES (1, 'hello')")
        with psycopg.connect(pg_dsn) as reader:
            assert reader.execute("SELECT body FROM entries").fetchall() == [("hello",)]


def test_uncommitted_write_is_invisible_from_another_connection(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as setup:
        setup.execute("CREATE TABLE entries (id int PRIMARY KEY)")
    with psycopg.connect(pg_dsn) as writer, psycopg.connect(pg_dsn) as reader:
        writer.execute("INSERT INTO entries VALUES (1)")
        assert reader.execute("SELECT count(*) FROM entries").fetchone() == (0,)
        writer.commit()
        reader.rollback()  # end the reader's snapshot
        assert reader.execute("SELECT count(*) FROM entries").fetchone() == (1,)


def test_per_test_databases_are_isolated(pg_dsn: str, postgres_server: PostgresServer) -> None:
    other_dsn = postgres_server.create_database("isolation_other")
    try:
        assert other_dsn != pg_dsn
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            # Fresh: no tables left over from earlier tests.
            assert conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            ).fetchone() == (0,)
            conn.execute("CREATE TABLE only_here (x int)")
        with psycopg.connect(other_dsn) as other:
            row = other.execute("SELECT to_regclass('public.only_here') IS NULL").fetchone()
            assert row == (True,)
    finally:
        postgres_server.drop_database("isolation_other")


def test_database_names_are_quoted(postgres_server: PostgresServer) -> None:
    name = "Odd name; DROP"
    dsn = postgres_server.create_database(name)
    try:
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (name,)
    finally:
        postgres_server.drop_database(name)


def test_stop_removes_data_dir_and_closes_port() -> None:
    with PostgresServer() as server:
        base_dir, port = server.base_dir, server.port
        assert server.running
        assert (server.data_dir / "PG_VERSION").exists()
        with psycopg.connect(server.superuser_dsn) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        server.stop()
        assert not server.running
        assert not base_dir.exists()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        server.stop()  # idempotent; __exit__ calls it again too


def test_start_failure_raises_configuration_error_with_log_tail() -> None:
    server = PostgresServer(settings={"shared_buffers": "'not a size'"})
    with pytest.raises(ConfigurationError, match="shared_buffers") as excinfo:
        server.start()
    assert "server log" in str(excinfo.value)
    assert not server.running
    with pytest.raises(ConfigurationError):
        _ = server.base_dir  # the directory was cleaned up
