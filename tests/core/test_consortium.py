"""Consortium governance: genesis, member-signed proposals and ballots, users, and the fold."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core import consortium as c
from accord.core.canonical import canonicalize
from accord.core.checkpoint import Checkpoint, sign_checkpoint
from accord.core.consortium import (
    ConsortiumState,
    Constitution,
    Member,
    Node,
    Outcome,
    Threshold,
    apply_entry,
    ballot_body,
    genesis_document,
    genesis_state,
    proposal_body,
    replay,
    sign_action,
    users_record,
    verify_action,
    withdrawal_body,
)
from accord.core.cosignature import Cosigner, add_signatures
from accord.core.note import Signer, sign_note
from accord.core.policy import Policy
from accord.errors import (
    AccordError,
    ConfigurationError,
    InvalidRequest,
    MalformedInput,
    QuorumNotMet,
    SignatureError,
)
from accord.identity import make_service_identity
from accord.service import users as service_users

ORIGIN = "consortium.example/ledger"
SERVICE_PEM = make_service_identity("consortium-test").cert_pem().decode()
ENGINE_CA_PEM = make_service_identity("test ordering CA").cert_pem().decode()
T0 = 1_764_000_000_000
DAY = 24 * 3600 * 1000


def _key(tag: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(tag.encode()).digest())


@dataclass(frozen=True)
class Org:
    """A member organization's secrets and its public record, as the tests hold them."""

    signer: Signer
    cosigner: Cosigner
    log: Signer
    member: Member
    node: Node


def make_org(name: str, index: int) -> Org:
    signer = Signer.from_private_key(name, _key(f"member {name}"))
    cosigner = Cosigner(name, _key(f"cosigner {name}"))
    log = Signer.from_private_key(ORIGIN, _key(f"log {name}"))
    member = Member(name, signer.verifier(), cosigner.key(), f"admin-{name}")
    node = Node(
        f"{name}-n1",
        name,
        log.verifier(),
        f"https://{name}.example:8443",
        f"tls://10.0.0.{index}:16222",
        f"nats://10.0.0.{index}:4222",
        hashlib.sha256(f"tls {name}".encode()).hexdigest(),
        ENGINE_CA_PEM,
    )
    return Org(signer, cosigner, log, member, node)


A, B, C, D = (make_org(n, i) for i, n in enumerate(("org-a", "org-b", "org-c", "org-d"), 1))
OUTSIDER = Signer.from_private_key("org-x", _key("outsider"))
IMPOSTOR_A = Signer.from_private_key("org-a", _key("impostor"))  # A's name, another key
ALICE = "alice"  # a plain Contributor


def genesis_text(
    orgs: tuple[Org, ...] = (A, B, C),
    constitution: Constitution | None = None,
    users: Mapping[str, str] | None = None,
) -> str:
    if users is None:
        users = {o.member.admin_user: "Administrator" for o in orgs} | {ALICE: "Contributor"}
    return genesis_document(
        ORIGIN,
        SERVICE_PEM,
        constitution or Constitution(),
        [o.member for o in orgs],
        [o.node for o in orgs],
        users,
        {u: orgs[0].member.name for u in users if not u.startswith("admin-")},
    )


class Chain:
    """A ledger's governance entries, applied one by one as every node applies them."""

    def __init__(self, genesis: str | None = None) -> None:
        contents = genesis or genesis_text()
        self.state = genesis_state(contents, seqno=1, timestamp_ms=T0)
        self.entries: list[tuple[int, int, str, str, str, str | None]] = [
            (1, T0, "genesis", contents, "", None)
        ]
        self.time = T0
        self.nonces = itertools.count(1)
        self.last = Outcome(False, "nothing applied yet")

    def nonce(self) -> str:
        return f"{next(self.nonces):032x}"

    def apply(
        self,
        kind: str,
        contents: str,
        user: str = "",
        *,
        dt: int = 1000,
        member: str | None = None,
    ) -> Outcome:
        """Apply an entry; ``member`` is the sending node's member (default: the user's own)."""
        if member is None:
            member = self.state.member_of(user)
        self.time += dt
        seqno = self.state.last_seqno + 1
        self.entries.append((seqno, self.time, kind, contents, user, member))
        self.state, outcome = apply_entry(
            self.state,
            seqno=seqno,
            timestamp_ms=self.time,
            kind=kind,
            contents=contents,
            user_id=user,
            member=member,
        )
        self.last = outcome
        return outcome

    def propose(self, org: Org | Signer, *actions: Mapping[str, object], dt: int = 1000) -> str:
        """Sign and apply a proposal; returns its note (its id is the note's SHA-256)."""
        signer = org if isinstance(org, Signer) else org.signer
        body = proposal_body(signer.name, self.time + dt, self.nonce(), list(actions))
        note = sign_action(body, signer)
        self.apply("governance", note, dt=dt)
        return note

    def vote(self, org: Org | Signer, pid: str, vote: bool) -> str:
        signer = org if isinstance(org, Signer) else org.signer
        body = ballot_body(signer.name, self.time + 1000, self.nonce(), pid, vote)
        note = sign_action(body, signer)
        self.apply("governance", note)
        return note


def pid_of(note: str) -> str:
    return hashlib.sha256(note.encode()).hexdigest()


def refused_baseline(state: ConsortiumState, seqno: int, timestamp_ms: int) -> ConsortiumState:
    """The state a refused entry leaves: only the clock (and lazy expiry) moved."""
    baseline, outcome = apply_entry(
        state, seqno=seqno, timestamp_ms=timestamp_ms, kind="governance", contents="", user_id=""
    )
    assert not outcome.accepted
    return baseline


# --- values -------------------------------------------------------------------------------------


def test_roles_are_those_of_the_service() -> None:
    assert c.ROLES == service_users.ROLES
    assert c.READ_ROLES == service_users.READ_ROLES
    assert c.WRITE_ROLES == service_users.WRITE_ROLES
    assert c.ADMIN_ROLES == service_users.ADMIN_ROLES
    assert c.ADMINISTRATOR == service_users.ADMINISTRATOR


def _service_canonical(text: str) -> bool:
    try:
        return service_users.parse_user_id(text)[1] == text
    except InvalidRequest:
        return False


def _core_accepts(text: str) -> bool:
    try:
        return c.check_user_id(text) == text
    except MalformedInput:
        return False


FINGERPRINT = ":".join(["AB"] * 32)


