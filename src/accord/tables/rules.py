"""The business rules of ledger tables, written once for every backend: pure, no I/O.

A backend reads what a rule needs (columns from its catalog, the last block, the columns an index
uses) and applies the rule's answer; the rules decide. What a backend may still decide on its own
is only what its database imposes (identifier length, what SQLite cannot do in place).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from accord.errors import InvalidRequest, NotFound
from accord.tables import core
from accord.tables.ddl import LEDGER_COLUMN_PREFIX
from accord.tables.model import Column, NewBlock, TableSpec


class RegisteredName(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...


def timestamp(value: datetime) -> str:
    """How ledger tables write a point in time: UTC, microseconds, ``Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def same_name(a: str, b: str) -> bool:
    """Exact comparison of column names (PostgreSQL); see :func:`ascii_fold` for SQLite."""
    return a == b


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_fold(name: str) -> str:
    """SQLite compares identifiers case-insensitively for ASCII letters only."""
    return name.translate(_ASCII_LOWER)


# --- create ----------------------------------------------------------------------------------
def ledger_relations(name: str) -> tuple[str, str, str]:
    """The relations a new ledger table occupies: the table, its history and its ledger view
    (the history name is taken also for append-only tables, so a later table cannot clash)."""
    return name, f"{name}_history", f"{name}_ledger"


def history_name(name: str, append_only: bool) -> str | None:
    return None if append_only else f"{name}_history"


def hash_name_for(name: str, table_id: int, name_used_before: bool) -> str:
    """The name a new table's rows hash under: ``name``, or ``name#<id>`` when a (dropped) table
    of that name existed, so the rows of the two can never pass for each other."""
    return f"{name}#{table_id}" if name_used_before else name


def allowed_hash_names(table: RegisteredName) -> tuple[str, str]:
    """What :func:`hash_name_for` can have given a registered table (the registry is not hashed)."""
    return table.name, f"{table.name}#{table.id}"


def check_create_target(existing: Callable[[str], bool], registered_live: bool, name: str) -> None:
    """Refuse a name whose table, history or ledger view exists, or that is a live ledger table."""
    for relation in ledger_relations(name):
        if existing(relation):
            raise InvalidRequest(f"a table or view named {relation!r} already exists")
    if registered_live:
        raise InvalidRequest(f"{name!r} is already registered as a ledger table")


def check_user_columns(
    columns: Iterable[Column],
    *,
    reserved: Collection[str] = (),
    forbidden_characters: str = "\x00",
) -> None:
    """Refuse column names a ledger table cannot hold: the ``ledger_*`` prefix (any case),
    names the backend reserves (``reserved``, lower case) and separator characters."""
    for column in columns:
        lowered = column.name.lower()
        if lowered.startswith(LEDGER_COLUMN_PREFIX):
            raise InvalidRequest(
                f"column {column.name!r}: names starting with {LEDGER_COLUMN_PREFIX!r} are "
                "reserved for the ledger columns"
            )
        if lowered in reserved:
            raise InvalidRequest(f"column {column.name!r}: the name is reserved by the database")
        bad = sorted({c for c in column.name if c in forbidden_characters})
        if bad:
            shown = ", ".join("NUL" if c == "\x00" else repr(c) for c in bad)
            raise InvalidRequest(
                f"column {column.name!r}: names containing {shown} are not supported"
            )


def check_same_table(created: Sequence[Column], expected: Sequence[Column]) -> None:
    """The DDL, run for real, must give the columns it gave when tried in a scratch space."""
    if [c.name for c in created] != [c.name for c in expected]:
        raise InvalidRequest("the DDL did not create the same table twice; refusing")


# --- add column ------------------------------------------------------------------------------
def added_column(
    table: TableSpec,
    after: Sequence[Column],
    *,
    fold: Callable[[str], str] = str,
    reserved: Collection[str] = (),
    forbidden_characters: str = "\x00",
) -> Column:
    """The one column an ``ADD COLUMN`` added, or a refusal: several, a reserved name, or the
    name of a dropped column (its kept values are hashed under that name)."""
    known = {c.name for c in table.columns}
    added = [c for c in after if c.name not in known]
    if len(added) != 1:
        raise InvalidRequest("give exactly one column definition")
    column = added[0]
    check_user_columns([column], reserved=reserved, forbidden_characters=forbidden_characters)
    if fold(column.name) in {fold(c.key) for c in table.columns}:
        raise InvalidRequest(
            f"{table.name!r} had a column {column.name!r} that was dropped; its data is kept under "
            "another name and its hashes use this name: choose a different name"
        )
    return column


# --- drop column -----------------------------------------------------------------------------
def check_drop_column(
    table: TableSpec, column: str, primary_key: Collection[str], users: Sequence[str]
) -> None:
    """Refuse dropping a column that is not there, is in the primary key, is the last one, or
    that constraints or indexes use (a kept column must accept the NULLs new rows leave)."""
    live = [c.name for c in table.live_columns()]
    if column not in live:
        raise NotFound(f"ledger table {table.name!r} has no column {column!r}")
    if column in primary_key:
        raise InvalidRequest(
            f"{column!r} is part of the primary key of {table.name!r}; drop the table instead"
        )
    if len(live) == 1:
        raise InvalidRequest(f"{column!r} is the last column of {table.name!r}; drop the table")
    if users:
        raise InvalidRequest(
            f"column {column!r} of {table.name!r} is used by {', '.join(users)}: drop those "
            "first (a kept column must accept the NULLs new rows leave in it)"
        )


def check_dropped_column_name(
    table: TableSpec, column: str, new: str, fold: Callable[[str], str] = str
) -> None:
    if fold(new) in {fold(c.name) for c in table.columns}:
        raise InvalidRequest(f"cannot drop {column!r}: {table.name!r} has a column named {new!r}")


# --- blocks ----------------------------------------------------------------------------------
def next_block(
    last: tuple[int, bytes] | None, unblocked: Sequence[tuple[int, bytes]]
) -> NewBlock | None:
    """The block that takes every committed, unblocked transaction (``(id, transaction hash)``,
    in transaction-id order) after the ``last`` block (``(id, block hash)``); None if none."""
    if not unblocked:
        return None
    block_id = 0 if last is None else last[0] + 1
    previous = core.ZERO_HASH if last is None else last[1]
    root = core.block_root([h for _, h in unblocked])
    return NewBlock(
        block_id=block_id,
        transaction_ids=tuple(t for t, _ in unblocked),
        root_hash=root,
        previous_block_hash=previous,
        block_hash=core.block_hash(block_id, previous, root, len(unblocked)),
    )
