import base64

import pytest

from accord.core.envelope import (
    BadLine,
    Envelope,
    SignedEnvelope,
    decode_message,
    encode_message,
    message_id,
    sign_envelope,
)
from accord.core.note import Signer
from accord.errors import MalformedInput, SignatureError


def _envelope(counter: int = 1, **changes: object) -> Envelope:
    fields: dict[str, object] = {
        "kind": "entry",
        "node": "supplier-1",
        "boot": 1_700_000_000_000,
        "counter": counter,
        "timestamp_ms": 1_700_000_000_123,
        "user_id": "alice",
        "collection_id": "subledger:0",
        "tags": ("a", "b=1"),
        "contents": 'line\n"quoted" é 🎉',
    }
    fields.update(changes)
    return Envelope(**fields)  # type: ignore[arg-type]


def test_round_trip_and_signature() -> None:
    signer = Signer.generate("consortium.example")
    signed = [sign_envelope(_envelope(i), signer) for i in (1, 2, 3)]
    data = encode_message(signed)
    decoded = decode_message(data)
    assert [d.envelope for d in decoded if isinstance(d, SignedEnvelope)] == [
        s.envelope for s in signed
    ]
    for d in decoded:
        assert isinstance(d, SignedEnvelope)
        d.verify(signer.verifier())
    assert message_id(data) == message_id(bytes(data))
    assert message_id(data) != message_id(encode_message(signed[:2]))


def test_body_is_canonical_and_has_no_newline() -> None:
    body = _envelope().body()
    assert b"\n" not in body
    assert body.startswith(b'{"boot":')


def test_wrong_key_and_tampered_body_fail() -> None:
    signer = Signer.generate("consortium.example")
    other = Signer.generate("consortium.example")
    signed = sign_envelope(_envelope(), signer)
    with pytest.raises(SignatureError):
        signed.verify(other.verifier())
    tampered_body = signed.body.replace(b'"alice"', b'"mallory"')
    tampered = SignedEnvelope(tampered_body, signed.signature, Envelope.from_body(tampered_body))
    with pytest.raises(SignatureError):
        tampered.verify(signer.verifier())


@pytest.mark.parametrize(
    "line",
    [
        b"no-space-here",
        b"!!!! {}",
        base64.b64encode(b"x" * 63) + b" {}",
        base64.b64encode(b"x" * 64) + b" {}",
        base64.b64encode(b"x" * 64) + b" not json",
    ],
)
def test_bad_lines_are_recorded_not_raised(line: bytes) -> None:
    decoded = decode_message(b"accord.envelopes.v1\n" + line + b"\n")
    assert len(decoded) == 1 and isinstance(decoded[0], BadLine)
    assert decoded[0].reason


def test_message_without_magic_is_one_bad_line() -> None:
    decoded = decode_message(b"hello\nworld\n")
    assert len(decoded) == 1 and isinstance(decoded[0], BadLine)


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "nope"},
        {"node": "bad node"},
        {"counter": 0},
        {"boot": -1},
    ],
)
def test_invalid_envelopes_refused_on_sign(change: dict[str, object]) -> None:
    with pytest.raises(MalformedInput):
        sign_envelope(_envelope(**change), Signer.generate("o"))


def test_empty_message_refused() -> None:
    with pytest.raises(MalformedInput):
        encode_message([])
