"""The applier, pure: restoring from stored leaves gives exactly the state applying gave."""

from __future__ import annotations

import secrets

from accord.consortium.apply import GOVERNANCE_COLLECTION, Applied, Applier
from accord.core.consortium import (
    ballot_body,
    node_remove_action,
    proposal_body,
    sign_action,
    users_record,
)
from accord.core.envelope import Envelope, encode_message, encode_own
from accord.core.note import Signer
from tests.core.test_consortium import T0, A, B, C, genesis_text

_counters: dict[str, int] = {}


def _env(node: str, kind: str, contents: str, user: str, t: int) -> Envelope:
    _counters[node] = _counters.get(node, 0) + 1
    return Envelope(
        kind=kind,
        node=node,
        boot=1,
        counter=_counters[node],
        timestamp_ms=t,
        user_id=user,
        collection_id=GOVERNANCE_COLLECTION if kind != "entry" else "subledger:0",
        tags=(),
        contents=contents,
    )


def _leaves(applied: list[Applied], first: int) -> list[tuple[int, int, tuple[str, ...], str, str]]:
    return [
        (first + i, a.item.timestamp_ms, a.item.tags, a.item.contents.decode(), a.item.user_id)
        for i, a in enumerate(applied)
        if a.item.collection_id == GOVERNANCE_COLLECTION
    ]


def test_restore_matches_the_live_state_when_a_message_removes_its_own_node() -> None:
    genesis = genesis_text()
    live = Applier.from_genesis(genesis, T0)
    stored = [(1, T0, ("kind=genesis",), genesis, "accord")]
    t = T0 + 1000
    note = sign_action(
        proposal_body(
            B.member.name, t, secrets.token_hex(16), [node_remove_action(A.node.node_id)]
        ),
        B.signer,
    )
    message = encode_message([_env(B.node.node_id, "governance", note, "admin-org-b", t)], _log(B))
    first = live.next_seqno
    stored += _leaves(live.apply_message(message), first)
    pid = live.state.proposals and next(iter(live.state.proposals))
    ballot = sign_action(
        ballot_body(C.member.name, t + 1, secrets.token_hex(16), str(pid), True), C.signer
    )
    # One message of A's node: the ballot that removes A's node, then A's own user change.
    message = encode_message(
        [
            _env(A.node.node_id, "governance", ballot, "admin-org-a", t + 2),
            _env(
                A.node.node_id,
                "users",
                users_record("set", "newbie", "Contributor"),
                "admin-org-a",
                t + 2,
            ),
            _env(A.node.node_id, "entry", "late", "admin-org-a", t + 2),
        ],
        _log(A),
    )
    first = live.next_seqno
    applied = live.apply_message(message)
    stored += _leaves(applied, first)
    assert live.state.node(A.node.node_id) is None
    assert [a.accepted for a in applied] == [True, False, False]
    assert all("no longer a current node" in a.reason for a in applied[1:])
    assert "newbie" not in live.state.users
    restored = Applier.restore(
        stored, size=live.next_seqno - 1, ledger_time=live.ledger_time, meta=live.meta(2)
    )
    assert restored.state == live.state
    assert restored.state.to_json() == live.state.to_json()


def _log(org) -> Signer:  # type: ignore[no-untyped-def]
    return org.log


def test_a_users_change_within_a_message_applies_to_the_entries_after_it() -> None:
    live = Applier.from_genesis(genesis_text(), T0)
    t = T0 + 1000
    node = A.node.node_id
    envelopes = [_env(node, "entry", "before", "alice", t), _env(node, "entry", "x", "alice", t)]
    object.__setattr__(envelopes[1], "collection_id", "no spaces allowed")
    envelopes += [
        _env(node, "users", users_record("remove", "alice"), "admin-org-a", t),
        _env(node, "entry", "after", "alice", t),
        _env(node, "users", users_record("set", "alice", "Contributor"), "admin-org-a", t),
        _env(node, "entry", "again", "alice", t),
        _env(node, "entry", "not theirs", "admin-org-b", t),
    ]
    applied = live.apply_message(encode_message(envelopes, _log(A)))
    assert [a.accepted for a in applied] == [True, False, True, False, True, True, False]
    assert "invalid collection id" in applied[1].reason
    assert "may not write" in applied[3].reason
    assert "belongs to org-b" in applied[6].reason


def _outcome(applied: list[Applied]) -> list[tuple[object, ...]]:
    return [(a.item, a.node, a.position, a.accepted, a.reason) for a in applied]


def test_an_own_message_applies_exactly_as_its_bytes_do() -> None:
    node = A.node.node_id
    envelopes = [
        _env(node, "entry", "one", "alice", T0 + 1000),
        _env(node, "users", users_record("remove", "alice"), "admin-org-a", T0 + 1000),
        _env(node, "entry", "refused: alice has no role now", "alice", T0 + 1001),
    ]
    bodies = [env.body() for env in envelopes]
    own_key = _log(A).verifier().public_key_bytes
    data, own = encode_own(envelopes, bodies, _log(A))
    decoded = Applier.from_genesis(genesis_text(), T0)
    parsed = Applier.from_genesis(genesis_text(), T0)
    assert _outcome(decoded.apply_message(data, own, own_key)) == _outcome(
        parsed.apply_message(data)
    )
    assert decoded.state == parsed.state and decoded.next_seqno == parsed.next_seqno


def test_an_own_message_signed_with_a_key_the_state_does_not_name_is_refused() -> None:
    # The node's key in the state is not the one this process signs with (a replaced key): its
    # own message is refused as on every other node, not trusted for being its own.
    node = A.node.node_id
    envelopes = [_env(node, "entry", "one", "alice", T0 + 1000)]
    stranger = Signer.generate(_log(A).name)
    data, own = encode_own(envelopes, [e.body() for e in envelopes], stranger)
    live = Applier.from_genesis(genesis_text(), T0)
    applied = live.apply_message(data, own, stranger.verifier().public_key_bytes)
    assert [a.accepted for a in applied] == [False]
    assert "signature does not verify" in applied[0].reason