@pytest.mark.parametrize(
    "text",
    [
        FINGERPRINT,
        FINGERPRINT.lower(),
        "ab" * 32,
        f"sha256 Fingerprint={FINGERPRINT}",
        f" {FINGERPRINT}",
        "auth0|5f7c8ec7c33c6c004bbafe82",
        "0" * 32,
        "0" * 40,
        "..",
        "a" * 129,
        "a b",
        "alice\n",
        "",
    ],
)
def test_user_ids_are_those_the_service_keeps_canonically(text: str) -> None:
    assert _core_accepts(text) == _service_canonical(text)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="aF0:9.|_-@ \n", max_size=70) | st.text(max_size=20))
def test_user_id_rule_matches_the_service_on_any_text(text: str) -> None:
    assert _core_accepts(text) == _service_canonical(text)


def test_threshold_required_and_json_forms() -> None:
    table = {1: (1, 1, 1), 2: (2, 2, 2), 3: (2, 3, 2), 4: (3, 4, 2), 5: (3, 5, 2), 10: (6, 10, 2)}
    for n, (majority, unanimous, two) in table.items():
        assert Threshold.majority().required(n) == majority
        assert Threshold.unanimous().required(n) == unanimous
        assert Threshold.of(2).required(n) == two  # capped at n
    for threshold in (Threshold.majority(), Threshold.unanimous(), Threshold.of(7)):
        assert Threshold.from_json(threshold.to_json()) == threshold
    assert Threshold.of(7).to_json() == 7
    for bad in (True, 0, 257, -1, 1.5, "most", "Majority", None, [1]):
        with pytest.raises(MalformedInput):
            Threshold.from_json(bad)
    with pytest.raises(InvalidRequest):
        Threshold.majority().required(0)


def test_constitution_defaults_and_json_round_trip() -> None:
    default = Constitution()
    assert default.threshold_for("member.add") == Threshold.majority()
    assert default.threshold_for("constitution.set") == Threshold.majority()
    assert default.cosign_quorum == Threshold.majority()
    assert default.proposal_ttl_ms == 7 * DAY
    custom = Constitution(
        Threshold.of(2),
        {"constitution.set": Threshold.unanimous(), "private.collection-add": Threshold.of(3)},
        2 * DAY,
    )
    assert Constitution.from_json(json.loads(json.dumps(custom.to_json()))) == custom
    assert custom.to_json() == {
        "format": "accord.constitution.v1",
        "cosignQuorum": 2,
        "thresholds": {"constitution.set": "unanimous", "private.collection-add": 3},
        "proposalTtlMs": 2 * DAY,
    }


@pytest.mark.parametrize(
    "change",
    [
        {"format": "accord.constitution.v2"},
        {"thresholds": {"Member.Add": "majority"}},
        {"thresholds": {"member add": "majority"}},
        {"thresholds": []},
        {"proposalTtlMs": 60_000},  # shorter than an hour: notes could never arrive in time
        {"proposalTtlMs": 400 * DAY},
        {"cosignQuorum": 0},
        {"extra": 1},
    ],
)
def test_constitution_refusals(change: dict[str, object]) -> None:
    with pytest.raises(MalformedInput):
        Constitution.from_json(Constitution().to_json() | change)


def test_member_and_node_validation() -> None:
    with pytest.raises(MalformedInput):
        Member("org-b", A.signer.verifier(), B.cosigner.key(), "admin")  # key named org-a
    with pytest.raises(MalformedInput):
        Member("org-a", A.signer.verifier(), B.cosigner.key(), "admin")  # cosigner named org-b
    with pytest.raises(MalformedInput):
        Member("org-a", A.signer.verifier(), A.cosigner.key(), "ab" * 32)  # non-canonical id
    for reserved in ("none", "members"):
        key = Signer.from_private_key(reserved, _key("r")).verifier()
        with pytest.raises(MalformedInput):
            Member(reserved, key, Cosigner(reserved, _key("rc")).key(), "admin")
    for bad_name in ("", "-a", "a/b", "a b", "x" * 65, "é"):
        with pytest.raises(MalformedInput):
            replace(A.node, node_id=bad_name)
    good = A.node
    for change in (
        {"url": "http://org-a.example"},
        {"url": "https://user:pw@org-a.example"},
        {"url": "https://org-a.example/?q"},
        {"url": "https://"},
        {"engine_route": "tls://10.0.0.1"},  # no port
        {"engine_route": "https://10.0.0.1:16222"},
        {"engine_client": "nats-route://10.0.0.1:4222"},
        {"engine_client": "nats://10.0.0.1:99999"},
        {"tls_cert_sha256": "AB" * 32},
        {"tls_cert_sha256": "ab" * 31},
    ):
        with pytest.raises(MalformedInput):
            replace(good, **change)  # type: ignore[arg-type]
    assert Node.from_json(good.to_json()) == good
    assert Member.from_json(A.member.to_json()) == A.member


# --- genesis ------------------------------------------------------------------------------------


def test_genesis_state_holds_the_document() -> None:
    text = genesis_text()
    state = genesis_state(text, seqno=1, timestamp_ms=T0)
    assert sorted(state.members) == ["org-a", "org-b", "org-c"]
    assert state.node("org-b-n1") == B.node
    assert state.node("nope") is None
    assert state.role_of("admin-org-a") == "Administrator"
    assert state.may_write(ALICE) and state.may_read(ALICE) and not state.is_admin(ALICE)
    assert not state.may_read("stranger") and state.role_of("stranger") is None
    assert state.cosign_quorum() == 2
    assert state.last_seqno == 1 and state.ledger_time_ms == T0
    assert state.node_by_tls_fingerprint(C.node.tls_cert_sha256) == C.node
    assert state.log_keys() == (A.log.verifier(), B.log.verifier(), C.log.verifier())
    # The document is canonical JSON: its own canonical form, in any member order given.
    assert canonicalize(json.loads(text)).decode() == text
    reordered = genesis_document(
        ORIGIN,
        SERVICE_PEM,
        Constitution(),
        [C.member, A.member, B.member],
        [B.node, C.node, A.node],
        {u: v["role"] for u, v in reversed(json.loads(text)["users"].items())},
        {u: v["member"] for u, v in json.loads(text)["users"].items()},
    )
    assert reordered == text


def _doc(**changes: object) -> str:
    doc = json.loads(genesis_text()) | changes
    return canonicalize(doc).decode()


def _member_json(org: Org, **changes: object) -> dict[str, object]:
    return org.member.to_json() | changes


def _node_json(org: Org, **changes: object) -> dict[str, object]:
    return org.node.to_json() | changes


