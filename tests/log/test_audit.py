"""The offline audit reads one snapshot, so it passes beside a writer that keeps appending."""

from __future__ import annotations

import threading

from accord.core.note import Signer
from accord.log.audit import audit_storage
from accord.log.ledger import Ledger, LedgerOptions, NewEntry
from accord.log.storage import open_storage


def test_audit_beside_a_busy_writer(location: str) -> None:
    signer = Signer.generate("audit.test/ledger")
    stop = threading.Event()
    with Ledger.create_or_open(location, signer, LedgerOptions(max_batch=50)) as ledger:
        ledger.append_batch([NewEntry(f"seed {i}") for i in range(3000)])

        def write() -> None:
            i = 0
            while not stop.is_set():
                ledger.append_batch([NewEntry(f"busy {i}.{j}") for j in range(7)])
                i += 1

        writer = threading.Thread(target=write)
        writer.start()
        try:
            sizes = []
            for _ in range(3):
                storage = open_storage(location, read_only=True)
                try:
                    report = audit_storage(storage, signer.verifier())
                finally:
                    storage.close()
                sizes.append(report.entries)
        finally:
            stop.set()
            writer.join()
        final = ledger.size()
    # Each audit saw a consistent, growing prefix of the log while it grew.
    assert sizes == sorted(sizes) and sizes[0] >= 3000 and sizes[-1] < final
    assert len(set(sizes)) > 1, "the writer did not append during the audits"


def test_iter_entries_stops_at_the_end_it_was_given(location: str) -> None:
    signer = Signer.generate("audit.test/ledger")
    with Ledger.create_or_open(location, signer) as ledger:
        ledger.append_batch([NewEntry(f"e {i}") for i in range(25)])
        got = [e.seqno for e in ledger.storage.iter_entries(3, chunk=4, last_seqno=17)]
    assert got == list(range(3, 18))
