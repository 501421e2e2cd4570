"""Verification of a ledger-table database from plain data: pure, no I/O.

A backend reads a :class:`LedgerSnapshot` (every row version's canonical text and ledger ids, the
``transactions`` and ``blocks`` rows) in one consistent snapshot; :func:`verify_snapshot` recomputes
every row-version hash, table root, transaction hash, block root, block hash and the block chain
with :mod:`accord.tables.core`, compares them with what is stored and with the anchored digests,
and raises :class:`~accord.errors.TamperingDetected` naming the first inconsistency. It never
returns a verdict of failure.

It does not check who committed a transaction or when (``commit_time`` and ``principal`` are not
covered by any hash in ``accord.tx.v1``).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from accord.errors import MalformedInput, TamperingDetected
from accord.tables import core
from accord.tables.ddl import DROPPED_COLUMN_PREFIX, dropped_names
from accord.tables.rules import allowed_hash_names


@dataclass(frozen=True)
class RowVersion:
    """One row version as stored: ``I`` (it appeared) or ``D`` (it disappeared)."""

    table: str
    operation: str
    transaction_id: int | None
    sequence: int | None
    text: bytes
    where: str
    """Human description of the stored row, e.g. ``orders_history row id=7``."""
    started: tuple[int | None, int | None] = (None, None)
    """The stored row's start transaction id and sequence number: with ``where``, which stored
    row this version is (a history row gives an ``I`` and a ``D`` version with the same text)."""


@dataclass(frozen=True)
class StoredTransaction:
    transaction_id: int
    block_id: int | None
    table_hashes: dict[str, str]
    transaction_hash: bytes


@dataclass(frozen=True)
class StoredBlock:
    block_id: int
    transaction_count: int
    root_hash: bytes
    previous_block_hash: bytes
    block_hash: bytes


@dataclass
class LedgerSnapshot:
    database: str
    tables: list[str]
    versions: list[RowVersion] = field(default_factory=list)
    transactions: list[StoredTransaction] = field(default_factory=list)
    blocks: list[StoredBlock] = field(default_factory=list)


@dataclass(frozen=True)
class VerificationReport:
    database: str
    tables: int
    row_versions: int
    transactions: int
    blocks: int
    digests_checked: int
    unblocked_transactions: int


class RegisteredColumn(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def hash_name(self) -> str | None: ...


class RegisteredTable(Protocol):
    """A row of a backend's ledger-table registry, with the table's columns from its catalog."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def hash_name(self) -> str: ...
    @property
    def relation(self) -> str: ...
    @property
    def history(self) -> str | None: ...
    @property
    def dropped(self) -> bool: ...
    @property
    def append_only(self) -> bool: ...
    @property
    def columns(self) -> Sequence[RegisteredColumn]: ...


def check_registry(
    registry: str, columns_registry: str, tables: Iterable[RegisteredTable], limit: int | None
) -> None:
    """The registry is not hashed; what it may say is fixed by each table's name, id and state,
    so a relabelling (say, a dropped table passed off as the live one) does not verify.

    ``limit``: the backend's identifier length in bytes (PostgreSQL 63), None for none.
    """
    for t in tables:
        if t.dropped:
            relation, history, _view = dropped_names(t.id, t.name, t.append_only, limit)
        else:
            relation, history = t.name, None if t.append_only else f"{t.name}_history"
        if t.hash_name not in allowed_hash_names(t) or (t.relation, t.history) != (
            relation,
            history,
        ):
            raise TamperingDetected(
                f"{registry}: table id {t.id} ({t.name}, {'dropped' if t.dropped else 'live'}) is "
                f"recorded as {t.hash_name!r} at {t.relation}/{t.history}, not at "
                f"{relation}/{history}"
            )
        for column in t.columns:
            if column.hash_name is not None and not column.name.startswith(DROPPED_COLUMN_PREFIX):
                raise TamperingDetected(
                    f"{columns_registry}: {t.relation}.{column.name} is not a dropped column"
                )


def _versions_by_transaction(
    versions: Sequence[RowVersion], problems: list[str]
) -> dict[int, dict[str, list[RowVersion]]]:
    grouped: dict[int, dict[str, list[RowVersion]]] = defaultdict(lambda: defaultdict(list))
    seen: dict[tuple[int, int], RowVersion] = {}
    for version in versions:
        if version.transaction_id is None or version.sequence is None:
            which = "start" if version.operation == core.INSERT else "end"
            problems.append(
                f"table {version.table}: {version.where} has no ledger {which} transaction id or "
                "sequence number (written with the ledger triggers disabled?)"
            )
            continue
        key = (version.transaction_id, version.sequence)
        if key in seen:
            problems.append(
                f"table {version.table}: {version.where} and {seen[key].where} both claim "
                f"ledger transaction {key[0]} sequence {key[1]}"
            )
        seen[key] = version
        grouped[version.transaction_id][version.table].append(version)
    return grouped


