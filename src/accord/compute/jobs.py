"""Joint computations (MPC jobs) on the ledger, and the pure fold that turns their records into
job states.

A joint computation is a *job on the ledger*: every step is one entry in the reserved collection
:data:`COMPUTE_COLLECTION`, written in a user's name through their organization's node. Its
contents are one RFC 8785 canonical JSON object with ``"format": "accord.compute.v1"`` and a
``type`` (``docs/formats.md`` has the fields)::

    propose   an Administrator of any current member proposes a program run by 2-16 members
    accept    an Administrator of each participant accepts, committing to its input
    decline   an Administrator of a participant refuses while the job is proposed
    result    a user of each participant reports the result its party computed
    fail      a user of a participant ends a proposed or running job

A job's id is the transaction id of the entry that proposed it (``"2.41"``). The state machine::

    proposed --every participant accepted--> running --every result, all equal--> completed
       |  \\--decline--> declined                |  \\--two results differ------> failed
       |  \\--fail-----> failed                  |  \\--fail--------------------> failed
       \\--24 h without every acceptance--> expired  \\--deadline passed-------> failed ("timed out")

Terminal states (completed, failed, declined, expired) never change; a record about a terminal
job is refused.

Every node folds these entries in ledger order with :func:`fold` and reaches the same states.
The fold decides each record against the state at that record by the same function the node's
HTTP edge calls before it writes (:func:`check`), so the rules cannot drift between the edge and
the audit: ``fold`` is ``check`` then apply. It never raises for bad contents: a record that breaks
the rules is refused (:class:`Outcome` ``accepted`` False) and changes nothing but the clock.

Time comes from the entries. The ledger time is the largest entry timestamp folded so far; before
a record is decided the clock moves to it, and every running job whose deadline (``started`` +
``timeoutMs``) it passed fails as timed out, every proposed job it took past 24 hours after its
proposal expires. :func:`advance` does the same for a node that reads the state at a ledger time.
A job ended by the clock is dated by its deadline (or expiry), not by when it was noticed, so
every reader reaches the same job.

The programs a proposal may name come from a catalogue passed in as plain data
(:class:`ProgramInfo` by program id). Input commitments (:func:`input_commitment`) bind a
participant's input before the job runs; :func:`verify_input_commitment` raises on a mismatch.

What this module does not do: it runs no computation, opens no connection, reads no clock, draws
no randomness (nonces are passed in) and stores nothing. It does not check that a user may write
at all (the ledger records only entries from users with a write role) nor which collection an
entry is in (the caller folds only :data:`COMPUTE_COLLECTION`). Pure code, ``mypy --strict``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, ClassVar, TypeAlias

from accord.core.canonical import canonicalize, parse_canonical
from accord.core.entry import COLLECTION_ID_PATTERN, TRANSACTION_ID_PATTERN, TransactionId
from accord.core.quoting import quoted
from accord.errors import (
    AuthError,
    ConfigurationError,
    Conflict,
    InvalidRequest,
    MalformedInput,
    NotFound,
    RootMismatch,
)

__all__ = [
    "ACCEPT",
    "ACCEPTANCE_WINDOW_MS",
    "COMPLETED",
    "COMPUTE_COLLECTION",
    "COMPUTE_FORMAT",
    "DECLINE",
    "DECLINED",
    "DEFAULT_TIMEOUT_MS",
    "EXPIRED",
    "FAIL",
    "FAILED",
    "JOB_FORMAT",
    "JOB_STATES",
    "PROPOSE",
    "PROPOSED",
    "RECORD_TYPES",
    "RESULT",
    "RUNNING",
    "TERMINAL_STATES",
    "AcceptRecord",
    "Acceptance",
    "DeclineRecord",
    "FailRecord",
    "InputSpec",
    "Job",
    "JobRecord",
    "JobState",
    "Outcome",
    "PostedResult",
    "ProgramInfo",
    "ProposeRecord",
    "Record",
    "ResultRecord",
    "accept_record",
    "advance",
    "check",
    "decline_record",
    "fail_record",
    "fold",
    "input_commitment",
    "parse_record",
    "propose_record",
    "result_record",
    "verify_input_commitment",
]

# --- constants ----------------------------------------------------------------------------------

COMPUTE_FORMAT = "accord.compute.v1"
COMPUTE_COLLECTION = "accord.compute"
JOB_FORMAT = "accord.compute.job.v1"
"""The format marker of a job's provenance (:meth:`Job.to_json`)."""
INPUT_COMMITMENT_DOMAIN = b"accord.compute.input.v1\x00"

PROPOSE = "propose"
ACCEPT = "accept"
DECLINE = "decline"
RESULT = "result"
FAIL = "fail"
RECORD_TYPES = (PROPOSE, ACCEPT, DECLINE, RESULT, FAIL)

PROPOSED = "proposed"
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
DECLINED = "declined"
EXPIRED = "expired"
JOB_STATES = (PROPOSED, RUNNING, COMPLETED, FAILED, DECLINED, EXPIRED)
TERMINAL_STATES = frozenset({COMPLETED, FAILED, DECLINED, EXPIRED})

