"""C2SP tlog-cosignature ML-DSA-44 (subtree/v1): message bytes, keys, and verification that raises."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.mldsa import MLDSA44PublicKey

from accord.core.checkpoint import Checkpoint, sign_checkpoint
from accord.core.cosignature import (
    Cosigner,
    CosignerKey,
    MLDSACosigner,
    MLDSACosignerKey,
    add_signatures,
    cosigner_key_from_vkey,
    open_cosigned_checkpoint,
    subtree_message,
)
from accord.core.note import NoteSignature, Signer, format_key, key_hash
from accord.errors import MalformedInput, SignatureError

LOG = Signer.from_private_key("example.com/log", Ed25519PrivateKey.from_private_bytes(b"L" * 32))
SEED = b"M" * 32
PQ = MLDSACosigner.from_seed("witness.example.com/pq", SEED)
ED = Cosigner("witness.example.com/w1", Ed25519PrivateKey.from_private_bytes(b"W" * 32))
CHECKPOINT = Checkpoint("example.com/log", 20852163, hashlib.sha256(b"root").digest())
NOTE = sign_checkpoint(CHECKPOINT, LOG)
BODY = NOTE.split("\n\n")[0] + "\n"
TIME = 1679315147


def body_of(note: str) -> str:
    return note.split("\n\n")[0] + "\n"


def spec_message(
    name: str, timestamp: int, origin: str, start: int, end: int, root: bytes
) -> bytes:
    """The spec's cosigned_message, written out by hand (RFC 8446 §3 serialization)."""
    label = b"subtree/v1\n\x00"
    assert len(label) == 12
    n, o = name.encode(), origin.encode()
    return (
        label
        + struct.pack(">B", len(n))
        + n
        + struct.pack(">Q", timestamp)
        + struct.pack(">B", len(o))
        + o
        + struct.pack(">QQ", start, end)
        + root
    )


def relabel(sig: NoteSignature, raw: bytes | None = None, *, like: NoteSignature) -> str:
    """A signature line with ``sig``'s bytes (or ``raw``) under ``like``'s name and key ID."""
    return NoteSignature(like.name, like.key_id, sig.signature if raw is None else raw).to_line()


def test_the_message_is_the_spec_layout() -> None:
    root = CHECKPOINT.root_hash
    got = subtree_message(PQ.name, TIME, CHECKPOINT.origin, 0, CHECKPOINT.size, root)
    assert got == spec_message(PQ.name, TIME, CHECKPOINT.origin, 0, CHECKPOINT.size, root)
    assert got == (
        b"subtree/v1\n\x00"
        + b"\x16witness.example.com/pq"
        + bytes.fromhex("00000000641850cb")  # 1679315147
        + b"\x0fexample.com/log"
        + bytes(8)
        + bytes.fromhex("00000000013e2dc3")  # 20852163
        + root
    )
    assert len(got) == 12 + 1 + 22 + 8 + 1 + 15 + 8 + 8 + 32
    # A subtree that does not start at 0 is signed with timestamp 0.
    assert subtree_message(PQ.name, 0, "o", 4, 8, root) == spec_message(PQ.name, 0, "o", 4, 8, root)


def test_a_cosignature_line_is_the_spec_written_out() -> None:
    line = PQ.cosign(BODY, TIME).to_line()
    name, b64 = line.removeprefix("\u2014 ").rstrip("\n").split(" ")
    raw = base64.b64decode(b64)
    public = PQ.private_key.public_key().public_bytes_raw()
    assert name == PQ.name and len(public) == 1312
    assert len(raw) == 4 + 8 + 2420
    assert raw[:4] == hashlib.sha256(PQ.name.encode() + b"\n" + b"\x06" + public).digest()[:4]
    assert raw[4:12] == struct.pack(">Q", TIME)
    message = spec_message(PQ.name, TIME, CHECKPOINT.origin, 0, CHECKPOINT.size,
                           CHECKPOINT.root_hash)  # fmt: skip
    # FIPS 204 pure ML-DSA with the empty context: verified with cryptography directly.
    key = MLDSA44PublicKey.from_public_bytes(public)
    key.verify(raw[12:], message)
    key.verify(raw[12:], message, b"")


