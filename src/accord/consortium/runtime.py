"""Running one organization of a consortium: its NATS server, its node, its HTTPS service.

``accord serve --data DIR`` comes here when ``DIR/consortium.json`` exists: it starts the
organization's NATS server as a supervised child process (durable settings, mTLS), opens the
ledger in consortium mode (entries only through the ordered stream, commits only through final
checkpoints), starts the :class:`~accord.consortium.node.ConsortiumNode` tasks and serves the
Azure-compatible API plus the witness endpoint. SIGTERM stops the service, the node, the ledger
and the NATS server, in that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import ssl
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accord.consortium.engine import Engine, EngineConfig, EngineTLS, sanitize_cluster_name
from accord.consortium.node import ConsortiumNode, NodeSettings
from accord.consortium.ordering import client_ssl_context
from accord.core.consortium import ConsortiumState, users_record
from accord.core.cosignature import Cosigner
from accord.datadir import DataDir
from accord.errors import AuthError, ConfigurationError, Conflict, InvalidRequest, NotFound
from accord.governance import Governance
from accord.identity import normalize_fingerprint, write_public
from accord.log.ledger import Ledger, LedgerOptions
from accord.service.users import User, validate_role

log = logging.getLogger("accord.consortium")

SETTINGS_FILE = "consortium.json"
NODE_FORMAT = "accord.node.v1"


def is_consortium(data: DataDir) -> bool:
    return (data / SETTINGS_FILE).is_file()


@dataclass(frozen=True)
class NodeFiles:
    raw: dict[str, Any]
    settings: NodeSettings
    engine: EngineConfig
    genesis: str
    genesis_time_ms: int
    https_port: int
    host: str


def load_node_files(data: DataDir) -> NodeFiles:
    path = data / SETTINGS_FILE
    try:
        raw = json.loads(path.read_text())
        if raw.get("format") != NODE_FORMAT:
            raise ConfigurationError(f"{path}: unknown format {raw.get('format')!r}")
        engine = raw["engine"]
        settings = NodeSettings(
            node_id=str(raw["node_id"]),
            member=str(raw["member"]),
            stream=str(raw["stream"]),
            subject=str(raw["subject"]),
            replicas=int(raw["replicas"]),
            engine_servers=tuple(str(s) for s in engine["servers"]),
        )
        host = str(raw.get("host", "127.0.0.1"))
        config = data.load_config()
        tls_dir = data / "engine-tls"
        engine_cfg = EngineConfig(
            server_name=settings.member,
            cluster_name=sanitize_cluster_name(config.name),
            store_dir=data / "engine" / "jetstream",
            client_port=int(engine["client_port"]),
            cluster_port=int(engine["cluster_port"]),
            monitor_port=int(engine["monitor_port"]),
            routes=tuple(str(r) for r in engine["routes"]),
            tls=EngineTLS(
                cert=tls_dir / "server.crt",
                key=tls_dir / "server.key",
                ca=data / "engine-ca-bundle.pem",
            ),
            host=host,
            threads=None if engine.get("threads") is None else int(engine["threads"]),
        )
        try:
            genesis = (data / "genesis.json").read_text()
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read the consortium's genesis {data / 'genesis.json'}: {exc.strerror}; "
                "copy it from any other organization's data directory (it is the same everywhere)"
            ) from exc
        return NodeFiles(
            raw,
            settings,
            engine_cfg,
            genesis,
            int(raw["genesis_time_ms"]),
            int(raw["https_port"]),
            host,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"{path} is not a usable consortium node file: {exc}") from exc


class _NoTlsEofNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "eof_received() has no effect when using ssl" not in record.getMessage()


def open_consortium_ledger(data: DataDir) -> Ledger:
    config = data.load_config()
    return Ledger.create_or_open(
        data.storage_location(config),
        data.signer(),
        LedgerOptions(max_contents=config.max_contents, external_finality=True),
        data.node(),
        data.checkpoint_record(),
    )


class ConsortiumUsers:
    """The users and roles of the replicated state, with the API of :class:`UserStore`.

    Reads answer from the state this node has applied; a change is an ordered ledger entry
    (``users`` envelope) that every node applies, so all nodes agree on who may write.
    """

    def __init__(self, node: ConsortiumNode, timeout: float = 30.0) -> None:
        self.node = node
        self.timeout = timeout

    def _state(self) -> ConsortiumState:
        return self.node.state

    def all(self) -> list[User]:
        return [User(uid, role, "cert") for uid, role in sorted(self._state().users.items())]

    def find(self, user_id: str) -> User | None:
        role = self._state().users.get(user_id)
        return None if role is None else User(user_id, role, "cert")

    def get(self, user_id: str) -> User:
        user = self.find(self.canonical_id(user_id))
        if user is None:
            raise NotFound(f"user {user_id} does not exist")
        return user

    def _check_own(self, user_id: str, by: str | None) -> None:
        """Only this node's organization's Administrators change its users (others: by vote)."""
        if by is None:
            raise AuthError("a user change in a consortium needs the Administrator who asks")
        state = self._state()
        mine = self.node.settings.member
        if state.member_of(by) != mine:
            raise AuthError(f"user {by} is not a user of {mine}: ask through your own node")
        owner = state.member_of(user_id)
        if owner is not None and owner != mine:
            raise AuthError(
                f"user {user_id} belongs to {owner}: only {owner} (or a vote) may change it"
            )

    def _order(self, contents: str, by: str | None) -> None:
        if by is None:
            raise AuthError("a user change in a consortium needs the Administrator who asks")
        future = self.node.submit_action("users", contents, user_id=by)
        if not isinstance(future, Future):  # submitted on the event loop, which must not block
            raise ConfigurationError("a user change is ordered from a worker thread")
        applied = future.result(self.timeout)
        outcome = applied[0][0]
        if not outcome.accepted:
            if "Administrator" in outcome.reason and "last" in outcome.reason:
                raise Conflict(outcome.reason)
            if "belongs to" in outcome.reason or "not a user of" in outcome.reason:
                raise AuthError(outcome.reason)
            raise InvalidRequest(f"the consortium refused the change: {outcome.reason}")

    def assign_role(
        self, user_id: str, kind: str, role: str | None, *, by: str | None = None
    ) -> User:
        existing = self.find(user_id)
        if role is None:
            if existing is None:
                raise InvalidRequest("assignedRole is required for a new user")
            return existing
        validate_role(role)
        self._check_own(user_id, by)
        self._order(users_record("set", user_id, role), by)
        found = self.find(user_id)
        return found if found is not None else User(user_id, role, kind)

    def delete(self, user_id: str, *, by: str | None = None) -> None:
        if self.find(user_id) is None:
            raise NotFound(f"user {user_id} does not exist")
        self._check_own(user_id, by)
        self._order(users_record("remove", user_id), by)

    @staticmethod
    def canonical_id(user_id: str) -> str:
        try:
            return normalize_fingerprint(user_id)
        except InvalidRequest:
            return user_id


def consortium_governance(data: DataDir, node: ConsortiumNode) -> Governance:
    config = data.load_config()
    state = node.state
    return Governance(
        ledger_id=config.ledger_id,
        node_id=node.node_id,
        service_cert_pem=state.service_cert_pem,
        constitution=json.dumps(state.constitution.to_json(), indent=2, sort_keys=True),
        members=tuple((m.name, m.member_key.to_vkey()) for m in state.members.values()),
    )


def peer_ssl_context(data: DataDir) -> ssl.SSLContext:
    """The client side of node-to-node calls: the node certificate, the service CA pinned."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(data / "service.crt"))
    ctx.load_cert_chain(str(data / "node.crt"), str(data / "node.key"))
    return ctx


