"""Envelopes: a write as a consortium node hands it to the ordering service, signed by the node.

A node that accepts a client's write wraps it in an envelope, signs it with its node key (the
same Ed25519 key that signs its checkpoints) and publishes it to the ordering service. Every node
applies the ordered envelopes and derives each leaf from the envelope alone, so the envelope holds
everything that enters a leaf: the user, the collection, the tags, the contents and the node's
timestamp. ``docs/formats.md`` §15 specifies the bytes::

    body      = RFC 8785 canonical JSON of
                {"boot":<ms>,"collection":"...","contents":"...","counter":<n>,
                 "format":"accord.envelope.v1","kind":"entry","node":"<node id>",
                 "tags":[...],"timestamp":<ms>,"user":"<user id>"}
                (no newline: canonical JSON escapes it)
    signed    = b"accord.envelope.v1\\n" + node + b"\\n" + body_1 + b"\\n" + ... + body_n + b"\\n"
    message   = b"accord.envelopes.v1\\n" + node + b" " + base64(Ed25519(signed)) + b"\\n"
                + body_1 + b"\\n" + ... + body_n + b"\\n"

A node packs many envelopes into one message and signs the message once (one signature covers
every envelope in it, in order).

``(boot, counter)`` orders one node's envelopes: ``boot`` is when the node process started
(milliseconds), ``counter`` counts from 1 within a boot. Applying nodes accept a node's envelopes
only in strictly increasing ``(boot, counter)`` order, so a replayed or re-delivered envelope is
refused the same way everywhere.

Pure code: the node id, time and counters are passed in; verifiers raise.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from accord.core.canonical import canonicalize
from accord.core.note import Signer, Verifier
from accord.errors import MalformedInput

ENVELOPE_FORMAT = "accord.envelope.v1"
MESSAGE_MAGIC = b"accord.envelopes.v1\n"
SIGNATURE_CONTEXT = b"accord.envelope.v1\n"
KINDS = ("entry", "governance", "users", "evidence", "clock")
MAX_COUNTER = (1 << 53) - 1
_KEYS = frozenset(
    {
        "boot",
        "collection",
        "contents",
        "counter",
        "format",
        "kind",
        "node",
        "tags",
        "timestamp",
        "user",
    }
)
_NODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
_encode_str = json.encoder.encode_basestring
# What json.loads runs for one value, without its wrapping (typeshed does not declare it).
_scan_once: Callable[[str, int], tuple[Any, int]] = json.decoder.JSONDecoder().scan_once  # type: ignore[attr-defined]
_new = object.__new__
_set = object.__setattr__


def _int_field(obj: dict[str, object], key: str, low: int) -> int:
    value = obj[key]
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= MAX_COUNTER:
        raise MalformedInput(f"envelope field {key!r} must be an integer >= {low}")
    return value


@dataclass(frozen=True, slots=True)
class Envelope:
    """One write, as the node that accepted it describes it (see the module docstring)."""

    kind: str
    node: str
    boot: int
    counter: int
    timestamp_ms: int
    user_id: str
    collection_id: str
    tags: tuple[str, ...]
    contents: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise MalformedInput("unknown envelope kind")
        if not isinstance(self.node, str) or not _NODE_ID.fullmatch(self.node):
            raise MalformedInput("malformed node id in envelope")
        for value, low in ((self.boot, 0), (self.counter, 1), (self.timestamp_ms, 0)):
            if (
                not isinstance(value, int)
                or isinstance(value, bool)
                or not low <= value <= MAX_COUNTER
            ):
                raise MalformedInput("envelope positions and times are integers in range")
        if (
            not isinstance(self.user_id, str)
            or not isinstance(self.collection_id, str)
            or not isinstance(self.contents, str)
            or not isinstance(self.tags, tuple)
            or (self.tags and not all(isinstance(x, str) for x in self.tags))
        ):
            raise MalformedInput("envelope user, collection, contents and tags are strings")

    def body(self) -> bytes:
        """The canonical JSON body that the node signs (RFC 8785; keys already in order).

        Built by hand for speed with json's C string encoder, which escapes exactly as RFC 8785
        does for these values (a test cross-checks it against the generic canonicalizer).
        """
        tags = ",".join(_encode_str(t) for t in self.tags)
        text = (
            f'{{"boot":{self.boot},"collection":{_encode_str(self.collection_id)},'
            f'"contents":{_encode_str(self.contents)},"counter":{self.counter},'
            f'"format":"{ENVELOPE_FORMAT}","kind":"{self.kind}","node":"{self.node}",'
            f'"tags":[{tags}],"timestamp":{self.timestamp_ms},"user":{_encode_str(self.user_id)}}}'
        )
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise MalformedInput("an envelope's text is not valid Unicode") from exc

    def canonical_body(self) -> bytes:
        """The same body through the generic RFC 8785 canonicalizer (for cross-checks)."""
        return canonicalize(
            {
                "boot": self.boot,
                "collection": self.collection_id,
                "contents": self.contents,
                "counter": self.counter,
                "format": ENVELOPE_FORMAT,
                "kind": self.kind,
                "node": self.node,
                "tags": list(self.tags),
                "timestamp": self.timestamp_ms,
                "user": self.user_id,
            }
        )

    @property
    def position(self) -> tuple[int, int]:
        """Where the envelope stands among its node's envelopes."""
        return (self.boot, self.counter)

    @classmethod
    def from_body(cls, body: bytes) -> Envelope:
        """Parse a body; only its shape is checked here (the applying node checks the rest).

        The node's signature covers these exact bytes, so every node parses the same bytes the
        same way; the stdlib parser (C) is enough here, canonical form is not re-checked.
        """
        try:
            obj = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise MalformedInput(f"an envelope body is not JSON: {exc}") from exc
        if not isinstance(obj, dict) or set(obj) != _KEYS:
            raise MalformedInput(f"an envelope has exactly the keys {sorted(_KEYS)}")
        if obj["format"] != ENVELOPE_FORMAT:
            raise MalformedInput("unknown envelope format")
        kind, node, user = obj["kind"], obj["node"], obj["user"]
        collection, contents, tags = obj["collection"], obj["contents"], obj["tags"]
        if kind not in KINDS:
            raise MalformedInput("unknown envelope kind")
        if not isinstance(node, str) or not _NODE_ID.fullmatch(node):
            raise MalformedInput("malformed node id in envelope")
        if not isinstance(user, str) or not isinstance(collection, str):
            raise MalformedInput("envelope user and collection must be strings")
        if not isinstance(contents, str):
            raise MalformedInput("envelope contents must be a string")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise MalformedInput("envelope tags must be a list of strings")
        return cls(
            kind=kind,
            node=node,
            boot=_int_field(obj, "boot", 0),
            counter=_int_field(obj, "counter", 1),
            timestamp_ms=_int_field(obj, "timestamp", 0),
            user_id=user,
            collection_id=collection,
            tags=tuple(tags),
            contents=contents,
        )


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line of a message that is not a well-formed envelope (recorded, then skipped)."""

    digest: str
    reason: str


@dataclass(frozen=True, slots=True)
class Line:
    """One envelope of a message: its exact body bytes and its parsed form."""

    body: bytes
    envelope: Envelope

    @property
    def digest(self) -> str:
        """SHA-256 of the body, hex: how a rejection record names the envelope."""
        return hashlib.sha256(self.body).hexdigest()


@dataclass(frozen=True)
class Message:
    """A decoded message: the node that claims it, its signature, and its lines in order.

    The signature is not checked by :func:`decode_message`; :meth:`verify` checks it against the
    key of the node the *replicated state* names (the applying node decides which key that is).
    """

    node: str
    signature: bytes
    signed: bytes
    lines: tuple[Line | BadLine, ...]

    def verify(self, key: Verifier) -> None:
        """Raise :class:`~accord.errors.SignatureError` unless ``key`` signed this message."""
        key.verify(self.signed, self.signature, remember=False)  # each message is checked once


def _signed_part(node: str, bodies: Sequence[bytes]) -> bytes:
    return SIGNATURE_CONTEXT + node.encode() + b"\n" + b"".join(b + b"\n" for b in bodies)


def _sign_bodies(node: str, bodies: Sequence[bytes], signer: Signer) -> tuple[bytes, bytes, bytes]:
    """The message of ``bodies`` signed by ``signer``: (its bytes, the signature, the signed part)."""
    signed = _signed_part(node, bodies)
    signature = signer.sign(signed)
    header = MESSAGE_MAGIC + node.encode() + b" " + base64.b64encode(signature) + b"\n"
    return header + b"".join(b + b"\n" for b in bodies), signature, signed


def encode_message(envelopes: Sequence[Envelope], signer: Signer) -> bytes:
    """Sign ``envelopes`` (all from one node, in increasing position) as one message."""
    if not envelopes:
        raise MalformedInput("a message holds at least one envelope")
    node = envelopes[0].node
    bodies = []
    last: tuple[int, int] | None = None
    for env in envelopes:
        if env.node != node:
            raise MalformedInput("every envelope of a message comes from the message's node")
        if last is not None and env.position <= last:
            raise MalformedInput("a message's envelopes go in increasing position")
        last = env.position
        bodies.append(env.body())
    return _sign_bodies(node, bodies, signer)[0]


def encode_bodies(node: str, bodies: Sequence[bytes], signer: Signer) -> bytes:
    """Sign already encoded envelope bodies (``Envelope.body()``, in increasing position, all of
    ``node``) as one message: what :func:`encode_message` does, for a caller that kept them."""
    if not bodies:
        raise MalformedInput("a message holds at least one envelope")
    if not _NODE_ID.fullmatch(node):
        raise MalformedInput("malformed node id")
    return _sign_bodies(node, bodies, signer)[0]


def encode_own(
    envelopes: Sequence[Envelope], bodies: Sequence[bytes], signer: Signer
) -> tuple[bytes, Message]:
    """:func:`encode_bodies` for envelopes this node made (``bodies[i] == envelopes[i].body()``),
    and the :class:`Message` that :func:`decode_message` returns for those bytes: the publishing
    node applies its own messages without parsing them again (a test checks the equality)."""
    if not envelopes or len(envelopes) != len(bodies):
        raise MalformedInput("a message holds at least one envelope, each with its body")
    node = envelopes[0].node
    if not _NODE_ID.fullmatch(node) or any(env.node != node for env in envelopes):
        raise MalformedInput("every envelope of a message comes from the message's node")
    data, signature, signed = _sign_bodies(node, bodies, signer)
    lines = tuple(Line(body, env) for body, env in zip(bodies, envelopes, strict=True))
    return data, Message(node, signature, signed, lines)


def message_header(data: bytes) -> bytes:
    """A message's first two lines (its magic, node and signature): what names it."""
    end = data.find(b"\n", len(MESSAGE_MAGIC))
    return data[: end + 1] if end >= 0 else b""


