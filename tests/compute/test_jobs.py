"""The pure fold of joint-computation records: the state machine, every refusal, time, commitments."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.compute.jobs import (
    ACCEPTANCE_WINDOW_MS,
    COMPLETED,
    COMPUTE_FORMAT,
    DECLINED,
    DEFAULT_TIMEOUT_MS,
    EXPIRED,
    FAILED,
    JOB_FORMAT,
    JOB_STATES,
    PROPOSED,
    RUNNING,
    TERMINAL_STATES,
    AcceptRecord,
    InputSpec,
    Job,
    JobState,
    Outcome,
    ProgramInfo,
    ProposeRecord,
    accept_record,
    advance,
    check,
    decline_record,
    fail_record,
    fold,
    input_commitment,
    parse_record,
    propose_record,
    result_record,
    verify_input_commitment,
)
from accord.core.canonical import canonicalize
from accord.errors import (
    AccordError,
    AuthError,
    ConfigurationError,
    Conflict,
    InvalidRequest,
    MalformedInput,
    NotFound,
    RootMismatch,
    VerificationError,
)

T0 = 1_800_000_000_000
SHA = "ab" * 32
NONCE = "0f" * 16
SUM = ProgramInfo(
    "psi.sum",
    3,
    SHA,
    2,
    4,
    params_allowed=frozenset({"scale"}),
    params_required=frozenset({"rounds"}),
)
PAIR = ProgramInfo("pair", 1, "cd" * 32, 2, 2)
CATALOGUE: dict[str, ProgramInfo] = {SUM.id: SUM, PAIR.id: PAIR}
MEMBERS = frozenset({"alpha", "beta", "gamma", "delta"})
NODES = {"alpha-1": "alpha", "beta-1": "beta", "gamma-1": "gamma", "delta-1": "delta"}
USERS: dict[str, tuple[str | None, bool]] = {
    "alice": ("alpha", True),
    "anna": ("alpha", False),
    "bob": ("beta", True),
    "bert": ("beta", False),
    "carol": ("gamma", True),
    "cid": ("gamma", False),
    "dave": ("delta", True),
    "eve": (None, False),
}
ADMIN = {"alpha": "alice", "beta": "bob", "gamma": "carol", "delta": "dave"}
CONTRIBUTOR = {"alpha": "anna", "beta": "bert", "gamma": "cid"}
THREE = ("alpha", "beta", "gamma")


def commitment(member: str) -> str:
    return input_commitment(member.encode().ljust(32, b"\0"), {"member": member})


def propose(
    participants: tuple[str, ...] = THREE,
    *,
    program: ProgramInfo = SUM,
    params: Mapping[str, object] | None = None,
    timeout_ms: int = 60_000,
) -> bytes:
    return propose_record(
        program=program.id,
        version=program.version,
        program_sha256=program.sha256,
        participants=participants,
        inputs={m: InputSpec.value() for m in participants},
        params={"rounds": 2} if params is None else params,
        timeout_ms=timeout_ms,
        nonce=NONCE,
    )


def accept(job: str, member: str, *, node: str | None = None) -> bytes:
    return accept_record(
        job,
        input_commitment=commitment(member),
        node=node or f"{member}-1",
        endpoint=f"mpc.{member}.example:7000",
        nonce=NONCE,
    )


def raw(**fields: object) -> bytes:
    """A canonical record with any fields, bypassing the builders' own checks."""
    return canonicalize({"format": COMPUTE_FORMAT, **fields})


def propose_fields(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "type": "propose",
        "program": SUM.id,
        "version": SUM.version,
        "programSha256": SUM.sha256,
        "participants": list(THREE),
        "params": {"rounds": 2},
        "inputs": {m: {"kind": "value"} for m in THREE},
        "timeoutMs": 60_000,
        "nonce": NONCE,
    }
    fields.update(overrides)
    return fields


