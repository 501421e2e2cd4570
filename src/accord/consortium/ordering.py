"""The consortium's ordering service as seen by one node: an asyncio client of the JetStream cluster.

A node publishes each write to a replicated stream and learns its place in the consortium's order
from the stream sequence JetStream assigns; every node then reads the stream from where it stopped
and applies the writes in that order. :class:`OrderingClient` is a thin driver over nats-py that
gives those two operations the guarantees the ledger relies on:

* :meth:`OrderingClient.publish` returns only once JetStream acknowledged the write (stored on a
  quorum of replicas), and a retried write with the same ``msg_id`` gets the sequence of the first
  one instead of a second copy (within the stream's duplicate window).
* :meth:`OrderingClient.read` never skips nor reorders: consecutive reads, each starting at the
  sequence after the last one returned, see every message of the subject exactly once, across
  server failures.

Reads go through an ephemeral pull consumer (no acks, in memory, one replica) per stream and
subject, started at the requested sequence. The client keeps one long pull request open on it
(up to :data:`PULL_BATCH` messages or :data:`PULL_MAX_BYTES`, :data:`PULL_EXPIRES` seconds, idle
heartbeats every :data:`PULL_HEARTBEAT`): new messages flow to the client as they are stored,
with no request per read, and a read takes what has arrived (or waits for the first). When the
request is spent the next one is sent at once. The consumer numbers its deliveries 1, 2, 3…; a
delivery out of that order (one lost in a reconnect, a consumer recreated under us), a consumer
that disappeared (its server died) or one that stops answering (no message nor heartbeat for
:data:`PULL_SILENCE` seconds) makes the next read replace it with a new consumer starting at the
next expected sequence. The messages returned before the break were delivered in order, so
nothing is skipped.

Errors are accord's: :class:`~accord.errors.OrderingUnavailable` (with a retry hint) whenever the
cluster cannot take or deliver a write now (no connection, no stream leader, timeouts),
:class:`~accord.errors.InvalidRequest` for a request JetStream will never accept (a message over
the size limit), :class:`~accord.errors.ConfigurationError` for unusable TLS files or a stream that
exists with an incompatible configuration. Nothing here decides what a write means.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import ssl
import uuid
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamInfo,
)

from accord.errors import ConfigurationError, InvalidRequest, OrderingUnavailable

__all__ = ["OrderingClient", "client_ssl_context"]

log = logging.getLogger("accord.consortium.ordering")

API_TIMEOUT = 5.0
"""Seconds a JetStream API request (stream or consumer management) may take."""
RECONNECT_WAIT = 0.5
"""Seconds between reconnection attempts to the same server."""
PING_INTERVAL = 5
"""Seconds between the client's pings; two unanswered ones make it switch servers."""
PULL_MAX_BYTES = 16 << 20
"""Bytes one pull request may deliver (above the largest message, so one always fits)."""
PULL_BATCH = 1024
"""Messages one pull request may deliver (with :data:`PULL_MAX_BYTES`, what a reader buffers)."""
PULL_EXPIRES = 10.0
"""Seconds a pull request stays open on the server."""
PULL_HEARTBEAT = 1.0
"""Seconds between the server's idle heartbeats on an open pull request."""
PULL_SILENCE = 3.5
"""Seconds without a delivery nor a heartbeat after which a consumer counts as gone."""
CONSUMER_IDLE_TIMEOUT = 30.0
"""Seconds an unused read consumer lingers on the server before JetStream removes it."""
_JS_API = "$JS.API"  # the default JetStream API prefix (no domain), as nc.jetstream() uses
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_RETRY_NO_LEADER = 1.0
_RETRY_DISCONNECTED = 2.0

_UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    asyncio.TimeoutError,  # nats.errors.TimeoutError is one
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.ConnectionDrainingError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.FlushTimeoutError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.ServerError,
    OSError,
)


