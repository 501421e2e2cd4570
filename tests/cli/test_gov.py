"""``accord gov`` and ``accord consortium``: arguments checked at the edge, notes signed right.

The signing tests build notes through the CLI (``--sign-only``) and fold them with the real
governance state machine (``accord.core.consortium``) from a genesis made here: what the CLI signs
is what every node would accept. No consortium process is started: a single-node service shows
that the commands reach a node and report its refusal (404, exit 4), and the client reads a
consortium node's documented answers (200, and 409 for a note the fold refused) from a transport
that gives them.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from accord.cli import arguments as arg
from accord.cli import main as cli_main
from accord.cli.gov import add_parsers, ballot_note, join_request, note_id, proposal_note
from accord.cli.main import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, main
from accord.client.client import AccordClient
from accord.core.consortium import (
    ConsortiumState,
    Constitution,
    Member,
    Node,
    apply_entry,
    genesis_document,
    genesis_state,
    verify_action,
)
from accord.core.cosignature import Cosigner
from accord.core.note import Signer
from accord.errors import ConfigurationError, Conflict, InvalidRequest, SignatureError
from accord.identity import fingerprint, make_service_identity, write_private
from tests.service.conftest import Service, start_service, stop_service

ORIGIN = "gov.test/consortium"
FINGERPRINT = ":".join(["AB"] * 32)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own errors (a missing option) exit from parse_args
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run a command that must fail with exit 2 and one error line; that line."""
    code, out, err = run(capsys, *argv)
    assert code == EXIT_USAGE, (argv, out, err)
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]  # argparse's own errors follow the usage lines
    assert last.startswith("accord"), err
    return last


# --- a consortium's genesis, made here ----------------------------------------------------------
class Org:
    def __init__(self, directory: Path, name: str) -> None:
        self.dir = directory / name
        self.member = Member.from_json(join_request(name, self.dir))
        self.key = self.dir / "member.key"
        self.signer = Signer.from_skey(self.key.read_text().strip())
        self.node_signer = Signer.generate(ORIGIN)
        self.node = Node(
            node_id=f"{name}-node",
            member=name,
            log_key=self.node_signer.verifier(),
            url=f"https://{name}.example:8443",
            engine_route=f"tls://{name}.example:7422",
            engine_client=f"tls://{name}.example:4222",
            tls_cert_sha256=os.urandom(32).hex(),
            engine_ca_pem=make_service_identity(f"{name} ordering CA").cert_pem().decode(),
        )


@pytest.fixture
def orgs(tmp_path: Path) -> dict[str, Org]:
    return {name: Org(tmp_path, name) for name in ("alpha", "beta", "gamma")}


def genesis(orgs: dict[str, Org], names: tuple[str, ...] = ("alpha", "beta")) -> ConsortiumState:
    members = [orgs[n].member for n in names]
    document = genesis_document(
        ORIGIN,
        make_service_identity(ORIGIN).cert_pem().decode(),
        Constitution(),
        members,
        [orgs[n].node for n in names],
        {m.admin_user: "Administrator" for m in members},
    )
    return genesis_state(document, seqno=1, timestamp_ms=0)


def fold(state: ConsortiumState, note: str) -> tuple[ConsortiumState, str, str | None]:
    """Apply a governance note as the next entry, at the note's own time."""
    created = verify_action(note, state).created_ms
    state, outcome = apply_entry(
        state,
        seqno=state.last_seqno + 1,
        timestamp_ms=created,
        kind="governance",
        contents=note,
        user_id="someone",
    )
    assert outcome.accepted, outcome.reason
    return state, outcome.reason, outcome.proposal_state