class Ledger:
    """Drive a JobState the way a node does: check at the edge, then fold at the next txid."""

    def __init__(self) -> None:
        self.state = JobState()
        self.seqno = 0
        self.now = T0
        self.entries: list[dict[str, Any]] = []

    def context(self, user: str) -> dict[str, Any]:
        member, is_admin = USERS[user]
        return {
            "user_id": user,
            "member": member,
            "is_admin": is_admin,
            "members": MEMBERS,
            "nodes": NODES,
            "catalogue": CATALOGUE,
        }

    def write(self, user: str, contents: bytes, *, at: int | None = None) -> tuple[str, Outcome]:
        self.now = self.now + 1 if at is None else at
        self.seqno += 1
        txid = f"2.{self.seqno}"
        entry = {"txid": txid, "timestamp_ms": self.now, "contents": contents, **self.context(user)}
        self.entries.append(entry)
        self.state, outcome = fold(self.state, **entry)
        return txid, outcome

    def ok(self, user: str, contents: bytes, *, at: int | None = None) -> str:
        when = self.now + 1 if at is None else at
        check(self.state, timestamp_ms=when, contents=contents, **self.context(user))
        txid, outcome = self.write(user, contents, at=at)
        assert outcome.accepted, outcome.reason
        return txid

    def refused(
        self,
        user: str,
        contents: bytes,
        error: type[AccordError],
        match: str,
        *,
        at: int | None = None,
    ) -> Outcome:
        when = self.now + 1 if at is None else at
        with pytest.raises(error, match=match):
            check(self.state, timestamp_ms=when, contents=contents, **self.context(user))
        before = advance(self.state, when)
        _, outcome = self.write(user, contents, at=when)
        assert not outcome.accepted
        assert re.search(match, outcome.reason), outcome.reason
        assert self.state.jobs == before.jobs  # a refusal changes nothing but the clock
        return outcome

    def running(self, participants: tuple[str, ...] = THREE, **kw: Any) -> str:
        job = self.ok("alice", propose(participants, **kw))
        for m in participants:
            self.ok(ADMIN[m], accept(job, m))
        assert self.state.jobs[job].state == RUNNING
        return job


# --- the happy path -------------------------------------------------------------------------------


def test_three_participants_complete_with_full_provenance() -> None:
    ledger = Ledger()
    job = ledger.ok("alice", propose(params={"rounds": 2, "scale": 10}), at=T0)
    assert job == "2.1"
    j = ledger.state.jobs[job]
    assert (j.state, j.proposer_member, j.proposer_user, j.proposed_ms) == (
        PROPOSED,
        "alpha",
        "alice",
        T0,
    )
    assert j.params == {"rounds": 2, "scale": 10}

    a1 = ledger.ok("bob", accept(job, "beta"), at=T0 + 10)
    a2 = ledger.ok("alice", accept(job, "alpha"), at=T0 + 20)
    assert ledger.state.jobs[job].state == PROPOSED
    a3 = ledger.ok("carol", accept(job, "gamma"), at=T0 + 30)
    j = ledger.state.jobs[job]
    assert (j.state, j.started_ms, j.deadline_ms) == (RUNNING, T0 + 30, T0 + 30 + 60_000)
    assert j.input_commitments == {m: commitment(m) for m in THREE}
    assert j.accepted["beta"].endpoint == "mpc.beta.example:7000"

    result = {"sum": 42, "n": [1, 2.5]}
    r1 = ledger.ok("anna", result_record(job, result, elapsed_ms=900), at=T0 + 1_000)
    r2 = ledger.ok("bob", result_record(job, result, elapsed_ms=950), at=T0 + 1_100)
    assert ledger.state.jobs[job].state == RUNNING
    r3 = ledger.ok("cid", result_record(job, result, elapsed_ms=990), at=T0 + 1_200)
    j = ledger.state.jobs[job]
    assert (j.state, j.result, j.ended_ms, j.reason) == (COMPLETED, result, T0 + 1_200, "")
    assert j.result_json == canonicalize(result)

    prov = j.to_json()
    assert prov["format"] == JOB_FORMAT
    assert prov["program"] == {"id": SUM.id, "version": SUM.version, "sha256": SUM.sha256}
    assert prov["participants"] == list(THREE)
    assert prov["inputCommitments"] == {m: commitment(m) for m in THREE}
    assert prov["params"] == {"rounds": 2, "scale": 10}
    assert (prov["started"], prov["ended"], prov["state"]) == (T0 + 30, T0 + 1_200, COMPLETED)
    assert prov["result"] == result
    records = prov["records"]
    assert isinstance(records, list)
    assert [r["transactionId"] for r in records] == [job, a1, a2, a3, r1, r2, r3]
    assert [r["type"] for r in records] == ["propose"] + ["accept"] * 3 + ["result"] * 3
    results = prov["results"]
    assert isinstance(results, dict)
    digest = hashlib.sha256(canonicalize(result)).hexdigest()
    assert results["gamma"] == {
        "resultSha256": digest,
        "elapsedMs": 990,
        "user": "cid",
        "time": T0 + 1_200,
        "transactionId": r3,
    }
    canonicalize(prov)  # the provenance is JSON


def test_entries_inputs_and_builder_defaults() -> None:
    record = propose_record(
        program=PAIR.id,
        version=PAIR.version,
        program_sha256=PAIR.sha256,
        participants=["beta", "alpha"],
        inputs={
            "alpha": InputSpec.entries("lab:results", "lot.weight"),
            "beta": InputSpec.value(),
        },
        nonce=NONCE,
    )
    parsed = parse_record(record)
    assert isinstance(parsed, ProposeRecord)
    assert parsed.timeout_ms == DEFAULT_TIMEOUT_MS
    assert parsed.participants == ("beta", "alpha")  # the proposal's order is kept
    ledger = Ledger()
    job = ledger.ok("alice", record)
    assert ledger.state.jobs[job].to_json()["inputs"] == {
        "beta": {"kind": "value"},
        "alpha": {"kind": "entries", "collectionId": "lab:results", "field": "lot.weight"},
    }


