"""The consortium's command line: ``accord gov`` (governance) and ``accord consortium`` (set-up).

``accord gov`` builds and signs governance notes (``docs/formats.md`` §14.5) with an
organization's member key, here on the member's machine, and submits them to any node of the
consortium; it also reads the proposals, the state and the trust policy in force::

    accord gov propose --member-key K (--add-member FILE | --remove-member NAME | --add-node FILE
                       | --remove-node ID | --set-constitution FILE | --set-user ID ROLE
                       | --remove-user ID)...
    accord gov vote PROPOSAL_ID yes|no --member-key K
    accord gov withdraw PROPOSAL_ID --member-key K
    accord gov submit NOTE_FILE          (a note signed earlier with --sign-only)
    accord gov list | show PROPOSAL_ID | state | policy

``accord consortium`` creates a consortium's data directories (``create``), runs a local one
(``demo``), and prepares a new organization's keys (``join-request``).

What it does not do: decide anything. Whether a proposal is accepted is the consortium's fold's
decision (:mod:`accord.core.consortium`), taken on every node; a refused note exits 4 with the
fold's reason. The member key never leaves this process: only the signed note is sent.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from accord.cli import arguments as arg
from accord.core.consortium import (
    ballot_body,
    proposal_body,
    sign_action,
    user_set_action,
    withdrawal_body,
)
from accord.core.note import Signer
from accord.errors import ConfigurationError, MalformedInput

EXIT_OK = 0

ClientOptions = Callable[..., None]
Connect = Callable[[argparse.Namespace], Any]


# --- building and signing notes (no network) ----------------------------------------------------
def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _nonce() -> str:
    return secrets.token_hex(16)


def _sign(body: dict[str, object], signer: Signer) -> str:
    try:
        return sign_action(body, signer)
    except MalformedInput as exc:  # what was asked cannot be a governance note: a usage error
        raise ConfigurationError(f"cannot make this governance note: {exc}") from exc


def proposal_note(signer: Signer, actions: Sequence[dict[str, object]]) -> str:
    """A proposal of ``actions`` signed by ``signer`` (the member is the key's name), dated now."""
    if not actions:
        raise ConfigurationError(
            "a proposal needs at least one action: --add-member, --remove-member, --add-node, "
            "--remove-node, --set-constitution, --set-user or --remove-user"
        )
    return _sign(proposal_body(signer.name, _now_ms(), _nonce(), actions), signer)


def ballot_note(signer: Signer, proposal_id: str, vote: bool) -> str:
    """A ballot of ``signer``'s member on ``proposal_id``, dated now."""
    return _sign(ballot_body(signer.name, _now_ms(), _nonce(), proposal_id, vote), signer)


def withdrawal_note(signer: Signer, proposal_id: str) -> str:
    """The withdrawal of ``proposal_id`` by ``signer``'s member (its proposer), dated now."""
    return _sign(withdrawal_body(signer.name, _now_ms(), _nonce(), proposal_id), signer)


def note_id(note: str) -> str:
    """A note's id: the hex SHA-256 of its UTF-8 bytes (a proposal's id, §14.5)."""
    import hashlib

    return hashlib.sha256(note.encode("utf-8")).hexdigest()


class _AppendUserSet(argparse.Action):
    """``--set-user USER_ID ROLE``: appends a user.set action to ``actions``, in order."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        user, role = list(values or ())
        action = user_set_action(
            arg.checked("--set-user USER_ID", arg.consortium_user_id)(user),
            arg.checked("--set-user ROLE", arg.role)(role),
        )
        actions = getattr(namespace, self.dest, None) or []
        setattr(namespace, self.dest, [*actions, action])


# --- accord gov ---------------------------------------------------------------------------------
def _submit_or_print(args: argparse.Namespace, note: str) -> dict[str, Any] | None:
    """Submit ``note`` (None with --sign-only, which prints it instead)."""
    if args.sign_only:
        sys.stdout.write(note)
        return None
    with args.connect(args) as client:
        outcome: dict[str, Any] = client.submit_action(note)
    return outcome


def _report(args: argparse.Namespace, outcome: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(outcome))
        return
    pid, state = outcome.get("proposalId"), outcome.get("proposalState")
    print(f"{pid}\t{state}" if pid else str(outcome.get("reason")))
    print(
        f"accord: {outcome.get('reason')} (transaction {outcome.get('transactionId')})",
        file=sys.stderr,
    )


def cmd_gov_propose(args: argparse.Namespace) -> int:
    note = proposal_note(args.member_key, args.actions or [])
    outcome = _submit_or_print(args, note)
    if outcome is None:
        print(f"proposal id: {note_id(note)} (not submitted)", file=sys.stderr)
        return EXIT_OK
    _report(args, outcome)
    return EXIT_OK


def cmd_gov_vote(args: argparse.Namespace) -> int:
    note = ballot_note(args.member_key, args.proposal_id, args.vote)
    outcome = _submit_or_print(args, note)
    if outcome is not None:
        _report(args, outcome)
    return EXIT_OK


def cmd_gov_withdraw(args: argparse.Namespace) -> int:
    note = withdrawal_note(args.member_key, args.proposal_id)
    outcome = _submit_or_print(args, note)
    if outcome is not None:
        _report(args, outcome)
    return EXIT_OK


def cmd_gov_submit(args: argparse.Namespace) -> int:
    if args.file == "-":
        data = sys.stdin.buffer.read()
        try:
            note = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigurationError("standard input is not a UTF-8 signed note") from None
    else:
        note = arg.read_small_text(args.file, limit=64 * 1024)
    if not note.startswith("accord.gov.v1\n"):
        raise ConfigurationError(
            "not a governance note (its first line must be accord.gov.v1; make one with "
            "accord gov propose/vote/withdraw --sign-only)"
        )
    with args.connect(args) as client:
        outcome: dict[str, Any] = client.submit_action(note)
    _report(args, outcome)
    return EXIT_OK


def _votes(proposal: dict[str, Any]) -> str:
    votes = proposal.get("votes") or {}
    return ",".join(f"{m}={v}" for m, v in sorted(votes.items())) or "-"


def _action_types(proposal: dict[str, Any]) -> str:
    return ",".join(str(a.get("type")) for a in proposal.get("actions") or []) or "-"


def cmd_gov_list(args: argparse.Namespace) -> int:
    with args.connect(args) as client:
        proposals = client.proposals()
    if args.json:
        print(json.dumps(proposals))
        return EXIT_OK
    for p in proposals:
        print(
            f"{p.get('proposalId')}\t{p.get('state')}\t{p.get('proposer')}\t"
            f"{_action_types(p)}\t{_votes(p)}"
        )
    return EXIT_OK


def cmd_gov_show(args: argparse.Namespace) -> int:
    with args.connect(args) as client:
        proposal = client.proposal(args.proposal_id)
    print(json.dumps(proposal, indent=None if args.json else 2))
    return EXIT_OK


def cmd_gov_state(args: argparse.Namespace) -> int:
    with args.connect(args) as client:
        state = client.governance_state()
    print(json.dumps(state, indent=None if args.json else 2))
    return EXIT_OK


def cmd_gov_policy(args: argparse.Namespace) -> int:
    with args.connect(args) as client:
        text = client.policy()
    if args.output:
        try:
            Path(args.output).write_text(text)
        except OSError as exc:
            raise ConfigurationError(f"cannot write {args.output}: {arg.reason(exc)}") from exc
        print(f"the trust policy in force is written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


# --- accord consortium --------------------------------------------------------------------------
def cmd_consortium_demo(args: argparse.Namespace) -> int:
    from accord.consortium.demo import run_demo

    return int(run_demo(Path(args.dir), args.orgs))


def cmd_consortium_create(args: argparse.Namespace) -> int:
    from accord.consortium.setup import create_consortium

    directory = Path(args.dir)
    kwargs: dict[str, Any] = {} if args.name is None else {"name": args.name}
    summary = create_consortium(directory, args.orgs, **kwargs)
    if args.json:
        print(json.dumps(summary))
        return EXIT_OK
    orgs = summary["orgs"]
    if not isinstance(orgs, dict):
        raise TypeError("create_consortium returned no organizations")
    print(f"Created the consortium {summary['name']!r} of {', '.join(orgs)} in {directory}")
    print(f"  trust policy: {summary['policy']}  (verifiers check checkpoints against it)")
    for org, info in orgs.items():
        print(f"  {org}: data {info['data']}, serves {info['url']}")
    print("Next: each organization starts its node (and its NATS server) on its own machine:")
    for org in orgs:
        print(f"  accord serve --data {directory / org}")
    first = next(iter(orgs.values()))
    print("Then, say:")
    print(
        f"  accord gov policy --url {first['url']} --cacert {first['service_crt']} "
        f"--cert {first['admin_cert']} --key {first['admin_key']}"
    )
    print(
        "Each directory holds private keys (member.key, cosigner.key, checkpoint.key, node.key, "
        "admin.key): hand it to its organization only."
    )
    return EXIT_OK


def join_request(name: str, directory: Path) -> dict[str, object]:
    """Generate a new organization's member, cosigner and admin keys in ``directory`` (created
    0700, keys 0600); write ``member.json``, the member object to propose; return it."""
    from accord.core.consortium import Member
    from accord.core.cosignature import Cosigner
    from accord.identity import fingerprint, make_user_identity, write_private, write_public
    from accord.private.keys import ENCRYPTION_KEY, public_bytes
    from accord.private.keys import generate as generate_encryption_key

    signer = Signer.generate(name)
    cosigner = Cosigner.generate(name)
    admin = make_user_identity(f"{name} administrator")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    encryption = generate_encryption_key(directory / ENCRYPTION_KEY)
    member = Member(
        name,
        signer.verifier(),
        cosigner.key(),
        fingerprint(admin.cert),
        encryption_key=public_bytes(encryption),
    )
    obj = member.to_json()
    write_private(directory / "member.key", (signer.to_skey() + "\n").encode())
    write_public(directory / "member.vkey", (signer.verifier().to_vkey() + "\n").encode())
    write_private(directory / "cosigner.key", (cosigner.to_skey() + "\n").encode())
    write_public(directory / "cosigner.vkey", (cosigner.key().to_vkey() + "\n").encode())
    write_private(directory / "admin.key", admin.key_pem())
    write_public(directory / "admin.crt", admin.cert_pem())
    write_public(directory / "member.json", (json.dumps(obj, indent=2) + "\n").encode())
    return obj


def cmd_consortium_join_request(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    member = join_request(args.name, directory)
    if args.json:
        print(json.dumps(member))
        return EXIT_OK
    request = directory / "member.json"
    print(f"Created the keys of organization {args.name!r} in {directory}:")
    print(f"  {directory / 'member.key'}    signs your governance votes (keep it secret)")
    print(f"  {directory / 'cosigner.key'}  cosigns the consortium's checkpoints (keep it secret)")
    print(f"  {directory / 'admin.crt'} + admin.key  your first Administrator, once you join")
    print(f"  {request}   the join request: your public keys and admin id")
    print("Next:")
    print(f"  1. Give {request} to an existing member (it holds no secret). They propose you:")
    print(
        "       accord gov propose --member-key THEIR/member.key --add-member member.json "
        "--url https://NODE --cacert service.crt --cert THEIR/admin.crt --key THEIR/admin.key"
    )
    print("     and it prints the proposal id.")
    print(
        "  2. The other members vote: accord gov vote PROPOSAL_ID yes --member-key "
        "THEIR/member.key --url ..."
    )
    print(
        "  3. Once accepted (accord gov show PROPOSAL_ID), you are a member: your node is added "
        "by a node.add proposal (accord gov propose --add-node node.json)."
    )
    return EXIT_OK


def cmd_consortium_add_org(args: argparse.Namespace) -> int:
    from accord.client.client import AccordClient
    from accord.consortium.setup import prepare_joining_org
    from accord.core.consortium import Node
    from accord.errors import ConfigurationError

    directory = Path(args.dir)
    if not (directory / "service-ca" / "service.key").is_file():
        raise ConfigurationError(f"{directory} has no service-ca/service.key (made by create)")
    orgs = sorted(
        p.parent for p in directory.glob("*/consortium.json") if p.parent.name != args.name
    )
    via = (
        next((o for o in orgs if o.name == args.via), None)
        if args.via
        else orgs[0]
        if orgs
        else None
    )
    if via is None:
        raise ConfigurationError(f"no organization {args.via or ''} in {directory}")
    settings = json.loads((via / "consortium.json").read_text())
    url = f"https://{settings.get('host', '127.0.0.1')}:{settings['https_port']}"
    with AccordClient(
        url,
        service_cert=str(via / "service.crt"),
        cert=str(via / "admin.crt"),
        key=str(via / "admin.key"),
    ) as client:
        nodes = [Node.from_json(n) for n in client.governance_state()["nodes"]]
    _member, node, summary = prepare_joining_org(
        directory / args.name,
        args.name,
        peer=via,
        service_ca=directory / "service-ca",
        current_nodes=nodes,
    )
    new = directory / args.name
    print(f"Created {new} for organization {args.name!r} (node {node.node_id}, {summary['url']}).")
    print("Next, an existing member proposes it and the others vote:")
    print(
        f"  accord gov propose --member-key {via / 'member.key'} --add-member {new / 'member.json'} "
        f"--add-node {new / 'node.json'} --url {url} --cacert {via / 'service.crt'} "
        f"--cert {via / 'admin.crt'} --key {via / 'admin.key'}"
    )
    print("  accord gov vote PROPOSAL_ID yes --member-key OTHER/member.key --url ...")
    print(f"Once accepted: accord serve --data {new}")
    return EXIT_OK


# --- the parsers --------------------------------------------------------------------------------
_ACTION_HELP = (
    "Each action option may be repeated and combined; the actions are applied in the order "
    "given, all or nothing, once enough members voted yes."
)


def _member_key_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--member-key",
        required=True,
        metavar="FILE",
        type=arg.member_key_file,
        help="your organization's member signing key (DIR/member.key); the member is its name",
    )
    p.add_argument(
        "--sign-only",
        action="store_true",
        help="print the signed note instead of submitting it (submit it later with "
        "accord gov submit FILE); needs no --url",
    )


def add_parsers(sub: Any, *, client_options: ClientOptions, connect: Connect) -> None:
    """Add ``accord gov`` and ``accord consortium`` to the top-level subparsers ``sub``.

    ``client_options(parser, url_required=...)`` adds the usual --url/--cacert/--cert/--key/
    --token/--json options and ``connect(args)`` opens an AccordClient from them (both the
    CLI's own, so that every command connects alike).
    """
    gov = sub.add_parser(
        "gov",
        help="consortium governance: propose, vote, withdraw; read proposals and the policy",
        description="Consortium governance. Proposals, ballots and withdrawals are C2SP signed "
        "notes (docs/formats.md §14.5) signed here with your organization's member key and "
        "submitted to any node; the consortium decides on every node alike. A note the "
        "consortium refuses (bad signature, stale, unknown or closed proposal, ...) exits 4 "
        "with the reason.",
    )
    gsub = gov.add_subparsers(dest="gov_command", required=True, metavar="ACTION")

    p = gsub.add_parser(
        "propose",
        help="sign and submit a proposal of one or more actions",
        description="Sign a proposal with --member-key and submit it; prints the proposal id "
        "and its state (open until enough members vote yes). " + _ACTION_HELP,
        epilog="example: accord gov propose --member-key supplier/member.key "
        "--add-member newco/member.json --url https://127.0.0.1:8443 --cacert "
        "supplier/service.crt --cert supplier/admin.crt --key supplier/admin.key",
    )
    _member_key_option(p)
    p.add_argument(
        "--add-member",
        dest="actions",
        action="append",
        metavar="JSON_FILE",
        type=arg.member_add_file,
        help="add a member organization: a member object, as accord consortium join-request "
        "writes to member.json",
    )
    p.add_argument(
        "--remove-member",
        dest="actions",
        action="append",
        metavar="NAME",
        type=arg.member_remove,
        help="remove a member organization (its nodes go too)",
    )
    p.add_argument(
        "--add-node",
        dest="actions",
        action="append",
        metavar="JSON_FILE",
        type=arg.node_add_file,
        help="add a node: a node object (docs/formats.md §14.4)",
    )
    p.add_argument(
        "--remove-node",
        dest="actions",
        action="append",
        metavar="NODE_ID",
        type=arg.node_remove,
        help="remove a node",
    )
    p.add_argument(
        "--set-constitution",
        dest="actions",
        action="append",
        metavar="JSON_FILE",
        type=arg.constitution_set_file,
        help="replace the constitution: an accord.constitution.v1 object (docs/formats.md §14.3)",
    )
    p.add_argument(
        "--set-user",
        dest="actions",
        action=_AppendUserSet,
        nargs=2,
        metavar=("USER_ID", "ROLE"),
        help="give a user (certificate fingerprint or token id) a role: " + ", ".join(arg.ROLES),
    )
    p.add_argument(
        "--remove-user",
        dest="actions",
        action="append",
        metavar="USER_ID",
        type=arg.user_remove,
        help="remove a user",
    )
    client_options(p, url_required=False)
    p.set_defaults(func=cmd_gov_propose, connect=connect)

    p = gsub.add_parser(
        "vote",
        help="sign and submit a ballot on an open proposal",
        description="Vote yes or no on an open proposal; a later ballot of yours replaces an "
        "earlier one while the proposal is open. Prints the proposal id and its state.",
    )
    p.add_argument("proposal_id", type=arg.proposal_id, help="the proposal (64 hex digits)")
    p.add_argument("vote", type=arg.vote, metavar="yes|no", help="your vote")
    _member_key_option(p)
    client_options(p, url_required=False)
    p.set_defaults(func=cmd_gov_vote, connect=connect)

    p = gsub.add_parser(
        "withdraw",
        help="withdraw an open proposal you made",
        description="Withdraw an open proposal; only its proposer may.",
    )
    p.add_argument("proposal_id", type=arg.proposal_id, help="the proposal (64 hex digits)")
    _member_key_option(p)
    client_options(p, url_required=False)
    p.set_defaults(func=cmd_gov_withdraw, connect=connect)

    p = gsub.add_parser(
        "submit",
        help="submit a note signed earlier with --sign-only",
        description="Submit a governance note made by accord gov propose/vote/withdraw "
        "--sign-only (say, on a machine that holds the member key but no network).",
    )
    p.add_argument(
        "file",
        type=lambda v: v if v == "-" else arg.readable_file(v),
        help="the signed note ('-' reads stdin)",
    )
    client_options(p)
    p.set_defaults(func=cmd_gov_submit, connect=connect)

    p = gsub.add_parser(
        "list",
        help="list the proposals: id, state, proposer, actions, votes",
        description="One line per proposal the consortium remembers, oldest first: its id, "
        "state, proposer, action types and votes (tab-separated; --json for everything).",
    )
    client_options(p)
    p.set_defaults(func=cmd_gov_list, connect=connect)

    p = gsub.add_parser(
        "show",
        help="show one proposal (JSON)",
        description="The proposal as JSON: actions, ballots, state and why it closed.",
    )
    p.add_argument("proposal_id", type=arg.proposal_id, help="the proposal (64 hex digits)")
    client_options(p)
    p.set_defaults(func=cmd_gov_show, connect=connect)

    p = gsub.add_parser(
        "state",
        help="show the replicated consortium state (JSON)",
        description="Members, nodes, users, constitution and proposals, as every node folds "
        "them from the ledger (docs/formats.md §14.8).",
    )
    client_options(p)
    p.set_defaults(func=cmd_gov_state, connect=connect)

    p = gsub.add_parser(
        "policy",
        help="print the trust policy in force (C2SP tlog-policy)",
        description="The C2SP tlog-policy of the consortium: its nodes' log keys, its members' "
        "cosigner keys and how many must cosign. Save it to check checkpoints and receipts "
        "offline with accord verify --policy and accord receipt verify --policy.",
    )
    p.add_argument("-o", "--output", type=arg.output_file, help="write the policy to this file")
    client_options(p)
    p.set_defaults(func=cmd_gov_policy, connect=connect)

    cons = sub.add_parser(
        "consortium",
        help="create or run a consortium; prepare a new organization's join request",
        description="A consortium: each organization runs a node and a NATS server; checkpoints "
        "are final once a quorum of organizations cosigned them. See docs/consortium.md.",
    )
    csub = cons.add_subparsers(dest="consortium_command", required=True, metavar="ACTION")

    p = csub.add_parser(
        "demo",
        help="create and run a consortium of N organizations on this machine",
        description="Create (or restart) a consortium of N organizations in DIR and run every "
        "organization's node and NATS server here until Ctrl-C.",
    )
    p.add_argument(
        "--orgs",
        type=arg.positive_int,
        default=3,
        metavar="N",
        help="number of organizations (1-5, default 3)",
    )
    p.add_argument("--dir", required=True, type=arg.new_data_dir, help="directory of the demo")
    p.set_defaults(func=cmd_consortium_demo)

    p = csub.add_parser(
        "create",
        help="create every organization's data directory and the genesis",
        description="Create DIR/<org> for each organization (keys, certificates, genesis, "
        "node settings) and DIR/consortium.policy. Hand each directory to its organization, "
        "which starts it with accord serve --data DIR/<org>.",
    )
    p.add_argument(
        "--orgs",
        required=True,
        type=arg.org_names,
        metavar="A,B,C",
        help="comma-separated organization names, e.g. supplier,manufacturer,retailer",
    )
    p.add_argument("--dir", required=True, type=arg.new_data_dir, help="directory to create")
    p.add_argument(
        "--name",
        type=arg.nonempty,
        help="the consortium's log origin (default accord.example/consortium)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_consortium_create)

    p = csub.add_parser(
        "join-request",
        help="generate a new organization's keys and its member.json to propose",
        description="Generate, in a new directory (0700), a new organization's member key, "
        "cosigner key and Administrator certificate, and member.json: the member object an "
        "existing member proposes with accord gov propose --add-member member.json. No key "
        "leaves the directory; member.json holds public keys only.",
    )
    p.add_argument(
        "--name", required=True, type=arg.org_name, help="the organization's name (member name)"
    )
    p.add_argument("--dir", required=True, type=arg.new_private_dir, help="directory to create")
    p.add_argument("--json", action="store_true", help="print the member object as JSON")
    p.set_defaults(func=cmd_consortium_join_request)

    p = csub.add_parser(
        "add-org",
        help="prepare a new organization WITH its node, in a consortium made by create or demo",
        description="Create DIR/NAME: a new organization's member, cosigner and node keys, its "
        "node's TLS certificate (issued with DIR/service-ca, so run this where the service CA "
        "key is), its own ordering CA, and member.json + node.json to propose. The live list of "
        "nodes is read from a running organization of DIR. Nothing changes in the consortium "
        "until members accept the proposal; then start it with accord serve --data DIR/NAME.",
    )
    p.add_argument("--dir", required=True, help="the consortium directory (holds service-ca/)")
    p.add_argument("--name", required=True, type=arg.org_name, help="the new organization")
    p.add_argument(
        "--via",
        type=arg.org_name,
        help="the running organization of DIR to read the live nodes from (default: the first)",
    )
    p.set_defaults(func=cmd_consortium_add_org)
