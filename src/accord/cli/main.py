"""The ``accord`` command line.

Every command exits 0 on success and non-zero with a one-line message on stderr on failure;
``accord verify`` exits 1 when it finds tampering, naming the first bad seqno.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from accord.errors import AccordError, ConfigurationError, TamperingDetected, VerificationError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


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

    main_coro = serve(args.data, args.host, args.port, public_log=args.public_log or None)
    try:
        import uvloop  # a faster event loop where available; plain asyncio otherwise
    except ImportError:
        asyncio.run(main_coro)
    else:
        uvloop.run(main_coro)
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
        from accord.client.verify import audit_remote

        if not args.vkey:
            raise ConfigurationError("--url needs --vkey (the ledger's checkpoint.vkey)")
        with AccordClient(
            args.url, service_cert=args.cacert, cert=args.cert, key=args.key
        ) as client:
            remote = audit_remote(client, load_verifier(args.vkey), progress=_progress("verify"))
        print(
            f"OK: {args.url} serves a consistent log of {remote.size} entries; "
            f"{remote.tiles} tiles and the signed checkpoint check out"
        )
        return EXIT_OK
    if not args.data:
        raise ConfigurationError("give --data DIR or --url URL")
    from accord.log.audit import audit_storage
    from accord.log.storage import open_storage

    data = DataDir(args.data)
    verifier = load_verifier(args.vkey) if args.vkey else data.verifier()
    storage = open_storage(data.storage_location())
    try:
        report = audit_storage(
            storage,
            verifier,
            trusted_checkpoints=trusted,
            node_cert=data.node().cert,
            progress=_progress("verify"),
        )
    finally:
        storage.close()
    print(
        f"OK: {report.entries} entries, {report.checkpoints} signed checkpoints and "
        f"{report.tiles} tiles of the RFC 9162 and CCF trees verified; root {report.root.hex()}"
    )
    return EXIT_OK


def cmd_receipt_verify(args: argparse.Namespace) -> int:
    from accord.core.receipt import verify_receipt
    from accord.datadir import load_verifier

    try:
        data = Path(args.file).read_bytes() if args.file != "-" else sys.stdin.buffer.read()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {args.file}: {exc}") from exc
    contents = None
    if args.contents is not None:
        contents = Path(args.contents).read_bytes()
    verified = verify_receipt(data, load_verifier(args.vkey), contents=contents)
    md = verified.metadata
    print(
        f"OK: transaction {md.transaction_id} (collection {md.collection_id}) is entry "
        f"{md.seqno} of the log {verified.checkpoint.origin!r} at size {verified.checkpoint.size}"
        + ("; contents match" if contents is not None else "")
    )
    return EXIT_OK


def cmd_receipt_get(args: argparse.Namespace) -> int:
    from accord.core.receipt import Receipt

    if args.url:
        with _client(args) as client:
            obj = client.accord_receipt(args.txid)
    else:
        from accord.datadir import DataDir
        from accord.log.ledger import LedgerReader

        data = DataDir(args.data)
        reader = LedgerReader.open(data.storage_location(), data.verifier())
        try:
            receipt: Receipt = reader.receipt(args.txid)
        finally:
            reader.close()
        obj = receipt.to_json()
    text = json.dumps(obj, indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text)
        print(f"receipt for {args.txid} written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


# --- client commands --------------------------------------------------------------------------
def _client(args: argparse.Namespace) -> Any:
    from accord.client.client import AccordClient

    if not args.url:
        raise ConfigurationError("--url is required (or set ACCORD_URL)")
    token = args.token
    if token and token.startswith("@"):
        token = Path(token[1:]).read_text().strip()
    return AccordClient(
        args.url, service_cert=args.cacert, cert=args.cert, key=args.key, token=token
    )


def _emit(args: argparse.Namespace, obj: Any, text: str) -> None:
    print(json.dumps(obj) if args.json else text)


def cmd_append(args: argparse.Namespace) -> int:
    contents = args.contents if args.contents != "-" else sys.stdin.read()
    tags = [t for t in (args.tags or "").split(",") if t]
    with _client(args) as client:
        txid = client.append(contents, args.collection, tags or None)
        if args.wait:
            client.wait_for_commit(txid)
    _emit(args, {"transactionId": txid}, txid)
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
    from cryptography import x509

    from accord.identity import fingerprint

    with _client(args) as client:
        if args.users_command == "list":
            users = client.list_users()
            _emit(args, users, "\n".join(f"{u['userId']}\t{u['assignedRole']}" for u in users))
        elif args.users_command == "add":
            user_id = args.user
            if args.cert_file:
                try:
                    cert = x509.load_pem_x509_certificate(Path(args.cert_file).read_bytes())
                except (OSError, ValueError) as exc:
                    raise ConfigurationError(f"cannot read {args.cert_file}: {exc}") from exc
                user_id = fingerprint(cert)
            if not user_id:
                raise ConfigurationError("give a user id (fingerprint or token oid) or --cert-file")
            user = client.set_user(user_id, args.role)
            _emit(args, user, f"{user['userId']}\t{user['assignedRole']}")
        else:
            client.delete_user(args.user)
            _emit(args, {"deleted": args.user}, f"removed {args.user}")
    return EXIT_OK


def _add_client_options(p: argparse.ArgumentParser, *, url_required: bool = True) -> None:
    default_url = os.environ.get("ACCORD_URL")
    p.add_argument(
        "--url",
        default=default_url,
        required=url_required and default_url is None,
        help="service URL, e.g. https://127.0.0.1:8443 (or $ACCORD_URL)",
    )
    p.add_argument("--cacert", help="service certificate to pin (DIR/service.crt)")
    p.add_argument("--cert", help="client certificate (PEM)")
    p.add_argument("--key", help="client private key (PEM)")
    p.add_argument("--token", help="bearer token, or @FILE to read it from a file")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="accord",
        description="accord: a verifiable append-only ledger with offline-checkable receipts.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("init", help="create a new ledger data directory")
    p.add_argument("--data", required=True, help="data directory to create")
    p.add_argument("--name", default="accord.local/ledger", help="ledger name (checkpoint origin)")
    p.add_argument(
        "--storage",
        help="PostgreSQL DSN (postgresql://...) to store the ledger in; default SQLite in DIR",
    )
    p.add_argument("--hosts", help="comma-separated TLS host names (default 127.0.0.1,localhost)")
    p.add_argument(
        "--max-contents",
        type=int,
        default=1 << 20,
        help="largest entry contents in bytes (default 1 MiB)",
    )
    p.add_argument("--public-log", action="store_true", help="let anyone read the tlog endpoints")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("serve", help="serve a ledger over HTTPS")
    p.add_argument("--data", required=True, help="data directory made by accord init")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8443, help="port (default 8443)")
    p.add_argument("--public-log", action="store_true", help="serve tlog endpoints without auth")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "verify",
        help="full audit of a ledger (data directory or running service)",
        description="Recompute every leaf, tile and checkpoint; exit 1 naming the first bad "
        "seqno on any tampering.",
    )
    p.add_argument("--data", help="data directory to audit offline")
    p.add_argument("--vkey", help="checkpoint verifier key (default DIR/checkpoint.vkey)")
    p.add_argument(
        "--trusted-checkpoint",
        action="append",
        metavar="FILE",
        help="a signed checkpoint saved earlier; catches rollbacks (repeatable)",
    )
    p.add_argument("--url", help="audit a running service instead")
    p.add_argument("--cacert", help="service certificate (with --url)")
    p.add_argument("--cert", help="client certificate (with --url)")
    p.add_argument("--key", help="client key (with --url)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("receipt", help="fetch or verify receipts")
    rsub = p.add_subparsers(dest="receipt_command", required=True, metavar="ACTION")
    rv = rsub.add_parser("verify", help="verify a receipt offline with the verifier key")
    rv.add_argument("file", help="receipt JSON file ('-' for stdin)")
    rv.add_argument("--vkey", required=True, help="the ledger's checkpoint.vkey")
    rv.add_argument("--contents", help="file with the entry's contents, to check them too")
    rv.set_defaults(func=cmd_receipt_verify)
    rg = rsub.add_parser("get", help="fetch a receipt (from a data directory or a service)")
    rg.add_argument("txid", help="transaction id, e.g. 1.42")
    rg.add_argument("--data", help="data directory")
    rg.add_argument("-o", "--output", help="write the receipt to this file")
    _add_client_options(rg, url_required=False)
    rg.set_defaults(func=cmd_receipt_get)

    p = sub.add_parser("append", help="append an entry through a running service")
    p.add_argument("contents", help="entry contents ('-' reads stdin)")
    p.add_argument("--collection", help="collection id (default subledger:0)")
    p.add_argument("--tags", help="comma-separated tags")
    p.add_argument("--wait", action="store_true", help="wait until the entry is committed")
    _add_client_options(p)
    p.set_defaults(func=cmd_append)

    p = sub.add_parser("get", help="read an entry through a running service")
    p.add_argument("txid", help="transaction id, e.g. 1.42")
    p.add_argument("--collection", help="collection the entry must be in")
    _add_client_options(p)
    p.set_defaults(func=cmd_get)

    p = sub.add_parser("list", help="list entries of a collection (follows pages)")
    p.add_argument("--collection", help="collection id (default subledger:0)")
    p.add_argument("--from", dest="from_txid", help="first transaction id")
    p.add_argument("--to", dest="to_txid", help="last transaction id")
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
    u.add_argument("user", nargs="?", help="certificate fingerprint or token object id")
    u.add_argument("--cert-file", help="the user's certificate (its fingerprint is the id)")
    u.add_argument(
        "--role", required=True, choices=["Administrator", "Contributor", "Reader"], help="role"
    )
    _add_client_options(u)
    u = usub.add_parser("remove", help="remove a user")
    u.add_argument("user", help="certificate fingerprint or token object id")
    _add_client_options(u)
    p.set_defaults(func=cmd_users)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "receipt_command", None) == "get" and not (args.url or args.data):
        parser.error("receipt get needs --data DIR or --url URL")
    try:
        code: int = args.func(args)
        return code
    except TamperingDetected as exc:
        where = f" (first bad seqno: {exc.seqno})" if exc.seqno is not None else ""
        print(f"TAMPERING DETECTED: {exc}{where}", file=sys.stderr)
        return EXIT_FAILED
    except VerificationError as exc:
        print(f"VERIFICATION FAILED: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except AccordError as exc:
        print(f"accord: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
