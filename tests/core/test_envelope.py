import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.core.envelope import (
    BadLine,
    Envelope,
    Line,
    decode_message,
    encode_bodies,
    encode_message,
    encode_own,
    message_header,
    message_id,
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
    envelopes = [_envelope(i) for i in (1, 2, 3)]
    data = encode_message(envelopes, signer)
    message = decode_message(data)
    assert message.node == "supplier-1"
    assert [line.envelope for line in message.lines if isinstance(line, Line)] == envelopes
    message.verify(signer.verifier())
    assert message_id(data) != message_id(encode_message(envelopes[:2], signer))


def test_body_is_canonical_and_has_no_newline() -> None:
    body = _envelope().body()
    assert b"\n" not in body
    assert body.startswith(b'{"boot":')


def test_wrong_key_and_tampered_body_fail() -> None:
    signer = Signer.generate("consortium.example")
    other = Signer.generate("consortium.example")
    data = encode_message([_envelope()], signer)
    with pytest.raises(SignatureError):
        decode_message(data).verify(other.verifier())
    tampered = decode_message(data.replace(b'"alice"', b'"mallory"'))
    assert isinstance(tampered.lines[0], Line)
    assert tampered.lines[0].envelope.user_id == "mallory"
    with pytest.raises(SignatureError):
        tampered.verify(signer.verifier())
    # Dropping or reordering envelopes also breaks the one signature over them.
    two = encode_message([_envelope(1), _envelope(2)], signer)
    magic, header, first, second, _ = two.split(b"\n")
    swapped = b"\n".join([magic, header, second, first]) + b"\n"
    with pytest.raises(SignatureError):
        decode_message(swapped).verify(signer.verifier())
    with pytest.raises(SignatureError):
        decode_message(b"\n".join([magic, header, first]) + b"\n").verify(signer.verifier())


SIG = base64.b64encode(b"x" * 64)


@pytest.mark.parametrize(
    "data",
    [
        b"hello\nworld\n",
        b"accord.envelopes.v1\nno-signature\n{}\n",
        b"accord.envelopes.v1\nnode !!!!\n{}\n",
        b"accord.envelopes.v1\nbad node " + SIG + b"\n{}\n",
        b"accord.envelopes.v1\nnode " + base64.b64encode(b"x" * 63) + b"\n{}\n",
        b"accord.envelopes.v1\nnode " + SIG + b"\n",
        b"accord.envelopes.v1\nnode " + SIG + b"\n{}",
    ],
)
def test_malformed_messages_are_one_bad_line(data: bytes) -> None:
    message = decode_message(data)
    assert len(message.lines) == 1 and isinstance(message.lines[0], BadLine)
    assert message.lines[0].reason


def test_bad_bodies_are_bad_lines_not_errors() -> None:
    signer = Signer.generate("o")
    good = encode_message([_envelope(1)], signer)
    data = good + b"not json\n" + _envelope(2, node="other").body() + b"\n"
    lines = decode_message(data).lines
    assert isinstance(lines[0], Line)
    assert isinstance(lines[1], BadLine) and isinstance(lines[2], BadLine)
    assert "node" in lines[2].reason


@pytest.mark.parametrize(
    "change",
    [{"kind": "nope"}, {"node": "bad node"}, {"counter": 0}, {"boot": -1}],
)
def test_invalid_envelopes_refused_on_sign(change: dict[str, object]) -> None:
    with pytest.raises(MalformedInput):
        encode_message([_envelope(**change)], Signer.generate("o"))


def test_message_rules_on_sign() -> None:
    signer = Signer.generate("o")
    with pytest.raises(MalformedInput):
        encode_message([], signer)
    with pytest.raises(MalformedInput):
        encode_message([_envelope(2), _envelope(1)], signer)
    with pytest.raises(MalformedInput):
        encode_message([_envelope(1), _envelope(2, node="other")], signer)


@given(
    st.text(max_size=50),
    st.text(max_size=20),
    st.lists(st.text(max_size=8), max_size=3),
    st.text(max_size=20),
)
def test_fast_body_is_the_canonical_json(
    contents: str, user: str, tags: list[str], collection: str
) -> None:
    env = _envelope(contents=contents, user_id=user, tags=tuple(tags), collection_id=collection)
    try:
        canonical = env.canonical_body()
    except MalformedInput:
        with pytest.raises(MalformedInput):
            env.body()
        return
    assert env.body() == canonical
    assert Envelope.from_body(env.body()) == env


def _reference_lines(data: bytes) -> list[object]:
    """A naive decoder of a message's lines (one ``Envelope.from_body`` per line)."""
    node = data.split(b"\n", 2)[1].split(b" ")[0].decode()
    out: list[object] = []
    for body in data.split(b"\n", 2)[2][:-1].split(b"\n"):
        try:
            env = Envelope.from_body(body)
        except MalformedInput as exc:
            out.append(("bad", str(exc)))
            continue
        out.append(env if env.node == node else ("bad", "the envelope's node is not the message's"))
    return out


def _decoded_lines(data: bytes) -> list[object]:
    return [
        line.envelope if isinstance(line, Line) else ("bad", line.reason)
        for line in decode_message(data).lines
    ]


ODD_BODIES = [
    b"",
    b" ",
    b"{}",
    b"[]",
    b"null",
    b"\xef\xbb\xbf" + _envelope().body(),  # a BOM
    _envelope().body() + b" ",  # trailing whitespace (json.loads accepts it)
    b" " + _envelope().body(),
    _envelope().body().replace(b'"alice"', b'"al\\ud800ice"'),  # a lone surrogate, escaped
    _envelope().body().replace(b'"alice"', b'"al\xed\xa0\x80ice"'),  # one, raw (surrogatepass)
    _envelope().body().replace(b'"alice"', b'"al\xffice"'),  # not UTF-8
    _envelope().body().replace(b'"counter":1', b'"counter":true'),
    _envelope().body().replace(b'"counter":1', b'"counter":1.0'),
    _envelope().body().replace(b'"counter":1', b'"counter":0'),
    _envelope().body().replace(b'"boot":1700000000000', b'"boot":9007199254740992'),
    _envelope().body().replace(b'"tags":["a","b=1"]', b'"tags":["a",1]'),
    _envelope().body().replace(b'"tags":["a","b=1"]', b'"tags":"a"'),
    _envelope().body().replace(b'"kind":"entry"', b'"kind":["entry"]'),
    _envelope().body().replace(b'"format":"accord.envelope.v1"', b'"format":"v2"'),
    _envelope().body().replace(b'"user":"alice"', b'"user":"alice","user":"bob"'),
    _envelope().body().replace(b'"user":"alice"', b'"user":"alice","extra":1'),
    _envelope().body().replace(b'"node":"supplier-1"', b'"node":"other"'),
    _envelope().body().replace(b'"node":"supplier-1"', b'"node":"bad node"'),
    _envelope().body()[:-1],
    _envelope().body() + b"{}",
    '{"boot":1}'.encode("utf-16-le"),
]


def test_decoding_odd_lines_matches_the_naive_decoder() -> None:
    signer = Signer.generate("o")
    data = encode_message([_envelope(1)], signer) + b"\n".join(ODD_BODIES) + b"\n"
    assert _decoded_lines(data) == _reference_lines(data)
    assert isinstance(decode_message(data).lines[0], Line)


@given(
    st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.builds(
                lambda contents, user, cut, junk: (
                    _envelope(contents=contents, user_id=user).body()[:cut] + junk
                ),
                st.text(max_size=20),
                st.text(max_size=8),
                st.integers(min_value=0, max_value=400),
                st.binary(max_size=4),
            ),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_decoding_matches_the_naive_decoder(bodies: list[bytes]) -> None:
    bodies = [b.replace(b"\n", b" ") for b in bodies]
    data = (
        b"accord.envelopes.v1\nsupplier-1 "
        + SIG
        + b"\n"
        + b"".join(body + b"\n" for body in bodies)
    )
    assert _decoded_lines(data) == _reference_lines(data)
    message = decode_message(data)
    assert message.signed == b"accord.envelope.v1\nsupplier-1\n" + b"".join(
        b + b"\n" for b in bodies
    )


SIGNER = Signer.generate("supplier-1")


@given(
    st.lists(
        st.tuples(
            st.text(max_size=40),
            st.text(min_size=1, max_size=12),
            st.lists(st.text(max_size=6), max_size=3),
            st.sampled_from(["entry", "clock", "governance", "evidence"]),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_an_own_message_is_what_decoding_its_bytes_gives(
    specs: list[tuple[str, str, list[str], str]],
) -> None:
    envelopes = [
        _envelope(i + 1, contents=c, user_id=u, tags=tuple(t), kind=k)
        for i, (c, u, t, k) in enumerate(specs)
    ]
    try:
        bodies = [env.body() for env in envelopes]
    except MalformedInput:
        return  # not valid Unicode: never published
    data, own = encode_own(envelopes, bodies, SIGNER)
    assert data == encode_bodies("supplier-1", bodies, SIGNER)
    assert decode_message(data) == own
    own.verify(SIGNER.verifier())
    assert message_header(data) == data[: data.index(b"\n", len(b"accord.envelopes.v1\n")) + 1]
    assert data.startswith(message_header(data)) and message_header(data).count(b"\n") == 2


def test_encode_own_refuses_what_a_message_cannot_hold() -> None:
    env = _envelope()
    with pytest.raises(MalformedInput):
        encode_own([], [], SIGNER)
    with pytest.raises(MalformedInput):
        encode_own([env], [], SIGNER)
    with pytest.raises(MalformedInput):
        encode_own([env, _envelope(2, node="other-1")], [env.body(), env.body()], SIGNER)
