"""Checks of command-line arguments at the edge, before any command runs.

Every argument of every ``accord`` command passes through :func:`checked`: it must be valid UTF-8
(Python hands undecodable bytes over as lone surrogates, which fail much later, when something
encodes them) and then parse as what the option expects (a port, a transaction id, a verifier
key file, ...). A bad value raises :class:`~accord.errors.ConfigurationError` naming the argument,
which the CLI prints as one line and exits 2 with; argparse's own errors (an unknown flag, a
missing argument) still print the subcommand's usage.

This module does no network or storage I/O; the file checks read the small files they name.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from accord.errors import AccordError, ConfigurationError, MalformedInput, SignatureError

if TYPE_CHECKING:
    from accord.core.note import Signer
    from accord.core.policy import Policy

T = TypeVar("T")

SHOWN_CHARS = 80
"""Longest part of a bad value echoed in an error message."""

ROLES = ("Administrator", "Contributor", "Reader")


def show(value: str) -> str:
    """``value`` for an error message: quoted, escaped, undecodable bytes as ``\\xNN``, cut short."""
    shortened = value if len(value) <= SHOWN_CHARS else value[:SHOWN_CHARS] + "…"
    try:
        shortened.encode("utf-8")
    except UnicodeEncodeError:
        return repr(os.fsencode(shortened))[1:]  # b'\xff' -> '\xff', the bytes as given
    return repr(shortened)


def one_line(message: str) -> str:
    """``message`` with line breaks and other control characters escaped: one line of output."""
    return "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
        for ch in message
    )


def require_utf8(name: str, value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigurationError(
            f"{name} is not valid UTF-8: {show(value)} (accord takes text and file names in UTF-8)"
        ) from None


def checked(name: str, parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse ``type`` that checks UTF-8, then ``parse``; errors name the argument ``name``.

    ``parse`` raises :class:`ConfigurationError` (or another accord error, or ``ValueError``) with
    a message that does not repeat the name.
    """

    def convert(text: str) -> T:
        require_utf8(name, text)
        try:
            return parse(text)
        except (AccordError, ValueError) as exc:
            raise ConfigurationError(f"{name}: {exc}") from exc

    convert.__name__ = name
    return convert


# --- values -------------------------------------------------------------------------------------
def text(value: str) -> str:
    return value


def nonempty(value: str) -> str:
    if not value:
        raise ConfigurationError("must not be empty")
    return value


def port(value: str) -> int:
    if not value.isascii() or not value.isdigit():
        raise ConfigurationError(f"{show(value)} is not a port number (0-65535)")
    number = int(value)
    if not 0 <= number <= 65535:
        raise ConfigurationError(f"port {number} is outside 0-65535")
    return number


def positive_int(value: str) -> int:
    if not value.isascii() or not value.isdigit() or int(value) < 1 or len(value) > 18:
        raise ConfigurationError(f"{show(value)} is not a positive whole number")
    return int(value)


def positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not 0 < number < float("inf"):
        raise ConfigurationError(f"{show(value)} is not a positive number")
    return number


def url(value: str) -> str:
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme != "https" or not parsed.hostname:
        raise ConfigurationError(
            f"{show(value)} is not a service URL (expected https://HOST[:PORT], "
            "e.g. https://127.0.0.1:8443)"
        )
    try:
        parsed.port  # noqa: B018 - raises ValueError for a port outside 0-65535 or not a number
    except ValueError:
        raise ConfigurationError(f"{show(value)} has an invalid port (expected 1-65535)") from None
    if not value.isprintable() or " " in value:
        raise ConfigurationError(f"{show(value)} contains spaces or control characters")
    return value


def txid(value: str) -> str:
    from accord.core.entry import TransactionId

    return str(TransactionId.parse(value))


def collection(value: str) -> str:
    from accord.core.entry import validate_collection_id

    return validate_collection_id(value)


def tags(value: str) -> list[str]:
    from accord.core.entry import validate_tags

    return list(validate_tags([t for t in value.split(",") if t]))


def user_id(value: str) -> str:
    from accord.core.entry import validate_user_id

    return validate_user_id(value)


def role(value: str) -> str:
    if value not in ROLES:
        raise ConfigurationError(f"{show(value)} is not a role (one of {', '.join(ROLES)})")
    return value


def token(value: str) -> str:
    """A bearer token, or ``@FILE`` naming a file that holds one; returns the token itself."""
    if value.startswith("@"):
        path = nonempty(value[1:])
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(
                f"cannot read the token file {show(path)}: {reason(exc)}"
            ) from exc
    if not value:
        raise ConfigurationError("the bearer token is empty")
    if not value.isascii() or not value.isprintable() or " " in value:
        raise ConfigurationError("a bearer token is printable ASCII without spaces")
    return value


