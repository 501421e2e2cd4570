"""Governance over HTTP: the constitution, consortium members, enclave quotes, ledger identity.

Serves the plain data of :class:`accord.governance.Governance`; read-only. accord runs without a
hardware enclave and says so (``Insecure_Virtual``, as CCF calls such nodes); it never fabricates
a quote.
"""

from __future__ import annotations

import hashlib
import json

from aiohttp import web

from accord.errors import NotFound
from accord.service.http import require
from accord.service.state import STATE
from accord.service.users import READ_ROLES


async def get_constitution(request: web.Request) -> web.Response:
    require(request, READ_ROLES)
    state = request.app[STATE]
    if state.consortium is not None:  # the live replicated value, not a file
        constitution = state.consortium.state.constitution.to_json()
        text = json.dumps(constitution, indent=2, sort_keys=True) + "\n"
        return web.json_response(
            {
                "digest": hashlib.sha256(text.encode()).hexdigest(),
                "script": text,
                "constitution": constitution,
            }
        )
    gov = state.governance
    return web.json_response({"digest": gov.constitution_digest, "script": gov.constitution})


async def get_members(request: web.Request) -> web.Response:
    require(request, READ_ROLES)
    state = request.app[STATE]
    if state.consortium is not None:
        live = state.consortium.state
        return web.json_response(
            {
                "members": [
                    {"id": m.name, **m.to_json()}
                    for m in sorted(live.members.values(), key=lambda m: m.name)
                ],
                "nodes": [
                    n.to_json() for n in sorted(live.nodes.values(), key=lambda n: n.node_id)
                ],
                "cosignQuorum": live.cosign_quorum(),
            }
        )
    gov = state.governance
    return web.json_response(
        {"members": [{"certificate": pem, "id": mid} for mid, pem in gov.members]}
    )


async def get_enclave_quotes(request: web.Request) -> web.Response:
    require(request, READ_ROLES)
    node_id = request.app[STATE].governance.node_id
    return web.json_response(
        {
            "currentNodeId": node_id,
            "enclaveQuotes": {
                node_id: {
                    "nodeId": node_id,
                    "quoteVersion": "Insecure_Virtual",
                    "raw": "",
                    "mrenclave": None,
                }
            },
            "platform": "Virtual",
            "note": "this node runs without a hardware enclave; there is no attestation quote",
        }
    )


async def get_ledger_identity(request: web.Request) -> web.Response:
    state = request.app[STATE]
    ledger_id = request.match_info["ledger_id"]
    if ledger_id != state.governance.ledger_id:
        raise NotFound(f"ledger {ledger_id!r} is not served here")
    return web.json_response(
        {"ledgerId": ledger_id, "ledgerTlsCertificate": state.governance.service_cert_pem}
    )


def governance_routes() -> list[web.RouteDef]:
    return [
        web.get("/app/governance/constitution", get_constitution),
        web.get("/app/governance/members", get_members),
        web.get("/app/enclaveQuotes", get_enclave_quotes),
        web.get("/ledgerIdentity/{ledger_id}", get_ledger_identity),
    ]