OTHER_LOG = Signer.from_private_key("other.example/log", _key("other log"))


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        (_doc(members=[]), "1 to 256 members"),
        (_doc(nodes=[]), "1 to 256 nodes"),
        (_doc(format="accord.genesis.v2"), "genesis format"),
        (_doc(nodes=[_node_json(A), _node_json(B, member="org-z")]), "not a member"),
        (_doc(nodes=[_node_json(A, logKey=OTHER_LOG.verifier().to_vkey())]), "not named"),
        (_doc(nodes=[_node_json(A), _node_json(B, logKey=A.node.log_key.to_vkey())]), "same"),
        (_doc(nodes=[_node_json(A), _node_json(B, tlsCertSha256=A.node.tls_cert_sha256)]), "TLS"),
        (_doc(nodes=[_node_json(A), _node_json(A)]), "listed twice"),
        (_doc(members=[_member_json(A), _member_json(A)]), "listed twice"),
        (
            _doc(members=[_member_json(A), _member_json(B, adminUser=ALICE), _member_json(C)]),
            "not an Admin",
        ),
        (
            _doc(
                users={
                    "admin-org-a": {"member": "org-a", "role": "Contributor"},
                    "admin-org-b": {"member": "org-b", "role": "Reader"},
                }
            ),
            "Administrator",
        ),
        (_doc(users={"admin-org-a": {"member": "org-a", "role": "Owner"}}), "unknown role"),
        (_doc(users={"ab" * 32: {"member": "org-a", "role": "Administrator"}}), "user id"),
        (_doc(users={"admin-org-a": "Administrator"}), "JSON object"),
        (_doc(users={"admin-org-a": {"member": "org-x", "role": "Administrator"}}), "member"),
        (_doc(serviceCertPem="not a certificate"), "certificate"),
        (_doc(origin="has space"), "key name"),
        (_doc(extra=True), "exactly the keys"),
        (json.dumps(json.loads(genesis_text()), indent=1), "canonical"),
        ("", "JSON"),
    ],
)
def test_genesis_refusals(contents: str, message: str) -> None:
    with pytest.raises(MalformedInput, match=message):
        genesis_state(contents, seqno=1, timestamp_ms=T0)


def test_a_member_key_reused_as_another_members_cosigner_is_refused() -> None:
    twin = Cosigner("org-b", A.signer.private_key).key()  # A's note key, as B's cosigner
    members = [_member_json(A), _member_json(B, cosigner=twin.to_vkey()), _member_json(C)]
    with pytest.raises(MalformedInput, match="same public key"):
        genesis_state(_doc(members=members), seqno=1, timestamp_ms=T0)


def test_genesis_document_refuses_what_genesis_state_would() -> None:
    with pytest.raises(MalformedInput):
        genesis_document(ORIGIN, SERVICE_PEM, Constitution(), [A.member], [B.node], {})


def test_replay_needs_a_genesis_first() -> None:
    with pytest.raises(MalformedInput):
        replay([])
    with pytest.raises(MalformedInput):
        replay([(1, T0, "governance", genesis_text(), "")])
    chain = Chain()
    outcome = chain.apply("genesis", genesis_text())
    assert not outcome.accepted and "first entry" in outcome.reason


# --- proposals and ballots ----------------------------------------------------------------------


def test_three_members_add_a_fourth_with_two_yes_votes() -> None:
    chain = Chain()
    assert chain.state.cosign_quorum() == 2
    note = chain.propose(A, c.member_add_action(D.member), c.node_add_action(D.node))
    pid = pid_of(note)
    assert chain.last == Outcome(True, "proposal opened", pid, "open")
    assert "org-d" not in chain.state.members
    assert dict(chain.state.proposals[pid].votes) == {"org-a": True}

    chain.vote(B, pid, True)
    assert chain.last.accepted and chain.last.proposal_state == "accepted"
    state = chain.state
    assert state.members["org-d"] == D.member
    assert state.node("org-d-n1") == D.node
    assert state.is_admin("admin-org-d")
    assert state.cosign_quorum() == 3  # majority of 4
    proposal = state.proposals[pid]
    assert proposal.state == "accepted" and proposal.final_seqno == state.last_seqno
    assert dict(proposal.votes) == {"org-a": True, "org-b": True}

    # The new member votes from now on: its ballot counts, and its key signs.
    note = chain.propose(D, c.user_set_action("bob", "Reader"))
    assert chain.last.proposal_state == "open"
    chain.vote(A, pid_of(note), True)
    assert chain.last.proposal_state == "open"  # 2 of 4 is not a majority
    chain.vote(C, pid_of(note), True)
    assert chain.last.proposal_state == "accepted" and chain.state.role_of("bob") == "Reader"


def test_no_votes_reject_a_proposal_once_it_cannot_pass() -> None:
    chain = Chain()
    pid = pid_of(chain.propose(A, c.user_set_action("bob", "Reader")))
    chain.vote(B, pid, False)
    assert chain.last.proposal_state == "open"  # A yes, B no, C could still decide
    chain.vote(C, pid, False)
    assert chain.last.proposal_state == "rejected"
    assert "bob" not in chain.state.users
    assert "2 of 3 voted no" in chain.state.proposals[pid].reason


def test_a_member_may_change_its_vote_while_open() -> None:
    chain = Chain(genesis_text((A, B, C, D)))
    pid = pid_of(chain.propose(A, c.user_set_action("bob", "Reader")))
    chain.vote(B, pid, False)
    chain.vote(B, pid, True)
    assert chain.last.accepted and dict(chain.state.proposals[pid].votes)["org-b"] is True
    chain.vote(C, pid, True)
    assert chain.state.proposals[pid].state == "accepted"


def test_the_proposer_may_vote_against_its_own_proposal() -> None:
    chain = Chain()
    pid = pid_of(chain.propose(A, c.constitution_set_action(c.Constitution())))
    chain.vote(A, pid, False)
    assert dict(chain.state.proposals[pid].votes) == {"org-a": False}
    chain.vote(B, pid, True)
    assert chain.state.proposals[pid].state == "open"


