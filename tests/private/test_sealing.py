"""Sealing private contents to reader organizations (accord.private.sealing) and their keys
(accord.private.keys): every reader opens, nobody else does, and no byte can be changed."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.core.canonical import canonicalize, parse_canonical
from accord.core.private import PrivateRecord, check_sealed_slots, commitment, key_id
from accord.errors import ConfigurationError, MalformedInput, VerificationError
from accord.private import keys
from accord.private.sealing import SEALED_FORMAT, SUITE, Sealed, open_sealed, seal

READERS = ("org-a", "org-b", "org-c")
PRIVATE = {name: X25519PrivateKey.generate() for name in (*READERS, "org-x")}


def public(name: str) -> bytes:
    return keys.public_bytes(PRIVATE[name])


def ring(name: str) -> dict[str, X25519PrivateKey]:
    key = PRIVATE[name]
    return {key_id(keys.public_bytes(key)): key}


def sealed_to(
    contents: str, readers: tuple[str, ...] = READERS, collection: str = "prices"
) -> Sealed:
    return seal(contents, collection, {r: public(r) for r in readers})


def reseal(obj: dict[str, object], record: PrivateRecord) -> tuple[bytes, PrivateRecord]:
    """``obj`` encoded as sealed bytes, with a record naming them (so that the hash check
    passes and the check under test is the cryptography's)."""
    data = canonicalize(obj)
    return data, replace(record, sealed_sha256=hashlib.sha256(data).hexdigest())


def _flip(b64: str, index: int = 0) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[index % len(raw)] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


# --- sealing and opening ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "contents",
    [
        "price of part 7: 12.50",
        "",
        "€ 12,50 — 価格 — цена — 🚚📦",
        "e\u0301 (combining), \u0000 nul, \u001f unit separator, \t\n\r",
        '{"json": ["inside", 1, true]}',
        "x" * 100_000,
    ],
)
def test_every_reader_opens(contents: str) -> None:
    sealed = sealed_to(contents)
    assert sealed.record.collection_id == "prices"
    assert sealed.record.commitment == commitment(sealed.salt, contents.encode()).hex()
    assert sealed.record.sealed_sha256 == hashlib.sha256(sealed.sealed).hexdigest()
    for reader in READERS:
        assert open_sealed(sealed.sealed, sealed.record, reader, ring(reader)) == (
            contents,
            sealed.salt,
        )


def test_the_sealed_format() -> None:
    sealed = sealed_to("hello")
    obj = parse_canonical(sealed.sealed)  # canonical JSON
    assert isinstance(obj, dict)
    assert set(obj) == {"ciphertext", "format", "nonce", "suite", "wrapped"}
    assert obj["format"] == SEALED_FORMAT == "accord.sealed.v1"
    assert obj["suite"] == SUITE
    assert len(base64.b64decode(str(obj["nonce"]))) == 12
    wrapped = obj["wrapped"]
    assert isinstance(wrapped, list)
    assert [w["member"] for w in wrapped] == sorted(READERS)
    assert [w["keyId"] for w in wrapped] == [key_id(public(r)) for r in sorted(READERS)]
    # neither the contents nor the salt appear in the clear
    assert b"hello" not in sealed.sealed and sealed.salt.hex().encode() not in sealed.sealed


def test_what_seal_makes_passes_the_appliers_slot_check() -> None:
    """The applier checks sealed bytes without any key (accord.core.private.check_sealed_slots):
    every honest seal passes it, for any set of readers given in any order."""
    for readers in (READERS, ("org-c", "org-a"), ("org-b",)):
        sealed = sealed_to("hello", readers)
        check_sealed_slots(sealed.sealed, {r: public(r) for r in readers})
        with pytest.raises(MalformedInput, match="not to every reader"):
            check_sealed_slots(sealed.sealed, {r: public(r) for r in (*readers, "org-x")})
    # a reader's rotated key: the bytes sealed to the old one are no longer accepted
    sealed = sealed_to("hello", ("org-a", "org-b"))
    with pytest.raises(MalformedInput, match="not its current encryption key"):
        check_sealed_slots(sealed.sealed, {"org-a": public("org-a"), "org-b": public("org-x")})