def reap_stale_engine(data: DataDir) -> None:
    """Stop a NATS server this data directory started before and that outlived its node.

    After a crash of ``accord serve`` alone, its NATS server keeps running: a new one could not
    bind the ports, and the old one, unmanaged, would never reload its trust. It is recognised by
    ``engine/nats.pid`` and by its command line naming this directory's configuration file.
    """
    pid_file = data / "engine" / "nats.pid"
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return
    config = str(data.path / "engine" / "nats.conf").encode()
    if not any(b"nats-server" in part for part in cmdline) or not any(
        part.endswith(config) or part == config for part in cmdline
    ):
        return  # the pid was reused by something else
    log.warning("stopping the NATS server (pid %d) left running by a previous node", pid)
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not Path(f"/proc/{pid}").exists() or _is_zombie(pid):
                return
            time.sleep(0.1)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def start_engine(data: DataDir, files: NodeFiles) -> Engine:
    reap_stale_engine(data)
    engine = Engine(files.engine, log_path=data / "engine" / "nats.log")
    engine.start()
    (data / "engine" / "nats.pid").write_text(f"{engine.pid}\n")
    return engine


def refresh_engine_trust(data: DataDir, engine: Engine, state: ConsortiumState) -> bool:
    """Make the NATS server trust exactly the current nodes' engine CAs; reload it if changed.

    Called whenever a governance entry is applied: a node added by vote can then connect its
    NATS server and client, and a removed one no longer can (new connections are refused).
    """
    bundle = "".join(state.nodes[n].engine_ca_pem for n in sorted(state.nodes))
    path = data / "engine-ca-bundle.pem"
    try:
        if path.read_text() == bundle:
            return False
    except OSError:
        pass
    write_public(path, bundle.encode())
    if engine.pid is not None:
        os.kill(engine.pid, signal.SIGHUP)  # nats-server reloads its configuration and TLS files
    log.info("the ordering server now trusts %d organizations' authorities", len(state.nodes))
    return True