def test_a_change_of_an_organizations_users_needs_its_own_yes() -> None:
    chain = Chain()
    # org-b and org-c cannot mint a user of org-a (who would read org-a's private collections)
    pid = pid_of(chain.propose(B, c.user_set_action("mallory", "Reader", "org-a")))
    chain.vote(C, pid, True)
    assert chain.state.proposals[pid].state == "open"
    assert "mallory" not in chain.state.users
    chain.vote(A, pid, False)
    assert chain.state.proposals[pid].state == "rejected"
    assert "its own users" in chain.state.proposals[pid].reason
    # with org-a's yes it passes
    pid = pid_of(chain.propose(B, c.user_set_action("carol", "Reader", "org-a")))
    chain.vote(A, pid, True)
    assert chain.state.proposals[pid].state == "accepted"
    assert chain.state.member_of("carol") == "org-a"
    # a user added to the proposer's own organization needs no one else's consent
    pid = pid_of(chain.propose(B, c.user_set_action("dave", "Reader")))
    chain.vote(C, pid, True)
    assert chain.state.proposals[pid].state == "accepted"


def test_member_removal_takes_its_nodes_and_its_ballots() -> None:
    chain = Chain()
    pending = pid_of(chain.propose(C, c.user_set_action("bob", "Reader", "org-a")))
    pid = pid_of(chain.propose(A, c.member_remove_action("org-c")))
    chain.vote(B, pid, True)
    assert chain.last.proposal_state == "accepted"
    state = chain.state
    assert sorted(state.members) == ["org-a", "org-b"]
    assert state.node("org-c-n1") is None
    assert state.cosign_quorum() == 2
    assert dict(state.proposals[pending].votes) == {}  # C's yes no longer counts
    # C is no longer a member: its ballots and proposals are refused.
    chain.vote(C.signer, pending, True)
    assert not chain.last.accepted and "current member" in chain.last.reason
    chain.propose(C, c.user_set_action("bob", "Reader"))
    assert not chain.last.accepted and "current member" in chain.last.reason
    # Two members: majority is both.
    chain.vote(A, pending, True)
    assert chain.last.proposal_state == "open"
    chain.vote(B, pending, True)
    assert chain.last.proposal_state == "accepted"


def test_the_last_member_cannot_be_removed() -> None:
    chain = Chain(genesis_text((A,)))
    before = chain.state
    pid = pid_of(chain.propose(A, c.member_remove_action("org-a")))
    # One member: its own yes is a majority, so the proposal is decided at once, and fails.
    assert chain.last.accepted and chain.last.proposal_state == "rejected"
    assert "last member" in chain.state.proposals[pid].reason
    assert chain.state.members == before.members and chain.state.nodes == before.nodes


def test_a_proposal_that_fails_to_apply_is_rejected_and_changes_nothing() -> None:
    chain = Chain()
    first = pid_of(chain.propose(A, c.member_add_action(D.member)))
    second = pid_of(
        chain.propose(B, c.user_set_action("bob", "Reader"), c.member_add_action(D.member))
    )
    chain.vote(B, first, True)
    assert chain.state.proposals[first].state == "accepted"
    users_before = chain.state.users
    chain.vote(C, second, True)
    assert chain.last.proposal_state == "open"  # D joined: 2 of 4 is no longer a majority
    chain.vote(A, second, True)
    assert chain.last.accepted and chain.last.proposal_state == "rejected"
    assert "already a member" in chain.state.proposals[second].reason
    assert chain.state.users == users_before  # the user.set before it was not applied either


def test_removing_the_last_node_is_refused() -> None:
    chain = Chain(genesis_text((A,)))
    pid = pid_of(chain.propose(A, c.node_remove_action("org-a-n1")))
    assert chain.state.proposals[pid].state == "rejected"
    assert chain.state.node("org-a-n1") == A.node


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda chain, pid: _tampered(sign_action(_ballot(chain, A, pid), A.signer)), "signature"),
        (lambda chain, pid: sign_action(_ballot(chain, OUTSIDER, pid), OUTSIDER), "current member"),
        (
            lambda chain, pid: sign_action(_ballot(chain, IMPOSTOR_A, pid), IMPOSTOR_A),
            "current member",
        ),
        (lambda chain, pid: sign_action(_ballot(chain, B, "0" * 64), B.signer), "unknown"),
        (lambda chain, pid: sign_note(_text(_ballot(chain, B, pid)), A.signer), "signed by org-a"),
        (
            lambda chain, pid: sign_note(_text(_ballot(chain, B, pid)), B.signer, OUTSIDER),
            "exactly one",
        ),
        (lambda chain, pid: sign_action(_ballot(chain, B, pid, dt=-8 * DAY), B.signer), "before"),
        (lambda chain, pid: sign_action(_ballot(chain, B, pid, dt=11 * 60_000), B.signer), "after"),
        (
            lambda chain, pid: sign_note(
                _text(_ballot(chain, B, pid)).replace(":", ": "), B.signer
            ),
            "canonical",
        ),
        (lambda chain, pid: sign_note(_text(_ballot(chain, B, pid) | {"x": 1}), B.signer), "keys"),
        (lambda chain, pid: sign_note("accord.gov.v2\n{}\n", B.signer), "accord.gov.v1"),
    ],
)
def test_bad_ballots_are_refused_with_a_reason(make: object, reason: str) -> None:
    chain = Chain()
    pid = pid_of(chain.propose(A, c.user_set_action("bob", "Reader")))
    before = chain.state
    note = make(chain, pid)  # type: ignore[operator]
    outcome = chain.apply("governance", note)
    assert not outcome.accepted
    assert reason in outcome.reason
    assert chain.state == replace(
        before, last_seqno=before.last_seqno + 1, ledger_time_ms=chain.time
    )


def _ballot(chain: Chain, org: Org | Signer, pid: str, *, dt: int = 1000) -> dict[str, object]:
    name = org.name if isinstance(org, Signer) else org.member.name
    return ballot_body(name, chain.time + dt, chain.nonce(), pid, True)


def _text(body: Mapping[str, object]) -> str:
    return "accord.gov.v1\n" + canonicalize(dict(body)).decode() + "\n"


def _tampered(note: str) -> str:
    text, _, sig = note.rpartition("\n\n")
    line, _, b64 = sig.rstrip("\n").rpartition(" ")
    flipped = ("B" if b64[10] == "A" else "A").join((b64[:10], b64[11:]))
    return f"{text}\n\n{line} {flipped}\n"


def test_replayed_and_stale_ballots_are_refused() -> None:
    chain = Chain(genesis_text((A, B, C, D)))
    pid = pid_of(chain.propose(A, c.user_set_action("bob", "Reader")))
    yes = chain.vote(B, pid, True)
    no = chain.vote(B, pid, False)
    assert chain.last.accepted
    chain.apply("governance", yes)  # replaying B's earlier yes must not flip its vote back
    assert not chain.last.accepted and "already counts" in chain.last.reason
    chain.apply("governance", no)
    assert not chain.last.accepted
    assert dict(chain.state.proposals[pid].votes)["org-b"] is False


