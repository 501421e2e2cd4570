"""The ``accord`` command line.

Every failure is one line on stderr and one of these exit codes (also in ``accord --help``)::

    0   success
    1   verification failed: tampering detected (naming the first bad seqno), a proof, signature
        or receipt that does not check out, a ledger missing entries it had signed
    2   usage or configuration error: a bad flag or argument, a missing or unreadable file, a
        file that is not what the option expects (say, a certificate given as --vkey), a
        directory that is not a data directory, an unsupported storage location
    3   service or storage unavailable: the service cannot be reached or answered with a server
        error, the database is down, the ledger is locked by another process
    4   the service or ledger refused the request: invalid, not found, not allowed (nothing was
        changed)
    70  internal error (a bug: please report it; ACCORD_DEBUG=1 shows the traceback)
    130 interrupted (Ctrl-C)

Explicit flags win over the environment: ``--data`` or ``--url`` on the command line is used even
when ``$ACCORD_URL`` is set. Arguments are checked at the edge (:mod:`accord.cli.arguments`): they
must be valid UTF-8 and parse as what each option expects, and a bad one is named in the message.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from accord.cli import arguments as arg
from accord.errors import (
    AccordError,
    AuthError,
    ConfigurationError,
    InvalidRequest,
    LedgerMissing,
    StorageError,
    TamperingDetected,
    VerificationError,
)

if TYPE_CHECKING:
    from accord.core.cosignature import CosignedCheckpoint
    from accord.core.policy import Policy

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3
EXIT_REFUSED = 4
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """exit codes:
  0    success
  1    verification failed or tampering detected
  2    usage or configuration error (bad argument, missing or wrong file, not a data directory)
  3    service or storage unavailable (unreachable, server error, database down, ledger locked)
  4    the request was refused (invalid, not found, not allowed); nothing was changed
  70   internal error (please report it; ACCORD_DEBUG=1 shows the traceback)
  130  interrupted"""


class _Parser(argparse.ArgumentParser):
    """argparse, checking every argument at the edge and erroring in the subcommand that failed.

    Each stored argument's ``type`` is wrapped in :func:`accord.cli.arguments.checked` (valid
    UTF-8, then the option's own parse), so a bad value is one line naming the argument. Unknown
    flags are reported by the subcommand's parser, with its usage, not the top-level one.
    """

    def add_argument(self, *names: Any, **kwargs: Any) -> argparse.Action:
        if kwargs.get("action", "store") in ("store", "append"):
            flags = [n for n in names if n.startswith("-")]
            label = max(flags, key=len) if flags else str(kwargs.get("metavar") or names[0])
            kwargs["type"] = arg.checked(label, kwargs.get("type", arg.text))
        return super().add_argument(*names, **kwargs)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {arg.one_line(message)}\n")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("accord")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _stdin_text(hint: str) -> str:
    """All of standard input as text; binary input is a one-line error, not a traceback."""
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"standard input is not valid UTF-8 text (byte {data[exc.start]:#04x} at offset "
            f"{exc.start}): {hint}"
        ) from None


def _progress(label: str) -> Any:
    interactive = sys.stderr.isatty()

    def report(done: int, total: int) -> None:
        if total:
            pct = 100.0 * done / total
            end = "\r" if interactive and done < total else "\n"
            if interactive or done == total or done % 100_000 == 0:
                print(f"{label}: {done}/{total} entries ({pct:.0f}%)", end=end, file=sys.stderr)

    return report


# --- init / serve -----------------------------------------------------------------------------
def cmd_init(args: argparse.Namespace) -> int:
    from accord.datadir import init_data_dir

    hosts = [h.strip() for h in args.hosts.split(",") if h.strip()] if args.hosts else None
    data = init_data_dir(
        args.data,
        name=args.name,
        storage=args.storage,
        hosts=hosts,
        max_contents=args.max_contents,
        public_log=args.public_log,
    )
    d = data.path
    print(f"Created ledger {args.name!r} in {d}")
    print(f"  checkpoint verifier key: {d / 'checkpoint.vkey'}  (share it with verifiers)")
    print(f"  service certificate:     {d / 'service.crt'}  (clients pin it)")
    print(
        f"  administrator identity:  {d / 'admin.crt'} + {d / 'admin.key'}  (keep the key secret)"
    )
    print("Next:")
    print(f"  accord serve --data {d}")
    print(
        f"  accord append --url https://127.0.0.1:8443 --cacert {d / 'service.crt'} "
        f"--cert {d / 'admin.crt'} --key {d / 'admin.key'} 'hello'"
    )
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from accord.service.server import serve

    main_coro = serve(
        args.data,
        args.host,
        args.port,
        public_log=args.public_log or None,
        s3_port=-1 if args.no_s3 else args.s3_port,
    )
    try:
        import uvloop  # a faster event loop where available; plain asyncio otherwise
    except ImportError:
        run = asyncio.run
    else:
        run = uvloop.run
    try:
        run(main_coro)
    except asyncio.CancelledError:  # a second signal cut the shutdown short (it said so)
        return EXIT_FAILED
    return EXIT_OK


# --- verification -----------------------------------------------------------------------------
def cmd_verify(args: argparse.Namespace) -> int:
    from accord.datadir import DataDir, load_verifier

    try:
        trusted = [Path(p).read_text() for p in args.trusted_checkpoint or []]
    except OSError as exc:
        raise ConfigurationError(f"cannot read a trusted checkpoint: {exc}") from exc
    if args.url:
        from accord.client.client import AccordClient
        from accord.client.verify import audit_remote, check_served_policy, policy_log

        if not args.vkey and args.policy is None:
            raise ConfigurationError(
                "--url needs --vkey (the ledger's checkpoint.vkey) or --policy (a consortium's "
                "trust policy)"
            )
        with AccordClient(
            args.url, service_cert=args.cacert, cert=args.cert, key=args.key
        ) as client:
            # A consortium node signs with its own log key: the policy names every node's.
            verifier = (
                load_verifier(args.vkey)
                if args.vkey
                else policy_log(client.checkpoint(), args.policy)
            )
            remote = audit_remote(
                client, verifier, trusted_checkpoints=trusted, progress=_progress("verify")
            )
            cosigned = (
                check_served_policy(client, args.policy, remote)
                if args.policy is not None
                else None
            )
            try:
                evidence = [
                    (e["transactionId"], e["contents"])
                    for e in client.list_entries(collection_id="accord.evidence")
                ]
            except AccordError as exc:  # e.g. a public log read without a user certificate
                print(f"accord: verify: evidence not read ({exc})", file=sys.stderr)
                evidence = []
        print(
            f"OK: {args.url} serves a consistent log of {remote.size} entries; "
            f"{remote.tiles} tiles and the signed checkpoint check out"
        )
        if cosigned is not None:
            print(_policy_line(args.policy, cosigned))
        return _report_evidence(evidence)
    if args.policy is not None:
        raise ConfigurationError("--policy checks a running service's checkpoint: give --url")
    if not args.data:
        raise ConfigurationError("give --data DIR or --url URL")
    from accord.errors import LedgerMissing
    from accord.log.audit import audit_storage

    data = DataDir(args.data)
    verifier = load_verifier(args.vkey) if args.vkey else data.verifier()
    # Read-only: verification never creates or changes anything. The data directory's record of
    # the newest checkpoint it signed is a trusted checkpoint too, so lost entries are caught.
    recorded = data.checkpoint_record().read_note()
    if recorded is not None:
        trusted.append(recorded)
    try:
        storage = data.open_storage(read_only=True)
    except LedgerMissing as exc:
        raise TamperingDetected(str(exc), seqno=1) from exc
    try:
        report = audit_storage(
            storage,
            verifier,
            trusted_checkpoints=trusted,
            node_cert=data.node().cert,
            progress=_progress("verify"),
        )
    except TamperingDetected:
        # Name the documents an edited record belongs to, before reporting the tampering.
        from accord.cli.documents import report_documents, verify_documents_of

        try:
            report_documents(verify_documents_of(data))
        except AccordError:
            pass
        raise
    finally:
        storage.close()
    print(
        f"OK: {report.entries} entries, {report.checkpoints} signed checkpoints and "
        f"{report.tiles} tiles of the RFC 9162 and CCF trees verified; root {report.root.hex()}"
    )
    for redacted in report.redacted:
        print(
            f"REDACTED: {redacted.transaction_id} by redaction record {redacted.record_id} ("
            + (
                "contents erased; its leaf and proofs verified)"
                if redacted.erased
                else "erasure pending: the contents are still stored until the ledger is next "
                "opened for writing, e.g. by accord serve)"
            )
        )
    reader = data.open_reader()
    try:
        evidence = [
            (str(e.transaction_id), e.contents)
            for e in reader.get_entries(
                1, max(1, reader.size()), collection_id="accord.evidence", limit=100_000
            )
        ]
    finally:
        reader.close()
    from accord.cli.documents import report_documents, verify_documents_of

    documents = report_documents(verify_documents_of(data, _progress("documents")))
    return max(_report_evidence(evidence), documents, _report_private(data))


def _report_private(data: Any) -> int:
    """The private-contents audit of a consortium node's directory, printed; its exit code."""
    from accord.consortium.runtime import is_consortium
    from accord.private.audit import audit_private

    report = audit_private(data) if is_consortium(data) else None
    if report is None:
        return EXIT_OK
    for txid, by in report.purged:
        print(f"PURGED: {txid} (contents erased by {by}; its commitment and proofs verified)")
    for problem in report.problems:
        print(f"PRIVATE PROBLEM: {problem}")
    if report.problems:
        print(
            f"accord: private: {len(report.problems)} problem(s) in {report.checked} private "
            f"entries read by {report.organization}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    print(
        f"OK: {report.checked} private entries read by {report.organization}: {report.held} "
        f"open to their commitments, {len(report.purged)} purged"
    )
    return EXIT_OK