def test_builders_write_canonical_records_that_parse_back() -> None:
    for data in (
        propose(),
        accept("2.1", "beta"),
        decline_record("2.1", "not this week"),
        result_record("2.1", {"x": 1}, elapsed_ms=5),
        fail_record("2.1", "party crashed"),
    ):
        assert canonicalize(json.loads(data)) == data
        parse_record(data)
    parsed = parse_record(accept("2.1", "beta"))
    assert parsed == AcceptRecord(
        "2.1", commitment("beta"), "beta-1", "mpc.beta.example:7000", NONCE
    )


def test_builders_refuse_what_the_fold_would_not_parse() -> None:
    with pytest.raises(MalformedInput, match="nonce"):
        accept_record("2.1", input_commitment=SHA, node="n", endpoint="h:1", nonce="xyz")
    with pytest.raises(MalformedInput, match="distinct"):
        propose(("alpha", "alpha"))
    with pytest.raises(MalformedInput, match="reason"):
        fail_record("2.1", "")
    with pytest.raises(MalformedInput, match="InputSpec"):
        propose_record(
            program="p",
            version=1,
            program_sha256=SHA,
            participants=["a", "b"],
            inputs={"a": {"kind": "value"}, "b": InputSpec.value()},  # type: ignore[dict-item]
            nonce=NONCE,
        )


# --- refusals of proposals ------------------------------------------------------------------------


def test_only_an_administrator_of_a_member_proposes() -> None:
    ledger = Ledger()
    ledger.refused("anna", propose(), AuthError, "not an Administrator")
    ledger.refused("eve", propose(), AuthError, "no current member")
    assert ledger.state.jobs == {}
    ledger.ok("dave", propose())  # any current member's Administrator, participant or not


@pytest.mark.parametrize(
    ("program", "error", "match"),
    [
        (dataclasses.replace(SUM, id="nope"), NotFound, "no program 'nope'"),
        (dataclasses.replace(SUM, version=4), Conflict, "version 3 in the catalogue, not 4"),
        (dataclasses.replace(SUM, sha256="00" * 32), Conflict, "has SHA-256"),
    ],
)
def test_proposal_must_match_the_catalogue(
    program: ProgramInfo, error: type[AccordError], match: str
) -> None:
    Ledger().refused("alice", propose(program=program), error, match)


def test_participants_count_must_fit_the_program() -> None:
    ledger = Ledger()
    ledger.refused("alice", propose(program=PAIR, params={}), InvalidRequest, "2-2 participants")
    five = ("alpha", "beta", "gamma", "delta", "epsilon")
    ledger.refused("alice", propose(five), InvalidRequest, "2-4 participants, not 5")
    one = raw(**propose_fields(participants=["alpha"], inputs={"alpha": {"kind": "value"}}))
    ledger.refused("alice", one, MalformedInput, "2-16 member names")


def test_participants_must_be_distinct_current_members() -> None:
    ledger = Ledger()
    ledger.refused("alice", propose(("alpha", "zeta")), InvalidRequest, "zeta is not")
    dup = raw(**propose_fields(participants=["alpha", "alpha"]))
    ledger.refused("alice", dup, MalformedInput, "distinct")
    bad_name = raw(**propose_fields(participants=["alpha", "no spaces"]))
    ledger.refused("alice", bad_name, MalformedInput, "participant")


def test_params_must_be_the_programs() -> None:
    ledger = Ledger()
    ledger.refused("alice", propose(params={}), InvalidRequest, "needs the params rounds")
    ledger.refused(
        "alice", propose(params={"rounds": 1, "x": 1}), InvalidRequest, "takes no param 'x'"
    )
    ledger.refused("alice", raw(**propose_fields(params=[1])), MalformedInput, "params")


def test_inputs_must_name_exactly_the_participants() -> None:
    ledger = Ledger()
    two = raw(**propose_fields(inputs={"alpha": {"kind": "value"}, "beta": {"kind": "value"}}))
    ledger.refused("alice", two, MalformedInput, "exactly the participants")
    bad_kind = propose_fields()
    bad_kind["inputs"] = {m: {"kind": "file"} for m in THREE}
    ledger.refused("alice", raw(**bad_kind), MalformedInput, "kind")
    bad_collection = propose_fields()
    bad_collection["inputs"] = {
        m: {"kind": "entries", "collectionId": "-x", "field": "a"} for m in THREE
    }
    ledger.refused("alice", raw(**bad_collection), MalformedInput, "collectionId")
    bad_field = propose_fields()
    bad_field["inputs"] = {
        m: {"kind": "entries", "collectionId": "c", "field": "a..b"} for m in THREE
    }
    ledger.refused("alice", raw(**bad_field), MalformedInput, "field")


