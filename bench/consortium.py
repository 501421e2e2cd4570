"""A consortium of three organizations under load (part of `make bench`).

Three organizations are created with :class:`accord.consortium.demo.LocalConsortium` in the
benchmark's temporary directory; each runs its own ``accord serve`` and its own NATS server, all
on the machine that also runs the load generator. A write is *acknowledged* once the node it was
sent to applied it (``Pending``) and *final* once a checkpoint cosigned by a quorum of the
organizations covers it.

The load runs in a child process (``python -m bench.consortium SPEC``, aiohttp, one session per
node with that organization's administrator certificate). One task in the same process polls
``GET /checkpoint`` on the first node every 10 ms and reads the final size off the note's second
line; an acknowledged write is final at the first poll answer whose size covers its seqno. So an
ack→final time is what a client polling that node would see (at most one poll interval plus one
poll round trip late), and the final rate is the acknowledged count divided by the time from the
start of the load until every acknowledged entry was both acknowledged and final (the run window
plus the drain).

Phases: a short warm-up; 64 clients appending single entries (100-byte contents, as the
single-node HTTPS benchmark); 16 clients appending single entries (ack→final under a lighter load);
64 clients posting batches of 100 entries of 1 KiB (the entry size of the single-node batch
benchmark). Catch-up (a node verifying a peer's history) is not measured here.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import os
import re
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench import cpu

ROOT = Path(__file__).resolve().parents[1]
ORGS = ("supplier", "manufacturer", "retailer")
CLIENTS = 64
LIGHT_CLIENTS = 16
BATCH = 100
SINGLE_SIZE = 100
BATCH_SIZE = 1024
POLL_INTERVAL = 0.01
DRAIN_TIMEOUT = 120.0
API = "api-version=2022-05-13"


def _log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# --- the load process ----------------------------------------------------------------------------
def _seqno(txid: str) -> int:
    return int(txid.rsplit(".", 1)[1])


def _checkpoint_size(note: str) -> int:
    lines = note.split("\n")
    if len(lines) < 3 or not lines[1].isdigit():
        raise RuntimeError(f"not a checkpoint note: {note[:200]!r}")
    return int(lines[1])


def _percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(len(values) * p))]


async def run_load(spec: dict[str, Any]) -> dict[str, Any]:
    """Drive the spec's clients for ``seconds``, then poll until every acknowledged write is final."""
    batch = int(spec["batch"])
    contents = "x" * int(spec["size"])
    collection = spec.get("collection")
    if batch == 1:
        path = f"/app/transactions?{API}" + (f"&collectionId={collection}" if collection else "")
        body = json.dumps({"contents": contents}).encode()
    else:
        path = f"/app/transactions/batch?{API}"
        entry: dict[str, str] = {"contents": contents}
        if collection:
            entry["collectionId"] = collection
        body = json.dumps({"entries": [entry for _ in range(batch)]}).encode()
    headers = {"Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=90)

    def session_for(target: dict[str, Any], limit: int) -> aiohttp.ClientSession:
        tls = ssl.create_default_context(cafile=target["cacert"])
        tls.load_cert_chain(target["cert"], target["key"])
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=limit, ssl=tls), timeout=timeout
        )

    targets = spec["targets"]
    sessions = [session_for(t, int(t["clients"])) for t in targets]
    poll_session = session_for(targets[0], 1)
    latencies: list[float] = []
    acked: list[tuple[int, int]] = []  # (last seqno of the request, entries it acknowledged)
    unresolved: list[tuple[int, float]] = []  # heap of (last seqno, ack time)
    ack_to_final: list[float] = []
    timeline: list[tuple[float, int]] = []  # (poll answer time, final size)
    poll_rtts: list[float] = []
    errors: dict[str, int] = {}
    poll_errors: dict[str, int] = {}
    error_samples: list[str] = []
    loop_done = asyncio.Event()
    last_final = 0.0

    async def poll_once() -> int:
        t0 = time.perf_counter()
        try:
            async with poll_session.get(targets[0]["url"] + "/checkpoint") as resp:
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            status, text = 0, type(exc).__name__
        now = time.perf_counter()
        if status not in (200, 404):  # 404: no checkpoint is final yet
            poll_errors[str(status)] = poll_errors.get(str(status), 0) + 1
            return timeline[-1][1] if timeline else 0
        poll_rtts.append(now - t0)
        size = _checkpoint_size(text) if status == 200 else 0
        timeline.append((now, size))
        nonlocal last_final
        while unresolved and unresolved[0][0] <= size:
            _, acked_at = heapq.heappop(unresolved)
            ack_to_final.append(now - acked_at)
            last_final = now
        return size

    start_size = await poll_once()
    watched = {k: [int(p) for p in v] for k, v in spec.get("pids", {}).items()}
    cpu_before = {k: cpu.total(v) for k, v in watched.items()}
    own_cpu = time.process_time()
    start = last_final = time.perf_counter()  # last_final: when the newest write went final
    deadline = start + float(spec["seconds"])

    async def poller() -> None:
        while not loop_done.is_set():
            t0 = time.perf_counter()
            await poll_once()
            await asyncio.sleep(max(0.0, POLL_INTERVAL - (time.perf_counter() - t0)))

    async def client(session: aiohttp.ClientSession, url: str) -> None:
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                async with session.post(url + path, data=body, headers=headers) as resp:
                    payload = await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, payload = 0, type(exc).__name__.encode()
            now = time.perf_counter()
            latencies.append(now - t0)
            if status != 200:
                key = str(status)
                errors[key] = errors.get(key, 0) + 1
                if len(error_samples) < 10:
                    error_samples.append(
                        f"{status} {url}: {payload[:300].decode(errors='replace')}"
                    )
                await asyncio.sleep(0.1)  # as a client would before retrying (503: retry shortly)
                continue
            answer = json.loads(payload)
            ids = answer["transactionIds"] if batch > 1 else [answer["transactionId"]]
            last = max(_seqno(t) for t in ids)
            acked.append((last, len(ids)))
            heapq.heappush(unresolved, (last, now))

    poll_task = asyncio.create_task(poller())
    try:
        await asyncio.gather(
            *(
                client(session, target["url"])
                for session, target in zip(sessions, targets, strict=True)
                for _ in range(int(target["clients"]))
            )
        )
        elapsed = time.perf_counter() - start
        cpu_used = {k: cpu.total(v) - cpu_before[k] for k, v in watched.items()}
        cpu_used["load generator"] = time.process_time() - own_cpu
        last_seqno = max((s for s, _ in acked), default=start_size)
        drain_deadline = time.perf_counter() + DRAIN_TIMEOUT
        while unresolved and time.perf_counter() < drain_deadline:
            await asyncio.sleep(POLL_INTERVAL)
        loop_done.set()
        await poll_task
    finally:
        poll_task.cancel()
        for s in (*sessions, poll_session):
            await s.close()
    size_at_deadline = max((size for t, size in timeline if t <= deadline), default=start_size)
    entries = sum(c for _, c in acked)
    latencies.sort()
    ack_to_final.sort()
    poll_rtts.sort()

    def ms(value: float | None) -> float | None:
        return None if value is None else value * 1000

    # A write is final at the first poll after its acknowledgement that covers it (a lagging node
    # may acknowledge an entry the others already finalized without it).
    final_seconds = None if unresolved else last_final - start
    return {
        "clients": sum(int(t["clients"]) for t in targets),
        "batch": batch,
        "size": int(spec["size"]),
        "requests": len(latencies),
        "acked_entries": entries,
        "errors": sum(errors.values()),
        "error_statuses": errors,
        "error_samples": error_samples,
        "seconds": elapsed,
        "ack_per_second": entries / elapsed,
        "cpu_seconds": cpu_used,
        "p50_ms": ms(_percentile(latencies, 0.50)),
        "p99_ms": ms(_percentile(latencies, 0.99)),
        "start_size": start_size,
        "last_seqno": last_seqno,
        "final_in_window": sum(c for s, c in acked if s <= size_at_deadline),
        "final_seconds": final_seconds,
        "final_per_second": None if not final_seconds else entries / final_seconds,
        "unresolved": len(unresolved),
        "ack_to_final_samples": len(ack_to_final),
        "ack_to_final_p50_ms": ms(_percentile(ack_to_final, 0.50)),
        "ack_to_final_p99_ms": ms(_percentile(ack_to_final, 0.99)),
        "ack_to_final_max_ms": ms(ack_to_final[-1] if ack_to_final else None),
        "polls": len(poll_rtts),
        "poll_errors": poll_errors,
        "poll_p50_ms": ms(_percentile(poll_rtts, 0.50)),
        "final_size": timeline[-1][1] if timeline else start_size,
    }


