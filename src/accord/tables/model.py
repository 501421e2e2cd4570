"""The plain data of ledger tables shared by every backend: columns, registered tables, blocks.

No I/O and no backend knowledge: a backend reads these from its catalog and bookkeeping tables,
the rules (:mod:`accord.tables.rules`) and the verifier (:mod:`accord.tables.verify`) work on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

#: The four columns accord adds to every ledger table and its history.
LEDGER_COLUMNS = (
    "ledger_start_transaction_id",
    "ledger_end_transaction_id",
    "ledger_start_sequence_number",
    "ledger_end_sequence_number",
)
UPDATABLE = "updatable"
APPEND_ONLY = "append_only"


@dataclass(frozen=True)
class Column:
    name: str
    """The column's name in the table now."""
    type_tag: str
    sql_type: str
    hash_name: str | None = None
    """The name the row text uses, when it differs from ``name``: a dropped column keeps the name
    it had before ``tables drop-column`` renamed it."""

    @property
    def key(self) -> str:
        """The name written into the row text (``accord.row.v1``)."""
        return self.hash_name if self.hash_name is not None else self.name


@dataclass(frozen=True)
class TableSpec:
    """One registered ledger table: its hashing name, where it lives now, and its columns."""

    id: int
    name: str
    """The table's name for users (the name it was created with)."""
    hash_name: str
    """The name in every hash: ``name``, or ``name#<id>`` for a table created with the name of an
    earlier, dropped one (so the rows of the two can never pass for each other)."""
    relation: str
    history: str | None
    """The history table (updatable tables), None for append-only tables."""
    kind: str
    columns: tuple[Column, ...]
    dropped: bool = False
    key: tuple[str, ...] = ()
    """Primary-key columns, when the backend reads them with the table (SQLite)."""

    @property
    def append_only(self) -> bool:
        return self.kind == APPEND_ONLY

    def live_columns(self) -> list[Column]:
        """Columns not dropped: the ones applications see (and the ledger view shows)."""
        return [c for c in self.columns if c.hash_name is None]


@dataclass(frozen=True)
class StoredBlockHead:
    """The newest block of a database ledger, as a digest describes it."""

    database: str
    block_id: int
    block_hash: bytes
    last_commit_time: str


@dataclass(frozen=True)
class NewBlock:
    """A block to write: the transactions it takes, in transaction-id order, and its hashes."""

    block_id: int
    transaction_ids: tuple[int, ...]
    root_hash: bytes
    previous_block_hash: bytes
    block_hash: bytes


class LedgerTableInfo(TypedDict):
    name: str
    kind: str
    created: str
    droppedAs: str | None
    dropped: str | None
    rows: int | None


"""One row of ``accord tables list``: a ledger table, live or dropped."""