@pytest.mark.parametrize("timeout", [999, 3_600_001, "60000", True])
def test_timeout_must_be_one_second_to_one_hour(timeout: object) -> None:
    Ledger().refused("alice", raw(**propose_fields(timeoutMs=timeout)), MalformedInput, "timeoutMs")


# --- refusals of acceptances, declines, results, failures -----------------------------------------


def test_acceptance_rules() -> None:
    ledger = Ledger()
    job = ledger.ok("alice", propose())
    ledger.refused("dave", accept(job, "delta"), AuthError, "delta is not a participant")
    ledger.refused("eve", accept(job, "alpha"), AuthError, "no current member")
    ledger.refused("bert", accept(job, "beta"), AuthError, "only an Administrator of beta")
    ledger.refused("bob", accept(job, "beta", node="alpha-1"), AuthError, "belongs to alpha")
    ledger.refused("bob", accept(job, "beta", node="beta-9"), NotFound, "no node 'beta-9'")
    ledger.refused("bob", accept("2.99", "beta"), NotFound, "no joint computation '2.99'")
    ledger.ok("bob", accept(job, "beta"))
    ledger.refused("bob", accept(job, "beta"), Conflict, "already accepted")
    ledger.ok("alice", accept(job, "alpha"))
    ledger.ok("carol", accept(job, "gamma"))
    ledger.refused("carol", accept(job, "gamma"), Conflict, "running: it can no longer be accepted")


def test_a_participant_removed_from_the_consortium_cannot_act() -> None:
    ledger = Ledger()
    job = ledger.ok("alice", propose())
    contents = accept(job, "beta")
    with pytest.raises(AuthError, match="no current member"):
        check(
            ledger.state,
            timestamp_ms=ledger.now,
            contents=contents,
            **{**ledger.context("bob"), "members": MEMBERS - {"beta"}},
        )


def test_result_rules() -> None:
    ledger = Ledger()
    job = ledger.ok("alice", propose())
    ledger.refused(
        "anna", result_record(job, {"x": 1}, elapsed_ms=1), Conflict, "proposed: results are"
    )
    for m in THREE:
        ledger.ok(ADMIN[m], accept(job, m))
    ledger.refused(
        "dave", result_record(job, {"x": 1}, elapsed_ms=1), AuthError, "not a participant"
    )
    ledger.ok("anna", result_record(job, {"x": 1}, elapsed_ms=1))
    ledger.refused("alice", result_record(job, {"x": 1}, elapsed_ms=1), Conflict, "already posted")
    big = raw(type="result", job=job, result={"x": "y" * 17_000}, elapsedMs=1)
    ledger.refused("bob", big, MalformedInput, "at most 16384")
    ledger.refused(
        "bob", raw(type="result", job=job, result=[1], elapsedMs=1), MalformedInput, "object"
    )
    ledger.refused(
        "bob", raw(type="result", job=job, result={}, elapsedMs=-1), MalformedInput, "elapsedMs"
    )


def test_differing_results_fail_the_job_and_keep_no_result() -> None:
    ledger = Ledger()
    job = ledger.running()
    ledger.ok("anna", result_record(job, {"sum": 42}, elapsed_ms=1))
    _, outcome = ledger.write("bert", result_record(job, {"sum": 41}, elapsed_ms=1))
    assert outcome.accepted and outcome.job_state == FAILED
    j = ledger.state.jobs[job]
    assert (j.state, j.reason, j.result, j.result_json) == (
        FAILED,
        "participants report different results",
        None,
        None,
    )
    assert j.ended_ms == ledger.now
    assert set(j.results) == {"alpha", "beta"}  # what each reported stays as evidence
    ledger.refused(
        "cid", result_record(job, {"sum": 42}, elapsed_ms=1), Conflict, "is failed .participants"
    )


def test_results_differing_only_in_spelling_are_equal() -> None:
    ledger = Ledger()
    job = ledger.running(("alpha", "beta"), program=PAIR, params={})
    ledger.ok("anna", raw(type="result", job=job, result={"a": 1, "b": 2}, elapsedMs=1))
    ledger.ok("bert", result_record(job, {"b": 2.0, "a": 1}, elapsed_ms=2))
    assert ledger.state.jobs[job].state == COMPLETED


def test_decline_while_proposed_ends_the_job() -> None:
    ledger = Ledger()
    job = ledger.ok("alice", propose())
    ledger.ok("bob", accept(job, "beta"))
    ledger.refused("bert", decline_record(job, "no"), AuthError, "only an Administrator of beta")
    ledger.refused("dave", decline_record(job, "no"), AuthError, "not a participant")
    ledger.ok("carol", decline_record(job, "not with these params"))
    j = ledger.state.jobs[job]
    assert (j.state, j.reason, j.ended_by, j.ended_ms) == (
        DECLINED,
        "not with these params",
        "gamma",
        ledger.now,
    )


