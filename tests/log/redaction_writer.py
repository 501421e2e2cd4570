"""A writer process for the redaction crash test: it redacts one entry and stops in between.

Usage: python redaction_writer.py LOCATION SKEY_FILE TXID
Opens the ledger, redacts TXID and, once the redaction record is durable but before the contents
are erased, prints ``RECORDED <record txid>`` and waits to be killed (the erasure never runs).
"""

from __future__ import annotations

import sys
import time

from accord.core.note import Signer
from accord.log.ledger import Ledger


def main() -> None:
    location, skey_file, txid = sys.argv[1], sys.argv[2], sys.argv[3]
    signer = Signer.from_skey(open(skey_file).read().strip())
    ledger = Ledger.create_or_open(location, signer)
    storage = ledger.storage

    def erase_contents(seqno: int) -> None:
        newest = ledger.redactions().newest
        assert newest is not None and newest.record.transaction_id.seqno == seqno
        print(f"RECORDED {newest.record_id}", flush=True)
        while True:  # killed here: the record is durable, the contents are not erased
            time.sleep(1)

    storage.erase_contents = erase_contents  # type: ignore[method-assign]
    print("READY", flush=True)
    ledger.redact(txid, reason="crash test", by="tester")


if __name__ == "__main__":
    main()