def client_ssl_context(cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    """TLS context for a node's connection to a consortium NATS server: it presents ``cert`` and
    verifies the server (and its name or IP address) against the CA bundle ``ca``."""
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:  # ssl.SSLError is an OSError; named for the reader
        raise ConfigurationError(f"unusable TLS files for the ordering service: {exc}") from exc
    return context


def _check_name(kind: str, name: str) -> None:
    if not _NAME.match(name):
        raise InvalidRequest(f"{kind} {name!r} must be 1-255 characters of [A-Za-z0-9_-]")


def _check_subject(subject: str) -> None:
    tokens = subject.split(".")
    if not subject or any(not t or any(c.isspace() or c in "*>" for c in t) for t in tokens):
        raise InvalidRequest(f"subject {subject!r} is not a literal NATS subject")


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


@contextlib.asynccontextmanager
async def _ordering_errors(action: str) -> AsyncIterator[None]:
    """Turn the NATS errors that mean "not now" into :class:`OrderingUnavailable`."""
    try:
        yield
    except nats.errors.MaxPayloadError as exc:
        raise InvalidRequest(f"{action}: message over the server's size limit") from exc
    except (nats.js.errors.NoStreamResponseError, nats.js.errors.ServiceUnavailableError) as exc:
        # No stream leader (an election is under way) or JetStream not ready yet.
        raise OrderingUnavailable(
            f"{action}: JetStream has no leader for it now ({_describe(exc)})",
            retry_after=_RETRY_NO_LEADER,
        ) from exc
    except _UNAVAILABLE_ERRORS as exc:
        raise OrderingUnavailable(
            f"{action}: ordering service unreachable ({_describe(exc)})",
            retry_after=_RETRY_DISCONNECTED,
        ) from exc


@dataclass
class _Reader:
    """One ephemeral pull consumer, its open pull request and the position the next read expects."""

    stream: str
    subject: str
    consumer: str
    inbox: str
    next_seq: int  # stream sequence the next read starts at
    arrived: deque[Msg] = field(default_factory=deque)  # delivered, not yet read
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    sub: Subscription | None = None
    next_delivery: int = 1  # consumer sequence of the next delivery
    pulls: int = 0
    reply: str = ""  # the open pull request's reply subject ("" when none is open)
    left: int = 0  # messages the open request may still deliver
    heard: float = 0.0  # loop time of the last delivery, heartbeat or request
    behind: int = 0  # messages the stream held past the last delivery when it was sent
    broken: str = ""  # why this consumer must be replaced, if it must

    async def on_message(self, msg: Msg) -> None:
        self.arrived.append(msg)
        self.wake.set()


class OrderingClient:
    """A node's connection to the consortium's JetStream cluster. Create it with :meth:`connect`."""

    def __init__(self, nc: NATS) -> None:
        self._nc = nc
        self._js: JetStreamContext = nc.jetstream(timeout=API_TIMEOUT)
        self._readers: dict[tuple[str, str], _Reader] = {}
        self._read_locks: dict[tuple[str, str], asyncio.Lock] = {}

    @classmethod
    async def connect(
        cls,
        servers: Sequence[str],
        *,
        tls: ssl.SSLContext | None,
        name: str,
        connect_timeout: float = 5.0,
    ) -> OrderingClient:
        """Connect to the first of ``servers`` that answers (tried in the order given: put this
        organization's own server first) and keep reconnecting in the background forever.

        Raises :class:`OrderingUnavailable` if no server accepted a connection within
        ``connect_timeout`` seconds (a TLS refusal counts: nats-py would retry it forever).
        """
        if not servers:
            raise ConfigurationError("no NATS server to connect to")
        last_error: list[BaseException] = []

        async def on_error(exc: Exception) -> None:
            last_error[:] = [exc]
            log.debug("ordering connection %s: %s", name, _describe(exc))

        async def on_disconnected() -> None:
            if not nc.is_closed:
                log.warning("ordering connection %s lost; reconnecting", name)

        async def on_reconnected() -> None:
            url = nc.connected_url
            log.warning("ordering connection %s re-established to %s", name, url and url.netloc)

        nc = NATS()
        try:
            # With max_reconnect_attempts=-1 nats-py also retries the *first* connection forever,
            # so the overall deadline is ours.
            await asyncio.wait_for(
                nc.connect(
                    servers=list(servers),
                    tls=tls,
                    name=name,
                    connect_timeout=max(0.5, connect_timeout / len(servers)),  # type: ignore[arg-type]
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=RECONNECT_WAIT,  # type: ignore[arg-type]
                    dont_randomize=True,
                    # A server that stops answering (paused, partitioned) is given up after
                    # about 10-15 s, and the client moves to the next one.
                    ping_interval=PING_INTERVAL,
                    max_outstanding_pings=2,
                    error_cb=on_error,
                    disconnected_cb=on_disconnected,
                    reconnected_cb=on_reconnected,
                ),
                timeout=connect_timeout,
            )
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            with contextlib.suppress(Exception):
                await nc.close()
            cause = last_error[0] if last_error else exc
            raise OrderingUnavailable(
                f"cannot connect to the ordering service at {', '.join(servers)}: "
                f"{_describe(cause)}",
                retry_after=_RETRY_DISCONNECTED,
            ) from cause
        return cls(nc)

    @property
    def connected_url(self) -> str | None:
        """The server this client is connected to now, if any."""
        url = self._nc.connected_url
        return url.geturl() if url is not None else None

    # -- streams ---------------------------------------------------------------------------------

    async def ensure_stream(
        self,
        stream: str,
        subject: str,
        replicas: int,
        *,
        duplicate_window: float = 120.0,
        max_msg_size: int = 8 << 20,
    ) -> None:
        """Create ``stream`` capturing ``subject``, or bring an existing one to this configuration.

        File storage, limits retention with no limits (JetStream never drops a message on its
        own; :meth:`purge_below` trims), individual deletes refused (a deleted message would be a
        hole in the order). ``max_msg_size`` counts headers too. Safe to call from every node
        concurrently; an existing stream with other replicas, window, size limit or subject is
        updated, one with another storage or retention raises :class:`ConfigurationError`.
        """
        _check_name("stream", stream)
        _check_subject(subject)
        if replicas < 1 or duplicate_window <= 0 or max_msg_size < 1:
            raise InvalidRequest("replicas, duplicate_window and max_msg_size must be positive")
        wanted = StreamConfig(
            name=stream,
            subjects=[subject],
            retention=RetentionPolicy.LIMITS,
            discard=DiscardPolicy.OLD,
            storage=StorageType.FILE,
            num_replicas=replicas,
            duplicate_window=duplicate_window,
            max_msg_size=max_msg_size,
            deny_delete=True,
        )
        async with _ordering_errors(f"ensure stream {stream}"):
            for _ in range(3):  # another node may create it between our look-up and our add
                try:
                    info = await self._js.stream_info(stream)
                except nats.js.errors.NotFoundError:
                    try:
                        await self._js.add_stream(wanted)
                        return
                    except nats.js.errors.BadRequestError as exc:
                        if exc.err_code == 10058:  # stream name already in use
                            continue
                        raise self._stream_refused(stream, exc) from exc
                await self._update_stream(info, wanted)
                return
            raise OrderingUnavailable(f"stream {stream} keeps changing under us", retry_after=1.0)

    async def _update_stream(self, info: StreamInfo, wanted: StreamConfig) -> None:
        have = info.config
        for attribute in ("storage", "retention"):
            if getattr(have, attribute) != getattr(wanted, attribute):
                raise ConfigurationError(
                    f"stream {wanted.name} exists with {attribute} {getattr(have, attribute)}, "
                    f"not {getattr(wanted, attribute)}"
                )
        differs = (
            have.num_replicas != wanted.num_replicas
            or have.subjects != wanted.subjects
            or have.max_msg_size != wanted.max_msg_size
            or abs(have.duplicate_window - wanted.duplicate_window) > 1e-6
            or have.deny_delete != wanted.deny_delete
            or have.discard != wanted.discard
        )
        if not differs:
            return
        log.info("updating stream %s to %s", wanted.name, wanted)
        merged = StreamConfig.from_response(have.as_dict())
        merged.num_replicas = wanted.num_replicas
        merged.subjects = wanted.subjects
        merged.max_msg_size = wanted.max_msg_size
        merged.duplicate_window = wanted.duplicate_window
        merged.deny_delete = wanted.deny_delete
        merged.discard = wanted.discard
        try:
            await self._js.update_stream(merged)
        except nats.js.errors.BadRequestError as exc:
            raise self._stream_refused(wanted.name or "", exc) from exc

    @staticmethod
    def _stream_refused(stream: str, exc: nats.js.errors.APIError) -> Exception:
        if exc.err_code == 10023:  # insufficient resources: fewer servers up than replicas
            return OrderingUnavailable(
                f"stream {stream}: not enough servers for its replicas yet ({exc.description})",
                retry_after=_RETRY_DISCONNECTED,
            )
        return ConfigurationError(f"stream {stream} refused by JetStream: {exc.description}")

    async def stream_info(self, stream: str) -> dict[str, Any]:
        """The stream's state: ``first_seq``, ``last_seq``, ``messages``, ``bytes``, ``replicas``
        (configured), ``leader`` (server name or ``None`` during an election) and ``peers``
        (every replica's server name with ``current``/``offline``/``lag``)."""
        _check_name("stream", stream)
        async with _ordering_errors(f"stream info {stream}"):
            try:
                info = await self._js.stream_info(stream)
            except nats.js.errors.NotFoundError as exc:
                raise OrderingUnavailable(
                    f"stream {stream} does not exist", retry_after=1.0
                ) from exc
        cluster = info.cluster
        peers = []
        if cluster is not None:
            if cluster.leader:
                peers.append({"name": cluster.leader, "current": True, "offline": False, "lag": 0})
            for peer in cluster.replicas or ():
                peers.append(
                    {
                        "name": peer.name,
                        "current": bool(peer.current),
                        "offline": bool(peer.offline),
                        "lag": peer.lag or 0,
                    }
                )
        return {
            "first_seq": info.state.first_seq,
            "last_seq": info.state.last_seq,
            "messages": info.state.messages,
            "bytes": info.state.bytes,
            "replicas": info.config.num_replicas,
            "leader": cluster.leader if cluster is not None else None,
            "cluster": cluster.name if cluster is not None else None,
            "peers": peers,
        }

    async def purge_below(self, stream: str, seq: int) -> None:
        """Remove every message with a sequence below ``seq`` (retention trimming, once every
        node applied them). Does nothing for ``seq <= 1``."""
        _check_name("stream", stream)
        if seq <= 1:  # nats-py treats seq=0 as "no bound": it would purge the whole stream
            return
        async with _ordering_errors(f"purge {stream} below {seq}"):
            await self._js.purge_stream(stream, seq=seq)

    # -- writes ----------------------------------------------------------------------------------

    async def publish(
        self, subject: str, data: bytes, *, msg_id: str, stream: str, timeout: float = 2.0
    ) -> int:
        """Publish ``data`` and return its stream sequence once JetStream acknowledged it.

        ``msg_id`` deduplicates: publishing it again within the duplicate window returns the
        first publication's sequence and stores nothing. Raises :class:`OrderingUnavailable` when
        the write was not acknowledged in ``timeout`` seconds (it may still have been stored: retry
        with the same ``msg_id``), :class:`InvalidRequest` when JetStream refuses it for good.
        """
        _check_name("stream", stream)
        if not msg_id or any(c.isspace() for c in msg_id):
            raise InvalidRequest(f"message id {msg_id!r} must be non-empty without whitespace")
        async with _ordering_errors(f"publish {msg_id} to {stream}"):
            try:
                ack = await self._js.publish(
                    subject,
                    data,
                    timeout=timeout,
                    stream=stream,
                    headers={"Nats-Msg-Id": msg_id},
                )
            except nats.js.errors.APIError as exc:
                if exc.code is not None and exc.code >= 500:
                    raise OrderingUnavailable(
                        f"publish {msg_id} to {stream}: {exc.description}",
                        retry_after=_RETRY_NO_LEADER,
                    ) from exc
                raise InvalidRequest(
                    f"publish {msg_id} to {stream} refused: {exc.description}"
                ) from exc
        if ack.stream != stream:  # the Nats-Expected-Stream header makes the server check this
            raise ConfigurationError(f"{subject} is stored by stream {ack.stream}, not {stream}")
        return int(ack.seq)

    # -- reads -----------------------------------------------------------------------------------

    async def read(
        self,
        stream: str,
        subject: str,
        first_seq: int,
        *,
        max_msgs: int = 256,
        timeout: float = 1.0,
    ) -> list[tuple[int, bytes]]:
        """Up to ``max_msgs`` messages of ``subject`` with stream sequence ``>= first_seq``, in
        order, as ``(sequence, data)``; empty if none arrived within ``timeout`` seconds.

        Read on from ``last_sequence + 1``: the client keeps a consumer positioned there, whose
        messages are already flowing in; any other ``first_seq`` starts a new consumer. Messages below
        the stream's first sequence (purged) are simply not returned.
        """
        _check_name("stream", stream)
        _check_subject(subject)
        if first_seq < 1 or max_msgs < 1 or timeout <= 0:
            raise InvalidRequest("first_seq, max_msgs and timeout must be positive")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        key = (stream, subject)
        async with self._read_locks.setdefault(key, asyncio.Lock()):
            for _ in range(2):  # a consumer found broken before it delivered: replace it at once
                reader = await self._reader_at(stream, subject, first_seq)
                out = await self._take(reader, max_msgs, deadline)
                if out or not reader.broken or loop.time() >= deadline:
                    break
            return out

    async def _reader_at(self, stream: str, subject: str, first_seq: int) -> _Reader:
        """The reader for ``(stream, subject)`` if it is sound and at ``first_seq``, else a new
        one there (the old consumer is deleted)."""
        key = (stream, subject)
        reader = self._readers.get(key)
        if reader is not None and not reader.broken and reader.next_seq == first_seq:
            return reader
        if reader is not None:
            if reader.broken:
                log.info("replacing the read consumer of %s: %s", stream, reader.broken)
            del self._readers[key]
            await self._close_reader(reader)
        reader = await self._open_reader(stream, subject, first_seq)
        self._readers[key] = reader
        return reader

    async def _open_reader(self, stream: str, subject: str, first_seq: int) -> _Reader:
        consumer = f"accord-{uuid.uuid4().hex}"
        config = ConsumerConfig(
            name=consumer,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=first_seq,
            ack_policy=AckPolicy.NONE,
            filter_subject=subject,
            inactive_threshold=CONSUMER_IDLE_TIMEOUT,
            num_replicas=1,
            mem_storage=True,
        )
        async with _ordering_errors(f"read {stream} from {first_seq}"):
            try:
                await self._js.add_consumer(stream, config=config)
            except nats.js.errors.NotFoundError as exc:
                raise OrderingUnavailable(
                    f"stream {stream} does not exist", retry_after=1.0
                ) from exc
            reader = _Reader(stream, subject, consumer, self._nc.new_inbox(), next_seq=first_seq)
            reader.sub = await self._nc.subscribe(
                reader.inbox + ".*",
                cb=reader.on_message,
                pending_msgs_limit=1 << 16,
                pending_bytes_limit=4 * PULL_MAX_BYTES,
            )
        return reader

    async def _close_reader(self, reader: _Reader) -> None:
        """Unsubscribe and ask JetStream to delete the consumer, without waiting for the answer:
        its server may be the one that is gone. (An abandoned consumer also expires after
        :data:`CONSUMER_IDLE_TIMEOUT`.)"""
        if reader.sub is not None:
            with contextlib.suppress(Exception):
                await reader.sub.unsubscribe()
        with contextlib.suppress(Exception):
            await self._nc.publish(
                f"{_JS_API}.CONSUMER.DELETE.{reader.stream}.{reader.consumer}",
                b"",
                reply=self._nc.new_inbox(),  # an answer to nobody
            )

    async def _take(
        self, reader: _Reader, max_msgs: int, deadline: float
    ) -> list[tuple[int, bytes]]:
        """What the consumer delivered, in order (at most ``max_msgs``): until the last says the
        stream held nothing more when it was sent, waiting until ``deadline`` for a first one.
        Keeps a pull request open. Marks the reader broken when the consumer fails or falls
        silent."""
        loop = asyncio.get_running_loop()
        out: list[tuple[int, bytes]] = []
        extended = False
        while True:
            self._drain(reader, out, max_msgs)
            if reader.broken:
                return out
            if not reader.reply:  # the last request is spent: the next one, before reading on
                await self._request(reader)
                if reader.broken:
                    return out
            if len(out) >= max_msgs or (out and not reader.behind):
                return out
            if out and not extended:  # the server had more when it sent the last one: they are
                extended = True  # on their way (a floor: a busy machine is not an empty stream)
                deadline = max(deadline, loop.time() + 0.5)
            now = loop.time()
            silent = reader.heard + PULL_SILENCE
            if now >= silent:
                reader.broken = "the consumer stopped answering"
                return out
            if now >= deadline:
                return out
            reader.wake.clear()
            if reader.arrived:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader.wake.wait(), min(deadline, silent) - now)

    async def _request(self, reader: _Reader) -> None:
        """Open a long pull request (see the module docstring)."""
        reader.pulls += 1
        reply = f"{reader.inbox}.{reader.pulls}"
        request = {
            "batch": PULL_BATCH,
            "max_bytes": PULL_MAX_BYTES,
            "expires": int(PULL_EXPIRES * 1e9),
            "idle_heartbeat": int(PULL_HEARTBEAT * 1e9),
        }
        try:
            await self._nc.publish(
                f"{_JS_API}.CONSUMER.MSG.NEXT.{reader.stream}.{reader.consumer}",
                json.dumps(request).encode(),
                reply=reply,
            )
        except _UNAVAILABLE_ERRORS as exc:
            reader.broken = f"pull request failed: {_describe(exc)}"
            return
        reader.reply, reader.left = reply, PULL_BATCH
        reader.heard = asyncio.get_running_loop().time()

    def _drain(self, reader: _Reader, out: list[tuple[int, bytes]], max_msgs: int) -> None:
        """Move arrived deliveries to ``out`` in order; status messages end the open request
        (nothing more now: expired, or its byte budget spent) or, unexpected, break the reader.
        Status messages name the request they end (its reply subject); data messages are counted
        against the open request."""
        arrived = reader.arrived
        while arrived and len(out) < max_msgs:
            msg = arrived[0]
            status = msg.headers.get("Status") if msg.headers else None
            if status is None:
                if not self._accept(reader, msg, out):
                    return
                arrived.popleft()
                reader.heard = asyncio.get_running_loop().time()
                reader.left -= 1
                if reader.left <= 0:
                    reader.reply = ""
                continue
            arrived.popleft()
            if msg.subject != reader.reply:  # an older request's end
                continue
            reader.heard = asyncio.get_running_loop().time()
            if status == "100":  # idle heartbeat
                continue
            description = (msg.headers or {}).get("Description", "").strip()
            if status in ("404", "408") or "MaxBytes" in description:
                reader.reply = ""
                continue
            reader.broken = f"status {status} {description}".strip()
            return

    @staticmethod
    def _accept(reader: _Reader, msg: Msg, out: list[tuple[int, bytes]]) -> bool:
        try:
            metadata = msg.metadata
            delivery, seq = metadata.sequence.consumer, metadata.sequence.stream
        except (nats.errors.Error, ValueError, IndexError, AttributeError):
            reader.broken = f"a delivery without JetStream metadata ({msg.reply!r})"
            return False
        if delivery != reader.next_delivery or seq < reader.next_seq:
            # A lost or repeated delivery: what came before it was in order, what follows must
            # come from a new consumer started right after it.
            reader.broken = (
                f"delivery {delivery} (sequence {seq}) where {reader.next_delivery} "
                f"(sequence >= {reader.next_seq}) was due"
            )
            return False
        out.append((seq, msg.data))
        reader.behind = metadata.num_pending or 0
        reader.next_delivery = delivery + 1
        reader.next_seq = seq + 1
        return True

    async def close(self) -> None:
        """Remove this client's read consumers (best effort) and close the connection."""
        readers, self._readers = list(self._readers.values()), {}
        if self._nc.is_connected:
            for reader in readers:
                await self._close_reader(reader)
        with contextlib.suppress(Exception):
            await self._nc.close()  # flushes the deletions first
