"""Serving the document store: open it beside a data directory's ledger, serve the S3 API.

``accord serve`` calls :func:`start_documents` next to the ledger's HTTPS API. The S3 API listens
on its own port (``--s3-port``, default :data:`~accord.documents.s3.DEFAULT_S3_PORT`) with the
node's TLS certificate (issued by ``service.crt``, which clients use as their CA bundle). It asks
for no client certificate: S3 clients authenticate each request with SigV4 access keys.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from accord.datadir import DataDir
from accord.documents.blobs import BlobStore, open_blob_store
from accord.documents.keys import AccessKeyStore
from accord.documents.s3 import S3Context, build_s3_app
from accord.documents.store import BlobSource, DocumentStore
from accord.service.protocol import bound_port
from accord.tasks import cancel_all

DOCUMENTS_DIR = "documents"


def documents_dir(data: DataDir) -> Path:
    return data / DOCUMENTS_DIR


def open_blobs(data: DataDir) -> BlobStore:
    root = documents_dir(data)
    root.mkdir(mode=0o700, exist_ok=True)
    return open_blob_store(root, data.storage_location())


def access_keys(data: DataDir) -> AccessKeyStore:
    return AccessKeyStore(documents_dir(data))


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class RunningDocuments:
    runner: web.AppRunner | None
    port: int | None
    store: DocumentStore
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def stop(self) -> None:
        await cancel_all(self.tasks)
        if self.runner is not None:
            await self.runner.cleanup()
        self.store.blobs.close()


async def start_documents(
    data: DataDir,
    ledger: Any,
    users: Any,
    host: str,
    port: int | None,
    *,
    appender: Any = None,
    organization: str | None = None,
    fetch: BlobSource | None = None,
) -> RunningDocuments:
    """Fold the ledger's document records, then serve the S3 API on ``host:port`` (not at all
    when ``port`` is None). ``appender`` takes the records (default: ``ledger``; a consortium
    node's writer in a consortium, with ``organization`` and ``fetch`` for copies)."""
    blobs = open_blobs(data)
    store = DocumentStore(
        ledger if appender is None else appender,
        ledger,
        blobs,
        clock=now_ms,
        organization=organization,
        fetch=fetch,
    )
    running = RunningDocuments(None, None, store)
    if organization is not None:
        running.tasks.append(asyncio.create_task(store.replicate(), name="accord-documents"))
    if port is None:
        return running
    uploads = documents_dir(data) / "uploads"
    uploads.mkdir(mode=0o700, exist_ok=True)
    ctx = S3Context(
        store=store,
        users=users,
        keys=access_keys(data),
        uploads=uploads,
        receipt=lambda txid: ledger.receipt(txid).to_json(),
        record=lambda txid: ledger.get_entry(txid).contents,
    )
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(str(data / "node.crt"), str(data / "node.key"))
    runner = web.AppRunner(build_s3_app(ctx), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=tls, backlog=256)
    await site.start()
    running.runner = runner
    running.port = bound_port(site, port)
    return running