def test_ballots_for_closed_proposals_are_refused() -> None:
    chain = Chain()
    pid = pid_of(chain.propose(A, c.user_set_action("bob", "Reader")))
    chain.vote(B, pid, True)
    assert chain.state.proposals[pid].state == "accepted"
    chain.vote(C, pid, True)
    assert not chain.last.accepted and "is accepted" in chain.last.reason
    assert "org-c" not in chain.state.proposals[pid].votes


def test_a_replayed_proposal_is_refused() -> None:
    chain = Chain()
    note = chain.propose(A, c.user_set_action("bob", "Reader"))
    chain.apply("governance", note)
    assert not chain.last.accepted and "already applied" in chain.last.reason
    assert len(chain.state.proposals) == 1


def test_proposals_expire_lazily_at_the_next_entry() -> None:
    chain = Chain()
    pid = pid_of(chain.propose(A, c.user_set_action("bob", "Reader")))
    opened = chain.state.proposals[pid]
    assert opened.expires_ms == chain.time + 7 * DAY
    chain.apply("users", "garbage", ALICE, dt=7 * DAY - 1)  # one ms before expiry
    assert chain.state.proposals[pid].state == "open"
    chain.apply("users", "garbage", ALICE, dt=1)  # any entry moves the clock, even a refused one
    expired = chain.state.proposals[pid]
    assert expired.state == "expired" and expired.final_seqno == chain.state.last_seqno
    chain.vote(B, pid, True)
    assert not chain.last.accepted and "is expired" in chain.last.reason
    assert "bob" not in chain.state.users


def test_closed_proposals_are_forgotten_once_no_replay_could_be_accepted() -> None:
    chain = Chain()
    note = chain.propose(A, c.user_set_action("bob", "Reader"))
    chain.vote(B, pid_of(note), True)  # a second after it was created
    created = chain.state.proposals[pid_of(note)].created_ms
    chain.apply("users", "x", dt=c.MAX_PROPOSAL_TTL_MS - 1000)
    assert chain.state.ledger_time_ms == created + c.MAX_PROPOSAL_TTL_MS
    assert pid_of(note) in chain.state.proposals
    chain.apply("users", "x", dt=1)
    assert pid_of(note) not in chain.state.proposals
    chain.apply("governance", note)
    assert not chain.last.accepted and "before the ledger time" in chain.last.reason


def test_only_the_proposer_withdraws() -> None:
    chain = Chain()
    pid = pid_of(chain.propose(A, c.user_set_action("bob", "Reader")))
    other = sign_action(withdrawal_body("org-b", chain.time + 1, chain.nonce(), pid), B.signer)
    assert not chain.apply("governance", other).accepted
    assert "only org-a" in chain.last.reason
    mine = sign_action(withdrawal_body("org-a", chain.time + 1, chain.nonce(), pid), A.signer)
    assert chain.apply("governance", mine) == Outcome(True, "proposal withdrawn", pid, "withdrawn")
    chain.vote(B, pid, True)
    assert not chain.last.accepted and chain.state.proposals[pid].state == "withdrawn"
    assert not chain.apply("governance", mine).accepted


def test_a_constitution_change_follows_its_own_threshold() -> None:
    chain = Chain()
    strict = Constitution(thresholds={"constitution.set": Threshold.unanimous()})
    pid = pid_of(chain.propose(A, c.constitution_set_action(strict)))
    chain.vote(B, pid, True)  # constitution.set needs a majority by default
    assert chain.state.constitution == strict

    looser = Constitution(cosign_quorum=Threshold.of(1))
    pid = pid_of(chain.propose(A, c.constitution_set_action(looser)))
    chain.vote(B, pid, True)
    assert chain.last.proposal_state == "open"  # now unanimity is needed
    chain.vote(C, pid, True)
    assert chain.last.proposal_state == "accepted"
    assert chain.state.constitution == looser and chain.state.cosign_quorum() == 1


def test_a_proposal_needs_the_highest_threshold_among_its_actions() -> None:
    constitution = Constitution(thresholds={"user.set": Threshold.unanimous()})
    chain = Chain(genesis_text(constitution=constitution))
    pid = pid_of(
        chain.propose(A, c.member_remove_action("org-c"), c.user_set_action("bob", "Reader"))
    )
    chain.vote(B, pid, True)
    assert chain.state.proposals[pid].state == "open"
    chain.vote(C, pid, True)
    assert chain.state.proposals[pid].state == "accepted" and "org-c" not in chain.state.members


def test_invalid_proposals_are_refused_before_they_open() -> None:
    chain = Chain()
    before = len(chain.state.proposals)
    body = proposal_body("org-a", chain.time, chain.nonce(), [{"type": "member.fly"}])
    with pytest.raises(MalformedInput):
        sign_action(body, A.signer)
    note = sign_note(_text(body), A.signer)
    assert not chain.apply("governance", note).accepted
    assert "unknown action type" in chain.last.reason
    empty = sign_note(_text(proposal_body("org-a", chain.time, chain.nonce(), [])), A.signer)
    assert not chain.apply("governance", empty).accepted
    bad_member = c.member_add_action(D.member)
    bad_member["member"] = D.member.to_json() | {"adminUser": "a b"}
    note = sign_note(
        _text(proposal_body("org-a", chain.time, chain.nonce(), [bad_member])), A.signer
    )
    assert not chain.apply("governance", note).accepted and "user id" in chain.last.reason
    assert len(chain.state.proposals) == before
    with pytest.raises(MalformedInput):
        sign_action(proposal_body("org-a", chain.time, chain.nonce(), [bad_member]), B.signer)


def test_verify_action_checks_the_signature_against_the_current_state() -> None:
    chain = Chain()
    note = sign_action(ballot_body("org-a", T0, "ab" * 16, "cd" * 32, False), A.signer)
    action = verify_action(note, chain.state)
    assert (action.kind, action.member, action.vote, action.proposal_id) == (
        "ballot",
        "org-a",
        False,
        "cd" * 32,
    )
    assert action.digest == pid_of(note)
    with pytest.raises(SignatureError):
        verify_action(note, genesis_state(genesis_text((B, C)), seqno=1, timestamp_ms=T0))
    with pytest.raises(SignatureError):
        verify_action(_tampered(note), chain.state)
    with pytest.raises(MalformedInput):
        verify_action("x" * (c.MAX_GOVERNANCE_NOTE + 1), chain.state)


