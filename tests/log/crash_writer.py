"""A writer process for the crash tests: appends as fast as it can until it is killed.

Usage: python crash_writer.py LOCATION SKEY_FILE
Prints ``ACK <seqno> <sha256 hex of contents>`` for each acknowledged (durable) entry and
``CP <base64 of the signed note>`` for checkpoints it has seen, flushing after each batch.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import sys
import threading

from accord.core.note import Signer
from accord.log.ledger import Ledger, LedgerOptions, NewEntry


def main() -> None:
    location, skey_file = sys.argv[1], sys.argv[2]
    signer = Signer.from_skey(open(skey_file).read().strip())
    ledger = Ledger.create_or_open(location, signer, LedgerOptions(max_batch=500))
    out_lock = threading.Lock()
    rng_seed = int.from_bytes(os.urandom(4), "big")

    def worker(k: int) -> None:
        rng = random.Random(rng_seed + k)
        n = 0
        while True:
            batch = [
                NewEntry(f"w{k}-{n}-{i}-" + "x" * rng.randint(0, 2000))
                for i in range(rng.choice([1, 1, 5, 50, 300]))
            ]
            n += 1
            ids = ledger.append_batch(batch)
            lines = [
                f"ACK {t.seqno} {hashlib.sha256(e.contents.encode()).hexdigest()}"
                for t, e in zip(ids, batch, strict=True)
            ]
            if rng.random() < 0.2:
                note, _ = ledger.latest_checkpoint()
                lines.append("CP " + base64.b64encode(note.encode()).decode())
            with out_lock:
                sys.stdout.write("\n".join(lines) + "\n")
                sys.stdout.flush()

    print("READY", flush=True)
    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
