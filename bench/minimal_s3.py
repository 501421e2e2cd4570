"""The client's ceiling for the documents benchmark: boto3 against a server doing no work.

The same framework (aiohttp) and TLS set-up (the node certificate) as accord's S3 API, but no
authentication, no decoding, no hashing, no disk and no ledger: a PUT reads its body and throws
it away; a GET answers zeros from memory, 1 MiB at a time. What boto3 reaches against it is the
most any S3 server could give this client on this machine, so the figures say how much of the
gap to raw file I/O is the client's.

    python -m bench.minimal_s3 DATA_DIR   (prints the port it listens on)
"""

from __future__ import annotations

import asyncio
import ssl
import sys

from aiohttp import web

from accord.datadir import DataDir

ZEROS = bytes(1024 * 1024)
SIZES: dict[str, int] = {}


async def handle(request: web.Request) -> web.StreamResponse:
    key = request.path
    if request.method == "PUT":
        size = 0
        async for chunk in request.content.iter_chunked(1024 * 1024):
            size += len(chunk)
        SIZES[key] = size
        return web.Response(headers={"ETag": '"0"'})
    if request.method == "GET":
        size = SIZES.get(key, 0)
        response = web.StreamResponse(
            headers={"ETag": '"0"', "Content-Type": "binary/octet-stream"}
        )
        response.content_length = size
        await response.prepare(request)
        left = size
        while left > 0:
            await response.write(ZEROS[: min(left, len(ZEROS))])
            left -= len(ZEROS)
        await response.write_eof()
        return response
    return web.Response()


async def main() -> None:
    data = DataDir(sys.argv[1])
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(data / "node.crt"), str(data / "node.key"))
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)  # type: ignore[union-attr]
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
