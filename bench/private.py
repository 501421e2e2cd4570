"""Private collections and joint computations across three organizations (part of `make bench`).

One consortium of three organizations (each its own ``accord serve`` and NATS server, on this
machine) is created for both measurements:

* **Private-collection writes** against **public writes in the same run**: a collection
  ``bench-private`` readable by ``supplier`` and ``manufacturer`` is created by governance; the
  same load (single appends of 100-byte contents, 64 clients split over the two readers' nodes,
  as the consortium benchmark) goes once to a public collection and once to the private one, in
  alternating rounds so that both see the same machine. Rates are acknowledged entries per second
  (the write applied and durable at the node it was sent to, sealed contents included).
* **Joint computations as ledger jobs**: ``sum``, ``mean`` and ``max`` over 10,000 private values
  per party, three parties. The wall time runs from the proposal to the job's ``completed`` state
  at the proposing node (propose, three acceptances, the MPyC run, three result records), beside
  the same computation in the clear and beside MPyC's own timing without accord around it
  (``bench/mpc.py``: the same party processes over the same TLS, no ledger).
"""

from __future__ import annotations

import json
import os
import random
import ssl
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.consortium import CLIENTS, SINGLE_SIZE, _load, _log

ORGS = ("supplier", "manufacturer", "retailer")
READERS = ("supplier", "manufacturer")
COLLECTION = "bench-private"
PUBLIC = "bench-public"
JOB_VALUES = 10_000
JOB_PROGRAMS = ("sum", "mean", "max")


def _request(org: Any, method: str, path: str, body: Any = None, timeout: float = 120.0) -> Any:
    ctx = ssl.create_default_context(cafile=str(org.service_crt))
    ctx.load_cert_chain(str(org.admin_cert), str(org.admin_key))
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        org.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:
        return json.loads(resp.read())


def _create_private(consortium: Any) -> None:
    from accord.cli.gov import ballot_note, proposal_note
    from accord.core.note import Signer
    from accord.core.private import private_create_action

    orgs = consortium.orgs

    def key(name: str) -> Signer:
        return Signer.from_skey((orgs[name].data / "member.key").read_text().strip())

    note = proposal_note(key("supplier"), [private_create_action(COLLECTION, READERS)])
    outcome = _post_note(orgs["supplier"], note)
    _post_note(orgs["manufacturer"], ballot_note(key("manufacturer"), outcome["proposalId"], True))
    deadline = time.monotonic() + 60
    for org in orgs.values():
        while not _request(org, "GET", "/app/private/collections")["collections"]:
            if time.monotonic() > deadline:
                raise RuntimeError("the private collection was not created")
            time.sleep(0.2)


def _post_note(org: Any, note: str) -> Any:
    ctx = ssl.create_default_context(cafile=str(org.service_crt))
    ctx.load_cert_chain(str(org.admin_cert), str(org.admin_key))
    req = urllib.request.Request(
        org.url + "/app/governance/actions",
        data=note.encode(),
        method="POST",
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )
    with urllib.request.urlopen(req, context=ctx, timeout=60) as resp:
        return json.loads(resp.read())


def _job(consortium: Any, program: str, inputs: list[list[int]]) -> tuple[dict[str, Any], float]:
    orgs = consortium.orgs
    started = time.perf_counter()
    job_id = _request(
        orgs["supplier"],
        "POST",
        "/app/compute/jobs",
        {"program": program, "participants": list(ORGS), "timeoutMs": 600_000},
    )["jobId"]
    for name, values in zip(ORGS, inputs, strict=True):
        while _request(orgs[name], "GET", f"/app/compute/jobs/{job_id}").get("state") != "proposed":
            time.sleep(0.02)
        _request(orgs[name], "POST", f"/app/compute/jobs/{job_id}/accept", {"input": values})
    while True:
        job = _request(orgs["supplier"], "GET", f"/app/compute/jobs/{job_id}")
        if job["state"] not in ("proposed", "running"):
            return job, time.perf_counter() - started
        time.sleep(0.02)


