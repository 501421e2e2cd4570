"""``accord private``: private collections of a consortium (docs/privacy.md).

Writes and reads use the usual commands (``accord append --collection C``, ``accord get``):
a private collection's contents are sealed by a reader organization's node and opened only for
its readers' users. These commands do what the entry commands have no shape for.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from accord.cli import arguments as arg
from accord.cli.gov import (
    ClientOptions,
    Connect,
    _member_key_option,
    _report,
    _submit_or_print,
    proposal_note,
)
from accord.errors import ConfigurationError

EXIT_OK = 0
DAY_MS = 86_400_000


def cmd_collections(args: argparse.Namespace) -> int:
    with args.connect(args) as client:
        collections = client.private_collections()
    if args.json:
        print(json.dumps(collections))
        return EXIT_OK
    if not collections:
        print("no private collections (create one with accord private create)", file=sys.stderr)
    for c in collections:
        retention = c["retentionMs"]
        kept = (
            "kept until purged"
            if retention is None
            else f"purged after {retention / DAY_MS:g} days"
        )
        print(
            f"{c['collectionId']}\treaders {','.join(c['readers'])}\t{kept}\tsince entry {c['since']}"
        )
    return EXIT_OK


def cmd_create(args: argparse.Namespace) -> int:
    from accord.core.private import private_create_action

    readers = [r for r in args.readers.split(",") if r]
    if not readers:
        raise ConfigurationError("--readers names at least one member organization")
    retention = None if args.retention_days is None else round(args.retention_days * DAY_MS)
    action = private_create_action(args.collection, readers, retention)
    note = proposal_note(args.member_key, [action])
    outcome = _submit_or_print(args, note)
    if outcome is not None:
        _report(args, outcome)
        if outcome.get("proposalState") == "open":
            print(
                f"accord: the other members vote with: accord gov vote {outcome.get('proposalId')} yes "
                "--member-key DIR/member.key ...",
                file=sys.stderr,
            )
    return EXIT_OK


def cmd_disclose(args: argparse.Namespace) -> int:
    with args.connect(args) as client:
        disclosure = client.disclosure(args.txid)
    text = json.dumps(disclosure, indent=2) + "\n"
    if args.output:
        try:
            Path(args.output).write_text(text)
        except OSError as exc:
            raise ConfigurationError(f"cannot write {args.output}: {arg.reason(exc)}") from exc
        print(
            f"disclosure of {args.txid} written to {args.output}: anyone checks it with "
            f"accord receipt verify {args.output} --policy consortium.policy",
            file=sys.stderr,
        )
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_purge(args: argparse.Namespace) -> int:
    with args.connect(args) as client:
        outcome: dict[str, Any] = client.purge(args.txid, args.reason)
    if args.json:
        print(json.dumps(outcome))
    else:
        print(
            f"purged {args.txid}: purge record {outcome['transactionId']} ({outcome['state']}); "
            "its contents are erased on every reader node as it applies the record"
        )
    return EXIT_OK


def add_parsers(sub: Any, *, client_options: ClientOptions, connect: Connect) -> None:
    p = sub.add_parser(
        "private",
        help="private collections of a consortium: create, list, disclose, purge",
        description="Private collections (docs/privacy.md): entries only the named member "
        "organizations can read. Write and read them with the usual commands (accord append "
        "--collection C, accord get); every other organization's node keeps only a salted "
        "commitment.",
    )
    psub = p.add_subparsers(dest="private_command", required=True, metavar="ACTION")

    c = psub.add_parser("collections", help="list the private collections and their readers")
    client_options(c, url_required=False)
    c.set_defaults(func=cmd_collections, connect=connect)

    c = psub.add_parser(
        "create",
        help="propose a new private collection (a governance proposal the members vote on)",
        description="Sign and submit a proposal of a private.create action with your member "
        "key. Once the constitution's majority voted yes, entries of COLLECTION written after "
        "it are private to the readers (earlier entries of the same id stay public).",
        epilog="example: accord private create prices --readers supplier,manufacturer "
        "--member-key supplier/member.key --url https://127.0.0.1:8443 --cacert "
        "supplier/service.crt --cert supplier/admin.crt --key supplier/admin.key",
    )
    c.add_argument("collection", type=arg.collection, help="the collection id")
    c.add_argument(
        "--readers",
        required=True,
        metavar="ORG,ORG",
        help="the member organizations that may read it (comma-separated)",
    )
    c.add_argument(
        "--retention-days",
        type=arg.positive_float,
        metavar="DAYS",
        help="purge each entry's contents automatically this long after it was written "
        "(default: kept until purged)",
    )
    _member_key_option(c)
    client_options(c, url_required=False)
    c.set_defaults(func=cmd_create, connect=connect)

    c = psub.add_parser(
        "disclose",
        help="write a disclosure of one private entry, for an outsider to verify offline",
        description="A reader's disclosure of one entry: its receipt, its public record, its "
        "contents and the salt of its commitment (accord.disclosure.v1). Whoever receives it "
        "checks it with accord receipt verify FILE --policy consortium.policy.",
    )
    c.add_argument("txid", type=arg.txid, help="the entry's transaction id")
    c.add_argument("-o", "--output", metavar="FILE", help="write it here (default: stdout)")
    client_options(c, url_required=False)
    c.set_defaults(func=cmd_disclose, connect=connect)

    c = psub.add_parser(
        "purge",
        help="erase a private entry's contents on every node (Administrator of a reader)",
        description="Order a purge record: every reader organization's node erases the entry's "
        "sealed contents; its commitment, receipt and every proof stay, and accord verify reports "
        "it as purged.",
    )
    c.add_argument("txid", type=arg.txid, help="the entry's transaction id")
    c.add_argument("--reason", required=True, help="why (recorded on the ledger, 1-512 characters)")
    client_options(c, url_required=False)
    c.set_defaults(func=cmd_purge, connect=connect)