MIN_PARTICIPANTS = 2
MAX_PARTICIPANTS = 16
MIN_TIMEOUT_MS = 1_000
MAX_TIMEOUT_MS = 3_600_000
DEFAULT_TIMEOUT_MS = 600_000
"""What :func:`propose_record` writes when the proposer names no timeout (10 minutes)."""
ACCEPTANCE_WINDOW_MS = 24 * 3600 * 1000
"""A proposal not accepted by every participant within this long after it was proposed expires."""
MAX_RECORD_BYTES = 64 * 1024
MAX_PARAMS_BYTES = 16 * 1024
MAX_RESULT_BYTES = 16 * 1024
MAX_REASON_CHARS = 512
MAX_VERSION = 2**32 - 1
MAX_TIMESTAMP_MS = 2**53
MAX_FIELD_CHARS = 128
MAX_ENDPOINT_CHARS = 262  # a 253-character host name, ':' and a 5-digit port, or [IPv6]:port
SALT_BYTES = 32

TIMED_OUT = "timed out"
DIFFERENT_RESULTS = "participants report different results"
NOT_ACCEPTED = "not accepted by every participant within 24 hours"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # member and node names, as in consortium
_PROGRAM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_NONCE = re.compile(r"[0-9a-f]{32}")
_TXID = re.compile(TRANSACTION_ID_PATTERN)
_COLLECTION = re.compile(COLLECTION_ID_PATTERN)
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_PORT = re.compile(r"[1-9][0-9]{0,4}")


# --- small validators (MalformedInput: the record does not parse as accord.compute.v1) ---------


def _exact(value: object, what: str, keys: Iterable[str]) -> dict[str, object]:
    """``value`` as a JSON object with exactly the keys ``keys``."""
    if not isinstance(value, dict):
        raise MalformedInput(f"{what} must be a JSON object")
    wanted = frozenset(keys)
    if set(value) != wanted:
        missing = sorted(wanted - set(value))
        extra = sorted(set(value) - wanted)
        detail = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"unknown {', '.join(quoted(k) for k in extra)}" if extra else "",
            )
            if part
        )
        raise MalformedInput(
            f"{what} must have exactly the keys {', '.join(sorted(wanted))} ({detail})"
        )
    return value


