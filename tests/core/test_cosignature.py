"""C2SP tlog-cosignature v1 (Ed25519): message bytes, keys, and verification that raises."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.checkpoint import Checkpoint, sign_checkpoint
from accord.core.cosignature import (
    Cosigner,
    CosignerKey,
    add_signatures,
    cosignature_message,
    open_cosigned_checkpoint,
)
from accord.core.note import Signer
from accord.errors import MalformedInput, SignatureError, VerificationError

LOG = Signer.from_private_key("example.com/log", Ed25519PrivateKey.from_private_bytes(b"L" * 32))
WITNESS = Cosigner("witness.example.com/w1", Ed25519PrivateKey.from_private_bytes(b"W" * 32))
OTHER = Cosigner("witness.example.com/w2", Ed25519PrivateKey.from_private_bytes(b"O" * 32))
CHECKPOINT = Checkpoint("example.com/log", 20852163, hashlib.sha256(b"root").digest())
NOTE = sign_checkpoint(CHECKPOINT, LOG)
BODY = NOTE.split("\n\n")[0] + "\n"
TIME = 1679315147


def naive_cosignature_line(cosigner: Cosigner, body: str, timestamp: int) -> str:
    """The spec, written out by hand: key ID rule, signed message and line layout."""
    public = cosigner.private_key.public_key().public_bytes_raw()
    key_id = hashlib.sha256(cosigner.name.encode() + b"\n" + b"\x04" + public).digest()[:4]
    message = f"cosignature/v1\ntime {timestamp}\n{body}".encode()
    signature = cosigner.private_key.sign(message)  # Ed25519 is deterministic (RFC 8032)
    raw = key_id + timestamp.to_bytes(8, "big") + signature
    return f"\u2014 {cosigner.name} {base64.b64encode(raw).decode()}\n"


def test_cosignature_matches_the_spec_written_out() -> None:
    assert WITNESS.cosign(BODY, TIME).to_line() == naive_cosignature_line(WITNESS, BODY, TIME)
    assert cosignature_message(BODY.encode(), TIME) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/log\n20852163\n"
        + base64.b64encode(CHECKPOINT.root_hash)
        + b"\n"
    )


def test_cosigned_checkpoint_verifies_and_reports_its_cosigners() -> None:
    note = add_signatures(NOTE, [WITNESS.cosign(BODY, TIME), OTHER.cosign(BODY, TIME + 5)])
    opened = open_cosigned_checkpoint(note, LOG.verifier(), [WITNESS.key(), OTHER.key()])
    assert opened.checkpoint == CHECKPOINT
    assert dict(opened.cosigned) == {WITNESS.name: TIME, OTHER.name: TIME + 5}
    # An unknown cosigner is ignored, not trusted.
    only = open_cosigned_checkpoint(note, LOG.verifier(), [OTHER.key()])
    assert dict(only.cosigned) == {OTHER.name: TIME + 5}


def test_keys_round_trip_and_refuse_other_types() -> None:
    key = WITNESS.key()
    assert CosignerKey.from_vkey(key.to_vkey()) == key
    assert Cosigner.from_skey(WITNESS.to_skey()).key() == key
    # A log's (type 0x01) verifier key is not a cosigner key, even for the same key material.
    with pytest.raises(MalformedInput, match="not a cosignature/v1 key"):
        CosignerKey.from_vkey(LOG.verifier().to_vkey())
    name, key_hash, rest = key.to_vkey().split("+", 2)
    with pytest.raises(MalformedInput, match="hash does not match"):
        CosignerKey.from_vkey(f"{name}x+{key_hash}+{rest}")
    assert "PRIVATE" not in repr(WITNESS) and WITNESS.to_skey()[12:40] not in repr(WITNESS)


def test_a_cosignature_of_another_checkpoint_or_time_is_refused() -> None:
    other_body = sign_checkpoint(Checkpoint("example.com/log", 20852164, CHECKPOINT.root_hash), LOG)
    wrong = WITNESS.cosign(other_body.split("\n\n")[0] + "\n", TIME)
    with pytest.raises(SignatureError, match="does not verify"):
        open_cosigned_checkpoint(add_signatures(NOTE, [wrong]), LOG.verifier(), [WITNESS.key()])
    line = WITNESS.cosign(BODY, TIME).to_line()
    raw = bytearray(base64.b64decode(line.split(" ")[-1]))
    raw[4 + 7] ^= 1  # the timestamp's last byte: the signature no longer covers it
    forged = line.rsplit(" ", 1)[0] + " " + base64.b64encode(bytes(raw)).decode() + "\n"
    with pytest.raises(SignatureError):
        open_cosigned_checkpoint(NOTE + forged, LOG.verifier(), [WITNESS.key()])


def test_timestamps_are_bounded() -> None:
    with pytest.raises(MalformedInput):
        WITNESS.cosign(BODY, 2**63)
    with pytest.raises(MalformedInput):
        WITNESS.cosign(BODY, -1)
    note = add_signatures(NOTE, [WITNESS.cosign(BODY, TIME), OTHER.cosign(BODY, TIME - 9)])
    keys = [WITNESS.key(), OTHER.key()]
    # A cosignature dated after not_after is not counted; the others still are.
    late = open_cosigned_checkpoint(note, LOG.verifier(), keys, not_after=TIME - 1)
    assert dict(late.cosigned) == {OTHER.name: TIME - 9}
    on_time = open_cosigned_checkpoint(note, LOG.verifier(), keys, not_after=TIME)
    assert on_time.cosigned[WITNESS.name] == TIME
    # The largest timestamp the spec allows is accepted in a received line.
    top = add_signatures(NOTE, [WITNESS.cosign(BODY, 2**63 - 1)])
    assert open_cosigned_checkpoint(top, LOG.verifier(), keys).cosigned[WITNESS.name] == 2**63 - 1


def test_a_received_timestamp_over_the_bound_is_refused() -> None:
    line = WITNESS.cosign(BODY, TIME).to_line()
    raw = bytearray(base64.b64decode(line.split(" ")[-1]))
    raw[4:12] = (2**63).to_bytes(8, "big")
    forged = line.rsplit(" ", 1)[0] + " " + base64.b64encode(bytes(raw)).decode() + "\n"
    with pytest.raises(MalformedInput, match="2\\^63"):
        open_cosigned_checkpoint(NOTE + forged, LOG.verifier(), [WITNESS.key()])


def test_the_newest_of_two_cosignatures_of_one_witness_stands() -> None:
    note = add_signatures(NOTE, [WITNESS.cosign(BODY, TIME + 7), WITNESS.cosign(BODY, TIME)])
    opened = open_cosigned_checkpoint(note, LOG.verifier(), [WITNESS.key()])
    assert opened.cosigned[WITNESS.name] == TIME + 7
    # A line repeated verbatim is added once.
    line = WITNESS.cosign(BODY, TIME)
    assert add_signatures(add_signatures(NOTE, [line]), [line]).count(line.to_line()) == 1


def test_extension_lines_are_cosigned() -> None:
    extended = Checkpoint("example.com/log", 5, CHECKPOINT.root_hash, ("ext one", "ext two"))
    note = sign_checkpoint(extended, LOG)
    body = note.split("\n\n")[0] + "\n"
    assert body.endswith("ext one\next two\n")
    cosig = WITNESS.cosign(body, TIME)
    assert cosig.to_line() == naive_cosignature_line(WITNESS, body, TIME)
    opened = open_cosigned_checkpoint(add_signatures(note, [cosig]), LOG.verifier(),
                                      [WITNESS.key()])  # fmt: skip
    assert opened.cosigned == {WITNESS.name: TIME}
    # The same cosignature on the checkpoint without its extension lines does not verify.
    bare = sign_checkpoint(Checkpoint("example.com/log", 5, CHECKPOINT.root_hash), LOG)
    with pytest.raises(SignatureError):
        open_cosigned_checkpoint(add_signatures(bare, [cosig]), LOG.verifier(), [WITNESS.key()])


def test_a_checkpoint_of_another_origin_is_refused() -> None:
    # Signed by the log's own key, but for another origin than the log's name.
    note = sign_checkpoint(Checkpoint("example.com/other", 1, CHECKPOINT.root_hash), LOG)
    with pytest.raises(VerificationError, match="origin"):
        open_cosigned_checkpoint(note, LOG.verifier(), [WITNESS.key()])


def test_the_same_cosigner_key_listed_twice_is_fine() -> None:
    twin = CosignerKey(WITNESS.name, WITNESS.key().key_id, WITNESS.key().public_key)
    note = add_signatures(NOTE, [WITNESS.cosign(BODY, TIME)])
    opened = open_cosigned_checkpoint(note, LOG.verifier(), [WITNESS.key(), twin])
    assert opened.cosigned == {WITNESS.name: TIME}


def test_malformed_inputs_raise_accord_errors() -> None:
    with pytest.raises(MalformedInput):
        WITNESS.cosign("example.com/log\n1\n\ud800\n", TIME)
    with pytest.raises(MalformedInput):
        WITNESS.cosign(b"example.com/log\n", TIME)  # type: ignore[arg-type]


def test_only_a_checkpoint_is_cosigned_and_only_its_log_counts() -> None:
    with pytest.raises(MalformedInput):
        WITNESS.cosign("not a checkpoint\n", TIME)
    other_log = Signer.generate("example.com/log")
    with pytest.raises(SignatureError):
        open_cosigned_checkpoint(NOTE, other_log.verifier(), [WITNESS.key()])
    with pytest.raises(VerificationError):
        open_cosigned_checkpoint(b"\xff", LOG.verifier(), [WITNESS.key()])


COSIGNED = add_signatures(NOTE, [WITNESS.cosign(BODY, TIME)])


@settings(max_examples=300, deadline=None)
@given(position=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_any_bit_flip_is_refused_or_drops_the_cosignature(position: int, bit: int) -> None:
    data = bytearray(COSIGNED.encode())
    i = position % len(data)
    data[i] ^= 1 << bit
    try:
        opened = open_cosigned_checkpoint(bytes(data), LOG.verifier(), [WITNESS.key()])
    except VerificationError:
        return
    # Accepted: the flip can only have been in the cosignature line's name or key ID (so the line
    # is now an unknown key's, ignored) or in the log's own line's name (then no log signature
    # verifies, which raised above). The checkpoint itself never changes.
    cosig_start = COSIGNED.rindex("\u2014 ").__index__()
    assert len(COSIGNED[:cosig_start].encode()) <= i, (i, bit)
    assert opened.checkpoint == CHECKPOINT
    assert WITNESS.name not in opened.cosigned
