"""C2SP tlog-cosignature: cosigning a checkpoint and checking cosignatures (Ed25519, ML-DSA-44).

A cosignature is a signed-note signature line ``— <cosigner name> base64(key ID || timestamp ||
signature)`` added to a checkpoint. The 8-byte big-endian ``timestamp`` is when it was made (POSIX
seconds, at most 2^63 - 1). The spec defines two types; both are implemented here.

**Ed25519** (``cosignature/v1``): the key ID is ``SHA-256(name || 0x0A || 0x04 || public
key)[:4]`` and the 64-byte signature covers::

    cosignature/v1
    time <timestamp>
    <the checkpoint's whole note body, final newline included, no signature lines>

**ML-DSA-44** (``subtree/v1``): the key ID is ``SHA-256(name || 0x0A || 0x06 || 1312-byte public
key)[:4]`` and the 2420-byte FIPS 204 signature (pure ML-DSA, empty context) covers the binary
``cosigned_message`` of :func:`subtree_message`, which commits to the cosigner's name, the
timestamp, the origin, the leaf range ``[start, end)`` (``[0, size)`` for a checkpoint) and the
root hash, but not to a checkpoint's extension lines.

Either states that this tree is consistent with everything the cosigner has seen of the log and,
with a non-zero timestamp, that at that time it was the largest such tree. Cosigner keys are read
and written as signed-note verifier keys of signature type ``0x04`` or ``0x06``
(``name+hash+base64(type || public key)``); their private form, an accord convention the spec
leaves open, is ``PRIVATE+KEY+name+hash+base64(type || 32-byte seed)`` (the Ed25519 seed, or the
FIPS 204 ML-DSA seed ξ).

Subtrees with ``start > 0`` have a message here (:func:`subtree_message`) but no checkpoint form,
so nothing signs or verifies them as notes. Pure code: no I/O, and no clock: the time is passed
in. Verifiers raise; they never return ``False``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA44PrivateKey, MLDSA44PublicKey

from accord.core.checkpoint import Checkpoint
from accord.core.note import (
    ED25519_SIGNATURE_SIZE,
    KEY_ID_SIZE,
    NoteSignature,
    Verifier,
    check_key_name,
    ed25519_verify,
    format_key,
    key_hash,
    open_note,
    parse_ed25519_skey,
    parse_ed25519_vkey,
    split_key_text,
)
from accord.errors import ConfigurationError, MalformedInput, SignatureError, VerificationError

ALG_COSIGNATURE_V1 = 0x04
"""Signature type byte of Ed25519 cosignatures (c2sp.org/tlog-cosignature)."""

ALG_COSIGNATURE_MLDSA44 = 0x06
"""Signature type byte of ML-DSA-44 (subtree/v1) cosignatures (c2sp.org/tlog-cosignature)."""

TIMESTAMP_SIZE = 8
MAX_TIMESTAMP = 2**63 - 1
HEADER = b"cosignature/v1\n"

SUBTREE_LABEL = b"subtree/v1\n\x00"
"""The 12-byte label that starts every ML-DSA-44 ``cosigned_message``."""
MLDSA44_PUBLIC_KEY_SIZE = 1312
MLDSA44_SIGNATURE_SIZE = 2420
MLDSA44_SEED_SIZE = 32
MAX_TREE_INDEX = 2**64 - 1
_PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"


def _check_timestamp(timestamp: object) -> int:
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        raise MalformedInput("a cosignature timestamp must be an integer")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise MalformedInput(f"a cosignature timestamp must be 0..2^63-1, got {timestamp}")
    return timestamp


def cosignature_message(note_body: bytes, timestamp: int) -> bytes:
    """The bytes a cosigner signs for a checkpoint whose note body is ``note_body``."""
    _check_timestamp(timestamp)
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
            ed25519_verify(self.public_key, raw[TIMESTAMP_SIZE:], message)
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


def _short_opaque(value: object, what: str) -> bytes:
    """``opaque value<1..2^8-1>``: a one-byte length, then the UTF-8 bytes."""
    if not isinstance(value, str):
        raise MalformedInput(f"the {what} is text")
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedInput(f"the {what} must be valid Unicode") from None
    if not 1 <= len(raw) <= 255:
        raise MalformedInput(f"the {what} must be 1 to 255 bytes, not {len(raw)}")
    return bytes([len(raw)]) + raw


def subtree_message(
    name: str, timestamp: int, origin: str, start: int, end: int, hash: bytes
) -> bytes:
    """The ML-DSA-44 ``cosigned_message`` (``subtree/v1``) a cosigner signs.

    ``label[12] || opaque name<1..255> || u64 timestamp || opaque origin<1..255> || u64 start ||
    u64 end || hash[32]``, integers big-endian. For a checkpoint ``start`` is 0, ``end`` the tree
    size and ``hash`` its root; a subtree with ``start > 0`` must have timestamp 0 (the spec).
    """
    stamp = _check_timestamp(timestamp)
    for value, what in ((start, "start"), (end, "end")):
        if not isinstance(value, int) or isinstance(value, bool):
            raise MalformedInput(f"a subtree {what} must be an integer")
        if not 0 <= value <= MAX_TREE_INDEX:
            raise MalformedInput(f"a subtree {what} must be 0..2^64-1, got {value}")
    if start > end or (start == end and start != 0):
        raise MalformedInput(f"a subtree [{start}, {end}) holds no leaf")
    if start != 0 and stamp != 0:
        raise MalformedInput("a subtree that does not start at 0 is cosigned with timestamp 0")
    if not isinstance(hash, bytes) or len(hash) != 32:
        raise MalformedInput("a subtree hash is 32 bytes")
    return b"".join(
        [
            SUBTREE_LABEL,
            _short_opaque(name, "cosigner name"),
            stamp.to_bytes(8, "big"),
            _short_opaque(origin, "log origin"),
            start.to_bytes(8, "big"),
            end.to_bytes(8, "big"),
            hash,
        ]
    )


def _checkpoint_message(name: str, timestamp: int, checkpoint: Checkpoint) -> bytes:
    return subtree_message(
        name, timestamp, checkpoint.origin, 0, checkpoint.size, checkpoint.root_hash
    )


def _mldsa_key_id(name: str, public_key: MLDSA44PublicKey) -> bytes:
    return key_hash(name, bytes([ALG_COSIGNATURE_MLDSA44]) + public_key.public_bytes_raw())


def _mldsa_key_material(text: object, what: str, *, private: bool) -> tuple[str, str, bytes]:
    """Split a 0x06 key text: name, hash text and the key bytes after the type byte."""
    if not isinstance(text, str):
        raise MalformedInput(f"{what} must be a string")
    if private:
        if not text.startswith(_PRIVATE_KEY_PREFIX):
            raise MalformedInput(f"{what} must start with PRIVATE+KEY+")
        text = text[len(_PRIVATE_KEY_PREFIX) :]
    name, hash_hex, key = split_key_text(text, what)
    if key[0] != ALG_COSIGNATURE_MLDSA44:
        raise MalformedInput(
            f"{what}: unsupported signature type {key[0]:#04x}, not an ML-DSA-44 cosigner key "
            f"({ALG_COSIGNATURE_MLDSA44:#04x})"
        )
    size = MLDSA44_SEED_SIZE if private else MLDSA44_PUBLIC_KEY_SIZE
    if len(key) != 1 + size:
        kind = "seed" if private else "public key"
        raise MalformedInput(f"{what}: an ML-DSA-44 {kind} is {size} bytes, not {len(key) - 1}")
    return name, hash_hex, key[1:]


@dataclass(frozen=True)
class MLDSACosignerKey:
    """An ML-DSA-44 cosigner's public key: its name, 4-byte key ID and public key."""

    name: str
    key_id: bytes
    public_key: MLDSA44PublicKey

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if not isinstance(self.public_key, MLDSA44PublicKey):
            raise MalformedInput("an ML-DSA cosigner key must be an ML-DSA-44 public key")
        if self.key_id != _mldsa_key_id(self.name, self.public_key):
            raise MalformedInput(f"key ID does not match the cosigner key {self.name}")

    # Public key objects are not hashable: compare and hash by the raw key bytes.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MLDSACosignerKey):
            return NotImplemented
        return (self.name, self.key_id, self.public_key_bytes) == (
            other.name,
            other.key_id,
            other.public_key_bytes,
        )

    def __hash__(self) -> int:
        return hash((self.name, self.key_id, self.public_key_bytes))

    def __repr__(self) -> str:  # 1312 bytes of key say nothing to a reader; the ID does
        return f"MLDSACosignerKey(name={self.name!r}, key_id={self.key_id.hex()!r})"

    @property
    def public_key_bytes(self) -> bytes:
        return self.public_key.public_bytes_raw()

    @classmethod
    def from_public_key(cls, name: str, public_key: MLDSA44PublicKey) -> MLDSACosignerKey:
        """The cosigner key for ``public_key`` under ``name``, with its key ID computed."""
        check_key_name(name)
        if not isinstance(public_key, MLDSA44PublicKey):
            raise MalformedInput("an ML-DSA cosigner key must be an ML-DSA-44 public key")
        return cls(name, _mldsa_key_id(name, public_key), public_key)

    @classmethod
    def from_vkey(cls, text: str) -> MLDSACosignerKey:
        """Parse ``name+hash+base64(0x06 || 1312-byte ML-DSA-44 public key)``."""
        what = "ML-DSA cosigner key"
        name, hash_hex, raw = _mldsa_key_material(text, what, private=False)
        try:
            public_key = MLDSA44PublicKey.from_public_bytes(raw)
        except ValueError:
            raise MalformedInput(f"{what}: invalid ML-DSA-44 public key") from None
        key = cls.from_public_key(name, public_key)
        if key.key_id.hex() != hash_hex:
            raise MalformedInput(f"{what}: hash does not match name and key")
        return key

    def to_vkey(self) -> str:
        return format_key(self.name, self.key_id, ALG_COSIGNATURE_MLDSA44, self.public_key_bytes)

    def verify(self, note_body: bytes, signature: NoteSignature) -> int:
        """Check one ML-DSA-44 cosignature line of a checkpoint whose body is ``note_body``.

        Returns the cosignature's timestamp (0 when the cosigner states consistency only). Raises
        :class:`~accord.errors.SignatureError` if the line is not this cosigner's or does not
        verify, :class:`MalformedInput` if it is not the size of one or the body is no
        checkpoint. The signed message holds the origin, size and root, not extension lines.
        """
        if (signature.name, signature.key_id) != (self.name, self.key_id):
            raise SignatureError(f"the signature line is not from cosigner {self.name}")
        raw = signature.signature
        if len(raw) != TIMESTAMP_SIZE + MLDSA44_SIGNATURE_SIZE:
            raise MalformedInput(
                f"an ML-DSA-44 cosignature of {self.name} is "
                f"{TIMESTAMP_SIZE + MLDSA44_SIGNATURE_SIZE} bytes after the key ID, not {len(raw)}"
            )
        timestamp = int.from_bytes(raw[:TIMESTAMP_SIZE], "big")
        if not isinstance(note_body, bytes):
            raise MalformedInput("a checkpoint body is bytes")
        try:
            text = note_body.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedInput("a checkpoint body must be valid UTF-8") from None
        message = _checkpoint_message(self.name, timestamp, Checkpoint.from_text(text))
        try:
            self.public_key.verify(raw[TIMESTAMP_SIZE:], message)  # pure ML-DSA, empty context
        except InvalidSignature:
            raise SignatureError(f"the cosignature of {self.name} does not verify") from None
        return timestamp