def test_each_seal_draws_a_fresh_salt_and_key() -> None:
    one, two = sealed_to("same"), sealed_to("same")
    assert one.salt != two.salt
    assert one.record.commitment != two.record.commitment
    assert one.sealed != two.sealed


def test_a_non_reader_cannot_open() -> None:
    sealed = sealed_to("secret", ("org-a", "org-b"))
    with pytest.raises(VerificationError, match="not sealed to org-c"):
        open_sealed(sealed.sealed, sealed.record, "org-c", ring("org-c"))
    # an outsider claiming to be a reader, with its own key, does not hold the reader's key
    with pytest.raises(VerificationError, match="does not hold"):
        open_sealed(sealed.sealed, sealed.record, "org-a", ring("org-x"))
    # nor does a key ring under the right key id but the wrong key
    stolen_id = {key_id(public("org-a")): PRIVATE["org-x"]}
    with pytest.raises(VerificationError, match="do not open"):
        open_sealed(sealed.sealed, sealed.record, "org-a", stolen_id)


def test_one_readers_key_does_not_open_anothers_slot() -> None:
    sealed = sealed_to("secret", ("org-a", "org-b"))
    obj = json.loads(sealed.sealed)
    # org-b relabels org-a's slot as its own: the HPKE info names the member, and the key differs
    a_slot = next(w for w in obj["wrapped"] if w["member"] == "org-a")
    obj["wrapped"] = [dict(a_slot, member="org-b", keyId=key_id(public("org-b")))]
    data, record = reseal(obj, sealed.record)
    with pytest.raises(VerificationError):
        open_sealed(data, record, "org-b", ring("org-b"))


def test_seal_needs_a_reader() -> None:
    with pytest.raises(MalformedInput):
        seal("x", "prices", {})


# --- tampering ----------------------------------------------------------------------------------


def test_the_sealed_bytes_must_be_the_records() -> None:
    sealed = sealed_to("secret")
    changed = sealed.sealed[:-1] + b" "
    with pytest.raises(VerificationError, match="record names"):
        open_sealed(changed, sealed.record, "org-a", ring("org-a"))


@pytest.mark.parametrize("byte", [0, 5, 16, -1])
def test_a_flipped_ciphertext_byte_is_refused(byte: int) -> None:
    sealed = sealed_to("secret contents")
    obj = json.loads(sealed.sealed)
    obj["ciphertext"] = _flip(obj["ciphertext"], byte)
    data, record = reseal(obj, sealed.record)
    with pytest.raises(VerificationError, match="do not open"):
        open_sealed(data, record, "org-a", ring("org-a"))


def test_a_changed_nonce_is_refused() -> None:
    sealed = sealed_to("secret")
    obj = json.loads(sealed.sealed)
    for nonce in (_flip(obj["nonce"]), base64.b64encode(bytes(8)).decode(), "", "!!"):
        data, record = reseal(dict(obj, nonce=nonce), sealed.record)
        with pytest.raises(VerificationError):
            open_sealed(data, record, "org-a", ring("org-a"))


@pytest.mark.parametrize("byte", [0, 31, 32, 40, -1])
def test_a_changed_wrapped_key_is_refused(byte: int) -> None:
    sealed = sealed_to("secret")
    obj = json.loads(sealed.sealed)
    obj["wrapped"][0]["key"] = _flip(obj["wrapped"][0]["key"], byte)
    data, record = reseal(obj, sealed.record)
    member = obj["wrapped"][0]["member"]
    with pytest.raises(VerificationError, match="do not open"):
        open_sealed(data, record, member, ring(member))


def test_the_collection_id_is_bound() -> None:
    """A sealed write copied into another collection (same readers) does not open there."""
    sealed = sealed_to("secret", collection="prices")
    moved = replace(sealed.record, collection_id="salaries")
    with pytest.raises(VerificationError, match="do not open"):
        open_sealed(sealed.sealed, moved, "org-a", ring("org-a"))


def test_the_commitment_is_bound() -> None:
    sealed, other = sealed_to("one"), sealed_to("two")
    relabelled = replace(sealed.record, commitment=other.record.commitment)
    with pytest.raises(VerificationError):
        open_sealed(sealed.sealed, relabelled, "org-a", ring("org-a"))


