"""``accord compute``: joint computations across a consortium's organizations (docs/privacy.md).

A job runs a catalogue program (``accord compute programs``) over inputs each participant keeps
to itself: an Administrator proposes it, every participant accepts (committing to its input on
the ledger), the participants' nodes run MPyC and only the result is recorded, with its
provenance. Results rest on MPyC's model: an honest majority of honest-but-curious parties.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from accord.cli import arguments as arg
from accord.cli.gov import ClientOptions, Connect
from accord.errors import ConfigurationError

EXIT_OK = 0
EXIT_FAILED = 1


def _param(text: str) -> tuple[str, int]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=INTEGER, not {text!r}")
    try:
        return name, int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name}: {value!r} is not an integer") from None


def _entries_input(text: str) -> tuple[str, dict[str, str]]:
    member, sep, rest = text.partition("=")
    collection, sep2, field = rest.partition(":")
    if not sep or not sep2 or not member or not collection or not field:
        raise argparse.ArgumentTypeError(
            f"expected ORG=COLLECTION:FIELD (e.g. supplier=stock:quantity), not {text!r}"
        )
    return member, {"kind": "entries", "collectionId": collection, "field": field}


def _load_input(args: argparse.Namespace) -> list[Any] | None:
    if args.values is not None:
        try:
            return [int(v) for v in args.values.split(",") if v.strip()]
        except ValueError:
            raise ConfigurationError("--values is a comma-separated list of integers") from None
    if args.input_file is not None:
        try:
            text = Path(args.input_file).read_text() if args.input_file != "-" else sys.stdin.read()
        except OSError as exc:
            raise ConfigurationError(f"cannot read {args.input_file}: {arg.reason(exc)}") from exc
        stripped = text.strip()
        if stripped.startswith("["):
            try:
                loaded = json.loads(stripped)
            except ValueError as exc:
                raise ConfigurationError(f"{args.input_file} is not a JSON array: {exc}") from None
            if not isinstance(loaded, list):
                raise ConfigurationError(f"{args.input_file} is not a JSON array")
            return loaded
        return [line for line in (raw.strip() for raw in text.splitlines()) if line]
    return None


def _describe(job: dict[str, Any]) -> str:
    lines = [
        f"job {job['job']}: {job['program']['id']} v{job['program']['version']} "
        f"({job['program']['sha256'][:16]}…) by {', '.join(job['participants'])}: {job['state']}"
        + (" (final)" if job.get("final") else "")
    ]
    for member in job["participants"]:
        commitment = job["inputCommitments"].get(member)
        lines.append(
            f"  {member}: "
            + (f"input committed {commitment}" if commitment else "not accepted yet")
        )
    if job.get("result") is not None:
        lines.append(f"  result: {json.dumps(job['result'])}")
    if job.get("reason"):
        lines.append(f"  reason: {job['reason']}")
    return "\n".join(lines)


def cmd_programs(args: argparse.Namespace) -> int:
    with args.connect(args) as client:
        programs = client.compute_programs()
    if args.json:
        print(json.dumps(programs))
        return EXIT_OK
    for p in programs:
        params = ", ".join(f"{n} ({s['minimum']}..{s['maximum']})" for n, s in p["params"].items())
        print(
            f"{p['id']}\tv{p['version']}\t{p['minParties']}-{p['maxParties']} parties\t"
            f"{p['inputKind']}" + (f"\tparams: {params}" if params else "")
        )
        print(f"\t{p['description']}")
    return EXIT_OK


def cmd_propose(args: argparse.Namespace) -> int:
    participants = [p for p in args.participants.split(",") if p]
    with args.connect(args) as client:
        job_id = client.compute_propose(
            args.program,
            participants,
            params=dict(args.param or []),
            inputs=dict(args.entries or []),
            timeout_ms=None if args.timeout is None else round(args.timeout * 1000),
        )
    if args.json:
        print(json.dumps({"jobId": job_id}))
    else:
        print(job_id)
        print(
            f"accord: job {job_id} proposed; each participant accepts with: accord compute "
            f"accept {job_id} --values 1,2,3 (or --input FILE) ...",
            file=sys.stderr,
        )
    return EXIT_OK


def cmd_accept(args: argparse.Namespace) -> int:
    value = _load_input(args)
    with args.connect(args) as client:
        txid = client.compute_accept(args.job, value)
    if args.json:
        print(json.dumps({"transactionId": txid}))
    else:
        print(f"accepted job {args.job}: input committed in transaction {txid}")
    return EXIT_OK


def cmd_decline(args: argparse.Namespace) -> int:
    with args.connect(args) as client:
        txid = client.compute_decline(args.job, args.reason)
    print(json.dumps({"transactionId": txid}) if args.json else f"declined job {args.job} ({txid})")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    with args.connect(args) as client:
        jobs = [client.compute_job(args.job)] if args.job else client.compute_jobs()
    if args.json:
        print(json.dumps(jobs[0] if args.job else jobs))
        return EXIT_OK
    if not jobs:
        print("no jobs (propose one with accord compute propose)", file=sys.stderr)
    for job in jobs:
        print(_describe(job))
    return EXIT_OK


def cmd_result(args: argparse.Namespace) -> int:
    with args.connect(args) as client:
        job = (
            client.wait_for_job(args.job, args.wait) if args.wait else client.compute_job(args.job)
        )
        private = None
        if args.private and job["state"] == "completed":
            private = client.compute_private(args.job)
    if args.json:
        out = dict(job)
        if private is not None:
            out["private"] = private
        print(json.dumps(out))
    elif job["state"] == "completed":
        print(json.dumps(job["result"]))
        if private is not None:
            print(json.dumps(private))
        print(
            "accord: the result rests on MPyC's model: an honest majority of honest-but-curious "
            "parties (docs/privacy.md)",
            file=sys.stderr,
        )
    else:
        print(_describe(job), file=sys.stderr)
    return EXIT_OK if job["state"] == "completed" else EXIT_FAILED


def add_parsers(sub: Any, *, client_options: ClientOptions, connect: Connect) -> None:
    p = sub.add_parser(
        "compute",
        help="joint computations: results across organizations without revealing their inputs",
        description="Joint computations (docs/privacy.md). A job runs a catalogue program over "
        "inputs each participating organization keeps to itself; only the result is recorded, "
        "with its provenance, under the consortium's cosigned checkpoints.",
    )
    csub = p.add_subparsers(dest="compute_command", required=True, metavar="ACTION")

    c = csub.add_parser("programs", help="list the catalogue's programs")
    client_options(c, url_required=False)
    c.set_defaults(func=cmd_programs, connect=connect)

    c = csub.add_parser(
        "propose",
        help="propose a job (an Administrator)",
        epilog="example: accord compute propose sum --participants supplier,manufacturer,retailer "
        "--entries supplier=stock:quantity --url ... ",
    )
    c.add_argument("program", help="a program id (accord compute programs)")
    c.add_argument(
        "--participants", required=True, metavar="ORG,ORG", help="the organizations taking part"
    )
    c.add_argument(
        "--param", action="append", type=_param, metavar="NAME=INTEGER", help="a program parameter"
    )
    c.add_argument(
        "--entries",
        action="append",
        type=_entries_input,
        metavar="ORG=COLLECTION:FIELD",
        help="read ORG's input from a field of its own entries of COLLECTION (default: ORG "
        "submits a value when it accepts)",
    )
    c.add_argument(
        "--timeout",
        type=arg.positive_float,
        metavar="SECONDS",
        help="how long the run may take (default 600)",
    )
    client_options(c, url_required=False)
    c.set_defaults(func=cmd_propose, connect=connect)

    c = csub.add_parser(
        "accept",
        help="accept a job for your organization, committing to its input",
        description="Your node keeps the input (0600) and records only its salted commitment; "
        "once every participant accepted, the nodes run the computation.",
    )
    c.add_argument("job", type=arg.txid, help="the job id (its proposal's transaction id)")
    group = c.add_mutually_exclusive_group()
    group.add_argument("--values", metavar="N,N,...", help="integer inputs, comma-separated")
    group.add_argument(
        "--input",
        dest="input_file",
        metavar="FILE",
        help="inputs from FILE: a JSON array, or one item per line (set programs)",
    )
    client_options(c, url_required=False)
    c.set_defaults(func=cmd_accept, connect=connect)

    c = csub.add_parser("decline", help="decline a proposed job for your organization")
    c.add_argument("job", type=arg.txid, help="the job id")
    c.add_argument("--reason", required=True, help="why (recorded)")
    client_options(c, url_required=False)
    c.set_defaults(func=cmd_decline, connect=connect)

    c = csub.add_parser("status", help="every job, or one job's state and provenance")
    c.add_argument("job", nargs="?", type=arg.txid, help="a job id (default: every job)")
    client_options(c, url_required=False)
    c.set_defaults(func=cmd_status, connect=connect)

    c = csub.add_parser(
        "result", help="a completed job's result (exit 1 if it failed or has not ended)"
    )
    c.add_argument("job", type=arg.txid, help="the job id")
    c.add_argument(
        "--wait",
        type=arg.positive_float,
        metavar="SECONDS",
        help="wait up to SECONDS for the job to end",
    )
    c.add_argument(
        "--private",
        action="store_true",
        help="also what your organization's party learnt beyond the result (psi's items)",
    )
    client_options(c, url_required=False)
    c.set_defaults(func=cmd_result, connect=connect)