#: How many inconsistencies a TamperingDetected message lists after the first.
_SHOWN_PROBLEMS = 10


def _raise_problems(problems: list[str]) -> None:
    """One TamperingDetected naming the first inconsistency, then (some of) the others: one
    damaged transaction must not hide tampering elsewhere."""
    if not problems:
        return
    message = problems[0]
    if len(problems) > 1:
        others = problems[1 : 1 + _SHOWN_PROBLEMS]
        more = len(problems) - 1 - len(others)
        message += f"\n{len(problems) - 1} more inconsistencies:" + "".join(
            f"\n - {p}" for p in others
        )
        if more:
            message += f"\n - ... and {more} more"
    raise TamperingDetected(message)


def _describe(versions: Sequence[RowVersion]) -> str:
    shown = [f"{v.where} ({v.operation} seq {v.sequence})" for v in versions[:5]]
    more = f" and {len(versions) - 5} more" if len(versions) > 5 else ""
    return "; ".join(shown) + more


#: A stored row version: its table, where it is stored, its start ids and its text. A history
#: row gives two row versions (``I`` in its start transaction, ``D`` in its end transaction) with
#: the same stored row.
_StoredRow = tuple[str, str, tuple[int | None, int | None], bytes]


def _stored_row(version: RowVersion) -> _StoredRow:
    return version.table, version.where, version.started, version.text


def _version(v: RowVersion) -> str:
    side = "appeared" if v.operation == core.INSERT else "ended"
    return f"{v.where} (the version that {side} at sequence {v.sequence})"


def _root_mismatch(
    txid: int, table: str, versions: Sequence[RowVersion], confirmed: set[_StoredRow]
) -> str:
    """Name the row whose version no longer matches a transaction's table root when that can be
    told, and say why not when it cannot.

    The ledger keeps one Merkle root per table and transaction, not a hash per row version, so a
    mismatch alone does not say which leaf changed. But a history row is hashed twice, by the
    transaction that wrote it and by the one that ended it: when that other transaction verifies,
    the row's stored values are confirmed. If all versions but one are confirmed, that one is the
    changed row.
    """
    head = (
        f"table {table}: the row versions of ledger transaction {txid} do not match its recorded "
        "table root"
    )
    unconfirmed = [v for v in versions if _stored_row(v) not in confirmed]
    if len(unconfirmed) == 1:
        others = len(versions) - 1
        why = (
            f"the {others} other versions of this transaction in {table} are confirmed by "
            "transactions that verify"
            if others
            else "the transaction's only version of this table"
        )
        return f"{head}; the changed row is {_version(unconfirmed[0])}: {why}"
    if not unconfirmed:
        return (
            f"{head}; each of its {len(versions)} stored versions is confirmed by another "
            "transaction that verifies, so the recorded root was changed or a version of this "
            f"transaction is missing (deleted?): {_describe(versions)}"
        )
    return (
        f"{head}; one of these {len(unconfirmed)} rows was changed, accord cannot tell which "
        "because the ledger keeps one root per table and transaction, not a hash per row, and no "
        f"other transaction confirms these versions: {_describe(unconfirmed)}"
    )


