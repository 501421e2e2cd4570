"""The checkpoint interval: commit latency, signing rate and audit time (part of `make bench`).

Many writers each append one entry at a time and wait until it is durable (as the HTTPS service
acknowledges a write), once with a checkpoint signed per group commit (interval 0, the old
default) and once with the default interval. Each entry's time to ``Committed`` is measured
through its commit future without holding its writer back. Reported: entries/s, commit latency,
how many checkpoints were stored, and how long a full audit of the result takes. The interval-0
run is the baseline of the same run.
"""

from __future__ import annotations

import functools
import threading
import time
from pathlib import Path
from typing import Any

from accord.core.note import Signer, Verifier
from accord.log.audit import audit_storage
from accord.log.ledger import DEFAULT_CHECKPOINT_INTERVAL, Ledger, LedgerOptions
from accord.log.storage import open_storage

WRITERS = 32
AUDITS = 5


def run_interval(location: str, interval: float, total: int) -> dict[str, Any]:
    signer = Signer.generate("bench.test/checkpoints")
    latencies: list[float] = []
    lock = threading.Lock()
    per_writer = max(1, total // WRITERS)
    with Ledger.create_or_open(
        location, signer, LedgerOptions(checkpoint_interval=interval)
    ) as ledger:

        def committed(t0: float, _future: object) -> None:
            elapsed = time.perf_counter() - t0
            with lock:
                latencies.append(elapsed)

        def writer() -> None:
            for _ in range(per_writer):
                t0 = time.perf_counter()
                txid = ledger.append("x" * 100)
                ledger.commit_future(txid.seqno).add_done_callback(functools.partial(committed, t0))

        threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        ledger.wait_for_commit(ledger.size())
    latencies.sort()
    storage = open_storage(location, read_only=True)
    try:
        entries = storage.entry_count()
        checkpoints = sum(1 for _ in storage.iter_checkpoints())
    finally:
        storage.close()
    return {
        "interval": interval,
        "location": location,
        "verifier": signer.verifier(),
        "entries": entries,
        "checkpoints": checkpoints,
        "per_second": entries / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
    }


def audit_seconds(location: str, verifier: Verifier) -> float:
    storage = open_storage(location, read_only=True)
    try:
        t0 = time.perf_counter()
        audit_storage(storage, verifier)
        return time.perf_counter() - t0
    finally:
        storage.close()


def checkpoints_section(tmp: Path, total: int) -> dict[str, Any]:
    results = {
        "baseline": run_interval(str(tmp / "cp-0.db"), 0.0, total),
        "default": run_interval(str(tmp / "cp-default.db"), DEFAULT_CHECKPOINT_INTERVAL, total),
    }
    # Audits interleaved, the fastest of each kept: the machine is shared and noisy.
    for r in results.values():
        r["audit_seconds"] = float("inf")
    for _ in range(AUDITS):
        for r in results.values():
            r["audit_seconds"] = min(
                r["audit_seconds"], audit_seconds(r["location"], r["verifier"])
            )
    return results


def report_lines(results: dict[str, Any]) -> list[str]:
    base, new = results["baseline"], results["default"]
    lines = [
        "## Checkpoint interval (SQLite, in-process)",
        "",
        f"{WRITERS} writers each append 100-byte entries one at a time, each waiting until its",
        "entry is durable (as the service acknowledges); commit latency is the time from the",
        "append to `Committed`. Baseline: a checkpoint signed with every group commit (interval 0, the",
        "old default); accord's default caps signing at one checkpoint per",
        f"{DEFAULT_CHECKPOINT_INTERVAL * 1000:.0f} ms (an isolated write is still signed at "
        "once). The audit is `accord verify`'s full recomputation of the stored ledger (fastest",
        f"of {AUDITS} interleaved runs).",
        "",
        "| interval | entries | checkpoints stored | entries/s | commit p50 ms | commit p99 ms | audit s |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, r in (("0 (baseline)", base), (f"{new['interval'] * 1000:.0f} ms", new)):
        lines.append(
            f"| {label} | {r['entries']:,} | {r['checkpoints']:,} | {r['per_second']:,.0f} | "
            f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['audit_seconds']:.2f} |"
        )
    lines += [
        "",
        f"Checkpoints per entry: {base['checkpoints'] / base['entries']:.3f} → "
        f"{new['checkpoints'] / new['entries']:.3f}; audit time ratio default / baseline: "
        f"{new['audit_seconds'] / base['audit_seconds']:.2f}.",
        "",
    ]
    return lines