def test_decline_while_running_is_refused() -> None:
    ledger = Ledger()
    job = ledger.running()
    ledger.refused("carol", decline_record(job, "no"), Conflict, "can no longer be declined")


@pytest.mark.parametrize("run", [False, True])
def test_any_user_of_a_participant_fails_a_live_job(run: bool) -> None:
    ledger = Ledger()
    job = ledger.running() if run else ledger.ok("alice", propose())
    ledger.refused("dave", fail_record(job, "x"), AuthError, "not a participant")
    ledger.ok("cid", fail_record(job, "our party crashed"))
    j = ledger.state.jobs[job]
    assert (j.state, j.reason, j.ended_by, j.result) == (FAILED, "our party crashed", "gamma", None)


@pytest.mark.parametrize("reason", ["", "x" * 513, "line\nbreak", 7])
def test_reasons_are_short_one_line_text(reason: object) -> None:
    ledger = Ledger()
    job = ledger.ok("alice", propose())
    ledger.refused("anna", raw(type="fail", job=job, reason=reason), MalformedInput, "reason")
    ledger.refused("alice", raw(type="decline", job=job, reason=reason), MalformedInput, "reason")


# --- time -----------------------------------------------------------------------------------------


def test_a_later_record_times_out_a_running_job() -> None:
    ledger = Ledger()
    job = ledger.running(timeout_ms=5_000)
    started = ledger.state.jobs[job].started_ms
    assert started is not None
    deadline = started + 5_000
    ledger.ok("anna", result_record(job, {"x": 1}, elapsed_ms=1), at=deadline)  # on time
    other = ledger.ok("bob", propose(("beta", "gamma")), at=deadline + 1)  # about another job
    j = ledger.state.jobs[job]
    assert (j.state, j.reason, j.ended_ms, j.result) == (FAILED, "timed out", deadline, None)
    assert ledger.state.jobs[other].state == PROPOSED
    _, outcome = ledger.write("bert", result_record(job, {"x": 1}, elapsed_ms=1))
    assert not outcome.accepted and "timed out" in outcome.reason


def test_the_outcome_names_the_jobs_the_clock_ended() -> None:
    ledger = Ledger()
    job = ledger.running(timeout_ms=1_000)
    _, outcome = ledger.write("eve", b"garbage", at=ledger.now + 1_001)
    assert not outcome.accepted
    assert outcome.ended == (job,)
    assert ledger.state.jobs[job].state == FAILED


def test_a_result_after_the_deadline_is_refused() -> None:
    ledger = Ledger()
    job = ledger.running(timeout_ms=1_000)
    late = ledger.now + 1_001
    ledger.refused(
        "anna", result_record(job, {"x": 1}, elapsed_ms=1), Conflict, "timed out", at=late
    )


def test_proposals_expire_a_day_after_unaccepted() -> None:
    ledger = Ledger()
    job = ledger.ok("alice", propose(), at=T0)
    ledger.ok("bob", accept(job, "beta"), at=T0 + 1)
    ledger.ok("alice", accept(job, "alpha"), at=T0 + ACCEPTANCE_WINDOW_MS)  # still open
    ledger.refused(
        "carol",
        accept(job, "gamma"),
        Conflict,
        "expired",
        at=T0 + ACCEPTANCE_WINDOW_MS + 1,
    )
    j = ledger.state.jobs[job]
    assert (j.state, j.ended_ms) == (EXPIRED, T0 + ACCEPTANCE_WINDOW_MS)


def test_advance_tells_a_reader_a_job_timed_out() -> None:
    ledger = Ledger()
    running = ledger.running(timeout_ms=2_000)
    proposed = ledger.ok("bob", propose(("beta", "gamma")))
    deadline = ledger.state.jobs[running].deadline_ms
    assert deadline is not None
    state = ledger.state
    assert advance(state, deadline) == dataclasses.replace(state, ledger_time_ms=deadline)
    later = advance(state, deadline + 1)
    assert later.jobs[running].state == FAILED
    assert later.jobs[running].ended_ms == deadline
    assert later.jobs[proposed].state == PROPOSED
    assert later.last_seqno == state.last_seqno
    much_later = advance(state, T0 + 2 * ACCEPTANCE_WINDOW_MS)
    assert much_later.jobs[proposed].state == EXPIRED
    assert much_later.jobs[running] == later.jobs[running]  # dated by the deadline, not the read
    assert advance(much_later, T0) == much_later  # the clock never goes back
    with pytest.raises(InvalidRequest):
        advance(state, -1)


