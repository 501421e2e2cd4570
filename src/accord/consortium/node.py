"""A consortium node at run time: publish envelopes, apply the ordered stream, cosign, finalize.

The node is a set of asyncio tasks on the service's event loop around three pure pieces
(:class:`~accord.consortium.apply.Applier`, the cosigner's check, the quorum check) and the
ledger's sequencer thread:

* **publisher** — packs queued envelopes into one message, signs it with the node key and publishes
  it to JetStream with ``Nats-Msg-Id`` = its SHA-256 (a retried publish cannot duplicate). Nothing
  is acknowledged here: a write the ordering service cannot take is answered 503 with a retry hint.
* **applier** — reads the stream in order from the last applied sequence, folds each message into
  leaves (the same on every node), and appends them with the stream position in one durable
  transaction. A write is acknowledged to its client once its own node applied it (``Pending``).
* **checkpointer** — signs the applied tree with the node key and has the organization cosign it.
* **pushers** — one per peer: send the newest checkpoint with every cosignature known for it to the
  peer's C2SP ``/add-checkpoint`` (mTLS with the node's certificate) and collect the peer's
  cosignature. A checkpoint with the constitution's quorum of member cosignatures is **final**: the
  ledger stores it and every entry it covers becomes ``Committed``.
* the **witness** side (:meth:`ConsortiumNode.add_checkpoint`) cosigns a peer's checkpoint only
  after this node applied that size itself and found the same root; a different root is evidence
  of misbehaviour: refused (422), recorded, never cosigned.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import httpx

from accord.compute.node import ComputeDriver
from accord.consortium.apply import (
    COMPUTE_COLLECTION,
    GOVERNANCE_COLLECTION,
    RESERVED_PREFIX,
    STREAM_SEQ_KEY,
    USER_RECORD_COLLECTIONS,
    Applied,
    Applier,
)
from accord.consortium.ordering import OrderingClient
from accord.core.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from accord.core.consortium import ConsortiumState
from accord.core.cosignature import (
    Cosigner,
    add_signatures,
    open_cosigned_checkpoint,
)
from accord.core.entry import (
    TransactionId,
    encode_contents,
    validate_collection_id,
    validate_tags,
    validate_user_id,
)
from accord.core.envelope import (
    MESSAGE_MAGIC,
    Envelope,
    Message,
    encode_own,
    message_header,
    message_id,
)
from accord.core.merkle import empty_root
from accord.core.note import NoteSignature, Signer, Verifier, note_signatures
from accord.core.private import PURGE_COLLECTION
from accord.core.witness import SIZE_CONTENT_TYPE, AddCheckpointRequest
from accord.errors import (
    AccordError,
    AuthError,
    InvalidRequest,
    MalformedInput,
    OrderingUnavailable,
    VerificationError,
    WitnessRefused,
)
from accord.identity import write_public
from accord.log.ledger import Ledger, NewEntry, OrderedResult
from accord.private.node import PrivateData
from accord.tasks import cancel_all

log = logging.getLogger("accord.consortium")
T = TypeVar("T")
_encode_str = json.encoder.encode_basestring

MAX_MESSAGE_ENVELOPES = 2000
MAX_MESSAGE_BYTES = 6 << 20
"""Envelope bytes per message (an upper estimate); the NATS servers take 8 MiB messages."""
PUBLISH_DEADLINE = 6.0
WITNESS_WAIT = 3.0
CHECKPOINT_PAUSE = 0.1
PUBLISH_LINGER = 0.01
"""Under concurrent writes (the last message carried several requests), the publisher waits this
long before packing the next message: fewer, larger messages, each ordered, replicated, fsync'd,
verified and applied once by every node. A lone writer never waits."""
FALLBACK_DELAY = 0.2
MAX_WITNESS_ANSWER = 64 * 1024
CHECKPOINT_EVERY = 8
"""Every node signs the tree at the end of each stream message whose sequence is a multiple of
this (and at the end of the stream whenever it caught up), so under load all nodes sign the same
sizes and their cosignatures meet."""
READ_BATCH = 256
PIPELINE_DEPTH = 4
OWN_MESSAGES_BYTES = 32 << 20
OWN_MESSAGES_AGE = 30.0
HEARTBEAT_INTERVAL = 5.0
WRITE_TIMEOUT = 60.0
TRIM_INTERVAL = 5.0
DEFAULT_RETENTION_MESSAGES = 100_000
CATCH_UP_PAGE = 1000
CATCH_UP_PAGE_BYTES = 8 << 20


class StreamGap(AccordError):
    """The stream no longer holds the next message this node needs: it was trimmed."""

    resume_at = 0  # the first sequence the stream still holds


@dataclass(frozen=True)
class NodeSettings:
    """What a node needs to run, from its data directory's ``consortium.json``."""

    node_id: str
    member: str
    stream: str
    subject: str
    replicas: int
    engine_servers: tuple[str, ...]  # NATS client URLs, own first


Leaves = list[tuple[Applied, TransactionId]]
WriteFuture = asyncio.Future[T] | Future[T]
"""What a write returns: an asyncio future when submitted on the node's event loop (the service's
case: nothing to chain across threads), a thread-safe one from any other thread."""


