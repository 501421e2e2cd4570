"""Joint computations as ledger jobs across three organizations, each its own node and NATS
server: every catalogue program against the same computation in the clear, inputs from a value
and from private entries, a decline, and a party that drops out."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from accord.cli.gov import ballot_note, proposal_note
from accord.compute.catalogue import PROGRAMS
from accord.consortium.demo import LocalConsortium, OrgProcess
from accord.core.private import private_create_action
from tests.consortium.helpers import (
    ORGS,
    admin_options,
    client,
    member_key,
    running_consortium,
)
from tests.consortium.helpers import http as shared_http


def http(org: OrgProcess) -> httpx.Client:
    return shared_http(org, timeout=60.0)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalConsortium]:
    with running_consortium(tmp_path_factory.mktemp("compute") / "c") as consortium:
        yield consortium


def _post(org: OrgProcess, path: str, body: dict[str, Any]) -> dict[str, Any]:
    with http(org) as h:
        r = h.post(path, json=body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _job(org: OrgProcess, job_id: str) -> dict[str, Any]:
    with http(org) as h:
        r = h.get(f"/app/compute/jobs/{job_id}")
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def _wait_job(
    org: OrgProcess, job_id: str, states: set[str], timeout: float = 90.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        with http(org) as h:
            r = h.get(f"/app/compute/jobs/{job_id}")
        if r.status_code == 200 and r.json()["state"] in states:
            out: dict[str, Any] = r.json()
            return out
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not reach {states}: {r.text}")
        time.sleep(0.3)


def _run(
    network: LocalConsortium,
    program: str,
    inputs: list[Any],
    params: dict[str, int] | None = None,
    participants: tuple[str, ...] = ORGS,
) -> dict[str, Any]:
    orgs = network.orgs
    body: dict[str, Any] = {
        "program": program,
        "participants": list(participants),
        "timeoutMs": 120_000,
    }
    if params:
        body["params"] = params
    job_id = _post(orgs["supplier"], "/app/compute/jobs", body)["jobId"]
    for name, value in zip(participants, inputs, strict=True):
        _wait_job(orgs[name], job_id, {"proposed"})
        _post(orgs[name], f"/app/compute/jobs/{job_id}/accept", {"input": value})
    return _wait_job(orgs["retailer"], job_id, {"completed", "failed"})


def test_every_catalogue_program_matches_the_clear_computation(network: LocalConsortium) -> None:
    rng = random.Random(7)
    values = [[rng.randrange(-1000, 1000) for _ in range(n)] for n in (5, 7, 6)]
    values[2][3] = max(v for part in values for v in part) + 5  # a unique maximum at party 2
    sets = [
        ["acct-1", "acct-2", "acct-3", "x"],
        ["acct-2", "acct-3", "y"],
        ["acct-3", "acct-2", "z"],
    ]
    checked = []
    for program in PROGRAMS.values():
        if program.engine != "mpyc":
            continue
        params = {"limit": 10} if "limit" in program.params else None
        inputs: list[Any] = sets if program.input_kind == "set" else values
        job = _run(network, program.id, inputs, params)
        assert job["state"] == "completed", job
        assert job["result"] == program.clear(inputs, params or {}), (program.id, job["result"])
        assert set(job["inputCommitments"]) == set(ORGS)
        assert job["program"]["sha256"] == program.sha256
        checked.append(program.id)
    assert {"sum", "mean", "variance", "min", "max", "argmin", "argmax", "threshold"} <= set(
        checked
    )
    # the last job's result and provenance become final: covered by a cosigned checkpoint, at
    # every node, with the same provenance
    final = [_wait_final(network.orgs[name], job["job"]) for name in ORGS]
    assert all(f["final"] for f in final)
    assert final[0] == final[1] == final[2]


def _wait_final(org: OrgProcess, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    """The job at ``org`` once that node applied its completion and a final checkpoint covers it
    (``final`` alone says the records applied so far are final: a node still short of the last
    party's result shows a running job, final up to there)."""
    deadline = time.monotonic() + timeout
    while True:
        job = _job(org, job_id)
        if job["final"] and job["state"] == "completed":
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} is not final at {org.name}: {job}")
        time.sleep(0.3)


def test_psi_two_parties_learn_the_items_only_they_see(network: LocalConsortium) -> None:
    orgs = network.orgs
    program = PROGRAMS["psi"]
    sets = [
        ["iban-1", "iban-shared-2", "iban-shared-3"],
        ["iban-shared-2", "iban-shared-3", "iban-4"],
    ]
    job = _run(network, "psi", sets, participants=("supplier", "manufacturer"))
    assert job["state"] == "completed", job
    assert job["result"] == program.clear(sets, {})
    assert "iban" not in json.dumps(job)  # the recorded result holds no item
    with http(orgs["manufacturer"]) as h:
        mine = h.get(f"/app/compute/jobs/{job['job']}/private")
    assert mine.status_code == 200, mine.text
    assert sorted(mine.json()["items"]) == ["iban-shared-2", "iban-shared-3"]
    with http(orgs["retailer"]) as h:
        assert h.get(f"/app/compute/jobs/{job['job']}/private").status_code == 404


