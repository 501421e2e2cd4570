"""Crash safety with real process kills: SIGKILL a writer mid-append, restart, check everything."""

from __future__ import annotations

import base64
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from accord.core.checkpoint import open_checkpoint
from accord.core.note import Signer
from accord.log.audit import audit_storage
from accord.log.ledger import Ledger, LedgerReader

WRITER = Path(__file__).with_name("crash_writer.py")
ROUNDS = 3


def run_writer_and_kill(location: str, skey: Path, seconds: float) -> list[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[2] / "src"), *sys.path])
    proc = subprocess.Popen(
        [sys.executable, str(WRITER), location, str(skey)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.strip() == b"READY", proc.stderr.read() if proc.stderr else first
    time.sleep(seconds)
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    # The last line may be cut mid-write by the kill: only complete lines count as acknowledged.
    text = out.decode()
    lines = text.split("\n")
    return lines[:-1]


def test_sigkill_during_heavy_appends(location: str, tmp_path: Path) -> None:
    signer = Signer.generate("crash.test/ledger")
    skey = tmp_path / "checkpoint.key"
    skey.write_text(signer.to_skey())
    acknowledged: dict[int, str] = {}
    seen_checkpoints: list[str] = []
    rng = random.Random(1234)
    for _ in range(ROUNDS):
        lines = run_writer_and_kill(location, skey, rng.uniform(1.0, 2.5))
        for line in lines:
            kind, _, rest = line.partition(" ")
            if kind == "ACK":
                seqno, digest = rest.split()
                assert int(seqno) not in acknowledged, f"seqno {seqno} acknowledged twice"
                acknowledged[int(seqno)] = digest
            elif kind == "CP":
                seen_checkpoints.append(base64.b64decode(rest).decode())
        assert acknowledged, "the writer acknowledged nothing before it was killed"

        # Restart: every acknowledged entry is there with the same contents and index.
        reader = LedgerReader.open(location, signer.verifier())
        try:
            size = reader.size()
            assert size >= max(acknowledged)
            for start in range(1, size + 1, 2000):
                for entry in reader.storage.get_entries(start, start + 1999):
                    if entry.seqno in acknowledged:
                        digest = hashlib.sha256(entry.contents).hexdigest()
                        assert digest == acknowledged[entry.seqno], entry.seqno
            # Every stored checkpoint and every checkpoint the writer handed out match the tree.
            audit_storage(reader.storage, signer.verifier())
        finally:
            reader.close()
        # Reopening as the writer succeeds (the lock died with the process) and checks the tree.
        with Ledger.create_or_open(location, signer) as ledger:
            for note in seen_checkpoints:
                cp = open_checkpoint(note, signer.verifier())
                assert ledger.root_at(cp.size) == cp.root_hash
    # Appends continue after the last crash.
    with Ledger.create_or_open(location, signer) as ledger:
        before = ledger.size()
        txid = ledger.append("after the crashes", wait_for_commit=True)
        assert txid.seqno == before + 1
        audit_storage(ledger.storage, signer.verifier())