def signed(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[str, str]:
    """A note made by the CLI with --sign-only: (note, stderr)."""
    code, out, err = run(capsys, *argv, "--sign-only")
    assert code == EXIT_OK, err
    return out, err


# --- signing ------------------------------------------------------------------------------------
def test_a_proposal_signed_by_the_cli_is_accepted_by_the_fold(
    orgs: dict[str, Org], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = genesis(orgs)
    gamma = orgs["gamma"]
    node_file = tmp_path / "node.json"
    node_file.write_text(json.dumps(gamma.node.to_json()))
    note, err = signed(
        capsys,
        "gov",
        "propose",
        "--member-key",
        str(orgs["alpha"].key),
        "--add-member",
        str(gamma.dir / "member.json"),
        "--add-node",
        str(node_file),
        "--set-user",
        FINGERPRINT.lower(),  # normalized to the canonical form the fold requires
        "Reader",
        "--remove-user",
        FINGERPRINT,
    )
    proposal_id = note_id(note)
    assert f"proposal id: {proposal_id}" in err

    action = verify_action(note, state)
    assert action.kind == "proposal"
    assert action.member == "alpha"
    assert action.digest == proposal_id
    # In the order given on the command line: the node's member must exist before the node.
    assert [a.type for a in action.actions] == ["member.add", "node.add", "user.set", "user.remove"]
    assert action.actions[0].payload == gamma.member
    assert action.actions[2].to_json()["userId"] == FINGERPRINT

    state, _, proposal_state = fold(state, note)
    assert proposal_state == "open"  # one yes of two members; a majority is two

    ballot, _ = signed(
        capsys, "gov", "vote", proposal_id, "yes", "--member-key", str(orgs["beta"].key)
    )
    ballot_action = verify_action(ballot, state)
    assert (ballot_action.kind, ballot_action.vote) == ("ballot", True)
    assert ballot_action.proposal_id == proposal_id
    state, _, proposal_state = fold(state, ballot)
    assert proposal_state == "accepted"
    assert set(state.members) == {"alpha", "beta", "gamma"}
    assert state.nodes["gamma-node"] == gamma.node
    assert state.is_admin(gamma.member.admin_user)  # the join request's admin certificate
    assert FINGERPRINT not in state.users


def test_withdrawal_and_no_vote_are_signed_by_their_member(
    orgs: dict[str, Org], capsys: pytest.CaptureFixture[str]
) -> None:
    state = genesis(orgs)
    key = str(orgs["alpha"].key)
    note, _ = signed(capsys, "gov", "propose", "--member-key", key, "--remove-node", "beta-node")
    state, _, _ = fold(state, note)
    pid = note_id(note)
    no, _ = signed(capsys, "gov", "vote", pid, "no", "--member-key", str(orgs["beta"].key))
    assert verify_action(no, state).vote is False
    withdrawal, _ = signed(capsys, "gov", "withdraw", pid, "--member-key", str(orgs["alpha"].key))
    action = verify_action(withdrawal, state)
    assert (action.kind, action.member, action.proposal_id) == ("withdrawal", "alpha", pid)
    state, _, proposal_state = fold(state, withdrawal)
    assert proposal_state == "withdrawn"


def test_notes_are_fresh_and_signed_only_by_current_members(orgs: dict[str, Org]) -> None:
    state = genesis(orgs)
    signer = orgs["alpha"].signer
    actions = [{"type": "node.remove", "nodeId": "beta-node"}]
    first, second = proposal_note(signer, actions), proposal_note(signer, actions)
    assert first != second  # a new nonce each time: two proposals, two ids
    assert verify_action(first, state).nonce != verify_action(second, state).nonce
    # gamma is not a member of this genesis: its note does not verify.
    with pytest.raises(SignatureError):
        verify_action(ballot_note(orgs["gamma"].signer, note_id(first), True), state)


def test_join_request_writes_a_member_with_private_keys_0600(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "new" / "newco"
    code, out, _ = run(
        capsys, "consortium", "join-request", "--name", "newco", "--dir", str(directory)
    )
    assert code == EXIT_OK
    assert "accord gov propose" in out and "--add-member" in out
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for secret in ("member.key", "cosigner.key", "admin.key"):
        assert stat.S_IMODE((directory / secret).stat().st_mode) == 0o600, secret
    member = Member.from_json(json.loads((directory / "member.json").read_text()))
    signer = Signer.from_skey((directory / "member.key").read_text().strip())
    cosigner = Cosigner.from_skey((directory / "cosigner.key").read_text().strip())
    assert member.name == signer.name == "newco"
    assert member.member_key == signer.verifier()
    assert member.cosigner == cosigner.key()
    cert = (directory / "admin.crt").read_bytes()
    from cryptography import x509

    assert member.admin_user == fingerprint(x509.load_pem_x509_certificate(cert))
    assert "PRIVATE" not in (directory / "member.json").read_text()
    # The directory is not reused: a second request there is refused before any key is written.
    assert "not empty" in usage_error(
        capsys, "consortium", "join-request", "--name", "newco", "--dir", str(directory)
    )


# --- arguments ----------------------------------------------------------------------------------
def test_governance_arguments_are_checked_at_the_edge(
    orgs: dict[str, Org],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("ACCORD_URL", raising=False)
    key = str(orgs["alpha"].key)
    pid = "ab" * 32
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    not_a_member = tmp_path / "node-as-member.json"
    not_a_member.write_text(json.dumps(orgs["alpha"].node.to_json()))
    checkpoint_key = tmp_path / "checkpoint.key"
    write_private(checkpoint_key, (Signer.generate(ORIGIN).to_skey() + "\n").encode())
    secrets = [
        path.read_text().strip().split("+", 4)[4]  # PRIVATE+KEY+name+hash+base64
        for path in (orgs["alpha"].key, orgs["alpha"].dir / "cosigner.key", checkpoint_key)
    ]
    cases: list[tuple[list[str], str]] = [
        (["gov", "vote", "xyz", "yes", "--member-key", key], "not a proposal id"),
        (["gov", "vote", pid.upper(), "yes", "--member-key", key], "not a proposal id"),
        (["gov", "vote", pid, "maybe", "--member-key", key], "not a vote"),
        (["gov", "withdraw", pid, "--member-key", str(orgs["alpha"].dir / "cosigner.key")],
         "not a member signing key"),
        (["gov", "withdraw", pid, "--member-key", str(checkpoint_key)], "not a member's"),
        (["gov", "withdraw", pid, "--member-key", str(tmp_path / "missing")], "no such file"),
        (["gov", "propose", "--member-key", key], "at least one action"),
        (["gov", "propose", "--member-key", key, "--add-member", str(bad_json)], "is not JSON"),
        (["gov", "propose", "--member-key", key, "--add-member", str(not_a_member)],
         "is not a member"),
        (["gov", "propose", "--member-key", key, "--add-node", str(bad_json)], "is not JSON"),
        (["gov", "propose", "--member-key", key, "--set-constitution", str(not_a_member)],
         "is not a constitution"),
        (["gov", "propose", "--member-key", key, "--remove-member", "no/slash"], "member name"),
        (["gov", "propose", "--member-key", key, "--remove-node", ""], "node id"),
        (["gov", "propose", "--member-key", key, "--set-user", FINGERPRINT, "Owner"],
         "not a role"),
        (["gov", "propose", "--member-key", key, "--set-user", "a:b", "Reader"],
         "invalid user id"),
        (["gov", "propose", "--member-key", key, "--remove-user", "x" * 200], "invalid user id"),
        (["gov", "list"], "required: --url"),
        (["gov", "vote", pid, "yes", "--member-key", key], "--url is required"),
        (["gov", "show", "nope", "--url", "https://127.0.0.1:1"], "not a proposal id"),
        (["consortium", "create", "--orgs", "a,b,a", "--dir", str(tmp_path / "c")], "once"),
        (["consortium", "create", "--orgs", "a,none", "--dir", str(tmp_path / "c")], "reserved"),
        (["consortium", "create", "--orgs", " , ", "--dir", str(tmp_path / "c")],
         "at least one"),
        (["consortium", "join-request", "--name", "a,b", "--dir", str(tmp_path / "j")],
         "more than one"),
        (["consortium", "join-request", "--name", "members", "--dir", str(tmp_path / "j")],
         "reserved"),
        (["consortium", "demo", "--orgs", "0", "--dir", str(tmp_path / "d")],
         "not a positive whole number"),
    ]  # fmt: skip
    for argv, expected in cases:
        line = usage_error(capsys, *argv)
        assert expected in line, (argv, line)
        for secret in secrets:  # a key file is never echoed
            assert secret not in line, argv
    assert not (tmp_path / "c").exists() and not (tmp_path / "j").exists()


def test_argument_parsers() -> None:
    assert arg.proposal_id("0f" * 32) == "0f" * 32
    assert arg.vote("yes") is True and arg.vote("no") is False
    assert arg.consortium_user_id(FINGERPRINT.replace(":", "").lower()) == FINGERPRINT
    assert arg.consortium_user_id("alice@example") == "alice@example"
    assert arg.org_names("a, b,c") == ["a", "b", "c"]
    assert arg.member_remove("beta") == {"type": "member.remove", "name": "beta"}
    assert arg.node_remove("beta-node") == {"type": "node.remove", "nodeId": "beta-node"}
    for bad in ("", "0" * 63, "g" * 64):
        with pytest.raises(ConfigurationError):
            arg.proposal_id(bad)


def test_submit_refuses_what_is_not_a_governance_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    note = tmp_path / "note.txt"
    note.write_text("hello\n")
    line = usage_error(capsys, "gov", "submit", str(note), "--url", "https://127.0.0.1:1")
    assert "accord.gov.v1" in line


# --- against a node -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def single_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A single-node ledger: not part of a consortium, so its governance routes answer 404."""
    from accord.datadir import init_data_dir

    tmp = tmp_path_factory.mktemp("gov")
    data = init_data_dir(tmp / "data", name="gov.test/ledger")
    proc, url = start_service(data)
    yield Service(data, url, proc, tmp / "no-reader.crt", tmp / "no-reader.key")
    if proc.poll() is None:
        stop_service(proc)


def test_governance_commands_reach_the_node_and_report_refusals(
    single_node: Service, orgs: dict[str, Org], capsys: pytest.CaptureFixture[str]
) -> None:
    data = single_node.data
    connection = [
        "--url",
        single_node.url,
        "--cacert",
        str(data / "service.crt"),
        "--cert",
        str(data / "admin.crt"),
        "--key",
        str(data / "admin.key"),
    ]
    for argv in (
        ["gov", "list"],
        ["gov", "state"],
        ["gov", "policy"],
        ["gov", "show", "ab" * 32],
        ["gov", "vote", "ab" * 32, "yes", "--member-key", str(orgs["alpha"].key)],
    ):
        code, out, err = run(capsys, *argv, *connection)
        assert code == EXIT_REFUSED, (argv, err)
        assert "not part of a consortium" in err, err
        assert out == ""
    # The constitution and members read on any ledger.
    with single_node.client() as client:
        assert "digest" in client.constitution()
        assert isinstance(client.members()["members"], list)


def test_consortium_create_makes_directories_whose_member_keys_sign_for_the_genesis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "consortium"
    code, out, err = run(
        capsys, "consortium", "create", "--orgs", "supplier,retailer", "--dir", str(directory)
    )
    assert code == EXIT_OK, err
    for org in ("supplier", "retailer"):
        assert f"accord serve --data {directory / org}" in out
    genesis_text = (directory / "supplier" / "genesis.json").read_text()
    state = genesis_state(genesis_text, seqno=1, timestamp_ms=0)
    assert set(state.members) == {"supplier", "retailer"}
    note, _ = signed(
        capsys,
        "gov",
        "propose",
        "--member-key",
        str(directory / "retailer" / "member.key"),
        "--remove-member",
        "supplier",
    )
    action = verify_action(note, state)
    assert (action.member, action.actions[0].type) == ("retailer", "member.remove")
    # The consortium's policy file parses as what accord verify --policy reads.
    assert arg.policy_file(str(directory / "consortium.policy")).quorum == "members"
    # An existing organization directory is not overwritten.
    code, _, err = run(
        capsys, "consortium", "create", "--orgs", "supplier", "--dir", str(directory)
    )
    assert code == EXIT_USAGE and "already exists" in err, err


# --- the node's answers, as documented --------------------------------------------------------------
class _AnsweringClient(AccordClient):
    """The real client over a transport that answers as the OpenAPI document says a consortium
    node does (no consortium process is started here)."""

    answers: ClassVar[dict[str, tuple[int, dict[str, object]]]] = {}

    def _open(self, http_kwargs: dict[str, Any]) -> None:
        def answer(request: httpx.Request) -> httpx.Response:
            assert request.headers["Content-Type"].startswith("text/plain")
            note = request.content.decode()
            assert note.startswith("accord.gov.v1\n")
            kind = json.loads(note.split("\n")[1])["type"]
            status, body = self.answers[kind]
            return httpx.Response(status, json=body, headers={"x-ms-ccf-transaction-id": "1.7"})

        http_kwargs.pop("verify", None)
        self._http = httpx.Client(transport=httpx.MockTransport(answer), **http_kwargs)


def test_a_refusal_by_the_fold_exits_4_with_its_reason(
    orgs: dict[str, Org], capsys: pytest.CaptureFixture[str]
) -> None:
    pid = "cd" * 32
    _AnsweringClient.answers = {
        "ballot": (
            409,
            {
                "accepted": False,
                "reason": f"proposal {pid} is accepted",
                "proposalId": None,
                "proposalState": None,
                "transactionId": "1.7",
            },
        ),
        "proposal": (
            200,
            {
                "accepted": True,
                "reason": "proposal opened",
                "proposalId": pid,
                "proposalState": "open",
                "transactionId": "1.7",
            },
        ),
    }
    parser = argparse.ArgumentParser(prog="accord")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parsers(
        sub,
        client_options=cli_main._add_client_options,
        connect=lambda args: _AnsweringClient(args.url),
    )
    key = str(orgs["alpha"].key)
    url = ["--url", "https://node.example:8443"]

    args = parser.parse_args(["gov", "propose", "--member-key", key, "--remove-node", "x", *url])
    assert args.func(args) == EXIT_OK
    out, err = capsys.readouterr()
    assert out == f"{pid}\topen\n" and "proposal opened (transaction 1.7)" in err

    args = parser.parse_args(["gov", "vote", pid, "yes", "--member-key", key, *url])
    with pytest.raises(Conflict, match=f"proposal {pid} is accepted .recorded as transaction 1.7"):
        args.func(args)
    # What main() makes of it: the documented exit code for a refusal.
    assert issubclass(Conflict, InvalidRequest) and cli_main.EXIT_REFUSED == 4
