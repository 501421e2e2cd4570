"""Verification endpoints: checkpoints, tiles, proofs and accord receipts.

C2SP tlog-tiles reads and RFC 9162 proofs, open to every user (or to anyone with --public-log).
Read-only: these routes never change the ledger.
"""

from __future__ import annotations

import base64

from aiohttp import web

from accord.core.entry import TransactionId
from accord.core.tiles import parse_tile_path
from accord.service.http import in_thread, int_param, require_log_reader
from accord.service.state import STATE


async def get_checkpoint(request: web.Request) -> web.Response:
    require_log_reader(request)
    ledger = request.app[STATE].ledger
    latest = ledger.cached_checkpoint()  # monitors poll this: no thread hop when it is at hand
    if latest is None:
        latest = await in_thread(ledger.latest_checkpoint)
    return web.Response(text=latest[0], content_type="text/plain", charset="utf-8")


async def get_tile(request: web.Request) -> web.Response:
    require_log_reader(request)
    level, index, width = parse_tile_path(request.match_info["path"])
    ledger = request.app[STATE].ledger
    if level is None:
        body = await in_thread(ledger.entry_bundle, index, width)
    else:
        body = await in_thread(ledger.tile, level, index, width)
    headers = {"Cache-Control": "public, max-age=31536000, immutable"}
    return web.Response(body=body, content_type="application/octet-stream", headers=headers)


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


async def get_inclusion_proof(request: web.Request) -> web.Response:
    require_log_reader(request)
    index, size = int_param(request, "index"), int_param(request, "size")
    proof = await in_thread(request.app[STATE].ledger.inclusion_proof, index, size)
    return web.json_response({"index": index, "size": size, "hashes": _b64(proof)})


async def get_consistency_proof(request: web.Request) -> web.Response:
    require_log_reader(request)
    first, second = int_param(request, "from"), int_param(request, "to")
    proof = await in_thread(request.app[STATE].ledger.consistency_proof, first, second)
    return web.json_response({"from": first, "to": second, "hashes": _b64(proof)})


async def get_accord_receipt(request: web.Request) -> web.Response:
    require_log_reader(request)
    txid = TransactionId.parse(request.match_info["txid"])
    receipt = await in_thread(request.app[STATE].ledger.receipt, txid)
    return web.json_response(receipt.to_json())


def verification_routes() -> list[web.RouteDef]:
    return [
        web.get("/checkpoint", get_checkpoint),
        web.get("/tile/{path:.+}", get_tile),
        web.get("/proofs/inclusion", get_inclusion_proof),
        web.get("/proofs/consistency", get_consistency_proof),
        web.get("/receipts/{txid}", get_accord_receipt),
    ]