def _matching(value: object, pattern: re.Pattern[str], what: str, shape: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise MalformedInput(f"{what} {quoted(value)} must be {shape}")
    return value


def _integer(value: object, what: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise MalformedInput(f"{what} must be an integer from {low} to {high}, not {quoted(value)}")
    return value


def _name(value: object, what: str) -> str:
    return _matching(
        value, _NAME, what, "1-64 characters of A-Z a-z 0-9 _ . -, first a letter or digit"
    )


def _job_id(value: object) -> str:
    return _matching(value, _TXID, "job", "the transaction id of the proposal, e.g. '2.41'")


def _nonce(value: object) -> str:
    return _matching(value, _NONCE, "nonce", "32 lower-case hex digits")


def _sha256(value: object, what: str) -> str:
    return _matching(value, _SHA256, what, "64 lower-case hex digits")


def _reason(value: object) -> str:
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= MAX_REASON_CHARS
        or any(ord(c) < 32 or ord(c) == 127 for c in value)
    ):
        raise MalformedInput(
            f"a reason is 1-{MAX_REASON_CHARS} characters of text without control characters"
        )
    return value


def _json_object(value: object, what: str, limit: int) -> bytes:
    """The canonical bytes of the JSON object ``value``, at most ``limit`` of them."""
    if not isinstance(value, dict):
        raise MalformedInput(f"{what} must be a JSON object")
    data = canonicalize(value)
    if len(data) > limit:
        raise MalformedInput(f"{what} is {len(data)} bytes of canonical JSON; at most {limit}")
    return data


def _load_object(data: bytes) -> dict[str, Any]:
    value = parse_canonical(data)
    if not isinstance(value, dict):
        raise MalformedInput("expected a canonical JSON object")
    return value


def _endpoint(value: object) -> str:
    """``host:port``: a DNS name, an IPv4 address or a bracketed IPv6 address, and a port."""
    shape = "host:port (a DNS name, an IPv4 address or [IPv6], and a port from 1 to 65535)"
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ENDPOINT_CHARS:
        raise MalformedInput(f"endpoint {quoted(value)} must be {shape}")
    host, sep, port = value.rpartition(":")
    ok = bool(sep) and _PORT.fullmatch(port) is not None and int(port) <= 65535
    if ok and host.startswith("[") and host.endswith("]"):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            ok = False
    elif ok:
        ok = len(host) <= 253 and _HOST_NAME.fullmatch(host) is not None
        if ok and all(label.isdigit() for label in host.split(".")):
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                ok = False
    if not ok:
        raise MalformedInput(f"endpoint {quoted(value)} must be {shape}")
    return value


def _frozen(mapping: Mapping[str, Any]) -> MappingProxyType[str, Any]:
    return MappingProxyType(dict(mapping))


# --- the catalogue ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgramInfo:
    """A program a job may run, as the catalogue describes it (plain data).

    A proposal must name ``id`` at exactly ``version`` and ``sha256`` (the hex SHA-256 of the
    program's code, as the engine's catalogue computes it), between ``min_parties`` and
    ``max_parties`` participants, and params only from ``params_allowed`` (which always includes
    ``params_required``) with every one of ``params_required``.
    """

    id: str
    version: int
    sha256: str
    min_parties: int = MIN_PARTICIPANTS
    max_parties: int = MAX_PARTICIPANTS
    params_allowed: frozenset[str] = frozenset()
    params_required: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        try:
            _matching(self.id, _PROGRAM, "program id", "1-64 characters of A-Z a-z 0-9 _ . : -")
            _integer(self.version, "a program version", 0, MAX_VERSION)
            _sha256(self.sha256, "programSha256")
            _integer(self.min_parties, "min_parties", MIN_PARTICIPANTS, MAX_PARTICIPANTS)
            _integer(self.max_parties, "max_parties", self.min_parties, MAX_PARTICIPANTS)
        except MalformedInput as exc:
            raise ConfigurationError(f"catalogue entry {quoted(self.id)}: {exc}") from None
        required = frozenset(self.params_required)
        object.__setattr__(self, "params_required", required)
        object.__setattr__(self, "params_allowed", frozenset(self.params_allowed) | required)


# --- what a job holds ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InputSpec:
    """Where a participant's input comes from: a value its node is given (``value``), or a
    field of the entries of one of the ledger's collections (``entries``)."""

    VALUE: ClassVar[str] = "value"
    ENTRIES: ClassVar[str] = "entries"

    kind: str
    collection_id: str | None = None
    entry_field: str | None = None
    """A field of each entry's JSON contents: names joined by dots, e.g. ``lot.weight``."""

    def __post_init__(self) -> None:
        if self.kind == self.VALUE:
            if self.collection_id is not None or self.entry_field is not None:
                raise MalformedInput('a "value" input names no collection or field')
        elif self.kind == self.ENTRIES:
            _matching(
                self.collection_id,
                _COLLECTION,
                "collectionId",
                "a collection id: 1-128 characters of A-Z a-z 0-9 _ . : -, first a letter or digit",
            )
            if not isinstance(self.entry_field, str) or len(self.entry_field) > MAX_FIELD_CHARS:
                raise MalformedInput(
                    f"field must be a string of at most {MAX_FIELD_CHARS} characters"
                )
            _matching(
                self.entry_field,
                _FIELD,
                "field",
                "names of A-Z a-z 0-9 _ - (first a letter or _) joined by dots",
            )
        else:
            raise MalformedInput(
                f'an input\'s kind is "value" or "entries", not {quoted(self.kind)}'
            )

    @classmethod
    def value(cls) -> InputSpec:
        return cls(cls.VALUE)

    @classmethod
    def entries(cls, collection_id: str, entry_field: str) -> InputSpec:
        return cls(cls.ENTRIES, collection_id, entry_field)

    def to_json(self) -> dict[str, object]:
        if self.kind == self.VALUE:
            return {"kind": self.kind}
        return {"kind": self.kind, "collectionId": self.collection_id, "field": self.entry_field}

    @classmethod
    def from_json(cls, value: object) -> InputSpec:
        if not isinstance(value, dict):
            raise MalformedInput("an input must be a JSON object")
        if value.get("kind") == cls.ENTRIES:
            obj = _exact(value, "an entries input", ("kind", "collectionId", "field"))
            return cls(cls.ENTRIES, _string(obj["collectionId"]), _string(obj["field"]))
        obj = _exact(value, "a value input", ("kind",))
        return cls(_string(obj["kind"]))


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise MalformedInput(f"expected a string, not {quoted(value)}")
    return value


@dataclass(frozen=True)
class Acceptance:
    """A participant's acceptance: its input commitment and where its MPC party listens."""

    input_commitment: str
    node: str
    endpoint: str
    user_id: str
    ms: int
    txid: str

    def to_json(self) -> dict[str, object]:
        return {
            "inputCommitment": self.input_commitment,
            "node": self.node,
            "endpoint": self.endpoint,
            "user": self.user_id,
            "time": self.ms,
            "transactionId": self.txid,
        }


@dataclass(frozen=True)
class PostedResult:
    """A result one participant reported (``result_json``: canonical JSON bytes)."""

    result_json: bytes
    elapsed_ms: int
    user_id: str
    ms: int
    txid: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.result_json).hexdigest()

    def to_json(self) -> dict[str, object]:
        return {
            "resultSha256": self.sha256,
            "elapsedMs": self.elapsed_ms,
            "user": self.user_id,
            "time": self.ms,
            "transactionId": self.txid,
        }


