"""A consortium node's ledger: ordered appends, and commits only through a final checkpoint."""

from pathlib import Path

import pytest

from accord.core.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from accord.core.note import Signer
from accord.errors import ConfigurationError, VerificationError
from accord.log.ledger import (
    COMMITTED,
    PENDING,
    Ledger,
    LedgerOptions,
    NewEntry,
    OrderedItem,
)

ORIGIN = "consortium.example/log"


def _ledger(path: Path, signer: Signer) -> Ledger:
    return Ledger.create_or_open(
        str(path / "ledger.db"), signer, LedgerOptions(external_finality=True)
    )


def _items(n: int, ts: int = 1000) -> list[OrderedItem]:
    return [OrderedItem("subledger:0", (), f"e{i}".encode(), "alice", ts + i) for i in range(n)]


def test_ordered_entries_stay_pending_until_final(tmp_path: Path) -> None:
    mine, peer = Signer.generate(ORIGIN), Signer.generate(ORIGIN)
    with _ledger(tmp_path, mine) as ledger:
        result = ledger.submit_ordered(_items(3), meta={"stream_seq": "7"}).result(10)
        assert [t.seqno for t in result.transaction_ids] == [1, 2, 3]
        assert result.size == 3
        assert ledger.status(3) == PENDING
        assert ledger.storage.read_meta()["stream_seq"] == "7"
        entry = ledger.get_entry(2)
        assert entry.metadata.timestamp_ms == 1001 and entry.metadata.user_id == "alice"
        # A checkpoint signed by another node of the same log, over the same tree.
        note = sign_checkpoint(Checkpoint(ORIGIN, 3, result.root), peer)
        stored = ledger.submit_final(3, note).result(10)
        assert ledger.status(3) == COMMITTED
        open_checkpoint(stored, mine.verifier())  # our own signature was added
        open_checkpoint(stored, peer.verifier())  # the peer's kept
        # An older final checkpoint changes nothing.
        assert ledger.submit_final(2, note).result(10) == stored
    with _ledger(tmp_path, mine) as ledger:  # restart: still committed, nothing re-signed
        assert ledger.committed_size() == 3


def test_final_checkpoint_with_another_root_is_refused(tmp_path: Path) -> None:
    mine, peer = Signer.generate(ORIGIN), Signer.generate(ORIGIN)
    with _ledger(tmp_path, mine) as ledger:
        ledger.submit_ordered(_items(2)).result(10)
        forged = sign_checkpoint(Checkpoint(ORIGIN, 2, b"\x01" * 32), peer)
        with pytest.raises(VerificationError):
            ledger.submit_final(2, forged).result(10)
        assert ledger.committed_size() == 0
        assert ledger.status(1) == PENDING


def test_restart_with_pending_entries_does_not_self_commit(tmp_path: Path) -> None:
    mine = Signer.generate(ORIGIN)
    with _ledger(tmp_path, mine) as ledger:
        ledger.submit_ordered(_items(2)).result(10)
    with _ledger(tmp_path, mine) as ledger:
        assert ledger.size() == 2
        assert ledger.committed_size() == 0
        assert ledger.status(2) == PENDING


def test_plain_submit_is_refused_on_a_consortium_ledger(tmp_path: Path) -> None:
    with (
        _ledger(tmp_path, Signer.generate(ORIGIN)) as ledger,
        pytest.raises(ConfigurationError),
    ):
        ledger.submit([NewEntry("x")], user_id="alice")
