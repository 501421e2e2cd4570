"""The decision guide behind ``accord advise``: which of accord's options a process needs.

A short decision tree over yes/no answers (the "do you need a ledger?" questions: trust
boundaries, several writers, an intermediary holding the truth, manual verification, whether one
operator is acceptable, relational data or files). :func:`advise` maps the answers to one or more
:class:`Option` values, a reason for each step that cites the answers it rests on
(``key=yes|no: ...``), and the accord commands that set the options up::

    trust boundary crossed and the parties do not all trust one another?
    ├── yes: a shared, verifiable ledger
    │   ├── several writers, and an intermediary holds the truth or no one operator is
    │   │   acceptable                                   → consortium
    │   ├── otherwise (one writer, or one operator may run it) → confidential-ledger
    │   └── plus, for files that must not change          → immutable-documents
    └── no: no ledger between parties
        ├── relational data to keep tamper-evident         → ledger-tables
        ├── files that must not change                     → immutable-documents
        └── neither                                        → no-ledger

Only the questions on the path the answers take are needed (:func:`next_question`,
:func:`missing_answers`); answers to the others are accepted and said to be unused.

Pure: no I/O, no prompts, deterministic. It does not ask anything (``accord.cli.advise`` does).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from accord.errors import ConfigurationError


class Option(StrEnum):
    """An option ``accord advise`` can recommend (the values are its ``--json`` output)."""

    CONSORTIUM = "consortium"
    CONFIDENTIAL_LEDGER = "confidential-ledger"
    LEDGER_TABLES = "ledger-tables"
    IMMUTABLE_DOCUMENTS = "immutable-documents"
    NO_LEDGER = "no-ledger"


OPTION_TITLES: Mapping[Option, str] = {
    Option.CONSORTIUM: "a consortium ledger: each organization runs its own node (accord consortium)",
    Option.CONFIDENTIAL_LEDGER: "the confidential-ledger service, run by one operator (accord serve)",
    Option.LEDGER_TABLES: "ledger tables in your own SQLite or PostgreSQL database (accord tables)",
    Option.IMMUTABLE_DOCUMENTS: "immutable documents: write-once files behind an S3-compatible API",
    Option.NO_LEDGER: "no ledger needed: an ordinary database will do",
}


@dataclass(frozen=True)
class Question:
    key: str
    text: str
    explanation: str


QUESTIONS: tuple[Question, ...] = (
    Question(
        "crosses_trust_boundaries",
        "Does the process cross trust boundaries?",
        "Several organizations take part (or parts of one that do not trust each other), "
        "say a supplier, a manufacturer and a retailer.",
    ),
    Question(
        "parties_trust_each_other",
        "Do all parties trust one another?",
        "Each would accept the others' records as they are, without checking them.",
    ),
    Question(
        "multiple_writers",
        "Do several parties share and update the data?",
        "More than one party writes records, rather than one writing and the others reading.",
    ),
    Question(
        "intermediary_controls_truth",
        "Does an intermediary control the single source of truth?",
        "One party or a third party (a platform operator, a clearing house) keeps the records "
        "everyone else must rely on.",
    ),
    Question(
        "can_run_centrally",
        "Can the process run centrally?",
        "All parties would accept one operator running the shared ledger, as long as they can "
        "verify what it serves.",
    ),
    Question(
        "manual_verification",
        "Are there low-value manual verification steps?",
        "People reconcile, re-check or confirm records by hand (calls, spreadsheets, paper).",
    ),
    Question(
        "relational_data",
        "Is the data to protect relational?",
        "Rows in SQL tables that must stay tamper-evident, say payments or stock levels.",
    ),
    Question(
        "unstructured_files",
        "Is the data to protect unstructured files that must not change?",
        "Documents, scans, images or exports kept as files, say contracts or certificates "
        "of origin.",
    ),
)

KEYS: tuple[str, ...] = tuple(q.key for q in QUESTIONS)
_BY_KEY: Mapping[str, Question] = {q.key: q for q in QUESTIONS}

_YES = ("yes", "y")
_NO = ("no", "n")


@dataclass(frozen=True)
class Advice:
    """What :func:`advise` recommends, why (each reason cites answers), and how to set it up."""

    recommendations: tuple[Option, ...]
    reasons: tuple[str, ...]
    commands: tuple[str, ...]

    def to_json(self) -> dict[str, list[str]]:
        return {
            "recommendations": [str(r) for r in self.recommendations],
            "reasons": list(self.reasons),
            "commands": list(self.commands),
        }


def question(key: str) -> Question:
    """The question ``key``; an unknown key is a :class:`ConfigurationError` listing the keys."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise ConfigurationError(
            f"unknown question {key!r} (the keys are {', '.join(KEYS)})"
        ) from None