def private_section(tmp: Path, seconds: float) -> dict[str, Any]:
    from accord.compute.catalogue import get_program
    from accord.consortium.demo import LocalConsortium

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.mpc import clear_time, run_local_job

    consortium = LocalConsortium.create(tmp / "private-consortium", ORGS)
    results: dict[str, Any] = {"orgs": len(ORGS), "cores": os.cpu_count()}
    try:
        _log("private: starting three organizations")
        consortium.start_all()
        consortium.wait_ready()
        _create_private(consortium)
        targets = [
            {
                "url": consortium.orgs[name].url,
                "cacert": str(consortium.orgs[name].service_crt),
                "cert": str(consortium.orgs[name].admin_cert),
                "key": str(consortium.orgs[name].admin_key),
            }
            for name in READERS
        ]
        _log("private: warm-up")
        _load(targets, 16, 1, SINGLE_SIZE, 2.0, PUBLIC)
        _load(targets, 16, 1, SINGLE_SIZE, 2.0, COLLECTION)
        rounds: dict[str, list[Any]] = {"public": [], "private": []}
        for _ in range(2):  # alternate, so both see the same machine
            for kind, collection in (("public", PUBLIC), ("private", COLLECTION)):
                _log(f"private: {kind} single appends, {CLIENTS} clients over the two readers")
                rounds[kind].append(
                    _load(targets, CLIENTS, 1, SINGLE_SIZE, seconds / 2, collection)
                )
        for kind, runs in rounds.items():
            acked = sum(r["acked_entries"] for r in runs)
            took = sum(r["seconds"] for r in runs)
            results[kind] = {
                "ack_per_second": acked / took,
                "errors": sum(r["errors"] for r in runs),
                "p50_ms": sorted(r["p50_ms"] or 0 for r in runs)[len(runs) // 2],
                "runs": runs,
            }
        rng = random.Random(2026)
        jobs: dict[str, Any] = {}
        for program in JOB_PROGRAMS:
            inputs = [[rng.randrange(-(2**30), 2**30) for _ in range(JOB_VALUES)] for _ in ORGS]
            _log(f"private: job {program} over {JOB_VALUES:,} values per party")
            job, wall = _job(consortium, program, inputs)
            params: dict[str, Any] = {}
            expected = get_program(program).clear(inputs, params)
            mpc_result, mpc_wall = run_local_job(program, inputs)
            jobs[program] = {
                "state": job["state"],
                "correct": job.get("result") == expected and mpc_result == expected,
                "ledger_job_seconds": wall,
                "mpyc_alone_seconds": mpc_wall,
                "clear_seconds": clear_time(program, inputs),
                "party_elapsed_ms": {m: r["elapsedMs"] for m, r in job.get("results", {}).items()},
                "reason": job.get("reason"),
            }
        results["jobs"] = jobs
    finally:
        consortium.stop_all()
    return results


def report_lines(result: dict[str, Any]) -> list[str]:
    public, private = result["public"], result["private"]
    ratio = private["ack_per_second"] / public["ack_per_second"]
    lines = [
        "## Private collections and joint computations (three organizations)",
        "",
        f"One consortium of {result['orgs']} organizations on this {result['cores']}-core machine "
        "(bench/private.py). Writes: single appends of 100-byte contents, 64 clients over the two "
        "reader organizations' nodes, public and private collections in alternating rounds.",
        "",
        "| writes | entries/s | p50 latency | errors | vs public |",
        "|---|---:|---:|---:|---:|",
        f"| public collection (baseline) | {public['ack_per_second']:,.0f} | "
        f"{public['p50_ms']:.1f} ms | {public['errors']} | 1.00 |",
        f"| private collection (sealed to 2 readers) | {private['ack_per_second']:,.0f} | "
        f"{private['p50_ms']:.1f} ms | {private['errors']} | **{ratio:.2f}×** "
        f"({'meets' if ratio >= 0.5 else 'misses'} ≥ 0.5×) |",
        "",
        f"Joint computations, three parties, {JOB_VALUES:,} private values each; wall time per "
        "job (a ledger job: proposal to `completed`, three acceptances and three result records "
        "included) beside MPyC alone (the same party processes and TLS, no ledger) and the same "
        "computation in the clear:",
        "",
        "| program | ledger job | MPyC alone | in the clear | result correct |",
        "|---|---:|---:|---:|---|",
    ]
    for program, job in result["jobs"].items():
        lines.append(
            f"| {program} | {job['ledger_job_seconds']:.2f} s | {job['mpyc_alone_seconds']:.2f} s "
            f"| {job['clear_seconds'] * 1000:.2f} ms | "
            f"{'yes' if job['correct'] else 'NO: ' + str(job['reason'])} |"
        )
    lines.append("")
    return lines


def main() -> None:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="accord-bench-private-") as tmp:
        result = private_section(Path(tmp), 6.0)
    print("\n".join(report_lines(result)))


if __name__ == "__main__":
    main()