def _report_evidence(entries: list[tuple[str, str]]) -> int:
    """Report, by signer, the evidence of misbehaviour the consortium's nodes recorded."""
    from accord.consortium.evidence import parse_evidence, report_lines

    if not entries:
        return EXIT_OK
    for line in report_lines(parse_evidence(entries)):
        print(line)
    print(
        "accord: verify: the log verified, but nodes recorded evidence that a node key signed "
        "a tree they did not compute (see docs/consortium.md)",
        file=sys.stderr,
    )
    return EXIT_FAILED


def _policy_line(policy: Policy, cosigned: CosignedCheckpoint) -> str:
    """Which witnesses' cosignatures made a checkpoint satisfy ``policy``, for people."""
    from accord.client.verify import witnesses_of

    names = witnesses_of(policy, cosigned)
    return (
        f"OK: checkpoint {cosigned.checkpoint.size} satisfies the policy (quorum "
        f"{policy.quorum!r}); cosigned by {', '.join(names) or 'none'} ({len(names)} of "
        f"{len(policy.witnesses)} witnesses)"
    )


def cmd_receipt_verify(args: argparse.Namespace) -> int:
    from accord.core.receipt import verify_receipt
    from accord.datadir import load_verifier
    from accord.documents.client import (
        check_document_file,
        check_document_record,
        split_document_receipt,
    )

    if args.vkey is None and args.policy is None:
        raise ConfigurationError(
            "give --vkey (the ledger's checkpoint.vkey) or --policy (a consortium's trust policy)"
        )
    try:
        data = Path(args.file).read_bytes() if args.file != "-" else sys.stdin.buffer.read()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {args.file}: {exc}") from exc
    contents = None
    if args.contents is not None:
        try:
            contents = Path(args.contents).read_bytes()
        except OSError as exc:
            raise ConfigurationError(f"cannot read {args.contents}: {arg.reason(exc)}") from exc
    if b"accord.disclosure.v1" in data[:4096] or b'"format":"accord.disclosure' in data:
        return _verify_disclosure(args, data)
    # A document receipt wraps a ledger receipt whose entry's contents are the document record.
    # Anything else goes to verify_receipt untouched, so ledger receipts behave as they always did.
    document = split_document_receipt(data) if b"accord.document-receipt" in data else None
    if document is None and args.document is not None:
        raise ConfigurationError(
            "--file checks a document against a document receipt (accord.document-receipt.v1, "
            "from accord documents receipt); for a ledger receipt, --contents checks the "
            "entry's contents"
        )
    if document is not None:
        if contents is not None:
            raise ConfigurationError(
                "a document receipt carries its entry's contents (the record): give --file "
                "DOCUMENT to check the document, not --contents"
            )
        receipt_json: Any = document[0]
        contents = document[1].encode("utf-8")
    else:
        receipt_json = data

    def check(contents: bytes | None) -> tuple[Any, Any]:
        if args.policy is not None:
            from accord.client.verify import verify_receipt_under_policy

            verifier = load_verifier(args.vkey) if args.vkey else None
            return verify_receipt_under_policy(
                receipt_json, args.policy, verifier=verifier, contents=contents
            )
        return verify_receipt(receipt_json, load_verifier(args.vkey), contents=contents), None

    try:
        verified, cosigned = check(contents)
    except VerificationError:
        if document is None:
            raise
        verified, _ = check(None)  # raises again unless only the record is at fault
        raise VerificationError(
            f"the document receipt's record is not the contents of transaction "
            f"{verified.metadata.transaction_id} (its SHA-256 differs from the entry's "
            "contentsSha256): the record was altered"
        ) from None
    if document is not None:
        recorded = check_document_record(verified, document[1])
        if args.document is not None:
            check_document_file(recorded, args.document)
        print(f"OK: {recorded.describe()}" + ("; the file matches" if args.document else ""))
    else:
        md = verified.metadata
        print(
            f"OK: transaction {md.transaction_id} (collection {md.collection_id}) is entry "
            f"{md.seqno} of the log {verified.checkpoint.origin!r} at size "
            f"{verified.checkpoint.size}" + ("; contents match" if contents is not None else "")
        )
    if cosigned is not None:
        print(_policy_line(args.policy, cosigned))
    return EXIT_OK