def test_key_ids_and_key_texts() -> None:
    key = PQ.key()
    public = key.public_key_bytes
    assert key.key_id == hashlib.sha256(PQ.name.encode() + b"\n\x06" + public).digest()[:4]
    assert key.key_id == key_hash(PQ.name, b"\x06" + public)
    vkey = key.to_vkey()
    name, hash_hex, b64 = vkey.split("+", 2)
    assert (name, hash_hex) == (PQ.name, key.key_id.hex())
    assert base64.b64decode(b64) == b"\x06" + public
    skey = PQ.to_skey()
    assert (
        skey
        == f"PRIVATE+KEY+{PQ.name}+{key.key_id.hex()}+" + base64.b64encode(b"\x06" + SEED).decode()
    )
    assert MLDSACosignerKey.from_vkey(vkey) == key
    assert MLDSACosigner.from_skey(skey) == PQ
    assert MLDSACosigner.from_skey(skey).key() == key
    fresh = MLDSACosigner.generate("witness.example.com/fresh")
    assert MLDSACosigner.from_skey(fresh.to_skey()).key() == fresh.key()
    assert cosigner_key_from_vkey(vkey) == key
    assert cosigner_key_from_vkey(ED.key().to_vkey()) == ED.key()
    # The same key under another name has another key ID, and so is another cosigner.
    renamed = MLDSACosigner("witness.example.com/other", PQ.private_key).key()
    assert renamed.key_id != key.key_id and renamed != key


def test_no_key_material_in_repr() -> None:
    seed_b64 = PQ.to_skey().rsplit("+", 1)[1]
    for text in (repr(PQ), repr(PQ.key())):
        assert seed_b64[4:20] not in text and "PRIVATE" not in text
    assert base64.b64encode(PQ.key().public_key_bytes).decode()[8:40] not in repr(PQ.key())


def test_round_trip_through_open_cosigned_checkpoint() -> None:
    note = add_signatures(NOTE, [PQ.cosign(BODY, TIME)])
    opened = open_cosigned_checkpoint(note, LOG.verifier(), [PQ.key()])
    assert opened.checkpoint == CHECKPOINT
    assert dict(opened.cosigned) == {PQ.name: TIME}
    assert opened.verified_keys == {(PQ.name, PQ.key().key_id)}
    assert PQ.key().verify(BODY.encode(), PQ.cosign(BODY, TIME + 1)) == TIME + 1
    # Unknown to the verifier: ignored, not trusted.
    assert open_cosigned_checkpoint(note, LOG.verifier(), []).cosigned == {}


def test_mixed_ed25519_and_mldsa_cosignatures() -> None:
    note = add_signatures(NOTE, [ED.cosign(BODY, TIME), PQ.cosign(BODY, TIME + 3)])
    opened = open_cosigned_checkpoint(note, LOG.verifier(), [ED.key(), PQ.key()])
    assert dict(opened.cosigned) == {ED.name: TIME, PQ.name: TIME + 3}
    only_pq = open_cosigned_checkpoint(note, LOG.verifier(), [PQ.key()])
    assert dict(only_pq.cosigned) == {PQ.name: TIME + 3}
    late = open_cosigned_checkpoint(note, LOG.verifier(), [ED.key(), PQ.key()], not_after=TIME)
    assert dict(late.cosigned) == {ED.name: TIME}  # future-dated: not counted


def test_a_signature_by_another_key_is_refused() -> None:
    impostor = MLDSACosigner.generate(PQ.name)
    forged = relabel(impostor.cosign(BODY, TIME), like=PQ.cosign(BODY, TIME))
    with pytest.raises(SignatureError, match="does not verify"):
        open_cosigned_checkpoint(NOTE + forged, LOG.verifier(), [PQ.key()])
    with pytest.raises(SignatureError, match="not from cosigner"):
        PQ.key().verify(BODY.encode(), impostor.cosign(BODY, TIME))
    # The message commits to the cosigner's name: the same key under another name does not pass.
    renamed = MLDSACosigner("witness.example.com/renamed", PQ.private_key)
    forged = relabel(renamed.cosign(BODY, TIME), like=PQ.cosign(BODY, TIME))
    with pytest.raises(SignatureError, match="does not verify"):
        open_cosigned_checkpoint(NOTE + forged, LOG.verifier(), [PQ.key()])


