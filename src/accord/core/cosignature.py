"""C2SP tlog-cosignature v1 (Ed25519): cosigning a checkpoint and checking cosignatures.

A cosignature is a signed-note signature line ``— <cosigner name> base64(key ID || timestamp ||
signature)`` added to a checkpoint. The key ID is ``SHA-256(name || 0x0A || 0x04 || public
key)[:4]``; the 8-byte big-endian ``timestamp`` is when it was made (POSIX seconds, at most
2^63 - 1); the Ed25519 signature covers::

    cosignature/v1
    time <timestamp>
    <the checkpoint's whole note body, final newline included, no signature lines>

It states that, at that time, this was the largest consistent tree the cosigner had seen of the
log. Cosigner keys are read and written as signed-note verifier keys of signature type ``0x04``
(``name+hash+base64(0x04 || public key)``); their private form, an accord convention the spec
leaves open, is ``PRIVATE+KEY+name+hash+base64(0x04 || seed)``.

Only the Ed25519 type is implemented here (not ML-DSA-44 subtree cosignatures). Pure code: no
I/O, and no clock: the time is passed in. Verifiers raise; they never return ``False``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from accord.core.checkpoint import Checkpoint
from accord.core.note import (
    ED25519_SIGNATURE_SIZE,
    KEY_ID_SIZE,
    NoteSignature,
    Verifier,
    check_key_name,
    format_key,
    key_hash,
    open_note,
    parse_ed25519_skey,
    parse_ed25519_vkey,
)
from accord.errors import ConfigurationError, MalformedInput, SignatureError, VerificationError

ALG_COSIGNATURE_V1 = 0x04
"""Signature type byte of Ed25519 cosignatures (c2sp.org/tlog-cosignature)."""

TIMESTAMP_SIZE = 8
MAX_TIMESTAMP = 2**63 - 1
HEADER = b"cosignature/v1\n"


def cosignature_message(note_body: bytes, timestamp: int) -> bytes:
    """The bytes a cosigner signs for a checkpoint whose note body is ``note_body``."""
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        raise MalformedInput("a cosignature timestamp must be an integer")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise MalformedInput(f"a cosignature timestamp must be 0..2^63-1, got {timestamp}")
    if not note_body.endswith(b"\n"):
        raise MalformedInput("a checkpoint body ends in a newline")
    return HEADER + b"time %d\n" % timestamp + note_body


def _key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    return key_hash(name, bytes([ALG_COSIGNATURE_V1]) + public_key.public_bytes_raw())


@dataclass(frozen=True)
class CosignerKey:
    """A cosigner's public key: its name, 4-byte key ID and Ed25519 key."""

    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if not isinstance(self.public_key, Ed25519PublicKey):
            raise MalformedInput("a cosigner key must be an Ed25519 public key")
        if self.key_id != _key_id(self.name, self.public_key):
            raise MalformedInput(f"key ID does not match the cosigner key {self.name}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CosignerKey):
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
        return self.public_key.public_bytes_raw()

    @classmethod
    def from_vkey(cls, text: str) -> CosignerKey:
        """Parse ``name+hash+base64(0x04 || 32-byte Ed25519 public key)``."""
        return cls(*parse_ed25519_vkey(text, ALG_COSIGNATURE_V1, "cosigner key"))

    def to_vkey(self) -> str:
        return format_key(self.name, self.key_id, ALG_COSIGNATURE_V1, self.public_key_bytes)

    def verify(self, note_body: bytes, signature: NoteSignature) -> int:
        """Check one cosignature line of a checkpoint whose body is ``note_body``.

        Returns the cosignature's timestamp. Raises :class:`~accord.errors.SignatureError` if the
        line is not this cosigner's or does not verify, :class:`MalformedInput` if it is not the
        size of a cosignature.
        """
        if (signature.name, signature.key_id) != (self.name, self.key_id):
            raise SignatureError(f"the signature line is not from cosigner {self.name}")
        raw = signature.signature
        if len(raw) != TIMESTAMP_SIZE + ED25519_SIGNATURE_SIZE:
            raise MalformedInput(
                f"a cosignature of {self.name} is {TIMESTAMP_SIZE + ED25519_SIGNATURE_SIZE} "
                f"bytes after the key ID, not {len(raw)}"
            )
        timestamp = int.from_bytes(raw[:TIMESTAMP_SIZE], "big")
        message = cosignature_message(note_body, timestamp)  # refuses timestamps over 2^63-1
        try:
            self.public_key.verify(raw[TIMESTAMP_SIZE:], message)
        except InvalidSignature:
            raise SignatureError(f"the cosignature of {self.name} does not verify") from None
        return timestamp


@dataclass(frozen=True)
class Cosigner:
    """A cosigner's signing key."""

    name: str
    private_key: Ed25519PrivateKey

    def __post_init__(self) -> None:
        if not isinstance(self.private_key, Ed25519PrivateKey):
            raise MalformedInput("a cosigner key must be an Ed25519 private key")
        self.key()  # checks the name

    def __repr__(self) -> str:  # never show key material
        return f"Cosigner(name={self.name!r})"

    @classmethod
    def generate(cls, name: str) -> Cosigner:
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_skey(cls, text: str) -> Cosigner:
        """Parse ``PRIVATE+KEY+name+hash+base64(0x04 || 32-byte seed)``."""
        name, hash_hex, private_key = parse_ed25519_skey(
            text, ALG_COSIGNATURE_V1, "cosigner signing key"
        )
        cosigner = cls(name, private_key)
        if cosigner.key().key_id.hex() != hash_hex:
            raise MalformedInput("cosigner signing key: hash does not match name and key")
        return cosigner

    def to_skey(self) -> str:
        seed = self.private_key.private_bytes_raw()
        return format_key(self.name, self.key().key_id, ALG_COSIGNATURE_V1, seed, private=True)

    def key(self) -> CosignerKey:
        public_key = self.private_key.public_key()
        check_key_name(self.name)
        return CosignerKey(self.name, _key_id(self.name, public_key), public_key)

    def cosign(self, note_body: str, timestamp: int) -> NoteSignature:
        """The cosignature line for a checkpoint body, made at ``timestamp``.

        The caller must first have checked that this checkpoint is consistent with (and not
        smaller than) the last one it cosigned for the log: that check is the cosignature's
        meaning, and the state it needs is the caller's.
        """
        if not isinstance(note_body, str):
            raise MalformedInput("a checkpoint body is text")
        Checkpoint.from_text(note_body)  # only ever cosign something that is a checkpoint
        try:
            body = note_body.encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedInput("a checkpoint body must be valid Unicode") from None
        signature = self.private_key.sign(cosignature_message(body, timestamp))
        return NoteSignature(
            self.name, self.key().key_id, timestamp.to_bytes(TIMESTAMP_SIZE, "big") + signature
        )


def add_signatures(note: str, signatures: Sequence[NoteSignature]) -> str:
    """``note`` with extra signature lines appended (a repeated line is added once)."""
    if not note.endswith("\n") or "\n\n" not in note:
        raise MalformedInput("not a signed note")
    lines = note.split("\n\n")[-1].splitlines(keepends=True)
    out = note
    for sig in signatures:
        line = sig.to_line()
        if line not in lines:
            out += line
            lines.append(line)
    return out


@dataclass(frozen=True)
class CosignedCheckpoint:
    """A checkpoint signed by its log, and the cosigners whose cosignatures verified."""

    checkpoint: Checkpoint
    note_body: str
    cosigned: Mapping[str, int]  # cosigner name → newest timestamp (names may repeat: see keys)
    verified_keys: frozenset[tuple[str, bytes]] = frozenset()  # (name, key ID) that verified


def open_cosigned_checkpoint(
    note: str | bytes,
    log: Verifier,
    cosigners: Sequence[CosignerKey],
    *,
    not_after: int | None = None,
) -> CosignedCheckpoint:
    """Verify the log's signature, then every cosignature from a known cosigner.

    Raises :class:`~accord.errors.SignatureError` if the log did not sign it or a line from a
    known cosigner does not verify (as for any trusted key of a signed note); cosignatures from
    unknown keys are ignored. With ``not_after`` (POSIX seconds), a cosignature dated later is
    not counted, as the spec allows.
    """
    opened = open_note(note, [log])
    checkpoint = Checkpoint.from_text(opened.text)
    if checkpoint.origin != log.name:
        raise VerificationError(f"checkpoint origin {checkpoint.origin!r} is not {log.name!r}")
    known: dict[tuple[str, bytes], CosignerKey] = {}
    for key in cosigners:
        if not isinstance(key, CosignerKey):
            raise MalformedInput("cosigner keys must be CosignerKey values")
        other = known.get((key.name, key.key_id))
        if other is not None and other != key:
            # A line names its key by (name, key ID) only: two keys there make trust ambiguous.
            raise ConfigurationError(f"ambiguous cosigner keys for {key.name}+{key.key_id.hex()}")
        known[(key.name, key.key_id)] = key
    body = opened.text.encode("utf-8")
    cosigned: dict[str, int] = {}
    verified: set[tuple[str, bytes]] = set()
    for sig in opened.unverified:
        cosigner = known.get((sig.name, sig.key_id))
        if cosigner is None:
            continue
        timestamp = cosigner.verify(body, sig)
        if not_after is not None and timestamp > not_after:
            continue  # dated in the future: not counted (one skewed clock fails no checkpoint)
        # Two valid cosignatures of one cosigner (made at two times): the newer one stands.
        cosigned[cosigner.name] = max(timestamp, cosigned.get(cosigner.name, 0))
        verified.add((cosigner.name, cosigner.key_id))
    return CosignedCheckpoint(checkpoint, opened.text, cosigned, frozenset(verified))


__all__ = [
    "ALG_COSIGNATURE_V1",
    "KEY_ID_SIZE",
    "MAX_TIMESTAMP",
    "CosignedCheckpoint",
    "Cosigner",
    "CosignerKey",
    "add_signatures",
    "cosignature_message",
    "open_cosigned_checkpoint",
]