def _verify_disclosure(args: argparse.Namespace, data: bytes) -> int:
    """A private entry's disclosure: its receipt under --vkey/--policy, then its record against
    the leaf and its contents and salt against the record's commitment."""
    from accord.core.private import parse_disclosure, verify_disclosure_contents
    from accord.core.receipt import verify_receipt
    from accord.datadir import load_verifier

    disclosure = parse_disclosure(data)
    receipt: Any = disclosure.receipt
    cosigned = None
    if args.policy is not None:
        from accord.client.verify import verify_receipt_under_policy

        verifier = load_verifier(args.vkey) if args.vkey else None
        verified, cosigned = verify_receipt_under_policy(receipt, args.policy, verifier=verifier)
    else:
        verified = verify_receipt(receipt, load_verifier(args.vkey))
    md = verified.metadata
    verify_disclosure_contents(disclosure, md.contents_sha256, md.collection_id)
    print(
        f"OK: transaction {md.transaction_id} (collection {md.collection_id}) is entry "
        f"{md.seqno} of the log {verified.checkpoint.origin!r} at size {verified.checkpoint.size}; "
        "its record holds a commitment that the disclosed contents and salt open"
    )
    if args.contents is not None:
        print("note: --contents is ignored; a disclosure carries its contents", file=sys.stderr)
    if cosigned is not None:
        print(_policy_line(args.policy, cosigned))
    return EXIT_OK


