"""C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys.

A signed note is a UTF-8 text ending in a newline, a blank line, then one or more signature lines
``— <key name> base64(key ID || signature)``. This module signs notes and opens them: it checks the
signatures against the caller's trusted keys *before* handing back the text, and it raises (never
returns ``False``) when a note does not verify. It also reads and writes the verifier-key
(``name+hash+base64(0x01 || public key)``) and signer-key
(``PRIVATE+KEY+name+hash+base64(0x01 || seed)``) forms of golang.org/x/mod/sumdb/note.

Only signature type ``0x01`` (Ed25519) is supported. Cosignatures (c2sp.org/tlog-cosignature) are
not handled here. Pure code: no I/O, no clock.

Rules enforced when opening a note, following the spec and the Go reference implementation:

* the note is valid UTF-8 and has no ASCII control character other than newline;
* the text is separated from the signatures by the *last* blank line of the note, and the
  signature block ends in a newline;
* every signature line is ``— name base64``, with a valid key name and canonical standard base64
  of at least 5 bytes; at most :data:`MAX_SIGNATURES` lines;
* signatures whose (name, key ID) is not a trusted key are ignored (kept as data);
* *every* signature line from a trusted key must verify, and at least one must.

Errors: malformed notes and keys raise :class:`~accord.errors.MalformedInput`; missing or invalid
signatures raise :class:`~accord.errors.SignatureError`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from accord.core.quoting import quoted
from accord.errors import ConfigurationError, MalformedInput, SignatureError

ALG_ED25519 = 0x01
"""Signature type identifier byte of Ed25519 in c2sp.org/signed-note."""

KEY_ID_SIZE = 4
ED25519_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64

MAX_SIGNATURES = 100
"""Notes with more signature lines are rejected (the spec requires accepting at least 16)."""

SIGNATURE_PREFIX = "\u2014 "
"""Em dash (U+2014) and a space: the start of every signature line."""

_PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"
_ALG_NAMES = {0x01: "signed-note Ed25519", 0x04: "cosignature/v1"}
_KEY_HASH_RE = re.compile(r"[0-9a-f]{8}")


@functools.lru_cache(maxsize=1024)
def _is_valid_key_name(name: str) -> bool:
    # The spec: non-empty, no Unicode spaces, no '+'. str.isspace() covers every Unicode space
    # (and a few separators besides). Control characters can never appear in a note either, so a
    # name containing one could never sign anything: reject it up front. Cached: a note's lines
    # repeat a handful of names (it is pure, so the cache changes no answer).
    if not name or "+" in name:
        return False
    if any(ch.isspace() or ord(ch) < 0x20 for ch in name):
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return False
    return True


def check_key_name(name: object) -> str:
    if not isinstance(name, str) or not _is_valid_key_name(name):
        raise MalformedInput(
            f"invalid key name {quoted(name)}: must be non-empty, without spaces or '+'"
        )
    return name


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode_canonical(text: str, what: str) -> bytes:
    """Strict standard base64 with padding; rejects non-canonical encodings too."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise MalformedInput(f"{what}: invalid base64") from exc
    # Non-zero padding bits decode to the same bytes; accept only the one canonical spelling so
    # that the bytes of a note are a function of its content.
    if b64encode(raw) != text:
        raise MalformedInput(f"{what}: non-canonical base64")
    return raw


def key_hash(name: str, pubkey_bytes_with_type: bytes) -> bytes:
    """The 4-byte key ID: ``SHA-256(name || 0x0A || type byte || public key)[:4]``.

    ``pubkey_bytes_with_type`` is the public key prefixed by its signature type byte, e.g.
    ``0x01 || 32-byte Ed25519 key``.
    """
    h = hashlib.sha256()
    h.update(name.encode("utf-8"))
    h.update(b"\n")
    h.update(pubkey_bytes_with_type)
    return h.digest()[:KEY_ID_SIZE]


def _ed25519_key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    return key_hash(name, bytes([ALG_ED25519]) + public_key.public_bytes_raw())