def _table_root(table: str, txid: int, versions: Sequence[RowVersion]) -> bytes:
    """``core.table_root`` of the ``core.version_hash`` of each version, computed inline."""
    sha256 = hashlib.sha256
    prefix = f"{core.ROW_FORMAT}\n{table}\n".encode()
    inserted = prefix + f"{core.INSERT}\n{txid}\n".encode()
    deleted = prefix + f"{core.DELETE}\n{txid}\n".encode()
    level = []
    for v in versions:
        if v.operation == core.INSERT:
            header = inserted
        elif v.operation == core.DELETE:
            header = deleted
        else:
            raise MalformedInput(f"operation must be I or D, not {v.operation!r}")
        sequence = v.sequence or 0
        if type(sequence) is int:
            digest = sha256(b"%s%d\n%s" % (header, sequence, v.text)).digest()
        else:  # as core.version_hash formats it
            digest = sha256(header + f"{sequence}\n".encode() + v.text).digest()
        level.append(sha256(b"\x00" + digest).digest())
    if len(level) <= 1:
        return core.table_root([]) if not level else level[0]
    while len(level) > 1:
        nxt = [
            sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def verify_snapshot(
    snapshot: LedgerSnapshot, digests: Sequence[core.DatabaseDigest] = ()
) -> VerificationReport:
    """Recompute everything from the row versions up; raise if anything is inconsistent, naming
    the first inconsistency (and listing others)."""
    problems: list[str] = []
    grouped = _versions_by_transaction(snapshot.versions, problems)
    stored = {t.transaction_id: t for t in snapshot.transactions}
    mismatched: list[tuple[int, int, str, list[RowVersion]]] = []
    confirmed: set[_StoredRow] = set()
    for txid in sorted(set(grouped) | set(stored)):
        tables = grouped.get(txid, {})
        row = stored.get(txid)
        if row is None:
            table = sorted(tables)[0]
            problems.append(
                f"table {table}: ledger transaction {txid} has no accord_ledger.transactions row; "
                f"its row versions: {_describe(tables[table])}"
            )
            continue
        roots: dict[str, bytes] = {}
        consistent = True
        for table in sorted(set(tables) | set(row.table_hashes), key=str.encode):
            versions = sorted(tables.get(table, []), key=lambda v: v.sequence or 0)
            if not versions:
                problems.append(
                    f"table {table}: ledger transaction {txid} recorded changes to it, but no row "
                    "version of that transaction is left in the table or its history"
                )
                consistent = False
                continue
            roots[table] = _table_root(table, txid, versions)
            if table not in row.table_hashes:
                problems.append(
                    f"table {table}: row versions claim ledger transaction {txid}, which did not "
                    f"record this table: {_describe(versions)}"
                )
                consistent = False
            elif row.table_hashes[table] != roots[table].hex():
                mismatched.append((len(problems), txid, table, versions))
                problems.append("")  # described once every transaction has been checked
                consistent = False
            else:
                confirmed.update(_stored_row(v) for v in versions)
        if consistent and core.transaction_hash(txid, roots) != row.transaction_hash:
            problems.append(
                f"accord_ledger.transactions row {txid}: stored transaction_hash does not match "
                "the hash recomputed from its table roots"
            )

    for index, txid, table, versions in mismatched:
        problems[index] = _root_mismatch(txid, table, versions, confirmed)

    in_block: dict[int, list[int]] = defaultdict(list)
    for txid in sorted(stored):
        block_id = stored[txid].block_id
        if block_id is not None:
            in_block[block_id].append(txid)
    blocks = sorted(snapshot.blocks, key=lambda b: b.block_id)
    block_ids = {b.block_id for b in blocks}
    for block_id in sorted(in_block):
        if block_id not in block_ids:
            problems.append(
                f"block {block_id}: transactions {in_block[block_id][:5]} belong to it, "
                "but the block does not exist"
            )
    previous = core.ZERO_HASH
    block_hashes: dict[int, bytes] = {}
    for expected_id, block in enumerate(blocks):
        if block.block_id != expected_id:
            problems.append(f"block {expected_id}: missing (the next block is {block.block_id})")
            break
        txids = in_block.get(block.block_id, [])
        if not txids or len(txids) != block.transaction_count:
            problems.append(
                f"block {block.block_id}: records {block.transaction_count} transactions but "
                f"{len(txids)} belong to it"
            )
            block_hashes[block.block_id] = block.block_hash
            previous = block.block_hash
            continue
        # Blocks commit to the stored transaction hashes; those that disagree with their rows
        # are reported above, so a block is judged on its own rows.
        root = core.block_root([stored[t].transaction_hash for t in txids])
        if root != block.root_hash:
            problems.append(f"block {block.block_id}: root_hash does not match its transactions")
        if block.previous_block_hash != previous:
            problems.append(
                f"block {block.block_id}: previous_block_hash does not match block "
                f"{block.block_id - 1}"
            )
        digest = core.block_hash(block.block_id, previous, root, len(txids))
        if digest != block.block_hash:
            problems.append(f"block {block.block_id}: block_hash does not match")
        block_hashes[block.block_id] = digest
        previous = block.block_hash

    checked = 0
    for anchored in digests:
        if anchored.database != snapshot.database:
            continue
        checked += 1
        if anchored.block_id not in block_hashes:
            problems.append(
                f"block {anchored.block_id}: anchored in a digest at {anchored.digest_time}, "
                "but the database has no such block"
            )
            continue
        if block_hashes[anchored.block_id] != anchored.block_hash:
            problems.append(
                f"block {anchored.block_id}: the recomputed block hash differs from the digest "
                f"anchored at {anchored.digest_time} (the database was rewritten after it)"
            )
    _raise_problems(problems)
    return VerificationReport(
        database=snapshot.database,
        tables=len(snapshot.tables),
        row_versions=len(snapshot.versions),
        transactions=len(stored),
        blocks=len(blocks),
        digests_checked=checked,
        unblocked_transactions=sum(1 for t in stored.values() if t.block_id is None),
    )