def test_contents_swapped_between_two_sealed_blobs_are_refused() -> None:
    one, two = sealed_to("price 1"), sealed_to("price 2")
    # blob two under record one: its hash is not the record's
    with pytest.raises(VerificationError):
        open_sealed(two.sealed, one.record, "org-a", ring("org-a"))
    o1, o2 = json.loads(one.sealed), json.loads(two.sealed)
    # ciphertext (and nonce) of two with the wrapped keys of one: another data key
    data, record = reseal(dict(o1, ciphertext=o2["ciphertext"], nonce=o2["nonce"]), one.record)
    with pytest.raises(VerificationError):
        open_sealed(data, record, "org-a", ring("org-a"))
    # the wrapped keys of two with the ciphertext of one
    data, record = reseal(dict(o1, wrapped=o2["wrapped"]), one.record)
    with pytest.raises(VerificationError):
        open_sealed(data, record, "org-a", ring("org-a"))
    # the whole of blob two under record one's commitment: the AAD names the commitment
    data, record = reseal(o2, one.record)
    with pytest.raises(VerificationError):
        open_sealed(data, record, "org-a", ring("org-a"))


@pytest.mark.parametrize(
    "change",
    [
        {"format": "accord.sealed.v2"},
        {"suite": "HPKE-base-P256-HKDF-SHA256-AES-128-GCM"},
        {"wrapped": "nope"},
        {"wrapped": []},
        {"wrapped": [5, "x", None]},
        {"ciphertext": 5},
        {"ciphertext": "not base64!"},
        {"nonce": None},
    ],
)
def test_malformed_sealed_contents_are_refused(change: dict[str, object]) -> None:
    sealed = sealed_to("secret")
    data, record = reseal({**json.loads(sealed.sealed), **change}, sealed.record)
    with pytest.raises(VerificationError):
        open_sealed(data, record, "org-a", ring("org-a"))


@pytest.mark.parametrize("data", [b"", b"not json", b"[]", b'{"a": 1}', b"\xff"])
def test_sealed_bytes_that_do_not_parse_are_refused(data: bytes) -> None:
    record = PrivateRecord("prices", "ab" * 32, hashlib.sha256(data).hexdigest())
    with pytest.raises(VerificationError):
        open_sealed(data, record, "org-a", ring("org-a"))


def test_a_wrapped_slot_with_a_broken_key_field_is_refused() -> None:
    sealed = sealed_to("secret")
    obj = json.loads(sealed.sealed)
    for key in (None, 5, "!!", ""):
        slot = dict(obj["wrapped"][0], key=key)
        data, record = reseal(dict(obj, wrapped=[slot]), sealed.record)
        with pytest.raises(VerificationError):
            open_sealed(data, record, slot["member"], ring(slot["member"]))


# --- an independent implementation of the documented construction -------------------------------

_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


