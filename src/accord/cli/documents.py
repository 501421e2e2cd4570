"""``accord documents``: the immutable document store from the command line.

Run against a data directory (``keys``, ``verify``) or, for everything else, against a running
``accord serve``'s S3 API with an access key (``--endpoint-url`` or ``$ACCORD_S3_URL``, the key
from ``$AWS_ACCESS_KEY_ID``/``$AWS_SECRET_ACCESS_KEY`` or ``--access-key``/``--secret-key``,
and ``--cacert`` the service certificate).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from accord.cli import arguments as arg
from accord.errors import ConfigurationError, TamperingDetected

EXIT_OK = 0
EXIT_FAILED = 1


def _user_id(text: str) -> str:
    """A user id, or the path of a user's certificate (its fingerprint is the id)."""
    path = Path(text)
    if text.endswith((".crt", ".pem")) and path.is_file():
        from cryptography import x509

        from accord.identity import fingerprint

        try:
            return fingerprint(x509.load_pem_x509_certificate(path.read_bytes()))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text} is not a PEM certificate") from exc
    return text


def cmd_keys_create(args: argparse.Namespace) -> int:
    from accord.datadir import DataDir
    from accord.documents.runtime import access_keys
    from accord.service.users import UserStore

    data = DataDir(args.data)
    data.load_config()
    users = UserStore(data / "users.json")
    user = users.find(args.user)
    if user is None:
        raise ConfigurationError(
            f"{args.user!r} is not a user of this ledger; list them with accord users list, "
            "or give the user's certificate file (e.g. --user admin.crt)"
        )
    key, secret = access_keys(data).create(user.user_id)
    if args.json:
        print(json.dumps({"access_key_id": key.access_key_id, "secret_access_key": secret}))
    else:
        print(f"access key id:     {key.access_key_id}")
        print(f"secret access key: {secret}")
        print(
            f"user {user.user_id} ({user.role}); the secret is shown only now. For the AWS CLI "
            "and boto3: export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_keys_list(args: argparse.Namespace) -> int:
    from accord.datadir import DataDir
    from accord.documents.runtime import access_keys

    data = DataDir(args.data)
    data.load_config()
    keys = access_keys(data).list()
    if args.json:
        print(json.dumps([k.to_json() for k in keys]))
        return EXIT_OK
    if not keys:
        print("no access keys; create one with: accord documents keys create --data DIR --user ID")
    for k in keys:
        state = f"revoked {k.revoked}" if k.revoked else "active"
        print(f"{k.access_key_id}  {state:28}  created {k.created}  user {k.user_id}")
    return EXIT_OK


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from accord.datadir import DataDir
    from accord.documents.runtime import access_keys

    data = DataDir(args.data)
    data.load_config()
    key = access_keys(data).revoke(args.key_id)
    print(f"access key {key.access_key_id} revoked ({key.revoked}); requests signed with it fail")
    return EXIT_OK


def verify_documents_of(data: Any, progress: Any = None) -> Any:
    """The document audit of a data directory (read-only), or None if it stores no documents."""
    from accord.documents.runtime import documents_dir, open_blobs
    from accord.documents.store import verify_documents

    if not documents_dir(data).is_dir():
        return None
    reader = data.open_reader()
    blobs = open_blobs(data)
    try:
        return verify_documents(reader, blobs, progress=progress)
    finally:
        blobs.close()
        reader.close()


def report_documents(report: Any) -> int:
    """Print a document audit; the exit code it deserves."""
    if report is None:
        return EXIT_OK
    for problem in report.problems:
        print(f"DOCUMENT PROBLEM: {problem}")
    if report.problems:
        print(
            f"accord: documents: {len(report.problems)} problem(s) in {report.versions} stored "
            "versions",
            file=sys.stderr,
        )
        return EXIT_FAILED
    print(
        f"OK: {report.versions} document versions ({report.bytes} bytes) in "
        f"{report.containers} containers match their {report.records} ledger records"
    )
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    """The ledger audit of ``accord verify --data`` (which includes the documents), insisting
    that the directory stores documents."""
    from accord.cli.main import cmd_verify as verify_all
    from accord.datadir import DataDir
    from accord.documents.runtime import documents_dir

    if not documents_dir(DataDir(args.data)).is_dir():
        raise ConfigurationError(f"{args.data} stores no documents (no documents/ directory)")
    return verify_all(
        argparse.Namespace(
            data=args.data, url=None, vkey=None, policy=None, trusted_checkpoint=None
        )
    )


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "documents",
        help="immutable documents: access keys, verification, and an S3 client",
        description="The document store: write-once, versioned files anchored in the ledger, "
        "served over an S3-compatible API by accord serve (--s3-port). Use boto3 or the AWS CLI "
        "with --endpoint-url, or these commands.",
    )
    dsub = p.add_subparsers(dest="documents_command", required=True, metavar="ACTION")

    keys = dsub.add_parser("keys", help="S3 access keys (create, list, revoke)")
    ksub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    k = ksub.add_parser(
        "create",
        help="create an access key for a user (prints the secret once)",
        description="Create an S3 access key id and secret for an accord user; requests signed "
        "with it act with that user's role (Reader, Contributor, Administrator). The secret is "
        "printed once and stored encrypted.",
    )
    k.add_argument("--data", required=True, type=arg.data_dir, help="data directory")
    k.add_argument(
        "--user",
        required=True,
        type=_user_id,
        help="the user: a certificate fingerprint, a token user id, or a certificate file",
    )
    k.add_argument(
        "--json", action="store_true", help='print {"access_key_id": ..., "secret_access_key": ...}'
    )
    k.set_defaults(func=cmd_keys_create)
    k = ksub.add_parser("list", help="list access keys (never their secrets)")
    k.add_argument("--data", required=True, type=arg.data_dir, help="data directory")
    k.add_argument("--json", action="store_true", help="print JSON")
    k.set_defaults(func=cmd_keys_list)
    k = ksub.add_parser("revoke", help="revoke an access key")
    k.add_argument("--data", required=True, type=arg.data_dir, help="data directory")
    k.add_argument("key_id", help="the access key id")
    k.set_defaults(func=cmd_keys_revoke)

    v = dsub.add_parser(
        "verify",
        help="verify every stored document against its ledger record",
        description="Verify the ledger (as accord verify --data does), then re-hash every stored "
        "document version and check it against its ledger record; report a changed or missing "
        "file by container, key and version. Exits 1 on any problem.",
    )
    v.add_argument("--data", required=True, type=arg.data_dir, help="data directory")
    v.set_defaults(func=cmd_verify)


__all__ = ["TamperingDetected", "add_parser", "report_documents", "verify_documents_of"]
