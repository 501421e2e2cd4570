"""``accord documents``: the immutable document store from the command line.

Run against a data directory (``keys``, ``verify``) or, for everything else, against a running
``accord serve``'s S3 API with an access key (``--endpoint-url`` or ``$ACCORD_S3_URL``, the key
from ``$AWS_ACCESS_KEY_ID``/``$AWS_SECRET_ACCESS_KEY`` or ``--access-key``/``--secret-key``,
and ``--cacert`` the service certificate).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
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
    from accord.consortium.runtime import is_consortium
    from accord.datadir import DataDir
    from accord.documents.runtime import access_keys
    from accord.service.users import UserStore

    data = DataDir(args.data)
    data.load_config()
    if is_consortium(data):
        # The consortium's users are replicated state, checked by the node on every request.
        user_id, role = UserStore.canonical_id(args.user), "role as the consortium says"
    else:
        user = UserStore(data / "users.json").find(args.user)
        if user is None:
            raise ConfigurationError(
                f"{args.user!r} is not a user of this ledger; list them with accord users list, "
                "or give the user's certificate file (e.g. --user admin.crt)"
            )
        user_id, role = user.user_id, user.role
    key, secret = access_keys(data).create(user_id)
    if args.json:
        print(json.dumps({"access_key_id": key.access_key_id, "secret_access_key": secret}))
    else:
        print(f"access key id:     {key.access_key_id}")
        print(f"secret access key: {secret}")
        print(
            f"user {user_id} ({role}); the secret is shown only now. For the AWS CLI "
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
    from accord.consortium.runtime import is_consortium, load_node_files
    from accord.documents.runtime import documents_dir, open_blobs
    from accord.documents.store import verify_documents

    if not documents_dir(data).is_dir():
        return None
    organization = load_node_files(data).settings.member if is_consortium(data) else None
    reader = data.open_reader()
    blobs = open_blobs(data)
    try:
        return verify_documents(reader, blobs, organization=organization, progress=progress)
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


# --- the S3 client commands -----------------------------------------------------------------------
PROGRESS_MIN_BYTES = 8 * 1024 * 1024
"""put and get show progress on stderr for files at least this large."""


def _container_name(value: str) -> str:
    from accord.documents.records import validate_container

    return validate_container(value)


def _object_key(value: str) -> str:
    from accord.documents.records import validate_key

    return validate_key(value)


def _metadata_item(value: str) -> tuple[str, str]:
    from accord.documents.records import validate_metadata

    name, sep, text = value.partition("=")
    if not sep:
        raise ConfigurationError(f"{arg.show(value)} is not NAME=VALUE")
    ((name, text),) = validate_metadata({name: text}).items()
    return name, text


def _moment(value: str) -> datetime.datetime:
    """An ISO 8601 date or time (``2030-01-01``, ``2030-01-01T00:00:00Z``); UTC if no zone."""
    try:
        when = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigurationError(
            f"{arg.show(value)} is not an ISO 8601 date (e.g. 2030-01-01T00:00:00Z)"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=datetime.UTC)


def _mode(value: str) -> str:
    from accord.documents.records import MODES

    if value.upper() not in MODES:
        raise ConfigurationError(
            f"{arg.show(value)} is not a retention mode ({' or '.join(MODES)})"
        )
    return value.upper()


def _days(value: str) -> int:
    from accord.documents.records import MAX_RETENTION_DAYS

    days = arg.positive_int(value)
    if days > MAX_RETENTION_DAYS:
        raise ConfigurationError(f"at most {MAX_RETENTION_DAYS} days")
    return days


def _retention(
    mode: str | None, until: datetime.datetime | None, days: int | None, *, flags: str
) -> tuple[str, datetime.datetime] | None:
    """``(mode, until)`` from a mode and a date or a number of days, or None if none given."""
    if mode is None:
        if until is not None or days is not None:
            raise ConfigurationError(f"a retention date or days needs its mode ({flags})")
        return None
    if days is not None:
        until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=days)
    if until is None:
        raise ConfigurationError(f"a retention mode needs a date or a number of days ({flags})")
    return mode, until


def _s3_client(args: argparse.Namespace) -> Any:
    """A DocumentsClient from --endpoint-url/--access-key/--secret-key/--cacert or the
    environment ($ACCORD_S3_URL, $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY, $AWS_CA_BUNDLE)."""
    from accord.documents.client import DocumentsClient

    url = args.endpoint_url
    if not url:
        env = os.environ.get("ACCORD_S3_URL")
        if not env:
            raise ConfigurationError(
                "--endpoint-url is required (or set $ACCORD_S3_URL): the S3 API of accord serve, "
                "named on its second line (serving documents (S3 API) on https://...)"
            )
        url = arg.checked("$ACCORD_S3_URL", arg.url)(env)
    key_id = args.access_key or os.environ.get("AWS_ACCESS_KEY_ID")
    secret = args.secret_key or os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not key_id or not secret:
        raise ConfigurationError(
            "give --access-key and --secret-key (or set $AWS_ACCESS_KEY_ID and "
            "$AWS_SECRET_ACCESS_KEY); create a key with: accord documents keys create --data DIR "
            "--user USER"
        )
    cacert = args.cacert
    if cacert is None and os.environ.get("AWS_CA_BUNDLE"):
        cacert = arg.checked("$AWS_CA_BUNDLE", arg.readable_file)(os.environ["AWS_CA_BUNDLE"])
    return DocumentsClient(url, key_id, secret, cacert=cacert)


def _byte_progress(label: str) -> Any:
    """A progress callback printing ``label: done/total bytes (pct%)`` on stderr for large
    transfers: one updating line on a terminal, a line per 10% otherwise."""
    interactive = sys.stderr.isatty()
    shown = [-1]

    def report(done: int, total: int | None) -> None:
        if total is None:
            if interactive and done >= PROGRESS_MIN_BYTES:
                print(f"\r{label}: {done} bytes", end="", file=sys.stderr, flush=True)
            return
        if total < PROGRESS_MIN_BYTES:
            return
        pct = 100 * done // total
        step = pct if interactive else pct - pct % 10
        if step == shown[0]:
            return
        shown[0] = step
        end = "\r" if interactive and done < total else "\n"
        print(f"{label}: {done}/{total} bytes ({pct}%)", end=end, file=sys.stderr, flush=True)

    return report


def _where(args: argparse.Namespace) -> str:
    version = getattr(args, "version_id", None)
    return f"{args.container}/{args.key} " + (
        f"version {version}" if version else "(latest version)"
    )


def cmd_mb(args: argparse.Namespace) -> int:
    with _s3_client(args) as docs:
        docs.create_container(args.container, object_lock=not args.no_object_lock)
    lock = "without object lock" if args.no_object_lock else "with object lock"
    print(f"created container {args.container} ({lock})")
    return EXIT_OK


def cmd_put(args: argparse.Namespace) -> int:
    import mimetypes

    retention = _retention(
        args.retention_mode,
        args.retain_until,
        args.retain_days,
        flags="--retention-mode with --retain-until or --retain-days",
    )
    content_type = args.content_type
    if content_type is None and args.file != "-":
        content_type = mimetypes.guess_type(args.file)[0]
    metadata = dict(args.metadata or [])
    source: Any = sys.stdin.buffer if args.file == "-" else args.file
    with _s3_client(args) as docs:
        stored = docs.put(
            args.container,
            args.key,
            source,
            content_type=content_type,
            metadata=metadata,
            retention=retention,
            legal_hold=args.legal_hold,
            progress=_byte_progress("put"),
        )
    if args.json:
        print(json.dumps(stored.to_json()))
    else:
        print(stored.version_id)
        print(
            f"stored {stored.container}/{stored.key} version {stored.version_id}: "
            f"{stored.size} bytes, sha256 {stored.sha256}",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_get(args: argparse.Namespace) -> int:
    to_stdout = args.output in (None, "-")
    if to_stdout and args.output is None and sys.stdout.isatty():
        raise ConfigurationError("give -o FILE (or -o - to write the document to standard output)")
    if to_stdout and args.json:
        raise ConfigurationError("--json describes a download written with -o FILE")
    with _s3_client(args) as docs:
        if to_stdout:
            info = docs.get(
                args.container,
                args.key,
                sys.stdout.buffer,
                version_id=args.version_id,
                progress=_byte_progress("get"),
            )
            sys.stdout.buffer.flush()
        else:
            info = docs.get(
                args.container,
                args.key,
                args.output,
                version_id=args.version_id,
                progress=_byte_progress("get"),
            )
    if args.json:
        print(json.dumps(info.to_json()))
    elif not to_stdout:
        print(
            f"wrote {info.container}/{info.key} version {info.version_id} to {args.output}: "
            f"{info.size} bytes, sha256 {info.sha256} (checked against the stored SHA-256)",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    with _s3_client(args) as docs:
        if args.container is None:
            if args.prefix:
                raise ConfigurationError("--prefix lists the keys of a CONTAINER: give one")
            containers = docs.list_containers()
            if args.json:
                print(json.dumps([c.to_json() for c in containers]))
            for c in containers if not args.json else []:
                print(f"{c.name}\t{c.created}")
            return EXIT_OK
        objects = list(docs.list(args.container, args.prefix or ""))
    if args.json:
        print(json.dumps([o.to_json() for o in objects]))
    else:
        for o in objects:
            print(f"{o.key}\t{o.size}\t{o.last_modified}")
    return EXIT_OK


def cmd_versions(args: argparse.Namespace) -> int:
    if args.key is not None and args.prefix is not None:
        raise ConfigurationError("give a KEY or --prefix, not both")
    with _s3_client(args) as docs:
        if args.key is not None:
            found = list(docs.versions(args.container, args.key, exact=True))
        else:
            found = list(docs.versions(args.container, args.prefix or ""))
    if args.json:
        print(json.dumps([v.to_json() for v in found]))
        return EXIT_OK
    for v in found:
        kind = "delete-marker" if v.delete_marker else f"{v.size} bytes"
        latest = "latest" if v.is_latest else "-"
        print(f"{v.key}\t{v.version_id}\t{latest}\t{kind}\t{v.last_modified}")
    return EXIT_OK


def cmd_retention(args: argparse.Namespace) -> int:
    from accord.documents.client import iso_time

    wanted = _retention(
        args.set_mode, args.until, args.days, flags="--set-mode with --until or --days"
    )
    if args.clear and wanted is not None:
        raise ConfigurationError("give --set-mode or --clear, not both")
    if args.bypass_governance and wanted is None and not args.clear:
        raise ConfigurationError("--bypass-governance applies to --set-mode or --clear")
    with _s3_client(args) as docs:
        if wanted is None and not args.clear:
            current = docs.get_retention(args.container, args.key, version_id=args.version_id)
            if args.json:
                print(json.dumps(current.to_json() if current else None))
            elif current is None:
                print(f"{_where(args)}: no retention")
            else:
                print(f"{_where(args)}: {current.mode} until {iso_time(current.until)}")
            return EXIT_OK
        docs.set_retention(
            args.container,
            args.key,
            wanted,
            version_id=args.version_id,
            bypass_governance=args.bypass_governance,
        )
    if wanted is None:
        print(f"{_where(args)}: retention removed")
    else:
        print(f"{_where(args)}: {wanted[0]} until {iso_time(wanted[1])}")
    return EXIT_OK


def cmd_hold(args: argparse.Namespace) -> int:
    with _s3_client(args) as docs:
        if args.on is None:
            on = docs.get_legal_hold(args.container, args.key, version_id=args.version_id)
        else:
            docs.set_legal_hold(args.container, args.key, args.on, version_id=args.version_id)
            on = args.on
    if args.json:
        print(json.dumps({"legalHold": on}))
    else:
        print(f"{_where(args)}: legal hold {'ON' if on else 'OFF'}")
    return EXIT_OK


def cmd_delete(args: argparse.Namespace) -> int:
    if args.bypass_governance and not args.version_id:
        raise ConfigurationError(
            "--bypass-governance applies to deleting a version (--version-id); without it a "
            "delete marker is added and every version is kept"
        )
    with _s3_client(args) as docs:
        deleted = docs.delete(
            args.container,
            args.key,
            version_id=args.version_id,
            bypass_governance=args.bypass_governance,
        )
    if args.json:
        print(json.dumps(deleted.to_json()))
    elif args.version_id:
        print(f"deleted {args.container}/{args.key} version {deleted.version_id}")
    else:
        print(
            f"{args.container}/{args.key}: delete marker {deleted.version_id} added (every "
            "version is kept; delete a version with --version-id)"
        )
    return EXIT_OK


def cmd_receipt(args: argparse.Namespace) -> int:
    from accord.documents.client import split_document_receipt

    with _s3_client(args) as docs:
        receipt = docs.receipt(args.container, args.key, args.version_id)
    split_document_receipt(receipt)  # the shape only: accord receipt verify checks it
    text = json.dumps(receipt, indent=2) + "\n"
    if args.output in (None, "-"):
        sys.stdout.write(text)
        return EXIT_OK
    try:
        Path(args.output).write_text(text)
    except OSError as exc:
        raise ConfigurationError(f"cannot write {args.output}: {arg.reason(exc)}") from exc
    print(
        f"document receipt of {_where(args)} written to {args.output}; check it offline with: "
        f"accord receipt verify {args.output} --vkey checkpoint.vkey --file DOCUMENT",
        file=sys.stderr,
    )
    return EXIT_OK


def _add_s3_options(p: argparse.ArgumentParser, *, json_output: bool = True) -> None:
    # The environment is read when the command runs (_s3_client), so explicit flags win.
    p.add_argument(
        "--endpoint-url",
        type=arg.url,
        help="the S3 API of accord serve, e.g. https://127.0.0.1:8444 (or set $ACCORD_S3_URL)",
    )
    p.add_argument(
        "--access-key", type=arg.nonempty, help="access key id (default $AWS_ACCESS_KEY_ID)"
    )
    p.add_argument(
        "--secret-key",
        type=arg.nonempty,
        help="secret access key (default $AWS_SECRET_ACCESS_KEY, which keeps it out of ps)",
    )
    p.add_argument(
        "--cacert",
        type=arg.readable_file,
        help="service certificate to pin, DIR/service.crt (default $AWS_CA_BUNDLE)",
    )
    if json_output:
        p.add_argument("--json", action="store_true", help="machine-readable output")


def _add_object_arguments(p: argparse.ArgumentParser, *, version: bool = True) -> None:
    p.add_argument("container", type=_container_name, help="container (bucket) name")
    p.add_argument("key", type=_object_key, help="object key, e.g. lot-17/analysis.pdf")
    if version:
        p.add_argument(
            "--version-id",
            type=arg.txid,
            help="the version (a transaction id, e.g. 2.17; default the latest)",
        )


def _add_client_parsers(dsub: Any) -> None:
    p = dsub.add_parser(
        "mb",
        help="make a container (bucket), with object lock unless --no-object-lock",
        description="Create a container (Administrators). Object lock (retention and legal holds) "
        "is enabled unless --no-object-lock; it cannot be enabled later.",
    )
    p.add_argument("container", type=_container_name, help="container (bucket) name")
    p.add_argument(
        "--no-object-lock", action="store_true", help="no retention or legal holds in it, ever"
    )
    _add_s3_options(p, json_output=False)
    p.set_defaults(func=cmd_mb)

    p = dsub.add_parser(
        "put",
        help="store a file as a new version; prints its version id",
        description="Upload FILE ('-' reads stdin) as a new version of KEY, streaming it (one pass; "
        "files over 64 MiB go as a multipart upload) with its SHA-256 computed on the way and "
        "checked by the service. Prints the version id, a transaction id of the ledger.",
    )
    _add_object_arguments(p, version=False)
    p.add_argument("file", type=lambda v: v if v == "-" else arg.readable_file(v), help="file")
    p.add_argument("--content-type", type=arg.nonempty, help="MIME type (default: from the name)")
    p.add_argument(
        "--metadata",
        action="append",
        type=_metadata_item,
        metavar="NAME=VALUE",
        help="user metadata (repeatable)",
    )
    p.add_argument("--retention-mode", type=_mode, metavar="{GOVERNANCE,COMPLIANCE}")
    until = p.add_mutually_exclusive_group()
    until.add_argument("--retain-until", type=_moment, metavar="ISO8601", help="retain until")
    until.add_argument("--retain-days", type=_days, metavar="N", help="retain for N days")
    p.add_argument("--legal-hold", action="store_true", help="place a legal hold on it")
    _add_s3_options(p)
    p.set_defaults(func=cmd_put)

    p = dsub.add_parser(
        "get",
        help="download a version, checking its SHA-256",
        description="Download a version (default the latest) to -o FILE or standard output, "
        "streaming; its bytes must hash to the SHA-256 the service stored (exit 1 otherwise). A "
        "FILE is only put in place once they do.",
    )
    _add_object_arguments(p)
    p.add_argument(
        "-o",
        "--output",
        type=lambda v: v if v == "-" else arg.output_file(v),
        help="where to write it ('-' standard output, the default when it is not a terminal)",
    )
    _add_s3_options(p)
    p.set_defaults(func=cmd_get)

    p = dsub.add_parser(
        "list",
        help="list the keys of a container (or, without one, the containers)",
    )
    p.add_argument("container", nargs="?", type=_container_name, help="container (bucket) name")
    p.add_argument("--prefix", help="only keys starting with this")
    _add_s3_options(p)
    p.set_defaults(func=cmd_list)

    p = dsub.add_parser(
        "versions",
        help="list every version and delete marker of a key (or under a prefix)",
    )
    p.add_argument("container", type=_container_name, help="container (bucket) name")
    p.add_argument("key", nargs="?", type=_object_key, help="exactly this key")
    p.add_argument("--prefix", help="every key starting with this")
    _add_s3_options(p)
    p.set_defaults(func=cmd_versions)

    p = dsub.add_parser(
        "retention",
        help="show or set a version's retention",
        description="Without --set-mode or --clear: show the version's retention. Extending is "
        "always allowed; shortening or removing only GOVERNANCE retention, by an Administrator "
        "with --bypass-governance; COMPLIANCE retention is never shortened.",
    )
    _add_object_arguments(p)
    p.add_argument("--set-mode", type=_mode, metavar="{GOVERNANCE,COMPLIANCE}", help="set it")
    until = p.add_mutually_exclusive_group()
    until.add_argument("--until", type=_moment, metavar="ISO8601", help="retain until")
    until.add_argument("--days", type=_days, metavar="N", help="retain for N days from now")
    p.add_argument("--clear", action="store_true", help="remove the retention")
    p.add_argument(
        "--bypass-governance",
        action="store_true",
        help="shorten or remove GOVERNANCE retention (Administrators)",
    )
    _add_s3_options(p)
    p.set_defaults(func=cmd_retention)

    p = dsub.add_parser(
        "hold",
        help="show, place (--on) or clear (--off) a version's legal hold",
        description="A legal hold forbids deleting the version until it is cleared; "
        "Contributors place holds, Administrators clear them.",
    )
    _add_object_arguments(p)
    onoff = p.add_mutually_exclusive_group()
    onoff.add_argument("--on", dest="on", action="store_true", default=None, help="place it")
    onoff.add_argument("--off", dest="on", action="store_false", default=None, help="clear it")
    _add_s3_options(p)
    p.set_defaults(func=cmd_hold)

    p = dsub.add_parser(
        "delete",
        help="add a delete marker, or delete one version (--version-id) where retention allows",
        description="Without --version-id a delete marker hides the key and every version is "
        "kept. With it, that version is deleted for good, which a legal hold or unexpired "
        "retention forbids (exit 4). Either way the deletion is a ledger record.",
    )
    _add_object_arguments(p)
    p.add_argument(
        "--bypass-governance",
        action="store_true",
        help="delete despite GOVERNANCE retention (Administrators)",
    )
    _add_s3_options(p)
    p.set_defaults(func=cmd_delete)

    p = dsub.add_parser(
        "receipt",
        help="write a version's document receipt (checked offline by accord receipt verify)",
        description="Write the version's accord.document-receipt.v1: the ledger receipt of its "
        "record, and the record (container, key, size, SHA-256, time, user). Anyone with the "
        "ledger's checkpoint.vkey checks it, and a file against it, offline: accord receipt "
        "verify FILE --vkey checkpoint.vkey --file DOCUMENT.",
    )
    _add_object_arguments(p)
    p.add_argument(
        "-o",
        "--output",
        type=lambda v: v if v == "-" else arg.output_file(v),
        help="write the receipt here (default standard output)",
    )
    _add_s3_options(p, json_output=False)
    p.set_defaults(func=cmd_receipt)


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

    _add_client_parsers(dsub)


__all__ = ["TamperingDetected", "add_parser", "report_documents", "verify_documents_of"]