def build_node(data: DataDir, files: NodeFiles, ledger: Ledger) -> ConsortiumNode:
    tls_dir = data / "engine-tls"
    engine_tls = client_ssl_context(
        tls_dir / "server.crt", tls_dir / "server.key", data / "engine-ca-bundle.pem"
    )
    try:
        cosigner = Cosigner.from_skey((data / "cosigner.key").read_text().strip())
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read this organization's cosigner key {data / 'cosigner.key'}: "
            f"{exc.strerror}; restore it from a backup (a new key would not be the member's)"
        ) from exc
    node = ConsortiumNode(
        ledger=ledger,
        settings=files.settings,
        node_signer=data.signer(),
        cosigner=cosigner,
        genesis=files.genesis,
        genesis_time_ms=files.genesis_time_ms,
        engine_tls=engine_tls,
        peer_tls=peer_ssl_context(data),
        state_dir=data.path,
    )
    retention = files.raw.get("retention_messages")
    if retention is not None:
        node.retention_messages = int(retention)
    return node


async def serve_consortium(
    data: DataDir,
    host: str | None,
    port: int | None,
    *,
    on_ready: Callable[[int], None] | None = None,
    s3_port: int | None = None,
) -> None:
    """Serve one organization's node; with ``s3_port``, its document store's S3 API too (the
    store itself always runs: it keeps this organization's copies of documents)."""
    from accord.documents.consortium import start_consortium_documents
    from accord.service.server import limits_of, serve_until_signal
    from accord.service.state import ServiceState
    from accord.service.tls import make_ssl_context

    files = load_node_files(data)
    config = data.load_config()
    # Progress of the node (waiting for peers, catching up, trimming) goes to stderr.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("accord: %(message)s"))
    node_log = logging.getLogger("accord.consortium")
    node_log.addHandler(handler)
    node_log.setLevel(logging.INFO)
    node_log.propagate = False
    # nats-py upgrades its connection to TLS after the server's INFO, so asyncio's stream protocol
    # does not know it runs over TLS and asks to half-close at EOF, which TLS cannot: asyncio says
    # so on every shutdown. Harmless (the connection closes anyway), and only noise here.
    logging.getLogger("asyncio").addFilter(_NoTlsEofNoise())
    engine = await asyncio.to_thread(start_engine, data, files)
    print(
        f"accord: NATS server for {files.settings.member} running (pid {engine.pid}, "
        f"client port {files.engine.client_port})",
        file=sys.stderr,
        flush=True,
    )
    try:
        ledger = await asyncio.to_thread(open_consortium_ledger, data)
        try:
            node = build_node(data, files, ledger)
            node.on_state_change = lambda state: refresh_engine_trust(data, engine, state)
            await node.start()
            try:
                users = ConsortiumUsers(node)
                ctx = make_ssl_context(
                    str(data / "node.crt"),
                    str(data / "node.key"),
                    str(data / "service.crt"),
                    users,  # type: ignore[arg-type]
                )
                state = ServiceState(
                    ledger,
                    users,  # type: ignore[arg-type]
                    config.public_log,
                    consortium_governance(data, node),
                    node_cert=data.node().cert,
                    limits=limits_of(config),
                    writer=node,
                    consortium=node,
                )
                bind_host = files.host if host is None else host
                documents = await start_consortium_documents(
                    data, node, ledger, users, bind_host, s3_port
                )
                state.documents = documents.store
                s3_banner = (
                    ""
                    if documents.port is None
                    else f"\naccord: serving documents (S3 API) on https://{bind_host}:"
                    f"{documents.port}"
                )
                try:
                    await serve_until_signal(
                        state,
                        ctx,
                        bind_host,
                        files.https_port if port is None else port,
                        banner=lambda bound: (
                            f"accord: node {files.settings.node_id} of consortium "
                            f"{config.name!r} serving on https://{bind_host}:{bound} "
                            f"(size {ledger.size()})" + s3_banner
                        ),
                        stopping="accord: shutting down the node",
                        on_ready=on_ready,
                    )
                finally:
                    await documents.stop()
            finally:
                await node.stop()
        finally:
            await asyncio.to_thread(ledger.close)
    finally:
        await asyncio.to_thread(engine.stop)
        with contextlib.suppress(OSError):
            (data / "engine" / "nats.pid").unlink()
    print("accord: stopped cleanly (node and NATS server)", file=sys.stderr, flush=True)
