"""Consortium routes: the C2SP witness endpoint, signed governance actions, the live policy.

* ``POST /add-checkpoint`` — C2SP tlog-witness: a peer node submits a checkpoint; this
  organization cosigns it only if it applied that size itself and computed the same root.
  Authenticated twice: the caller's TLS certificate must be a current node's, and the checkpoint
  must carry a current node's signature.
* ``POST /app/governance/actions`` — a member-signed proposal, ballot or withdrawal (a C2SP
  signed note, ``text/plain``), ordered like any write; the answer says what the fold decided.
* ``GET /app/consortium/position|entries|consistency|checkpoint`` — node to node only (the
  caller's certificate must be a current node's): what a node that fell behind fetches from a
  peer and verifies against a final checkpoint.
* ``GET /app/governance/proposals``, ``/app/governance/proposals/{id}``,
  ``/app/governance/state`` and ``/app/governance/policy`` (the C2SP tlog-policy in force).

On a single-node ledger these answer 404: there is no consortium.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import time

from aiohttp import web

from accord.consortium.apply import Applied
from accord.consortium.node import ConsortiumNode
from accord.core.consortium import OPEN, Outcome, apply_entry, check_proposal_applies
from accord.core.witness import SIZE_CONTENT_TYPE
from accord.errors import AccordError, AuthError, InvalidRequest, NotFound, WitnessRefused
from accord.service.http import in_thread, read_body, require
from accord.service.state import STATE
from accord.service.users import READ_ROLES

WITNESS_BODY_LIMIT = 64 * 1024
_DIGITS = re.compile(r"[0-9]{1,18}")  # ASCII digits only: str.isdigit() accepts '²'
ACTION_BODY_LIMIT = 64 * 1024


def _node(request: web.Request) -> ConsortiumNode:
    node = request.app[STATE].consortium
    if node is None:
        raise NotFound("this ledger is not part of a consortium")
    assert isinstance(node, ConsortiumNode)  # noqa: S101 - set only by the consortium runtime
    return node


def _peer_sha256(request: web.Request) -> str | None:
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport else None
    der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
    return hashlib.sha256(der).hexdigest() if der else None


async def add_checkpoint(request: web.Request) -> web.Response:
    node = _node(request)
    try:
        body = await read_body(request, WITNESS_BODY_LIMIT)
        lines = await node.add_checkpoint(body, _peer_sha256(request))
    except WitnessRefused as exc:
        headers = {"Retry-After": "1"} if exc.status == 503 else {}
        if exc.body is not None:
            return web.Response(
                status=exc.status,
                text=exc.body,
                content_type=exc.content_type or SIZE_CONTENT_TYPE,
                headers=headers,
            )
        return web.Response(status=exc.status, text=str(exc) + "\n", headers=headers)
    return web.Response(text=lines, content_type="text/plain")


async def post_action(request: web.Request) -> web.Response:
    user = require(request, READ_ROLES)
    node = _node(request)
    body = await read_body(request, ACTION_BODY_LIMIT)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest("a governance action is a UTF-8 signed note") from exc
    if not text.startswith("accord.gov.v1\n"):
        raise InvalidRequest("a governance action is a signed note starting 'accord.gov.v1'")
    # A dry run against the state this node applied: a note that would be refused now (a bad
    # signature, not a member, a replay, a closed proposal) is answered at once and never ordered,
    # so no caller can fill the ledger with refusals. The ordered run decides for good.
    state = node.state
    _, preview = apply_entry(
        state,
        seqno=state.last_seqno + 1,
        timestamp_ms=max(state.ledger_time_ms, int(time.time() * 1000)),
        kind="governance",
        contents=text,
        user_id=user.user_id,
    )
    if not preview.accepted:
        return _outcome_response(preview, None)
    if preview.proposal_state == OPEN:
        # Votes would be wasted on a proposal that cannot take effect (a reader that is not a
        # member, a node of an unknown member): refused now, with what is wrong.
        try:
            check_proposal_applies(state, text)
        except AccordError as exc:
            raise InvalidRequest(
                f"this proposal could not take effect if accepted now: {exc} (actions that depend "
                "on one another go in one proposal, in order)"
            ) from exc
    applied = await asyncio.wrap_future(
        node.submit_action("governance", text, user_id=user.user_id)
    )
    outcome, txid = applied[0]
    return _outcome_response(outcome, str(txid))


def _outcome_response(outcome: Outcome | Applied, txid: str | None) -> web.Response:
    body: dict[str, object] = {
        "accepted": outcome.accepted,
        "reason": outcome.reason,
        "proposalId": outcome.proposal_id,
        "proposalState": outcome.proposal_state,
        "transactionId": txid,
    }
    if not outcome.accepted:
        body["error"] = {"code": "Conflict", "message": outcome.reason}
    headers = {"x-ms-ccf-transaction-id": txid} if txid else {}
    return web.json_response(body, status=200 if outcome.accepted else 409, headers=headers)


async def list_proposals(request: web.Request) -> web.Response:
    require(request, READ_ROLES)
    state = _node(request).state
    return web.json_response(
        {
            "proposals": [
                p.to_json() for p in sorted(state.proposals.values(), key=lambda p: p.seqno)
            ]
        }
    )


async def get_proposal(request: web.Request) -> web.Response:
    require(request, READ_ROLES)
    state = _node(request).state
    proposal = state.proposals.get(request.match_info["proposal_id"])
    if proposal is None:
        raise NotFound("no such proposal")
    return web.json_response(proposal.to_json())


async def get_state(request: web.Request) -> web.Response:
    require(request, READ_ROLES)
    return web.json_response(_node(request).state.to_json())


async def get_policy(request: web.Request) -> web.Response:
    return web.Response(text=_node(request).state.policy_text(), content_type="text/plain")


def require_node(request: web.Request) -> ConsortiumNode:
    """The consortium node, if the caller's TLS certificate is a current node's (else 403)."""
    node = _node(request)
    peer = _peer_sha256(request)
    if peer is None or node.state.node_by_tls_fingerprint(peer) is None:
        raise AuthError("only the consortium's current nodes may call this")
    return node


def _int(request: web.Request, name: str) -> int:
    text = request.query.get(name, "")
    if not _DIGITS.fullmatch(text):
        raise InvalidRequest(f"query parameter {name} must be a non-negative integer")
    return int(text)


async def get_position(request: web.Request) -> web.Response:
    return web.json_response(require_node(request).position_json())


async def get_entries(request: web.Request) -> web.Response:
    node = require_node(request)
    first, last = _int(request, "first"), _int(request, "last")
    return web.json_response(await in_thread(node.entries_json, first, last))


async def get_consistency(request: web.Request) -> web.Response:
    node = require_node(request)
    first, second = _int(request, "from"), _int(request, "to")
    proof = await in_thread(node.ledger.consistency_proof, first, second)
    return web.json_response(
        {"from": first, "to": second, "hashes": [base64.b64encode(h).decode() for h in proof]}
    )


async def get_final_checkpoint(request: web.Request) -> web.Response:
    node = require_node(request)
    note, _ = await in_thread(node.ledger.latest_checkpoint)
    return web.Response(text=note, content_type="text/plain")


def consortium_routes() -> list[web.RouteDef]:
    return [
        web.get("/app/consortium/position", get_position),
        web.get("/app/consortium/entries", get_entries),
        web.get("/app/consortium/consistency", get_consistency),
        web.get("/app/consortium/checkpoint", get_final_checkpoint),
        web.post("/add-checkpoint", add_checkpoint),
        web.post("/app/governance/actions", post_action),
        web.get("/app/governance/proposals", list_proposals),
        web.get("/app/governance/proposals/{proposal_id}", get_proposal),
        web.get("/app/governance/state", get_state),
        web.get("/app/governance/policy", get_policy),
    ]