# --- users --------------------------------------------------------------------------------------


def test_an_administrator_manages_users_and_others_cannot() -> None:
    chain = Chain()
    assert chain.apply("users", users_record("set", "bob", "Contributor"), "admin-org-b").accepted
    assert chain.state.role_of("bob") == "Contributor"
    assert chain.apply("users", users_record("set", FINGERPRINT, "Reader"), "admin-org-b").accepted
    assert chain.state.role_of(FINGERPRINT) == "Reader"
    before = chain.state.users
    refused = chain.apply("users", users_record("set", "carol", "Administrator"), ALICE)
    assert not refused.accepted and "not an Administrator" in refused.reason
    assert not chain.apply("users", users_record("remove", "bob"), "bob").accepted
    assert not chain.apply("users", users_record("remove", "bob"), "stranger").accepted
    assert chain.state.users == before
    # bob is org-b's user: org-a's Administrator cannot touch it, even through its own node...
    refused = chain.apply("users", users_record("remove", "bob"), "admin-org-a")
    assert not refused.accepted and "belongs to org-b" in refused.reason
    # ...nor can org-a's node send a change in the name of org-b's Administrator.
    refused = chain.apply("users", users_record("remove", "bob"), "admin-org-b", member="org-a")
    assert not refused.accepted and "not a user of org-a" in refused.reason
    assert chain.state.users == before
    assert chain.apply("users", users_record("remove", "bob"), "admin-org-b").accepted
    assert "bob" not in chain.state.users
    assert not chain.apply("users", users_record("remove", "bob"), "admin-org-b").accepted
    assert "does not exist" in chain.last.reason
    # A new user belongs to the member whose Administrator added it.
    assert chain.apply("users", users_record("set", "dave", "Reader"), "admin-org-c").accepted
    assert chain.state.member_of("dave") == "org-c"


def test_each_member_keeps_an_administrator() -> None:
    chain = Chain()
    outcome = chain.apply("users", users_record("set", "admin-org-b", "Reader"), "admin-org-b")
    assert not outcome.accepted and "last Administrator of org-b" in outcome.reason
    assert chain.state.is_admin("admin-org-b")
    # A member leaving takes its users with it.
    assert chain.apply("users", users_record("set", "erin", "Reader"), "admin-org-b").accepted
    pid = pid_of(chain.propose(A, c.member_remove_action("org-b")))
    chain.vote(C, pid, True)
    assert chain.state.proposals[pid].state == "accepted"
    assert "erin" not in chain.state.users and "admin-org-b" not in chain.state.users


def test_users_record_format() -> None:
    assert users_record("set", "bob", "Reader") == (
        '{"format":"accord.users.v1","op":"set","role":"Reader","userId":"bob"}'
    )
    assert (
        users_record("remove", "bob") == '{"format":"accord.users.v1","op":"remove","userId":"bob"}'
    )
    for args in (
        ("set", "bob"),
        ("remove", "bob", "Reader"),
        ("drop", "bob"),
        ("set", "ab" * 32, "Reader"),
        ("set", "bob", "Owner"),
    ):
        with pytest.raises(MalformedInput):
            users_record(*args)
    chain = Chain()
    for contents in (
        '{"op":"set","userId":"bob","role":"Reader"}',
        '{"format":"accord.users.v1","op":"set","role":"Reader","userId":"bob"} ',
        "[]",
    ):
        assert not chain.apply("users", contents, "admin-org-a").accepted


def test_the_last_administrator_stays() -> None:
    chain = Chain(genesis_text((A,), users={"admin-org-a": "Administrator"}))
    for record in (
        users_record("set", "admin-org-a", "Contributor"),
        users_record("remove", "admin-org-a"),
    ):
        outcome = chain.apply("users", record, "admin-org-a")
        assert not outcome.accepted and "last Administrator" in outcome.reason
        assert chain.state.is_admin("admin-org-a")
    assert chain.apply("users", users_record("set", "bob", "Administrator"), "admin-org-a").accepted
    assert chain.apply("users", users_record("remove", "admin-org-a"), "admin-org-a").accepted
    assert chain.state.users == {"bob": "Administrator"}
    # Through governance too: the proposal is decided at once (one member) and fails.
    pid = pid_of(chain.propose(A, c.user_remove_action("bob")))
    assert chain.state.proposals[pid].state == "rejected" and chain.state.is_admin("bob")


# --- the policy ---------------------------------------------------------------------------------


@pytest.mark.parametrize("orgs", [(A,), (A, B), (A, B, C), (A, B, C, D)])
def test_policy_text_parses_and_its_quorum_is_the_cosign_quorum(orgs: tuple[Org, ...]) -> None:
    state = genesis_state(genesis_text(orgs), seqno=1, timestamp_ms=T0)
    text = state.policy_text()
    policy = Policy.from_text(text)
    assert policy.quorum == "members"
    assert policy.groups["members"].threshold == state.cosign_quorum() == len(orgs) // 2 + 1
    assert sorted(policy.witnesses) == sorted(o.member.name for o in orgs)
    assert [(log, url) for log, url in policy.logs] == [
        (o.log.verifier(), o.node.url) for o in orgs
    ]
    assert text.endswith("quorum members\n")
    # The quorum is real: a checkpoint signed by any node needs cosign_quorum() members.
    checkpoint = Checkpoint(ORIGIN, 10, hashlib.sha256(b"root").digest())
    note = sign_checkpoint(checkpoint, orgs[-1].log)
    body = note.split("\n\n")[0] + "\n"
    k = state.cosign_quorum()
    enough = add_signatures(note, [o.cosigner.cosign(body, 1_700_000_000) for o in orgs[:k]])
    assert policy.verify(enough).checkpoint == checkpoint
    short = add_signatures(note, [o.cosigner.cosign(body, 1_700_000_000) for o in orgs[: k - 1]])
    with pytest.raises(QuorumNotMet):
        policy.verify(short)


def test_policy_follows_the_constitution_and_membership() -> None:
    chain = Chain(genesis_text(constitution=Constitution(cosign_quorum=Threshold.unanimous())))
    assert Policy.from_text(chain.state.policy_text()).groups["members"].threshold == 3
    pid = pid_of(chain.propose(A, c.member_remove_action("org-b")))
    chain.vote(C, pid, True)
    policy = chain.state.policy()
    assert policy.groups["members"].threshold == 2 and sorted(policy.witnesses) == [
        "org-a",
        "org-c",
    ]
    assert len(policy.logs) == 2


