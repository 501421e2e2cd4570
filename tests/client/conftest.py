"""Fixtures for remote-verification tests: a real `accord serve` process holding a small log, and a
real HTTPS reverse proxy in front of it that can rewrite chosen responses (a dishonest server).

The service is started by the helpers of tests/service/conftest.py. The proxy is an aiohttp server
on 127.0.0.1 with the service's own TLS identity (node.crt, issued by service.crt), so clients pin
service.crt exactly as they would for the real service; it forwards every GET to the service with
the administrator's client certificate and applies the rewrite registered for the path, if any.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import ClientSession, web

from accord.client.client import AccordClient
from accord.datadir import DataDir, init_data_dir
from tests.service.conftest import start_service, stop_service

ENTRIES = 300
"""Two entry bundles (256 + 44): full and partial tiles, and a level-1 tile."""
OLD_SIZE = 100
"""The log's size when :attr:`RemoteLog.old_checkpoint` was saved (not on a bundle boundary)."""

Rewrite = Callable[[bytes], bytes]


@dataclass
class RemoteLog:
    data: DataDir
    url: str
    old_checkpoint: str
    checkpoint: str

    def client(self, url: str | None = None) -> AccordClient:
        return AccordClient(
            url or self.url,
            service_cert=str(self.data / "service.crt"),
            cert=str(self.data / "admin.crt"),
            key=str(self.data / "admin.key"),
            verifier=self.data.verifier(),
        )


@pytest.fixture(scope="package")
def remote_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteLog]:
    """A running service with :data:`ENTRIES` committed entries; never modified by the tests."""
    path = tmp_path_factory.mktemp("remote") / "data"
    data = init_data_dir(path, name="verify.test/ledger", max_contents=4096)
    proc, url = start_service(data)
    try:
        log = RemoteLog(data, url, "", "")
        with log.client() as client:
            for phase_end in (OLD_SIZE, ENTRIES):
                for i in range(client.verified_checkpoint().size, phase_end):
                    txid = client.append(f"entry {i + 1}", tags=["t"] if i % 7 == 0 else None)
                client.wait_for_commit(txid)
                note = client.checkpoint()
                if phase_end == OLD_SIZE:
                    log.old_checkpoint = note
                else:
                    log.checkpoint = note
        yield log
    finally:
        if proc.poll() is None:
            stop_service(proc)


class TamperingProxy:
    """An HTTPS reverse proxy to the real service; ``rewrites[path]`` changes that response."""

    def __init__(self, log: RemoteLog) -> None:
        self.log = log
        self.rewrites: dict[str, Rewrite] = {}
        self.requests: list[str] = []
        self._upstream_tls = ssl.create_default_context(cafile=str(log.data / "service.crt"))
        self._upstream_tls.load_cert_chain(str(log.data / "admin.crt"), str(log.data / "admin.key"))
        self._server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._server_tls.load_cert_chain(str(log.data / "node.crt"), str(log.data / "node.key"))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.url = ""

    def client(self) -> AccordClient:
        return self.log.client(self.url)

    async def _forward(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        async with self._session.get(
            self.log.url + request.path_qs, ssl=self._upstream_tls
        ) as upstream:
            body = await upstream.read()
            status, content_type = upstream.status, upstream.content_type
        rewrite = self.rewrites.get(request.path)
        if rewrite is not None and status == 200:
            body = rewrite(body)
        return web.Response(body=body, status=status, content_type=content_type)

    async def _start(self) -> str:
        self._session = ClientSession()
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._server_tls)
        await site.start()
        port = self._runner.addresses[0][1]
        return f"https://127.0.0.1:{port}"

    async def _stop(self) -> None:
        await self._runner.cleanup()
        await self._session.close()

    def __enter__(self) -> TamperingProxy:
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()


@pytest.fixture
def proxy(remote_log: RemoteLog) -> Iterator[TamperingProxy]:
    with TamperingProxy(remote_log) as p:
        yield p


def vkey_path(log: RemoteLog) -> Path:
    return log.data / "checkpoint.vkey"