# --- the section ---------------------------------------------------------------------------------
def _spread(total: int, count: int) -> list[int]:
    return [total // count + (1 if i < total % count else 0) for i in range(count)]


def _load(
    targets: list[dict[str, Any]],
    clients: int,
    batch: int,
    size: int,
    seconds: float,
    collection: str | None = None,
    pids: dict[str, list[int]] | None = None,
) -> Any:
    spec = {
        "pids": pids or {},
        "targets": [
            dict(t, clients=k) for t, k in zip(targets, _spread(clients, len(targets)), strict=True)
        ],
        "batch": batch,
        "size": size,
        "seconds": seconds,
        "collection": collection,
    }
    out = subprocess.run(
        [sys.executable, "-m", "bench.consortium", json.dumps(spec)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{ROOT}"),
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"the consortium load generator failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout)


def _log_findings(directory: Path) -> dict[str, Any]:
    """What each organization's node and NATS server logged, as line shapes with counts.

    Lines are grouped by their text with every number replaced by ``#``, so one repeated message
    shows as one shape; a shape's first line is kept as its example.
    """
    findings: dict[str, Any] = {}
    for name in ORGS:
        for kind, path in (
            ("node", directory / f"{name}.log"),
            ("nats", directory / name / "engine" / "nats.log"),
        ):
            lines = path.read_text(errors="replace").splitlines() if path.exists() else []
            if kind == "nats":  # the NATS server's informational lines are many and routine
                lines = [line for line in lines if "[ERR]" in line or "[WRN]" in line]
            shapes: dict[str, list[Any]] = {}
            for line in lines:
                shape = re.sub(r"\d+", "#", line.split("] ", 1)[-1] if kind == "nats" else line)
                shapes.setdefault(shape, [0, line])[0] += 1
            findings[f"{name}/{kind}"] = [
                {"count": count, "example": example[:300]}
                for count, example in sorted(shapes.values(), key=lambda v: -v[0])
            ]
    return findings


def consortium_section(tmp: Path, seconds: float) -> dict[str, Any]:
    from accord.consortium.demo import LocalConsortium, OrgProcess

    consortium = LocalConsortium.create(tmp / "consortium", ORGS)
    results: dict[str, Any] = {"orgs": len(ORGS), "cores": os.cpu_count()}
    try:
        _log(f"consortium: starting {len(ORGS)} organizations (each accord serve + NATS server)")
        started = time.perf_counter()
        consortium.start_all()
        consortium.wait_ready()
        results["startup_seconds"] = time.perf_counter() - started
        targets = [
            {
                "url": org.url,
                "cacert": str(org.service_crt),
                "cert": str(org.admin_cert),
                "key": str(org.admin_key),
            }
            for org in consortium.orgs.values()
        ]
        _log("consortium: warm-up, 16 clients")
        results["warmup"] = _load(targets, LIGHT_CLIENTS, 1, SINGLE_SIZE, 2.0)
        pids = {
            "nodes": [org.proc.pid for org in consortium.orgs.values() if org.proc is not None],
            "NATS servers": [p for p in map(OrgProcess.engine_pid, consortium.orgs.values()) if p],
        }
        _log(f"consortium: single appends, {CLIENTS} clients over {len(ORGS)} nodes")
        results["single"] = _load(targets, CLIENTS, 1, SINGLE_SIZE, seconds, pids=pids)
        _log(f"consortium: single appends, {LIGHT_CLIENTS} clients (ack→final under light load)")
        results["light"] = _load(targets, LIGHT_CLIENTS, 1, SINGLE_SIZE, max(3.0, seconds / 2))
        _log(f"consortium: batches of {BATCH}, {CLIENTS} clients over {len(ORGS)} nodes")
        results["batch"] = _load(targets, CLIENTS, BATCH, BATCH_SIZE, seconds, pids=pids)
    finally:
        consortium.stop_all()
        results["logs"] = _log_findings(consortium.directory)
        results["log_dir"] = str(consortium.directory)
    return results


def single_node_section(tmp: Path, seconds: float) -> dict[str, Any]:
    """The consortium's two workloads against ONE `accord serve` (the embedded default), with the
    same load generator and finality polling: the baselines the issue names (the single-node rate
    of the same workload). A single node's entry is final once its own signed checkpoint covers
    it (``GET /checkpoint``)."""
    from accord.datadir import init_data_dir

    data = init_data_dir(tmp / "single-node-data", name="bench.test/single-node").path
    server = subprocess.Popen(
        [sys.executable, "-m", "accord.cli.main", "serve", "--data", str(data), "--port", "0"],
        stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=str(ROOT / "src")),
        text=True,
    )
    results: dict[str, Any] = {}
    try:
        if server.stderr is None:
            raise RuntimeError("no server stderr")
        banner = server.stderr.readline()
        url = banner.split(" on ", 1)[1].split(" ", 1)[0]
        target = {
            "url": url,
            "cacert": str(data / "service.crt"),
            "cert": str(data / "admin.crt"),
            "key": str(data / "admin.key"),
        }
        _load([target], LIGHT_CLIENTS, 1, SINGLE_SIZE, 2.0)  # warm-up
        pids = {"accord serve": [server.pid]}
        _log(f"single node: single appends, {CLIENTS} clients (the consortium's load generator)")
        results["single"] = _load([target], CLIENTS, 1, SINGLE_SIZE, seconds, pids=pids)
        _log(f"single node: batches of {BATCH}, {CLIENTS} clients")
        results["batch"] = _load([target], CLIENTS, BATCH, BATCH_SIZE, seconds, pids=pids)
    finally:
        server.terminate()
        server.wait(60)
    return results


# --- the report ----------------------------------------------------------------------------------
def _num(value: float | None, fmt: str = ",.0f") -> str:
    return "—" if value is None else format(value, fmt)


def _ratio(value: float | None, baseline: float) -> str:
    return "—" if value is None or not baseline else f"{value / baseline:.2f}"


CATCHUP_ENTRIES = 20_000


def catchup_section(tmp: Path, seconds: float) -> dict[str, Any]:
    """A node away past retention catches up from a peer, verifying every entry against a final
    checkpoint; baseline: ``accord verify --data`` auditing a peer's ledger of the same size."""
    import sqlite3

    from accord.client.client import AccordClient
    from accord.consortium.demo import LocalConsortium
    from accord.errors import NotFound

    scale = max(0.1, min(1.0, seconds / 10.0))
    total = max(2_000, int(CATCHUP_ENTRIES * scale))
    consortium = LocalConsortium.create(tmp / "catchup", ORGS)
    for org in consortium.orgs.values():  # a short retention: the returning node must use a peer
        path = org.data / "consortium.json"
        raw = json.loads(path.read_text())
        raw["retention_messages"] = 10
        path.write_text(json.dumps(raw))
    result: dict[str, Any] = {"entries": total}
    try:
        consortium.start_all()
        consortium.wait_ready()
        away = ORGS[-1]
        consortium.kill(away)
        writer = consortium.orgs[ORGS[0]]
        _log(f"consortium catch-up: writing {total} entries while {away} is away")
        with AccordClient(
            writer.url,
            service_cert=str(writer.service_crt),
            cert=str(writer.admin_cert),
            key=str(writer.admin_key),
            timeout=120,
        ) as c:
            last = ""
            for start in range(0, total, 1000):
                count = min(1000, total - start)
                last = c.append_batch(
                    [{"contents": f"catch-up entry {start + i} " + "x" * 100} for i in range(count)]
                )[-1]
            c.wait_for_commit(last, timeout=120)
            target = int(last.split(".")[1])
        db = sqlite3.connect(consortium.orgs[away].data / "ledger.db")
        (applied,) = db.execute(
            "SELECT value FROM meta WHERE key = 'consortium.stream_seq'"
        ).fetchone()
        (had,) = db.execute("SELECT count(*) FROM entries").fetchone()
        db.close()
        deadline = time.monotonic() + 60
        while not _trimmed_past(consortium, int(applied)):
            if time.monotonic() > deadline:
                raise RuntimeError("the stream was never trimmed past the absent node")
            time.sleep(0.5)
        _log(f"consortium catch-up: {away} returns ({target - had} entries to fetch and verify)")
        started = time.perf_counter()
        consortium.start(away)
        consortium.wait_ready([away])
        back = consortium.orgs[away]
        with AccordClient(
            back.url,
            service_cert=str(back.service_crt),
            cert=str(back.admin_cert),
            key=str(back.admin_key),
        ) as c:
            while True:
                try:
                    if c.status(last) == "Committed":
                        break
                except NotFound:  # not there yet: it is still fetching
                    pass
                if time.perf_counter() - started > 300:
                    raise RuntimeError("the returning node did not catch up in 5 minutes")
                time.sleep(0.05)
        elapsed = time.perf_counter() - started
        log_text = (consortium.directory / f"{away}.log").read_text(errors="replace")
        found = re.search(
            r"caught up from \S+ to size \d+: (\d+) entries fetched and verified in ([0-9.]+) s",
            log_text,
        )
        if found is None:
            raise RuntimeError(f"{away} did not catch up from a peer:\n{log_text[-2000:]}")
        fetched, catchup_seconds = int(found.group(1)), float(found.group(2))
        result.update(
            fetched=fetched,
            seconds=catchup_seconds,
            per_second=fetched / catchup_seconds,
            return_seconds=elapsed,
            used_peer=True,
        )
        peer = consortium.orgs[ORGS[1]]
        consortium.stop(peer.name)  # audit a stopped ledger of the same size, as `verify --data`
        verify_started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "accord.cli.main", "verify", "--data", str(peer.data)],
            check=True,
            capture_output=True,
            timeout=600,
        )
        verify_seconds = time.perf_counter() - verify_started
        db = sqlite3.connect(peer.data / "ledger.db")
        (size,) = db.execute("SELECT count(*) FROM entries").fetchone()
        db.close()
        result.update(
            verify_entries=size,
            verify_seconds=verify_seconds,
            verify_per_second=size / verify_seconds,
        )
    finally:
        consortium.stop_all()
    return result