@dataclass(frozen=True)
class JobRecord:
    """One accepted record of a job, for its provenance."""

    txid: str
    type: str
    member: str
    user_id: str
    ms: int

    def to_json(self) -> dict[str, object]:
        return {
            "transactionId": self.txid,
            "type": self.type,
            "member": self.member,
            "user": self.user_id,
            "time": self.ms,
        }


@dataclass(frozen=True)
class Job:
    """One joint computation as the fold keeps it; never changed in place.

    ``id`` is the transaction id of the proposal; ``participants`` keep the proposal's order (the
    engine may number parties by it). ``params_json`` and ``result_json`` are canonical JSON bytes
    (:attr:`params` and :attr:`result` parse them afresh). ``started_ms`` is the time of the last
    acceptance; ``ended_ms`` the time of the record that ended the job, or the deadline (expiry)
    when the clock ended it. ``ended_by`` names the member that declined or failed the job.
    ``records`` lists every accepted record of the job, in ledger order.
    """

    id: str
    program: str
    version: int
    program_sha256: str
    participants: tuple[str, ...]
    params_json: bytes
    inputs: Mapping[str, InputSpec]
    timeout_ms: int
    proposer_member: str
    proposer_user: str
    proposed_ms: int
    accepted: Mapping[str, Acceptance] = field(default_factory=dict)
    results: Mapping[str, PostedResult] = field(default_factory=dict)
    state: str = PROPOSED
    result_json: bytes | None = None
    reason: str = ""
    started_ms: int | None = None
    ended_ms: int | None = None
    ended_by: str | None = None
    records: tuple[JobRecord, ...] = ()

    def __post_init__(self) -> None:
        if self.state not in JOB_STATES:
            raise InvalidRequest(f"unknown job state {quoted(self.state)}")
        for name in ("inputs", "accepted", "results"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def expires_ms(self) -> int:
        """When a proposal not yet accepted by every participant expires."""
        return self.proposed_ms + ACCEPTANCE_WINDOW_MS

    @property
    def deadline_ms(self) -> int | None:
        """When a running job times out (None until it runs)."""
        return None if self.started_ms is None else self.started_ms + self.timeout_ms

    @property
    def params(self) -> dict[str, Any]:
        return _load_object(self.params_json)

    @property
    def result(self) -> dict[str, Any] | None:
        return None if self.result_json is None else _load_object(self.result_json)

    @property
    def input_commitments(self) -> dict[str, str]:
        return {m: a.input_commitment for m, a in self.accepted.items()}

    def to_json(self) -> dict[str, object]:
        """The job's provenance (``accord.compute.job.v1``): what ran, on whose inputs, what
        came out, and the transaction id of every record that says so."""
        return {
            "format": JOB_FORMAT,
            "job": self.id,
            "program": {"id": self.program, "version": self.version, "sha256": self.program_sha256},
            "participants": list(self.participants),
            "params": self.params,
            "inputs": {m: self.inputs[m].to_json() for m in self.participants},
            "timeoutMs": self.timeout_ms,
            "proposer": {"member": self.proposer_member, "user": self.proposer_user},
            "proposed": self.proposed_ms,
            "acceptances": {m: a.to_json() for m, a in sorted(self.accepted.items())},
            "inputCommitments": dict(sorted(self.input_commitments.items())),
            "results": {m: r.to_json() for m, r in sorted(self.results.items())},
            "state": self.state,
            "result": self.result,
            "reason": self.reason,
            "endedBy": self.ended_by,
            "started": self.started_ms,
            "deadline": self.deadline_ms,
            "ended": self.ended_ms,
            "records": [r.to_json() for r in self.records],
        }


@dataclass(frozen=True)
class JobState:
    """Every job by id, after the compute entry ``last_seqno``; never changed in place.

    ``ledger_time_ms`` is the largest entry timestamp folded (or time advanced to) so far.
    """

    jobs: Mapping[str, Job] = field(default_factory=dict)
    last_seqno: int = 0
    ledger_time_ms: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "jobs", _frozen(self.jobs))

    def job(self, job_id: str) -> Job:
        try:
            return self.jobs[job_id]
        except KeyError:
            raise NotFound(f"no joint computation {quoted(job_id)}") from None

    def to_json(self) -> dict[str, object]:
        return {
            "jobs": [j.to_json() for j in self.jobs.values()],
            "lastSeqno": self.last_seqno,
            "ledgerTime": self.ledger_time_ms,
        }


# --- records ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProposeRecord:
    program: str
    version: int
    program_sha256: str
    participants: tuple[str, ...]
    params_json: bytes
    inputs: Mapping[str, InputSpec]
    timeout_ms: int
    nonce: str
    type: ClassVar[str] = PROPOSE


@dataclass(frozen=True)
class AcceptRecord:
    job: str
    input_commitment: str
    node: str
    endpoint: str
    nonce: str
    type: ClassVar[str] = ACCEPT


@dataclass(frozen=True)
class DeclineRecord:
    job: str
    reason: str
    type: ClassVar[str] = DECLINE


@dataclass(frozen=True)
class ResultRecord:
    job: str
    result_json: bytes
    elapsed_ms: int
    type: ClassVar[str] = RESULT