def test_a_cosignature_of_another_tree_origin_or_time_is_refused() -> None:
    for other in (
        Checkpoint("example.com/log", CHECKPOINT.size + 1, CHECKPOINT.root_hash),
        Checkpoint("example.com/log", CHECKPOINT.size, hashlib.sha256(b"other").digest()),
        Checkpoint("example.com/other", CHECKPOINT.size, CHECKPOINT.root_hash),
    ):
        wrong = PQ.cosign(other.to_text(), TIME)
        with pytest.raises(SignatureError, match="does not verify"):
            open_cosigned_checkpoint(add_signatures(NOTE, [wrong]), LOG.verifier(), [PQ.key()])
        with pytest.raises(SignatureError):
            PQ.key().verify(BODY.encode(), wrong)
    good = PQ.cosign(BODY, TIME)
    for index in (0, 7, 8, 1000, 8 + 2419):  # timestamp bytes, then ML-DSA signature bytes
        raw = bytearray(good.signature)
        raw[index] ^= 1
        with pytest.raises(SignatureError):
            open_cosigned_checkpoint(NOTE + relabel(good, bytes(raw), like=good), LOG.verifier(),
                                     [PQ.key()])  # fmt: skip


def test_extension_lines_are_not_in_the_signed_message() -> None:
    # The spec: an ML-DSA-44 cosignature states nothing about extension lines.
    extended = sign_checkpoint(
        Checkpoint("example.com/log", 5, CHECKPOINT.root_hash, ("ext",)), LOG
    )
    bare = sign_checkpoint(Checkpoint("example.com/log", 5, CHECKPOINT.root_hash), LOG)
    cosig = PQ.cosign(body_of(extended), TIME)
    for note in (extended, bare):
        opened = open_cosigned_checkpoint(add_signatures(note, [cosig]), LOG.verifier(), [PQ.key()])
        assert opened.cosigned == {PQ.name: TIME}


def test_timestamps() -> None:
    for bad in (0, -1, 2**63, True):
        with pytest.raises(MalformedInput):
            PQ.cosign(BODY, bad)
    top = PQ.cosign(BODY, 2**63 - 1)
    assert PQ.key().verify(BODY.encode(), top) == 2**63 - 1
    # A received zero timestamp (consistency only, no freshness) is valid per the spec.
    key = PQ.key()
    message = subtree_message(PQ.name, 0, CHECKPOINT.origin, 0, CHECKPOINT.size,
                              CHECKPOINT.root_hash)  # fmt: skip
    zero = NoteSignature(PQ.name, key.key_id, bytes(8) + PQ.private_key.sign(message))
    assert key.verify(BODY.encode(), zero) == 0
    # A received timestamp over 2^63 - 1 is refused before any signature check.
    over = NoteSignature(PQ.name, key.key_id, (2**63).to_bytes(8, "big") + top.signature[8:])
    with pytest.raises(MalformedInput, match="2\\^63"):
        key.verify(BODY.encode(), over)


def test_malformed_cosignature_lines_and_bodies() -> None:
    key = PQ.key()
    good = PQ.cosign(BODY, TIME)
    for raw in (good.signature[:-1], good.signature + b"\x00", ED.cosign(BODY, TIME).signature):
        with pytest.raises(MalformedInput, match="bytes after the key ID"):
            key.verify(BODY.encode(), NoteSignature(key.name, key.key_id, raw))
    with pytest.raises(MalformedInput):
        key.verify(b"\xff\n", good)
    with pytest.raises(MalformedInput):
        key.verify(b"not a checkpoint\n", good)
    with pytest.raises(MalformedInput):
        PQ.cosign("not a checkpoint\n", TIME)
    with pytest.raises(MalformedInput):
        PQ.cosign(BODY.encode(), TIME)  # type: ignore[arg-type]
    long_origin = Checkpoint("o" * 256, 1, CHECKPOINT.root_hash)
    with pytest.raises(MalformedInput, match="1 to 255 bytes"):
        PQ.cosign(long_origin.to_text(), TIME)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", TIME, "o", 0, 1, bytes(32)), "cosigner name"),
        (("n" * 256, TIME, "o", 0, 1, bytes(32)), "1 to 255"),
        (("n", TIME, "", 0, 1, bytes(32)), "log origin"),
        (("n", TIME, "\ud800", 0, 1, bytes(32)), "valid Unicode"),
        (("n", TIME, "o", 4, 8, bytes(32)), "timestamp 0"),
        (("n", 0, "o", 8, 4, bytes(32)), "no leaf"),
        (("n", 0, "o", 4, 4, bytes(32)), "no leaf"),
        (("n", TIME, "o", 0, 2**64, bytes(32)), "2\\^64"),
        (("n", TIME, "o", -1, 1, bytes(32)), "2\\^64"),
        (("n", TIME, "o", 0, 1, bytes(31)), "32 bytes"),
        (("n", 2**63, "o", 0, 1, bytes(32)), "2\\^63"),
    ],
)
def test_subtree_message_refuses_what_the_spec_does_not_allow(
    args: tuple[str, int, str, int, int, bytes], message: str
) -> None:
    with pytest.raises(MalformedInput, match=message):
        subtree_message(*args)


