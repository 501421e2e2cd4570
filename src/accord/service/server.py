"""Running the service: open the ledger of a data directory, serve HTTPS, shut down gracefully.

SIGTERM and SIGINT stop accepting connections, let in-flight requests finish, then close the
ledger, which writes every queued append and signs a final checkpoint: nothing acknowledged is lost.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import sys
from collections.abc import Callable

from aiohttp import web

from accord.datadir import Config, DataDir, load_governance
from accord.service.app import build_app
from accord.service.protocol import ServiceRunner, bound_port
from accord.service.state import ServiceLimits, ServiceState
from accord.service.tls import make_ssl_context
from accord.service.tokens import TokenVerifier, load_token_config
from accord.service.users import UserStore

log = logging.getLogger("accord.service")


DEFAULT_PORT = 8443
DEFAULT_HOST = "127.0.0.1"


async def serve(
    data_dir: str,
    host: str | None,
    port: int | None,
    *,
    public_log: bool | None = None,
    on_ready: Callable[[int], None] | None = None,
    s3_port: int | None = None,
) -> None:
    """Serve a data directory: the ledger's HTTPS API on ``port`` and, on a single-node ledger,
    the document store's S3 API on ``s3_port`` (default 8444; 0 when ``port`` is 0, so servers
    started with ``--port 0`` never collide; negative: no S3 API)."""
    data = DataDir(data_dir)
    config = data.load_config()
    from accord.consortium.runtime import is_consortium, serve_consortium

    if is_consortium(data):  # one organization of a consortium: its NATS server and node too
        await serve_consortium(data, host, port, on_ready=on_ready, s3_port=s3_port)
        return
    port = DEFAULT_PORT if port is None else port
    host = DEFAULT_HOST if host is None else host
    users = UserStore(data / "users.json")
    node = data.node()
    # Guarded by the data directory's checkpoint record: a lost or emptied ledger refuses to start.
    ledger = data.open_ledger()
    documents = None
    try:
        if s3_port is None:
            from accord.documents.s3 import DEFAULT_S3_PORT

            s3_port = 0 if port == 0 else DEFAULT_S3_PORT
        if s3_port >= 0:
            from accord.documents.runtime import start_documents

            documents = await start_documents(data, ledger, users, host, s3_port)
        token_config = load_token_config(config.jwt)
        tokens = TokenVerifier(token_config, data.path) if token_config else None
        ctx = make_ssl_context(
            str(data / "node.crt"), str(data / "node.key"), str(data / "service.crt"), users
        )
        state = ServiceState(
            ledger,
            users,
            config.public_log if public_log is None else public_log,
            load_governance(data),
            tokens=tokens,
            node_cert=node.cert,
            limits=limits_of(config),
        )
        await serve_until_signal(
            state,
            ctx,
            host,
            port,
            banner=lambda bound: (
                f"accord: serving ledger {config.name!r} on https://{host}:{bound} "
                f"(size {ledger.size()})"
                + (
                    f"\naccord: serving documents (S3 API) on https://{host}:{documents.port}"
                    if documents is not None
                    else ""
                )
            ),
            stopping="accord: shutting down, finishing in-flight writes",
            on_ready=on_ready,
        )
    finally:
        if documents is not None:
            await documents.stop()
        ledger.close()
    print("accord: stopped cleanly", file=sys.stderr, flush=True)


def limits_of(config: Config) -> ServiceLimits:
    """The per-request limits a data directory's ``config.json`` sets."""
    return ServiceLimits(
        max_batch_entries=config.max_batch_entries, max_batch_bytes=config.max_batch_bytes
    )


async def serve_until_signal(
    state: ServiceState,
    ctx: ssl.SSLContext,
    host: str,
    port: int,
    *,
    banner: Callable[[int], str],
    stopping: str,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Serve ``state``'s application over HTTPS until SIGTERM or SIGINT, then stop accepting
    connections and let in-flight requests finish. Prints ``banner(bound port)`` once serving."""
    # Request bodies are never decompressed: a compressed body is refused (415) unread, and
    # a broken one cannot fail later inside aiohttp's own draining of the connection.
    runner = ServiceRunner(
        build_app(state), access_log=None, handle_signals=False, auto_decompress=False
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ctx, backlog=1024)
    await site.start()
    bound = bound_port(site, port)
    print(banner(bound), file=sys.stderr, flush=True)
    if on_ready is not None:
        on_ready(bound)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print(stopping, file=sys.stderr, flush=True)
    # From now on a second SIGTERM or SIGINT stops at once: the task serving is cancelled, so
    # whatever shutdown step it waits in is abandoned while the steps after it (closing the
    # ledger, stopping a NATS server) still run.
    serving = asyncio.current_task()

    def at_once() -> None:
        print("accord: second signal: stopping at once", file=sys.stderr, flush=True)
        if serving is not None:
            serving.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, at_once)
    await runner.cleanup()