def split_key_text(text: str, what: str) -> tuple[str, str, bytes]:
    """Split ``name+hash+base64`` and decode the hash and key; validate the shape only."""
    parts = text.split("+", 2)  # names hold no '+', base64 may
    if len(parts) != 3:
        raise MalformedInput(f"{what}: expected name+hash+key")
    name, hash_hex, key_b64 = parts
    check_key_name(name)
    if not _KEY_HASH_RE.fullmatch(hash_hex):
        raise MalformedInput(f"{what}: key hash must be 8 lowercase hex digits")
    key = b64decode_canonical(key_b64, what)
    if not key:
        raise MalformedInput(f"{what}: empty key")
    return name, hash_hex, key


def parse_ed25519_vkey(text: object, alg: int, what: str) -> tuple[str, bytes, Ed25519PublicKey]:
    """Parse ``name+hash+base64(alg || 32-byte Ed25519 public key)``: name, key ID and key.

    Shared by every Ed25519 key type accord reads (``0x01`` note keys, ``0x04`` cosigner keys);
    the hash must be the key ID computed from the name, the type byte and the key.
    """
    if not isinstance(text, str):
        raise MalformedInput(f"{what} must be a string")
    name, hash_hex, key = split_key_text(text, what)
    if key_hash(name, key).hex() != hash_hex:
        raise MalformedInput(f"{what}: hash does not match name and key")
    if key[0] != alg:
        raise MalformedInput(
            f"{what}: unsupported signature type {key[0]:#04x}, not a {_ALG_NAMES[alg]} key "
            f"({alg:#04x})"
        )
    if len(key) != 1 + ED25519_KEY_SIZE:
        raise MalformedInput(f"{what}: Ed25519 key must be 32 bytes")
    try:
        public_key = Ed25519PublicKey.from_public_bytes(key[1:])
    except ValueError as exc:
        raise MalformedInput(f"{what}: invalid Ed25519 key") from exc
    return name, bytes.fromhex(hash_hex), public_key


def parse_ed25519_skey(text: object, alg: int, what: str) -> tuple[str, str, Ed25519PrivateKey]:
    """Parse ``PRIVATE+KEY+name+hash+base64(alg || 32-byte seed)``: name, hash text and key.

    The caller checks the hash against the key ID of the public key it derives.
    """
    if not isinstance(text, str) or not text.startswith(_PRIVATE_KEY_PREFIX):
        raise MalformedInput(f"{what} must start with PRIVATE+KEY+")
    name, hash_hex, key = split_key_text(text[len(_PRIVATE_KEY_PREFIX) :], what)
    if key[0] != alg:
        raise MalformedInput(
            f"{what}: unsupported signature type {key[0]:#04x}, not a {_ALG_NAMES[alg]} key "
            f"({alg:#04x})"
        )
    if len(key) != 1 + ED25519_KEY_SIZE:
        raise MalformedInput(f"{what}: Ed25519 seed must be 32 bytes")
    try:
        private_key = Ed25519PrivateKey.from_private_bytes(key[1:])
    except ValueError as exc:
        raise MalformedInput(f"{what}: invalid Ed25519 seed") from exc
    return name, hash_hex, private_key


def format_key(name: str, key_id: bytes, alg: int, key: bytes, *, private: bool = False) -> str:
    """``[PRIVATE+KEY+]name+hash+base64(alg || key)``, the text form of a key."""
    prefix = _PRIVATE_KEY_PREFIX if private else ""
    return f"{prefix}{name}+{key_id.hex()}+{b64encode(bytes([alg]) + key)}"


MEMO_MAX_MESSAGE = 4096
"""Signatures of messages up to this many bytes (notes, cosigned bodies) are remembered once they
verify; larger ones (envelope messages, verified once each) are not."""
_MEMO_SIZE = 4096
_memo: dict[tuple[bytes, bytes, bytes], None] = {}
_memo_lock = threading.Lock()


