"""`make bench`: measure the ledger and write BENCHMARKS.md.

Every figure has a baseline measured in the same run on the same machine, so ratios survive a
noisy machine. Sizes can be scaled down with ACCORD_BENCH_SCALE (default 1.0) for a quick look.
"""

from __future__ import annotations

import json
import os
import platform
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from accord.core.note import Signer
from accord.core.receipt import ReceiptVerifier, verify_receipt
from accord.log.ledger import Ledger, LedgerOptions, LedgerReader, NewEntry
from accord.log.sqlite import SCHEMA, connect
from accord.testing.pgserver import PostgresServer
from bench import consortium as consortium_bench
from bench import cpu
from bench import private as private_bench
from bench.batch import batch_section
from bench.batch import report_lines as batch_report_lines
from bench.checkpoints import checkpoints_section
from bench.checkpoints import report_lines as checkpoint_report_lines
from bench.documents import documents_section
from bench.documents import report_lines as documents_report_lines
from bench.tables import report_lines as tables_report_lines
from bench.tables import tables_section

SCALE = float(os.environ.get("ACCORD_BENCH_SCALE", "1.0"))
ROOT = Path(__file__).resolve().parents[1]
CONTENTS = "x" * 1024
LEAF = (
    b'{"collectionId":"subledger:0","contentsSha256":"'
    + b"0" * 64
    + b'","format":"accord.entry.v1","tags":[],"timestamp":1764000000000,"transactionId":"1.1","userId":"local"}'
)


def n(x: float) -> int:
    return max(1, int(x * SCALE))


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# --- raw baselines -------------------------------------------------------------------------------
def raw_sqlite_inserts(path: str, total: int, batch: int) -> float:
    conn = connect(path)
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    data = CONTENTS.encode()
    seqno = 1
    start = time.perf_counter()
    while seqno <= total:
        rows = [
            (s, "subledger:0", LEAF, data) for s in range(seqno, min(total, seqno + batch - 1) + 1)
        ]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO entries (seqno, collection_id, leaf, contents) VALUES (?,?,?,?)", rows
        )
        conn.execute("COMMIT")
        seqno += len(rows)
    elapsed = time.perf_counter() - start
    conn.close()
    return total / elapsed


def raw_postgres_inserts(dsn: str, total: int, batch: int) -> float:
    from accord.log.postgres import PostgresStorage

    PostgresStorage(dsn).initialize({"format": "bench", "origin": "bench"})
    data = CONTENTS.encode()
    with psycopg.connect(dsn, autocommit=True) as conn:
        seqno = 1
        start = time.perf_counter()
        while seqno <= total:
            last = min(total, seqno + batch - 1)
            with conn.transaction():
                if batch == 1:
                    conn.execute(
                        "INSERT INTO entries (seqno, collection_id, leaf, contents) "
                        "VALUES (%s,%s,%s,%s)",
                        (seqno, "subledger:0", LEAF, data),
                    )
                else:
                    with conn.cursor().copy(
                        "COPY entries (seqno, collection_id, leaf, contents) FROM STDIN"
                    ) as copy:
                        for s in range(seqno, last + 1):
                            copy.write_row((s, "subledger:0", LEAF, data))
            seqno = last + 1
        elapsed = time.perf_counter() - start
    return total / elapsed


# --- ledger appends ------------------------------------------------------------------------------
def ledger_appends(location: str, total: int, batch: int) -> float:
    signer = Signer.generate("bench.test/ledger")
    with Ledger.create_or_open(location, signer, LedgerOptions()) as ledger:
        entries = [NewEntry(CONTENTS) for _ in range(batch)]
        start = time.perf_counter()
        done = 0
        while done < total:
            ledger.append_batch(entries[: min(batch, total - done)])
            done += min(batch, total - done)
        elapsed = time.perf_counter() - start
    return total / elapsed


def append_section(tmp: Path, pg: PostgresServer) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for batch, total in ((1, n(3000)), (1000, n(200_000))):
        log(f"SQLite appends, batch {batch}, {total} entries")
        raw = raw_sqlite_inserts(str(tmp / f"raw-{batch}.db"), total, batch)
        led = ledger_appends(str(tmp / f"ledger-{batch}.db"), total, batch)
        results[f"sqlite_batch_{batch}"] = {"entries": total, "raw": raw, "ledger": led}
        log(f"PostgreSQL appends, batch {batch}, {total} entries")
        total_pg = total if batch > 1 else n(2000)
        raw_pg = raw_postgres_inserts(pg.create_database(f"raw{batch}"), total_pg, batch)
        led_pg = ledger_appends(pg.create_database(f"led{batch}"), total_pg, batch)
        results[f"postgres_batch_{batch}"] = {"entries": total_pg, "raw": raw_pg, "ledger": led_pg}
    return results