def test_time_never_goes_back_with_an_earlier_timestamp() -> None:
    ledger = Ledger()
    job = ledger.running(timeout_ms=1_000)
    ledger.write("eve", b"x", at=ledger.now + 5_000)
    ledger.refused("anna", result_record(job, {"x": 1}, elapsed_ms=1), Conflict, "timed out", at=T0)


# --- terminal jobs ---------------------------------------------------------------------------------


def _terminal_jobs() -> tuple[Ledger, dict[str, str]]:
    ledger = Ledger()
    completed = ledger.running(("alpha", "beta"), program=PAIR, params={})
    ledger.ok("anna", result_record(completed, {"r": 1}, elapsed_ms=1))
    ledger.ok("bert", result_record(completed, {"r": 1}, elapsed_ms=1))
    declined = ledger.ok("alice", propose())
    ledger.ok("bob", decline_record(declined, "no"))
    failed = ledger.ok("alice", propose())
    ledger.ok("cid", fail_record(failed, "crash"))
    expired = ledger.ok("alice", propose(), at=ledger.now + 1)
    ledger.write("eve", b"tick", at=ledger.now + ACCEPTANCE_WINDOW_MS + 1)
    jobs = {COMPLETED: completed, DECLINED: declined, FAILED: failed, EXPIRED: expired}
    for state, job in jobs.items():
        assert ledger.state.jobs[job].state == state
    return ledger, jobs


def test_records_about_terminal_jobs_are_refused() -> None:
    ledger, jobs = _terminal_jobs()
    for state, job in jobs.items():
        for user, contents in (
            ("alice", accept(job, "alpha")),
            ("alice", decline_record(job, "no")),
            ("anna", result_record(job, {"r": 1}, elapsed_ms=1)),
            ("anna", fail_record(job, "again")),
        ):
            ledger.refused(user, contents, Conflict, f"is {state}")


# --- malformed contents and caller mistakes -----------------------------------------------------


@pytest.mark.parametrize(
    ("contents", "match"),
    [
        (b"not json", "JSON"),
        (b'{"format": "accord.compute.v1"}', "canonical"),
        (b"[]", "not an accord.compute.v1 record"),
        (canonicalize({"format": "accord.compute.v2", "type": "fail"}), "not an accord"),
        (raw(type="vote", job="2.1"), "unknown compute record type"),
        (raw(type="fail", job="2.1", reason="x", extra=1), "unknown 'extra'"),
        (raw(type="fail", job="2.1"), "missing reason"),
        (raw(type="fail", job="02.1", reason="x"), "transaction id"),
        (raw(**propose_fields(nonce="AB" * 16)), "nonce"),
        (raw(**propose_fields(programSha256="AB" * 32)), "programSha256"),
        (raw(**propose_fields(version=-1)), "version"),
        (raw(**propose_fields(program="")), "program"),
        (raw(**propose_fields(params={"x": "y" * 16_400})), "params is"),
        (
            b'{"format":"accord.compute.v1","type":"fail","job":"2.1","reason":"' + b"x" * 70_000,
            "at most 65536",
        ),
        (b"\xff", "UTF-8"),
    ],
)
def test_malformed_contents_are_refused_not_raised(contents: bytes, match: str) -> None:
    ledger = Ledger()
    ledger.refused("alice", contents, MalformedInput, match)


@pytest.mark.parametrize(
    "endpoint",
    [
        "host",
        "host:0",
        "host:65536",
        "host:080",
        "999.1.1.1:80",
        "[zz]:80",
        "[::1:80",
        "a b:80",
        "-host:80",
        ":80",
        "h" * 300 + ":80",
        "user@host:80",
    ],
)
def test_bad_endpoints_are_refused(endpoint: str) -> None:
    ledger = Ledger()
    job = ledger.ok("alice", propose())
    contents = raw(
        type="accept",
        job=job,
        inputCommitment=SHA,
        node="beta-1",
        endpoint=endpoint,
        nonce=NONCE,
    )
    ledger.refused("bob", contents, MalformedInput, "endpoint")


@pytest.mark.parametrize("endpoint", ["mpc.beta.example:7000", "10.0.0.1:1", "[::1]:65535", "b:9"])
def test_good_endpoints(endpoint: str) -> None:
    ledger = Ledger()
    job = ledger.ok("alice", propose())
    ledger.ok(
        "bob",
        accept_record(job, input_commitment=SHA, node="beta-1", endpoint=endpoint, nonce=NONCE),
    )