def ed25519_verify(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> None:
    """``public_key.verify(signature, message)`` (raises ``InvalidSignature``), remembering the
    small messages whose signature verified.

    A checkpoint and its cosignatures travel between nodes many times (every push carries the
    cosignatures known so far, every witness answer, every final note); Ed25519 verification is
    deterministic, so a (key, signature, message) triple that verified once verifies again, and
    its exact bytes are the memo's key. Failures are never remembered.
    """
    if len(message) > MEMO_MAX_MESSAGE:
        public_key.verify(signature, message)
        return
    key = (public_key.public_bytes_raw(), signature, message)
    if key in _memo:
        return
    public_key.verify(signature, message)
    with _memo_lock:
        if len(_memo) >= _MEMO_SIZE:
            del _memo[next(iter(_memo))]  # the oldest
        _memo[key] = None


@dataclass(frozen=True)
class Verifier:
    """A trusted Ed25519 note key: its name, 4-byte key ID and public key.

    ``key_id`` must be the ID derived from ``name`` and ``public_key`` (the spec's rule for
    Ed25519); use :meth:`from_public_key` to compute it.
    """

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if not isinstance(self.public_key, Ed25519PublicKey):
            raise MalformedInput("verifier public key must be an Ed25519 public key")
        if not isinstance(self.key_id, bytes) or len(self.key_id) != KEY_ID_SIZE:
            raise MalformedInput("key ID must be 4 bytes")
        if self.key_id != _ed25519_key_id(self.name, self.public_key):
            raise MalformedInput(f"key ID does not match key {self.name}")

    # Public key objects are not hashable: compare and hash by the raw key bytes.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Verifier):
            return NotImplemented
        return (self.name, self.key_id, self.public_key_bytes) == (
            other.name,
            other.key_id,
            other.public_key_bytes,
        )

    def __hash__(self) -> int:
        return hash((self.name, self.key_id, self.public_key_bytes))

    @property
    def public_key_bytes(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return self.public_key.public_bytes_raw()

    @classmethod
    def from_public_key(cls, name: str, public_key: Ed25519PublicKey) -> Verifier:
        """A verifier for ``public_key`` under ``name``, with its key ID computed."""
        check_key_name(name)
        if not isinstance(public_key, Ed25519PublicKey):
            raise MalformedInput("verifier public key must be an Ed25519 public key")
        return cls(name, _ed25519_key_id(name, public_key), public_key)

    @classmethod
    def from_vkey(cls, text: str) -> Verifier:
        """Parse a verifier key ``name+hash+base64(0x01 || 32-byte public key)``.

        The hash must be the 8 lowercase hex digits of the key ID computed from the name and key.
        """
        return cls(*parse_ed25519_vkey(text, ALG_ED25519, "verifier key"))

    def to_vkey(self) -> str:
        """The verifier key text ``name+hash+base64(0x01 || public key)``."""
        return format_key(self.name, self.key_id, ALG_ED25519, self.public_key_bytes)

    def verify(self, message: bytes, signature: bytes, *, remember: bool = True) -> None:
        """Check a raw Ed25519 ``signature`` (without key ID) of ``message``.

        Raises :class:`~accord.errors.SignatureError` if it does not verify. With ``remember``
        (notes: checked again and again) a small message's good signature is remembered
        (:func:`ed25519_verify`); a caller that checks each message once passes False.
        """
        if len(signature) != ED25519_SIGNATURE_SIZE:
            raise SignatureError(f"invalid signature for key {self._label()}: wrong length")
        try:
            if remember:
                ed25519_verify(self.public_key, bytes(signature), bytes(message))
            else:
                self.public_key.verify(bytes(signature), bytes(message))
        except InvalidSignature as exc:
            raise SignatureError(f"invalid signature for key {self._label()}") from exc

    def _label(self) -> str:
        return f"{self.name}+{self.key_id.hex()}"


@dataclass(frozen=True)
class Signer:
    """An Ed25519 note signing key: its name, 4-byte key ID and private key."""

    name: str
    key_id: bytes
    private_key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if not isinstance(self.private_key, Ed25519PrivateKey):
            raise MalformedInput("signer private key must be an Ed25519 private key")
        if not isinstance(self.key_id, bytes) or len(self.key_id) != KEY_ID_SIZE:
            raise MalformedInput("key ID must be 4 bytes")
        if self.key_id != _ed25519_key_id(self.name, self.private_key.public_key()):
            raise MalformedInput(f"key ID does not match key {self.name}")

    def __repr__(self) -> str:  # never show key material
        return f"Signer(name={self.name!r}, key_id={self.key_id.hex()!r})"

    # Private key objects have no equality: two signers are equal when their public keys are.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Signer):
            return NotImplemented
        return self.verifier() == other.verifier()

    def __hash__(self) -> int:
        return hash(self.verifier())

    @classmethod
    def from_private_key(cls, name: str, private_key: Ed25519PrivateKey) -> Signer:
        """A signer for ``private_key`` under ``name``, with its key ID computed."""
        check_key_name(name)
        if not isinstance(private_key, Ed25519PrivateKey):
            raise MalformedInput("signer private key must be an Ed25519 private key")
        return cls(name, _ed25519_key_id(name, private_key.public_key()), private_key)

    @classmethod
    def generate(cls, name: str) -> Signer:
        """A new random Ed25519 key named ``name``."""
        return cls.from_private_key(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_skey(cls, text: str) -> Signer:
        """Parse a signer key ``PRIVATE+KEY+name+hash+base64(0x01 || 32-byte seed)``.

        The hash must match the key ID of the *public* key derived from the seed.
        """
        name, hash_hex, private_key = parse_ed25519_skey(text, ALG_ED25519, "signer key")
        key_id = _ed25519_key_id(name, private_key.public_key())
        if key_id.hex() != hash_hex:
            raise MalformedInput("signer key: hash does not match name and key")
        return cls(name, key_id, private_key)

    def to_skey(self) -> str:
        """The secret signer key text ``PRIVATE+KEY+name+hash+base64(0x01 || seed)``."""
        seed = self.private_key.private_bytes_raw()
        return format_key(self.name, self.key_id, ALG_ED25519, seed, private=True)

    def verifier(self) -> Verifier:
        """The matching :class:`Verifier`."""
        return Verifier(self.name, self.key_id, self.private_key.public_key())

    def sign(self, message: bytes) -> bytes:
        """The raw 64-byte Ed25519 signature of ``message`` (without key ID)."""
        return self.private_key.sign(bytes(message))


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a note: key name, 4-byte key ID and the signature bytes."""

    name: str
    key_id: bytes
    signature: bytes

    def to_line(self) -> str:
        """The signature line, including its final newline."""
        return f"{SIGNATURE_PREFIX}{self.name} {b64encode(self.key_id + self.signature)}\n"


@dataclass(frozen=True)
class VerifiedNote:
    """The text of a note whose signatures checked out.

    ``verified`` lists the signatures from trusted keys (each key once, in note order);
    ``unverified`` keeps the signatures from unknown keys as data (identical lines once).
    """

    text: str
    verified: tuple[NoteSignature, ...]
    unverified: tuple[NoteSignature, ...] = ()

    @property
    def verified_keys(self) -> tuple[tuple[str, bytes], ...]:
        """``(name, key_id)`` of every trusted key whose signature verified."""
        return tuple((s.name, s.key_id) for s in self.verified)


_CONTROL_CHAR = re.compile("[\x00-\x09\x0b-\x1f]")


def _check_note_chars(text: str) -> None:
    found = _CONTROL_CHAR.search(text)
    if found is not None:
        raise MalformedInput(f"note contains control character {ord(found.group()):#04x}")


def sign_note(text: str, *signers: Signer) -> str:
    """Sign ``text`` with each signer and return the signed note.

    ``text`` must be non-empty valid UTF-8 ending in a newline, with no control character other
    than newline. Raises :class:`~accord.errors.MalformedInput` otherwise.
    """
    if not isinstance(text, str):
        raise MalformedInput("note text must be a string")
    if not signers:
        raise MalformedInput("a note needs at least one signature")
    if len(signers) > MAX_SIGNATURES:
        raise MalformedInput(f"a note carries at most {MAX_SIGNATURES} signatures")
    if not text.endswith("\n"):
        raise MalformedInput("note text must end in a newline")
    _check_note_chars(text)
    try:
        message = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedInput("note text is not valid UTF-8") from exc
    lines = []
    for signer in signers:
        if not isinstance(signer, Signer):
            raise MalformedInput("signers must be Signer instances")
        lines.append(NoteSignature(signer.name, signer.key_id, signer.sign(message)).to_line())
    return text + "\n" + "".join(lines)


def _index_verifiers(verifiers: Sequence[Verifier]) -> dict[tuple[str, bytes], Verifier]:
    known: dict[tuple[str, bytes], Verifier] = {}
    for v in verifiers:
        if not isinstance(v, Verifier):
            raise ConfigurationError("verifiers must be Verifier instances")
        key = (v.name, v.key_id)
        other = known.get(key)
        if other is not None and other != v:
            # Two different keys under one name and ID: the trust configuration is ambiguous.
            raise ConfigurationError(f"ambiguous verifier keys for {v.name}+{v.key_id.hex()}")
        known[key] = v
    return known


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise MalformedInput("signature line must start with an em dash and a space")
    name, sep, sig_b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not sep or not _is_valid_key_name(name) or not sig_b64:
        raise MalformedInput("malformed signature line")
    raw = b64decode_canonical(sig_b64, "signature")
    if len(raw) < KEY_ID_SIZE + 1:
        raise MalformedInput("signature too short")
    return NoteSignature(name, raw[:KEY_ID_SIZE], raw[KEY_ID_SIZE:])


def open_note(note: str | bytes, verifiers: Sequence[Verifier]) -> VerifiedNote:
    """Check the signatures of a signed note against ``verifiers``, then return its text.

    Raises :class:`~accord.errors.MalformedInput` if the note does not parse, and
    :class:`~accord.errors.SignatureError` if a signature from a trusted key (same name *and* key
    ID) fails to verify or if no trusted key signed the note. Signatures from other keys are
    ignored and returned in :attr:`VerifiedNote.unverified`.
    """
    known = _index_verifiers(verifiers)
    if isinstance(note, str):
        try:
            message = note.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise MalformedInput("note is not valid UTF-8") from exc
        decoded = note
    elif isinstance(note, bytes | bytearray | memoryview):
        message = bytes(note)
        try:
            decoded = message.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedInput("note is not valid UTF-8") from exc
    else:
        raise MalformedInput("note must be str or bytes")
    _check_note_chars(decoded)

    split = message.rfind(b"\n\n")
    if split < 0:
        raise MalformedInput("note has no blank line before its signatures")
    text_bytes, block = message[: split + 1], message[split + 2 :]
    if not block.endswith(b"\n"):
        raise MalformedInput("signature block must end in a newline")
    lines = block[:-1].decode("utf-8").split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedInput(f"note has more than {MAX_SIGNATURES} signatures")
    parsed = [_parse_signature_line(line) for line in lines]

    verified: list[NoteSignature] = []
    verified_keys: set[tuple[str, bytes]] = set()
    unverified: list[NoteSignature] = []
    for sig in parsed:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            if sig not in unverified:
                unverified.append(sig)
            continue
        # Every line from a trusted key is checked, repeats included: a bad one rejects the note.
        verifier.verify(text_bytes, sig.signature)
        if (sig.name, sig.key_id) not in verified_keys:
            verified_keys.add((sig.name, sig.key_id))
            verified.append(sig)
    if not verified:
        raise SignatureError("note has no valid signature from a trusted key")
    return VerifiedNote(text_bytes.decode("utf-8"), tuple(verified), tuple(unverified))


def note_signatures(note: str) -> tuple[str, tuple[NoteSignature, ...]]:
    """Split a note into its text and signature lines, verifying nothing.

    For code that must know *whose* signatures a note carries before deciding which keys to check
    (a consortium node adding its own signature to a cosigned checkpoint). Never trust the result
    without :func:`open_note`.
    """
    if not isinstance(note, str):
        raise MalformedInput("note must be a string")
    _check_note_chars(note)
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise MalformedInput("note has no blank line before its signatures")
    lines = note[split + 2 : -1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedInput(f"note has more than {MAX_SIGNATURES} signatures")
    return note[: split + 1], tuple(_parse_signature_line(line) for line in lines)
