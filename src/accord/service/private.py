"""Private collections over HTTP (consortium nodes; 404 on a single-node ledger).

Writes and reads use the Azure-compatible entry routes unchanged (:mod:`accord.service.entries`
opens a private entry for a reader organization's user and answers 403 to anyone else). These
routes add what the entry API has no shape for:

* ``GET /app/private/collections`` — every private collection: readers, retention, since when.
* ``GET /app/private/disclosures/{txid}`` — a reader's disclosure of one entry
  (``accord.disclosure.v1``: receipt, public record, contents, salt), for an outsider to check
  offline.
* ``POST /app/private/purge`` ``{"transactionId", "reason"}`` — an Administrator of a reader
  organization erases an entry's contents on every node that holds them (a purge record is
  ordered; the commitment and every proof stay).
* ``GET /app/consortium/sealed/{seqno}`` — node to node: a reader node that caught up from a
  peer's tiles fetches sealed contents from another reader's node (mTLS; the calling node's
  organization must read the collection).
"""

from __future__ import annotations

import asyncio
import base64

from aiohttp import web

from accord.core.entry import TransactionId
from accord.core.private import PURGE_COLLECTION, private_state, purge_record
from accord.errors import Conflict, InvalidRequest, NotFound
from accord.log.ledger import NewEntry
from accord.service.consortium import _node, _peer_sha256, require_node
from accord.service.http import in_thread, json_body, require
from accord.service.users import ADMIN_ROLES, READ_ROLES

PURGE_BODY_LIMIT = 4096


async def list_private(request: web.Request) -> web.Response:
    require(request, READ_ROLES)
    node = _node(request)
    return web.json_response(private_state(node.state.extensions).to_json())


async def get_disclosure(request: web.Request) -> web.Response:
    user = require(request, READ_ROLES)
    node = _node(request)
    txid = TransactionId.parse(request.match_info["txid"])
    entry = await in_thread(node.ledger.get_entry, txid)
    return web.json_response(await node.private.disclosure(entry, user.user_id))


async def post_purge(request: web.Request) -> web.Response:
    user = require(request, ADMIN_ROLES)
    node = _node(request)
    body = await json_body(request, PURGE_BODY_LIMIT)
    if not isinstance(body, dict) or set(body) != {"transactionId", "reason"}:
        raise InvalidRequest('body must be {"transactionId": "<view>.<seqno>", "reason": "..."}')
    if not isinstance(body["transactionId"], str) or not isinstance(body["reason"], str):
        raise InvalidRequest("transactionId and reason are strings")
    txid = TransactionId.parse(body["transactionId"])
    entry = await in_thread(node.ledger.get_entry, txid)
    md = entry.metadata
    collection = node.private.collection(md.collection_id, md.seqno)
    if collection is None:
        raise InvalidRequest(
            f"transaction {txid} is in collection {md.collection_id}, which is not private: "
            "only private entries are purged"
        )
    node.private.check_reader(collection, user.user_id)
    if await in_thread(node.private.store.purged_by, md.seqno) is not None:
        raise Conflict(f"transaction {txid} was purged already")
    try:
        record = purge_record(md.collection_id, str(txid), body["reason"])
    except InvalidRequest as exc:
        raise InvalidRequest(str(exc)) from None
    future = node.submit([NewEntry(record, PURGE_COLLECTION, ())], user_id=user.user_id)
    ids = await asyncio.wrap_future(future)
    purge_txid = str(ids[0])
    status = await in_thread(node.ledger.status, ids[0])
    return web.json_response(
        {"transactionId": purge_txid, "purged": str(txid), "state": status},
        headers={"x-ms-ccf-transaction-id": purge_txid},
    )


async def get_sealed(request: web.Request) -> web.Response:
    node = require_node(request)
    peer = node.state.node_by_tls_fingerprint(_peer_sha256(request) or "")
    raw = request.match_info["seqno"]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise InvalidRequest("seqno is a positive integer")
    if peer is None:
        raise NotFound("unknown node")
    sealed = await in_thread(node.private.sealed_for_peer, int(raw), peer.member)
    return web.json_response({"sealed": base64.b64encode(sealed).decode()})


def private_routes() -> list[web.RouteDef]:
    return [
        web.get("/app/private/collections", list_private),
        web.get("/app/private/disclosures/{txid}", get_disclosure),
        web.post("/app/private/purge", post_purge),
        web.get("/app/consortium/sealed/{seqno}", get_sealed),
    ]