def cmd_receipt_get(args: argparse.Namespace) -> int:
    from accord.core.receipt import Receipt

    if not args.data:  # an explicit --data wins over --url's default, $ACCORD_URL
        with _client(args) as client:
            obj = client.accord_receipt(args.txid)
    else:
        from accord.datadir import DataDir

        data = DataDir(args.data)
        reader = data.open_reader()
        try:
            receipt: Receipt = reader.receipt(args.txid)
        finally:
            reader.close()
        obj = receipt.to_json()
    text = json.dumps(obj, indent=2) + "\n"
    if args.output:
        try:
            Path(args.output).write_text(text)
        except OSError as exc:
            raise ConfigurationError(f"cannot write {args.output}: {arg.reason(exc)}") from exc
        print(f"receipt for {args.txid} written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


# --- client commands --------------------------------------------------------------------------
def _service_url(args: argparse.Namespace) -> str:
    """``--url`` if given, else ``$ACCORD_URL`` (checked like --url), else an error."""
    if args.url:
        return str(args.url)
    env = os.environ.get("ACCORD_URL")
    if env:
        return arg.checked("$ACCORD_URL", arg.url)(env)
    raise ConfigurationError("--url is required (or set $ACCORD_URL)")


def _client(args: argparse.Namespace) -> Any:
    from accord.client.client import AccordClient

    # --token is already resolved (@FILE read) and checked by its argument type
    return AccordClient(
        _service_url(args), service_cert=args.cacert, cert=args.cert, key=args.key, token=args.token
    )


def _emit(args: argparse.Namespace, obj: Any, text: str) -> None:
    print(json.dumps(obj) if args.json else text)


def cmd_append(args: argparse.Namespace) -> int:
    if args.batch is not None:
        return _append_batch(args)
    if args.contents is None:
        raise ConfigurationError("give the contents to append ('-' reads stdin) or --batch FILE")
    contents = (
        args.contents
        if args.contents != "-"
        else _stdin_text("entry contents are text; encode binary data first (say, as base64)")
    )
    with _client(args) as client:
        txid = client.append(contents, args.collection, args.tags or None)
        if args.wait:
            client.wait_for_commit(txid)
    _emit(args, {"transactionId": txid}, txid)
    return EXIT_OK


def _append_batch(args: argparse.Namespace) -> int:
    import contextlib

    from accord.cli.batch import Line, Progress, append_stream

    if args.contents is not None:
        raise ConfigurationError("give either contents or --batch FILE, not both")
    if args.collection or args.tags:
        raise ConfigurationError(
            "--collection and --tags do not apply to --batch: give collectionId and tags per line"
        )
    source = "standard input" if args.batch == "-" else args.batch

    def emit(line: Line, txid: str) -> None:
        print(json.dumps({"line": line.number, "transactionId": txid}) if args.json else txid)

    progress = Progress("append")
    with contextlib.ExitStack() as stack:
        if args.batch == "-":
            stream = sys.stdin.buffer
        else:
            try:
                stream = stack.enter_context(open(args.batch, "rb"))
            except OSError as exc:
                raise ConfigurationError(f"cannot read {args.batch}: {arg.reason(exc)}") from exc
        client = stack.enter_context(_client(args))
        try:
            last = append_stream(
                client,
                stream,
                source=source,
                max_entries=args.batch_size,
                max_bytes=args.batch_bytes,
                emit=emit,
                progress=progress,
            )
            if args.wait and last is not None:
                client.wait_for_commit(last)
        finally:
            progress.clear()
    progress.finish()
    return EXIT_OK


def cmd_get(args: argparse.Namespace) -> int:
    with _client(args) as client:
        entry = client.entry(args.txid, args.collection)
    _emit(args, entry, entry["entry"]["contents"])
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    interactive = sys.stderr.isatty() and not args.json
    count = 0
    with _client(args) as client:
        for entry in client.list_entries(args.collection, args.from_txid, args.to_txid):
            count += 1
            if args.json:
                print(json.dumps(entry))
            elif entry.get("redacted"):
                print(f"{entry['transactionId']}\t[redacted by {entry['redactionTransactionId']}]")
            else:
                print(f"{entry['transactionId']}\t{entry['contents']}")
            if interactive and count % 100 == 0:
                print(f"\r{count} entries…", end="", file=sys.stderr, flush=True)
    if interactive:
        print(f"\r{count} entries", file=sys.stderr)
    return EXIT_OK


def cmd_collections(args: argparse.Namespace) -> int:
    with _client(args) as client:
        names = client.collections()
    _emit(args, names, "\n".join(names))
    return EXIT_OK


def cmd_users(args: argparse.Namespace) -> int:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from accord.identity import fingerprint
    from accord.service.users import expired_certificate_warning

    with _client(args) as client:
        if args.users_command == "list":
            users = client.list_users()
            _emit(args, users, "\n".join(f"{u['userId']}\t{u['assignedRole']}" for u in users))
        elif args.users_command == "add":
            user_id = args.user
            if args.cert_file:
                try:
                    cert = x509.load_pem_x509_certificate(Path(args.cert_file).read_bytes())
                except OSError as exc:
                    raise ConfigurationError(
                        f"cannot read {args.cert_file}: {arg.reason(exc)}"
                    ) from exc
                except ValueError:
                    raise ConfigurationError(
                        f"{args.cert_file} is not a PEM certificate (-----BEGIN CERTIFICATE-----)"
                    ) from None
                user_id = fingerprint(cert)
                local_warning = expired_certificate_warning(
                    cert.public_bytes(serialization.Encoding.PEM).decode(),
                    datetime.datetime.now(datetime.UTC),
                )
                if local_warning:  # the service sees only the fingerprint: warn here
                    print(f"accord: warning: {local_warning}", file=sys.stderr)
            if not user_id:
                raise ConfigurationError("give a user id (fingerprint or token oid) or --cert-file")
            user = client.set_user(user_id, args.role)
            if user.get("warning"):
                print(f"accord: warning: {user['warning']}", file=sys.stderr)
            _emit(args, user, f"{user['userId']}\t{user['assignedRole']}")
        else:
            client.delete_user(args.user)
            _emit(args, {"deleted": args.user}, f"removed {args.user}")
    return EXIT_OK


# --- ledger tables ----------------------------------------------------------------------------
def _ledger_targets(args: argparse.Namespace) -> list[Any]:
    from accord.tables.anchor import LedgerTarget

    return [
        LedgerTarget(location, args.cacert, args.cert, args.key, args.token)
        for location in args.ledger or []
    ]


def cmd_tables_create(args: argparse.Namespace) -> int:
    from accord.tables.database import create_ledger_table

    ddl = args.ddl if args.ddl != "-" else _stdin_text("expected a CREATE TABLE statement")
    columns = create_ledger_table(args.db, ddl, append_only=args.append_only)
    kind = "append-only" if args.append_only else "updatable"
    described = ", ".join(f"{c.name} {c.sql_type} [{c.type_tag}]" for c in columns)
    print(f"Created {kind} ledger table with columns: {described}")
    return EXIT_OK


def cmd_tables_add_column(args: argparse.Namespace) -> int:
    from accord.tables.database import add_ledger_column

    column = add_ledger_column(args.db, args.table, args.column)
    print(f"Added column {column.name} {column.sql_type} [{column.type_tag}] to {args.table}")
    return EXIT_OK


def cmd_tables_drop(args: argparse.Namespace) -> int:
    from accord.tables.database import drop_ledger_table

    renamed = drop_ledger_table(args.db, args.table)
    print(
        f"Dropped ledger table {args.table}: its rows and history are kept, read-only, as {renamed}"
    )
    return EXIT_OK


def cmd_tables_drop_column(args: argparse.Namespace) -> int:
    from accord.tables.database import drop_ledger_column

    renamed = drop_ledger_column(args.db, args.table, args.column)
    print(f"Dropped column {args.column} of {args.table}: its values are kept as {renamed}")
    return EXIT_OK


def cmd_tables_list(args: argparse.Namespace) -> int:
    from accord.tables.database import list_ledger_tables

    tables = list_ledger_tables(args.db)
    if args.json:
        print(json.dumps(tables))
    else:
        for t in tables:
            dropped = f"\tdropped, kept as {t['droppedAs']}" if t["droppedAs"] else ""
            print(f"{t['name']}\t{t['kind']}\t{t['rows']} rows\tcreated {t['created']}{dropped}")
    return EXIT_OK


def cmd_tables_digest(args: argparse.Namespace) -> int:
    from accord.tables.anchor import anchor_digest
    from accord.tables.database import generate_digest

    digest = generate_digest(args.db)
    print(digest.to_bytes().decode())
    for target in _ledger_targets(args):
        txid = anchor_digest(digest, target)
        print(f"anchored block {digest.block_id} in {target.location} as {txid}", file=sys.stderr)
    return EXIT_OK


def cmd_tables_verify(args: argparse.Namespace) -> int:
    from accord.tables.anchor import fetch_digests
    from accord.tables.database import verify_database

    targets = _ledger_targets(args)
    digests = [d for target in targets for d in fetch_digests(target)]
    report = verify_database(args.db, digests)
    print(
        f"OK: {report.tables} ledger tables, {report.row_versions} row versions, "
        f"{report.transactions} transactions ({report.unblocked_transactions} not yet in a "
        f"block) and {report.blocks} blocks of database {report.database!r} verified; "
        f"{report.digests_checked} anchored digests match"
    )
    if targets and report.digests_checked == 0:
        print(
            f"warning: no digest of database {report.database!r} is anchored in "
            f"{', '.join(t.location for t in targets)}: a consistent rewrite would go unnoticed",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_tables_anchor(args: argparse.Namespace) -> int:
    import signal
    import threading

    from accord.tables.anchor import anchor_loop

    if args.interval <= 0:
        raise ConfigurationError("--interval must be positive")
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        # Asks each ledger first which block it already holds: a restart anchors nothing new.
        anchor_loop(
            args.db,
            _ledger_targets(args),
            args.interval,
            stop,
            report=lambda line: print(line, flush=True),
        )
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print("stopped", file=sys.stderr)
    return EXIT_OK


def _add_tables_parser(sub: Any) -> None:
    tables = sub.add_parser(
        "tables",
        help="tamper-evident ledger tables in your own PostgreSQL or SQLite database",
        description="Ledger tables: every change to a ledger table is hashed at commit, grouped "
        "into chained blocks, and block digests are anchored in an accord ledger so that a "
        "rewrite by the database administrator is detected. See docs/tables.md.",
    )
    tsub = tables.add_subparsers(dest="tables_command", required=True, metavar="ACTION")

    def db_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--db",
            required=True,
            metavar="DSN",
            type=arg.nonempty,
            help="database: postgresql://user@host/dbname, or an SQLite file (sqlite:PATH creates it)",
        )

    def ledger_options(p: argparse.ArgumentParser, *, required: bool = False) -> None:
        p.add_argument(
            "--ledger",
            action="append",
            required=required,
            metavar="DIR_OR_URL",
            help="accord ledger holding the digests: a data directory (not in use by a server) "
            "or a service URL https://... (repeatable)",
        )
        p.add_argument(
            "--cacert", type=arg.readable_file, help="service certificate to pin (with a URL)"
        )
        p.add_argument("--cert", type=arg.readable_file, help="client certificate (with a URL)")
        p.add_argument("--key", type=arg.readable_file, help="client private key (with a URL)")
        p.add_argument("--token", type=arg.token, help="bearer token, or @FILE (with a URL)")

    p = tsub.add_parser(
        "create",
        help="create a ledger table from a CREATE TABLE statement",
        description="Create a ledger table: the table itself with four ledger columns, "
        "NAME_history (updatable tables), the NAME_ledger view and the hashing triggers. "
        "Accepts exactly one CREATE TABLE name (...) statement with supported column types.",
    )
    db_option(p)
    p.add_argument("ddl", help='e.g. "CREATE TABLE accounts (id int PRIMARY KEY, owner text)"')
    p.add_argument(
        "--append-only", action="store_true", help="refuse UPDATE and DELETE (no history table)"
    )
    p.set_defaults(func=cmd_tables_create)

    p = tsub.add_parser(
        "add-column",
        help="add a nullable column (no default) to a ledger table",
        description="Add one nullable column without default to a ledger table and its history; "
        "existing row hashes stay valid.",
    )
    db_option(p)
    p.add_argument("table", help="ledger table name")
    p.add_argument("column", help='column definition, e.g. "note text"')
    p.set_defaults(func=cmd_tables_add_column)

    p = tsub.add_parser(
        "drop",
        help="drop a ledger table, keeping its rows and history renamed and read-only",
        description="Drop a ledger table the way ledgers do: the table and its history are "
        "renamed to dropped_<id>_NAME and dropped_<id>_history_NAME and refuse every write; "
        "verification keeps checking their rows (hashed under the original name). A new table "
        "named NAME can then be created.",
    )
    db_option(p)
    p.add_argument("table", help="ledger table name")
    p.set_defaults(func=cmd_tables_drop)

    p = tsub.add_parser(
        "drop-column",
        help="drop a column of a ledger table, keeping its values under a reserved name",
        description="Hide a column from applications and the ledger view: it is renamed to "
        "ledger_dropped_<n>_COLUMN in the table and its history, new rows leave it NULL, and "
        "stored values keep verifying under the original name. Primary-key columns cannot be "
        "dropped (drop the table).",
    )
    db_option(p)
    p.add_argument("table", help="ledger table name")
    p.add_argument("column", help="column name")
    p.set_defaults(func=cmd_tables_drop_column)

    p = tsub.add_parser("list", help="list the ledger tables of a database")
    db_option(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_tables_list)

    p = tsub.add_parser(
        "digest",
        help="close a block and print the database digest (anchor it with --ledger)",
        description="Close a block with the transactions committed since the last one, print "
        "the digest of the newest block as JSON, and append it to each --ledger.",
    )
    db_option(p)
    ledger_options(p)
    p.set_defaults(func=cmd_tables_digest)

    p = tsub.add_parser(
        "verify",
        help="recompute every hash of the database ledger and check anchored digests",
        description="Recompute every row version, table root, transaction, block and the "
        "block chain, and compare each digest anchored in --ledger. Exits 1 naming the first "
        "inconsistency.",
    )
    db_option(p)
    ledger_options(p)
    p.set_defaults(func=cmd_tables_verify)

    p = tsub.add_parser(
        "anchor",
        help="keep anchoring digests every --interval seconds (Ctrl-C or SIGTERM stops)",
        description="Long-running: every INTERVAL seconds close a block if transactions are "
        "waiting and anchor the newest block's digest in each --ledger (only when it changed).",
    )
    db_option(p)
    ledger_options(p, required=True)
    p.add_argument(
        "--interval", type=arg.positive_float, default=60.0, help="seconds between digests"
    )
    p.set_defaults(func=cmd_tables_anchor)


def _add_client_options(p: argparse.ArgumentParser, *, url_required: bool = True) -> None:
    # $ACCORD_URL is read when the command runs (see _service_url), so that an explicit --url,
    # or --data where a command takes one, always wins over it.
    env_url = os.environ.get("ACCORD_URL")
    shown = arg.show(env_url) if env_url else None
    p.add_argument(
        "--url",
        type=arg.url,
        required=url_required and not env_url,
        help="service URL, e.g. https://127.0.0.1:8443 "
        + (f"(default: $ACCORD_URL = {shown})" if shown else "(or set $ACCORD_URL)"),
    )
    p.add_argument(
        "--cacert", type=arg.readable_file, help="service certificate to pin (DIR/service.crt)"
    )
    p.add_argument("--cert", type=arg.readable_file, help="client certificate (PEM)")
    p.add_argument("--key", type=arg.readable_file, help="client private key (PEM)")
    p.add_argument("--token", type=arg.token, help="bearer token, or @FILE to read it from a file")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="accord",
        description="accord: a verifiable append-only ledger with offline-checkable receipts.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"accord {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("init", help="create a new ledger data directory")
    p.add_argument("--data", required=True, type=arg.new_data_dir, help="data directory to create")
    p.add_argument("--name", default="accord.local/ledger", help="ledger name (checkpoint origin)")
    p.add_argument(
        "--storage",
        type=arg.storage,
        help="PostgreSQL DSN (postgresql://...) to store the ledger in; default SQLite in DIR",
    )
    p.add_argument("--hosts", help="comma-separated TLS host names (default 127.0.0.1,localhost)")
    p.add_argument(
        "--max-contents",
        type=arg.positive_int,
        default=1 << 20,
        help="largest entry contents in bytes (default 1 MiB)",
    )
    p.add_argument("--public-log", action="store_true", help="let anyone read the tlog endpoints")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("serve", help="serve a ledger over HTTPS")
    p.add_argument(
        "--data", required=True, type=arg.data_dir, help="data directory made by accord init"
    )
    p.add_argument(
        "--host",
        default=None,
        help="address to listen on (default 127.0.0.1, or a consortium node's own address)",
    )
    p.add_argument(
        "--port",
        type=arg.port,
        default=None,
        help="port (default 8443, or a consortium node's own port; 0 picks one)",
    )
    p.add_argument("--public-log", action="store_true", help="serve tlog endpoints without auth")
    p.add_argument(
        "--s3-port",
        type=arg.port,
        default=None,
        help="port of the document store's S3-compatible API (default 8444, or 0 with --port 0; "
        "0 picks one). A consortium node serves it only when this is given",
    )
    p.add_argument("--no-s3", action="store_true", help="do not serve the S3 API")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "verify",
        help="full audit of a ledger (data directory or running service)",
        description="Recompute every leaf, tile and checkpoint; exit 1 naming the first bad "
        "seqno on any tampering, 2 on a configuration mistake (say, a --vkey that is not a "
        "verifier key).",
    )
    p.add_argument("--data", type=arg.data_dir, help="data directory to audit offline")
    p.add_argument(
        "--vkey",
        type=arg.vkey_file,
        help="checkpoint verifier key (default DIR/checkpoint.vkey)",
    )
    p.add_argument(
        "--trusted-checkpoint",
        action="append",
        metavar="FILE",
        type=arg.checkpoint_file,
        help="a signed checkpoint saved earlier; catches rollbacks (repeatable)",
    )
    p.add_argument("--url", type=arg.url, help="audit a running service instead")
    p.add_argument("--cacert", type=arg.readable_file, help="service certificate (with --url)")
    p.add_argument("--cert", type=arg.readable_file, help="client certificate (with --url)")
    p.add_argument("--key", type=arg.readable_file, help="client key (with --url)")
    p.add_argument(
        "--policy",
        metavar="FILE",
        type=arg.policy_file,
        help="with --url: a consortium's trust policy (C2SP tlog-policy, as accord gov policy "
        "prints); the served checkpoint must carry its quorum of cosignatures (k of n), and "
        "--vkey may be left out",
    )
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("receipt", help="fetch or verify receipts")
    rsub = p.add_subparsers(dest="receipt_command", required=True, metavar="ACTION")
    rv = rsub.add_parser(
        "verify",
        help="verify a receipt offline with the verifier key or a consortium's policy",
        description="Check a receipt offline: the checkpoint signature (--vkey, or a log of "
        "--policy), the inclusion proof, and with --policy the quorum of cosignatures a "
        "consortium's checkpoint needs (k of n organizations). A document receipt "
        "(accord documents receipt) is checked too: its record must be the entry's contents, "
        "written by the document store, and --file DOCUMENT must have the recorded size and "
        "SHA-256. Exits 1 if it does not verify.",
    )
    rv.add_argument(
        "file",
        metavar="RECEIPT",
        type=lambda v: v if v == "-" else arg.readable_file(v),
        help="receipt JSON file ('-' for stdin): an accord.receipt.v1, or the "
        "accord.document-receipt.v1 of accord documents receipt",
    )
    rv.add_argument(
        "--vkey",
        type=arg.vkey_file,
        help="the ledger's checkpoint.vkey (optional with --policy, whose logs are the keys)",
    )
    rv.add_argument(
        "--policy",
        metavar="FILE",
        type=arg.policy_file,
        help="a consortium's trust policy (C2SP tlog-policy); the receipt's checkpoint must "
        "satisfy its quorum",
    )
    rv.add_argument(
        "--contents",
        type=arg.readable_file,
        help="file with the entry's contents, to check them too",
    )
    rv.add_argument(
        "--file",
        dest="document",
        metavar="DOCUMENT",
        type=arg.readable_file,
        help="with a document receipt: the document, which must have the recorded size and "
        "SHA-256 (read in pieces, never whole)",
    )
    rv.set_defaults(func=cmd_receipt_verify)
    rg = rsub.add_parser(
        "get",
        help="fetch a receipt (from a data directory or a service)",
        description="Fetch a receipt from a data directory (--data) or a service (--url, or "
        "$ACCORD_URL when --data is not given).",
    )
    rg.add_argument("txid", type=arg.txid, help="transaction id, e.g. 1.42")
    rg.add_argument("--data", type=arg.data_dir, help="data directory (wins over $ACCORD_URL)")
    rg.add_argument("-o", "--output", type=arg.output_file, help="write the receipt to this file")
    _add_client_options(rg, url_required=False)
    rg.set_defaults(func=cmd_receipt_get)

    p = sub.add_parser(
        "append",
        help="append an entry (or a JSON-lines file of entries) through a running service",
        description="Append one entry, or with --batch every line of a JSON-lines file "
        '({"contents": ..., "collectionId": ..., "tags": [...]}, the last two optional), sent '
        "in batches over one connection. Prints the transaction ids, one per line.",
    )
    p.add_argument("contents", nargs="?", help="entry contents ('-' reads stdin)")
    p.add_argument("--collection", type=arg.collection, help="collection id (default subledger:0)")
    p.add_argument("--tags", type=arg.tags, help="comma-separated tags")
    p.add_argument(
        "--batch",
        metavar="FILE",
        type=lambda v: v if v == "-" else arg.readable_file(v),
        help="append every line of this JSON-lines file ('-' reads stdin)",
    )
    p.add_argument(
        "--batch-size",
        type=arg.positive_int,
        default=1000,
        metavar="N",
        help="entries per request with --batch (default 1000, the service's default limit)",
    )
    p.add_argument(
        "--batch-bytes",
        type=arg.positive_int,
        default=4 << 20,
        metavar="BYTES",
        help="largest request body with --batch (default 4 MiB)",
    )
    p.add_argument(
        "--wait", action="store_true", help="wait until the entry (the last one) is committed"
    )
    _add_client_options(p)
    p.set_defaults(func=cmd_append)

    p = sub.add_parser("get", help="read an entry through a running service")
    p.add_argument("txid", type=arg.txid, help="transaction id, e.g. 1.42")
    p.add_argument("--collection", type=arg.collection, help="collection the entry must be in")
    _add_client_options(p)
    p.set_defaults(func=cmd_get)

    p = sub.add_parser("list", help="list entries of a collection (follows pages)")
    p.add_argument("--collection", type=arg.collection, help="collection id (default subledger:0)")
    p.add_argument("--from", dest="from_txid", type=arg.txid, help="first transaction id")
    p.add_argument("--to", dest="to_txid", type=arg.txid, help="last transaction id")
    _add_client_options(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("collections", help="list collection ids")
    _add_client_options(p)
    p.set_defaults(func=cmd_collections)

    p = sub.add_parser("users", help="manage users (Administrator only)")
    usub = p.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    u = usub.add_parser("list", help="list users and roles")
    _add_client_options(u)
    u = usub.add_parser("add", help="add a user or change their role")
    u.add_argument(
        "user", nargs="?", type=arg.user_id, help="certificate fingerprint or token object id"
    )
    u.add_argument(
        "--cert-file",
        type=arg.readable_file,
        help="the user's certificate (its fingerprint is the id)",
    )
    u.add_argument(
        "--role",
        required=True,
        type=arg.role,
        metavar="{" + ",".join(arg.ROLES) + "}",
        help="role",
    )
    _add_client_options(u)
    u = usub.add_parser("remove", help="remove a user")
    u.add_argument("user", type=arg.user_id, help="certificate fingerprint or token object id")
    _add_client_options(u)
    p.set_defaults(func=cmd_users)

    _add_tables_parser(sub)
    from accord.cli.gov import add_parsers as add_consortium_parsers

    add_consortium_parsers(sub, client_options=_add_client_options, connect=_client)
    from accord.cli.private import add_parsers as add_private_parsers

    add_private_parsers(sub, client_options=_add_client_options, connect=_client)
    from accord.cli.compute import add_parsers as add_compute_parsers

    add_compute_parsers(sub, client_options=_add_client_options, connect=_client)
    from accord.cli.advise import add_parser as add_advise_parser

    add_advise_parser(sub)
    from accord.cli.documents import add_parser as add_documents_parser

    add_documents_parser(sub)
    from accord.cli.redact import add_parser as add_redact_parser

    add_redact_parser(sub, client_options=_add_client_options, connect=_client)
    return parser


def _check_sources(args: argparse.Namespace) -> None:
    """Where a command reads from: explicit flags only, never two at once."""
    if args.command in ("verify", "receipt") and getattr(args, "data", None):
        if getattr(args, "url", None):
            raise ConfigurationError("give --data DIR or --url URL, not both")
    if getattr(args, "receipt_command", None) == "get" and not args.data:
        if not (args.url or os.environ.get("ACCORD_URL")):
            raise ConfigurationError("receipt get needs --data DIR or --url URL (or $ACCORD_URL)")


def _fail(code: int, message: str) -> int:
    print(arg.one_line(message), file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; every failure is one line on stderr and an exit code (module docstring)."""
    try:
        args = build_parser().parse_args(argv)
        _check_sources(args)
        code: int = args.func(args)
        return code
    except TamperingDetected as exc:
        where = f" (first bad seqno: {exc.seqno})" if exc.seqno is not None else ""
        return _fail(EXIT_FAILED, f"TAMPERING DETECTED: {exc}{where}")
    except VerificationError as exc:
        return _fail(EXIT_FAILED, f"VERIFICATION FAILED: {exc}")
    except LedgerMissing as exc:  # storage holds less than was signed: the log lost entries
        return _fail(EXIT_FAILED, f"accord: error: {exc}")
    except ConfigurationError as exc:
        return _fail(EXIT_USAGE, f"accord: error: {exc}")
    except StorageError as exc:
        return _fail(EXIT_UNAVAILABLE, f"accord: error: {exc}")
    except (InvalidRequest, AuthError) as exc:
        return _fail(EXIT_REFUSED, f"accord: error: {exc}")
    except AccordError as exc:
        return _fail(EXIT_FAILED, f"accord: error: {exc}")
    except OSError as exc:  # files are configuration; ports, host names and pipes the system
        code = EXIT_USAGE if exc.filename is not None else EXIT_UNAVAILABLE
        return _fail(code, f"accord: error: {exc}")
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug: still one line, unless asked for the traceback
        if os.environ.get("ACCORD_DEBUG"):
            raise
        return _fail(
            EXIT_INTERNAL,
            f"accord: internal error (please report it; ACCORD_DEBUG=1 shows the traceback): "
            f"{type(exc).__name__}: {exc}",
        )


if __name__ == "__main__":
    sys.exit(main())