@dataclass(frozen=True)
class FailRecord:
    job: str
    reason: str
    type: ClassVar[str] = FAIL


Record: TypeAlias = ProposeRecord | AcceptRecord | DeclineRecord | ResultRecord | FailRecord
_AboutAJob: TypeAlias = AcceptRecord | DeclineRecord | ResultRecord | FailRecord

_KEYS = {
    PROPOSE: (
        "format",
        "type",
        "program",
        "version",
        "programSha256",
        "participants",
        "params",
        "inputs",
        "timeoutMs",
        "nonce",
    ),
    ACCEPT: ("format", "type", "job", "inputCommitment", "node", "endpoint", "nonce"),
    DECLINE: ("format", "type", "job", "reason"),
    RESULT: ("format", "type", "job", "result", "elapsedMs"),
    FAIL: ("format", "type", "job", "reason"),
}


def parse_record(contents: bytes) -> Record:
    """Parse one ``accord.compute.v1`` record; MalformedInput unless it is one, canonical.

    Checks the record alone (syntax, sizes, shapes); whether it may be written is :func:`check`.
    """
    if not isinstance(contents, bytes | bytearray | memoryview):
        raise MalformedInput(f"a compute record is bytes, not {type(contents).__name__}")
    if len(contents) > MAX_RECORD_BYTES:
        raise MalformedInput(
            f"a compute record is at most {MAX_RECORD_BYTES} bytes, not {len(contents)}"
        )
    value = parse_canonical(bytes(contents))
    if not isinstance(value, dict) or value.get("format") != COMPUTE_FORMAT:
        raise MalformedInput(f"not an {COMPUTE_FORMAT} record")
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in _KEYS:
        raise MalformedInput(
            f"unknown compute record type {quoted(kind)}; expected one of {', '.join(RECORD_TYPES)}"
        )
    obj = _exact(value, f"a {kind} record", _KEYS[kind])
    if kind == PROPOSE:
        return _parse_propose(obj)
    job = _job_id(obj["job"])
    if kind == ACCEPT:
        return AcceptRecord(
            job,
            _sha256(obj["inputCommitment"], "inputCommitment"),
            _name(obj["node"], "node"),
            _endpoint(obj["endpoint"]),
            _nonce(obj["nonce"]),
        )
    if kind == DECLINE:
        return DeclineRecord(job, _reason(obj["reason"]))
    if kind == RESULT:
        return ResultRecord(
            job,
            _json_object(obj["result"], "result", MAX_RESULT_BYTES),
            _integer(obj["elapsedMs"], "elapsedMs", 0, MAX_TIMESTAMP_MS),
        )
    return FailRecord(job, _reason(obj["reason"]))


def _parse_propose(obj: Mapping[str, object]) -> ProposeRecord:
    program = _matching(
        obj["program"], _PROGRAM, "program", "1-64 characters of A-Z a-z 0-9 _ . : -"
    )
    raw = obj["participants"]
    if not isinstance(raw, list) or not MIN_PARTICIPANTS <= len(raw) <= MAX_PARTICIPANTS:
        raise MalformedInput(
            f"participants must be a list of {MIN_PARTICIPANTS}-{MAX_PARTICIPANTS} member names"
        )
    participants = tuple(_name(p, "participant") for p in raw)
    if len(set(participants)) != len(participants):
        raise MalformedInput("participants must be distinct")
    inputs_raw = obj["inputs"]
    if not isinstance(inputs_raw, dict) or set(inputs_raw) != set(participants):
        raise MalformedInput("inputs must name exactly the participants, one input each")
    return ProposeRecord(
        program,
        _integer(obj["version"], "version", 0, MAX_VERSION),
        _sha256(obj["programSha256"], "programSha256"),
        participants,
        _json_object(obj["params"], "params", MAX_PARAMS_BYTES),
        _frozen({m: InputSpec.from_json(inputs_raw[m]) for m in participants}),
        _integer(obj["timeoutMs"], "timeoutMs", MIN_TIMEOUT_MS, MAX_TIMEOUT_MS),
        _nonce(obj["nonce"]),
    )


def _encode(kind: str, fields: Mapping[str, object]) -> bytes:
    data = canonicalize({"format": COMPUTE_FORMAT, "type": kind, **fields})
    parse_record(data)  # a builder never writes what the fold would refuse to parse
    return data


def propose_record(
    *,
    program: str,
    version: int,
    program_sha256: str,
    participants: Sequence[str],
    inputs: Mapping[str, InputSpec],
    params: Mapping[str, object] | None = None,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    nonce: str,
) -> bytes:
    """The canonical contents of a ``propose`` record; MalformedInput if it would not parse."""
    for spec in inputs.values():
        if not isinstance(spec, InputSpec):
            raise MalformedInput("each input must be an InputSpec")
    return _encode(
        PROPOSE,
        {
            "program": program,
            "version": version,
            "programSha256": program_sha256,
            "participants": list(participants),
            "params": dict(params or {}),
            "inputs": {m: spec.to_json() for m, spec in inputs.items()},
            "timeoutMs": timeout_ms,
            "nonce": nonce,
        },
    )


