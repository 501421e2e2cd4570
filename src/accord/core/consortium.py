"""Consortium governance: the replicated state of a consortium ledger, as a pure fold.

Who the members (organizations) are, which nodes run, which users hold which role and the
constitution are derived only from ledger entries, folded in order: the genesis document
(entry 1, :func:`genesis_state`), then :func:`apply_entry` for every later governance entry. An
authorization decision for entry *n* uses the state after entry *n - 1*; every node applies the
same entries to the same state and reaches the same result, refusals included.

Two kinds of entries change the state (``docs/formats.md`` §14 has the bytes):

* ``governance``: a C2SP signed note by one member, ``accord.gov.v1`` then one line of RFC 8785
  JSON — a *proposal* of actions, a *ballot* on a proposal, or the proposer's *withdrawal*. A
  proposal is accepted once enough current members voted yes (the constitution's threshold for
  its actions), and its actions are then applied in order, all or nothing.
* ``users``: an ``accord.users.v1`` record setting or removing a user's role, submitted through
  the Azure-compatible API by a user who is an Administrator in the state.

Actions live in a registry (:func:`register_action`): a capability adds its own action types
without touching the voting machinery. Every node must register the same actions, since an
unknown action type makes a proposal malformed.

What this module does not do: it reads no clock (entry timestamps and nonces are passed in),
performs no I/O, verifies no envelope or checkpoint, and decides no order. It never raises for
bad entry contents: :func:`apply_entry` turns every defect into a refused :class:`Outcome`, which
every node records identically. Pure code, ``mypy --strict``.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from cryptography import x509

from accord.core.canonical import canonicalize, parse_canonical
from accord.core.cosignature import CosignerKey
from accord.core.note import Signer, Verifier, check_key_name, open_note, sign_note
from accord.core.policy import Policy
from accord.core.private import (
    EXTENSION as PRIVATE_EXTENSION,
)
from accord.core.private import (
    CreateCollection,
    apply_create,
    drop_reader,
    encode_key,
    parse_create,
    parse_key,
    private_state,
)
from accord.core.quoting import quoted
from accord.errors import (
    AccordError,
    AuthError,
    ConfigurationError,
    Conflict,
    InvalidRequest,
    MalformedInput,
    NotFound,
    SignatureError,
)

__all__ = [
    "ADMINISTRATOR",
    "ADMIN_ROLES",
    "CONSTITUTION_FORMAT",
    "GENESIS_FORMAT",
    "GOVERNANCE_HEADER",
    "KIND_GENESIS",
    "KIND_GOVERNANCE",
    "KIND_USERS",
    "READ_ROLES",
    "ROLES",
    "STATE_FORMAT",
    "USERS_FORMAT",
    "WRITE_ROLES",
    "Action",
    "ConsortiumState",
    "Constitution",
    "Member",
    "Node",
    "Outcome",
    "Proposal",
    "Threshold",
    "VerifiedAction",
    "apply_entry",
    "ballot_body",
    "check_proposal_applies",
    "check_user_id",
    "constitution_set_action",
    "encryption_key_action",
    "genesis_document",
    "genesis_state",
    "member_add_action",
    "member_remove_action",
    "node_add_action",
    "node_remove_action",
    "on_member_removed",
    "proposal_body",
    "register_action",
    "registered_actions",
    "replay",
    "sign_action",
    "user_remove_action",
    "user_set_action",
    "users_record",
    "verify_action",
    "withdrawal_body",
]

# --- constants ----------------------------------------------------------------------------------

GENESIS_FORMAT = "accord.genesis.v1"
CONSTITUTION_FORMAT = "accord.constitution.v1"
USERS_FORMAT = "accord.users.v1"
STATE_FORMAT = "accord.consortium.v1"
GOVERNANCE_HEADER = "accord.gov.v1\n"
"""First line of every governance note's text: the version marker of the signed format."""

KIND_GENESIS = "genesis"
KIND_GOVERNANCE = "governance"
KIND_USERS = "users"

# The roles of accord.service.users (as in Azure Confidential Ledger). Core imports nothing above
# it, so they are spelled again here; a test keeps the two equal.
ADMINISTRATOR = "Administrator"
SYSTEM_USER = "accord"
"""The user id of the ledger's own records (genesis, rejections, evidence): no user may take it."""
ROLES = ("Administrator", "Contributor", "Reader")
READ_ROLES = frozenset(ROLES)
WRITE_ROLES = frozenset({"Administrator", "Contributor"})
ADMIN_ROLES = frozenset({"Administrator"})

DEFAULT_PROPOSAL_TTL_MS = 7 * 24 * 3600 * 1000
MIN_PROPOSAL_TTL_MS = 3600 * 1000
"""Shorter lifetimes are refused: notes must be able to reach the ledger before they go stale,
or a constitution could make governance itself impossible."""
MAX_PROPOSAL_TTL_MS = 366 * 24 * 3600 * 1000
"""The longest lifetime a constitution may set; closed proposals are forgotten this long after
their creation, when no replay of their note could be accepted any more."""
MAX_CLOCK_SKEW_MS = 10 * 60 * 1000
"""A note dated more than this after the ledger time is refused."""
MAX_TIMESTAMP_MS = 2**53
MAX_MEMBERS = 256
MAX_NODES = 256
MAX_ACTIONS = 32
MAX_GOVERNANCE_NOTE = 64 * 1024
MAX_USERS_RECORD = 4 * 1024
MAX_GENESIS = 1024 * 1024
MAX_CERT_PEM = 16 * 1024

OPEN, ACCEPTED, REJECTED, WITHDRAWN, EXPIRED = (
    "open",
    "accepted",
    "rejected",
    "withdrawn",
    "expired",
)
PROPOSAL_STATES = (OPEN, ACCEPTED, REJECTED, WITHDRAWN, EXPIRED)

RESERVED_MEMBER_NAMES = frozenset({"none", "members"})
"""Names the derived tlog-policy uses itself (its predefined ``none`` and the group ``members``)."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_ACTION_TYPE = re.compile(r"[a-z][a-z0-9]*(?:[._-][a-z0-9]+)*")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_NONCE = re.compile(r"[0-9a-f]{32}")
# User ids as service.users.parse_user_id returns them (canonical forms only; a test compares).
_CERT_USER_ID = re.compile(r"(?:[0-9A-F]{2}:){31}[0-9A-F]{2}")
_SUBJECT_ID = re.compile(r"(?=[^A-Za-z0-9]{0,127}[A-Za-z0-9])[A-Za-z0-9._@|-]{1,128}")
_HEX_DIGITS = re.compile(r"[0-9A-Fa-f]+")
_FINGERPRINT_LIKE_DIGITS = 40


# --- small validators ---------------------------------------------------------------------------


def _object(value: object, what: str, required: Iterable[str]) -> dict[str, object]:
    """``value`` as a JSON object with exactly the keys ``required``."""
    if not isinstance(value, dict):
        raise MalformedInput(f"{what} must be a JSON object")
    keys = frozenset(required)
    if set(value) != keys:
        raise MalformedInput(f"{what} must have exactly the keys {', '.join(sorted(keys))}")
    return value


def _string(obj: Mapping[str, object], key: str, what: str) -> str:
    value = obj[key]
    if not isinstance(value, str):
        raise MalformedInput(f"{what}: {key} must be a string")
    return value


def _integer(value: object, what: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise MalformedInput(f"{what} must be an integer from {low} to {high}, not {quoted(value)}")
    return value


def _utf8(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise MalformedInput(f"{what} must be text")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedInput(f"{what} is not valid Unicode") from None


def check_name(value: object, what: str) -> str:
    """A member or node name: a C2SP key name matching ``[A-Za-z0-9][A-Za-z0-9_.-]{0,63}``."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise MalformedInput(
            f"{what} {quoted(value)} must be 1-64 characters of A-Z a-z 0-9 _ . -, "
            "first a letter or digit"
        )
    check_key_name(value)
    return value