def test_state_json_shape() -> None:
    chain = Chain()
    pid = pid_of(chain.propose(A, c.user_set_action("bob", "Reader")))
    out = chain.state.to_json()
    assert list(out) == [
        "format",
        "origin",
        "serviceCertPem",
        "constitution",
        "cosignQuorum",
        "members",
        "nodes",
        "users",
        "userMembers",
        "proposals",
        "lastSeqno",
        "ledgerTime",
    ]
    assert out["format"] == "accord.consortium.v1" and out["cosignQuorum"] == 2
    assert out["members"] == [A.member.to_json(), B.member.to_json(), C.member.to_json()]
    assert out["nodes"] == [A.node.to_json(), B.node.to_json(), C.node.to_json()]
    proposals = out["proposals"]
    assert isinstance(proposals, list) and len(proposals) == 1
    proposal = proposals[0]
    assert proposal["proposalId"] == pid and proposal["votes"] == {"org-a": "yes"}
    assert proposal["actions"] == [{"type": "user.set", "userId": "bob", "role": "Reader"}]
    canonicalize(out)  # JSON all the way down
    proposal["actions"][0]["role"] = "Administrator"  # a copy: the state is not changed
    assert chain.state.proposals[pid].actions[0].args["role"] == "Reader"


# --- the registry -------------------------------------------------------------------------------


def _parse_tally(args: Mapping[str, object]) -> int:
    if set(args) != {"add"} or not isinstance(args["add"], int) or isinstance(args["add"], bool):
        raise MalformedInput("test.tally takes an integer add")
    return args["add"]


def _apply_tally(state: ConsortiumState, add: int) -> ConsortiumState:
    total = int(state.extensions.get("test.tally", 0)) + add  # type: ignore[call-overload]
    return replace(state, extensions={**state.extensions, "test.tally": total})


c.register_action("test.tally", _parse_tally, _apply_tally)


def test_a_capability_registers_its_own_action() -> None:
    assert "test.tally" in c.registered_actions()
    chain = Chain(
        genesis_text(constitution=Constitution(thresholds={"test.tally": Threshold.of(1)}))
    )
    chain.propose(B, {"type": "test.tally", "add": 5})
    assert chain.last.proposal_state == "accepted"
    assert chain.state.extensions == {"test.tally": 5}
    bad = proposal_body("org-b", chain.time, chain.nonce(), [{"type": "test.tally", "add": "x"}])
    with pytest.raises(MalformedInput):
        sign_action(bad, B.signer)
    chain.apply("governance", sign_note(_text(bad), B.signer))
    assert not chain.last.accepted and "integer add" in chain.last.reason
    with pytest.raises(ConfigurationError):
        c.register_action("test.tally", _parse_tally, _apply_tally)
    with pytest.raises(MalformedInput):
        c.register_action("Test Tally", _parse_tally, _apply_tally)


# --- the fold -----------------------------------------------------------------------------------


def test_apply_entry_refuses_bad_calls_but_never_bad_contents() -> None:
    chain = Chain()
    with pytest.raises(InvalidRequest):
        apply_entry(chain.state, seqno=1, timestamp_ms=T0, kind="users", contents="", user_id="")
    with pytest.raises(InvalidRequest):
        apply_entry(chain.state, seqno=2, timestamp_ms=-1, kind="users", contents="", user_id="")
    for kind, contents in [
        ("other", ""),
        ("governance", "\ud800"),
        ("users", "\x00"),
        ("governance", "x\n\n— a b\n"),
    ]:
        assert not chain.apply(kind, contents, "admin-org-a").accepted
    # The ledger time never goes back, whatever an entry's timestamp.
    chain.apply("users", "", dt=-5000)
    assert chain.state.ledger_time_ms == T0 + 4000


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["governance", "users", "genesis", "x"]), st.text(max_size=200))
def test_any_contents_are_refused_without_raising(kind: str, contents: str) -> None:
    state = genesis_state(genesis_text(), seqno=1, timestamp_ms=T0)
    after, outcome = apply_entry(
        state, seqno=2, timestamp_ms=T0 + 1, kind=kind, contents=contents, user_id="admin-org-a"
    )
    assert not outcome.accepted and outcome.reason
    assert after == replace(state, last_seqno=2, ledger_time_ms=T0 + 1)


ACTORS: tuple[Signer, ...] = (A.signer, B.signer, C.signer, D.signer, OUTSIDER, IMPOSTOR_A)
MENU: tuple[Mapping[str, object], ...] = (
    c.member_add_action(D.member),
    c.node_add_action(D.node),
    c.member_remove_action("org-c"),
    c.member_remove_action("org-a"),
    c.node_remove_action("org-b-n1"),
    c.user_set_action("eve", "Administrator"),
    c.user_set_action("admin-org-a", "Reader"),
    c.user_remove_action("admin-org-b"),
    c.constitution_set_action(Constitution(cosign_quorum=Threshold.unanimous())),
    c.constitution_set_action(Constitution(thresholds={"user.set": Threshold.unanimous()})),
    c.constitution_set_action(Constitution(proposal_ttl_ms=c.MIN_PROPOSAL_TTL_MS)),
)
USERS = ("admin-org-a", "admin-org-b", "admin-org-d", "eve", ALICE, "mallory")
USER_RECORDS = (
    users_record("set", "eve", "Administrator"),
    users_record("set", "admin-org-a", "Reader"),
    users_record("remove", "admin-org-b"),
    users_record("remove", "eve"),
    users_record("set", "mallory", "Contributor"),
)
# Weighted towards what makes proposals pass (members, fresh notes, ballots on open proposals),
# with outsiders, an impostor, stale and future notes, replays and garbage mixed in.
WHAT = ["propose"] * 3 + ["ballot"] * 6 + ["withdraw", "users", "users", "replay", "garbage"]
step = st.tuples(
    st.sampled_from(WHAT),
    st.sampled_from([0, 1, 2, 0, 1, 2, 3, 4, 5]),  # indexes of ACTORS
    st.integers(0, 50),
    st.sampled_from([True, True, False]),
    st.sampled_from([0, 1000, 1000, 1000, 3600_000, 3 * DAY, 8 * DAY]),
    st.sampled_from([0] * 6 + [-1000, 5 * 60_000, 11 * 60_000, -8 * DAY]),
)