def test_caller_mistakes_raise() -> None:
    ledger = Ledger()
    ledger.ok("alice", propose())
    ctx = ledger.context("alice")
    good = {"timestamp_ms": T0 + 10, "contents": propose(), **ctx}
    with pytest.raises(InvalidRequest, match="does not follow"):
        fold(ledger.state, txid="2.1", **good)
    with pytest.raises(InvalidRequest, match="malformed transaction id"):
        fold(ledger.state, txid="x", **good)
    with pytest.raises(InvalidRequest, match="timestamp"):
        fold(ledger.state, txid="2.5", **{**good, "timestamp_ms": -1})
    with pytest.raises(InvalidRequest, match="bytes"):
        fold(ledger.state, txid="2.5", **{**good, "contents": propose().decode()})
    with pytest.raises(InvalidRequest, match="user id"):
        fold(ledger.state, txid="2.5", **{**good, "user_id": ""})
    misfiled = {**ctx, "catalogue": {SUM.id: PAIR}}
    with pytest.raises(ConfigurationError):
        fold(ledger.state, txid="2.5", timestamp_ms=T0 + 10, contents=propose(), **misfiled)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sha256": "AB" * 32},
        {"version": -1},
        {"min_parties": 1},
        {"max_parties": 17},
        {"min_parties": 3, "max_parties": 2},
        {"id": "no spaces"},
    ],
)
def test_program_info_refuses_a_bad_catalogue_entry(kwargs: dict[str, Any]) -> None:
    fields: dict[str, Any] = {"id": "p", "version": 1, "sha256": SHA, **kwargs}
    with pytest.raises(ConfigurationError):
        ProgramInfo(**fields)


def test_program_info_allows_its_required_params() -> None:
    assert SUM.params_allowed == frozenset({"scale", "rounds"})
    assert SUM.params_required == frozenset({"rounds"})


def test_states_are_immutable() -> None:
    ledger = Ledger()
    job = ledger.running()
    j = ledger.state.jobs[job]
    with pytest.raises(dataclasses.FrozenInstanceError):
        j.state = COMPLETED  # type: ignore[misc]
    with pytest.raises(TypeError):
        ledger.state.jobs[job] = j  # type: ignore[index]
    with pytest.raises(TypeError):
        j.accepted["delta"] = j.accepted["alpha"]  # type: ignore[index]
    params = j.params
    params["rounds"] = 99
    assert j.params == {"rounds": 2}


# --- determinism ------------------------------------------------------------------------------------


def test_folding_the_same_records_twice_gives_equal_states() -> None:
    ledger, _ = _terminal_jobs()
    job = ledger.running()
    ledger.ok("anna", result_record(job, {"x": 1}, elapsed_ms=1))
    again = JobState()
    for entry in ledger.entries:
        again, _ = fold(again, **entry)
    assert again == ledger.state
    assert canonicalize(again.to_json()) == canonicalize(ledger.state.to_json())


# --- property: random sequences never raise, terminal jobs never change ---------------------------

_USERS = sorted(USERS)
_TIME_STEPS = [0, 1, 1_000, 10_000] * 5 + [700_000, ACCEPTANCE_WINDOW_MS]
_PARTICIPANT_POOL = ["alpha", "beta", "gamma", "alpha", "beta", "gamma", "delta", "zeta"]
_KINDS = ["propose", "decline", "fail", "junk"] + ["accept", "result"] * 4

step = st.tuples(
    st.sampled_from(_USERS),
    st.sampled_from(_KINDS),
    st.integers(0, 3),  # which job the record is about: 1 the latest, 0 one that does not exist
    st.sampled_from(_TIME_STEPS),
    st.lists(st.sampled_from(_PARTICIPANT_POOL), min_size=2, max_size=4, unique=True),
    st.integers(0, 5),  # a variant: program, node, result value, junk
    st.sampled_from([True] * 4 + [False]),  # write as a participant the job waits for
)


def _pick(state: JobState, kind: str, about: int, *, waited_for: bool) -> str:
    """The job a record is about: ``about`` counts back from the latest (0: no such job); a
    record written as the job waits for goes to a job in the state it applies to, if any."""
    ids = list(state.jobs)
    if not about or not ids:
        return "2.999"
    if waited_for:
        wanted = RUNNING if kind in ("result", "fail") else PROPOSED
        ids = [i for i in ids if state.jobs[i].state == wanted] or ids
    return ids[-1 - (about - 1) % len(ids)]


def _writer_for(job: Job | None, kind: str, user: str) -> str:
    """A user the job waits for (an admin to accept or decline, anyone to post a result)."""
    if kind == "propose":
        return "alice"
    if job is None:
        return user
    waiting = [m for m in job.participants if m not in job.accepted and m in ADMIN]
    if kind == "result":
        waiting = [m for m in job.participants if m not in job.results and m in ADMIN]
        return CONTRIBUTOR.get(waiting[0], ADMIN[waiting[0]]) if waiting else user
    return ADMIN[waiting[0]] if waiting else user


