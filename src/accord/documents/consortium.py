"""The document store on a consortium node: records through the consortium, copies by digest.

A node serves the S3 API as a single-node ledger does, but its document records are ordinary
consortium entries, written in the uploading user's name (the user must belong to the node's
organization and hold a write role, as for any entry). Every node folds every record, so all of
them agree on containers, versions, retention and holds; each judges a record at the entry's
consortium timestamp, which no minority of nodes can move.

Bytes travel separately: the node that took an upload stores them, and every organization that
keeps a copy of the container (all of them, unless the container names some with
``x-accord-copies`` at creation) fetches them from peer nodes over the node-to-node mTLS API
(:func:`get_blob`, ``GET /app/consortium/blobs/<sha256>``) and stores them only if they hash to
the recorded digest. A node asked for a version it has no bytes for fetches them the same way.
So no single organization can make a document disappear, and no peer can substitute bytes.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from accord.documents.blobs import CHUNK
from accord.documents.runtime import RunningDocuments, start_documents
from accord.documents.s3 import send_chunks
from accord.documents.store import BlobSource
from accord.errors import NotFound, StorageError
from accord.service.consortium import require_node
from accord.service.state import STATE

_SHA256 = re.compile(r"[0-9a-f]{64}")
FETCH_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=30)


def peer_fetcher(node: Any) -> BlobSource:
    """Fetch bytes by SHA-256 from the consortium's other current nodes, in turn."""

    async def fetch(sha256: str) -> AsyncIterator[bytes]:
        peers = [n for nid, n in sorted(node.state.nodes.items()) if nid != node.node_id]
        errors: list[str] = []
        connector = aiohttp.TCPConnector(ssl=node.peer_tls, limit=1)
        async with aiohttp.ClientSession(connector=connector, timeout=FETCH_TIMEOUT) as session:
            for peer in peers:
                url = f"{peer.url.rstrip('/')}/app/consortium/blobs/{sha256}"
                started = False
                try:
                    async with session.get(url) as response:
                        if response.status != 200:
                            errors.append(f"{peer.node_id}: HTTP {response.status}")
                            continue
                        async for chunk in response.content.iter_chunked(CHUNK):
                            started = True
                            yield chunk
                        return
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    if started:  # half a blob from this peer: start again later, from scratch
                        raise StorageError(f"{peer.node_id} broke off sending {sha256}") from exc
                    errors.append(f"{peer.node_id}: {type(exc).__name__}")
        raise StorageError(
            f"no peer node could provide the bytes {sha256} ({'; '.join(errors) or 'no peers'})"
        )

    return fetch


async def get_blob(request: web.Request) -> web.StreamResponse:
    """``GET /app/consortium/blobs/<sha256>``: a document's bytes, for the consortium's current
    nodes only (their TLS certificates); peers check them against the recorded digest."""
    require_node(request)
    documents = request.app[STATE].documents
    if documents is None:
        raise NotFound("this node serves no documents")
    sha256 = request.match_info["sha256"]
    if not _SHA256.fullmatch(sha256):
        raise NotFound("a blob is named by 64 lower-case hex digits")
    blobs = documents.blobs
    try:
        size = await asyncio.to_thread(blobs.size, sha256)
    except NotFound:
        raise NotFound(f"this node holds no bytes {sha256}") from None
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    response.content_length = size
    await response.prepare(request)
    await send_chunks(response, await asyncio.to_thread(blobs.read, sha256))
    await response.write_eof()
    return response


def blob_routes() -> list[web.RouteDef]:
    return [web.get("/app/consortium/blobs/{sha256}", get_blob)]


async def start_consortium_documents(
    data: Any, node: Any, ledger: Any, users: Any, host: str, s3_port: int | None
) -> RunningDocuments:
    """The document store of a consortium node: always folding and replicating, serving the S3
    API only when ``s3_port`` is given (several nodes may share a machine)."""
    return await start_documents(
        data,
        ledger,
        users,
        host,
        s3_port if s3_port is not None and s3_port >= 0 else None,
        appender=node,
        organization=node.settings.member,
        fetch=peer_fetcher(node),
    )
