"""C2SP tlog-policy: which logs and witnesses a verifier trusts, and the quorum it requires.

A policy file lists ``log <vkey> [<url>]`` lines, ``witness <name> <vkey> [<url>]`` lines (the
witness vkey of signature type ``0x04``, Ed25519, or ``0x06``, ML-DSA-44: either counts alike),
``group <name> all|any|<k> <member>...`` lines and exactly one ``quorum <name>`` line (``none``
requires no cosignature). A checkpoint is valid under a policy when one of its logs signed it and
its quorum is satisfied by the witnesses whose cosignatures verify (c2sp.org/tlog-cosignature).

Parsing follows the spec: whitespace is spaces and tabs only; blank and ``#`` lines are ignored;
the only control characters allowed are tab and newline; names are opaque octet strings
(non-ASCII bytes are kept as they are); witnesses and groups share one namespace in which ``none``
is predefined and may not be a group member; a group or the quorum refers only to names defined
above it, each member at most once, with ``1 <= k <= n``; no two logs and no two witnesses wrap
the same public key. Anything else raises :class:`~accord.errors.MalformedInput` naming the line.

Pure code: no I/O, no clock. :meth:`Policy.verify` raises, it never returns ``False``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Set
from dataclasses import dataclass, field

from accord.core.cosignature import (
    AnyCosignerKey,
    CosignedCheckpoint,
    cosigner_key_from_vkey,
    open_cosigned_checkpoint,
)
from accord.core.note import Verifier
from accord.errors import AccordError, MalformedInput, QuorumNotMet, SignatureError

NONE = "none"
MAX_ITEMS = 256
"""Logs, witnesses and groups a policy may each hold (the spec asks for at least 32)."""

_WHITESPACE = re.compile(r"[ \t]+")
_DECIMAL = re.compile(r"[1-9][0-9]{0,5}")


@dataclass(frozen=True)
class Witness:
    name: str
    key: AnyCosignerKey  # CosignerKey (Ed25519) or MLDSACosignerKey (ML-DSA-44)
    url: str | None = None


@dataclass(frozen=True)
class Group:
    name: str
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    logs: tuple[tuple[Verifier, str | None], ...]
    witnesses: Mapping[str, Witness]
    groups: Mapping[str, Group]
    quorum: str
    _by_key: Mapping[tuple[str, bytes], str] = field(default_factory=dict, repr=False)

    # --- parsing ----------------------------------------------------------------------------
    @classmethod
    def from_text(cls, text: str | bytes) -> Policy:
        """Parse a policy file; raises MalformedInput naming the first bad line."""
        if isinstance(text, bytes | bytearray | memoryview):
            raw = bytes(text)
        elif isinstance(text, str):
            try:
                raw = text.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:
                raise MalformedInput("a policy given as text must be valid Unicode") from None
        else:
            raise MalformedInput("a policy is text")
        for i, byte in enumerate(raw):
            if (byte < 0x20 and byte not in (0x09, 0x0A)) or byte == 0x7F:
                raise MalformedInput(f"policy byte {i}: control character {byte:#04x}")
        # High-bit octets are opaque: surrogateescape keeps every byte, and names compare exactly.
        lines = raw.decode("utf-8", "surrogateescape").split("\n")
        logs: list[tuple[Verifier, str | None]] = []
        witnesses: dict[str, Witness] = {}
        groups: dict[str, Group] = {}
        quorum: str | None = None
        used_members: set[str] = set()  # a name contributes to the quorum in one way only
        log_keys: set[bytes] = set()
        witness_keys: set[bytes] = set()
        witness_ids: set[tuple[str, bytes]] = set()
        for number, line in enumerate(lines, 1):
            words = [w for w in _WHITESPACE.split(line) if w]
            if not words or words[0].startswith("#"):
                continue
            try:
                keyword = words[0]
                if keyword == "log":
                    _expect(words, 2, 3)
                    log = _log_key(words[1])
                    if log.public_key_bytes in log_keys:
                        raise MalformedInput("two log lines wrap the same public key")
                    if log.public_key_bytes in witness_keys:
                        raise MalformedInput("a log's key is also a witness's key")
                    log_keys.add(log.public_key_bytes)
                    logs.append((log, words[2] if len(words) > 2 else None))
                elif keyword == "witness":
                    _expect(words, 3, 4)
                    name = _new_name(words[1], witnesses, groups)
                    key = cosigner_key_from_vkey(words[2])
                    if key.public_key_bytes in witness_keys:
                        raise MalformedInput("two witness lines wrap the same public key")
                    if key.public_key_bytes in log_keys:
                        raise MalformedInput("a witness's key is also a log's key")
                    if (key.name, key.key_id) in witness_ids:
                        # Cosignature lines name a key by (name, key ID) only: ambiguous.
                        raise MalformedInput(
                            f"two witness keys share the name and key ID {key.name}+"
                            f"{key.key_id.hex()}"
                        )
                    witness_keys.add(key.public_key_bytes)
                    witness_ids.add((key.name, key.key_id))
                    witnesses[name] = Witness(name, key, words[3] if len(words) > 3 else None)
                elif keyword == "group":
                    if len(words) < 4:
                        raise MalformedInput("a group needs a name, a threshold and a member")
                    name = _new_name(words[1], witnesses, groups)
                    members = tuple(words[3:])
                    for member in members:
                        if member == NONE:
                            raise MalformedInput("'none' cannot be a group member")
                        if member not in witnesses and member not in groups:
                            raise MalformedInput(f"{member!r} is not defined above")
                    if len(set(members)) != len(members):
                        raise MalformedInput("a group lists each member at most once")
                    reused = [m for m in members if m in used_members]
                    if reused:
                        # The spec: each name is a group member at most once in the whole policy,
                        # so that each witness contributes to the quorum in only one way.
                        raise MalformedInput(f"{reused[0]!r} is already a member of another group")
                    used_members.update(members)
                    groups[name] = Group(name, _threshold(words[2], len(members)), members)
                elif keyword == "quorum":
                    _expect(words, 2, 2)
                    if quorum is not None:
                        raise MalformedInput("a policy has exactly one quorum line")
                    if words[1] != NONE and words[1] not in witnesses and words[1] not in groups:
                        raise MalformedInput(f"{words[1]!r} is not defined above")
                    quorum = words[1]
                else:
                    raise MalformedInput(f"unknown keyword {keyword!r}")
            except AccordError as exc:
                raise MalformedInput(f"policy line {number}: {exc}") from None
            if max(len(logs), len(witnesses), len(groups)) > MAX_ITEMS:
                raise MalformedInput(f"policy line {number}: more than {MAX_ITEMS} of a kind")
        if quorum is None:
            raise MalformedInput("the policy has no quorum line")
        by_key = {(w.key.name, w.key.key_id): w.name for w in witnesses.values()}
        return cls(tuple(logs), witnesses, groups, quorum, by_key)

    # --- evaluation -------------------------------------------------------------------------
    def satisfied(self, witnessed: Set[str]) -> bool:
        """Whether witnesses named ``witnessed`` (policy names) satisfy the quorum; pure."""
        if self.quorum == NONE:
            return True
        return self._witnessed(self.quorum, witnessed)

    def _witnessed(self, name: str, witnessed: Set[str]) -> bool:
        group = self.groups.get(name)
        if group is None:
            return name in witnessed and name in self.witnesses
        count = sum(1 for member in group.members if self._witnessed(member, witnessed))
        return count >= group.threshold

    def verify(self, note: str | bytes, *, not_after: int | None = None) -> CosignedCheckpoint:
        """Check a checkpoint against the policy: signed by one of its logs, quorum cosigned.

        Raises :class:`~accord.errors.SignatureError` if no listed log signed it (or a known
        cosigner's line does not verify) and :class:`QuorumNotMet` if the verified cosignatures
        fall short of the quorum.
        """
        if not self.logs:
            raise SignatureError("the policy lists no log")
        keys = [w.key for w in self.witnesses.values()]
        last: AccordError | None = None
        for log, _url in self.logs:
            try:
                opened = open_cosigned_checkpoint(note, log, keys, not_after=not_after)
            except SignatureError as exc:
                last = exc
                continue
            break
        else:
            raise SignatureError(f"no log of the policy signed this checkpoint ({last})")
        # By (key name, key ID): two witnesses may share a key name, never a key.
        witnessed = {self._by_key[k] for k in opened.verified_keys if k in self._by_key}
        if not self.satisfied(witnessed):
            have = ", ".join(sorted(witnessed)) or "none"
            raise QuorumNotMet(
                f"the checkpoint of size {opened.checkpoint.size} is cosigned by {have}, which "
                f"does not satisfy the quorum {self.quorum!r}"
            )
        return opened


def _expect(words: list[str], least: int, most: int) -> None:
    if not least <= len(words) <= most:
        raise MalformedInput(f"'{words[0]}' takes {least - 1} to {most - 1} values")


def _log_key(vkey: str) -> Verifier:
    return Verifier.from_vkey(vkey)


def _new_name(name: str, witnesses: Mapping[str, object], groups: Mapping[str, object]) -> str:
    if name == NONE:
        raise MalformedInput("'none' is predefined")
    if name in witnesses or name in groups:
        raise MalformedInput(f"{name!r} is defined twice")
    return name


def _threshold(text: str, members: int) -> int:
    if text == "all":
        return members
    if text == "any":
        return 1
    if not _DECIMAL.fullmatch(text):
        raise MalformedInput(f"threshold {text!r} is not all, any or a decimal number")
    k = int(text)
    if not 1 <= k <= members:
        raise MalformedInput(f"threshold {k} is not between 1 and {members}")
    return k