def _contents(kind: str, job: str, members: list[str], variant: int, user: str) -> bytes:
    member = USERS[user][0] or "alpha"
    if kind == "propose":
        program = [SUM, SUM, SUM, PAIR, dataclasses.replace(SUM, version=9), SUM][variant]
        params = {"rounds": 1} if program is not PAIR else {}
        return propose(tuple(members), program=program, params=params, timeout_ms=600_000)
    if kind == "accept":
        node = [f"{member}-1"] * 4 + ["alpha-1", "nope"]
        return accept_record(
            job,
            input_commitment=commitment(member),
            node=node[variant],
            endpoint="h:1",
            nonce=NONCE,
        )
    if kind == "decline":
        return decline_record(job, "no")
    if kind == "result":
        return result_record(job, {"v": int(variant == 5)}, elapsed_ms=1)
    if kind == "fail":
        return fail_record(job, "crash")
    return [b"junk", raw(type="fail", job=job), b"{}", b"", b"[]", propose()[:-1]][variant]


_ALICE: dict[str, Any] = {
    "user_id": "alice",
    "member": "alpha",
    "is_admin": True,
    "members": MEMBERS,
    "nodes": NODES,
    "catalogue": CATALOGUE,
}


@settings(max_examples=200, deadline=None)
@given(st.lists(step, min_size=10, max_size=60))
def test_random_records_never_raise_and_terminal_jobs_never_change(
    steps: list[tuple[str, str, int, int, list[str], int, bool]],
) -> None:
    state = JobState()
    now = T0
    for seqno, opening in enumerate((propose(), propose(("alpha", "beta")))):
        state, _ = fold(state, txid=f"1.{seqno + 1}", timestamp_ms=now, contents=opening, **_ALICE)
    for seqno, (user, kind, about, dt, members, variant, waited_for) in enumerate(steps, 3):
        now += dt
        job = _pick(state, kind, about, waited_for=waited_for)
        if waited_for:
            user = _writer_for(state.jobs.get(job), kind, user)
        contents = _contents(kind, job, members, variant, user)
        member, is_admin = USERS[user]
        context: dict[str, Any] = {
            "user_id": user,
            "member": member,
            "is_admin": is_admin,
            "members": MEMBERS,
            "nodes": NODES,
            "catalogue": CATALOGUE,
            "contents": contents,
        }
        try:
            check(state, timestamp_ms=now, **context)
            allowed = True
        except AccordError:
            allowed = False
        new, outcome = fold(state, txid=f"2.{seqno}", timestamp_ms=now, **context)
        assert outcome.accepted == allowed  # fold is check, then apply
        assert new.last_seqno == seqno and new.ledger_time_ms == now
        for job_id, old in state.jobs.items():
            if old.state in TERMINAL_STATES:
                assert new.jobs[job_id] == old
        for j in new.jobs.values():
            assert j.state in JOB_STATES
            if j.state == COMPLETED:
                assert j.result_json is not None and len(j.results) == len(j.participants)
            else:
                assert j.result_json is None
            if j.state == RUNNING:
                assert j.deadline_ms is not None and now <= j.deadline_ms
                assert set(j.accepted) == set(j.participants)
        state = new


# --- input commitments --------------------------------------------------------------------------


def test_input_commitment_is_the_documented_hash() -> None:
    salt = bytes(range(32))
    value = {"b": [1, 2], "a": "x"}
    naive = hashlib.sha256(
        b"accord.compute.input.v1\x00" + salt + b'{"a":"x","b":[1,2]}'
    ).hexdigest()
    assert input_commitment(salt, value) == naive
    verify_input_commitment(naive, salt, {"a": "x", "b": [1, 2.0]})  # the same JSON value


def test_input_commitment_mismatch_raises() -> None:
    salt = bytes(32)
    c = input_commitment(salt, 41)
    with pytest.raises(RootMismatch):
        verify_input_commitment(c, salt, 42)
    with pytest.raises(VerificationError):
        verify_input_commitment(c, b"\1" * 32, 41)
    flipped = ("0" if c[0] != "0" else "1") + c[1:]
    with pytest.raises(RootMismatch):
        verify_input_commitment(flipped, salt, 41)


@pytest.mark.parametrize(
    ("commitment_", "salt", "value"),
    [
        ("AB" * 32, bytes(32), 1),
        ("ab" * 31, bytes(32), 1),
        ("ab" * 32, bytes(31), 1),
        ("ab" * 32, "x" * 32, 1),
        ("ab" * 32, bytes(32), float("nan")),
        ("ab" * 32, bytes(32), {1: 2}),
    ],
)
def test_input_commitment_malformed_raises(commitment_: str, salt: Any, value: object) -> None:
    with pytest.raises(MalformedInput):
        verify_input_commitment(commitment_, salt, value)


def test_input_commitment_needs_a_32_byte_salt() -> None:
    with pytest.raises(InvalidRequest):
        input_commitment(b"short", 1)