def check_user_id(value: object) -> str:
    """A user id in the canonical form accord.service.users gives it; MalformedInput otherwise.

    A certificate user is the SHA-256 fingerprint of its certificate as 32 upper-case hex pairs
    joined by colons; a token user is 1-128 characters of ``A-Za-z0-9._@|-`` with a letter or
    digit, not made of 40 or more hex digits. Ledger records carry only canonical ids, so the same
    user never appears under two spellings.
    """
    if not isinstance(value, str):
        raise MalformedInput(f"a user id must be a string, not {quoted(value)}")
    if _CERT_USER_ID.fullmatch(value):
        return value
    if (
        ":" in value
        or (_HEX_DIGITS.fullmatch(value) and len(value) >= _FINGERPRINT_LIKE_DIGITS)
        or not _SUBJECT_ID.fullmatch(value)
    ):
        raise MalformedInput(
            f"invalid user id {quoted(value)}: a certificate fingerprint as 32 upper-case hex "
            "pairs with colons, or a token id of 1-128 characters of A-Za-z0-9._@|-"
        )
    if value == SYSTEM_USER:
        raise MalformedInput(f"{SYSTEM_USER!r} is reserved for the ledger's own records")
    return value


def check_role(value: object) -> str:
    if not isinstance(value, str) or value not in ROLES:
        raise MalformedInput(f"unknown role {quoted(value)}; expected one of {', '.join(ROLES)}")
    return value


def _check_action_type(value: object) -> str:
    if not isinstance(value, str) or len(value) > 64 or not _ACTION_TYPE.fullmatch(value):
        raise MalformedInput(
            f"invalid action type {quoted(value)}: lower-case words of a-z 0-9 joined by . _ -"
        )
    return value


def _check_url(value: object, what: str, schemes: frozenset[str], *, need_port: bool) -> str:
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= 512
        or not value.isascii()
        or not value.isprintable()
        or any(ch in value for ch in " ?#")
    ):
        raise MalformedInput(f"{what} {quoted(value)} must be a URL of printable ASCII, no spaces")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise MalformedInput(f"{what} {quoted(value)} is not a valid URL") from None
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in schemes:
        raise MalformedInput(f"{what} {quoted(value)} must use {' or '.join(sorted(schemes))}")
    if not parts.hostname or parts.username is not None or parts.password is not None:
        raise MalformedInput(f"{what} {quoted(value)} needs a host and no user information")
    if need_port and (port is None or parts.path):
        raise MalformedInput(f"{what} {quoted(value)} must be scheme://host:port")
    return value


def _frozen(mapping: Mapping[Any, Any]) -> MappingProxyType[Any, Any]:
    return MappingProxyType(dict(mapping))


# --- thresholds and the constitution ------------------------------------------------------------


