"""Applying the ordered stream: from a message of envelopes to the leaves every node appends.

This is the deterministic heart of a consortium node, and pure: :class:`Applier` holds the
replicated state after the last applied entry and turns each ordered message into the same
:class:`~accord.log.ledger.OrderedItem` values on every node. Nothing here reads a clock, a file or
this node's configuration; an authorization decision for entry *n* uses the state after *n - 1*.

Every envelope becomes exactly one leaf:

* an accepted ``entry`` envelope: the user's entry, in its collection, with the envelope's user;
* a ``governance`` envelope (a member-signed action) or a ``users`` envelope (an Administrator's
  user change): a leaf in :data:`GOVERNANCE_COLLECTION` holding the action as sent, whether the
  fold accepts it or not; replaying those leaves rebuilds the state;
* an ``evidence`` envelope: a leaf in :data:`EVIDENCE_COLLECTION`;
* anything invalid (bad line, unknown or removed node, bad signature, replay, a user without the
  role, a bad field): a rejection record in :data:`REJECTED_COLLECTION` naming the envelope by its
  SHA-256 and saying why, identical on every node.

A leaf's timestamp is ``max(ledger time, envelope timestamp)``: time never runs backwards, and it
comes from the envelope, not from the applying node.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from accord.core.canonical import canonicalize, parse_canonical
from accord.core.consortium import ConsortiumState, Node, apply_entry, genesis_state
from accord.core.entry import (
    DEFAULT_MAX_CONTENTS,
    encode_contents,
    validate_collection_id,
    validate_tags,
    validate_user_id,
)
from accord.core.envelope import BadLine, Line, Message, decode_message, message_id
from accord.core.private import (
    PURGE_COLLECTION,
    check_sealed_slots,
    parse_purge,
    parse_write,
    private_state,
)
from accord.errors import AccordError, MalformedInput
from accord.log.ledger import OrderedItem

RESERVED_PREFIX = "accord."
DOCUMENTS_COLLECTION = "accord.documents"
"""An ``accord.*`` collection an entry may name: document records, written in their user's name
(``docs/formats.md`` §19; folded by :mod:`accord.documents.records`)."""
COMPUTE_COLLECTION = "accord.compute"
"""Joint-computation job records, written in their user's name (``docs/formats.md`` §21;
folded by :mod:`accord.compute.jobs`)."""
COMPUTE_ADMIN_TYPES = frozenset({"propose", "accept", "decline"})
USER_RECORD_COLLECTIONS = frozenset({DOCUMENTS_COLLECTION, PURGE_COLLECTION, COMPUTE_COLLECTION})
"""The ``accord.*`` collections whose records users write (each checked by its own rules)."""
PRIVATE_WRITE_SLACK = 64 * 1024


def private_write_limit(max_contents: int) -> int:
    """The largest ordered private write for a contents limit: sealed contents are base64 of
    the sealed JSON, whose ciphertext is itself base64 of the encrypted canonical JSON of contents
    and salt, in which a character takes up to 6 bytes (6 × 4/3 × 4/3 < 11); plus room for the
    wrapped keys. The writing node checks it before ordering."""
    return 11 * max_contents + PRIVATE_WRITE_SLACK


GOVERNANCE_COLLECTION = "accord.governance"
REJECTED_COLLECTION = "accord.rejected"
EVIDENCE_COLLECTION = "accord.evidence"
SYSTEM_USER = "accord"
GENESIS_TAG = "kind=genesis"
KIND_TAGS = {"governance": "kind=governance", "users": "kind=users"}
NODE_TAG = "node="  # governance leaves name the node that sent them (its member matters)
REJECTION_FORMAT = "accord.rejection.v1"
MAX_MESSAGE_ENVELOPES = 4096
"""More envelopes than any node packs into one message (it packs at most 2000)."""

Position = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Applied:
    """One leaf of an applied message, and what it means for the node that sent the envelope."""

    item: OrderedItem
    node: str | None  # the envelope's node (None for a line that did not parse)
    position: Position | None
    accepted: bool
    reason: str = ""
    proposal_id: str | None = None
    proposal_state: str | None = None
    sealed: bytes | None = None
    """A private entry's sealed contents: kept by reader organizations' nodes only, never in
    the leaf or the ledger (``item`` holds the public record)."""


@dataclass
class Applier:
    """The replicated state and the per-node envelope positions, folded entry by entry."""

    state: ConsortiumState
    next_seqno: int
    ledger_time: int
    positions: dict[str, Position] = field(default_factory=dict)
    max_contents: int = DEFAULT_MAX_CONTENTS
    clocks: dict[str, int] = field(default_factory=dict)
    genesis_time: int = 0
    # What the state says of an entry's (user, collection, tags, member), for the state it was
    # computed under: a message's entries mostly share them (see _entry_verdict).
    _verdicts: dict[tuple[str, str, tuple[str, ...], str], tuple[str | None, str | None]] = field(
        default_factory=dict, repr=False, compare=False
    )
    _verdicts_of: ConsortiumState | None = field(default=None, repr=False, compare=False)

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def from_genesis(cls, genesis: str, timestamp_ms: int) -> Applier:
        state = genesis_state(genesis, seqno=1, timestamp_ms=timestamp_ms)
        return cls(state, next_seqno=2, ledger_time=timestamp_ms, genesis_time=timestamp_ms)

    @staticmethod
    def genesis_item(genesis: str, timestamp_ms: int) -> OrderedItem:
        return OrderedItem(
            GOVERNANCE_COLLECTION, (GENESIS_TAG,), genesis.encode(), SYSTEM_USER, timestamp_ms
        )

    @classmethod
    def restore(
        cls,
        governance: Iterable[tuple[int, int, tuple[str, ...], str, str]],
        *,
        size: int,
        ledger_time: int,
        meta: Mapping[str, str],
    ) -> Applier:
        """Rebuild from stored leaves: ``(seqno, timestamp, tags, contents, user)`` of every
        governance-collection entry in order, the tree size, the last leaf's time, and the meta
        stored with the last batch."""
        applier: Applier | None = None
        for seqno, timestamp, tags, contents, user in governance:
            if applier is None:
                if seqno != 1 or GENESIS_TAG not in tags:
                    raise MalformedInput("entry 1 of a consortium ledger must be its genesis")
                applier = cls.from_genesis(contents, timestamp)
                continue
            applier.state = replay_governance(applier.state, seqno, timestamp, tags, contents, user)
        if applier is None:
            raise MalformedInput("the ledger holds no genesis entry")
        applier.next_seqno = size + 1
        applier.ledger_time = ledger_time
        applier.positions = decode_positions(meta.get(POSITIONS_KEY, "{}"))
        try:
            raw_clocks = json.loads(meta.get(CLOCKS_KEY, "{}"))
            applier.clocks = {str(k): int(v) for k, v in raw_clocks.items()}
        except (ValueError, TypeError, AttributeError) as exc:
            raise MalformedInput(f"stored node clocks are corrupt: {exc}") from exc
        return applier

    # --- applying -----------------------------------------------------------------------------
    def apply_message(
        self, data: bytes, own: Message | None = None, own_key: bytes | None = None
    ) -> list[Applied]:
        """The leaves of one ordered message, one per envelope, in order.

        A message that is not authentic as a whole (unknown node, bad signature, a header that
        does not parse, more envelopes than a node ever packs) becomes ONE rejection record for
        the whole message: whatever its size, it cannot make every node write many entries.

        ``own`` is what :func:`decode_message` returns for ``data`` when this node encoded it
        (:func:`encode_own`; its ``signed`` bytes may be left empty), ``own_key`` the raw public
        key it signed it with. It is used only while the state names that very key for the node,
        and then the signature is not checked again (it verifies by construction); otherwise the
        bytes are decoded and checked as any node's. The outcome is the same either way.
        """
        if own is not None:
            current = self.state.node(own.node)
            if own_key is None or current is None or current.log_key.public_key_bytes != own_key:
                own = None
        message = own if own is not None else decode_message(data)
        refusal: str | None = None
        node = self.state.node(message.node) if message.node else None
        if not message.node:
            refusal = "malformed message"
        elif node is None:
            refusal = f"{message.node} is not a current node"
        elif len(message.lines) > MAX_MESSAGE_ENVELOPES:
            refusal = f"more than {MAX_MESSAGE_ENVELOPES} envelopes in one message"
        elif own is None:
            try:
                message.verify(node.log_key)
            except AccordError:
                refusal = "the node's signature does not verify"
        if refusal is not None:
            reason = refusal
            if not message.node and isinstance(message.lines[0], BadLine):
                reason = f"malformed envelope: {message.lines[0].reason}"
            rejected = self._reject(message_id(data), message.node or None, None, reason)
            self.next_seqno += 1
            return [rejected]
        assert node is not None  # noqa: S101 - refused above otherwise
        # The node's clock moves to its newest envelope in the message, then the consortium time
        # (the lower median of the clocks) is taken once for the whole message.
        newest = max(
            (line.envelope.timestamp_ms for line in message.lines if isinstance(line, Line)),
            default=0,
        )
        self.clocks[node.node_id] = max(self.clocks.get(node.node_id, 0), newest)
        self.ledger_time = max(self.ledger_time, self.consortium_time())
        out: list[Applied] = []
        for line in message.lines:
            # The state may change within the message (a governance envelope that removes this
            # very node): each envelope is judged by the node as the state has it right then.
            current = self.state.node(node.node_id)
            if current is None:
                applied: Applied | None = self._reject(
                    line.digest,
                    node.node_id,
                    line.envelope.position if isinstance(line, Line) else None,
                    f"{node.node_id} is no longer a current node",
                )
            else:
                applied = self._apply_line(line, current)
            if applied is not None:  # a clock envelope makes no leaf
                out.append(applied)
                self.next_seqno += 1
        return out

    def _reject(
        self, digest: str, node: str | None, position: Position | None, reason: str
    ) -> Applied:
        record = canonicalize(
            {"digest": digest, "format": REJECTION_FORMAT, "node": node, "reason": reason}
        )
        item = OrderedItem(REJECTED_COLLECTION, (), record, SYSTEM_USER, self.ledger_time)
        return Applied(item, node, position, False, reason)

    def consortium_time(self) -> int:
        """The lower median of the current nodes' clocks (their newest envelope timestamps).

        One node, or any minority, that sets its clock ahead cannot move it: a leaf's time is
        ``max(ledger time, this)``, so time never runs backwards and never runs ahead of what a
        majority of nodes say.
        """
        clocks = sorted(self.clocks.get(n, self.genesis_time) for n in self.state.nodes)
        return clocks[(len(clocks) - 1) // 2] if clocks else self.ledger_time

    def _apply_line(self, line: Line | BadLine, node: Node) -> Applied | None:
        if isinstance(line, BadLine):
            return self._reject(line.digest, None, None, f"malformed envelope: {line.reason}")
        env = line.envelope
        position = env.position
        last = self.positions.get(env.node)
        if last is not None and position <= last:
            return self._reject(
                line.digest,
                env.node,
                position,
                "replayed or reordered envelope (position not increasing)",
            )
        self.positions[env.node] = position
        timestamp = self.ledger_time
        if env.kind == "clock":
            return None
        if env.kind == "entry":
            return self._apply_entry(line, timestamp, node)
        if env.kind in KIND_TAGS:
            return self._apply_governance(line, timestamp, node)
        return self._apply_evidence(line, timestamp)

    def _apply_entry(self, line: Line, timestamp: int, node: Node) -> Applied:
        env = line.envelope
        before, after = self._entry_verdict(env.user_id, env.collection_id, env.tags, node.member)
        if before is not None:
            return self._reject(line.digest, env.node, env.position, before)
        private = private_state(self.state.extensions).get(env.collection_id, self.next_seqno)
        limit = private_write_limit(self.max_contents) if private else self.max_contents
        try:
            contents = encode_contents(env.contents, limit)
        except AccordError as exc:
            return self._reject(line.digest, env.node, env.position, str(exc))
        if after is not None:
            return self._reject(line.digest, env.node, env.position, after)
        sealed = None
        try:
            if private is not None:
                if node.member not in private.readers:
                    raise MalformedInput(
                        f"collection {env.collection_id} is private to "
                        f"{', '.join(private.readers)}: {node.member} may not write to it"
                    )
                # Every node derives the same leaf: the public record, never the sealed bytes.
                record, sealed = parse_write(env.contents, env.collection_id)
                check_sealed_slots(sealed, self._reader_keys(private.readers))
                contents = record.to_bytes()
            elif env.collection_id == PURGE_COLLECTION:
                self._check_purge(env.contents, env.user_id, node.member)
            elif env.collection_id == COMPUTE_COLLECTION:
                self._check_compute(env.contents, env.user_id)
        except AccordError as exc:
            return self._reject(line.digest, env.node, env.position, str(exc))
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            # A check that did not expect this shape: the same refusal on every node, never a
            # halt of the applier (which would stop the whole consortium on one record).
            return self._reject(
                line.digest, env.node, env.position, f"malformed record: {type(exc).__name__}"
            )
        item = OrderedItem(env.collection_id, env.tags, contents, env.user_id, timestamp)
        return Applied(item, env.node, env.position, True, sealed=sealed)

    def _reader_keys(self, readers: tuple[str, ...]) -> dict[str, bytes]:
        keys: dict[str, bytes] = {}
        for reader in readers:
            member = self.state.members.get(reader)
            if member is None or member.encryption_key is None:
                raise MalformedInput(f"reader {reader} has no encryption key")
            keys[reader] = member.encryption_key
        return keys

    def _check_compute(self, contents: str, user: str) -> None:
        """A job record that proposes, accepts or declines is an Administrator's, judged here by
        the state at the entry (the job fold checks everything else)."""
        try:
            record = parse_canonical(contents.encode("utf-8"))
        except AccordError as exc:
            raise MalformedInput(f"a compute record: {exc}") from None
        if not isinstance(record, dict) or record.get("format") != "accord.compute.v1":
            raise MalformedInput("a compute record is accord.compute.v1 JSON")
        kind = record.get("type")
        if not isinstance(kind, str):
            raise MalformedInput("a compute record's type is a string")
        if kind in COMPUTE_ADMIN_TYPES and not self.state.is_admin(user):
            raise MalformedInput(f"only an Administrator may {kind} a job")

    def _check_purge(self, contents: str, user: str, member: str) -> None:
        """A purge record is written by an Administrator of one of the collection's readers."""
        purge = parse_purge(contents)
        if purge.seqno >= self.next_seqno:
            raise MalformedInput(f"a purge names an earlier entry, not {purge.transaction_id}")
        private = private_state(self.state.extensions).get(purge.collection_id)
        if private is None:
            raise MalformedInput(f"collection {purge.collection_id} is not private")
        if not self.state.is_admin(user) or member not in private.readers:
            raise MalformedInput(
                f"only an Administrator of a reader of {purge.collection_id} "
                f"({', '.join(private.readers)}) may purge its entries"
            )

    def _entry_verdict(
        self, user: str, collection: str, tags: tuple[str, ...], member: str
    ) -> tuple[str | None, str | None]:
        """Why an entry with these fields is refused, checked in order: the user, collection and
        tags fields (before the contents are), then the reserved collections, the user's role and
        organization (after); ``None`` where they pass. Remembered for the current state."""
        if self._verdicts_of is not self.state or len(self._verdicts) > 4096:
            self._verdicts = {}
            self._verdicts_of = self.state
        key = (user, collection, tags, member)
        verdict = self._verdicts.get(key)
        if verdict is not None:
            return verdict
        before = after = None
        try:
            validate_user_id(user)
            validate_collection_id(collection)
            validate_tags(tags)
        except AccordError as exc:
            before = str(exc)
        if collection.startswith(RESERVED_PREFIX) and collection not in USER_RECORD_COLLECTIONS:
            after = f"collection {collection} is reserved"
        elif not self.state.may_write(user):
            after = f"user {user} may not write"
        else:
            owner = self.state.member_of(user)
            if owner != member:  # a node writes only as its own organization's users
                after = f"user {user} belongs to {owner}, not to {member} whose node sent it"
        verdict = self._verdicts[key] = (before, after)
        return verdict

    def _apply_governance(self, line: Line, timestamp: int, node: Node) -> Applied:
        env = line.envelope
        try:
            user = validate_user_id(env.user_id)
            contents = encode_contents(env.contents, self.max_contents)
        except AccordError as exc:
            return self._reject(line.digest, env.node, env.position, str(exc))
        self.state, outcome = apply_entry(
            self.state,
            seqno=self.next_seqno,
            timestamp_ms=timestamp,
            kind=env.kind,
            contents=env.contents,
            user_id=user,
            member=node.member,
        )
        tags = (KIND_TAGS[env.kind], f"{NODE_TAG}{node.node_id}")
        item = OrderedItem(GOVERNANCE_COLLECTION, tags, contents, user, timestamp)
        return Applied(
            item,
            env.node,
            env.position,
            outcome.accepted,
            outcome.reason,
            outcome.proposal_id,
            outcome.proposal_state,
        )

    def _apply_evidence(self, line: Line, timestamp: int) -> Applied:
        env = line.envelope
        try:
            contents = encode_contents(env.contents, self.max_contents)
        except AccordError as exc:
            return self._reject(line.digest, env.node, env.position, str(exc))
        item = OrderedItem(EVIDENCE_COLLECTION, (), contents, SYSTEM_USER, timestamp)
        return Applied(item, env.node, env.position, True)

    def meta(self, stream_seq: int) -> dict[str, str]:
        """What is stored atomically with the batch that ends at ``stream_seq``."""
        return {
            STREAM_SEQ_KEY: str(stream_seq),
            POSITIONS_KEY: encode_positions(self.positions),
            CLOCKS_KEY: json.dumps(dict(sorted(self.clocks.items())), separators=(",", ":")),
        }