def storage(value: str) -> str:
    """An ``accord init --storage`` location: a PostgreSQL DSN or an SQLite file name."""
    from accord.log.storage import unsupported_scheme

    nonempty(value)
    why = unsupported_scheme(value)
    if why is not None:
        raise ConfigurationError(f"unsupported storage {show(value)}: {why} (leave out --storage)")
    return value


# --- files --------------------------------------------------------------------------------------
def reason(exc: BaseException) -> str:
    """Why a file could not be read, without repeating its name."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    return str(exc)


def read_small_text(path: str, limit: int = 1 << 20) -> str:
    readable_file(path)
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {show(path)}: {reason(exc)}") from exc
    if len(data) > limit:
        raise ConfigurationError(f"{show(path)} is larger than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigurationError(f"{show(path)} is not UTF-8 text") from None


def readable_file(path: str) -> str:
    nonempty(path)
    p = Path(path)
    if p.is_dir():
        raise ConfigurationError(f"{show(path)} is a directory, not a file")
    if not p.is_file():
        raise ConfigurationError(f"{show(path)}: no such file")
    if not os.access(p, os.R_OK):
        raise ConfigurationError(f"{show(path)}: permission denied")
    return path


def vkey_file(path: str) -> str:
    """A file holding a checkpoint verifier key; returns the path (checked to parse)."""
    from accord.core.note import Verifier

    key = read_small_text(path).strip()
    if key.startswith("-----BEGIN"):
        # Never echo it: it may be a private key given by mistake.
        raise ConfigurationError(
            f"{show(path)} is a PEM file (a certificate or key), not a verifier key; give the "
            "ledger's checkpoint.vkey (a C2SP verifier key like NAME+HASH+BASE64)"
        )
    try:
        Verifier.from_vkey(key)
    except MalformedInput as exc:
        raise ConfigurationError(
            f"{show(path)} is not a verifier key (expected a C2SP verifier key like "
            f"NAME+HASH+BASE64, the ledger's checkpoint.vkey): {exc}"
        ) from exc
    return path


def checkpoint_file(path: str) -> str:
    """A file holding a signed checkpoint; returns the path (checked to parse, not to verify).

    Only the form is checked here: whether the ledger's key signed it is for the audit to decide,
    and a checkpoint that does not verify stays a verification failure.
    """
    from accord.core.checkpoint import Checkpoint
    from accord.core.note import open_note

    note = read_small_text(path)
    try:
        try:
            open_note(note, [])
        except SignatureError:
            pass  # expected: no key given; the form is right
        Checkpoint.from_text(note[: note.rfind("\n\n") + 1])
    except MalformedInput as exc:
        raise ConfigurationError(
            f"{show(path)} is not a signed checkpoint (expected a note saved from "
            f"GET /checkpoint): {exc}"
        ) from exc
    return path


def data_dir(path: str) -> str:
    """An existing data directory made by ``accord init``."""
    nonempty(path)
    p = Path(path)
    if not p.exists():
        raise ConfigurationError(f"{show(path)}: no such directory")
    if not p.is_dir():
        raise ConfigurationError(f"{show(path)} is a file, not an accord data directory")
    if not (p / "config.json").is_file():
        raise ConfigurationError(
            f"{show(path)} is not an accord data directory (no config.json); "
            f"create one with: accord init --data {path}"
        )
    return path


def new_data_dir(path: str) -> str:
    nonempty(path)
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ConfigurationError(f"{show(path)} is a file, not a directory")
    return path


def output_file(path: str) -> str:
    nonempty(path)
    if Path(path).is_dir():
        raise ConfigurationError(f"{show(path)} is a directory, not a file")
    return path


# --- consortium governance ----------------------------------------------------------------------
_PROPOSAL_ID_CHARS = frozenset("0123456789abcdef")
VOTES = {"yes": True, "no": False}


def _json_file(path: str, what: str, example: str) -> object:
    from accord.core.canonical import parse_json

    text = read_small_text(path)
    try:
        return parse_json(text)
    except MalformedInput as exc:
        raise ConfigurationError(f"{show(path)} is not JSON ({what}, {example}): {exc}") from exc


def _from_json_file(path: str, what: str, example: str, parse: Callable[[object], T]) -> T:
    value = _json_file(path, what, example)
    try:
        return parse(value)
    except MalformedInput as exc:
        raise ConfigurationError(f"{show(path)} is not {what} ({example}): {exc}") from exc


def member_key_file(path: str) -> Signer:
    """A member's signed-note signer key file (``member.key``); returns the :class:`Signer`.

    Never echoes the file: it holds a private key.
    """
    from accord.core.consortium import check_name
    from accord.core.note import Signer

    key = read_small_text(path, limit=4096).strip()
    try:
        signer = Signer.from_skey(key)
    except MalformedInput as exc:
        raise ConfigurationError(
            f"{show(path)} is not a member signing key (expected the organization's member.key, "
            f"PRIVATE+KEY+NAME+HASH+BASE64): {exc}"
        ) from exc
    try:
        check_name(signer.name, "a member name")
    except MalformedInput as exc:
        raise ConfigurationError(
            f"{show(path)} is a signing key named {signer.name!r}, not a member's (a checkpoint "
            f"key?); give the organization's member.key: {exc}"
        ) from exc
    return signer


def member_add_file(path: str) -> dict[str, object]:
    """A member JSON file (``accord consortium join-request`` writes one); the member.add action."""
    from accord.core.consortium import Member, member_add_action

    member = _from_json_file(
        path,
        "a member",
        '{"name", "memberKey", "cosigner", "adminUser"}, as accord consortium join-request '
        "writes to member.json",
        Member.from_json,
    )
    return member_add_action(member)


def node_add_file(path: str) -> dict[str, object]:
    """A node JSON file (docs/formats.md §14.4); the node.add action."""
    from accord.core.consortium import Node, node_add_action

    node = _from_json_file(
        path,
        "a node",
        '{"nodeId", "member", "logKey", "url", "engineRoute", "engineClient", "tlsCertSha256"}',
        Node.from_json,
    )
    return node_add_action(node)


def constitution_set_file(path: str) -> dict[str, object]:
    """A constitution JSON file (docs/formats.md §14.3); the constitution.set action."""
    from accord.core.consortium import Constitution, constitution_set_action

    constitution = _from_json_file(
        path,
        "a constitution",
        '{"format": "accord.constitution.v1", "cosignQuorum", "thresholds", "proposalTtlMs"}; '
        "GET /app/governance/constitution shows the one in force",
        Constitution.from_json,
    )
    return constitution_set_action(constitution)


def member_name(value: str) -> str:
    from accord.core.consortium import check_name

    return check_name(value, "a member name")


def node_id(value: str) -> str:
    from accord.core.consortium import check_name

    return check_name(value, "a node id")


def member_remove(value: str) -> dict[str, object]:
    from accord.core.consortium import member_remove_action

    return member_remove_action(member_name(value))


def node_remove(value: str) -> dict[str, object]:
    from accord.core.consortium import node_remove_action

    return node_remove_action(node_id(value))


def consortium_user_id(value: str) -> str:
    """A user id in the canonical form the consortium records (a certificate fingerprint in any
    usual spelling is normalized to upper-case pairs with colons)."""
    from accord.core.consortium import check_user_id
    from accord.errors import InvalidRequest
    from accord.identity import normalize_fingerprint

    try:
        return normalize_fingerprint(value)
    except InvalidRequest:
        pass  # not a fingerprint: a token user id
    return check_user_id(value)


def user_remove(value: str) -> dict[str, object]:
    from accord.core.consortium import user_remove_action

    return user_remove_action(consortium_user_id(value))


def proposal_id(value: str) -> str:
    if len(value) != 64 or not set(value) <= _PROPOSAL_ID_CHARS:
        raise ConfigurationError(
            f"{show(value)} is not a proposal id (64 lower-case hex digits, as accord gov "
            "propose and accord gov list print)"
        )
    return value


def vote(value: str) -> bool:
    if value not in VOTES:
        raise ConfigurationError(f"{show(value)} is not a vote (yes or no)")
    return VOTES[value]


def policy_file(path: str) -> Policy:
    """A C2SP tlog-policy file (GET /app/governance/policy); returns the parsed :class:`Policy`."""
    from accord.core.policy import Policy

    text = read_small_text(path)
    try:
        return Policy.from_text(text)
    except MalformedInput as exc:
        raise ConfigurationError(
            f"{show(path)} is not a trust policy (a C2SP tlog-policy: log, witness, group and "
            f"quorum lines, as accord gov policy prints): {exc}"
        ) from exc


def org_names(value: str) -> list[str]:
    """Comma-separated, distinct organization names (each a valid member name)."""
    from accord.core.consortium import RESERVED_MEMBER_NAMES

    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise ConfigurationError("give at least one organization name, e.g. supplier,retailer")
    for name in names:
        member_name(name)
        if name in RESERVED_MEMBER_NAMES:
            raise ConfigurationError(f"{show(name)} is reserved and cannot name an organization")
    if len(set(names)) != len(names):
        raise ConfigurationError("each organization is named once")
    return names


def org_name(value: str) -> str:
    if "," in value:
        raise ConfigurationError(f"{show(value)} names more than one organization")
    return org_names(value)[0]


def new_private_dir(path: str) -> str:
    """A directory to create for secrets: it must not exist yet, or be empty."""
    nonempty(path)
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise ConfigurationError(f"{show(path)} is a file, not a directory")
        if any(p.iterdir()):
            raise ConfigurationError(f"{show(path)} is not empty; choose a new directory")
    return path
