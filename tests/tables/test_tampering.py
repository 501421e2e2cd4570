"""Every kind of direct edit to a ledger-table database is detected, on both backends (a
PostgreSQL superuser with the triggers disabled; plain sqlite3 bypassing accord's wrapper).

The last case is a fully consistent rewrite (rows, transactions and blocks recomputed with the core
functions): only the digest anchored in an accord ledger catches it. Where the verifier can tell
which row changed (a history row is hashed by two transactions), the message names it; where it
cannot, it says so.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from accord.datadir import init_data_dir
from accord.errors import TamperingDetected
from accord.tables import core
from accord.tables.anchor import LedgerTarget, anchor_digest, fetch_digests
from accord.tables.backend import backend_for
from accord.tables.database import generate_digest, verify_database
from tests.tables.conftest import LedgerDatabase


def update_row(db: LedgerDatabase) -> str:
    db.tamper("accounts", "UPDATE accounts SET balance = 1000000 WHERE id = 1")
    # Transaction 2 wrote the current rows 1 and 2; nothing else hashes them: not decidable.
    return (
        "table accounts: the row versions of ledger transaction .* do not match .*; one of these "
        "2 rows was changed, accord cannot tell which because the ledger keeps one root per "
        "table and transaction, not a hash per row.*: accounts row id=1 .*accounts row id=2"
    )


def update_only_row_of_a_transaction(db: LedgerDatabase) -> str:
    db.tamper("accounts", "UPDATE accounts SET owner = 'dora' WHERE id = 4")
    return (
        "the changed row is accounts row id=4 \\(the version that appeared at sequence 0\\): "
        "the transaction's only version of this table"
    )


def delete_row(db: LedgerDatabase) -> str:
    db.tamper("accounts", "DELETE FROM accounts WHERE id = 4")
    return "table accounts: ledger transaction .* recorded changes to it, but no row version"


def insert_row(db: LedgerDatabase) -> str:
    db.tamper("accounts", "INSERT INTO accounts (id, owner, balance) VALUES (8, 'eve', 5)")
    return "accounts row id=8 has no ledger start transaction id"


def insert_row_with_forged_ids(db: LedgerDatabase) -> str:
    db.tamper(
        "accounts",
        "INSERT INTO accounts SELECT 8, 'eve', 5, ledger_start_transaction_id, NULL, 99, NULL "
        "FROM accounts WHERE id = 4",
    )
    return "table accounts: the row versions of ledger transaction .*accounts row id=8"


def edit_history_row(db: LedgerDatabase) -> str:
    db.tamper("accounts_history", "UPDATE accounts_history SET balance = 1 WHERE id = 3")
    # Row 3 was inserted by transaction 1 (with rows 1 and 2, whose ends transaction 2 confirms)
    # and deleted by transaction 3: both name it.
    return (
        "table accounts: the row versions of ledger transaction [0-9]+ do not match its recorded table "
        "root; the changed row is accounts_history row id=3 \\(the version that appeared at "
        "sequence 2\\): the 2 other versions of this transaction in accounts are confirmed by "
        "transactions that verify\n.*\n - table accounts: the row versions of ledger "
        "transaction [0-9]+ .*; the changed row is accounts_history row id=3 \\(the version that "
        "ended at sequence 0\\)"
    )


def delete_history_row(db: LedgerDatabase) -> str:
    db.tamper("accounts_history", "DELETE FROM accounts_history WHERE id = 3")
    return (
        "table accounts: the row versions of ledger transaction .* do not match .*each of its 2 "
        "stored versions is confirmed by another transaction that verifies, so the recorded root "
        "was changed or a version of this transaction is missing"
    )


def edit_append_only_row(db: LedgerDatabase) -> str:
    db.tamper("events", "UPDATE events SET what = 'nothing happened'")
    return "table events: the row versions of ledger transaction .*events row id=1"


def edit_transaction_hash(db: LedgerDatabase) -> str:
    transactions = db.ledger("transactions")
    db.query(f"UPDATE {transactions} SET transaction_hash = {db.junk_hash} "
             f"WHERE transaction_id = (SELECT max(transaction_id) FROM {transactions})")  # fmt: skip
    return "accord_ledger.transactions row .*: stored transaction_hash does not match"


def edit_table_hashes(db: LedgerDatabase) -> str:
    transactions = db.ledger("transactions")
    if db.postgres:
        changed = "jsonb_set(table_hashes, '{accounts}', to_jsonb(encode(sha256('x'), 'hex')))"
    else:
        changed = "json_set(table_hashes, '$.accounts', hex(zeroblob(32)))"
    db.query(f"UPDATE {transactions} SET table_hashes = {changed} WHERE transaction_id = "
             f"(SELECT min(transaction_id) FROM {transactions})")  # fmt: skip
    return "table accounts: the row versions of ledger transaction .* do not match"


def delete_transaction(db: LedgerDatabase) -> str:
    transactions = db.ledger("transactions")
    db.query(f"DELETE FROM {transactions} WHERE transaction_id = "
             f"(SELECT min(transaction_id) FROM {transactions})")  # fmt: skip
    return "has no accord_ledger.transactions row"


def move_transaction_to_other_block(db: LedgerDatabase) -> str:
    db.query(f"UPDATE {db.ledger('transactions')} SET block_id = 0 WHERE block_id = 2")
    return "block 0: records 1 transactions but 2 belong to it"


def edit_block_root(db: LedgerDatabase) -> str:
    db.query(f"UPDATE {db.ledger('blocks')} SET root_hash = {db.junk_hash} WHERE block_id = 1")
    return "block 1: root_hash does not match"


def edit_block_hash(db: LedgerDatabase) -> str:
    db.query(f"UPDATE {db.ledger('blocks')} SET block_hash = {db.junk_hash} WHERE block_id = 1")
    return "block 1: block_hash does not match"


def delete_last_block(db: LedgerDatabase) -> str:
    db.query(f"DELETE FROM {db.ledger('blocks')} WHERE block_id = 2")
    return "block 2: transactions .* belong to it, but the block does not exist"


def rewrite_consistently(db: LedgerDatabase) -> str:
    """Change a row, then recompute every transaction and block hash exactly as accord would."""
    db.tamper("accounts", "UPDATE accounts SET balance = 1000000 WHERE id = 1")
    snapshot = backend_for(db.dsn).read_snapshot()
    grouped: dict[int, dict[str, list[tuple[int, bytes]]]] = defaultdict(lambda: defaultdict(list))
    for v in snapshot.versions:
        assert v.transaction_id is not None and v.sequence is not None
        h = core.version_hash(v.table, v.operation, v.transaction_id, v.sequence, v.text)
        grouped[v.transaction_id][v.table].append((v.sequence, h))
    tx_hashes = {}
    json_value = "?::jsonb" if db.postgres else "?"
    for txid, tables in grouped.items():
        roots = {t: core.table_root([h for _, h in sorted(vs)]) for t, vs in tables.items()}
        tx_hashes[txid] = core.transaction_hash(txid, roots)
        db.query(
            f"UPDATE {db.ledger('transactions')} SET table_hashes = {json_value}, "
            "transaction_hash = ? WHERE transaction_id = ?",
            (json.dumps({t: r.hex() for t, r in roots.items()}), tx_hashes[txid], txid),
        )
    previous = core.ZERO_HASH
    for block in snapshot.blocks:
        txids = sorted(t.transaction_id for t in snapshot.transactions
                       if t.block_id == block.block_id)  # fmt: skip
        root = core.block_root([tx_hashes[t] for t in txids])
        digest = core.block_hash(block.block_id, previous, root, len(txids))
        db.query(
            f"UPDATE {db.ledger('blocks')} SET root_hash = ?, previous_block_hash = ?, "
            "block_hash = ? WHERE block_id = ?",
            (root, previous, digest, block.block_id),
        )
        previous = digest
    verify_database(db.dsn)  # consistent: only the anchored digest can tell
    return "block 2: the recomputed block hash differs from the digest anchored"


TAMPERINGS: list[Callable[[LedgerDatabase], str]] = [
    update_row,
    update_only_row_of_a_transaction,
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
    data = init_data_dir(tmp_path_factory.mktemp("ledger") / "data", name="tables.test/ledger")
    return data.path


@pytest.mark.parametrize("tamper", TAMPERINGS, ids=lambda f: f.__name__)
def test_tampering_is_detected(
    accounts_db: LedgerDatabase, ledger_dir: Path, tamper: Callable[[LedgerDatabase], str]
) -> None:
    target = LedgerTarget(str(ledger_dir))
    digest = generate_digest(accounts_db.dsn)
    anchor_digest(digest, target)
    digests = fetch_digests(target)
    assert sum(d.database == digest.database for d in digests) == 1
    verify_database(accounts_db.dsn, digests)
    expected = tamper(accounts_db)
    with pytest.raises(TamperingDetected, match=expected):
        verify_database(accounts_db.dsn, digests)


def test_one_damaged_transaction_does_not_hide_tampering_elsewhere(
    accounts_db: LedgerDatabase,
) -> None:
    db = accounts_db
    db.tamper("accounts", "UPDATE accounts SET balance = 1000000 WHERE id = 1")
    db.tamper("accounts_history", "UPDATE accounts_history SET owner = 'x' WHERE id = 3")
    db.query(f"UPDATE {db.ledger('blocks')} SET block_hash = {db.junk_hash} WHERE block_id = 2")
    with pytest.raises(TamperingDetected) as caught:
        verify_database(db.dsn)
    lines = str(caught.value).splitlines()
    assert lines[1] == "3 more inconsistencies:", lines  # history row 3: two transactions
    assert all("do not match" in line for line in lines[:3] if "accounts" in line)
    assert any("accounts row id=1" in line for line in lines)
    assert lines[-1] == " - block 2: block_hash does not match"