def _trimmed_past(consortium: Any, applied: int) -> bool:
    for org in consortium.orgs.values():
        log_path = consortium.directory / f"{org.name}.log"
        if not log_path.exists():
            continue
        floors = re.findall(r"trimmed the stream below (\d+)", log_path.read_text(errors="replace"))
        if any(int(f) > applied + 1 for f in floors):
            return True
    return False


def catchup_report_lines(result: dict[str, Any] | None) -> list[str]:
    if not result:
        return []
    ratio = result["per_second"] / result["verify_per_second"]
    return [
        "### Catch-up from a peer",
        "",
        "One organization is away while the others write; the stream is trimmed past it",
        "(`retention_messages` 10), so on its return it fetches the missing entries from a peer",
        "(`/app/consortium/entries`, 1,000 a page) and verifies each page against a checkpoint the",
        "quorum cosigned (every leaf canonical and in place, its contents' hash, an RFC 9162",
        "consistency proof) before storing it. Time: the catch-up itself, as the node logs it (from",
        "its first page request until the last page is stored); the whole return, from `accord",
        "serve` until its final checkpoint covers the last entry, is given beside it. Baseline:",
        "`accord verify --data` (a full audit) of a peer's stopped ledger in the same run.",
        "",
        "| entries fetched and verified | seconds | entries/s | whole return, s | `verify --data` entries | seconds | entries/s | catch-up / verify |",
        "|---|---|---|---|---|---|---|---|",
        f"| {result['fetched']:,} | {result['seconds']:.2f} | {result['per_second']:,.0f} | "
        f"{result['return_seconds']:.1f} | "
        f"{result['verify_entries']:,} | {result['verify_seconds']:.1f} | "
        f"{result['verify_per_second']:,.0f} | **{ratio:.2f}** |",
        "",
        f"(target ≥ 0.5×: {'meets' if ratio >= 0.5 else '**misses**'}; the peer path was "
        f"{'used' if result['used_peer'] else '**not used**'})",
        "",
    ]


