"""`accord verify` catches every kind of direct edit to the stored ledger, on both backends."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from accord.cli.main import main
from accord.core.ccf import ccf_node_hash, entry_ccf_leaf
from accord.core.entry import TransactionId
from accord.core.merkle import leaf_hash
from accord.core.tiles import width_from_packed_size
from accord.core.treestate import TreeEdge
from accord.datadir import DataDir, init_data_dir
from accord.log.ledger import Ledger, NewEntry

ENTRIES = 600


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_dir(request: pytest.FixtureRequest, tmp_path: Path) -> DataDir:
    storage = None if request.param == "sqlite" else request.getfixturevalue("pg_dsn")
    data = init_data_dir(tmp_path / "data", name="tamper.test/ledger", storage=storage)
    with Ledger.create_or_open(data.storage_location(), data.signer(), node=data.node()) as ledger:
        for start in range(0, ENTRIES, 150):
            ledger.append_batch(
                [NewEntry(f"entry {i}", tags=["t"]) for i in range(start, start + 150)],
                wait_for_commit=True,
            )
    return data


def execute(data: DataDir, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    location = data.storage_location()
    if location.startswith("postgresql://"):
        with psycopg.connect(location, autocommit=True) as conn:
            cur = conn.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []
    conn = sqlite3.connect(location)
    try:
        rows = conn.execute(sql, params).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def verify(data: DataDir, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["verify", "--data", str(data.path), *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_untouched_ledger_verifies(ledger_dir: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = verify(ledger_dir, capsys)
    assert code == 0, out
    assert f"OK: {ENTRIES} entries" in out


def _leaf(data: DataDir, seqno: int) -> bytes:
    return bytes(execute(data, "SELECT leaf FROM entries WHERE seqno = ?", (seqno,))[0][0])  # type: ignore[arg-type]


def edit_contents(data: DataDir) -> int:
    execute(data, "UPDATE entries SET contents = ? WHERE seqno = 37", (b"forged",))
    return 37


def edit_metadata(data: DataDir) -> int:
    leaf = _leaf(data, 50).replace(b'"userId":"local"', b'"userId":"lokal"')
    execute(data, "UPDATE entries SET leaf = ? WHERE seqno = 50", (leaf,))
    return 50


def edit_collection_column(data: DataDir) -> int:
    execute(data, "UPDATE entries SET collection_id = 'other' WHERE seqno = 61")
    return 61


def edit_stored_contents_hash(data: DataDir) -> int:
    leaf = _leaf(data, 90)
    start = leaf.index(b'"contentsSha256":"') + len(b'"contentsSha256":"')
    flipped = b"0" if leaf[start : start + 1] != b"0" else b"1"
    execute(
        data,
        "UPDATE entries SET leaf = ? WHERE seqno = 90",
        (leaf[:start] + flipped + leaf[start + 1 :],),
    )
    return 90


def edit_stored_tree_hash(data: DataDir) -> int:
    packed = bytes(execute(data, "SELECT hashes FROM tiles WHERE level = 0 AND idx = 1")[0][0])  # type: ignore[arg-type]
    position = 10  # leaf hash of seqno 256 + 10 + 1
    tampered = packed[: position * 32] + bytes(32) + packed[(position + 1) * 32 :]
    execute(data, "UPDATE tiles SET hashes = ? WHERE level = 0 AND idx = 1", (tampered,))
    return 267


def delete_row(data: DataDir) -> int:
    execute(data, "DELETE FROM entries WHERE seqno = 70")
    return 70


def reorder_rows(data: DataDir) -> int:
    execute(data, "UPDATE entries SET seqno = -1 WHERE seqno = 80")
    execute(data, "UPDATE entries SET seqno = 80 WHERE seqno = 81")
    execute(data, "UPDATE entries SET seqno = 81 WHERE seqno = -1")
    return 80


def edit_checkpoint(data: DataDir) -> int:
    size, note = execute(data, "SELECT size, note FROM checkpoints ORDER BY size LIMIT 1 OFFSET 2")[
        0
    ]
    lines = str(note).split("\n")
    lines[1] = str(int(lines[1]) - 1)
    execute(data, "UPDATE checkpoints SET note = ? WHERE size = ?", ("\n".join(lines), size))
    return 151  # the checkpoint of size 300 (after 150) no longer verifies


def rewrite_consistently(data: DataDir) -> int:
    """An operator rewrites entry 200 and recomputes every stored hash; only signatures stop it."""
    leaf = _leaf(data, 200).replace(b'"userId":"local"', b'"userId":"lokal"')
    execute(data, "UPDATE entries SET leaf = ? WHERE seqno = 200", (leaf,))
    rewrite_all_tiles(data)
    return 151  # the first checkpoint covering the change (150 entries per batch)


def rewrite_all_tiles(data: DataDir) -> None:
    """Recompute and store both trees from the entries as they now are (the operator knows the
    commit secret: it is in the database)."""
    rows = execute(data, "SELECT seqno, collection_id, leaf, contents FROM entries ORDER BY seqno")
    secret = bytes.fromhex(
        str(execute(data, "SELECT value FROM meta WHERE key = 'commit_secret'")[0][0])
    )
    edge, ccf_edge = TreeEdge(), TreeEdge(ccf_node_hash)
    tiles = {(0, k): v for k, v in edge.append([leaf_hash(bytes(r[2])) for r in rows]).items()}  # type: ignore[arg-type]
    ccf_leaves = [
        entry_ccf_leaf(bytes(r[2]), TransactionId(1, int(r[0])), str(r[1]), bytes(r[3]), secret)  # type: ignore[arg-type,call-overload]
        for r in rows
    ]
    tiles.update({(1, k): v for k, v in ccf_edge.append(ccf_leaves).items()})
    execute(data, "DELETE FROM tiles")
    for (tree, (level, index)), packed in tiles.items():
        execute(
            data,
            "INSERT INTO tiles (tree, level, idx, width, hashes) VALUES (?, ?, ?, ?, ?)",
            (tree, level, index, width_from_packed_size(len(packed)), packed),
        )


def edit_ccf_tree_hash(data: DataDir) -> int:
    packed = bytes(
        execute(data, "SELECT hashes FROM tiles WHERE tree = 1 AND level = 0 AND idx = 0")[0][0]
    )  # type: ignore[arg-type]
    position = 99  # the CCF leaf of seqno 100
    tampered = packed[: position * 32] + bytes(32) + packed[(position + 1) * 32 :]
    execute(
        data, "UPDATE tiles SET hashes = ? WHERE tree = 1 AND level = 0 AND idx = 0", (tampered,)
    )
    return 100


def edit_ccf_signature(data: DataDir) -> int:
    size = execute(data, "SELECT size FROM checkpoints ORDER BY size LIMIT 1 OFFSET 2")[0][0]
    other = execute(data, "SELECT ccf_signature FROM checkpoints ORDER BY size LIMIT 1 OFFSET 3")[
        0
    ][0]
    execute(data, "UPDATE checkpoints SET ccf_signature = ? WHERE size = ?", (other, size))
    return 151


def truncate_with_checkpoints(data: DataDir) -> int:
    execute(data, "DELETE FROM entries WHERE seqno > 450")
    execute(data, "DELETE FROM checkpoints WHERE size > 450")
    # ...and rewrites the stored trees so that they are exactly the trees of 450 entries.
    rewrite_all_tiles(data)
    return 451


def edit_contents_as_text(data: DataDir) -> int:
    """The natural hand edit: a text value written where accord stores bytes."""
    execute(data, "UPDATE entries SET contents = 'evil' WHERE seqno = 5")
    return 5


def delete_ccf_signatures(data: DataDir) -> int:
    execute(data, "UPDATE checkpoints SET ccf_signature = NULL")
    return 1  # the first non-empty checkpoint (size 150) has lost its node signature


TAMPERINGS: list[Callable[[DataDir], int]] = [
    edit_contents_as_text,
    delete_ccf_signatures,
    edit_contents,
    edit_metadata,
    edit_collection_column,
    edit_stored_contents_hash,
    edit_stored_tree_hash,
    delete_row,
    reorder_rows,
    edit_checkpoint,
    rewrite_consistently,
    edit_ccf_tree_hash,
    edit_ccf_signature,
]


@pytest.mark.parametrize("tamper", TAMPERINGS, ids=lambda f: f.__name__)
def test_tampering_is_detected_with_first_bad_seqno(
    ledger_dir: DataDir, capsys: pytest.CaptureFixture[str], tamper: Callable[[DataDir], int]
) -> None:
    expected = tamper(ledger_dir)
    code, out = verify(ledger_dir, capsys)
    assert code == 1, out
    assert "TAMPERING DETECTED" in out
    assert f"first bad seqno: {expected})" in out, out


def test_rollback_needs_a_trusted_checkpoint(
    ledger_dir: DataDir, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    saved = tmp_path / "saved-checkpoint"
    note = execute(ledger_dir, "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1")[0][0]
    saved.write_text(str(note))
    expected = truncate_with_checkpoints(ledger_dir)
    code, out = verify(ledger_dir, capsys)
    assert code == 0, "a consistent truncation cannot be seen without outside evidence"
    code, out = verify(ledger_dir, capsys, "--trusted-checkpoint", str(saved))
    assert code == 1, out
    assert f"first bad seqno: {expected})" in out, out
