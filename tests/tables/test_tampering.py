"""Every kind of direct edit to a ledger-table database is detected, each against real PostgreSQL.

The last case is a fully consistent rewrite (rows, transactions and blocks recomputed with the core
functions): only the digest anchored in an accord ledger catches it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from accord.datadir import init_data_dir
from accord.errors import TamperingDetected
from accord.tables import core
from accord.tables.anchor import LedgerTarget, anchor_digest, fetch_digests
from accord.tables.database import generate_digest, verify_database
from accord.tables.postgres import read_snapshot
from tests.tables.conftest import sql, tampered


def update_row(dsn: str) -> str:
    tampered(dsn, "accounts", "UPDATE accounts SET balance = 1000000 WHERE id = 1")
    return "table accounts: the row versions of ledger transaction .* accounts row id=1"


def delete_row(dsn: str) -> str:
    tampered(dsn, "accounts", "DELETE FROM accounts WHERE id = 4")
    return "table accounts: ledger transaction .* recorded changes to it, but no row version"


def insert_row(dsn: str) -> str:
    tampered(dsn, "accounts", "INSERT INTO accounts (id, owner, balance) VALUES (8, 'eve', 5)")
    return "accounts row id=8 has no ledger start transaction id"


def insert_row_with_forged_ids(dsn: str) -> str:
    tampered(
        dsn,
        "accounts",
        "INSERT INTO accounts SELECT 8, 'eve', 5, ledger_start_transaction_id, NULL, 99, NULL "
        "FROM accounts WHERE id = 4",
    )
    return "table accounts: the row versions of ledger transaction .*accounts row id=8"


def edit_history_row(dsn: str) -> str:
    tampered(dsn, "accounts_history", "UPDATE accounts_history SET balance = 1 WHERE id = 3")
    return "table accounts: the row versions of ledger transaction .*accounts_history row id=3"


def delete_history_row(dsn: str) -> str:
    tampered(dsn, "accounts_history", "DELETE FROM accounts_history WHERE id = 3")
    return "table accounts: the row versions of ledger transaction .* do not match"


def edit_append_only_row(dsn: str) -> str:
    tampered(dsn, "events", "UPDATE events SET what = 'nothing happened'")
    return "table events: the row versions of ledger transaction .*events row id=1"


def edit_transaction_hash(dsn: str) -> str:
    sql(dsn, "UPDATE accord_ledger.transactions SET transaction_hash = sha256('x') "
             "WHERE transaction_id = (SELECT max(transaction_id) FROM accord_ledger.transactions)")  # fmt: skip
    return "accord_ledger.transactions row .*: stored transaction_hash does not match"


def edit_table_hashes(dsn: str) -> str:
    sql(dsn, "UPDATE accord_ledger.transactions SET table_hashes = "
             "jsonb_set(table_hashes, '{accounts}', to_jsonb(encode(sha256('x'), 'hex'))) "
             "WHERE transaction_id = (SELECT min(transaction_id) FROM accord_ledger.transactions)")  # fmt: skip
    return "table accounts: the row versions of ledger transaction .* do not match"


def delete_transaction(dsn: str) -> str:
    sql(dsn, "DELETE FROM accord_ledger.transactions WHERE transaction_id = "
             "(SELECT min(transaction_id) FROM accord_ledger.transactions)")  # fmt: skip
    return "has no accord_ledger.transactions row"


def move_transaction_to_other_block(dsn: str) -> str:
    sql(dsn, "UPDATE accord_ledger.transactions SET block_id = 0 WHERE block_id = 2")
    return "block 0: records 1 transactions but 2 belong to it"


def edit_block_root(dsn: str) -> str:
    sql(dsn, "UPDATE accord_ledger.blocks SET root_hash = sha256('x') WHERE block_id = 1")
    return "block 1: root_hash does not match"


def edit_block_hash(dsn: str) -> str:
    sql(dsn, "UPDATE accord_ledger.blocks SET block_hash = sha256('x') WHERE block_id = 1")
    return "block 1: block_hash does not match"


def delete_last_block(dsn: str) -> str:
    sql(dsn, "DELETE FROM accord_ledger.blocks WHERE block_id = 2")
    return "block 2: transactions .* belong to it, but the block does not exist"


def rewrite_consistently(dsn: str) -> str:
    """Change a row, then recompute every transaction and block hash exactly as accord would."""
    tampered(dsn, "accounts", "UPDATE accounts SET balance = 1000000 WHERE id = 1")
    snapshot = read_snapshot(dsn)
    grouped: dict[int, dict[str, list[tuple[int, bytes]]]] = defaultdict(lambda: defaultdict(list))
    for v in snapshot.versions:
        assert v.transaction_id is not None and v.sequence is not None
        h = core.version_hash(v.table, v.operation, v.transaction_id, v.sequence, v.text)
        grouped[v.transaction_id][v.table].append((v.sequence, h))
    tx_hashes = {}
    with psycopg.connect(dsn) as conn:
        for txid, tables in grouped.items():
            roots = {t: core.table_root([h for _, h in sorted(vs)]) for t, vs in tables.items()}
            tx_hashes[txid] = core.transaction_hash(txid, roots)
            conn.execute(
                "UPDATE accord_ledger.transactions SET table_hashes = %s::jsonb, "
                "transaction_hash = %s WHERE transaction_id = %s",
                (Jsonb({t: r.hex() for t, r in roots.items()}),
                 tx_hashes[txid], txid),
            )  # fmt: skip
        previous = core.ZERO_HASH
        for block in snapshot.blocks:
            txids = sorted(t.transaction_id for t in snapshot.transactions
                           if t.block_id == block.block_id)  # fmt: skip
            root = core.block_root([tx_hashes[t] for t in txids])
            digest = core.block_hash(block.block_id, previous, root, len(txids))
            conn.execute(
                "UPDATE accord_ledger.blocks SET root_hash = %s, previous_block_hash = %s, "
                "block_hash = %s WHERE block_id = %s",
                (root, previous, digest, block.block_id),
            )
            previous = digest
    verify_database(dsn)  # consistent: only the anchored digest can tell
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
    data = init_data_dir(tmp_path_factory.mktemp("ledger") / "data", name="tables.test/ledger")
    return data.path


@pytest.mark.parametrize("tamper", TAMPERINGS, ids=lambda f: f.__name__)
def test_tampering_is_detected(
    accounts_db: str, ledger_dir: Path, tamper: Callable[[str], str]
) -> None:
    target = LedgerTarget(str(ledger_dir))
    anchor_digest(generate_digest(accounts_db), target)
    digests = fetch_digests(target)
    assert any(d.database in accounts_db for d in digests)
    verify_database(accounts_db, digests)
    expected = tamper(accounts_db)
    with pytest.raises(TamperingDetected, match=expected):
        verify_database(accounts_db, digests)


def test_one_damaged_transaction_does_not_hide_tampering_elsewhere(accounts_db: str) -> None:
    sql(accounts_db, "SELECT 1")
    tampered(accounts_db, "accounts", "UPDATE accounts SET balance = 1000000 WHERE id = 1")
    tampered(
        accounts_db, "accounts_history", "UPDATE accounts_history SET owner = 'x' WHERE id = 3"
    )
    sql(accounts_db, "UPDATE accord_ledger.blocks SET block_hash = sha256('x') WHERE block_id = 2")
    with pytest.raises(TamperingDetected) as caught:
        verify_database(accounts_db)
    lines = str(caught.value).splitlines()
    assert lines[1] == "3 more inconsistencies:", lines  # history row 3: two transactions
    assert all("do not match" in line for line in lines[:3] if "accounts" in line)
    assert any("accounts row id=1" in line for line in lines)
    assert lines[-1] == " - block 2: block_hash does not match"