def parse_yes_no(text: str) -> bool:
    """``yes``/``y`` → True, ``no``/``n`` → False (any case); anything else is an error."""
    word = text.strip().lower()
    if word in _YES:
        return True
    if word in _NO:
        return False
    raise ConfigurationError(f"{text!r} is not an answer: give yes or no")


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


class _Unanswered(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _decide(read: Callable[[str], bool]) -> tuple[list[Option], list[str]]:
    """The decision tree; ``read(key)`` is each answer, read only where the path needs it."""
    recommendations: list[Option] = []
    reasons: list[str] = []

    def cite(*keys: str) -> str:
        return ", ".join(f"{key}={_yes_no(read(key))}" for key in keys)

    crosses = read("crosses_trust_boundaries")
    distrust = crosses and not read("parties_trust_each_other")
    if distrust:
        reasons.append(
            f"{cite('crosses_trust_boundaries', 'parties_trust_each_other')}: the parties need "
            "a shared record that none of them can change unseen, checkable by each without "
            "trusting whoever runs it"
        )
        if not read("multiple_writers"):
            recommendations.append(Option.CONFIDENTIAL_LEDGER)
            reasons.append(
                f"{cite('multiple_writers')}: one party writes and the others check, so that "
                "party can run the confidential-ledger service: every entry gets a receipt the "
                "others verify offline with the ledger's public key, and checkpoints they keep "
                "catch a rewrite"
            )
        elif read("intermediary_controls_truth"):
            recommendations.append(Option.CONSORTIUM)
            reasons.append(
                f"{cite('multiple_writers', 'intermediary_controls_truth')}: several parties "
                "write and an intermediary holds the truth today; a consortium ledger has no "
                "single operator: each organization runs its own node and a checkpoint is "
                "final once a quorum of organizations cosigned it"
            )
        elif not read("can_run_centrally"):
            recommendations.append(Option.CONSORTIUM)
            reasons.append(
                f"{cite('multiple_writers', 'intermediary_controls_truth', 'can_run_centrally')}: "
                "several parties write and no single operator is acceptable, so each "
                "organization runs its own node of a consortium ledger, and a checkpoint is "
                "final once a quorum of organizations cosigned it"
            )
        else:
            recommendations.append(Option.CONFIDENTIAL_LEDGER)
            reasons.append(
                f"{cite('multiple_writers', 'intermediary_controls_truth', 'can_run_centrally')}: "
                "several parties write but one operator may run the ledger for all: the "
                "confidential-ledger service with a user and role per party; receipts and the "
                "checkpoints each party keeps let them verify the operator"
            )
        if read("manual_verification"):
            reasons.append(
                f"{cite('manual_verification')}: checking a receipt or a checkpoint replaces the "
                "manual verification steps, which strengthens the case for a ledger"
            )
        else:
            reasons.append(
                f"{cite('manual_verification')}: there are no manual checks to remove; the "
                "ledger's value here is that each party can verify the record itself"
            )
        if read("unstructured_files"):
            recommendations.append(Option.IMMUTABLE_DOCUMENTS)
            reasons.append(
                f"{cite('unstructured_files')}: keep the files as immutable documents "
                "(write-once, S3-compatible), each recorded in a ledger by its digest"
            )
        return recommendations, reasons

    if crosses:
        reasons.append(
            f"{cite('crosses_trust_boundaries', 'parties_trust_each_other')}: the parties trust "
            "one another, so they need no ledger between them"
        )
    else:
        reasons.append(
            f"{cite('crosses_trust_boundaries')}: the process stays inside one trust boundary, "
            "so no shared ledger is needed"
        )
    relational = read("relational_data")
    files = read("unstructured_files")
    if relational:
        recommendations.append(Option.LEDGER_TABLES)
        reasons.append(
            f"{cite('relational_data')}: ledger tables make the rows tamper-evident in your own "
            "database, with digests anchored in a ledger, so even a database administrator's "
            "rewrite is detected"
        )
    if files:
        recommendations.append(Option.IMMUTABLE_DOCUMENTS)
        reasons.append(
            f"{cite('unstructured_files')}: files that must not change belong in write-once "
            "document storage (S3-compatible), each recorded in a ledger by its digest"
        )
    if not relational and not files:
        recommendations.append(Option.NO_LEDGER)
        reasons.append(
            f"{cite('relational_data', 'unstructured_files')}: no data must be kept "
            "tamper-evident, so an ordinary database is enough"
        )
    return recommendations, reasons


def _checked(answers: Mapping[str, bool]) -> None:
    for key in answers:
        question(key)


def next_question(answers: Mapping[str, bool]) -> Question | None:
    """The next question the decision needs, given ``answers`` so far; None when it needs none."""
    _checked(answers)

    def read(key: str) -> bool:
        if key not in answers:
            raise _Unanswered(key)
        return answers[key]

    try:
        _decide(read)
    except _Unanswered as missing:
        return _BY_KEY[missing.key]
    return None


def missing_answers(answers: Mapping[str, bool]) -> tuple[Question, ...]:
    """Every unanswered question the decision may still need, whichever way those go."""
    needed: set[str] = set()

    def explore(known: Mapping[str, bool]) -> None:
        q = next_question(known)
        if q is not None:
            needed.add(q.key)
            explore({**known, q.key: True})
            explore({**known, q.key: False})

    explore(answers)
    return tuple(q for q in QUESTIONS if q.key in needed)


def advise(answers: Mapping[str, bool]) -> Advice:
    """Recommend accord's options for ``answers`` (question key → yes/no).

    Raises :class:`ConfigurationError` for an unknown key, or naming every answer still needed.
    """
    missing = missing_answers(answers)
    if missing:
        raise ConfigurationError(
            f"missing answers: {', '.join(q.key for q in missing)} (give KEY=yes|no for each)"
        )
    used: set[str] = set()

    def read(key: str) -> bool:
        used.add(key)
        return answers[key]

    recommendations, reasons = _decide(read)
    unused = [key for key in KEYS if key in answers and key not in used]
    if unused:
        reasons.append(
            f"{', '.join(f'{key}={_yes_no(answers[key])}' for key in unused)}: not needed "
            "for this decision, given the answers above"
        )
    return Advice(tuple(recommendations), tuple(reasons), commands_for(recommendations))


# --- commands ---------------------------------------------------------------------------------
DATA_DIR = "accord-data"
CONSORTIUM_DIR = "accord-consortium"
CONSORTIUM_ORGS = ("supplier", "manufacturer", "retailer")
TABLES_DB = "shop.db"
TABLES_DDL = "CREATE TABLE payments (id INTEGER PRIMARY KEY, amount NUMERIC, payee TEXT)"
SERVICE_URL = "https://127.0.0.1:8443"
SERVICE_AUTH = (
    f"--cacert {DATA_DIR}/service.crt --cert {DATA_DIR}/admin.crt --key {DATA_DIR}/admin.key"
)


def commands_for(recommendations: list[Option] | tuple[Option, ...]) -> tuple[str, ...]:
    """The accord commands that set up ``recommendations``, in the order to run them.

    The single-node options share one data directory, ``accord-data``. Ledger tables anchor
    their digests in it directly, or through the service when one serves it (a served data
    directory is locked by its server). The first access key is the Administrator's (``admin.crt``).
    ``no-ledger`` needs no command.
    """
    chosen = set(recommendations)
    commands: list[str] = []
    if Option.CONSORTIUM in chosen:
        commands.append(
            f"accord consortium create --orgs {','.join(CONSORTIUM_ORGS)} --dir {CONSORTIUM_DIR}"
        )
        commands += [f"accord serve --data {CONSORTIUM_DIR}/{org}" for org in CONSORTIUM_ORGS]
    tables = Option.LEDGER_TABLES in chosen
    documents = Option.IMMUTABLE_DOCUMENTS in chosen
    served = documents or Option.CONFIDENTIAL_LEDGER in chosen
    if served or tables:
        commands.append(f"accord init --data {DATA_DIR}")
    if documents:
        commands.append(
            f"accord documents keys create --data {DATA_DIR} --user {DATA_DIR}/admin.crt"
        )
    if served:
        s3 = " --s3-port 8444" if documents else ""
        commands.append(f"accord serve --data {DATA_DIR}{s3}" + (" &" if tables else ""))
    if tables:
        ledger = f"{SERVICE_URL} {SERVICE_AUTH}" if served else DATA_DIR
        commands += [
            f'accord tables create --db sqlite:{TABLES_DB} "{TABLES_DDL}"',
            f"accord tables anchor --db {TABLES_DB} --ledger {ledger} --interval 60 &",
            f"accord tables verify --db {TABLES_DB} --ledger {ledger}",
        ]
    return tuple(commands)
