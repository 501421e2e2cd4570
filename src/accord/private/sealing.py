"""Sealing a private entry's contents to its reader organizations (``docs/formats.md`` §20).

``seal`` draws a fresh 32-byte salt and data key, encrypts ``{"contents", "salt"}`` with
AES-256-GCM under the data key, and wraps the data key for every reader organization's X25519
key with HPKE (RFC 9180, base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, as
implemented by ``cryptography``). ``open_sealed`` undoes it with one reader's private key and
checks the contents against the entry's commitment.

Whoever holds a reader organization's private key reads every entry sealed to it: the key is the
organization's, kept 0600 in each of its nodes' data directories (:mod:`accord.private.keys`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from accord.core.canonical import canonicalize, parse_canonical
from accord.core.private import (
    SALT_BYTES,
    SEALED_FORMAT,
    SEALED_SUITE,
    PrivateRecord,
    check_commitment,
    commitment,
    key_id,
)
from accord.errors import AccordError, MalformedInput, VerificationError

SUITE = SEALED_SUITE
_HPKE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_DOMAIN = SEALED_FORMAT.encode() + b"\x00"


def _info(collection_id: str, member: str) -> bytes:
    return _DOMAIN + collection_id.encode() + b"\x00" + member.encode()


def _aad(collection_id: str, commitment_hex: str) -> bytes:
    return _DOMAIN + collection_id.encode() + b"\x00" + commitment_hex.encode()


@dataclass(frozen=True)
class Sealed:
    """A sealed write: the public record every node keeps and the bytes only readers keep."""

    record: PrivateRecord
    sealed: bytes
    salt: bytes


def seal(contents: str, collection_id: str, readers: Mapping[str, bytes]) -> Sealed:
    """Seal ``contents`` of a private entry of ``collection_id`` to ``readers`` (member name →
    raw X25519 public key)."""
    if not readers:
        raise MalformedInput("a private collection has at least one reader")
    salt = os.urandom(SALT_BYTES)
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    committed = commitment(salt, contents.encode("utf-8")).hex()
    plaintext = canonicalize({"contents": contents, "salt": salt.hex()})
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, _aad(collection_id, committed))
    wrapped = []
    for member in sorted(readers):
        public = X25519PublicKey.from_public_bytes(readers[member])
        enc = _HPKE.encrypt(data_key, public, info=_info(collection_id, member))
        wrapped.append(
            {
                "key": base64.b64encode(enc).decode(),
                "keyId": key_id(readers[member]),
                "member": member,
            }
        )
    sealed = canonicalize(
        {
            "ciphertext": base64.b64encode(ciphertext).decode(),
            "format": SEALED_FORMAT,
            "nonce": base64.b64encode(nonce).decode(),
            "suite": SUITE,
            "wrapped": wrapped,
        }
    )
    record = PrivateRecord(collection_id, committed, hashlib.sha256(sealed).hexdigest())
    return Sealed(record, sealed, salt)


def _b64(obj: Mapping[str, object], key: str) -> bytes:
    value = obj.get(key)
    if not isinstance(value, str):
        raise MalformedInput(f"sealed contents: {key} is base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedInput(f"sealed contents: {key} is not valid base64") from None


def open_sealed(
    sealed: bytes, record: PrivateRecord, member: str, keys: Mapping[str, X25519PrivateKey]
) -> tuple[str, bytes]:
    """The contents and salt sealed in ``sealed``, opened with ``member``'s private keys (by key
    id). Raises :class:`VerificationError` if the bytes are not the record's, no key of
    ``member`` opens them, or what they hold does not match the record's commitment."""
    if hashlib.sha256(sealed).hexdigest() != record.sealed_sha256:
        raise VerificationError("the sealed contents are not the ones the entry's record names")
    try:
        obj = parse_canonical(sealed)
    except AccordError as exc:
        raise VerificationError(f"the sealed contents do not parse: {exc}") from None
    if not isinstance(obj, dict) or obj.get("format") != SEALED_FORMAT or obj.get("suite") != SUITE:
        raise VerificationError(f"the sealed contents are not {SEALED_FORMAT} with suite {SUITE}")
    wrapped = obj.get("wrapped")
    if not isinstance(wrapped, list):
        raise VerificationError("the sealed contents have no wrapped keys")
    mine = [w for w in wrapped if isinstance(w, dict) and w.get("member") == member]
    if not mine:
        raise VerificationError(f"the contents were not sealed to {member}")
    slot = mine[0]
    private = keys.get(str(slot.get("keyId")))
    if private is None:
        raise VerificationError(
            f"the contents were sealed to {member}'s key {slot.get('keyId')}, which this node "
            "does not hold"
        )
    try:
        data_key = _HPKE.decrypt(
            _b64(slot, "key"), private, info=_info(record.collection_id, member)
        )
        plaintext = AESGCM(data_key).decrypt(
            _b64(obj, "nonce"),
            _b64(obj, "ciphertext"),
            _aad(record.collection_id, record.commitment),
        )
        inner = parse_canonical(plaintext)
    except (InvalidTag, ValueError, AccordError) as exc:
        raise VerificationError(f"the sealed contents do not open: {exc or 'bad tag'}") from None
    if not isinstance(inner, dict) or set(inner) != {"contents", "salt"}:
        raise VerificationError("the sealed contents hold no contents and salt")
    contents, salt_hex = inner["contents"], inner["salt"]
    if not isinstance(contents, str) or not isinstance(salt_hex, str) or len(salt_hex) != 64:
        raise VerificationError("the sealed contents hold no contents and salt")
    try:
        salt = bytes.fromhex(salt_hex)
    except ValueError:
        raise VerificationError("the sealed salt is not hex") from None
    check_commitment(record.commitment, salt, contents.encode("utf-8"))
    return contents, salt