def _cpu_lines(single: dict[str, Any], base: dict[str, Any], cores: int) -> list[str]:
    """Where the cores went in the 64-client single-append runs: CPU time per acknowledged
    entry, by process kind, read from /proc over each run's window."""
    used = single.get("cpu_seconds") or {}
    if not used or "server_cpu_seconds" not in base or "cpu_seconds" not in base:
        return []
    entries, base_entries = single["acked_entries"], base["requests"] - base["errors"]
    if not entries or not base_entries:
        return []
    consortium_total = sum(used.values())
    base_total = base["server_cpu_seconds"] + base["cpu_seconds"]

    def us(seconds: float, count: int) -> str:
        return f"{seconds / count * 1e6:,.0f}"

    lines = [
        "",
        "Where the cores went in the 64-client single-append runs (CPU time from /proc over each",
        "run, per acknowledged entry). While the cores are busy in both runs, the rates stand in",
        "the inverse ratio of the totals per entry. Busy: single node "
        f"{base_total / (cores * base['seconds']):.0%}, consortium "
        f"{consortium_total / (cores * single['seconds']):.0%} of {cores} cores.",
        "",
        "| run | process | CPU s | µs per entry |",
        "|---|---|---|---|",
        f"| single node | `accord serve` | {base['server_cpu_seconds']:.1f} | "
        f"{us(base['server_cpu_seconds'], base_entries)} |",
        f"| single node | load generator | {base['cpu_seconds']:.1f} | "
        f"{us(base['cpu_seconds'], base_entries)} |",
        f"| single node | **all** | {base_total:.1f} | **{us(base_total, base_entries)}** |",
    ]
    for kind, seconds in used.items():
        lines.append(f"| consortium | {kind} | {seconds:.1f} | {us(seconds, entries)} |")
    lines.append(
        f"| consortium | **all** | {consortium_total:.1f} | **{us(consortium_total, entries)}** |"
    )
    per_entry = (consortium_total / entries) / (base_total / base_entries)
    lines += [
        "",
        f"An entry costs the consortium {per_entry:.1f}× the machine's CPU time it costs the single",
        "node: every node applies, stores and hashes every entry (three ledgers, each with its",
        "RFC 9162 and CCF trees), and the ordering service replicates and fsyncs it three times.",
    ]
    return lines


