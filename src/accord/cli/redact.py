"""``accord redact``: erase one entry's contents from a single-node ledger, on the record.

::

    accord redact TXID --reason TEXT --url URL --cacert DIR/service.crt --cert admin.crt --key admin.key
    accord redact TXID --reason TEXT --data DIR      (offline: accord serve stopped)

Through a service the caller must be an Administrator, who is recorded as ``by``; offline, the
operator of the data directory is (``by`` is :data:`OPERATOR`). Either way the ledger writes a
redaction record (``docs/formats.md`` §22), then erases the contents from its storage; the
entry's leaf, proofs and receipts stay, and ``accord verify`` reports it as redacted. A consortium
node's directory or service refuses (exit 4): its entries are redacted by private-collection purge.
"""

from __future__ import annotations

import argparse
import json
import os
import textwrap
from collections.abc import Callable
from typing import Any

from accord.cli import arguments as arg
from accord.core.redaction import CONSORTIUM_REFUSAL, OPERATOR, validate_reason
from accord.errors import ConfigurationError, InvalidRequest, LedgerLocked

EXIT_OK = 0

ClientOptions = Callable[..., None]
Connect = Callable[[argparse.Namespace], Any]

DESCRIPTION = (
    "Erase the contents of one entry of a single-node ledger, on the record: the ledger first "
    "writes a redaction record (accord.redaction.v1 in collection accord.redactions: the entry's "
    "id, its contentsSha256, the reason and who asked), then deletes the contents from its "
    "storage (SQLite: overwritten and the write-ahead log truncated). The entry's leaf, proofs "
    "and receipts stay valid; reading it answers 410 naming the record; `accord verify` reports "
    "it as redacted. Backups, copies already downloaded and a PostgreSQL server's old row "
    "versions and WAL are not reached (see README, Redaction). Entries of accord.* collections "
    "cannot be redacted, nor an entry twice. Through --url the caller must be an "
    "Administrator; with --data (the service stopped) the operator is recorded as "
    f"{OPERATOR!r}."
)


EPILOG = """\
examples:
  accord redact 1.42 --reason 'erasure request 2026-114 (GDPR art. 17)' \\
      --url https://127.0.0.1:8443 --cacert accord-data/service.crt \\
      --cert accord-data/admin.crt --key accord-data/admin.key
  accord redact 1.42 --reason 'erasure request 2026-114' --data accord-data

exit codes:
  0  redacted: the record is written and the contents are erased
  2  bad argument (a reason that is empty, over 512 characters or has control characters)
  3  service or storage unavailable, or the ledger is locked by a running accord serve
     (stop it, or redact through it with --url)
  4  refused, nothing written: not an Administrator, an unknown entry, an entry of an
     accord.* collection, an entry redacted already, a consortium node"""


def add_parser(sub: Any, *, client_options: ClientOptions, connect: Connect) -> None:
    """Add ``accord redact`` to the top-level subparsers ``sub``."""
    p = sub.add_parser(
        "redact",
        help="erase one entry's contents (GDPR erasure), recorded on the ledger",
        description=textwrap.fill(DESCRIPTION, 88),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("txid", type=arg.txid, help="transaction id of the entry, e.g. 1.42")
    p.add_argument(
        "--reason",
        required=True,
        type=validate_reason,
        help="why, in 1-512 characters (a request number, a legal basis); it stays on the "
        "ledger for good, so never put the erased data in it",
    )
    p.add_argument(
        "--data",
        metavar="DIR",
        type=arg.data_dir,
        help="redact offline in this data directory (stop accord serve first); wins over "
        "$ACCORD_URL",
    )
    client_options(p, url_required=False)
    p.set_defaults(func=lambda args: cmd_redact(args, connect))


def cmd_redact(args: argparse.Namespace, connect: Connect) -> int:
    if args.data and args.url:
        raise ConfigurationError("give --data DIR or --url URL, not both")
    if args.data:
        result = _redact_offline(args.data, args.txid, args.reason)
    else:
        if not (args.url or os.environ.get("ACCORD_URL")):
            raise ConfigurationError("redact needs --url URL (or $ACCORD_URL) or --data DIR")
        with connect(args) as client:
            result = client.redact(args.txid, args.reason)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"redacted {result['redactedTransactionId']}: its contents are erased from this "
            f"ledger's storage; redaction record {result['transactionId']}"
        )
    return EXIT_OK


def _redact_offline(directory: str, txid: str, reason: str) -> dict[str, str]:
    from accord.consortium.runtime import is_consortium
    from accord.datadir import DataDir

    data = DataDir(directory)
    if is_consortium(data):
        raise InvalidRequest(CONSORTIUM_REFUSAL)
    try:
        ledger = data.open_ledger()
    except LedgerLocked as exc:
        raise LedgerLocked(
            f"{exc}; stop accord serve first, or redact through it with --url"
        ) from exc
    with ledger:
        redaction = ledger.redact(txid, reason=reason, by=OPERATOR)
    return {"transactionId": str(redaction.record_id), "redactedTransactionId": txid}
