"""``accord advise``: the decision guide between accord's options, on the command line.

Asks the questions of :mod:`accord.advise` on a terminal, or takes them as ``--answer KEY=yes|no``
for scripts, and prints the recommendations, the reasons and the commands that set them up (or,
with ``--json``, ``{"recommendations": [...], "reasons": [...], "commands": [...]}``).

Prompts and their errors go to stderr, so stdout holds only the advice. The decision itself is
:func:`accord.advise.advise`; this module only collects answers and prints.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from typing import Any

from accord.advise import (
    KEYS,
    OPTION_TITLES,
    QUESTIONS,
    Advice,
    Question,
    advise,
    missing_answers,
    next_question,
    parse_yes_no,
    question,
)
from accord.errors import ConfigurationError

EXIT_OK = 0
EXIT_INTERRUPTED = 130  # as accord.cli.main: the user stopped it (Ctrl-C, or Ctrl-D at a prompt)


def answer(text: str) -> tuple[str, bool]:
    """``KEY=yes|no`` → ``(key, value)``; an unknown key or value is a ConfigurationError."""
    key, sep, value = text.partition("=")
    if not sep:
        raise ConfigurationError(f"{text!r} is not KEY=yes|no")
    question(key.strip())
    return key.strip(), parse_yes_no(value)


def _collect(pairs: list[tuple[str, bool]]) -> dict[str, bool]:
    answers: dict[str, bool] = {}
    for key, value in pairs:
        if answers.get(key, value) != value:
            raise ConfigurationError(f"--answer: {key} is given both yes and no")
        answers[key] = value
    return answers


class _EndOfInput(Exception):
    pass


def _ask(q: Question, number: int) -> bool:
    """Ask ``q`` on the terminal until the answer is yes or no."""
    print(f"{number}. {q.text}\n   {q.explanation}", file=sys.stderr)
    while True:
        print("   [y/n] ", end="", file=sys.stderr, flush=True)
        try:
            line = sys.stdin.readline()
        except KeyboardInterrupt:
            print(file=sys.stderr)  # end the prompt's line before the shell's
            raise
        if not line:
            raise _EndOfInput
        try:
            return parse_yes_no(line)
        except ConfigurationError:
            print("   please answer yes or no (y/n)", file=sys.stderr)


def _text(advice: Advice) -> str:
    def wrapped(text: str, first: str, rest: str) -> str:
        return textwrap.fill(text, width=100, initial_indent=first, subsequent_indent=rest)

    lines = ["Recommended:"]
    lines += [wrapped(f"{r}: {OPTION_TITLES[r]}", "  ", "    ") for r in advice.recommendations]
    lines.append("Why:")
    lines += [wrapped(reason, "  - ", "    ") for reason in advice.reasons]
    if advice.commands:
        lines.append("Set it up:")
        lines += [f"  {command}" for command in advice.commands]
    else:
        lines.append("Set it up: nothing to set up; no accord command is needed")
    return "\n".join(lines)


def cmd_advise(args: argparse.Namespace) -> int:
    answers = _collect(args.answers or [])
    if next_question(answers) is not None and not sys.stdin.isatty():
        missing = ", ".join(q.key for q in missing_answers(answers))
        raise ConfigurationError(
            f"advise: missing answers for {missing}: give --answer KEY=yes|no for each, or run "
            "it on a terminal to be asked"
        )
    number = len(answers)
    while (q := next_question(answers)) is not None:
        number += 1
        try:
            answers[q.key] = _ask(q, number)
        except _EndOfInput:
            print("\naccord: advise: stopped (end of input)", file=sys.stderr)
            return EXIT_INTERRUPTED
    advice = advise(answers)
    print(json.dumps(advice.to_json()) if args.json else _text(advice))
    return EXIT_OK


def _help_questions() -> str:
    lines = ["questions (KEY: question):"]
    for q in QUESTIONS:
        lines.append(f"  {q.key}")
        lines.append(textwrap.fill(q.text, width=90, initial_indent="      "))
    return "\n".join(lines)


_EPILOG = f"""{_help_questions()}

On a terminal, the questions your answers still need are asked one by one (y/n; Ctrl-C or
Ctrl-D stops). With standard input not a terminal, every question the decision needs must be
given with --answer, or the command exits 2 naming the missing keys. Only the questions on the
path your answers take are needed: with crosses_trust_boundaries=no, say, just relational_data
and unstructured_files. Answers that end up unused are accepted and reported as unused.

recommendations: consortium, confidential-ledger, ledger-tables, immutable-documents, no-ledger

examples:
  accord advise
  accord advise --answer crosses_trust_boundaries=no --answer relational_data=yes \\
                --answer unstructured_files=no
  accord advise --json --answer crosses_trust_boundaries=yes --answer parties_trust_each_other=no \\
                --answer multiple_writers=yes --answer intermediary_controls_truth=yes \\
                --answer manual_verification=yes --answer unstructured_files=no"""


def add_parser(sub: Any) -> None:
    """Register ``accord advise`` on the top-level subparsers ``sub``."""
    p = sub.add_parser(
        "advise",
        help="which of accord's options fits your process: a few yes/no questions",
        description=textwrap.fill(
            "The decision guide: recommends a consortium ledger, the confidential-ledger "
            "service, ledger tables, immutable documents or no ledger at all, with the reasons "
            "tied to your answers and the commands that set the recommendation up.",
            width=90,
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--answer",
        dest="answers",
        action="append",
        metavar="KEY=yes|no",
        type=answer,
        help=f"answer one question (repeatable); KEY is one of: {', '.join(KEYS)}",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_advise)