@dataclass
class _Pending:
    """One client request: its envelopes' leaves, resolved when this node applied them all."""

    count: int
    future: WriteFuture[Any]
    finish: Callable[[Leaves], object]  # the future's result from the leaves (or it raises)
    deadline: float  # loop time after which the write is answered "outcome unknown"
    positions: list[tuple[int, int]] = field(default_factory=list)
    results: dict[int, tuple[Applied, TransactionId]] = field(default_factory=dict)

    def settle(self) -> None:
        """Resolve the future from the results (all in)."""
        if self.future.done():
            return
        try:
            value = self.finish([self.results[i] for i in range(self.count)])
        except AccordError as exc:
            self.future.set_exception(exc)
            return
        self.future.set_result(value)

    def fail(self, error: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(error)


@dataclass
class _Queued:
    """One request's envelopes, their encoded bodies, and who waits for them."""

    envelopes: list[Envelope]
    bodies: list[bytes]
    pending: _Pending

    @property
    def size(self) -> int:
        return sum(len(b) for b in self.bodies) + len(self.bodies)


@dataclass
class _Batch:
    """Ordered messages folded and handed to the ledger, not yet known to be durable."""

    future: Future[OrderedResult]
    applied: list[Applied]
    last_seq: int
    marks: list[int]
    caught_up: bool
    positions: dict[str, tuple[int, int]]
    clocks: dict[str, int]


@dataclass
class _Tree:
    size: int
    root: bytes
    note: str  # signed by this node's key
    signatures: dict[str, NoteSignature] = field(default_factory=dict)  # member -> cosignature


class WitnessState:
    """The latest checkpoint this organization cosigned, persisted before any cosignature leaves.

    C2SP tlog-witness asks a witness to persist its record before answering; the file is replaced
    atomically (write, fsync, rename).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.size = 0
        self.root = empty_root()
        if path.exists():
            raw = json.loads(path.read_text())
            self.size = int(raw["size"])
            self.root = bytes.fromhex(raw["root"])

    def advance(self, size: int, root: bytes) -> None:
        with self._lock:
            if size <= self.size:
                return
            write_public(self.path, json.dumps({"size": size, "root": root.hex()}).encode())
            self.size, self.root = size, root


class ConsortiumNode:
    def __init__(
        self,
        *,
        ledger: Ledger,
        settings: NodeSettings,
        node_signer: Signer,
        cosigner: Cosigner,
        genesis: str,
        genesis_time_ms: int,
        engine_tls: ssl.SSLContext | None,
        peer_tls: ssl.SSLContext,
        state_dir: Path,
    ) -> None:
        self.ledger = ledger
        self.settings = settings
        self.node_id = settings.node_id
        self.signer = node_signer
        self.cosigner = cosigner
        self.genesis = genesis
        self.genesis_time_ms = genesis_time_ms
        self.engine_tls = engine_tls
        self.peer_tls = peer_tls
        self.witness = WitnessState(state_dir / "witness-state.json")
        self.evidence_dir = state_dir / "evidence"
        # Node keys this organization caught signing a root it did not compute: it never cosigns
        # their checkpoints again (evidence files survive restarts).
        self.distrusted: set[str] = {
            p.name.rsplit("-", 1)[0] for p in self.evidence_dir.glob("*.json")
        }
        self.boot = int(time.time() * 1000)
        self.counter = 0
        self.applier: Applier | None = None
        self.ordering: OrderingClient | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[_Queued] | None = None
        self._waiting: dict[tuple[int, int], tuple[_Pending, int]] = {}
        self._deadlines: deque[_Pending] = deque()  # in deadline order (one timeout for all)
        self._tasks: list[asyncio.Task[None]] = []
        self._trees: dict[int, _Tree] = {}
        self._latest: _Tree | None = None
        self._tree_changed: asyncio.Event | None = None
        self._final_size = ledger.committed_size()
        self._stopping = False
        self.applied_size = ledger.size()
        self._lock = threading.Lock()
        self._peer_events: dict[str, asyncio.Event] = {}
        self._peer_tasks: dict[str, asyncio.Task[None]] = {}
        self._latest_root: tuple[int, bytes] | None = None
        self.position: tuple[int, int, dict[str, tuple[int, int]]] = (0, 0, {})
        self._clocks: dict[str, int] = {}
        self._write_failed: Exception | None = None
        self._stream_gap = 0
        self._completing = False
        self._to_sign: list[tuple[int, int, bytes]] = []  # (size to sign, applied size, its root)
        self._harvest: dict[tuple[int, bytes], dict[str, NoteSignature]] = {}
        self._peer_records: dict[str, int] = {}
        # Messages this node published, by header, until it applies them: no second parse.
        self._own_messages: dict[bytes, tuple[float, bytes, Message]] = {}
        self._own_bytes = 0
        self._own_key = node_signer.verifier().public_key_bytes
        self.retention_messages = DEFAULT_RETENTION_MESSAGES
        self.on_state_change: Callable[[ConsortiumState], object] | None = None
        self.state_dir = state_dir
        self.private = PrivateData(self, state_dir)
        self.compute = ComputeDriver(self, state_dir)

    # --- state --------------------------------------------------------------------------------
    @property
    def state(self) -> ConsortiumState:
        if self.applier is None:
            raise OrderingUnavailable("the consortium node is starting; retry shortly")
        return self.applier.state

    @property
    def origin(self) -> str:
        return self.ledger.origin

    # --- start and stop -----------------------------------------------------------------------
    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._applied_event = asyncio.Event()
        self._tree_changed = asyncio.Event()
        await asyncio.to_thread(self._restore)
        self.ordering = await self._connect()
        self._tasks = [
            asyncio.create_task(self._run_applier(), name="accord-applier"),
            asyncio.create_task(self._run_publisher(), name="accord-publisher"),
            asyncio.create_task(self._run_checkpointer(), name="accord-checkpointer"),
            asyncio.create_task(self._run_trimmer(), name="accord-trimmer"),
            asyncio.create_task(self._run_expirer(), name="accord-expirer"),
            asyncio.create_task(self.private.run_retention(), name="accord-retention"),
            asyncio.create_task(self.compute.run(), name="accord-compute"),
        ]
        self._sync_peers()
        await self._notify_state()

    async def _notify_state(self) -> None:
        callback = self.on_state_change
        if callback is None or self.applier is None:
            return
        try:
            await asyncio.to_thread(callback, self.applier.state)
        except Exception as exc:  # housekeeping (the engine's trust): logged, never fatal
            log.error("reacting to the new consortium state failed: %s", exc)

    async def _connect(self) -> OrderingClient:
        deadline = time.monotonic() + 60
        while True:
            try:
                client = await OrderingClient.connect(
                    list(self.settings.engine_servers), tls=self.engine_tls, name=self.node_id
                )
                break
            except OrderingUnavailable as exc:
                if time.monotonic() > deadline:
                    raise
                log.info("waiting for the ordering service: %s", exc)
                await asyncio.sleep(0.5)
        while True:  # the stream needs a JetStream meta leader and enough peers for its replicas
            try:
                await client.ensure_stream(
                    self.settings.stream, self.settings.subject, self.settings.replicas
                )
                return client
            except AccordError as exc:  # e.g. "no suitable peers for placement" while starting
                if time.monotonic() > deadline:
                    await client.close()
                    raise
                log.info("waiting for the ordering cluster: %s", exc)
                await asyncio.sleep(0.5)

    async def stop(self) -> None:
        self._stopping = True
        await cancel_all([*self._tasks, *self._peer_tasks.values()])
        for pending, _ in list(self._waiting.values()):
            pending.fail(OrderingUnavailable("the node is stopping"))
        if self.ordering is not None:
            with contextlib.suppress(Exception):
                await self.ordering.close()

    def _restore(self) -> None:
        ledger = self.ledger
        if ledger.size() == 0:
            applier = Applier.from_genesis(self.genesis, self.genesis_time_ms)
            ledger.submit_ordered(
                [Applier.genesis_item(self.genesis, self.genesis_time_ms)], meta=applier.meta(0)
            ).result(60)
            self.applier = applier
            self.applied_size = 1
            self.position = (1, 0, {})
            self.private.restore()
            return
        size = ledger.size()
        rows = list(ledger.iter_collection(GOVERNANCE_COLLECTION, 1, size))
        if not rows or rows[0].metadata.seqno != 1:
            raise MalformedInput("this ledger does not start with the consortium's genesis")
        if rows[0].contents != self.genesis:
            raise VerificationError(
                "the ledger's genesis is not this data directory's genesis.json"
            )
        last = ledger.get_entry(size)
        stored_meta = ledger.storage.read_meta()
        self.applier = Applier.restore(
            (
                (
                    r.metadata.seqno,
                    r.metadata.timestamp_ms,
                    r.metadata.tags,
                    r.contents,
                    r.metadata.user_id,
                )
                for r in rows
            ),
            size=size,
            ledger_time=last.metadata.timestamp_ms,
            meta=stored_meta,
        )
        self.private.restore()
        own = self.applier.positions.get(self.node_id)
        if own is not None and own[0] >= self.boot:
            self.boot, self.counter = own[0] + 1, 0
        self.position = (
            size,
            int(stored_meta.get(STREAM_SEQ_KEY, "0")),
            dict(self.applier.positions),
        )
        self.applied_size = size

    # --- writes (called on the event loop, or from any thread) --------------------------------
    def _new_envelope(
        self, kind: str, user_id: str, collection: str, tags: Sequence[str], contents: str
    ) -> Envelope:
        self.counter += 1
        return Envelope(
            kind=kind,
            node=self.node_id,
            boot=self.boot,
            counter=self.counter,
            timestamp_ms=int(time.time() * 1000),
            user_id=user_id,
            collection_id=collection,
            tags=tuple(tags),
            contents=contents,
        )

    def _enqueue(
        self,
        make: list[tuple[str, str, str, Sequence[str], str]],
        finish: Callable[[Leaves], T],
    ) -> WriteFuture[T]:
        loop = self.loop
        on_loop = loop is not None and _on_loop(loop)
        future: WriteFuture[T] = loop.create_future() if on_loop and loop else Future()
        if self._stopping or loop is None or self._queue is None:
            future.set_exception(OrderingUnavailable("the consortium node is not running"))
            return future
        queue = self._queue

        def put() -> None:
            pending = _Pending(len(make), future, finish, loop.time() + WRITE_TIMEOUT)
            envelopes = [self._new_envelope(*args) for args in make]
            for index, env in enumerate(envelopes):
                self._waiting[env.position] = (pending, index)
                pending.positions.append(env.position)
            self._deadlines.append(pending)
            queue.put_nowait(_Queued(envelopes, [env.body() for env in envelopes], pending))

        if on_loop:
            put()
        else:
            loop.call_soon_threadsafe(put)
        return future

    async def _run_expirer(self) -> None:
        """Answer writes not applied within :data:`WRITE_TIMEOUT` "outcome unknown"."""
        assert self.loop is not None  # noqa: S101 - set in start()
        deadlines = self._deadlines
        while True:
            await asyncio.sleep(1.0)
            now = self.loop.time()
            while deadlines and deadlines[0].deadline <= now:
                pending = deadlines.popleft()
                if pending.future.done():
                    continue
                for position in pending.positions:
                    self._waiting.pop(position, None)
                pending.fail(
                    OrderingUnavailable(
                        f"the write was not applied within {WRITE_TIMEOUT:.0f} s; its outcome is "
                        "unknown (look for it before retrying)"
                    )
                )
            while deadlines and deadlines[0].future.done():  # answered: forget them early
                deadlines.popleft()

    def submit(
        self, entries: Sequence[NewEntry], *, user_id: str
    ) -> WriteFuture[list[TransactionId]]:
        """Like :meth:`Ledger.submit`: validate, order through the consortium, resolve to ids
        (an asyncio future on the node's loop, a thread-safe one from other threads)."""
        validate_user_id(user_id)
        if not entries:
            raise InvalidRequest("nothing to append")
        owner = self.state.member_of(user_id)
        if owner != self.settings.member:
            raise AuthError(
                f"user {user_id} belongs to {owner}: write through one of {owner}'s nodes"
            )
        make: list[tuple[str, str, str, Sequence[str], str]] = []
        for entry in entries:
            collection = validate_collection_id(entry.collection_id)
            if collection.startswith(RESERVED_PREFIX) and collection not in USER_RECORD_COLLECTIONS:
                raise InvalidRequest(
                    f"collection {collection} is reserved for accord's own records"
                )
            tags = validate_tags(entry.tags)
            encode_contents(entry.contents, self.ledger.options.max_contents)
            # A private collection's contents are sealed to its readers here, at the edge: what
            # is ordered, and seen by every node and ordering replica, is ciphertext.
            sealed = self.private.seal_write(self.state, collection, entry.contents)
            make.append(("entry", user_id, collection, tags, sealed or entry.contents))
        if len(make) > MAX_MESSAGE_ENVELOPES:
            raise InvalidRequest(
                f"a consortium write holds at most {MAX_MESSAGE_ENVELOPES} entries; split it"
            )
        # JSON escapes a character into at most 6 bytes: only a write that could be too large
        # is measured exactly.
        bound = sum(6 * len(c) + len(col) + 200 for _, _, col, _, c in make)
        estimate = bound + 6 * len(user_id) * len(make)
        if estimate > MAX_MESSAGE_BYTES:
            estimate = sum(
                len(_encode_str(c)) + len(_encode_str(user_id)) + len(col) + 200
                for _, _, col, _, c in make
            )
        if estimate > MAX_MESSAGE_BYTES:
            raise InvalidRequest(
                f"this write would take about {estimate} bytes to order; a consortium write is "
                f"at most {MAX_MESSAGE_BYTES} bytes once encoded (control and non-ASCII "
                "characters take up to 6 bytes each): split it into smaller batches"
            )
        return self._enqueue(make, _transaction_ids)

    def submit_action(self, kind: str, contents: str, *, user_id: str) -> WriteFuture[Leaves]:
        """Order a governance action (``governance``) or user change (``users``)."""
        encode_contents(contents, self.ledger.options.max_contents)
        return self._enqueue([(kind, user_id, GOVERNANCE_COLLECTION, (), contents)], list)

    # --- publisher ----------------------------------------------------------------------------
    async def _run_publisher(self) -> None:
        assert self._queue is not None and self.ordering is not None  # noqa: S101 - set in start()
        queue = self._queue
        carry: _Queued | None = None
        concurrent = False
        while not self._stopping:
            if carry is not None:
                first = carry
            else:
                try:
                    first = await asyncio.wait_for(queue.get(), HEARTBEAT_INTERVAL)
                except TimeoutError:
                    await self._heartbeat()
                    continue
            carry = None
            if concurrent:
                await asyncio.sleep(PUBLISH_LINGER)
                if self._stopping:
                    break
            batch = [first]
            count, size = len(first.envelopes), first.size
            while not queue.empty():
                item = queue.get_nowait()
                more = item.size
                if (
                    count + len(item.envelopes) > MAX_MESSAGE_ENVELOPES
                    or size + more > MAX_MESSAGE_BYTES
                ):
                    carry = item  # it starts the next message: requests are never split
                    break
                batch.append(item)
                count += len(item.envelopes)
                size += more
            concurrent = len(batch) > 1 or carry is not None
            envelopes = [env for q in batch for env in q.envelopes]
            bodies = [body for q in batch for body in q.bodies]
            try:
                await self._publish(envelopes, bodies)
            except Exception as exc:  # the publisher must never die silently
                log.error("publishing failed: %s", exc)
                self._fail(envelopes, OrderingUnavailable(f"the write could not be ordered: {exc}"))

    async def _heartbeat(self) -> None:
        """A ``clock`` envelope (no leaf): the consortium's time follows the median node clock,
        so a node that has nothing to write still tells the others what time it is."""
        env = self._new_envelope("clock", "accord", "accord.clock", (), "")
        try:
            await self._publish([env], [env.body()])
        except Exception as exc:  # best effort; the next one comes soon
            log.debug("heartbeat not published: %s", exc)

    def _fail(self, envelopes: list[Envelope], error: Exception) -> None:
        for env in envelopes:
            entry = self._waiting.pop(env.position, None)
            if entry is not None:
                entry[0].fail(error)

    async def _publish(self, envelopes: list[Envelope], bodies: list[bytes]) -> None:
        assert self.ordering is not None  # noqa: S101 - set in start()
        data, own = encode_own(envelopes, bodies, self.signer)  # one signature for them all
        msg_id = message_id(data)
        header = self._keep_own(data, own)
        deadline = time.monotonic() + PUBLISH_DEADLINE
        while True:
            try:
                await self.ordering.publish(
                    self.settings.subject, data, msg_id=msg_id, stream=self.settings.stream
                )
                return
            except OrderingUnavailable as exc:
                if time.monotonic() >= deadline or self._stopping:
                    log.warning("cannot order %d envelopes: %s", len(envelopes), exc)
                    self._take_own(header)
                    self._fail(
                        envelopes,
                        OrderingUnavailable(
                            "the consortium's ordering service cannot order this write now "
                            f"({exc}); retry shortly",
                            retry_after=exc.retry_after,
                        ),
                    )
                    return
                await asyncio.sleep(0.2)

    def _keep_own(self, data: bytes, own: Message) -> bytes:
        """Keep a message this node publishes until it applies it (by its header), within a
        byte budget: one not read back in time (a failed publish, a catch-up) is let go."""
        kept, now = self._own_messages, time.monotonic()
        while kept:
            oldest = next(iter(kept))
            if now - kept[oldest][0] < OWN_MESSAGES_AGE:
                break
            self._take_own(oldest)
        header = message_header(data)
        if self._own_bytes + 2 * len(data) <= OWN_MESSAGES_BYTES:  # its bytes and its envelopes
            kept[header] = (now, data, Message(own.node, own.signature, b"", own.lines))
            self._own_bytes += 2 * len(data)
        return header

    def _take_own(self, header: bytes) -> tuple[float, bytes, Message] | None:
        kept = self._own_messages.pop(header, None)
        if kept is not None:
            self._own_bytes -= 2 * len(kept[1])
        return kept

    # --- applier ------------------------------------------------------------------------------
    async def _run_applier(self) -> None:
        """Read, fold and hand batches to the ledger without waiting for each to be durable:
        the completer acknowledges them, in order, once they are. A failed write stops the
        pipeline, and the state is rebuilt from storage before reading on."""
        assert self.ordering is not None  # noqa: S101 - set in start()
        next_seq = self.position[1] + 1  # the stream position _restore read with the state
        completions: asyncio.Queue[_Batch | None] = asyncio.Queue(maxsize=PIPELINE_DEPTH)
        self._write_failed = None
        completer = asyncio.create_task(self._run_completer(completions))
        try:
            while not self._stopping:
                if self._write_failed is not None:
                    next_seq = await self._recover(completions, completer)
                    completer = asyncio.create_task(self._run_completer(completions))
                try:
                    messages = await self.ordering.read(
                        self.settings.stream, self.settings.subject, next_seq, max_msgs=READ_BATCH
                    )
                except OrderingUnavailable as exc:
                    log.info("ordering service unavailable while reading: %s", exc)
                    await asyncio.sleep(0.5)
                    continue
                if not messages or self._write_failed is not None:
                    continue
                try:
                    batch = self._apply(messages, next_seq)
                except StreamGap as gap:
                    log.warning("%s", gap)
                    self._stream_gap = gap.resume_at
                    await self._drain(completions)
                    try:
                        next_seq = await self._catch_up()
                    except Exception as exc:
                        log.error("catching up from peers failed: %s; retrying", exc)
                        await asyncio.sleep(1.0)
                    continue
                except Exception as exc:  # the applier must never die silently
                    log.error("applying the stream failed: %s; restoring from storage", exc)
                    self._write_failed = exc
                    continue
                await completions.put(batch)
                next_seq = batch.last_seq + 1
        finally:
            completer.cancel()

    async def _drain(self, completions: asyncio.Queue[_Batch | None]) -> None:
        """Wait until every batch handed to the ledger is completed."""
        while not completions.empty() or self._completing:
            await asyncio.sleep(0.01)

    async def _recover(
        self, completions: asyncio.Queue[_Batch | None], completer: asyncio.Task[None]
    ) -> int:
        completer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await completer
        while not completions.empty():
            completions.get_nowait()
        self._completing = False
        await asyncio.sleep(0.5)
        await asyncio.to_thread(self._restore)
        self._write_failed = None
        return self.position[1] + 1

    def _apply(self, messages: list[tuple[int, bytes]], next_seq: int) -> _Batch:
        applier = self.applier
        assert applier is not None  # noqa: S101 - restored in start()
        applied: list[Applied] = []
        last_seq = next_seq - 1
        base = applier.next_seqno - 1
        marks: list[int] = []
        own_prefix = MESSAGE_MAGIC + self.node_id.encode() + b" "
        for seq, data in messages:
            if seq != last_seq + 1:
                gap = StreamGap(
                    f"the stream skips from {last_seq} to {seq} (trimmed): catching up from a peer"
                )
                gap.resume_at = seq
                raise gap
            own = None
            if data.startswith(own_prefix):
                kept = self._take_own(message_header(data))
                if kept is not None and kept[1] == data:
                    own = kept[2]
            applied.extend(applier.apply_message(data, own, self._own_key))
            last_seq = seq
            if seq % CHECKPOINT_EVERY == 0:  # the same sizes on every node, whatever it batched
                marks.append(base + len(applied))
        if any(a.sealed is not None for a in applied):
            self.private.keep(applied, base + 1)  # durable before the leaves that name them
        future = self.ledger.submit_ordered([a.item for a in applied], meta=applier.meta(last_seq))
        return _Batch(
            future,
            applied,
            last_seq,
            marks,
            len(messages) < READ_BATCH,
            dict(applier.positions),
            dict(applier.clocks),
        )

    async def _run_completer(self, completions: asyncio.Queue[_Batch | None]) -> None:
        while True:
            batch = await completions.get()
            if batch is None:
                return
            self._completing = True
            try:
                result = await asyncio.wrap_future(batch.future)
                await self._complete(batch, result)
            except Exception as exc:
                log.error("a write of the ordered stream failed: %s", exc)
                self._write_failed = exc
                return
            finally:
                self._completing = False

    async def _complete(self, batch: _Batch, result: OrderedResult) -> None:
        applier = self.applier
        assert applier is not None  # noqa: S101
        applied = batch.applied
        collections = {a.item.collection_id for a in applied}
        if PURGE_COLLECTION in collections:
            # Erased before the purge is acknowledged: a purge answered 200 has taken effect here.
            await asyncio.to_thread(self.private.after_commit, applied, result.transaction_ids)
        for a, txid in zip(applied, result.transaction_ids, strict=True):
            if a.node == self.node_id and a.position is not None:
                waiting = self._waiting.pop(a.position, None)
                if waiting is not None:
                    pending, index = waiting
                    pending.results[index] = (a, txid)
                    if len(pending.results) == pending.count:
                        pending.settle()
        own = batch.positions.get(self.node_id)
        if own is not None and own > (self.boot, self.counter):
            # Someone with this node's key wrote at a later position than ours (a restored
            # backup, a copied key): move on past it, or every write of ours is a "replay".
            log.warning("envelopes of %s seen at position %s; moving past it", self.node_id, own)
            self.boot, self.counter = own[0] + 1, 0
        if COMPUTE_COLLECTION in collections:
            self.compute.wake()
        self.applied_size = result.size
        self.position = (result.size, batch.last_seq, batch.positions)
        self._clocks = batch.clocks
        self._latest_root = (result.size, result.root)
        marks = list(batch.marks)
        if batch.caught_up:  # caught up with the stream: sign its end too
            marks.append(result.size)
        if marks:
            self._to_sign.append((max(marks), result.size, result.root))
        self._applied_event.set()
        self._applied_event = asyncio.Event()
        if GOVERNANCE_COLLECTION in collections:
            self._sync_peers()
            await self._notify_state()
        assert self._tree_changed is not None  # noqa: S101
        self._tree_changed.set()

    async def wait_applied(self, size: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.applied_size < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            event = self._applied_event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)
        return True

    # --- checkpoints and cosignatures ---------------------------------------------------------
    async def _run_checkpointer(self) -> None:
        assert self._tree_changed is not None  # noqa: S101
        while True:
            await self._tree_changed.wait()
            self._tree_changed.clear()
            if not self._to_sign:
                continue
            size, applied, root = self._to_sign[-1]
            self._to_sign.clear()
            if self._latest is not None and size <= self._latest.size:
                continue
            if size != applied:
                root = await asyncio.to_thread(self.ledger.root_at, size)
            await self._sign_own(size, root)
            await asyncio.sleep(CHECKPOINT_PAUSE)  # under load: at most ~10 signatures a second

    async def _sign_own(self, size: int, root: bytes) -> None:
        """Sign this node's tree at ``size``; the organization cosigns it if it is the largest
        tree it has seen (a cosignature says so, with its time)."""
        checkpoint = Checkpoint(self.origin, size, root)
        tree = self._tree(checkpoint)
        if size > self.witness.size:
            await asyncio.to_thread(self.witness.advance, size, root)
            tree.signatures[self.cosigner.name] = self.cosigner.cosign(
                checkpoint.to_text(), int(time.time())
            )
        self._latest = tree
        await self._maybe_final(tree)
        for event in self._peer_events.values():
            event.set()

    def _tree(self, checkpoint: Checkpoint) -> _Tree:
        """The entry for a size of this node's own tree (created with this node's signature)."""
        tree = self._trees.get(checkpoint.size)
        if tree is None:
            tree = _Tree(
                checkpoint.size, checkpoint.root_hash, sign_checkpoint(checkpoint, self.signer)
            )
            self._trees[checkpoint.size] = tree
            harvested = self._harvest.pop((checkpoint.size, checkpoint.root_hash), None)
            if harvested:
                tree.signatures.update(harvested)
            for old in sorted(self._trees)[:-32]:  # keep the newest few for late cosignatures
                self._trees.pop(old, None)
            for key in [k for k in self._harvest if k[0] <= self._final_size]:
                del self._harvest[key]
        return tree

    def _quorum_note(self, tree: _Tree) -> str:
        return add_signatures(tree.note, list(tree.signatures.values()))

    async def _maybe_final(self, tree: _Tree) -> None:
        if tree.size <= self._final_size:
            return
        state = self.state
        members = [m for m in state.members.values() if m.name in tree.signatures]
        if len(members) < state.cosign_quorum():
            return
        note = self._quorum_note(tree)
        try:
            cosigned = open_cosigned_checkpoint(
                note,
                self.signer.verifier(),
                [m.cosigner for m in state.members.values()],
                not_after=_not_after(),
            )
        except AccordError as exc:
            log.error("cosignatures on checkpoint %d do not verify: %s", tree.size, exc)
            return
        if len(cosigned.cosigned) < state.cosign_quorum():
            return
        try:
            await asyncio.wrap_future(self.ledger.submit_final(tree.size, note))
        except AccordError as exc:
            log.error("cannot store final checkpoint %d: %s", tree.size, exc)
            return
        self._final_size = max(self._final_size, tree.size)

    # --- peers --------------------------------------------------------------------------------
    def _sync_peers(self) -> None:
        if self.applier is None or self.loop is None:
            return
        current = {n.node_id: n for n in self.state.nodes.values() if n.node_id != self.node_id}
        for node_id in list(self._peer_tasks):
            if node_id not in current:
                self._peer_tasks.pop(node_id).cancel()
                self._peer_events.pop(node_id, None)
        for node_id in current:
            if node_id not in self._peer_tasks:
                self._peer_events[node_id] = asyncio.Event()
                self._peer_tasks[node_id] = asyncio.create_task(
                    self._run_pusher(node_id), name=f"accord-push-{node_id}"
                )

    def _is_primary(self, node_id: str) -> bool:
        """Is ``node_id`` the peer right after this node in the ring of current node ids?

        Each node pushes every checkpoint to that one peer at once, and to the others only when
        the checkpoint is not final soon after: with a majority quorum, every node's checkpoint
        meets its quorum with one peer's cosignature, and the traffic stays one request per
        checkpoint instead of one per peer.
        """
        ring = sorted(self.state.nodes)
        if self.node_id not in ring or len(ring) < 2:
            return True
        return ring[(ring.index(self.node_id) + 1) % len(ring)] == node_id

    async def _run_pusher(self, node_id: str) -> None:
        """Send this node's newest checkpoint, with every cosignature known for it, to a peer's
        C2SP ``add-checkpoint``: the peer cosigns it (200) when it is the largest it has seen,
        and in any case learns the cosignatures it carries."""
        event = self._peer_events[node_id]
        pushed: tuple[int, int] = (0, 0)
        retried: tuple[int, int, int] = (0, 0, 0)
        holds_quorum = 0  # the largest size the peer is known to hold a quorum's cosignatures for
        timeout = aiohttp.ClientTimeout(total=10.0)
        connector = aiohttp.TCPConnector(ssl=self.peer_tls, limit=2)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), 1.0)
                event.clear()
                if not self._is_primary(node_id):
                    await asyncio.sleep(FALLBACK_DELAY)
                    tree = self._latest
                    if tree is None or tree.size <= self._final_size:
                        continue  # final without this peer: nothing to ask it
                tree = self._latest
                peer = self.state.nodes.get(node_id)
                if tree is None or peer is None:
                    continue
                key = (tree.size, len(tree.signatures))
                if key == pushed or tree.size <= holds_quorum:
                    continue  # nothing new for it: more cosignatures would not change its view
                old = self._peer_records.get(node_id, 0)
                if old > tree.size:
                    old, proof = 0, []  # it is ahead: it will say 409, and still learn from us
                else:
                    proof = await asyncio.to_thread(self.ledger.proof_between, old, tree.size)
                sent = set(tree.signatures)
                body = AddCheckpointRequest(
                    old, tuple(proof), self._quorum_note(tree).encode()
                ).to_bytes()
                try:
                    async with session.post(
                        peer.url.rstrip("/") + "/add-checkpoint",
                        data=body,
                        headers={"Content-Type": "text/plain"},
                    ) as response:
                        status = response.status
                        raw = await response.content.read(MAX_WITNESS_ANSWER + 1)
                    if len(raw) > MAX_WITNESS_ANSWER:
                        raise aiohttp.ClientPayloadError("the witness's answer is too long")
                    text = raw.decode("utf-8", errors="replace")
                except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                    log.debug("witness %s unreachable: %s", node_id, exc)
                    await asyncio.sleep(0.5)
                    event.set()
                    continue
                log.debug("push %d to %s: %d %s", tree.size, node_id, status, text[:80])
                if status == 200:
                    self._peer_records[node_id] = tree.size
                    self._take_cosignatures(tree, peer.member, text)
                    pushed = (tree.size, len(tree.signatures))
                    if peer.member in tree.signatures:  # it cosigned: it holds what we sent too
                        members = set(self.state.members)
                        if len((sent | {peer.member}) & members) >= self.state.cosign_quorum():
                            holds_quorum = tree.size
                    await self._maybe_final(tree)
                elif status == 409 and text.strip().isdigit() and text.strip().isascii():
                    record = int(text.strip())
                    self._peer_records[node_id] = record
                    if record <= tree.size and retried != (*key, record):
                        retried = (*key, record)  # at once from its size, once per record seen
                        event.set()
                    else:  # it is ahead of this checkpoint (or keeps moving): wait for a newer one
                        pushed = key
                elif status == 503:
                    await asyncio.sleep(0.2)
                    event.set()
                else:
                    log.warning(
                        "witness %s refused checkpoint %d: %d %s",
                        node_id,
                        tree.size,
                        status,
                        text.strip()[:200],
                    )
                    pushed = key
                    await asyncio.sleep(1.0)

    def _take_cosignatures(self, tree: _Tree, member: str, text: str) -> None:
        info = self.state.members.get(member)
        if info is None:
            return
        note = add_signatures(tree.note, [])
        try:
            candidate = note + "".join(
                line + "\n" for line in text.splitlines() if line.startswith("— ")
            )
            cosigned = open_cosigned_checkpoint(
                candidate, self.signer.verifier(), [info.cosigner], not_after=_not_after()
            )
        except AccordError as exc:
            log.warning("cosignature from %s does not verify: %s", member, exc)
            return
        if member in cosigned.cosigned:
            for sig in note_signatures(candidate)[1]:
                if sig.name == info.cosigner.name and sig.key_id == info.cosigner.key_id:
                    tree.signatures[member] = sig

    # --- catching up from peers, and trimming the stream ------------------------------------
    def _peer_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(verify=self.peer_tls, timeout=30.0)

    async def _peer_position(
        self, client: httpx.AsyncClient, url: str
    ) -> tuple[int, int, dict[str, tuple[int, int]], dict[str, int]]:
        response = await client.get(url.rstrip("/") + "/app/consortium/position")
        response.raise_for_status()
        raw = response.json()
        positions = {str(k): (int(v[0]), int(v[1])) for k, v in raw["positions"].items()}
        clocks = {str(k): int(v) for k, v in dict(raw.get("clocks", {})).items()}
        return int(raw["size"]), int(raw["streamSeq"]), positions, clocks

    async def _catch_up(self) -> int:
        """Fetch the entries this node misses from a peer, verified against a final checkpoint.

        Every fetched leaf is checked (canonical, the right seqno, its contents' hash), the tree
        they extend must be a prefix of a checkpoint the consortium's quorum cosigned (an RFC 9162
        consistency proof), and nothing is stored before its page verified. Returns the stream
        sequence to read on from.
        """
        from accord.core.entry import EntryMetadata
        from accord.core.merkle import leaf_hash, verify_consistency
        from accord.log.ledger import OrderedItem

        state = self.state
        policy = state.policy()
        peers = [n for n in state.nodes.values() if n.node_id != self.node_id]
        last_error: Exception | None = None
        async with self._peer_client() as client:
            for peer in peers:
                try:
                    size, stream_seq, positions, peer_clocks = await self._peer_position(
                        client, peer.url
                    )
                    own_size = self.ledger.size()
                    if size < own_size or (size == own_size and stream_seq + 1 < self._stream_gap):
                        continue
                    if size == own_size:
                        # The trimmed messages added no entry (clock heartbeats): only the stream
                        # position moves. Same trust as below: the peer's word, checked by every
                        # later root this node computes against the others'.
                        await asyncio.wrap_future(
                            self.ledger.submit_ordered(
                                [], meta=_position_meta(stream_seq, positions, peer_clocks)
                            )
                        )
                        await asyncio.to_thread(self._restore)
                        log.info("caught up from %s: no entries missed", peer.node_id)
                        return stream_seq + 1
                    final = None
                    deadline = time.monotonic() + 30
                    while final is None or final.checkpoint.size < size:
                        note = (
                            await client.get(peer.url.rstrip("/") + "/app/consortium/checkpoint")
                        ).text
                        final = policy.verify(note, not_after=_not_after())
                        if final.checkpoint.size < size:
                            if time.monotonic() > deadline:
                                raise OrderingUnavailable(f"{peer.node_id} is not final at {size}")
                            await asyncio.sleep(0.2)
                    target = final.checkpoint
                    edge = self.ledger.tree_edge()
                    began = time.perf_counter()
                    log.info(
                        "catching up from %s: entries %d..%d, verified against final checkpoint %d",
                        peer.node_id,
                        own_size + 1,
                        size,
                        target.size,
                    )
                    first = own_size + 1
                    while first <= size:
                        last = min(size, first + CATCH_UP_PAGE - 1)
                        response = await client.get(
                            peer.url.rstrip("/") + "/app/consortium/entries",
                            params={"first": str(first), "last": str(last)},
                        )
                        response.raise_for_status()
                        rows = response.json()["entries"]
                        if not rows or len(rows) > last - first + 1:
                            raise VerificationError(f"{peer.node_id} sent a wrong page")
                        last = first + len(rows) - 1  # a page may stop early (by bytes)
                        items = []
                        hashes = []
                        for offset, row in enumerate(rows):
                            leaf = base64.b64decode(row["leaf"], validate=True)
                            contents = base64.b64decode(row["contents"], validate=True)
                            try:  # parse, then require the canonical bytes (re-encoded)
                                meta = EntryMetadata.from_json(json.loads(leaf))
                            except ValueError as exc:
                                raise VerificationError(f"entry leaf is not JSON: {exc}") from exc
                            if meta.leaf() != leaf:
                                raise VerificationError(
                                    f"{peer.node_id} sent a leaf not in canonical form"
                                )
                            if meta.seqno != first + offset or meta.transaction_id.view != 1:
                                raise VerificationError(f"{peer.node_id} sent entry out of place")
                            if hashlib.sha256(contents).digest() != meta.contents_sha256:
                                raise VerificationError(
                                    f"{peer.node_id} sent contents that do not match entry "
                                    f"{meta.seqno}"
                                )
                            hashes.append(leaf_hash(leaf))
                            items.append(
                                OrderedItem(
                                    meta.collection_id,
                                    meta.tags,
                                    contents,
                                    meta.user_id,
                                    meta.timestamp_ms,
                                )
                            )
                        edge.append(hashes)
                        proof_response = await client.get(
                            peer.url.rstrip("/") + "/app/consortium/consistency",
                            params={"from": str(last), "to": str(target.size)},
                        )
                        proof_response.raise_for_status()
                        proof = [
                            base64.b64decode(h, validate=True)
                            for h in proof_response.json()["hashes"]
                        ]
                        verify_consistency(last, target.size, edge.root(), target.root_hash, proof)
                        meta_out = (
                            _position_meta(stream_seq, positions, peer_clocks)
                            if last == size
                            else None
                        )
                        await asyncio.wrap_future(self.ledger.submit_ordered(items, meta=meta_out))
                        first = last + 1
                    await asyncio.to_thread(self._restore)
                    self._applied_event.set()
                    spent = time.perf_counter() - began
                    log.info(
                        "caught up from %s to size %d: %d entries fetched and verified in %.2f s "
                        "(%.0f/s)",
                        peer.node_id,
                        size,
                        size - own_size,
                        spent,
                        (size - own_size) / spent if spent > 0 else 0.0,
                    )
                    return stream_seq + 1
                except (httpx.HTTPError, AccordError, ValueError, KeyError) as exc:
                    last_error = exc
                    log.warning("cannot catch up from %s: %s", peer.node_id, exc)
        raise OrderingUnavailable(f"no peer could bring this node up to date ({last_error})")

    async def _run_trimmer(self) -> None:
        """The lowest current node id trims the stream below what every node has applied.

        A node that does not answer holds the stream back, up to ``retention_messages``; past
        that the stream is trimmed to what the reachable nodes applied, and the absent node will
        catch up from a peer (verified) when it returns.
        """
        assert self.ordering is not None  # noqa: S101
        async with self._peer_client() as client:
            while True:
                await asyncio.sleep(TRIM_INTERVAL)
                try:
                    state = self.state
                    if not state.nodes or min(state.nodes) != self.node_id:
                        continue
                    applied = [self.position[1]]
                    missing = 0
                    for peer in state.nodes.values():
                        if peer.node_id == self.node_id:
                            continue
                        try:
                            applied.append((await self._peer_position(client, peer.url))[1])
                        except (httpx.HTTPError, ValueError, KeyError):
                            missing += 1
                    info = await self.ordering.stream_info(self.settings.stream)
                    if missing and info["messages"] <= self.retention_messages:
                        continue
                    floor = min(applied)
                    if floor >= info["first_seq"]:
                        await self.ordering.purge_below(self.settings.stream, floor + 1)
                        log.info("trimmed the stream below %d", floor + 1)
                except Exception as exc:  # trimming is housekeeping: never fatal
                    log.warning("trimming the stream failed: %s", exc)

    def position_json(self) -> dict[str, object]:
        size, stream_seq, positions = self.position
        return {
            "node": self.node_id,
            "size": size,
            "streamSeq": stream_seq,
            "positions": {k: list(v) for k, v in sorted(positions.items())},
            "clocks": dict(sorted(self._clocks.items())),
        }

    def entries_json(self, first: int, last: int) -> dict[str, object]:
        if first < 1 or last < first or last - first >= CATCH_UP_PAGE or last > self.applied_size:
            raise InvalidRequest(
                f"entries {first}..{last}: at most {CATCH_UP_PAGE} of the {self.applied_size} "
                "applied"
            )
        rows = self.ledger.storage.get_entries(first, last)
        out: list[dict[str, str]] = []
        total = 0
        for r in rows:  # at least one entry, then stop before a page grows past its byte budget
            total += len(r.leaf) + len(r.contents)
            if out and total > CATCH_UP_PAGE_BYTES:
                break
            out.append(
                {
                    "leaf": base64.b64encode(r.leaf).decode(),
                    "contents": base64.b64encode(r.contents).decode(),
                }
            )
        return {"entries": out}

    # --- the witness side ---------------------------------------------------------------------
    async def add_checkpoint(self, body: bytes, peer_fingerprint: str | None) -> str:
        """C2SP tlog-witness ``add-checkpoint`` for this organization: the cosignature line.

        The spec's checks in the spec's order, with its statuses, plus the consortium's: the
        caller must be a current node (403, before anything else), and this node cosigns only a
        tree it applied itself and computed the same root for (422 and evidence otherwise; 503
        while it has not applied that size yet). Cosignatures the request carries from other
        members are collected either way: with this node's they may make the checkpoint final.
        """
        from accord.core.merkle import verify_consistency

        state = self.state
        caller = (
            None if peer_fingerprint is None else state.node_by_tls_fingerprint(peer_fingerprint)
        )
        if caller is None:
            raise WitnessRefused(403, "only the consortium's current nodes may submit checkpoints")
        request = AddCheckpointRequest.from_bytes(body)
        try:
            text = request.note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WitnessRefused(400, "the checkpoint is not UTF-8") from exc
        origin = text.split("\n", 1)[0]
        if origin != self.origin:
            raise WitnessRefused(404, f"this witness does not know the log {origin[:100]!r}")
        checkpoint: Checkpoint | None = None
        signed_by = None
        try:
            lines = note_signatures(text)[1]
        except AccordError as exc:
            raise WitnessRefused(400, f"the checkpoint is not a signed note: {exc}") from exc
        named = {(sig.name, sig.key_id) for sig in lines}
        for n in state.nodes.values():
            if n.node_id in self.distrusted or (n.log_key.name, n.log_key.key_id) not in named:
                continue  # not among its signatures, or caught equivocating (no longer counts)
            try:
                checkpoint = open_checkpoint(text, n.log_key)
                signed_by = n
                break
            except AccordError:
                continue
        if checkpoint is None or signed_by is None:
            raise WitnessRefused(
                403,
                "no current node's key signed this checkpoint (keys caught equivocating do not "
                "count)",
            )
        if request.old_size > checkpoint.size:
            raise WitnessRefused(400, "the old size is larger than the checkpoint's size")
        # A node cosigns its own checkpoint before pushing it: when the caller pushes its own,
        # its witness record is at least this size, which saves our next push to it a 409.
        if caller.node_id == signed_by.node_id and checkpoint.size > self._peer_records.get(
            signed_by.node_id, 0
        ):
            self._peer_records[signed_by.node_id] = checkpoint.size
        if checkpoint.size == 0 and checkpoint.root_hash != empty_root():
            raise WitnessRefused(422, "a size-0 checkpoint must have the empty tree's root")
        record = self.witness.size
        if request.old_size != record and record < checkpoint.size:
            # The caller's old size is stale and it will retry at once from ours, carrying the
            # same cosignatures: answer before the costly checks. (A caller behind our record
            # gets the full checks first, so the cosignatures it brings are still collected.)
            raise _stale_old_size(record)
        if not await self.wait_applied(checkpoint.size, WITNESS_WAIT):
            raise WitnessRefused(503, "this node has not applied that size yet; retry shortly")
        own_root = await asyncio.to_thread(self.ledger.root_at, checkpoint.size)
        if own_root != checkpoint.root_hash:
            await asyncio.to_thread(
                self._record_evidence, text, checkpoint, own_root, signed_by.node_id
            )
            raise WitnessRefused(
                422,
                f"checkpoint {checkpoint.size} signed by {signed_by.node_id} has a root this "
                "node did not compute: not cosigned, recorded as evidence",
            )
        await self._collect(text, checkpoint, signed_by.log_key)
        record = self.witness.size
        if request.old_size != record:
            raise _stale_old_size(record)
        if request.old_size == checkpoint.size:
            if checkpoint.root_hash != self.witness.root:
                raise WitnessRefused(422, "same size as the last cosigned, another root")
        elif request.old_size == 0:
            if request.proof:
                raise WitnessRefused(422, "no consistency proof from the empty tree")
        else:
            try:
                verify_consistency(
                    request.old_size,
                    checkpoint.size,
                    self.witness.root,
                    checkpoint.root_hash,
                    list(request.proof),
                )
            except AccordError as exc:
                raise WitnessRefused(422, f"the consistency proof does not verify: {exc}") from exc
        await asyncio.to_thread(self.witness.advance, checkpoint.size, checkpoint.root_hash)
        own = self.cosigner.cosign(checkpoint.to_text(), int(time.time()))
        tree = self._trees.get(checkpoint.size)
        if tree is not None:
            tree.signatures[self.cosigner.name] = own
            await self._maybe_final(tree)
        elif checkpoint.size > self._final_size:
            tree = self._tree(checkpoint)
            tree.signatures[self.cosigner.name] = own
            await self._maybe_final(tree)
        return own.to_line()

    async def _collect(self, text: str, checkpoint: Checkpoint, log_key: Verifier) -> None:
        """Keep the members' cosignatures a checkpoint of this node's own tree carries."""
        state = self.state
        if checkpoint.size <= self._final_size:
            return
        try:
            cosigned = open_cosigned_checkpoint(
                text, log_key, [m.cosigner for m in state.members.values()], not_after=_not_after()
            )
        except AccordError as exc:
            log.warning("cosignatures on checkpoint %d do not verify: %s", checkpoint.size, exc)
            return
        found: dict[str, NoteSignature] = {}
        for sig in note_signatures(text)[1]:
            for m in state.members.values():
                if (
                    m.name in cosigned.cosigned
                    and sig.name == m.cosigner.name
                    and sig.key_id == m.cosigner.key_id
                ):
                    found[m.name] = sig
        found.pop(self.cosigner.name, None)  # this organization's own come only from itself
        if not found:
            return
        tree = self._trees.get(checkpoint.size)
        if tree is None:
            tree = self._tree(checkpoint)
        for name, sig in found.items():
            tree.signatures.setdefault(name, sig)
        await self._maybe_final(tree)

    def _record_evidence(
        self, note: str, checkpoint: Checkpoint, own_root: bytes, signer: str
    ) -> None:
        self.evidence_dir.mkdir(parents=True, exist_ok=True)
        record = {
            "format": "accord.evidence.v1",
            "signer": signer,
            "size": checkpoint.size,
            "their_note": note,
            "our_root": own_root.hex(),
            "observed_at": int(time.time()),
        }
        path = self.evidence_dir / f"{signer}-{checkpoint.size}.json"
        path.write_text(json.dumps(record, indent=2) + "\n")
        self.distrusted.add(signer)
        log.error(
            "EVIDENCE: %s signed checkpoint %d with a root this node did not compute (%s)",
            signer,
            checkpoint.size,
            path,
        )
        if self.loop is not None:
            contents = json.dumps(record, sort_keys=True, separators=(",", ":"))

            def enqueue() -> None:
                evidence = [("evidence", "accord", "accord.evidence", (), contents)]
                self._enqueue(evidence, list).add_done_callback(_retrieve)  # type: ignore[arg-type]

            self.loop.call_soon_threadsafe(enqueue)