def _vkey(name: str, key: bytes) -> str:
    """A vkey whose hash is right for ``key`` (type byte included), so only its shape is wrong."""
    return format_key(name, key_hash(name, key), key[0], key[1:])


def test_vkey_parse_errors() -> None:
    public = PQ.key().public_key_bytes
    name = PQ.name
    cases = [
        (_vkey(name, b"\x06" + public[:-1]), "1312 bytes, not 1311"),
        (_vkey(name, b"\x06" + public + b"\x00"), "1312 bytes, not 1313"),
        (_vkey(name, b"\x04" + public), "unsupported signature type 0x04"),
        (_vkey(name, b"\x01" + public), "unsupported signature type 0x01"),
        (ED.key().to_vkey(), "unsupported signature type 0x04"),
        (PQ.key().to_vkey().replace(name, name + "x", 1), "hash does not match"),
        (PQ.to_skey(), "expected name\\+hash\\+key|key hash"),
        ("no-plus-signs", "expected name\\+hash\\+key"),
    ]
    for text, message in cases:
        with pytest.raises(MalformedInput, match=message):
            MLDSACosignerKey.from_vkey(text)
    with pytest.raises(MalformedInput):
        MLDSACosignerKey.from_vkey(None)  # type: ignore[arg-type]
    # The Ed25519 parser and the dispatcher refuse what is not theirs.
    with pytest.raises(MalformedInput, match="not a cosignature/v1 key"):
        CosignerKey.from_vkey(PQ.key().to_vkey())
    with pytest.raises(MalformedInput, match="unsupported signature type 0x01"):
        cosigner_key_from_vkey(LOG.verifier().to_vkey())
    with pytest.raises(MalformedInput, match="1312 bytes"):
        cosigner_key_from_vkey(_vkey(name, b"\x06" + public[:32]))


def test_skey_parse_errors() -> None:
    key_id = PQ.key().key_id
    cases = [
        (PQ.key().to_vkey(), "PRIVATE\\+KEY\\+"),
        (format_key(PQ.name, key_id, 0x06, SEED[:31], private=True), "32 bytes, not 31"),
        (format_key(PQ.name, key_id, 0x04, SEED, private=True), "unsupported signature type"),
        (format_key(PQ.name, bytes(4), 0x06, SEED, private=True), "hash does not match"),
        (format_key(PQ.name + "x", key_id, 0x06, SEED, private=True), "hash does not match"),
        (ED.to_skey(), "unsupported signature type 0x04"),
    ]
    for text, message in cases:
        with pytest.raises(MalformedInput, match=message):
            MLDSACosigner.from_skey(text)
    with pytest.raises(MalformedInput, match="not a cosignature/v1 key"):
        Cosigner.from_skey(PQ.to_skey())
    with pytest.raises(MalformedInput):
        MLDSACosigner.from_seed(PQ.name, SEED[:31])
    with pytest.raises(MalformedInput):
        MLDSACosigner("bad name", PQ.private_key)
    with pytest.raises(MalformedInput):
        MLDSACosigner(PQ.name, ED.private_key)  # type: ignore[arg-type]
    with pytest.raises(MalformedInput):
        MLDSACosignerKey(PQ.name, bytes(4), PQ.private_key.public_key())


def test_known_keys_must_be_cosigner_keys() -> None:
    with pytest.raises(MalformedInput):
        open_cosigned_checkpoint(NOTE, LOG.verifier(), [LOG.verifier()])  # type: ignore[list-item]
