"""Azure Confidential Ledger data-plane routes (api-version 2022-05-13) beyond single entries.

Listings, collections, users, governance, enclave quotes and the ledger identity, in the shapes the
official ``azure-confidentialledger`` SDK reads. accord runs without a hardware enclave and says so
(``Insecure_Virtual``, as CCF calls such nodes); it never fabricates a quote.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from aiohttp import web

from accord.core.entry import TransactionId, validate_user_id
from accord.errors import InvalidRequest, NotFound
from accord.service.app import (
    STATE,
    _collection_param,
    _in_thread,
    _json_body,
    require,
)
from accord.service.users import ADMIN_ROLES, READ_ROLES, User, UserStore, validate_role

PAGE_SIZE = 100


def _txid_query(request: web.Request, name: str) -> TransactionId | None:
    raw = request.query.get(name)
    return None if raw is None else TransactionId.parse(raw)


async def list_transactions(request: web.Request) -> web.Response:
    require(request, READ_ROLES)
    ledger = request.app[STATE].ledger
    collection = _collection_param(request)
    start = _txid_query(request, "fromTransactionId")
    end = _txid_query(request, "toTransactionId")
    for given in (start, end):
        if given is not None and given.view != ledger.view:
            raise NotFound(
                f"transaction {given} does not exist (this ledger is in view {ledger.view})"
            )
    size = await _in_thread(ledger.size)
    first = start.seqno if start else 1
    last = min(end.seqno if end else size, size)
    if start and end and start.seqno > end.seqno:
        raise InvalidRequest("fromTransactionId must not be after toTransactionId")
    rows = await _in_thread(
        lambda: ledger.get_entries(first, last, collection_id=collection, limit=PAGE_SIZE + 1)
    )
    page, more = rows[:PAGE_SIZE], len(rows) > PAGE_SIZE
    body: dict[str, Any] = {
        "state": "Ready",
        "entries": [
            {
                "contents": e.contents,
                "collectionId": e.metadata.collection_id,
                "transactionId": str(e.transaction_id),
            }
            for e in page
        ],
    }
    if more:
        query = {
            "collectionId": collection,
            "fromTransactionId": str(rows[PAGE_SIZE].transaction_id),
            "toTransactionId": f"{ledger.view}.{last}",
        }
        api_version = request.query.get("api-version")
        if api_version:
            query["api-version"] = api_version
        body["nextLink"] = "/app/transactions?" + urllib.parse.urlencode(query)
    return web.json_response(body)


async def list_collections(request: web.Request) -> web.Response:
    require(request, READ_ROLES)
    names = await _in_thread(request.app[STATE].ledger.collections)
    return web.json_response({"collections": [{"collectionId": n} for n in names]})


def _user_json(user: User) -> dict[str, str]:
    return {"userId": user.user_id, "assignedRole": user.role}


async def list_users(request: web.Request) -> web.Response:
    require(request, ADMIN_ROLES)
    users = await _in_thread(request.app[STATE].users.all)
    return web.json_response({"users": [_user_json(u) for u in users]})


async def get_user(request: web.Request) -> web.Response:
    require(request, ADMIN_ROLES)
    users = request.app[STATE].users
    user = users.get(UserStore.canonical_id(request.match_info["user_id"]))
    return web.json_response(_user_json(user))


async def patch_user(request: web.Request) -> web.Response:
    require(request, ADMIN_ROLES)
    users = request.app[STATE].users
    user_id = UserStore.canonical_id(request.match_info["user_id"])
    validate_user_id(user_id)
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise InvalidRequest("body must be a JSON object")
    unknown = set(body) - {"assignedRole", "userId"}
    if unknown:
        raise InvalidRequest(f"unknown user fields: {', '.join(sorted(unknown))}")
    if "userId" in body and UserStore.canonical_id(str(body["userId"])) != user_id:
        raise InvalidRequest("userId in the body differs from the one in the path")
    existing = users.find(user_id)
    role = body.get("assignedRole", existing.role if existing else None)
    role = validate_role(role)
    kind = "cert" if user_id.count(":") == 31 else "token"
    cert_pem = existing.cert_pem if existing else None
    user = await _in_thread(users.put, User(user_id, role, kind, cert_pem))
    return web.json_response(_user_json(user))


async def delete_user(request: web.Request) -> web.Response:
    caller = require(request, ADMIN_ROLES)
    users = request.app[STATE].users
    user_id = UserStore.canonical_id(request.match_info["user_id"])
    if user_id == caller.user_id:
        raise InvalidRequest("an administrator cannot delete themself")
    await _in_thread(users.delete, user_id)
    return web.Response(status=204)


async def get_constitution(request: web.Request) -> web.Response:
    require(request, READ_ROLES)
    gov = request.app[STATE].governance
    return web.json_response({"digest": gov.constitution_digest, "script": gov.constitution})


async def get_members(request: web.Request) -> web.Response:
    require(request, READ_ROLES)
    gov = request.app[STATE].governance
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


def add_acl_routes(app: web.Application) -> None:
    app.router.add_get("/app/transactions", list_transactions)
    app.router.add_get("/app/collections", list_collections)
    app.router.add_get("/app/users", list_users)
    app.router.add_get("/app/users/{user_id}", get_user)
    app.router.add_patch("/app/users/{user_id}", patch_user)
    app.router.add_delete("/app/users/{user_id}", delete_user)
    app.router.add_get("/app/governance/constitution", get_constitution)
    app.router.add_get("/app/governance/members", get_members)
    app.router.add_get("/app/enclaveQuotes", get_enclave_quotes)
    app.router.add_get("/ledgerIdentity/{ledger_id}", get_ledger_identity)