# --- 1M entries: memory, proofs, receipts ----------------------------------------------------------
GROW_SCRIPT = """
import sys, time, json

def peak_rss_kb():
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec from the forked parent.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")

from accord.core.note import Signer
from accord.log.ledger import Ledger, LedgerOptions, NewEntry
location, total, skey = sys.argv[1], int(sys.argv[2]), sys.argv[3]
signer = Signer.from_skey(open(skey).read())
rss = []
with Ledger.create_or_open(location, signer, LedgerOptions()) as ledger:
    batch = [NewEntry("y" * 1024) for _ in range(1000)]
    start = time.perf_counter()
    done = 0
    while done < total:
        ledger.append_batch(batch)
        done += len(batch)
        if done % (total // 10) == 0:
            rss.append((done, peak_rss_kb()))
            print(f"[bench]   grown to {done}", file=sys.stderr, flush=True)
    ledger.wait_for_commit(done)
    elapsed = time.perf_counter() - start
print(json.dumps({"rss_kb": rss, "seconds": elapsed}))
"""


def million_section(tmp: Path) -> dict[str, Any]:
    total = n(1_000_000)
    total -= total % 1000 or 0
    total = max(total, 10_000)
    location = str(tmp / "million.db")
    signer = Signer.generate("bench.test/million")
    skey = tmp / "million.key"
    skey.write_text(signer.to_skey())
    log(f"growing a ledger to {total} entries in a child process (peak RSS measured there)")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    out = subprocess.run(
        [sys.executable, "-c", GROW_SCRIPT, location, str(total), str(skey)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    sys.stderr.write(out.stderr)
    grown = json.loads(out.stdout)
    baseline = subprocess.run(
        [
            sys.executable,
            "-c",
            "import accord.log.ledger, accord.core.note; "
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])",
        ],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    import_rss_kb = int(baseline.stdout.strip())

    reader = LedgerReader.open(location, signer.verifier())
    size = reader.committed_size()
    rng = random.Random(7)
    log(f"inclusion proofs at size {size}")
    for _ in range(200):  # warm the page cache like a running service would be
        reader.inclusion_proof(rng.randrange(size), size)
    timings = []
    for _ in range(n(5000)):
        index = rng.randrange(size)
        t0 = time.perf_counter()
        reader.inclusion_proof(index, size)
        timings.append(time.perf_counter() - t0)
    timings.sort()
    # Baseline: the raw cost of reading one entry row by primary key from the same database.
    conn = sqlite3.connect(location)
    row_timings = []
    for _ in range(n(5000)):
        s = rng.randrange(1, size + 1)
        t0 = time.perf_counter()
        conn.execute("SELECT leaf FROM entries WHERE seqno = ?", (s,)).fetchone()
        row_timings.append(time.perf_counter() - t0)
    row_timings.sort()
    conn.close()

    log("receipt verification")
    receipts = [reader.receipt(rng.randrange(1, size + 1)).to_bytes() for _ in range(n(500))]
    verifier = signer.verifier()
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < 3.0:
        for r in receipts:
            verify_receipt(r, verifier)
        count += len(receipts)
    receipts_per_s = count / (time.perf_counter() - start)
    # Warm: many receipts against the same checkpoint, each signature checked once (the usual
    # case for an auditor checking a batch of receipts issued together).
    same_checkpoint = [
        reader.receipt(rng.randrange(1, size + 1)).to_bytes() for _ in range(n(2000))
    ]
    batch_verifier = ReceiptVerifier(verifier)
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < 3.0:
        for r in same_checkpoint:
            batch_verifier.verify(r)
        count += len(same_checkpoint)
    receipts_warm_per_s = count / (time.perf_counter() - start)
    # Baseline: the Ed25519 signature check alone, the floor of any receipt verification.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    msg = b"bench.test/million\n1000000\n" + b"A" * 44 + b"\n"
    sig = key.sign(msg)
    pub = key.public_key()
    sig_count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < 2.0:
        for _ in range(1000):
            pub.verify(sig, msg)
        sig_count += 1000
    sigs_per_s = sig_count / (time.perf_counter() - start)
    reader.close()
    return {
        "entries": size,
        "grow_seconds": grown["seconds"],
        "rss_kb": grown["rss_kb"],
        "import_rss_kb": import_rss_kb,
        "proof_p50_ms": timings[len(timings) // 2] * 1000,
        "proof_p99_ms": timings[int(len(timings) * 0.99)] * 1000,
        "row_read_p50_ms": row_timings[len(row_timings) // 2] * 1000,
        "receipts_per_s": receipts_per_s,
        "receipts_warm_per_s": receipts_warm_per_s,
        "ed25519_verify_per_s": sigs_per_s,
    }


# --- the HTTPS service under load -----------------------------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _loadgen(url: str, data: Path, mode: str, seconds: float) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.loadgen",
            url,
            "--cacert",
            str(data / "service.crt"),
            "--cert",
            str(data / "admin.crt"),
            "--key",
            str(data / "admin.key"),
            "--mode",
            mode,
            "--clients",
            "64",
            "--seconds",
            str(seconds),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{ROOT}"),
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def service_section(tmp: Path) -> dict[str, Any]:
    from accord.datadir import DataDir, init_data_dir

    data = init_data_dir(tmp / "service-data", name="bench.test/service").path
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    seconds = max(3.0, 10.0 * SCALE)
    results: dict[str, Any] = {}
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "accord.cli.main",
            "serve",
            "--data",
            str(data),
            "--port",
            str(port),
        ],
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert server.stderr is not None
        server.stderr.readline()
        url = f"https://127.0.0.1:{port}"
        log("service: appends, 64 clients")
        server_cpu = cpu.cpu_seconds(server.pid)
        results["ledger_append"] = _loadgen(url, data, "append", seconds)
        # the server is idle while the load process starts: its CPU is the load's
        results["ledger_append"]["server_cpu_seconds"] = cpu.cpu_seconds(server.pid) - server_cpu
        log("service: reads, 64 clients")
        results["ledger_read"] = _loadgen(url, data, "read", seconds)
    finally:
        server.terminate()
        server.wait(60)
    reader = DataDir(data).open_reader()
    results["ledger_size"] = reader.size()
    results["committed_size"] = reader.committed_size()
    results["checkpoints"] = sum(1 for _ in reader.storage.iter_checkpoints())
    reader.close()
    port = _free_port()
    minimal = subprocess.Popen(
        [sys.executable, "-m", "bench.minimal_server", str(data), str(port)],
        stdout=subprocess.PIPE,
        env=dict(env, PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{ROOT}"),
        cwd=ROOT,
    )
    try:
        assert minimal.stdout is not None
        minimal.stdout.readline()
        time.sleep(0.5)
        url = f"https://127.0.0.1:{port}"
        log("baseline: minimal aiohttp HTTPS endpoint, appends and reads")
        results["minimal_append"] = _loadgen(url, data, "append", seconds)
        results["minimal_read"] = _loadgen(url, data, "read", seconds)
    finally:
        minimal.terminate()
        minimal.wait(60)
    return results


def write_report(
    appends: dict[str, Any], million: dict[str, Any], service: dict[str, Any], seconds: float
) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    lines = [
        "# accord benchmarks",
        "",
        f"Written by `make bench` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, scale {SCALE}. Whole run: {seconds:.0f} s.",
        "",
        "Every figure sits beside a baseline measured in the same run; the ratio is the figure",
        "to compare across machines.",
        "",
        "## Durable appends (1 KiB entries, in-process)",
        "",
        "Baseline: raw inserts of the same rows (seqno, collection, a 190-byte leaf, 1 KiB",
        "contents) into the same `entries` table, same durability (SQLite WAL + `synchronous=FULL`;",
        "PostgreSQL `synchronous_commit=on`), one transaction per batch. The ledger additionally",
        "canonicalizes and hashes every entry, writes its tiles, and signs checkpoints (at most",
        "one per 20 ms, the default interval).",
        "",
        "| backend | batch | entries | raw inserts/s | ledger appends/s | ledger / raw |",
        "|---|---|---|---|---|---|",
    ]
    for key, value in appends.items():
        backend, _, batch = key.split("_")
        lines.append(
            f"| {backend} | {batch} | {value['entries']:,} | {value['raw']:,.0f} | "
            f"{value['ledger']:,.0f} | {value['ledger'] / value['raw']:.2f} |"
        )
    peak_mb = max(kb for _, kb in million["rss_kb"]) / 1024
    lines += [
        "",
        f"## A ledger of {million['entries']:,} entries (SQLite)",
        "",
        f"- grown in batches of 1,000 in {million['grow_seconds']:.1f} s "
        f"({million['entries'] / million['grow_seconds']:,.0f} entries/s)",
        f"- peak RSS of the writer process: **{peak_mb:.0f} MB** (importing accord alone: "
        f"{million['import_rss_kb'] / 1024:.0f} MB); along the way: "
        + ", ".join(f"{d:,}: {kb / 1024:.0f} MB" for d, kb in million["rss_kb"]),
        f"- inclusion proof at size {million['entries']:,}: p50 **{million['proof_p50_ms']:.3f} ms**, "
        f"p99 {million['proof_p99_ms']:.3f} ms; baseline, one primary-key row read from the same "
        f"database: p50 {million['row_read_p50_ms']:.3f} ms "
        f"(ratio {million['proof_p50_ms'] / million['row_read_p50_ms']:.1f}×)",
        f"- receipt verification on one core, each receipt checked from scratch (signature "
        f"included): **{million['receipts_per_s']:,.0f}/s**; baseline, a bare Ed25519 signature "
        f"check: {million['ed25519_verify_per_s']:,.0f}/s "
        f"(ratio {million['receipts_per_s'] / million['ed25519_verify_per_s']:.2f})",
        f"- receipt verification on one core, a batch of receipts sharing their checkpoint "
        f"(`ReceiptVerifier`: each distinct checkpoint signature checked once, every proof and "
        f"leaf checked): **{million['receipts_warm_per_s']:,.0f}/s**",
        "",
        "## The HTTPS service under load (64 concurrent clients, mTLS, separate load process)",
        "",
        "The load generator (`bench/loadgen.py`, aiohttp) runs in its own process on the same",
        "2-core machine as the server, so both compete for the cores. Appends carry 100-byte",
        "contents; a response to an append comes after the entry's group commit is durable; a",
        "signed checkpoint follows within the 20 ms checkpoint interval (after the run: stored",
        f"{service['ledger_size']:,} entries, the newest checkpoint covers "
        f"{service['committed_size']:,}, {service['checkpoints']:,} checkpoints were signed).",
        "Baseline: `bench/minimal_server.py`, the same framework and TLS set-up answering at once.",
        "",
        "| workload | accord req/s | p50 ms | p99 ms | errors | minimal req/s | p50 ms | p99 ms | accord / minimal |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for kind in ("append", "read"):
        a, m = service[f"ledger_{kind}"], service[f"minimal_{kind}"]
        lines.append(
            f"| {kind} | {a['per_second']:,.0f} | {a['p50_ms']:.1f} | {a['p99_ms']:.1f} | "
            f"{a['errors']} | {m['per_second']:,.0f} | {m['p50_ms']:.1f} | {m['p99_ms']:.1f} | "
            f"{a['per_second'] / m['per_second']:.2f} |"
        )
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="accord-bench-") as tmp_name, PostgresServer() as pg:
        tmp = Path(tmp_name)
        appends = append_section(tmp, pg)
        million = million_section(tmp)
        service = service_section(tmp)
        log("batch appends over HTTPS")
        batch = batch_section(tmp, ROOT, max(3.0, 10.0 * SCALE))
        # After the single-node HTTPS sections: their rates are the consortium's baselines.
        log("the consortium's workloads against one node")
        same_load = consortium_bench.single_node_section(tmp, max(3.0, 10.0 * SCALE))
        log("a consortium of three organizations over HTTPS")
        consortium = consortium_bench.consortium_section(tmp, max(3.0, 10.0 * SCALE))
        consortium["single_node"] = same_load
        catchup_section = getattr(consortium_bench, "catchup_section", None)
        consortium["consortium_catchup"] = (
            None if catchup_section is None else catchup_section(tmp, max(3.0, 10.0 * SCALE))
        )
        log("consortium: " + json.dumps(consortium))
        log("private collections and joint computations, three organizations")
        private = private_bench.private_section(tmp, max(4.0, 10.0 * SCALE))
        log("private: " + json.dumps(private))
        log("checkpoint interval")
        checkpoints = checkpoints_section(tmp, n(20_000))
        tables = tables_section(pg, SCALE)
        log("immutable documents through the S3 API")
        documents = documents_section(tmp, ROOT, SCALE)
    report = write_report(appends, million, service, time.perf_counter() - started)
    sections = [
        batch_report_lines(batch, appends["sqlite_batch_1000"]["ledger"]),
        consortium_bench.report_lines(
            consortium, {"append": service["ledger_append"], "batch": batch}
        ),
        private_bench.report_lines(private),
        checkpoint_report_lines(checkpoints),
        tables_report_lines(tables),
        documents_report_lines(documents),
    ]
    report = report.rstrip("\n") + "\n\n"
    report += "\n\n".join("\n".join(lines).strip("\n") for lines in sections) + "\n"
    (ROOT / "BENCHMARKS.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