def report_lines(result: dict[str, Any], single_node: dict[str, Any]) -> list[str]:
    """The consortium section of BENCHMARKS.md.

    ``single_node`` holds this run's single-node baselines: ``append`` (the loadgen result of the
    HTTPS append workload, 64 clients) and ``batch`` (the HTTPS batch section's result).
    """
    single, light, batch = result["single"], result["light"], result["batch"]
    same = result.get("single_node") or {}
    other_append = single_node["append"]["per_second"]
    other_batch = single_node["batch"]["per_second"]
    # The baselines: the same workload, load generator and finality polling against one node.
    append_base = (same.get("single") or {}).get("final_per_second") or other_append
    batch_base = (same.get("batch") or {}).get("final_per_second") or other_batch
    lines = [
        f"## A consortium of {result['orgs']} organizations (HTTPS, mTLS)",
        "",
        f"Each organization runs its own `accord serve` and its own NATS server; all {result['orgs']}",
        f"nodes, their NATS servers and the load generator share this {result['cores']}-core machine.",
        "The clients are spread evenly over the nodes, each with that organization's administrator",
        "certificate. An entry is acknowledged once the node it was sent to applied it (`Pending`),",
        "final once a checkpoint cosigned by a quorum of the organizations covers it. Finality is",
        "read by polling `GET /checkpoint` on one node every 10 ms; final entries/s = acknowledged",
        "entries ÷ the time from the start of the load until every acknowledged entry was final",
        '(the run plus the drain; "final in the run" counts those final before the load stopped).',
        "Baselines: one `accord serve` (SQLite) under the same workload in this run, driven by the",
        "same load generator, its entries final once its own signed checkpoint covers them. For",
        f"reference, this run's other single-node HTTPS figures: appends {other_append:,.0f}/s",
        f"(the service table), one client sending batches of 1,000 × 1 KiB {other_batch:,.0f}/s.",
        "",
        "| workload | clients | entries acknowledged | acknowledged entries/s | ack p50 ms | ack p99 ms | errors | final in the run | final entries/s | single-node entries/s | final / single-node |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, r, base in (
        ("single appends, 100 B", single, append_base),
        (f"batches of {BATCH}, 1 KiB", batch, batch_base),
    ):
        lines.append(
            f"| {label} | {r['clients']} | {r['acked_entries']:,} | {r['ack_per_second']:,.0f} | "
            f"{_num(r['p50_ms'], '.1f')} | {_num(r['p99_ms'], '.1f')} | {r['errors']} | "
            f"{r['final_in_window']:,} | {_num(r['final_per_second'])} | {base:,.0f} | "
            f"**{_ratio(r['final_per_second'], base)}** |"
        )
    verdicts = []
    for label, r, base in (("single appends", single, append_base), ("batches", batch, batch_base)):
        ratio = r["final_per_second"] / base if r["final_per_second"] and base else 0.0
        verdicts.append(f"{label} {'meets' if ratio >= 0.5 else '**misses**'}")
    lines += [
        "",
        f"(target ≥ 0.5× the single-node rate: {'; '.join(verdicts)})",
        "",
        "Acknowledgement → final (each acknowledged request, until the polled checkpoint covers it):",
        "",
        "| load | requests | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|",
    ]
    for label, r in (
        (f"{light['clients']} clients, single appends", light),
        (f"{single['clients']} clients, single appends", single),
        (f"{batch['clients']} clients, batches of {BATCH}", batch),
    ):
        lines.append(
            f"| {label} | {r['ack_to_final_samples']:,} | {_num(r['ack_to_final_p50_ms'], '.0f')} | "
            f"{_num(r['ack_to_final_p99_ms'], '.0f')} | {_num(r['ack_to_final_max_ms'], '.0f')} |"
        )
    lines += _cpu_lines(single, single_node["append"], int(result["cores"] or 1))
    errors: dict[str, int] = {}
    for r in (single, light, batch):
        for status, count in r["error_statuses"].items():
            errors[status] = errors.get(status, 0) + count
    if errors:
        lines += ["", "Errors by status: " + ", ".join(f"{k}: {v}" for k, v in errors.items())]
    lines.append("")
    lines += catchup_report_lines(result.get("consortium_catchup"))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description="the consortium benchmark's load process")
    parser.add_argument("spec", help="JSON: targets (url, cacert, cert, key, clients), batch, …")
    spec = json.loads(parser.parse_args().spec)
    try:
        import uvloop
    except ImportError:
        print(json.dumps(asyncio.run(run_load(spec))))
    else:
        print(json.dumps(uvloop.run(run_load(spec))))


if __name__ == "__main__":
    main()