def naive_seal(
    inner: dict[str, object], collection: str, committed: str, readers: dict[str, bytes]
) -> bytes:
    """accord.sealed.v1 from its description: AES-256-GCM of the inner JSON under a data key
    with AAD ``accord.sealed.v1 0x00 collection 0x00 commitment``, the key wrapped by HPKE for
    each reader with info ``accord.sealed.v1 0x00 collection 0x00 member``."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    data_key, nonce = os.urandom(32), os.urandom(12)
    aad = b"accord.sealed.v1\x00" + collection.encode() + b"\x00" + committed.encode()
    ciphertext = AESGCM(data_key).encrypt(nonce, canonicalize(inner), aad)
    wrapped = []
    for member, raw in sorted(readers.items()):
        info = b"accord.sealed.v1\x00" + collection.encode() + b"\x00" + member.encode()
        enc = _SUITE.encrypt(data_key, X25519PublicKey.from_public_bytes(raw), info=info)
        wrapped.append(
            {"key": base64.b64encode(enc).decode(), "keyId": key_id(raw), "member": member}
        )
    return canonicalize(
        {
            "ciphertext": base64.b64encode(ciphertext).decode(),
            "format": "accord.sealed.v1",
            "nonce": base64.b64encode(nonce).decode(),
            "suite": SUITE,
            "wrapped": wrapped,
        }
    )


def test_an_independent_sealer_interoperates() -> None:
    salt = os.urandom(32)
    committed = commitment(salt, b"cross-checked").hex()
    data = naive_seal(
        {"contents": "cross-checked", "salt": salt.hex()},
        "prices",
        committed,
        {"org-b": public("org-b")},
    )
    record = PrivateRecord("prices", committed, hashlib.sha256(data).hexdigest())
    assert open_sealed(data, record, "org-b", ring("org-b")) == ("cross-checked", salt)
    check_sealed_slots(data, {"org-b": public("org-b")})  # and the applier accepts it


def test_sealed_contents_that_do_not_match_the_commitment_are_refused() -> None:
    """A writer that seals one text under the commitment of another is caught by every reader
    (so no two readers can be shown different contents for one entry)."""
    salt = os.urandom(32)
    committed = commitment(salt, b"the truth").hex()
    readers = {"org-a": public("org-a")}
    for inner in (
        {"contents": "a lie", "salt": salt.hex()},
        {"contents": "the truth", "salt": os.urandom(32).hex()},
        {"contents": "the truth", "salt": salt.hex(), "extra": 1},
        {"contents": "the truth"},
        {"contents": 5, "salt": salt.hex()},
        {"contents": "the truth", "salt": "zz" * 32},
        {"contents": "the truth", "salt": salt.hex()[:-2]},
        ["the truth", salt.hex()],
    ):
        data = naive_seal(inner, "prices", committed, readers)  # type: ignore[arg-type]
        record = PrivateRecord("prices", committed, hashlib.sha256(data).hexdigest())
        with pytest.raises(VerificationError):
            open_sealed(data, record, "org-a", ring("org-a"))


SEALED_ONCE = sealed_to("hypothesis", ("org-a",))


@given(st.data())
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
def test_any_byte_changed_in_the_sealed_bytes_is_refused(data: st.DataObject) -> None:
    sealed = SEALED_ONCE
    index = data.draw(st.integers(0, len(sealed.sealed) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda v: v != sealed.sealed[index]))
    changed = sealed.sealed[:index] + bytes([value]) + sealed.sealed[index + 1 :]
    record = replace(sealed.record, sealed_sha256=hashlib.sha256(changed).hexdigest())
    try:
        opened = open_sealed(changed, record, "org-a", ring("org-a"))
    except VerificationError:
        return
    # Only a change that leaves the bytes meaning the same could open (none should exist in
    # canonical JSON, but if one did it must give the same contents).
    assert opened == ("hypothesis", sealed.salt)


# --- keys ---------------------------------------------------------------------------------------


def test_generate_writes_a_private_file_and_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / keys.ENCRYPTION_KEY
    key = keys.generate(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.current_public(tmp_path) == keys.public_bytes(key)
    with pytest.raises(ConfigurationError, match="refusing"):
        keys.generate(path)
    assert keys.current_public(tmp_path) == keys.public_bytes(key)


def test_the_keyring_holds_rotated_keys(tmp_path: Path) -> None:
    assert keys.load_keyring(tmp_path) == {} and keys.current_public(tmp_path) is None
    old = keys.generate(tmp_path / keys.ENCRYPTION_KEY)
    old_id = key_id(keys.public_bytes(old))
    sealed = seal("sealed to the old key", "prices", {"org-a": keys.public_bytes(old)})
    (tmp_path / keys.ENCRYPTION_KEY).rename(tmp_path / f"encryption-{old_id}.key")
    new = keys.generate(tmp_path / keys.ENCRYPTION_KEY)
    keyring = keys.load_keyring(tmp_path)
    assert set(keyring) == {old_id, key_id(keys.public_bytes(new))}
    assert keys.current_public(tmp_path) == keys.public_bytes(new)
    assert open_sealed(sealed.sealed, sealed.record, "org-a", keyring)[0] == "sealed to the old key"


def test_a_key_file_that_is_not_an_x25519_key_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / keys.ENCRYPTION_KEY).write_text("not a key")
    with pytest.raises(ConfigurationError):
        keys.load_keyring(tmp_path)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )

    pem = Ed25519PrivateKey.generate().private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
    )
    (tmp_path / keys.ENCRYPTION_KEY).write_bytes(pem)
    with pytest.raises(ConfigurationError, match="X25519"):
        keys.current_public(tmp_path)
