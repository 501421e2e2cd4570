"""The in-run baseline for the service benchmark: the same framework (aiohttp), the same TLS set-up
(node certificate, client certificates accepted and fingerprinted), and no ledger work at all.

    python -m bench.minimal_server DATA_DIR PORT
"""

from __future__ import annotations

import sys

from aiohttp import web

from accord.datadir import DataDir
from accord.service.app import make_ssl_context, peer_user_id
from accord.service.users import UserStore


async def append(request: web.Request) -> web.Response:
    await request.read()
    user = peer_user_id(request)
    return web.json_response(
        {"collectionId": "subledger:0", "transactionId": "1.1", "user": user},
        headers={"x-ms-ccf-transaction-id": "1.1"},
    )


async def read(request: web.Request) -> web.Response:
    peer_user_id(request)
    return web.json_response(
        {"state": "Ready", "entry": {"contents": "x", "collectionId": "subledger:0"}}
    )


def main() -> None:
    data = DataDir(sys.argv[1])
    port = int(sys.argv[2])
    ctx = make_ssl_context(
        str(data / "node.crt"),
        str(data / "node.key"),
        str(data / "service.crt"),
        UserStore(data / "users.json"),
    )
    app = web.Application()
    app.router.add_post("/app/transactions", append)
    app.router.add_get("/app/transactions/{txid}", read)
    print("ready", flush=True)
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        import asyncio

        loop = asyncio.new_event_loop()
    web.run_app(
        app,
        host="127.0.0.1",
        port=port,
        ssl_context=ctx,
        access_log=None,
        print=None,
        loop=loop,
    )


if __name__ == "__main__":
    main()