@dataclass(frozen=True, eq=False)
class MLDSACosigner:
    """An ML-DSA-44 cosigner's signing key."""

    name: str
    private_key: MLDSA44PrivateKey

    def __post_init__(self) -> None:
        if not isinstance(self.private_key, MLDSA44PrivateKey):
            raise MalformedInput("an ML-DSA cosigner key must be an ML-DSA-44 private key")
        self.key()  # checks the name

    def __repr__(self) -> str:  # never show key material
        return f"MLDSACosigner(name={self.name!r})"

    # Private key objects have no equality: two cosigners are equal when their public keys are.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MLDSACosigner):
            return NotImplemented
        return self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    @classmethod
    def generate(cls, name: str) -> MLDSACosigner:
        return cls(name, MLDSA44PrivateKey.generate())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> MLDSACosigner:
        """The cosigner whose FIPS 204 key-generation seed is the 32 bytes ``seed``."""
        if not isinstance(seed, bytes) or len(seed) != MLDSA44_SEED_SIZE:
            raise MalformedInput(f"an ML-DSA-44 seed is {MLDSA44_SEED_SIZE} bytes")
        return cls(name, MLDSA44PrivateKey.from_seed_bytes(seed))

    @classmethod
    def from_skey(cls, text: str) -> MLDSACosigner:
        """Parse ``PRIVATE+KEY+name+hash+base64(0x06 || 32-byte seed)``.

        The hash must be the key ID of the *public* key derived from the seed.
        """
        what = "ML-DSA cosigner signing key"
        name, hash_hex, seed = _mldsa_key_material(text, what, private=True)
        cosigner = cls.from_seed(name, seed)
        if cosigner.key().key_id.hex() != hash_hex:
            raise MalformedInput(f"{what}: hash does not match name and key")
        return cosigner

    def to_skey(self) -> str:
        seed = self.private_key.private_bytes_raw()
        return format_key(self.name, self.key().key_id, ALG_COSIGNATURE_MLDSA44, seed, private=True)

    def key(self) -> MLDSACosignerKey:
        return MLDSACosignerKey.from_public_key(self.name, self.private_key.public_key())

    def cosign(self, note_body: str, timestamp: int) -> NoteSignature:
        """The ML-DSA-44 cosignature line for a checkpoint body, made at ``timestamp`` (>= 1).

        A witness's cosignature states the tree was the largest it had seen at that time, so the
        timestamp is not 0. As for :meth:`Cosigner.cosign`, the caller must first have checked
        that this checkpoint is consistent with the last one it cosigned for the log.
        """
        if not isinstance(note_body, str):
            raise MalformedInput("a checkpoint body is text")
        checkpoint = Checkpoint.from_text(note_body)  # only ever cosign a checkpoint
        if _check_timestamp(timestamp) == 0:
            raise MalformedInput("a witness cosignature has a timestamp after 0")
        message = _checkpoint_message(self.name, timestamp, checkpoint)
        signature = self.private_key.sign(message)  # pure ML-DSA-44, empty context
        return NoteSignature(
            self.name, self.key().key_id, timestamp.to_bytes(TIMESTAMP_SIZE, "big") + signature
        )