def replay_governance(
    state: ConsortiumState,
    seqno: int,
    timestamp: int,
    tags: tuple[str, ...],
    contents: str,
    user: str,
) -> ConsortiumState:
    """The state after one stored entry of :data:`GOVERNANCE_COLLECTION` (not the genesis), as
    the applier folded it when it was ordered: what reading the state at any entry needs."""
    kind = "users" if KIND_TAGS["users"] in tags else "governance"
    sender = next((t[len(NODE_TAG) :] for t in tags if t.startswith(NODE_TAG)), None)
    sending = state.node(sender) if sender else None
    state, _ = apply_entry(
        state,
        seqno=seqno,
        timestamp_ms=timestamp,
        kind=kind,
        contents=contents,
        user_id=user,
        member=sending.member if sending else None,
    )
    return state


STREAM_SEQ_KEY = "consortium.stream_seq"
CLOCKS_KEY = "consortium.clocks"
POSITIONS_KEY = "consortium.positions"


def encode_positions(positions: Mapping[str, Position]) -> str:
    return json.dumps({k: list(v) for k, v in sorted(positions.items())}, separators=(",", ":"))


def decode_positions(text: str) -> dict[str, Position]:
    try:
        raw = json.loads(text)
        return {str(k): (int(v[0]), int(v[1])) for k, v in raw.items()}
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise MalformedInput(f"stored envelope positions are corrupt: {exc}") from exc
