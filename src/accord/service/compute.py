"""Joint computations over HTTP (consortium nodes; 404 on a single-node ledger).

* ``GET /app/compute/programs`` — the catalogue: ids, versions, digests, inputs, parameters.
* ``POST /app/compute/jobs`` ``{"program", "participants", "params"?, "inputs"?, "timeoutMs"?}``
  — an Administrator proposes a job; ``{"jobId"}``.
* ``GET /app/compute/jobs`` and ``/app/compute/jobs/{id}`` — every job / one job with its
  provenance (program and digest, participants, input commitments, start, end, state, result)
  and ``final``: whether its last record is covered by a final cosigned checkpoint.
* ``POST /app/compute/jobs/{id}/accept`` ``{"input": [...]}`` (or ``{}`` when the job reads
  the organization's private entries) — an Administrator of a participant commits its input.
* ``POST /app/compute/jobs/{id}/decline`` ``{"reason"}``.
* ``GET /app/compute/jobs/{id}/private`` — what this organization's party learnt beyond the
  recorded result (``psi``'s matching items), for this organization's users only.

Results rest on MPyC's model: honest majority, passive (honest-but-curious) parties
(docs/privacy.md).
"""

from __future__ import annotations

from aiohttp import web

from accord.core.entry import TransactionId
from accord.errors import InvalidRequest
from accord.service.consortium import _node
from accord.service.http import in_thread, json_body, require
from accord.service.users import ADMIN_ROLES, READ_ROLES

BODY_LIMIT = 16 * 1024 * 1024  # a value input of 100,000 integers, with room


def _job_id(request: web.Request) -> str:
    raw = request.match_info["job"]
    return str(TransactionId.parse(raw))


async def list_programs(request: web.Request) -> web.Response:
    require(request, READ_ROLES)
    from accord.compute.catalogue import PROGRAMS
    from accord.compute.node import program_json

    return web.json_response({"programs": [program_json(p) for p in PROGRAMS.values()]})


async def post_job(request: web.Request) -> web.Response:
    user = require(request, ADMIN_ROLES)
    node = _node(request)
    body = await json_body(request, 64 * 1024)
    if not isinstance(body, dict):
        raise InvalidRequest('body must be a JSON object {"program", "participants", ...}')
    job_id = await node.compute.propose(body, user.user_id)
    return web.json_response({"jobId": job_id}, headers={"x-ms-ccf-transaction-id": job_id})


async def list_jobs(request: web.Request) -> web.Response:
    require(request, READ_ROLES)
    compute = _node(request).compute
    jobs = await in_thread(compute.follow)
    out = [await in_thread(compute.job_json, j) for j in jobs.jobs.values()]
    return web.json_response({"jobs": out})


async def get_job(request: web.Request) -> web.Response:
    require(request, READ_ROLES)
    compute = _node(request).compute
    job = await in_thread(compute.job, _job_id(request))
    return web.json_response(await in_thread(compute.job_json, job))


async def post_accept(request: web.Request) -> web.Response:
    user = require(request, ADMIN_ROLES)
    node = _node(request)
    body = await json_body(request, BODY_LIMIT)
    if not isinstance(body, dict):
        raise InvalidRequest('body must be a JSON object: {"input": [...]} or {}')
    txid = await node.compute.accept(_job_id(request), body, user.user_id)
    return web.json_response({"transactionId": txid}, headers={"x-ms-ccf-transaction-id": txid})


async def post_decline(request: web.Request) -> web.Response:
    user = require(request, ADMIN_ROLES)
    node = _node(request)
    body = await json_body(request, 4096)
    if not isinstance(body, dict) or set(body) != {"reason"} or not isinstance(body["reason"], str):
        raise InvalidRequest('body must be {"reason": "..."}')
    txid = await node.compute.decline(_job_id(request), body["reason"], user.user_id)
    return web.json_response({"transactionId": txid}, headers={"x-ms-ccf-transaction-id": txid})


async def get_private_result(request: web.Request) -> web.Response:
    user = require(request, READ_ROLES)
    compute = _node(request).compute
    return web.json_response(
        await in_thread(compute.private_result, _job_id(request), user.user_id)
    )


def compute_routes() -> list[web.RouteDef]:
    return [
        web.get("/app/compute/programs", list_programs),
        web.post("/app/compute/jobs", post_job),
        web.get("/app/compute/jobs", list_jobs),
        web.get("/app/compute/jobs/{job}", get_job),
        web.post("/app/compute/jobs/{job}/accept", post_accept),
        web.post("/app/compute/jobs/{job}/decline", post_decline),
        web.get("/app/compute/jobs/{job}/private", get_private_result),
    ]
