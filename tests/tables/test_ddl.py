"""The DDL check accepts exactly one plain CREATE TABLE and names it (pure, no database)."""

from __future__ import annotations

import pytest

from accord.errors import InvalidRequest
from accord.tables.ddl import check_column_definition, parse_create_table


@pytest.mark.parametrize(
    ("ddl", "name"),
    [
        ("CREATE TABLE t (id int)", "t"),
        ("create table Accounts (id int primary key, note text default 'a;b');", "accounts"),
        ('CREATE TABLE "orders" (id int, "x;y" text) ; ', "orders"),
        (
            "-- comment; here\nCREATE /* a; /* nested; */ */ TABLE t (c text check (c <> $$;$$))",
            "t",
        ),
        ("CREATE TABLE t (c text default E'it\\'s; fine')", "t"),
    ],
)
def test_accepts_one_create_table(ddl: str, name: str) -> None:
    assert parse_create_table(ddl) == name


@pytest.mark.parametrize(
    ("ddl", "message"),
    [
        ("CREATE TABLE t (id int); DROP TABLE x", "several statements"),
        ("CREATE TABLE t (id int); CREATE TABLE u (id int)", "several statements"),
        ("DROP TABLE t", "plain CREATE TABLE"),
        ("CREATE VIEW v AS SELECT 1", "plain CREATE TABLE"),
        ("CREATE TEMP TABLE t (id int)", "plain CREATE TABLE"),
        ("CREATE TABLE IF NOT EXISTS t (id int)", "plain CREATE TABLE"),
        ("CREATE TABLE t AS SELECT 1", "column list"),
        ("CREATE TABLE public.t (id int)", "without a schema"),
        ("CREATE TABLE t (id int) INHERITS (u)", "nothing may follow"),
        ('CREATE TABLE "Mixed" (id int)', "not supported"),
        ("CREATE TABLE t (id int", "unbalanced"),
        ("CREATE TABLE t (c text default 'open)", "unterminated"),
    ],
)
def test_refuses(ddl: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        parse_create_table(ddl)


def test_column_definition_must_be_plain_nullable() -> None:
    check_column_definition("note text")
    for bad in ("note text NOT NULL", "n int DEFAULT 0", "a text; DROP TABLE t", ""):
        with pytest.raises(InvalidRequest):
            check_column_definition(bad)