def test_inputs_from_private_entries_and_bad_requests(network: LocalConsortium) -> None:
    orgs = network.orgs
    note = proposal_note(member_key(orgs["supplier"]), [private_create_action("stock", ORGS)])
    with client(orgs["supplier"]) as c:
        outcome = c.submit_action(note)
    with client(orgs["retailer"]) as c:
        c.submit_action(ballot_note(member_key(orgs["retailer"]), outcome["proposalId"], True))
    stock = {"supplier": [3, 4], "manufacturer": [10], "retailer": [1, 1, 1]}
    for name, quantities in stock.items():
        for q in quantities:
            with http(orgs[name]) as h:
                deadline = time.monotonic() + 30
                while True:
                    r = h.post(
                        "/app/transactions?collectionId=stock",
                        json={"contents": json.dumps({"part": "P7", "quantity": q})},
                    )
                    if r.status_code == 200 or time.monotonic() > deadline:
                        break
                    time.sleep(0.3)
                assert r.status_code == 200, r.text
    inputs = {n: {"kind": "entries", "collectionId": "stock", "field": "quantity"} for n in ORGS}
    job_id = _post(
        orgs["manufacturer"],
        "/app/compute/jobs",
        {"program": "sum", "participants": list(ORGS), "inputs": inputs},
    )["jobId"]
    for name in ORGS:
        _wait_job(orgs[name], job_id, {"proposed"})
        with http(orgs[name]) as h:
            wrong = h.post(f"/app/compute/jobs/{job_id}/accept", json={"input": [1]})
            assert wrong.status_code == 400, wrong.text
        _post(orgs[name], f"/app/compute/jobs/{job_id}/accept", {})
    job = _wait_job(orgs["supplier"], job_id, {"completed", "failed"})
    assert job["state"] == "completed", job
    assert job["result"] == PROGRAMS["sum"].clear(list(stock.values()), {})
    with http(orgs["supplier"]) as h:
        assert (
            h.post(
                "/app/compute/jobs", json={"program": "nope", "participants": list(ORGS)}
            ).status_code
            == 404
        )
        assert h.post(
            "/app/compute/jobs", json={"program": "sum", "participants": ["supplier"]}
        ).status_code in (400, 409)
        assert h.post(f"/app/compute/jobs/{job_id}/accept", json={"input": [1]}).status_code in (
            400,
            409,
        )
        assert h.get("/app/compute/jobs/9.999999").status_code == 404


def test_a_decline_and_a_party_that_drops_out_fail_the_job(network: LocalConsortium) -> None:
    orgs = network.orgs
    job_id = _post(
        orgs["supplier"], "/app/compute/jobs", {"program": "max", "participants": list(ORGS)}
    )["jobId"]
    _wait_job(orgs["retailer"], job_id, {"proposed"})
    _post(orgs["retailer"], f"/app/compute/jobs/{job_id}/decline", {"reason": "not this quarter"})
    job = _wait_job(orgs["supplier"], job_id, {"declined"})
    assert job["result"] is None
    # a party whose node is killed as the job starts: the job fails, no result is recorded
    job_id = _post(
        orgs["supplier"],
        "/app/compute/jobs",
        {"program": "variance", "participants": list(ORGS), "timeoutMs": 30_000},
    )["jobId"]
    for name in ("supplier", "manufacturer"):
        _wait_job(orgs[name], job_id, {"proposed"})
        _post(orgs[name], f"/app/compute/jobs/{job_id}/accept", {"input": [1, 2, 3]})
    _wait_job(orgs["retailer"], job_id, {"proposed"})
    _post(orgs["retailer"], f"/app/compute/jobs/{job_id}/accept", {"input": [4, 5, 6]})
    network.kill("retailer")
    try:
        job = _wait_job(orgs["supplier"], job_id, {"failed", "completed"}, timeout=120)
        assert job["state"] == "failed", job
        assert job["result"] is None
    finally:
        network.start("retailer")
        network.wait_ready(["retailer"])


def _cli(org: OrgProcess, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "accord.cli.main", "compute", *argv, *admin_options(org)],
        capture_output=True,
        text=True,
    )


def test_the_command_line_runs_a_job(network: LocalConsortium, tmp_path: Path) -> None:
    orgs = network.orgs
    listed = _cli(orgs["retailer"], "programs", "--json")
    assert listed.returncode == 0, listed.stderr
    assert "intersection-size" in {p["id"] for p in json.loads(listed.stdout)}
    proposed = _cli(
        orgs["manufacturer"], "propose", "intersection-size", "--participants", ",".join(ORGS)
    )
    assert proposed.returncode == 0, proposed.stderr
    job_id = proposed.stdout.strip()
    sets = {
        "supplier": ["k1", "k2", "k9"],
        "manufacturer": ["k2", "k9"],
        "retailer": ["k9", "k2", "k5"],
    }
    for name, items in sets.items():
        _wait_job(orgs[name], job_id, {"proposed"})
        path = tmp_path / f"{name}.txt"
        path.write_text("\n".join(items) + "\n")
        accepted = _cli(orgs[name], "accept", job_id, "--input", str(path))
        assert accepted.returncode == 0, accepted.stderr
    result = _cli(orgs["retailer"], "result", job_id, "--wait", "90")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout.splitlines()[0]) == {"size": 2}
    assert "honest" in result.stderr
    status = _cli(orgs["supplier"], "status", job_id)
    assert "completed" in status.stdout and "input committed" in status.stdout
    pending = _cli(orgs["supplier"], "result", "9.999999")
    assert pending.returncode != 0