def accept_record(
    job: str, *, input_commitment: str, node: str, endpoint: str, nonce: str
) -> bytes:
    """The canonical contents of an ``accept`` record."""
    return _encode(
        ACCEPT,
        {
            "job": job,
            "inputCommitment": input_commitment,
            "node": node,
            "endpoint": endpoint,
            "nonce": nonce,
        },
    )


def decline_record(job: str, reason: str) -> bytes:
    """The canonical contents of a ``decline`` record."""
    return _encode(DECLINE, {"job": job, "reason": reason})


def result_record(job: str, result: Mapping[str, object], *, elapsed_ms: int) -> bytes:
    """The canonical contents of a ``result`` record."""
    return _encode(RESULT, {"job": job, "result": dict(result), "elapsedMs": elapsed_ms})


def fail_record(job: str, reason: str) -> bytes:
    """The canonical contents of a ``fail`` record."""
    return _encode(FAIL, {"job": job, "reason": reason})


# --- input commitments --------------------------------------------------------------------------


def input_commitment(salt: bytes, value: object) -> str:
    """SHA-256 (hex) over ``accord.compute.input.v1\\x00`` || salt (32 bytes) || the RFC 8785
    canonical JSON of ``value``. Draw the salt at random and keep it with the input."""
    if not isinstance(salt, bytes) or len(salt) != SALT_BYTES:
        raise InvalidRequest(f"an input commitment's salt is {SALT_BYTES} bytes")
    return hashlib.sha256(INPUT_COMMITMENT_DOMAIN + salt + canonicalize(value)).hexdigest()


def verify_input_commitment(commitment: str, salt: bytes, value: object) -> None:
    """Raise unless ``value`` with ``salt`` opens ``commitment``; returns nothing.

    MalformedInput for a commitment that is not 64 lower-case hex digits, a salt that is not 32
    bytes or a value outside JSON; RootMismatch when they are well formed but do not match.
    """
    _sha256(commitment, "input commitment")
    if not isinstance(salt, bytes) or len(salt) != SALT_BYTES:
        raise MalformedInput(f"an input commitment's salt is {SALT_BYTES} bytes")
    expected = hashlib.sha256(INPUT_COMMITMENT_DOMAIN + salt + canonicalize(value)).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), commitment.encode("ascii")):
        raise RootMismatch("the input and salt do not match the input commitment")