@dataclass(frozen=True)
class Threshold:
    """How many current members must agree: ``majority``, ``unanimous`` or ``count`` k.

    JSON forms: ``"majority"`` (a strict majority, ``n // 2 + 1`` of ``n`` members),
    ``"unanimous"`` (all ``n``), or an integer ``k`` from 1 to 256. A count is *capped* at the
    number of members when applied, ``min(k, n)``: removing members never leaves a consortium
    unable to reach its own thresholds.
    """

    kind: str = "majority"
    count: int = 0

    def __post_init__(self) -> None:
        if self.kind == "count":
            _integer(self.count, "a threshold count", 1, MAX_MEMBERS)
        elif self.kind in ("majority", "unanimous"):
            if self.count != 0:
                raise MalformedInput(f"a {self.kind} threshold has no count")
        else:
            raise MalformedInput(f"unknown threshold kind {quoted(self.kind)}")

    @classmethod
    def majority(cls) -> Threshold:
        return cls("majority")

    @classmethod
    def unanimous(cls) -> Threshold:
        return cls("unanimous")

    @classmethod
    def of(cls, count: int) -> Threshold:
        return cls("count", count)

    def required(self, n_members: int) -> int:
        """Yes votes (or cosignatures) needed out of ``n_members`` (at least 1) current members."""
        if n_members < 1:
            raise InvalidRequest("a threshold applies to at least one member")
        if self.kind == "majority":
            return n_members // 2 + 1
        if self.kind == "unanimous":
            return n_members
        return min(self.count, n_members)

    def to_json(self) -> str | int:
        return self.count if self.kind == "count" else self.kind

    @classmethod
    def from_json(cls, value: object) -> Threshold:
        if value in ("majority", "unanimous") and isinstance(value, str):
            return cls(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return cls.of(_integer(value, "a threshold count", 1, MAX_MEMBERS))
        raise MalformedInput(
            f'a threshold is "majority", "unanimous" or an integer, not {quoted(value)}'
        )


MAJORITY = Threshold.majority()


@dataclass(frozen=True)
class Constitution:
    """The rules of the consortium, themselves changed only by a ``constitution.set`` proposal.

    ``cosign_quorum``: how many member organizations must cosign a checkpoint for it to be final.
    ``thresholds``: the yes votes an action type needs; a type not listed needs a ``majority``
    (``constitution.set`` included: a majority can already reshape the membership, so demanding
    more for the constitution alone would protect nothing and let one member block changes).
    Types not registered on this node are allowed, for capabilities added later.
    ``proposal_ttl_ms``: how long a proposal stays open, and how old a note's ``created`` may be.
    """

    cosign_quorum: Threshold = MAJORITY
    thresholds: Mapping[str, Threshold] = field(default_factory=dict)
    proposal_ttl_ms: int = DEFAULT_PROPOSAL_TTL_MS

    def __post_init__(self) -> None:
        if not isinstance(self.cosign_quorum, Threshold):
            raise MalformedInput("the cosign quorum must be a Threshold")
        if not isinstance(self.thresholds, Mapping):
            raise MalformedInput("thresholds must map action types to thresholds")
        for action_type, threshold in self.thresholds.items():
            _check_action_type(action_type)
            if not isinstance(threshold, Threshold):
                raise MalformedInput(f"the threshold of {action_type} must be a Threshold")
        _integer(self.proposal_ttl_ms, "proposalTtlMs", MIN_PROPOSAL_TTL_MS, MAX_PROPOSAL_TTL_MS)
        object.__setattr__(self, "thresholds", _frozen(self.thresholds))

    def threshold_for(self, action_type: str) -> Threshold:
        return self.thresholds.get(action_type, MAJORITY)

    def to_json(self) -> dict[str, object]:
        return {
            "format": CONSTITUTION_FORMAT,
            "cosignQuorum": self.cosign_quorum.to_json(),
            "thresholds": {t: th.to_json() for t, th in sorted(self.thresholds.items())},
            "proposalTtlMs": self.proposal_ttl_ms,
        }

    @classmethod
    def from_json(cls, value: object) -> Constitution:
        obj = _object(
            value, "a constitution", ("format", "cosignQuorum", "thresholds", "proposalTtlMs")
        )
        if obj["format"] != CONSTITUTION_FORMAT:
            raise MalformedInput(f"unknown constitution format {quoted(obj['format'])}")
        raw = obj["thresholds"]
        if not isinstance(raw, dict):
            raise MalformedInput("constitution thresholds must be a JSON object")
        thresholds = {_check_action_type(t): Threshold.from_json(v) for t, v in raw.items()}
        return cls(
            Threshold.from_json(obj["cosignQuorum"]),
            thresholds,
            _integer(
                obj["proposalTtlMs"], "proposalTtlMs", MIN_PROPOSAL_TTL_MS, MAX_PROPOSAL_TTL_MS
            ),
        )


# --- members and nodes --------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """A member organization: its name, its governance key, its cosigner key and its first admin.

    ``name`` is also the organization's witness name in the derived policy; ``member_key`` (a
    signed-note Ed25519 key named ``name``) signs its governance notes; ``cosigner`` (a type 0x04
    key named ``name``) cosigns checkpoints; ``admin_user`` is made an Administrator when the
    member joins.
    """

    name: str
    member_key: Verifier
    cosigner: CosignerKey
    admin_user: str
    encryption_key: bytes | None = None
    """The organization's X25519 public key (32 raw bytes) that private collections' contents
    are encrypted to (``docs/formats.md`` §20); None until it has one."""

    def __post_init__(self) -> None:
        check_name(self.name, "a member name")
        if self.encryption_key is not None and (
            not isinstance(self.encryption_key, bytes) or len(self.encryption_key) != 32
        ):
            raise MalformedInput(f"the encryption key of {self.name} is 32 bytes")
        if self.name in RESERVED_MEMBER_NAMES:
            raise MalformedInput(f"{self.name!r} is reserved and cannot name a member")
        if not isinstance(self.member_key, Verifier) or self.member_key.name != self.name:
            raise MalformedInput(f"the member key of {self.name} must be a note key named so")
        if not isinstance(self.cosigner, CosignerKey) or self.cosigner.name != self.name:
            raise MalformedInput(f"the cosigner key of {self.name} must be a key named so")
        check_user_id(self.admin_user)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "name": self.name,
            "memberKey": self.member_key.to_vkey(),
            "cosigner": self.cosigner.to_vkey(),
            "adminUser": self.admin_user,
        }
        if self.encryption_key is not None:
            out["encryptionKey"] = encode_key(self.encryption_key)
        return out

    @classmethod
    def from_json(cls, value: object) -> Member:
        keys = ["name", "memberKey", "cosigner", "adminUser"]
        if isinstance(value, dict) and "encryptionKey" in value:
            keys.append("encryptionKey")
        obj = _object(value, "a member", keys)
        encryption = obj.get("encryptionKey")
        return cls(
            check_name(obj["name"], "a member name"),
            Verifier.from_vkey(_string(obj, "memberKey", "a member")),
            CosignerKey.from_vkey(_string(obj, "cosigner", "a member")),
            check_user_id(obj["adminUser"]),
            None if encryption is None else parse_key(encryption, "a member's encryptionKey"),
        )


_HTTPS = frozenset({"https"})
_ROUTE_SCHEMES = frozenset({"nats-route", "nats", "tls"})
_CLIENT_SCHEMES = frozenset({"nats", "tls"})


@dataclass(frozen=True)
class Node:
    """A node run by a member: how to reach it and the keys it signs with.

    ``log_key`` is named by the consortium's origin (checked by the state, which knows it); the
    node signs checkpoints and envelopes with it. ``url`` is its HTTPS service, ``engine_route``
    and ``engine_client`` its NATS cluster-route and client URLs (``scheme://host:port``), and
    ``tls_cert_sha256`` the SHA-256 of its TLS certificate's DER in lower-case hex, which
    authenticates node-to-node calls, and ``engine_ca_pem`` the certificate of the authority that
    issues its NATS server's and NATS client's certificates (every NATS server of the consortium
    trusts the current nodes' authorities, and only those).
    """

    node_id: str
    member: str
    log_key: Verifier
    url: str
    engine_route: str
    engine_client: str
    tls_cert_sha256: str
    engine_ca_pem: str

    def __post_init__(self) -> None:
        check_name(self.node_id, "a node id")
        check_name(self.member, "a member name")
        if not isinstance(self.log_key, Verifier):
            raise MalformedInput(f"the log key of node {self.node_id} must be a note key")
        _check_url(self.url, "a node URL", _HTTPS, need_port=False)
        _check_url(self.engine_route, "an engine route URL", _ROUTE_SCHEMES, need_port=True)
        _check_url(self.engine_client, "an engine client URL", _CLIENT_SCHEMES, need_port=True)
        if not isinstance(self.tls_cert_sha256, str) or not _HEX64.fullmatch(self.tls_cert_sha256):
            raise MalformedInput("tlsCertSha256 must be 64 lower-case hex digits")
        _check_cert_pem(self.engine_ca_pem, f"the engine CA of node {self.node_id}")

    def to_json(self) -> dict[str, object]:
        return {
            "nodeId": self.node_id,
            "member": self.member,
            "logKey": self.log_key.to_vkey(),
            "url": self.url,
            "engineRoute": self.engine_route,
            "engineClient": self.engine_client,
            "tlsCertSha256": self.tls_cert_sha256,
            "engineCaPem": self.engine_ca_pem,
        }

    @classmethod
    def from_json(cls, value: object) -> Node:
        keys = (
            "nodeId",
            "member",
            "logKey",
            "url",
            "engineRoute",
            "engineClient",
            "tlsCertSha256",
            "engineCaPem",
        )
        obj = _object(value, "a node", keys)
        return cls(
            check_name(obj["nodeId"], "a node id"),
            check_name(obj["member"], "a member name"),
            Verifier.from_vkey(_string(obj, "logKey", "a node")),
            _string(obj, "url", "a node"),
            _string(obj, "engineRoute", "a node"),
            _string(obj, "engineClient", "a node"),
            _string(obj, "tlsCertSha256", "a node"),
            _string(obj, "engineCaPem", "a node"),
        )


# --- actions and proposals ----------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """One action of a proposal: its type, its JSON object as signed, and its parsed payload."""

    type: str
    args: Mapping[str, object]
    payload: object

    def to_json(self) -> dict[str, object]:
        return copy.deepcopy(dict(self.args))  # the state's own objects stay untouched


@dataclass(frozen=True)
class Proposal:
    """A proposal and its ballots, as the fold keeps it.

    ``proposal_id`` is the hex SHA-256 of the proposal's signed note (UTF-8 bytes, as recorded);
    ``created_ms`` is the note's ``created``; ``expires_ms`` the ledger time at which it was
    opened plus the constitution's lifetime; ``seqno`` the entry that opened it; ``votes`` every
    current member's ballot (the proposer's ``yes`` counts from the start) and ``voted_ms`` the
    ``created`` of the ballot counted for each member (also for removed members, so that a replayed
    ballot stays stale); ``final_seqno`` the entry that closed it, and ``reason`` why.
    """

    proposal_id: str
    proposer: str
    actions: tuple[Action, ...]
    created_ms: int
    expires_ms: int
    seqno: int
    votes: Mapping[str, bool]
    voted_ms: Mapping[str, int] = field(default_factory=dict)
    state: str = OPEN
    final_seqno: int | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.state not in PROPOSAL_STATES:
            raise InvalidRequest(f"unknown proposal state {quoted(self.state)}")
        object.__setattr__(self, "votes", _frozen(self.votes))
        object.__setattr__(self, "voted_ms", _frozen(self.voted_ms))

    def to_json(self) -> dict[str, object]:
        return {
            "proposalId": self.proposal_id,
            "proposer": self.proposer,
            "actions": [a.to_json() for a in self.actions],
            "created": self.created_ms,
            "expires": self.expires_ms,
            "seqno": self.seqno,
            "votes": {m: "yes" if v else "no" for m, v in sorted(self.votes.items())},
            "state": self.state,
            "finalSeqno": self.final_seqno,
            "reason": self.reason,
        }


# --- the state ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsortiumState:
    """The replicated state after entry ``last_seqno``; never changed in place.

    ``ledger_time_ms`` is the largest entry timestamp applied so far. ``extensions`` holds the
    state of capabilities that registered their own actions, keyed by the capability's name
    (values must be immutable and comparable); this module never reads it.
    """

    origin: str
    service_cert_pem: str
    constitution: Constitution
    members: Mapping[str, Member]
    nodes: Mapping[str, Node]
    users: Mapping[str, str]
    proposals: Mapping[str, Proposal]
    last_seqno: int
    ledger_time_ms: int
    extensions: Mapping[str, object] = field(default_factory=dict)
    user_members: Mapping[str, str] = field(default_factory=dict)
    """The member organization each user belongs to: only that member's nodes may write as the
    user or change the user, so one organization cannot act as another's users."""

    def __post_init__(self) -> None:
        for name in ("members", "nodes", "users", "proposals", "extensions", "user_members"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    # --- users -------------------------------------------------------------------------------
    def role_of(self, user_id: str) -> str | None:
        return self.users.get(user_id)

    def may_read(self, user_id: str) -> bool:
        return self.users.get(user_id) in READ_ROLES

    def may_write(self, user_id: str) -> bool:
        return self.users.get(user_id) in WRITE_ROLES

    def is_admin(self, user_id: str) -> bool:
        return self.users.get(user_id) in ADMIN_ROLES

    def member_of(self, user_id: str) -> str | None:
        """The member organization ``user_id`` belongs to (None: not a user)."""
        return self.user_members.get(user_id)

    # --- nodes and keys ----------------------------------------------------------------------
    def node(self, node_id: str) -> Node | None:
        """The current node ``node_id``; None if unknown or removed."""
        return self.nodes.get(node_id)

    def node_by_tls_fingerprint(self, sha256_hex: str) -> Node | None:
        """The current node whose TLS certificate has this SHA-256 (lower-case hex)."""
        for node in self.nodes.values():
            if node.tls_cert_sha256 == sha256_hex:
                return node
        return None

    def log_keys(self) -> tuple[Verifier, ...]:
        """Every current node's checkpoint key, by node id."""
        return tuple(self.nodes[n].log_key for n in sorted(self.nodes))

    def cosigner_keys(self) -> tuple[CosignerKey, ...]:
        """Every current member's cosigner key, by member name."""
        return tuple(self.members[m].cosigner for m in sorted(self.members))

    def cosign_quorum(self) -> int:
        """Member cosignatures a checkpoint needs to be final."""
        return self.constitution.cosign_quorum.required(len(self.members))

    def policy_text(self) -> str:
        """The C2SP tlog-policy trusting this consortium's nodes and member cosigners."""
        lines = [
            f"log {self.nodes[n].log_key.to_vkey()} {self.nodes[n].url}" for n in sorted(self.nodes)
        ]
        names = sorted(self.members)
        lines += [f"witness {m} {self.members[m].cosigner.to_vkey()}" for m in names]
        lines.append(f"group members {self.cosign_quorum()} {' '.join(names)}")
        lines.append("quorum members")
        return "\n".join(lines) + "\n"

    def policy(self) -> Policy:
        return Policy.from_text(self.policy_text())

    def to_json(self) -> dict[str, object]:
        """The state for reading (``GET /app/governance/...``); ``docs/formats.md`` §14.8."""
        return {
            "format": STATE_FORMAT,
            "origin": self.origin,
            "serviceCertPem": self.service_cert_pem,
            "constitution": self.constitution.to_json(),
            "cosignQuorum": self.cosign_quorum(),
            "members": [self.members[m].to_json() for m in sorted(self.members)],
            "nodes": [self.nodes[n].to_json() for n in sorted(self.nodes)],
            "users": dict(sorted(self.users.items())),
            "userMembers": dict(sorted(self.user_members.items())),
            "proposals": [
                p.to_json() for p in sorted(self.proposals.values(), key=lambda p: p.seqno)
            ],
            "lastSeqno": self.last_seqno,
            "ledgerTime": self.ledger_time_ms,
        }


def _check_state(state: ConsortiumState) -> None:
    """Invariants every state holds; Conflict (MalformedInput at genesis) naming the first broken."""
    if not 1 <= len(state.members) <= MAX_MEMBERS:
        raise Conflict(f"a consortium has 1 to {MAX_MEMBERS} members, not {len(state.members)}")
    if not 1 <= len(state.nodes) <= MAX_NODES:
        raise Conflict(f"a consortium has 1 to {MAX_NODES} nodes, not {len(state.nodes)}")
    public_keys: dict[bytes, str] = {}

    def unique(key: bytes, owner: str) -> None:
        other = public_keys.setdefault(key, owner)
        if other != owner:
            raise Conflict(f"{owner} uses the same public key as {other}")

    for name, member in sorted(state.members.items()):
        unique(member.member_key.public_key_bytes, f"the member key of {name}")
        unique(member.cosigner.public_key_bytes, f"the cosigner key of {name}")
    log_ids: dict[bytes, str] = {}
    fingerprints: dict[str, str] = {}
    for node_id, node in sorted(state.nodes.items()):
        if node.member not in state.members:
            raise Conflict(f"node {node_id} belongs to {quoted(node.member)}, not a member")
        if node.log_key.name != state.origin:
            raise Conflict(f"the log key of node {node_id} is not named {state.origin}")
        unique(node.log_key.public_key_bytes, f"the log key of node {node_id}")
        other = log_ids.setdefault(node.log_key.key_id, node_id)
        if other != node_id:  # checkpoint signatures name their key by (origin, key ID) only
            raise Conflict(f"nodes {other} and {node_id} have log keys with the same key ID")
        other = fingerprints.setdefault(node.tls_cert_sha256, node_id)
        if other != node_id:
            raise Conflict(f"nodes {other} and {node_id} have the same TLS certificate")
    if ADMINISTRATOR not in state.users.values():
        raise Conflict("no Administrator would remain")
    for user_id in state.users:
        if state.user_members.get(user_id) not in state.members:
            raise Conflict(f"user {user_id} belongs to no current member")


# --- user changes (shared by user.* actions and users records) ----------------------------------


def _set_user(
    state: ConsortiumState, user_id: str, role: str | None, member: str | None = None
) -> ConsortiumState:
    """``user_id`` given ``role`` (None: removed), keeping at least one Administrator.

    A new user belongs to ``member`` (required); an existing one keeps its member unless
    ``member`` names another.
    """
    users = dict(state.users)
    user_members = dict(state.user_members)
    if role is None:
        if user_id not in users:
            raise NotFound(f"user {user_id} does not exist")
        del users[user_id]
        user_members.pop(user_id, None)
    else:
        owner = member or user_members.get(user_id)
        if owner is None:
            raise Conflict(f"a new user ({user_id}) must name the member it belongs to")
        if owner not in state.members:
            raise NotFound(f"{owner} is not a member")
        users[user_id] = role
        user_members[user_id] = owner
    if ADMINISTRATOR not in users.values():
        change = "removing them" if role is None else f"making them {role}"
        raise Conflict(
            f"user {user_id} is the last Administrator; {change} would leave nobody able to "
            "manage users"
        )
    return replace(state, users=users, user_members=user_members)


# --- the action registry ------------------------------------------------------------------------

P = TypeVar("P")


@dataclass(frozen=True)
class _ActionType(Generic[P]):
    parse: Callable[[Mapping[str, object]], P]
    apply: Callable[[ConsortiumState, P], ConsortiumState]
    consent: Callable[[ConsortiumState, P, str], Iterable[str]] | None = None


_REGISTRY: dict[str, _ActionType[Any]] = {}


def register_action(
    action_type: str,
    parse: Callable[[Mapping[str, object]], P],
    apply: Callable[[ConsortiumState, P], ConsortiumState],
    *,
    consent: Callable[[ConsortiumState, P, str], Iterable[str]] | None = None,
) -> None:
    """Make ``action_type`` proposable.

    ``parse`` receives the action's JSON object without its ``type`` member and returns a payload
    (raising MalformedInput for a bad shape); ``apply`` returns the state with the action applied
    to it, or raises an :class:`~accord.errors.AccordError` (Conflict, NotFound, ...) to reject
    the whole proposal. ``consent(state, payload, proposer)``, if given, names the members the
    action acts on in their own name: the proposal then also needs each one's own yes, whatever
    the threshold. All must be pure and deterministic; every node must register the same
    actions. Registering a type twice is a ConfigurationError.
    """
    _check_action_type(action_type)
    if action_type in _REGISTRY:
        raise ConfigurationError(f"action type {action_type} is already registered")
    _REGISTRY[action_type] = _ActionType(parse, apply, consent)


_MEMBER_REMOVED: list[Callable[[ConsortiumState, str], ConsortiumState]] = []


def on_member_removed(hook: Callable[[ConsortiumState, str], ConsortiumState]) -> None:
    """Call ``hook(state, name)`` whenever ``member.remove`` removes member ``name``: a
    capability's extension state drops what it held for that member (a private collection its
    reader). ``state`` is the consortium without the member, its nodes and its users already;
    the hook returns it changed or not. Pure and deterministic, as the actions' appliers are."""
    _MEMBER_REMOVED.append(hook)


def registered_actions() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


def _parse_action(value: object) -> Action:
    if not isinstance(value, dict) or "type" not in value:
        raise MalformedInput("an action must be a JSON object with a type")
    action_type = _check_action_type(value["type"])
    registered = _REGISTRY.get(action_type)
    if registered is None:
        raise MalformedInput(f"unknown action type {action_type}")
    args = {k: v for k, v in value.items() if k != "type"}
    try:
        payload = registered.parse(args)
    except AccordError as exc:
        raise MalformedInput(f"action {action_type}: {exc}") from None
    return Action(action_type, _frozen(value), payload)


# member.add {"member": {...}}
def _apply_member_add(state: ConsortiumState, member: Member) -> ConsortiumState:
    if member.name in state.members:
        raise Conflict(f"{member.name} is already a member")
    users = {**state.users, member.admin_user: ADMINISTRATOR}
    owners = {**state.user_members, member.admin_user: member.name}
    return replace(
        state,
        members={**state.members, member.name: member},
        users=users,
        user_members=owners,
    )


# member.remove {"name": M}: its nodes go too, its ballots stop counting.
def _apply_member_remove(state: ConsortiumState, name: str) -> ConsortiumState:
    if name not in state.members:
        raise NotFound(f"{name} is not a member")
    if len(state.members) == 1:
        raise Conflict(f"{name} is the last member")
    members = {m: v for m, v in state.members.items() if m != name}
    nodes = {n: v for n, v in state.nodes.items() if v.member != name}
    proposals = {
        pid: replace(p, votes={m: v for m, v in p.votes.items() if m != name})
        if p.state == OPEN and name in p.votes
        else p
        for pid, p in state.proposals.items()
    }
    gone = {u for u, m in state.user_members.items() if m == name}  # its users go with it
    users = {u: r for u, r in state.users.items() if u not in gone}
    owners = {u: m for u, m in state.user_members.items() if u not in gone}
    state = replace(
        state,
        members=members,
        nodes=nodes,
        proposals=proposals,
        users=users,
        user_members=owners,
    )
    for hook in _MEMBER_REMOVED:
        state = hook(state, name)
    return state


def _apply_node_add(state: ConsortiumState, node: Node) -> ConsortiumState:
    if node.node_id in state.nodes:
        raise Conflict(f"node {node.node_id} already exists")
    if node.member not in state.members:
        raise NotFound(f"node {node.node_id} belongs to {node.member}, not a member")
    return replace(state, nodes={**state.nodes, node.node_id: node})


def _apply_node_remove(state: ConsortiumState, node_id: str) -> ConsortiumState:
    if node_id not in state.nodes:
        raise NotFound(f"node {node_id} does not exist")
    return replace(state, nodes={n: v for n, v in state.nodes.items() if n != node_id})


def _apply_constitution_set(state: ConsortiumState, constitution: Constitution) -> ConsortiumState:
    return replace(state, constitution=constitution)


def _parse_user_set(args: Mapping[str, object]) -> tuple[str, str, str | None]:
    keys = ("userId", "role", "member") if "member" in args else ("userId", "role")
    obj = _object(dict(args), "a user.set action", keys)
    member = check_name(obj["member"], "a member name") if "member" in obj else None
    return check_user_id(obj["userId"]), check_role(obj["role"]), member


def _apply_user_set(state: ConsortiumState, change: tuple[str, str, str | None]) -> ConsortiumState:
    return _set_user(state, change[0], change[1], change[2])


def _apply_user_remove(state: ConsortiumState, user_id: str) -> ConsortiumState:
    return _set_user(state, user_id, None)


def _field(
    key: str, action: str, check: Callable[[object], P]
) -> Callable[[Mapping[str, object]], P]:
    def parse(args: Mapping[str, object]) -> P:
        return check(_object(dict(args), f"a {action} action", (key,))[key])

    return parse


register_action("member.add", _field("member", "member.add", Member.from_json), _apply_member_add)
register_action(
    "member.remove",
    _field("name", "member.remove", lambda v: check_name(v, "a member name")),
    _apply_member_remove,
)


# The members whose own yes an action needs (see _consenters).
def _consent_user_set(
    state: ConsortiumState, change: tuple[str, str, str | None], proposer: str
) -> Iterable[str]:
    user_id, _, member = change
    yield member or state.user_members.get(user_id) or proposer  # the user's new organization
    if user_id in state.user_members:
        yield state.user_members[user_id]  # and its old one


def _consent_user_remove(state: ConsortiumState, user_id: str, proposer: str) -> Iterable[str]:
    owner = state.user_members.get(user_id)
    return () if owner is None else (owner,)


register_action(
    "node.add",
    _field("node", "node.add", Node.from_json),
    _apply_node_add,
    consent=lambda state, node, proposer: (node.member,),  # a node writes as its member's users
)
register_action(
    "node.remove",
    _field("nodeId", "node.remove", lambda v: check_name(v, "a node id")),
    _apply_node_remove,
)
register_action(
    "constitution.set",
    _field("constitution", "constitution.set", Constitution.from_json),
    _apply_constitution_set,
)
register_action("user.set", _parse_user_set, _apply_user_set, consent=_consent_user_set)


# member.encryption-key {"member": M, "encryptionKey": base64}: the key a member's private
# collections are encrypted to (set or rotated; entries already written stay sealed to the old one).
def _parse_encryption_key(args: Mapping[str, object]) -> tuple[str, bytes]:
    obj = _object(dict(args), "a member.encryption-key action", ("member", "encryptionKey"))
    return check_name(obj["member"], "a member name"), parse_key(obj["encryptionKey"])


def _apply_encryption_key(state: ConsortiumState, change: tuple[str, bytes]) -> ConsortiumState:
    name, key = change
    member = state.members.get(name)
    if member is None:
        raise NotFound(f"{name} is not a member")
    return replace(state, members={**state.members, name: replace(member, encryption_key=key)})


# private.create {"collection": {"collectionId", "readers", "retentionMs"}} (core/private.py).
def _apply_private_create(state: ConsortiumState, create: CreateCollection) -> ConsortiumState:
    private = apply_create(
        private_state(state.extensions),
        create,
        members=state.members,
        member_keys={m: v.encryption_key for m, v in state.members.items()},
        seqno=state.last_seqno,
    )
    return replace(state, extensions={**state.extensions, PRIVATE_EXTENSION: private})


register_action(
    "member.encryption-key",
    _parse_encryption_key,
    _apply_encryption_key,
    consent=lambda state, change, proposer: (change[0],),
)
register_action("private.create", parse_create, _apply_private_create)


def _private_member_removed(state: ConsortiumState, name: str) -> ConsortiumState:
    """A removed member reads no private collection any more: later entries are sealed to the
    others only, and a new member that takes its name later is not a reader."""
    if PRIVATE_EXTENSION not in state.extensions:
        return state
    private = drop_reader(private_state(state.extensions), name)
    return replace(state, extensions={**state.extensions, PRIVATE_EXTENSION: private})


on_member_removed(_private_member_removed)
register_action(
    "user.remove",
    _field("userId", "user.remove", check_user_id),
    _apply_user_remove,
    consent=_consent_user_remove,
)


# Builders of the built-in actions' JSON objects.
def member_add_action(member: Member) -> dict[str, object]:
    return {"type": "member.add", "member": member.to_json()}


def member_remove_action(name: str) -> dict[str, object]:
    return {"type": "member.remove", "name": name}


def node_add_action(node: Node) -> dict[str, object]:
    return {"type": "node.add", "node": node.to_json()}


def node_remove_action(node_id: str) -> dict[str, object]:
    return {"type": "node.remove", "nodeId": node_id}


def constitution_set_action(constitution: Constitution) -> dict[str, object]:
    return {"type": "constitution.set", "constitution": constitution.to_json()}


def user_set_action(user_id: str, role: str, member: str | None = None) -> dict[str, object]:
    """``member`` names the organization a new user belongs to (an existing user keeps its own
    unless it is given)."""
    action: dict[str, object] = {"type": "user.set", "userId": user_id, "role": role}
    if member is not None:
        action["member"] = member
    return action


def user_remove_action(user_id: str) -> dict[str, object]:
    return {"type": "user.remove", "userId": user_id}


def encryption_key_action(member: str, key: bytes) -> dict[str, object]:
    return {"type": "member.encryption-key", "member": member, "encryptionKey": encode_key(key)}


# --- governance notes ---------------------------------------------------------------------------


def proposal_body(
    member: str, created_ms: int, nonce: str, actions: Sequence[Mapping[str, object]]
) -> dict[str, object]:
    """The JSON of a proposal (``nonce``: 32 lower-case hex digits the caller drew at random)."""
    return {
        "type": "proposal",
        "member": member,
        "created": created_ms,
        "nonce": nonce,
        "actions": [dict(a) for a in actions],
    }


def ballot_body(
    member: str, created_ms: int, nonce: str, proposal_id: str, vote: bool
) -> dict[str, object]:
    return {
        "type": "ballot",
        "member": member,
        "created": created_ms,
        "nonce": nonce,
        "proposal": proposal_id,
        "vote": "yes" if vote else "no",
    }


def withdrawal_body(
    member: str, created_ms: int, nonce: str, proposal_id: str
) -> dict[str, object]:
    return {
        "type": "withdrawal",
        "member": member,
        "created": created_ms,
        "nonce": nonce,
        "proposal": proposal_id,
    }


@dataclass(frozen=True)
class VerifiedAction:
    """A governance note whose member signature checked out, parsed.

    ``kind`` is ``proposal``, ``ballot`` or ``withdrawal``; ``digest`` is the hex SHA-256 of the
    note's UTF-8 bytes (a proposal's id). ``actions`` is set for a proposal, ``proposal_id`` for a
    ballot or withdrawal, ``vote`` for a ballot.
    """

    kind: str
    member: str
    created_ms: int
    nonce: str
    digest: str
    actions: tuple[Action, ...] = ()
    proposal_id: str | None = None
    vote: bool | None = None


_BODY_KEYS = {
    "proposal": ("type", "member", "created", "nonce", "actions"),
    "ballot": ("type", "member", "created", "nonce", "proposal", "vote"),
    "withdrawal": ("type", "member", "created", "nonce", "proposal"),
}


def _parse_body(value: object, digest: str) -> VerifiedAction:
    kind = value.get("type") if isinstance(value, dict) else None
    if not isinstance(kind, str) or kind not in _BODY_KEYS:
        raise MalformedInput("a governance note is a proposal, a ballot or a withdrawal")
    obj = _object(value, f"a {kind}", _BODY_KEYS[kind])
    member = check_name(obj["member"], "a member name")
    created = _integer(obj["created"], "created", 0, MAX_TIMESTAMP_MS)
    nonce = obj["nonce"]
    if not isinstance(nonce, str) or not _NONCE.fullmatch(nonce):
        raise MalformedInput("nonce must be 32 lower-case hex digits")
    if kind == "proposal":
        raw = obj["actions"]
        if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_ACTIONS:
            raise MalformedInput(f"a proposal holds 1 to {MAX_ACTIONS} actions")
        actions = tuple(_parse_action(a) for a in raw)
        return VerifiedAction(kind, member, created, nonce, digest, actions=actions)
    proposal_id = obj["proposal"]
    if not isinstance(proposal_id, str) or not _HEX64.fullmatch(proposal_id):
        raise MalformedInput("proposal must be a proposal id, 64 lower-case hex digits")
    vote: bool | None = None
    if kind == "ballot":
        if obj["vote"] not in ("yes", "no"):
            raise MalformedInput(f'vote must be "yes" or "no", not {quoted(obj["vote"])}')
        vote = obj["vote"] == "yes"
    return VerifiedAction(kind, member, created, nonce, digest, proposal_id=proposal_id, vote=vote)


def _json_of_text(text: str) -> object:
    if not text.startswith(GOVERNANCE_HEADER) or not text.endswith("\n"):
        raise MalformedInput(f"a governance note's text is {GOVERNANCE_HEADER!r} and one JSON line")
    line = text[len(GOVERNANCE_HEADER) : -1]
    if "\n" in line:
        raise MalformedInput("a governance note's JSON is one line")
    return parse_canonical(line.encode("utf-8"))


def sign_action(obj: Mapping[str, object], signer: Signer) -> str:
    """The signed governance note for ``obj`` (a proposal, ballot or withdrawal body).

    Checks the body first (MalformedInput), including that ``signer`` is the key of the member the
    body names. The note text is :data:`GOVERNANCE_HEADER` then the body's RFC 8785 JSON and a
    newline.
    """
    line = canonicalize(dict(obj))
    body = _parse_body(parse_canonical(line), "")
    if not isinstance(signer, Signer) or signer.name != body.member:
        raise MalformedInput(f"a note of member {body.member} is signed by its own key")
    return sign_note(GOVERNANCE_HEADER + line.decode("utf-8") + "\n", signer)


def verify_action(note_text: str, state: ConsortiumState) -> VerifiedAction:
    """Check a governance note against the current members' keys, then parse it.

    Raises :class:`~accord.errors.SignatureError` if no current member validly signed it, or if
    it names a member other than its signer; :class:`~accord.errors.MalformedInput` if it does not
    parse, is larger than 64 KiB, or carries any signature line besides its member's (so that its
    bytes, and a proposal's id, are a function of its text). Does not check freshness or replay:
    :func:`apply_entry` does, against the ledger time.
    """
    raw = _utf8(note_text, "a governance note")
    if len(raw) > MAX_GOVERNANCE_NOTE:
        raise MalformedInput(f"a governance note is at most {MAX_GOVERNANCE_NOTE} bytes")
    keys = [state.members[m].member_key for m in sorted(state.members)]
    try:
        opened = open_note(raw, keys)
    except SignatureError as exc:
        raise SignatureError(f"not validly signed by a current member ({exc})") from None
    if opened.unverified or len(opened.verified) != 1:
        raise MalformedInput("a governance note carries exactly one signature, its member's")
    signer = opened.verified[0].name
    action = _parse_body(_json_of_text(opened.text), hashlib.sha256(raw).hexdigest())
    if action.member != signer:
        raise SignatureError(f"a note naming member {action.member} is signed by {signer}")
    return action


# --- users records ------------------------------------------------------------------------------


def users_record(op: str, user_id: str, role: str | None = None) -> str:
    """The contents of a ``users`` entry: set ``user_id``'s ``role``, or remove the user."""
    obj: dict[str, object] = {"format": USERS_FORMAT, "op": op, "userId": user_id}
    if role is not None:
        obj["role"] = role
    text = canonicalize(obj).decode("utf-8")
    _parse_users_record(text)
    return text


def _parse_users_record(contents: str) -> tuple[str, str | None]:
    raw = _utf8(contents, "a users record")
    if len(raw) > MAX_USERS_RECORD:
        raise MalformedInput(f"a users record is at most {MAX_USERS_RECORD} bytes")
    value = parse_canonical(raw)
    if not isinstance(value, dict) or value.get("op") not in ("set", "remove"):
        raise MalformedInput('a users record has op "set" or "remove"')
    if value["op"] == "set":
        obj = _object(value, "a users set record", ("format", "op", "userId", "role"))
        role: str | None = check_role(obj["role"])
    else:
        obj = _object(value, "a users remove record", ("format", "op", "userId"))
        role = None
    if obj["format"] != USERS_FORMAT:
        raise MalformedInput(f"unknown users record format {quoted(obj['format'])}")
    return check_user_id(obj["userId"]), role


# --- genesis ------------------------------------------------------------------------------------


def _check_cert_pem(value: object, what: str = "the service certificate") -> str:
    if not isinstance(value, str) or len(value) > MAX_CERT_PEM or not value.isascii():
        raise MalformedInput(f"{what} is PEM text of at most {MAX_CERT_PEM} bytes")
    if value.count("-----BEGIN") != 1:
        raise MalformedInput(f"{what} is exactly one PEM certificate")
    try:
        x509.load_pem_x509_certificate(value.encode("ascii"))
    except ValueError:
        raise MalformedInput(f"{what} is not a PEM X.509 certificate") from None
    return value


def genesis_document(
    origin: str,
    service_cert_pem: str,
    constitution: Constitution,
    members: Sequence[Member],
    nodes: Sequence[Node],
    users: Mapping[str, str],
    user_members: Mapping[str, str] | None = None,
) -> str:
    """The canonical JSON text of a genesis document (the contents of ledger entry 1).

    Each user belongs to a member: a member's ``admin_user`` to that member, any other user to
    the member ``user_members`` names.

    Raises MalformedInput if :func:`genesis_state` would refuse it.
    """
    owners = {m.admin_user: m.name for m in members} | dict(user_members or {})
    doc = {
        "format": GENESIS_FORMAT,
        "origin": origin,
        "serviceCertPem": service_cert_pem,
        "constitution": constitution.to_json(),
        "members": [m.to_json() for m in sorted(members, key=lambda m: m.name)],
        "nodes": [n.to_json() for n in sorted(nodes, key=lambda n: n.node_id)],
        "users": {
            u: {"member": owners[u], "role": r} for u, r in sorted(users.items()) if u in owners
        },
    }
    missing = sorted(set(users) - set(owners))
    if missing:
        raise MalformedInput(f"genesis user {missing[0]} names no member")
    text = canonicalize(doc).decode("utf-8")
    genesis_state(text, seqno=1, timestamp_ms=0)
    return text


def genesis_state(contents: str, *, seqno: int, timestamp_ms: int) -> ConsortiumState:
    """The state the genesis document ``contents`` (entry ``seqno``, at ``timestamp_ms``) sets up.

    Raises MalformedInput on any defect: not canonical ``accord.genesis.v1`` JSON; no member; a
    name listed twice; a node of an unknown member or with a log key not named by the origin; two
    keys alike; no Administrator; a member whose ``adminUser`` is not an Administrator.
    """
    _integer(seqno, "the genesis seqno", 1, MAX_TIMESTAMP_MS)
    _integer(timestamp_ms, "the genesis timestamp", 0, MAX_TIMESTAMP_MS)
    raw = _utf8(contents, "a genesis document")
    if len(raw) > MAX_GENESIS:
        raise MalformedInput(f"a genesis document is at most {MAX_GENESIS} bytes")
    keys = ("format", "origin", "serviceCertPem", "constitution", "members", "nodes", "users")
    obj = _object(parse_canonical(raw), "a genesis document", keys)
    if obj["format"] != GENESIS_FORMAT:
        raise MalformedInput(f"unknown genesis format {quoted(obj['format'])}")
    origin = check_key_name(obj["origin"])
    cert = _check_cert_pem(obj["serviceCertPem"])
    constitution = Constitution.from_json(obj["constitution"])
    raw_members, raw_nodes, raw_users = obj["members"], obj["nodes"], obj["users"]
    if not isinstance(raw_members, list) or not isinstance(raw_nodes, list):
        raise MalformedInput("genesis members and nodes are JSON arrays")
    if not isinstance(raw_users, dict):
        raise MalformedInput('genesis users are a JSON object {user id: {"member", "role"}}')
    members: dict[str, Member] = {}
    for item in raw_members:
        member = Member.from_json(item)
        if members.setdefault(member.name, member) is not member:
            raise MalformedInput(f"member {member.name} is listed twice")
    nodes: dict[str, Node] = {}
    for item in raw_nodes:
        node = Node.from_json(item)
        if nodes.setdefault(node.node_id, node) is not node:
            raise MalformedInput(f"node {node.node_id} is listed twice")
    users: dict[str, str] = {}
    owners: dict[str, str] = {}
    for raw_id, raw_user in raw_users.items():
        entry = _object(raw_user, f"genesis user {quoted(raw_id)}", ("member", "role"))
        user_id = check_user_id(raw_id)
        users[user_id] = check_role(entry["role"])
        owners[user_id] = check_name(entry["member"], "a member name")
    state = ConsortiumState(
        origin,
        cert,
        constitution,
        members,
        nodes,
        users,
        {},
        seqno,
        timestamp_ms,
        user_members=owners,
    )
    try:
        _check_state(state)
    except Conflict as exc:
        raise MalformedInput(f"genesis: {exc}") from None
    for member in members.values():
        if users.get(member.admin_user) != ADMINISTRATOR:
            raise MalformedInput(
                f"genesis: the admin user of {member.name} is not an Administrator"
            )
    return state


# --- the fold -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What applying one entry did. A refused entry (``accepted`` False) changed nothing but the
    clock; ``proposal_id``/``proposal_state`` name the proposal a governance note concerned."""

    accepted: bool
    reason: str
    proposal_id: str | None = None
    proposal_state: str | None = None


def _advance(state: ConsortiumState, seqno: int, now: int) -> ConsortiumState:
    """The clock moved to ``now`` at entry ``seqno``: expire and forget proposals."""
    proposals: dict[str, Proposal] = {}
    changed = False
    for pid, p in state.proposals.items():
        if p.state == OPEN and now >= p.expires_ms:
            p = replace(p, state=EXPIRED, final_seqno=seqno, reason="expired before enough votes")
            changed = True
        elif p.state != OPEN and p.created_ms < now - MAX_PROPOSAL_TTL_MS:
            changed = True  # any replay of its note is now too old to be accepted
            continue
        proposals[pid] = p
    return replace(
        state,
        last_seqno=seqno,
        ledger_time_ms=now,
        proposals=proposals if changed else state.proposals,
    )


def _apply_actions(
    state: ConsortiumState, actions: Sequence[Action], proposer: str
) -> ConsortiumState:
    for action in actions:
        payload = action.payload
        if action.type == "user.set" and isinstance(payload, tuple):
            user_id, role, member = payload
            if member is None and user_id not in state.users:
                payload = (user_id, role, proposer)  # a new user joins the proposer's org
        state = _REGISTRY[action.type].apply(state, payload)
        if not isinstance(state, ConsortiumState):
            raise TypeError(f"the applier of {action.type} returned no ConsortiumState")
    _check_state(state)
    return state


def check_proposal_applies(state: ConsortiumState, note_text: str) -> None:
    """Raise the :class:`AccordError` that applying a proposal's actions to ``state`` would raise
    (a reader that is not a member, a node of an unknown member, removing the last member...).

    What a node's edge checks before ordering a new proposal, so one that could not take effect if
    accepted now is refused at once instead of being voted on. A ballot or withdrawal passes.
    The ordered run still decides for good, against the state at its acceptance.
    """
    action = verify_action(note_text, state)
    if action.kind == "proposal":
        _apply_actions(state, action.actions, action.member)


def _consenters(state: ConsortiumState, p: Proposal) -> frozenset[str]:
    """The members whose own yes a proposal needs, whatever the threshold: the organization a
    user belongs to (or is moved to) for a change of that user, a member for its own encryption
    key, and a member for a node added in its name (which writes as its users), as each action
    type's registered ``consent`` says. So no majority can mint a user or a node of another
    organization (who would read that organization's private collections) or replace its key."""
    needed: set[str] = set()
    for action in p.actions:
        consent = _REGISTRY[action.type].consent
        if consent is not None:
            needed.update(consent(state, action.payload, p.proposer))
    return frozenset(m for m in needed if m in state.members)


def _evaluate(state: ConsortiumState, p: Proposal, seqno: int) -> tuple[ConsortiumState, Proposal]:
    """Decide ``p`` now: accept (and apply) it, reject it, or keep it open."""
    n = len(state.members)
    required = max(state.constitution.threshold_for(a.type).required(n) for a in p.actions)
    yes = sum(1 for m, v in p.votes.items() if v and m in state.members)
    no = sum(1 for m, v in p.votes.items() if not v and m in state.members)
    consenters = _consenters(state, p)
    refusing = sorted(m for m in consenters if p.votes.get(m) is False)
    if refusing:
        p = replace(
            p,
            state=REJECTED,
            final_seqno=seqno,
            reason=f"{', '.join(refusing)} voted no on a change of its own users or key",
        )
        return replace(state, proposals={**state.proposals, p.proposal_id: p}), p
    if yes >= required and all(p.votes.get(m) for m in consenters):
        try:
            applied = _apply_actions(state, p.actions, p.proposer)
        except AccordError as exc:
            p = replace(p, state=REJECTED, final_seqno=seqno, reason=f"could not apply: {exc}")
        else:
            p = replace(p, state=ACCEPTED, final_seqno=seqno, reason=f"{yes} of {n} voted yes")
            state = applied
    elif n - no < required:
        p = replace(
            p, state=REJECTED, final_seqno=seqno, reason=f"{no} of {n} voted no; {required} needed"
        )
    return replace(state, proposals={**state.proposals, p.proposal_id: p}), p


def _apply_governance(
    state: ConsortiumState, contents: str, seqno: int
) -> tuple[ConsortiumState, Outcome]:
    action = verify_action(contents, state)
    now, ttl = state.ledger_time_ms, state.constitution.proposal_ttl_ms
    if action.created_ms < now - ttl:
        raise InvalidRequest(f"the note was created more than {ttl} ms before the ledger time")
    if action.created_ms > now + MAX_CLOCK_SKEW_MS:
        raise InvalidRequest("the note was created more than 10 minutes after the ledger time")
    if action.kind == "proposal":
        if action.digest in state.proposals:
            raise Conflict(f"proposal {action.digest} was already applied")
        proposal = Proposal(
            action.digest,
            action.member,
            action.actions,
            action.created_ms,
            now + ttl,
            seqno,
            votes={action.member: True},
            voted_ms={action.member: action.created_ms},
        )
        state, proposal = _evaluate(state, proposal, seqno)
        verb = "opened" if proposal.state == OPEN else proposal.state
        return state, Outcome(True, f"proposal {verb}", proposal.proposal_id, proposal.state)

    pid = action.proposal_id or ""
    found = state.proposals.get(pid)
    if found is None:
        raise NotFound(f"proposal {pid} is unknown")
    proposal = found
    if proposal.state != OPEN:
        raise Conflict(f"proposal {pid} is {proposal.state}")
    if action.kind == "withdrawal":
        if action.member != proposal.proposer:
            raise AuthError(f"only {proposal.proposer}, its proposer, may withdraw it")
        closed = replace(
            proposal, state=WITHDRAWN, final_seqno=seqno, reason=f"withdrawn by {action.member}"
        )
        state = replace(state, proposals={**state.proposals, pid: closed})
        return state, Outcome(True, "proposal withdrawn", pid, WITHDRAWN)
    last = proposal.voted_ms.get(action.member)
    if last is not None and action.created_ms <= last:
        raise Conflict(f"a ballot of {action.member} created at or after this one already counts")
    voted = replace(
        proposal,
        votes={**proposal.votes, action.member: bool(action.vote)},
        voted_ms={**proposal.voted_ms, action.member: action.created_ms},
    )
    state, voted = _evaluate(state, voted, seqno)
    return state, Outcome(True, f"ballot counted; proposal {voted.state}", pid, voted.state)


def _apply_users(
    state: ConsortiumState, contents: str, user_id: str, member: str | None
) -> tuple[ConsortiumState, Outcome]:
    if not state.is_admin(user_id):
        raise AuthError(f"user {quoted(user_id)} is not an Administrator")
    if member is None or state.member_of(user_id) != member:
        raise AuthError(
            f"user {quoted(user_id)} is not a user of {member}, whose node sent the change"
        )
    target, role = _parse_users_record(contents)
    owner = state.member_of(target)
    if owner is not None and owner != member:
        raise AuthError(f"user {target} belongs to {owner}: only {owner} (or a vote) may change it")
    state = _set_user(state, target, role, member)
    if not any(
        r == ADMINISTRATOR and state.user_members.get(u) == member for u, r in state.users.items()
    ):
        raise Conflict(
            f"user {target} is the last Administrator of {member}; the change would leave it "
            "nobody to manage its users"
        )
    done = f"user {target} removed" if role is None else f"user {target} is now {role}"
    return state, Outcome(True, done)


def apply_entry(
    state: ConsortiumState,
    *,
    seqno: int,
    timestamp_ms: int,
    kind: str,
    contents: str,
    user_id: str,
    member: str | None = None,
) -> tuple[ConsortiumState, Outcome]:
    """Fold one ordered entry into ``state``; pure and deterministic.

    ``member`` is the member whose node sent the entry: a users record is accepted only from an
    Administrator of that member, about that member's users.

    ``kind`` ``governance`` (a member-signed note; ``user_id`` is not used) or ``users`` (a users
    record submitted by ``user_id``). The ledger time becomes ``max(state.ledger_time_ms,
    timestamp_ms)``, open proposals whose expiry it reached expire, then the entry is decided
    against the state of the previous entry. Bad contents never raise: they give the state with
    only the clock advanced and ``Outcome(accepted=False, reason=...)``. Raises InvalidRequest only
    for a caller's mistake: ``seqno`` not after ``state.last_seqno``, or a negative timestamp.
    """
    if not isinstance(seqno, int) or seqno <= state.last_seqno:
        raise InvalidRequest(f"entry {seqno} does not follow entry {state.last_seqno}")
    if not isinstance(timestamp_ms, int) or timestamp_ms < 0:
        raise InvalidRequest(f"invalid timestamp {quoted(timestamp_ms)}")
    base = _advance(state, seqno, max(state.ledger_time_ms, timestamp_ms))
    try:
        if kind == KIND_GOVERNANCE:
            return _apply_governance(base, contents, seqno)
        if kind == KIND_USERS:
            return _apply_users(base, contents, user_id, member)
        if kind == KIND_GENESIS:
            raise Conflict("a genesis entry can only be the first entry")
        raise MalformedInput(f"unknown governance entry kind {quoted(kind)}")
    except AccordError as exc:
        return base, Outcome(False, str(exc))


def replay(
    entries: Iterable[tuple[int, int, str, str, str] | tuple[int, int, str, str, str, str | None]],
) -> ConsortiumState:
    """The state after ``(seqno, timestamp_ms, kind, contents, user_id)`` entries, in order.

    The first must be the genesis entry (kind ``genesis``); MalformedInput if it is missing or
    invalid. Later entries go through :func:`apply_entry`, refusals included.
    """
    iterator = iter(entries)
    first = next(iterator, None)
    if first is None:
        raise MalformedInput("no genesis entry")
    seqno, timestamp_ms, kind, contents = first[:4]
    if kind != KIND_GENESIS:
        raise MalformedInput(f"the first entry is {quoted(kind)}, not the genesis")
    state = genesis_state(contents, seqno=seqno, timestamp_ms=timestamp_ms)
    for entry in iterator:
        seqno, timestamp_ms, kind, contents, user_id = entry[:5]
        member = entry[5] if len(entry) > 5 else None
        state, _ = apply_entry(
            state,
            seqno=seqno,
            timestamp_ms=timestamp_ms,
            kind=kind,
            contents=contents,
            user_id=user_id,
            member=member,
        )
    return state
