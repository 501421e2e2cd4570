"""Batch appends over HTTPS against the in-process rate (part of `make bench`).

One client, one HTTPS connection (mTLS, keep-alive), requests sent one after another to
``POST /app/transactions/batch`` with 1,000 entries of 1 KiB each; every response comes after the
batch's group commit is durable. Baseline: the in-process ``Ledger.append_batch`` rate of the same
entries and batch size, measured earlier in the same run (the "Durable appends" table).
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

BATCH = 1000
CONTENTS = "x" * 1024


def batch_section(tmp: Path, root: Path, seconds: float) -> dict[str, Any]:
    from accord.datadir import DataDir, init_data_dir

    data = init_data_dir(tmp / "batch-data", name="bench.test/batch").path
    env = dict(os.environ, PYTHONPATH=str(root / "src"))
    server = subprocess.Popen(
        [sys.executable, "-m", "accord.cli.main", "serve", "--data", str(data), "--port", "0"],
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        if server.stderr is None:
            raise RuntimeError("no server stderr")
        banner = server.stderr.readline()
        url = banner.split(" on ", 1)[1].split(" ", 1)[0]
        body = json.dumps({"entries": [{"contents": CONTENTS} for _ in range(BATCH)]}).encode()
        tls = ssl.create_default_context(cafile=str(data / "service.crt"))
        tls.load_cert_chain(str(data / "admin.crt"), str(data / "admin.key"))
        client = httpx.Client(
            base_url=url,
            verify=tls,
            timeout=60,
            headers={"Content-Type": "application/json"},
        )
        with client:
            path = "/app/transactions/batch?api-version=2022-05-13"
            client.post(path, content=body).raise_for_status()  # warm up: TLS, caches
            requests = 0
            latencies = []
            start = time.perf_counter()
            while time.perf_counter() - start < seconds:
                t0 = time.perf_counter()
                response = client.post(path, content=body)
                response.raise_for_status()
                if len(response.json()["transactionIds"]) != BATCH:
                    raise RuntimeError("a batch answered the wrong number of ids")
                latencies.append(time.perf_counter() - t0)
                requests += 1
            elapsed = time.perf_counter() - start
    finally:
        server.terminate()
        server.wait(60)
    reader = DataDir(data).open_reader()
    try:
        stored = reader.size()
    finally:
        reader.close()
    latencies.sort()
    return {
        "requests": requests,
        "entries": requests * BATCH,
        "stored": stored,
        "per_second": requests * BATCH / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
    }


def report_lines(batch: dict[str, Any], in_process_per_second: float) -> list[str]:
    ratio = batch["per_second"] / in_process_per_second
    return [
        "## Batch appends over HTTPS (SQLite)",
        "",
        f"One client sends `POST /app/transactions/batch` requests of {BATCH:,} entries of 1 KiB,",
        "one after another over one mTLS keep-alive connection; each answer comes once the batch",
        "is durable. Baseline: the in-process `append_batch` rate with the same batch size and",
        "entries, from the durable-appends table of this run.",
        "",
        "| requests | entries | p50 ms per request | HTTPS entries/s | in-process entries/s | HTTPS / in-process |",
        "|---|---|---|---|---|---|",
        f"| {batch['requests']:,} | {batch['entries']:,} | {batch['p50_ms']:.0f} | "
        f"{batch['per_second']:,.0f} | {in_process_per_second:,.0f} | **{ratio:.2f}** |",
        "",
        f"(target ≥ 0.5; the service stored {batch['stored']:,} entries including the warm-up "
        "batch)",
        "",
    ]
