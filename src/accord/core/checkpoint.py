"""Transparency log checkpoints (c2sp.org/tlog-checkpoint) signed as C2SP notes.

A checkpoint is the note text::

    <origin>\\n
    <tree size in decimal>\\n
    <base64 of the 32-byte RFC 6962 root hash>\\n
    [<extension line>\\n ...]

:func:`open_checkpoint` checks the note's signature with the log's key *first* and only then
parses the text, strictly: non-empty origin, size without sign or leading zeros (and below 2**64),
canonical standard base64 of exactly 32 bytes, non-empty extension lines. By our convention the
log's key name equals the origin line, so the verifier's name is the expected origin unless the
caller names another.

Not handled here: witness cosignatures, consistency between checkpoints (see
:mod:`accord.core.merkle`). Pure code: no I/O, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from accord.core.note import (
    Signer,
    Verifier,
    b64decode_canonical,
    b64encode,
    open_note,
    sign_note,
)
from accord.core.quoting import quoted
from accord.errors import MalformedInput, VerificationError

ROOT_HASH_SIZE = 32
MAX_TREE_SIZE = 2**64 - 1
"""Sizes are uint64 in every other checkpoint implementation; larger ones are refused."""

_SIZE_RE = re.compile(r"0|[1-9][0-9]{0,19}")


def _check_line(line: object, what: str) -> str:
    if not isinstance(line, str) or not line:
        raise MalformedInput(f"checkpoint {what} must be a non-empty string")
    if any(ord(ch) < 0x20 for ch in line):  # includes newline
        raise MalformedInput(f"checkpoint {what} contains a control character")
    try:
        line.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedInput(f"checkpoint {what} is not valid UTF-8") from exc
    return line


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, tree size, root hash and optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise MalformedInput("checkpoint size must be an int")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise MalformedInput("checkpoint size out of range")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != ROOT_HASH_SIZE:
            raise MalformedInput(f"checkpoint root hash must be {ROOT_HASH_SIZE} bytes")
        if not isinstance(self.extensions, tuple):
            raise MalformedInput("checkpoint extensions must be a tuple of strings")
        for line in self.extensions:
            _check_line(line, "extension line")

    def to_text(self) -> str:
        """The checkpoint note text, ending in a newline."""
        lines = [self.origin, str(self.size), b64encode(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        """Parse checkpoint note text strictly. Raises :class:`~accord.errors.MalformedInput`.

        This does not check any signature: use :func:`open_checkpoint` on a signed note.
        """
        if not isinstance(text, str):
            raise MalformedInput("checkpoint text must be a string")
        if not text.endswith("\n"):
            raise MalformedInput("checkpoint text must end in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedInput("checkpoint needs origin, size and root hash lines")
        origin, size_text, root_text, *extensions = lines
        if not _SIZE_RE.fullmatch(size_text):
            raise MalformedInput("checkpoint size must be decimal without sign or leading zeros")
        root_hash = b64decode_canonical(root_text, "checkpoint root hash")
        return cls(origin, int(size_text), root_hash, tuple(extensions))


def sign_checkpoint(cp: Checkpoint, signer: Signer) -> str:
    """Sign ``cp`` with ``signer`` and return the signed note.

    By our convention ``signer.name`` equals ``cp.origin``; this is not enforced here, but
    :func:`open_checkpoint` expects it unless given the origin explicitly.
    """
    if not isinstance(cp, Checkpoint):
        raise MalformedInput("sign_checkpoint needs a Checkpoint")
    return sign_note(cp.to_text(), signer)


def open_checkpoint(
    note_text: str | bytes, verifier: Verifier, *, origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint with ``verifier``, then parse it.

    The expected origin is ``origin`` if given, else ``verifier.name``. Raises
    :class:`~accord.errors.SignatureError` if the log's signature is missing or invalid,
    :class:`~accord.errors.MalformedInput` if the note or checkpoint does not parse, and
    :class:`~accord.errors.VerificationError` if the origin is not the expected one.
    """
    note = open_note(note_text, [verifier])
    cp = Checkpoint.from_text(note.text)
    expected = verifier.name if origin is None else origin
    if cp.origin != expected:
        raise VerificationError(f"checkpoint origin {quoted(cp.origin)} is not {expected!r}")
    return cp