def _trusted_envelope(
    kind: str,
    node: str,
    boot: int,
    counter: int,
    timestamp_ms: int,
    user_id: str,
    collection_id: str,
    tags: tuple[str, ...],
    contents: str,
) -> Envelope:
    """An :class:`Envelope` of values already checked as ``__post_init__`` would (not run again)."""
    env: Envelope = _new(Envelope)
    _set(env, "kind", kind)
    _set(env, "node", node)
    _set(env, "boot", boot)
    _set(env, "counter", counter)
    _set(env, "timestamp_ms", timestamp_ms)
    _set(env, "user_id", user_id)
    _set(env, "collection_id", collection_id)
    _set(env, "tags", tags)
    _set(env, "contents", contents)
    return env


def _fast_envelope(text: str, node: str) -> Envelope | None:
    """The envelope of a body line (decoded text) if it is certainly well formed and ``node``'s,
    exactly as :meth:`Envelope.from_body` would parse it; ``None`` for anything else, which the
    caller then parses the general way (so every refusal and its reason stay that path's).

    The same parser as ``json.loads``: for text starting ``{"`` (no BOM, no UTF-16/32 guess) and
    decoded strictly as UTF-8, it returns the same object for the same bytes.
    """
    if not text.startswith('{"'):
        return None
    try:
        obj, end = _scan_once(text, 0)
    except (ValueError, StopIteration, RecursionError):
        return None
    if end != len(text) or type(obj) is not dict or obj.keys() != _KEYS:
        return None
    kind, boot, counter, timestamp = obj["kind"], obj["boot"], obj["counter"], obj["timestamp"]
    user, collection, contents, tags = obj["user"], obj["collection"], obj["contents"], obj["tags"]
    if (
        obj["node"] != node
        or obj["format"] != ENVELOPE_FORMAT
        or kind not in KINDS
        or type(user) is not str
        or type(collection) is not str
        or type(contents) is not str
        or type(tags) is not list
        or type(boot) is not int
        or type(counter) is not int
        or type(timestamp) is not int
        or not 0 <= boot <= MAX_COUNTER
        or not 1 <= counter <= MAX_COUNTER
        or not 0 <= timestamp <= MAX_COUNTER
    ):
        return None
    for tag in tags:
        if type(tag) is not str:
            return None
    return _trusted_envelope(
        kind, node, boot, counter, timestamp, user, collection, tuple(tags), contents
    )