def _stale_old_size(record: int) -> WitnessRefused:
    """tlog-witness's 409: the old size is not this witness's record (the body says which is)."""
    return WitnessRefused(
        409,
        f"this witness last cosigned size {record}",
        body=f"{record}\n",
        content_type=SIZE_CONTENT_TYPE,
    )


def _retrieve(future: WriteFuture[Any]) -> None:
    """Take a future's outcome that nobody awaits (asyncio would warn of a lost exception)."""
    if not future.cancelled():
        future.exception()


def _transaction_ids(leaves: Leaves) -> list[TransactionId]:
    """A write's ids; AuthError if the consortium refused any of its entries."""
    for applied, _ in leaves:
        if not applied.accepted:
            raise AuthError(f"the consortium refused the write: {applied.reason}")
    return [txid for _, txid in leaves]


CLOCK_SKEW = 300
"""Seconds a cosignature may be dated ahead of this machine's clock and still count."""


def _not_after() -> int:
    return int(time.time()) + CLOCK_SKEW


def _position_meta(
    stream_seq: int, positions: dict[str, tuple[int, int]], clocks: dict[str, int]
) -> dict[str, str]:
    return {
        STREAM_SEQ_KEY: str(stream_seq),
        "consortium.positions": json.dumps(
            {k: list(v) for k, v in sorted(positions.items())}, separators=(",", ":")
        ),
        "consortium.clocks": json.dumps(dict(sorted(clocks.items())), separators=(",", ":")),
    }


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
