"""A hostile review of the compute routes over real sockets: three organizations, each its own
node (accord.consortium.demo.LocalConsortium). Every malformed or unauthorized request must be
answered 4xx with a message, never 500, and write nothing; nobody writes accord.compute through
the entry API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from accord.consortium.demo import LocalConsortium, OrgProcess
from tests.consortium.helpers import ORGS, running_consortium
from tests.consortium.helpers import http as shared_http


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalConsortium]:
    with running_consortium(tmp_path_factory.mktemp("review") / "c") as consortium:
        yield consortium


def http(org: OrgProcess) -> httpx.Client:
    return shared_http(org, timeout=60.0)


def _propose(org: OrgProcess, body: dict[str, Any]) -> str:
    with http(org) as h:
        r = h.post("/app/compute/jobs", json=body)
    assert r.status_code == 200, r.text
    job_id: str = r.json()["jobId"]
    return job_id


def _wait_visible(orgs: dict[str, OrgProcess], job_id: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    for org in orgs.values():
        with http(org) as h:
            while h.get(f"/app/compute/jobs/{job_id}").status_code != 200:
                assert time.monotonic() < deadline, f"job {job_id} not seen at {org.url}"
                time.sleep(0.2)


def _refused(response: httpx.Response, statuses: set[int]) -> None:
    assert response.status_code in statuses, (response.status_code, response.text)
    error = response.json()["error"]
    assert error["message"], response.text


def test_malformed_and_unauthorized_compute_requests_are_4xx(network: LocalConsortium) -> None:
    orgs = network.orgs
    supplier, retailer = orgs["supplier"], orgs["retailer"]
    job_id = _propose(supplier, {"program": "sum", "participants": list(ORGS)})
    pair = _propose(supplier, {"program": "psi", "participants": ["supplier", "manufacturer"]})
    _wait_visible(orgs, pair)
    with http(supplier) as h:
        jobs_before = len(h.get("/app/compute/jobs").json()["jobs"])
        # nobody writes job records through the entry API, one entry or a batch
        for path in ("/app/transactions?collectionId=accord.compute",):
            _refused(h.post(path, json={"contents": "{}"}), {403})
        batch = {"entries": [{"contents": "{}", "collectionId": "accord.compute"}]}
        _refused(h.post("/app/transactions/batch", json=batch), {403})
        proposals: list[Any] = [
            [],
            "sum",
            {"program": 5, "participants": list(ORGS)},
            {"program": "sum", "participants": "supplier"},
            {"program": "sum", "participants": [1, 2, 3]},
            {"program": "sum", "participants": ["supplier", "supplier", "retailer"]},
            {"program": "sum", "participants": [*ORGS, "outsider"]},
            {"program": "sum", "participants": list(ORGS), "inputs": "all"},
            {"program": "sum", "participants": list(ORGS), "inputs": {"supplier": 1}},
            {"program": "sum", "participants": list(ORGS), "timeoutMs": "soon"},
            {"program": "sum", "participants": list(ORGS), "timeoutMs": 1e300},
            {"program": "sum", "participants": list(ORGS), "params": {"limit": 1}},
            {"program": "threshold", "participants": list(ORGS), "params": {"limit": [1]}},
            {"program": "sum", "participants": list(ORGS), "extra": True},
        ]
        for body in proposals:
            _refused(h.post("/app/compute/jobs", json=body), {400, 404, 409})
        _refused(
            h.post(
                "/app/compute/jobs",
                content=b'{"program": "sum",',
                headers={"content-type": "application/json"},
            ),
            {400},
        )
        _refused(
            h.post("/app/compute/jobs", content=b"x", headers={"content-type": "text/plain"}), {400}
        )
        big = {"program": "sum", "participants": list(ORGS), "pad": "x" * 70_000}
        _refused(h.post("/app/compute/jobs", json=big), {413})
        # job ids: malformed, unknown, an entry that is not a job
        _refused(h.get("/app/compute/jobs/abc"), {400})
        _refused(h.get("/app/compute/jobs/1.99999999"), {404})
        _refused(h.get("/app/compute/jobs/1.1"), {404})
        _refused(h.get(f"/app/compute/jobs/{job_id}/private"), {404})
        _refused(h.post("/app/compute/jobs/1.1/accept", json={"input": [1]}), {404})
        _refused(h.post("/app/compute/jobs/..%2f..%2fetc/accept", json={"input": [1]}), {400, 404})
        # accept bodies
        accepts: list[Any] = [
            [],
            {},
            {"input": "1,2"},
            {"input": [1.5]},
            {"input": [2**31]},
            {"input": [True]},
            {"input": list(range(100_001))},
            {"input": [1], "salt": "00"},
        ]
        for body in accepts:
            _refused(h.post(f"/app/compute/jobs/{job_id}/accept", json=body), {400})
        # decline bodies
        for body in (
            [],
            {},
            {"reason": 5},
            {"reason": ""},
            {"reason": "a\nb"},
            {"reason": "x" * 600},
        ):
            _refused(h.post(f"/app/compute/jobs/{job_id}/decline", json=body), {400})
        assert len(h.get("/app/compute/jobs").json()["jobs"]) == jobs_before
        assert h.get(f"/app/compute/jobs/{job_id}").json()["acceptances"] == {}
    with http(retailer) as h:
        # a non-participant neither accepts nor declines, nor reads a private result
        _refused(h.post(f"/app/compute/jobs/{pair}/accept", json={"input": ["x"]}), {403})
        _refused(h.post(f"/app/compute/jobs/{pair}/decline", json={"reason": "no"}), {403})
        _refused(h.get(f"/app/compute/jobs/{pair}/private"), {404})
    with http(supplier) as h:
        job = h.get(f"/app/compute/jobs/{pair}").json()
        assert job["state"] == "proposed" and job["records"][-1]["type"] == "propose"