def _is_member_key(state: ConsortiumState, signer: Signer) -> bool:
    member = state.members.get(signer.name)
    return member is not None and member.member_key == signer.verifier()


def _check_invariants(state: ConsortiumState) -> None:
    assert 1 <= len(state.members) and 1 <= len(state.nodes)
    assert any(role == "Administrator" for role in state.users.values())
    assert all(node.member in state.members for node in state.nodes.values())
    policy = Policy.from_text(state.policy_text())
    assert policy.groups["members"].threshold == state.cosign_quorum()


@settings(max_examples=200, deadline=None)
@given(st.lists(step, min_size=1, max_size=40))
def test_random_interleavings_never_crash_and_outsiders_change_nothing(
    steps: list[tuple[str, int, int, bool, int, int]],
) -> None:
    chain = Chain()
    notes: list[tuple[str, Signer]] = []  # every governance note sent, and who signed it
    proposals: list[str] = []
    for what, actor, choice, vote, dt, skew in steps:
        signer = ACTORS[actor]
        created = chain.time + dt + skew
        contents, user, kind = "", USERS[actor], "governance"
        if what == "propose":
            actions = [MENU[choice % len(MENU)], MENU[(choice // len(MENU)) % len(MENU)]]
            contents = sign_note(
                _text(
                    proposal_body(signer.name, created, chain.nonce(), actions[: 1 + choice % 2])
                ),
                signer,
            )
        elif what in ("ballot", "withdraw"):
            live = chain.state.proposals
            pool = [p for p in proposals if p in live and live[p].state == "open"] or proposals
            pid = pool[-1 - choice % len(pool)] if pool and choice else "0" * 64
            body = (
                ballot_body(signer.name, created, chain.nonce(), pid, vote)
                if what == "ballot"
                else withdrawal_body(signer.name, created, chain.nonce(), pid)
            )
            contents = sign_note(_text(body), signer)
        elif what == "users":
            kind, contents = "users", USER_RECORDS[choice % len(USER_RECORDS)]
        elif what == "replay" and notes:  # resent by anyone: the note's signer is who acts
            contents, signer = notes[choice % len(notes)]
        elif what == "garbage":
            contents = _tampered(sign_note(_text({"type": "ballot"}), signer))
        if kind == "governance" and contents:
            notes.append((contents, signer))

        before = chain.state
        baseline = refused_baseline(before, before.last_seqno + 1, chain.time + dt)
        outcome = chain.apply(kind, contents, user, dt=dt)  # must not raise
        after = chain.state
        if not outcome.accepted:
            assert after == baseline, outcome.reason  # a refusal moves only the clock
        if kind == "governance" and not _is_member_key(before, signer):
            assert not outcome.accepted and after == baseline
        if kind == "users" and not before.is_admin(user):
            assert not outcome.accepted and after == baseline
        if what == "propose" and outcome.accepted and outcome.proposal_id:
            proposals.append(outcome.proposal_id)
        _check_invariants(after)

    assert replay(chain.entries) == chain.state
    assert replay(chain.entries) == replay(list(chain.entries))


def test_replay_is_deterministic_and_matches_the_incremental_fold() -> None:
    chain = Chain()
    pid = pid_of(chain.propose(A, c.member_add_action(D.member), c.node_add_action(D.node)))
    chain.vote(C, pid, True)
    chain.apply("users", users_record("set", "bob", "Contributor"), "admin-org-d")
    chain.propose(D, c.member_remove_action("org-a"))
    chain.vote(B, pid, True)  # refused: closed
    chain.apply("users", "junk", ALICE, dt=8 * DAY)  # expires D's proposal
    first, second = replay(chain.entries), replay(iter(chain.entries))
    assert first == second == chain.state
    assert first.to_json() == second.to_json()
    assert canonicalize(first.to_json()) == canonicalize(chain.state.to_json())
    assert [p.state for p in first.proposals.values()] == ["accepted", "expired"]
    assert first.role_of("bob") == "Contributor"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
VALID_BODIES = (
    proposal_body("org-a", T0, "ab" * 16, [c.member_add_action(D.member)]),
    proposal_body(
        "org-a", T0, "ab" * 16, [c.node_add_action(D.node), c.user_set_action("b", "Reader")]
    ),
    proposal_body("org-a", T0, "ab" * 16, [c.constitution_set_action(Constitution())]),
    ballot_body("org-a", T0, "ab" * 16, "cd" * 32, True),
)


def _paths(value: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    out = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*path, index))
    return out


def _replaced(value: object, path: tuple[object, ...], new: object) -> object:
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return copy


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VALID_BODIES), st.integers(0, 10_000), json_values)
def test_member_signed_notes_with_any_field_replaced_never_raise(
    body: dict[str, object], where: int, new: object
) -> None:
    paths = _paths(body)[1:]  # not the whole body: the member must still be named
    mutated = _replaced(body, paths[where % len(paths)], new)
    note = sign_note(_text(mutated), A.signer)  # type: ignore[arg-type]
    state = genesis_state(genesis_text(), seqno=1, timestamp_ms=T0)
    after, outcome = apply_entry(
        state, seqno=2, timestamp_ms=T0, kind="governance", contents=note, user_id=""
    )
    if not outcome.accepted:
        assert after == replace(state, last_seqno=2)
    else:  # still a valid proposal or ballot: only a proposal can have been accepted here
        assert outcome.proposal_id is not None
        assert after.members == state.members and after.users == state.users


def test_check_proposal_applies_raises_what_acceptance_would() -> None:
    state = genesis_state(genesis_text(), seqno=1, timestamp_ms=T0)

    def note(*actions: Mapping[str, object]) -> str:
        return c.sign_action(c.proposal_body(A.member.name, T0, "0" * 32, actions), A.signer)

    c.check_proposal_applies(state, note(c.user_set_action("bob", "Reader")))
    with pytest.raises(AccordError, match="org-x"):
        c.check_proposal_applies(state, note(c.member_remove_action("org-x")))
    # Actions apply in order: the node of a member added in the same proposal is fine, alone not.
    with pytest.raises(AccordError):
        c.check_proposal_applies(state, note(c.node_add_action(D.node)))
    c.check_proposal_applies(state, note(c.member_add_action(D.member), c.node_add_action(D.node)))
    ballot = c.sign_action(c.ballot_body(A.member.name, T0, "1" * 32, "ab" * 32, True), A.signer)
    c.check_proposal_applies(state, ballot)  # not a proposal: nothing to check here
    assert state == genesis_state(genesis_text(), seqno=1, timestamp_ms=T0)  # pure