AnyCosignerKey = CosignerKey | MLDSACosignerKey
"""A cosigner's public key of either type."""


def cosigner_key_from_vkey(text: str) -> AnyCosignerKey:
    """Parse a cosigner verifier key of type ``0x04`` (Ed25519) or ``0x06`` (ML-DSA-44)."""
    if not isinstance(text, str):
        raise MalformedInput("cosigner key must be a string")
    _name, _hash, key = split_key_text(text, "cosigner key")
    if key[0] == ALG_COSIGNATURE_V1:
        return CosignerKey.from_vkey(text)
    if key[0] == ALG_COSIGNATURE_MLDSA44:
        return MLDSACosignerKey.from_vkey(text)
    raise MalformedInput(
        f"cosigner key: unsupported signature type {key[0]:#04x}, not a cosignature/v1 key "
        f"({ALG_COSIGNATURE_V1:#04x}) or an ML-DSA-44 cosigner key ({ALG_COSIGNATURE_MLDSA44:#04x})"
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
    cosigners: Sequence[AnyCosignerKey],
    *,
    not_after: int | None = None,
) -> CosignedCheckpoint:
    """Verify the log's signature, then every cosignature from a known cosigner.

    Raises :class:`~accord.errors.SignatureError` if the log did not sign it or a line from a
    known cosigner does not verify (as for any trusted key of a signed note); cosignatures from
    unknown keys are ignored. ``cosigners`` may mix Ed25519 and ML-DSA-44 keys. With ``not_after`` (POSIX seconds), a cosignature dated later is
    not counted, as the spec allows.
    """
    opened = open_note(note, [log])
    checkpoint = Checkpoint.from_text(opened.text)
    if checkpoint.origin != log.name:
        raise VerificationError(f"checkpoint origin {checkpoint.origin!r} is not {log.name!r}")
    known: dict[tuple[str, bytes], AnyCosignerKey] = {}
    for key in cosigners:
        if not isinstance(key, CosignerKey | MLDSACosignerKey):
            raise MalformedInput("cosigner keys must be CosignerKey or MLDSACosignerKey values")
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
    "ALG_COSIGNATURE_MLDSA44",
    "ALG_COSIGNATURE_V1",
    "KEY_ID_SIZE",
    "MAX_TIMESTAMP",
    "MLDSA44_PUBLIC_KEY_SIZE",
    "MLDSA44_SIGNATURE_SIZE",
    "SUBTREE_LABEL",
    "AnyCosignerKey",
    "CosignedCheckpoint",
    "Cosigner",
    "CosignerKey",
    "MLDSACosigner",
    "MLDSACosignerKey",
    "add_signatures",
    "cosignature_message",
    "cosigner_key_from_vkey",
    "open_cosigned_checkpoint",
    "subtree_message",
]