def _bad(data: bytes, reason: str) -> Message:
    return Message("", b"", b"", (BadLine(hashlib.sha256(data).hexdigest(), reason),))


def decode_message(data: bytes) -> Message:
    """Split a message into its envelopes; a malformed line becomes a :class:`BadLine`.

    A message whose header does not parse is one bad line as a whole, so every node records the
    same rejection for it instead of guessing at its structure.
    """
    if not data.startswith(MESSAGE_MAGIC) or not data.endswith(b"\n"):
        return _bad(data, "not an accord envelope message")
    header, _, rest = data[len(MESSAGE_MAGIC) :].partition(b"\n")
    node_b, space, sig_b64 = header.partition(b" ")
    try:
        node = node_b.decode("ascii")
        signature = base64.b64decode(sig_b64, validate=True)
    except (UnicodeDecodeError, binascii.Error, ValueError):
        return _bad(data, "malformed message header")
    if not space or not _NODE_ID.fullmatch(node) or len(signature) != 64 or not rest:
        return _bad(data, "malformed message header")
    bodies = rest[:-1].split(b"\n")
    try:  # one decode for the whole message; a line that needs more goes the general way
        texts: list[str] | None = rest[:-1].decode("utf-8").split("\n")
    except UnicodeDecodeError:
        texts = None
    lines: list[Line | BadLine] = []
    for index, body in enumerate(bodies):
        fast = None if texts is None else _fast_envelope(texts[index], node)
        if fast is not None:
            lines.append(Line(body, fast))
            continue
        try:
            env = Envelope.from_body(body)
        except MalformedInput as exc:
            lines.append(BadLine(hashlib.sha256(body).hexdigest(), str(exc)))
            continue
        if env.node != node:
            digest = hashlib.sha256(body).hexdigest()
            lines.append(BadLine(digest, "the envelope's node is not the message's"))
            continue
        lines.append(Line(body, env))
    # The signed part is the bodies as they stand in the message (each followed by a newline).
    return Message(node, signature, SIGNATURE_CONTEXT + node_b + b"\n" + rest, tuple(lines))


def message_id(data: bytes) -> str:
    """The ``Nats-Msg-Id`` of a message: its SHA-256, hex (a retried publish is deduplicated)."""
    return hashlib.sha256(data).hexdigest()


__all__ = [
    "ENVELOPE_FORMAT",
    "KINDS",
    "BadLine",
    "Envelope",
    "Line",
    "Message",
    "decode_message",
    "encode_bodies",
    "encode_message",
    "encode_own",
    "message_header",
    "message_id",
]