# --- the rules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What folding one record did. A refused record (``accepted`` False) changed nothing but
    the clock; ``job_id``/``job_state`` name the job it concerned (after it); ``ended`` lists the
    jobs the clock ended (timed out or expired) before the record was decided."""

    accepted: bool
    reason: str
    job_id: str | None = None
    job_state: str | None = None
    ended: tuple[str, ...] = ()


def _advance(state: JobState, now: int) -> tuple[JobState, tuple[str, ...]]:
    """The clock moved to ``now``: running jobs past their deadline fail, old proposals expire."""
    changed: dict[str, Job] = {}
    for job_id, job in state.jobs.items():
        deadline = job.deadline_ms
        if job.state == RUNNING and deadline is not None and now > deadline:
            changed[job_id] = replace(job, state=FAILED, reason=TIMED_OUT, ended_ms=deadline)
        elif job.state == PROPOSED and now > job.expires_ms:
            changed[job_id] = replace(
                job, state=EXPIRED, reason=NOT_ACCEPTED, ended_ms=job.expires_ms
            )
    if not changed:
        if now == state.ledger_time_ms:
            return state, ()
        return replace(state, ledger_time_ms=now), ()
    return replace(state, jobs={**state.jobs, **changed}, ledger_time_ms=now), tuple(changed)


def _check(
    state: JobState,
    record: Record,
    *,
    user_id: str,
    member: str | None,
    is_admin: bool,
    members: AbstractSet[str],
    nodes: Mapping[str, str],
    catalogue: Mapping[str, ProgramInfo],
) -> None:
    """Raise unless ``record`` may be written by ``user_id`` of ``member`` in ``state``."""
    if member is None or member not in members:
        raise AuthError(
            f"user {quoted(user_id)} belongs to no current member organization: "
            "only members' users take part in joint computations"
        )
    if isinstance(record, ProposeRecord):
        _check_propose(record, user_id, member, is_admin, members, catalogue)
        return
    job = state.job(record.job)
    if job.terminal:
        raise Conflict(
            f"joint computation {job.id} is {job.state} ({job.reason}); it takes no more records"
        )
    if member not in job.participants:
        raise AuthError(f"{member} is not a participant of joint computation {job.id}")
    if isinstance(record, AcceptRecord | DeclineRecord):
        if not is_admin:
            raise AuthError(
                f"only an Administrator of {member} may {record.type} joint computation {job.id}"
            )
        if job.state != PROPOSED:
            raise Conflict(
                f"joint computation {job.id} is {job.state}: it can no longer be "
                f"{'accepted' if record.type == ACCEPT else 'declined'}"
            )
    if isinstance(record, AcceptRecord):
        if member in job.accepted:
            raise Conflict(f"{member} already accepted joint computation {job.id}")
        owner = nodes.get(record.node)
        if owner is None:
            raise NotFound(f"no node {quoted(record.node)} in the consortium")
        if owner != member:
            raise AuthError(f"node {record.node} belongs to {owner}, not to {member}")
    elif isinstance(record, ResultRecord):
        if job.state != RUNNING:
            raise Conflict(
                f"joint computation {job.id} is {job.state}: results are posted while it runs"
            )
        if member in job.results:
            raise Conflict(f"{member} already posted its result for joint computation {job.id}")


def _check_propose(
    record: ProposeRecord,
    user_id: str,
    member: str,
    is_admin: bool,
    members: AbstractSet[str],
    catalogue: Mapping[str, ProgramInfo],
) -> None:
    if not is_admin:
        raise AuthError(
            f"user {quoted(user_id)} is not an Administrator of {member}: only Administrators "
            "propose joint computations"
        )
    info = catalogue.get(record.program)
    if info is None:
        raise NotFound(f"no program {quoted(record.program)} in the catalogue")
    if not isinstance(info, ProgramInfo) or info.id != record.program:
        raise ConfigurationError(f"the catalogue's entry {quoted(record.program)} is not its own")
    if record.version != info.version:
        raise Conflict(
            f"program {info.id} is at version {info.version} in the catalogue, not {record.version}"
        )
    if record.program_sha256 != info.sha256:
        raise Conflict(
            f"program {info.id} version {info.version} has SHA-256 {info.sha256}, "
            f"not {record.program_sha256}"
        )
    n = len(record.participants)
    if not info.min_parties <= n <= info.max_parties:
        raise InvalidRequest(
            f"program {info.id} runs with {info.min_parties}-{info.max_parties} participants, "
            f"not {n}"
        )
    strangers = [p for p in record.participants if p not in members]
    if strangers:
        raise InvalidRequest(
            f"participants must be current members: {', '.join(strangers)} "
            f"{'is' if len(strangers) == 1 else 'are'} not"
        )
    names = set(_load_object(record.params_json))
    unknown = sorted(names - info.params_allowed)
    if unknown:
        raise InvalidRequest(
            f"program {info.id} takes no param {', '.join(quoted(p) for p in unknown)}"
        )
    missing = sorted(info.params_required - names)
    if missing:
        raise InvalidRequest(f"program {info.id} needs the params {', '.join(missing)}")


def _apply(
    state: JobState, record: Record, *, txid: str, now: int, user_id: str, member: str
) -> tuple[JobState, Outcome]:
    """Apply a record :func:`_check` passed; returns the new state and what it did."""
    entry = JobRecord(txid, record.type, member, user_id, now)
    if isinstance(record, ProposeRecord):
        job = Job(
            id=txid,
            program=record.program,
            version=record.version,
            program_sha256=record.program_sha256,
            participants=record.participants,
            params_json=record.params_json,
            inputs=record.inputs,
            timeout_ms=record.timeout_ms,
            proposer_member=member,
            proposer_user=user_id,
            proposed_ms=now,
            records=(entry,),
        )
        what = f"joint computation {txid} proposed to {', '.join(record.participants)}"
    else:
        job, what = _apply_to_job(state.job(record.job), record, entry)
    jobs = {**state.jobs, job.id: job}
    return replace(state, jobs=jobs), Outcome(True, what, job.id, job.state)


def _apply_to_job(job: Job, record: _AboutAJob, entry: JobRecord) -> tuple[Job, str]:
    member, now = entry.member, entry.ms
    records = (*job.records, entry)
    if isinstance(record, AcceptRecord):
        accepted = {
            **job.accepted,
            member: Acceptance(
                record.input_commitment,
                record.node,
                record.endpoint,
                entry.user_id,
                now,
                entry.txid,
            ),
        }
        if len(accepted) == len(job.participants):
            job = replace(job, accepted=accepted, state=RUNNING, started_ms=now, records=records)
            return job, f"joint computation {job.id} accepted by every participant: running"
        waiting = len(job.participants) - len(accepted)
        job = replace(job, accepted=accepted, records=records)
        return job, f"{member} accepted joint computation {job.id}; waiting for {waiting} more"
    if isinstance(record, ResultRecord):
        posted = PostedResult(record.result_json, record.elapsed_ms, entry.user_id, now, entry.txid)
        results = {**job.results, member: posted}
        if any(r.result_json != record.result_json for r in job.results.values()):
            job = replace(
                job,
                results=results,
                state=FAILED,
                reason=DIFFERENT_RESULTS,
                ended_ms=now,
                records=records,
            )
            return job, f"joint computation {job.id} failed: {DIFFERENT_RESULTS}"
        if len(results) == len(job.participants):
            job = replace(
                job,
                results=results,
                state=COMPLETED,
                result_json=record.result_json,
                ended_ms=now,
                records=records,
            )
            return job, f"joint computation {job.id} completed"
        job = replace(job, results=results, records=records)
        return job, f"{member} posted its result for joint computation {job.id}"
    state = DECLINED if isinstance(record, DeclineRecord) else FAILED
    job = replace(
        job, state=state, reason=record.reason, ended_ms=now, ended_by=member, records=records
    )
    return job, f"joint computation {job.id} {state} by {member}: {record.reason}"


# --- the fold and its edge ----------------------------------------------------------------------


def _timestamp(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_TIMESTAMP_MS:
        raise InvalidRequest(f"invalid timestamp {quoted(value)}")
    return value


def _writer(user_id: object, member: object) -> None:
    if not isinstance(user_id, str) or not user_id:
        raise InvalidRequest(f"invalid user id {quoted(user_id)}")
    if member is not None and not isinstance(member, str):
        raise InvalidRequest(f"invalid member {quoted(member)}")


def fold(
    state: JobState,
    *,
    txid: str,
    timestamp_ms: int,
    user_id: str,
    member: str | None,
    is_admin: bool,
    members: AbstractSet[str],
    nodes: Mapping[str, str],
    contents: bytes,
    catalogue: Mapping[str, ProgramInfo],
) -> tuple[JobState, Outcome]:
    """Fold one ``accord.compute`` entry into ``state``; pure and deterministic.

    ``txid`` is the entry's transaction id (a proposal's becomes its job id), ``timestamp_ms`` its
    ledger timestamp, ``user_id`` the user it was written for, ``member`` that user's member
    organization (None: none) and ``is_admin`` whether the user is an Administrator, all as the
    consortium state stood before this entry, like ``members`` (current member names) and
    ``nodes`` (node id -> its member). The clock first moves to the larger of the ledger time and
    ``timestamp_ms`` (ending jobs it passed), then the record is decided by :func:`check`'s rule.

    Bad contents never raise: they give the state with only the clock moved and
    ``Outcome(accepted=False, reason=...)``. Raises InvalidRequest only for a caller's mistake (a
    malformed ``txid`` or one not after ``state.last_seqno``, a bad timestamp or user id, contents
    that are not bytes) and ConfigurationError for a catalogue entry filed under another id.
    """
    seqno = TransactionId.parse(txid).seqno
    if seqno <= state.last_seqno:
        raise InvalidRequest(f"entry {txid} does not follow entry {state.last_seqno}")
    now = max(state.ledger_time_ms, _timestamp(timestamp_ms))
    _writer(user_id, member)
    if not isinstance(contents, bytes):
        raise InvalidRequest(f"entry contents are bytes, not {type(contents).__name__}")
    base, ended = _advance(state, now)
    base = replace(base, last_seqno=seqno)
    record: Record | None = None
    try:
        record = parse_record(contents)
        _check(
            base,
            record,
            user_id=user_id,
            member=member,
            is_admin=is_admin,
            members=members,
            nodes=nodes,
            catalogue=catalogue,
        )
    except (MalformedInput, InvalidRequest, AuthError) as exc:
        job_id = None if record is None or isinstance(record, ProposeRecord) else record.job
        job = base.jobs.get(job_id) if job_id is not None else None
        return base, Outcome(False, str(exc), job_id, job.state if job else None, ended)
    if member is None:  # _check refuses a writer without a member; this narrows the type
        raise AuthError("a compute record needs a member")
    new, outcome = _apply(base, record, txid=txid, now=now, user_id=user_id, member=member)
    return new, replace(outcome, ended=ended)


def check(
    state: JobState,
    *,
    timestamp_ms: int,
    user_id: str,
    member: str | None,
    is_admin: bool,
    members: AbstractSet[str],
    nodes: Mapping[str, str],
    contents: bytes,
    catalogue: Mapping[str, ProgramInfo],
) -> Record:
    """Raise unless the fold would accept ``contents`` written now; returns the parsed record.

    The node's HTTP edge calls this before it writes, with the arguments :func:`fold` will get
    (``timestamp_ms``: its current ledger time). Raises MalformedInput (not an
    ``accord.compute.v1`` record), NotFound (unknown job, program or node), Conflict (the job's
    state or the catalogue forbids it), InvalidRequest (participants or params the program does
    not take) or AuthError (the writer may not). Changes nothing.
    """
    now = max(state.ledger_time_ms, _timestamp(timestamp_ms))
    _writer(user_id, member)
    base, _ = _advance(state, now)
    record = parse_record(contents)
    _check(
        base,
        record,
        user_id=user_id,
        member=member,
        is_admin=is_admin,
        members=members,
        nodes=nodes,
        catalogue=catalogue,
    )
    return record


def advance(state: JobState, now_ms: int) -> JobState:
    """The state at ledger time ``now_ms``: running jobs past their deadline failed (timed out),
    proposals past their acceptance window expired. A node reading jobs calls this with its
    ledger time; keep folding from the state :func:`fold` returned (a later entry's timestamp
    ends the same jobs, dated the same)."""
    return _advance(state, max(state.ledger_time_ms, _timestamp(now_ms)))[0]
