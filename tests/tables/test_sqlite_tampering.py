"""Every kind of direct edit to an SQLite ledger-table file (plain sqlite3, bypassing accord's
wrapper) is detected. The last case is a fully consistent rewrite (rows, transactions and blocks
recomputed with the core functions): only the digest anchored in an accord ledger catches it.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from accord.core.canonical import canonicalize
from accord.datadir import init_data_dir
from accord.errors import TamperingDetected
from accord.tables import core
from accord.tables.anchor import LedgerTarget, anchor_digest, fetch_digests
from accord.tables.database import generate_digest, verify_database
from accord.tables.sqlite import read_snapshot
from tests.tables.test_sqlite_backend import populated, raw


def update_row(db: str) -> str:
    raw(db, "UPDATE accounts SET balance = 1000000 WHERE id = 1")
    return "table accounts: the row versions of ledger transaction .* accounts row id=1"


def delete_row(db: str) -> str:
    raw(db, "DELETE FROM accounts WHERE id = 4")
    return "table accounts: ledger transaction .* recorded changes to it, but no row version"


def insert_row(db: str) -> str:
    raw(db, "INSERT INTO accounts (id, owner, balance) VALUES (8, 'eve', 5)")
    return "accounts row id=8 has no ledger start transaction id"


def insert_row_with_forged_ids(db: str) -> str:
    raw(db, "DROP TRIGGER accord_ledger_accounts_insert_guard")
    raw(db, "INSERT INTO accounts SELECT 8, 'eve', 5, ledger_start_transaction_id, NULL, 99, NULL "
            "FROM accounts WHERE id = 4")  # fmt: skip
    return "table accounts: the row versions of ledger transaction .*accounts row id=8"


def edit_history_row(db: str) -> str:
    raw(db, "UPDATE accounts_history SET balance = 1 WHERE id = 3")
    return "table accounts: the row versions of ledger transaction .*accounts_history row id=3"


def delete_history_row(db: str) -> str:
    raw(db, "DELETE FROM accounts_history WHERE id = 3")
    return "table accounts: the row versions of ledger transaction .* do not match"


def edit_append_only_row(db: str) -> str:
    raw(db, "DROP TRIGGER accord_ledger_events_append_only_update")
    raw(db, "UPDATE events SET what = 'nothing happened'")
    return "table events: the row versions of ledger transaction .*events row id=1"


def edit_transaction_hash(db: str) -> str:
    raw(db, "UPDATE accord_ledger_transactions SET transaction_hash = zeroblob(32) "
            "WHERE transaction_id = (SELECT max(transaction_id) FROM accord_ledger_transactions)")  # fmt: skip
    return "accord_ledger.transactions row .*: stored transaction_hash does not match"


def edit_table_hashes(db: str) -> str:
    raw(db, "UPDATE accord_ledger_transactions SET table_hashes = json_set(table_hashes, "
            "'$.accounts', hex(zeroblob(32))) WHERE transaction_id = 1")  # fmt: skip
    return "table accounts: the row versions of ledger transaction 1 do not match"


def delete_transaction(db: str) -> str:
    raw(db, "DELETE FROM accord_ledger_transactions WHERE transaction_id = 1")
    return "has no accord_ledger.transactions row"


def move_transaction_to_other_block(db: str) -> str:
    raw(db, "UPDATE accord_ledger_transactions SET block_id = 0 WHERE block_id = 2")
    return "block 0: records 1 transactions but 2 belong to it"


def edit_block_root(db: str) -> str:
    raw(db, "UPDATE accord_ledger_blocks SET root_hash = zeroblob(32) WHERE block_id = 1")
    return "block 1: root_hash does not match"


def edit_block_hash(db: str) -> str:
    raw(db, "UPDATE accord_ledger_blocks SET block_hash = zeroblob(32) WHERE block_id = 1")
    return "block 1: block_hash does not match"


def delete_last_block(db: str) -> str:
    raw(db, "DELETE FROM accord_ledger_blocks WHERE block_id = 2")
    return "block 2: transactions .* belong to it, but the block does not exist"


def rewrite_consistently(db: str) -> str:
    """Change a row, then recompute every transaction and block hash exactly as accord would."""
    raw(db, "UPDATE accounts SET balance = 1000000 WHERE id = 1")
    snapshot = read_snapshot(db)
    grouped: dict[int, dict[str, list[tuple[int, bytes]]]] = defaultdict(lambda: defaultdict(list))
    for v in snapshot.versions:
        assert v.transaction_id is not None and v.sequence is not None
        h = core.version_hash(v.table, v.operation, v.transaction_id, v.sequence, v.text)
        grouped[v.transaction_id][v.table].append((v.sequence, h))
    tx_hashes = {}
    conn = sqlite3.connect(db)
    with conn:
        for txid, tables in grouped.items():
            roots = {t: core.table_root([h for _, h in sorted(vs)]) for t, vs in tables.items()}
            tx_hashes[txid] = core.transaction_hash(txid, roots)
            conn.execute(
                "UPDATE accord_ledger_transactions SET table_hashes = ?, transaction_hash = ? "
                "WHERE transaction_id = ?",
                (canonicalize({t: r.hex() for t, r in roots.items()}).decode(),
                 tx_hashes[txid], txid),
            )  # fmt: skip
        previous = core.ZERO_HASH
        for block in snapshot.blocks:
            txids = sorted(t.transaction_id for t in snapshot.transactions
                           if t.block_id == block.block_id)  # fmt: skip
            root = core.block_root([tx_hashes[t] for t in txids])
            digest = core.block_hash(block.block_id, previous, root, len(txids))
            conn.execute(
                "UPDATE accord_ledger_blocks SET root_hash = ?, previous_block_hash = ?, "
                "block_hash = ? WHERE block_id = ?",
                (root, previous, digest, block.block_id),
            )
            previous = digest
    conn.close()
    verify_database(db)  # consistent: only the anchored digest can tell
    return "block 2: the recomputed block hash differs from the digest anchored"


TAMPERINGS: list[Callable[[str], str]] = [
    update_row,
    delete_row,
    insert_row,
    insert_row_with_forged_ids,
    edit_history_row,
    delete_history_row,
    edit_append_only_row,
    edit_transaction_hash,
    edit_table_hashes,
    delete_transaction,
    move_transaction_to_other_block,
    edit_block_root,
    edit_block_hash,
    delete_last_block,
    rewrite_consistently,
]


@pytest.fixture(scope="module")
def ledger_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = init_data_dir(tmp_path_factory.mktemp("ledger") / "data", name="tables.sqlite/ledger")
    return data.path


@pytest.mark.parametrize("tamper", TAMPERINGS, ids=lambda f: f.__name__)
def test_tampering_is_detected(
    tmp_path: Path, ledger_dir: Path, tamper: Callable[[str], str]
) -> None:
    db = populated(tmp_path)
    target = LedgerTarget(str(ledger_dir))
    anchor_digest(generate_digest(db), target)
    digests = fetch_digests(target)
    assert sum(d.database == read_snapshot(db).database for d in digests) == 1
    verify_database(db, digests)
    expected = tamper(db)
    with pytest.raises(TamperingDetected, match=expected):
        verify_database(db, digests)
