"""Tests for accord.core.note: Go sumdb/note known answers, broken variants, properties."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.note import (
    MAX_SIGNATURES,
    MEMO_MAX_MESSAGE,
    NoteSignature,
    Signer,
    VerifiedNote,
    Verifier,
    ed25519_verify,
    key_hash,
    open_note,
    sign_note,
)
from accord.errors import (
    ConfigurationError,
    MalformedInput,
    SignatureError,
    VerificationError,
)

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "c2sp"
GO: dict[str, Any] = json.loads((VECTORS / "go-sumdb-note" / "vectors.json").read_text("utf-8"))

PETER_VKEY: str = GO["keys"]["peter"]["vkey"]
PETER_SKEY: str = GO["keys"]["peter"]["skey"]
ENOCH_VKEY: str = GO["keys"]["enoch"]["vkey"]
TEXT: str = GO["text"]
PETER_SIG: str = GO["signatures"]["peter"]
ENOCH_SIG: str = GO["signatures"]["enoch"]
SIGNED: str = GO["signed_note"]


@pytest.fixture(scope="module")
def peter() -> Verifier:
    return Verifier.from_vkey(PETER_VKEY)


@pytest.fixture(scope="module")
def enoch() -> Verifier:
    return Verifier.from_vkey(ENOCH_VKEY)


@pytest.fixture(scope="module")
def peter_signer() -> Signer:
    return Signer.from_skey(PETER_SKEY)


# --- a deliberately naive reference, written straight from the spec -------------------------


def naive_key_id(name: str, raw_public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n\x01" + raw_public_key).digest()[:4]


def naive_sign(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    raw_pub = private_key.public_key().public_bytes_raw()
    sig = private_key.sign(text.encode())
    blob = base64.b64encode(naive_key_id(name, raw_pub) + sig).decode()
    return f"{text}\n\u2014 {name} {blob}\n"


def naive_verified_names(note: str, keys: dict[str, Ed25519PublicKey]) -> list[str]:
    """Names (from ``keys``) whose signature line verifies; no error handling at all."""
    text, _, block = note.rpartition("\n\n")
    text += "\n"
    names = []
    for line in block.splitlines():
        m = re.fullmatch("\u2014 (\\S+) (\\S+)", line)
        assert m
        name, raw = m.group(1), base64.b64decode(m.group(2))
        key = keys.get(name)
        if key is None or raw[:4] != naive_key_id(name, key.public_bytes_raw()):
            continue
        try:
            key.verify(raw[4:], text.encode())
        except InvalidSignature:
            continue
        names.append(name)
    return names


# --- keys --------------------------------------------------------------------------------------


def test_verifier_key_known_answer(peter: Verifier) -> None:
    assert peter.name == "PeterNeumann"
    assert peter.key_id == bytes.fromhex("c74f20a3")
    assert peter.to_vkey() == PETER_VKEY
    assert key_hash("PeterNeumann", b"\x01" + peter.public_key_bytes) == peter.key_id
    assert naive_key_id("PeterNeumann", peter.public_key_bytes) == peter.key_id


def test_signer_key_known_answer(peter_signer: Signer, peter: Verifier) -> None:
    assert peter_signer.name == "PeterNeumann"
    assert peter_signer.key_id == bytes.fromhex("c74f20a3")
    assert peter_signer.to_skey() == PETER_SKEY
    assert peter_signer.verifier() == peter
    assert peter_signer.verifier().to_vkey() == PETER_VKEY


def test_signer_repr_hides_the_seed(peter_signer: Signer) -> None:
    seed_b64 = PETER_SKEY.rsplit("+", 1)[1]
    assert seed_b64 not in repr(peter_signer)
    assert "c74f20a3" in repr(peter_signer)


def test_enoch_key_known_answer(enoch: Verifier) -> None:
    assert enoch.key_id == bytes.fromhex("af0cfe78")
    assert enoch.to_vkey() == ENOCH_VKEY


@pytest.mark.parametrize("bad", GO["bad_vkeys"], ids=lambda b: b["why"])
def test_go_bad_verifier_keys(bad: dict[str, str]) -> None:
    with pytest.raises(MalformedInput):
        Verifier.from_vkey(bad["vkey"])


def test_go_verifier_key_manglings_rejected() -> None:
    # As in Go's TestNewVerifier: every proper substring and every one-character change fails.
    for i in range(len(PETER_VKEY) + 1):
        for j in range(i + 1, len(PETER_VKEY) + 1):
            if (i, j) != (0, len(PETER_VKEY)):
                with pytest.raises(MalformedInput):
                    Verifier.from_vkey(PETER_VKEY[i:j])
    for i, ch in enumerate(PETER_VKEY):
        with pytest.raises(MalformedInput):
            Verifier.from_vkey(PETER_VKEY[:i] + chr(ord(ch) + 1) + PETER_VKEY[i + 1 :])


def test_go_signer_key_manglings_rejected() -> None:
    for i in range(len(PETER_SKEY) + 1):
        for j in range(i + 1, len(PETER_SKEY) + 1):
            if (i, j) != (0, len(PETER_SKEY)):
                with pytest.raises(MalformedInput):
                    Signer.from_skey(PETER_SKEY[i:j])
    for i, ch in enumerate(PETER_SKEY):
        with pytest.raises(MalformedInput):
            Signer.from_skey(PETER_SKEY[:i] + chr(ord(ch) + 1) + PETER_SKEY[i + 1 :])


@pytest.mark.parametrize(
    "vkey",
    [
        PETER_VKEY.replace("c74f20a3", "C74F20A3"),  # hash must be lowercase hex
        PETER_VKEY + "\n",
        " " + PETER_VKEY,
        PETER_VKEY.replace("+ARpc", "+ ARpc"),
        "",
        "PeterNeumann",
        "PeterNeumann+c74f20a3",
        "PeterNeumann+c74f20a3+",
    ],
)
def test_more_bad_verifier_keys(vkey: str) -> None:
    with pytest.raises(MalformedInput):
        Verifier.from_vkey(vkey)


def test_verifier_key_with_a_signer_key_is_rejected() -> None:
    with pytest.raises(MalformedInput):
        Verifier.from_vkey(PETER_SKEY)
    with pytest.raises(MalformedInput):
        Signer.from_skey(PETER_VKEY)


@pytest.mark.parametrize(
    "name", ["", "a b", "a+b", "a\tb", "a\u00a0b", "a\u2003b", "a\u3000b", "a\nb", "\ud800"]
)
def test_invalid_key_names(name: str) -> None:
    with pytest.raises(MalformedInput):
        Signer.generate(name)


@pytest.mark.parametrize("name", ["example.com/log42", "Señor-1", "a", "sum.golang.org"])
def test_valid_key_names(name: str) -> None:
    signer = Signer.generate(name)
    verifier = Verifier.from_vkey(signer.verifier().to_vkey())
    assert verifier == signer.verifier()
    assert Signer.from_skey(signer.to_skey()) == signer


def test_key_id_must_match_the_key(peter: Verifier, peter_signer: Signer) -> None:
    with pytest.raises(MalformedInput):
        Verifier(peter.name, b"\x00\x00\x00\x00", peter.public_key)
    with pytest.raises(MalformedInput):
        Verifier("PaulNeumann", peter.key_id, peter.public_key)
    with pytest.raises(MalformedInput):
        Verifier(peter.name, peter.key_id[:3], peter.public_key)
    with pytest.raises(MalformedInput):
        Signer(peter.name, b"\x00\x00\x00\x00", peter_signer.private_key)


def test_verifiers_are_hashable_and_compare_by_key(peter: Verifier, enoch: Verifier) -> None:
    again = Verifier.from_vkey(PETER_VKEY)
    assert again == peter and hash(again) == hash(peter)
    assert peter != enoch
    assert len({peter, again, enoch}) == 2


def test_verify_raises_and_never_returns_false(peter_signer: Signer, peter: Verifier) -> None:
    sig = peter_signer.sign(b"hi")
    peter.verify(b"hi", sig)  # returns nothing, raises on failure
    with pytest.raises(SignatureError):
        peter.verify(b"ho", sig)
    with pytest.raises(SignatureError):
        peter.verify(b"hi", bytes([sig[0] ^ 1]) + sig[1:])
    with pytest.raises(SignatureError):
        peter.verify(b"hi", sig[:-1])
    with pytest.raises(SignatureError):
        peter.verify(b"hi", b"")


# --- signing -----------------------------------------------------------------------------------


def test_sign_known_answer(peter_signer: Signer) -> None:
    # Ed25519 is deterministic: signing must reproduce Go's note byte for byte.
    assert sign_note(TEXT, peter_signer) == SIGNED


def test_sign_matches_naive_reference(peter_signer: Signer) -> None:
    assert sign_note(TEXT, peter_signer) == naive_sign(
        TEXT, "PeterNeumann", peter_signer.private_key
    )


def test_sign_with_two_signers_lists_both_in_order(peter_signer: Signer) -> None:
    other = Signer.generate("EnochRoot")
    signed = sign_note(TEXT, peter_signer, other)
    assert signed.startswith(TEXT + "\n" + PETER_SIG + "\u2014 EnochRoot ")
    note = open_note(signed, [peter_signer.verifier(), other.verifier()])
    assert note.verified_keys == (
        ("PeterNeumann", peter_signer.key_id),
        ("EnochRoot", other.key_id),
    )


@pytest.mark.parametrize(
    "text",
    ["", "abc", "no newline\nat end", "tab\there\n", "cr\r\n", "nul\x00\n", "\ud800\n"],
)
def test_sign_rejects_bad_text(peter_signer: Signer, text: str) -> None:
    with pytest.raises(MalformedInput):
        sign_note(text, peter_signer)


def test_sign_needs_a_signer() -> None:
    with pytest.raises(MalformedInput):
        sign_note(TEXT)


# --- opening: Go's TestOpen ---------------------------------------------------------------------


def test_open_known_answer(peter: Verifier) -> None:
    note = open_note(SIGNED, [peter])
    assert note.text == TEXT
    assert note.verified_keys == (("PeterNeumann", bytes.fromhex("c74f20a3")),)
    assert note.unverified == ()
    assert open_note(SIGNED.encode(), [peter]) == note


def test_open_one_verified_one_not(peter: Verifier) -> None:
    note = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter])
    assert note.text == TEXT
    assert [s.name for s in note.verified] == ["PeterNeumann"]
    assert [s.name for s in note.unverified] == ["EnochRoot"]
    assert note.unverified[0].key_id == bytes.fromhex("af0cfe78")
    assert note.unverified[0].to_line() == ENOCH_SIG
    assert note.verified[0].to_line() == PETER_SIG


def test_open_both_verified(peter: Verifier, enoch: Verifier) -> None:
    note = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter, enoch])
    assert [s.name for s in note.verified] == ["PeterNeumann", "EnochRoot"]
    assert note.unverified == ()


def test_open_no_trusted_signature() -> None:
    with pytest.raises(SignatureError):
        open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])


def test_open_duplicated_verifier_list_is_fine(peter: Verifier, enoch: Verifier) -> None:
    note = open_note(TEXT + "\n" + ENOCH_SIG, [enoch, peter, enoch])
    assert note.verified_keys == (("EnochRoot", enoch.key_id),)


def test_open_ambiguous_verifiers_refused(peter: Verifier) -> None:
    # Two different keys under one (name, key ID) cannot be told apart: refuse the configuration.
    impostor = Verifier.from_public_key(peter.name, Ed25519PrivateKey.generate().public_key())
    object.__setattr__(impostor, "key_id", peter.key_id)  # simulate a 32-bit collision
    with pytest.raises(ConfigurationError):
        open_note(SIGNED, [peter, impostor])


def test_open_too_many_signatures(peter: Verifier) -> None:
    ok = open_note(TEXT + "\n" + PETER_SIG * MAX_SIGNATURES, [peter])
    assert len(ok.verified) == 1
    for verifiers in ([peter], []):
        with pytest.raises(MalformedInput):
            open_note(TEXT + "\n" + PETER_SIG * (MAX_SIGNATURES + 1), verifiers)


def test_open_go_invalid_signature(peter: Verifier) -> None:
    with pytest.raises(SignatureError):
        open_note(GO["invalid_signature_note"], [peter])


def test_open_go_duplicated_signatures(peter: Verifier, enoch: Verifier) -> None:
    note = open_note(GO["duplicated_signatures_note"], [peter])
    assert note.verified_keys == (("PeterNeumann", peter.key_id),)
    assert [base64.b64encode(s.key_id + s.signature).decode() for s in note.unverified] == GO[
        "duplicated_signatures_unverified"
    ]
    # Stricter than Go: every line from a trusted key must verify, repeats included, so the
    # corrupted third EnochRoot line sinks the note once EnochRoot is trusted.
    with pytest.raises(SignatureError):
        open_note(GO["duplicated_signatures_note"], [peter, enoch])


@pytest.mark.parametrize("msg", GO["malformed_notes"])
def test_open_go_malformed(peter: Verifier, msg: str) -> None:
    with pytest.raises(MalformedInput):
        open_note(msg, [peter])


@pytest.mark.parametrize("hex_msg", GO["malformed_notes_hex"])
def test_open_go_malformed_bytes(peter: Verifier, hex_msg: str) -> None:
    with pytest.raises(MalformedInput):
        open_note(bytes.fromhex(hex_msg), [peter])


def test_open_go_mismatched_name_or_hash(peter: Verifier) -> None:
    # Go's errMismatchedVerifier cases: a line under another name or key ID is not Peter's.
    with pytest.raises(SignatureError):
        open_note(TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "CarmenSandiego"), [peter])
    with pytest.raises(SignatureError):
        open_note(TEXT + "\n" + PETER_SIG.replace("x08g", "xxxx"), [peter])


# --- opening: broken variants of the known-good note -------------------------------------------


def _sig_line(name: str, raw: bytes) -> str:
    return f"\u2014 {name} {base64.b64encode(raw).decode()}\n"


PETER_RAW = base64.b64decode(PETER_SIG.split(" ")[2])


@pytest.mark.parametrize("bit", [0, 7, 100, 511])
def test_flipped_signature_bit(peter: Verifier, bit: int) -> None:
    raw = bytearray(PETER_RAW)
    raw[4 + bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(SignatureError):
        open_note(TEXT + "\n" + _sig_line("PeterNeumann", bytes(raw)), [peter])


@pytest.mark.parametrize("bit", [0, 31])
def test_flipped_key_id_bit_makes_it_an_unknown_key(peter: Verifier, bit: int) -> None:
    raw = bytearray(PETER_RAW)
    raw[bit // 8] ^= 1 << (bit % 8)
    note = TEXT + "\n" + _sig_line("PeterNeumann", bytes(raw))
    with pytest.raises(SignatureError):
        open_note(note, [peter])
    # ... and it is ignored next to a good signature.
    assert len(open_note(note[:-1] + "\n" + PETER_SIG, [peter]).unverified) == 1


def test_wrong_key_name(peter: Verifier) -> None:
    with pytest.raises(SignatureError):
        open_note(TEXT + "\n" + _sig_line("PeterNeuman", PETER_RAW), [peter])


def test_changed_text(peter: Verifier) -> None:
    for changed in [TEXT.replace("answer", "Answer"), TEXT + "P.S.\n", "\n" + TEXT, TEXT + "\n"]:
        with pytest.raises(SignatureError):
            open_note(changed + "\n" + PETER_SIG, [peter])


def test_signature_from_another_key_under_peters_name(peter: Verifier) -> None:
    other = Ed25519PrivateKey.generate()
    forged = peter.key_id + other.sign(TEXT.encode())
    with pytest.raises(SignatureError):
        open_note(TEXT + "\n" + _sig_line("PeterNeumann", forged), [peter])


def test_good_signature_plus_bad_one_from_same_key(peter: Verifier) -> None:
    raw = bytearray(PETER_RAW)
    raw[-1] ^= 0x80
    with pytest.raises(SignatureError):
        open_note(TEXT + "\n" + PETER_SIG + _sig_line("PeterNeumann", bytes(raw)), [peter])


@pytest.mark.parametrize(
    "note",
    [
        "",
        "\n",
        "\n\n",
        TEXT,  # missing signature block
        TEXT + "\n",  # missing signature
        TEXT + PETER_SIG,  # missing blank line
        TEXT + "\n" + PETER_SIG + "\n",  # blank line after the signatures
        TEXT + "\n" + PETER_SIG + PETER_SIG.rstrip("\n"),  # last line unterminated
        TEXT + "\n" + PETER_SIG + "extra line\n",
        TEXT + "\n" + PETER_SIG.replace("\u2014", "-"),
        TEXT + "\n" + PETER_SIG.replace("\u2014 ", "\u2014"),
        TEXT + "\n" + PETER_SIG.replace(" x08", "  x08"),
        TEXT + "\n" + PETER_SIG.replace(" x08", "\tx08"),
        TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter\u00a0Neumann"),
        TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter+Neumann"),
        TEXT + "\n" + PETER_SIG.replace("PeterNeumann ", ""),
        TEXT + "\n" + PETER_SIG.replace("=\n", "\n"),  # missing padding
        TEXT + "\n" + PETER_SIG.replace("AM=\n", "AN=\n"),  # non-canonical base64
        TEXT + "\n" + PETER_SIG.replace("x08g", "x0*g"),
        TEXT + "\n" + _sig_line("PeterNeumann", PETER_RAW[:4]),  # no signature bytes
        TEXT.replace("\n", "\r\n") + "\r\n" + PETER_SIG,
        TEXT + "\n" + PETER_SIG + "\x01\n",
        TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter\x01Neumann"),
    ],
)
def test_malformed_variants(peter: Verifier, note: str) -> None:
    with pytest.raises(MalformedInput):
        open_note(note, [peter])


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff" + SIGNED.encode(),
        SIGNED.encode().replace(b"\xe2\x80\x94", b"\xe2\x80"),  # truncated em dash
        SIGNED.encode().replace(b"problem", b"pr\xc0\xafblem"),  # overlong encoding
        SIGNED.encode().replace(b"problem", b"pr\xed\xa0\x80blem"),  # encoded surrogate
    ],
)
def test_not_utf8(peter: Verifier, raw: bytes) -> None:
    with pytest.raises(MalformedInput):
        open_note(raw, [peter])


def test_str_with_lone_surrogate(peter: Verifier) -> None:
    with pytest.raises(MalformedInput):
        open_note("\ud800" + SIGNED, [peter])


def test_text_with_blank_lines_splits_at_the_last_one(peter_signer: Signer) -> None:
    text = "first\n\nsecond\n\n\u2014 not a signature\n"
    note = open_note(sign_note(text, peter_signer), [peter_signer.verifier()])
    assert note.text == text


def test_empty_line_text_round_trips(peter_signer: Signer) -> None:
    assert open_note(sign_note("\n", peter_signer), [peter_signer.verifier()]).text == "\n"


def test_errors_are_verification_errors() -> None:
    assert issubclass(MalformedInput, VerificationError)
    assert issubclass(SignatureError, VerificationError)


# --- properties ----------------------------------------------------------------------------------

NOTE_CHARS = st.characters(min_codepoint=0x20, exclude_categories=["Cs"]) | st.just("\n")
NOTE_TEXTS = st.text(NOTE_CHARS, max_size=200).map(lambda s: s + "\n")

_SIGNERS = [Signer.generate(f"prop-{i}.example/log") for i in range(3)]


@settings(max_examples=200, deadline=None)
@given(text=NOTE_TEXTS, which=st.lists(st.integers(0, 2), min_size=1, max_size=4))
def test_sign_open_round_trip(text: str, which: list[int]) -> None:
    signers = [_SIGNERS[i] for i in which]
    signed = sign_note(text, *signers)
    note = open_note(signed, [s.verifier() for s in _SIGNERS])
    assert note.text == text
    assert {n for n, _ in note.verified_keys} == {s.name for s in signers}
    keys = {s.name: s.private_key.public_key() for s in _SIGNERS}
    assert set(naive_verified_names(signed, keys)) == {s.name for s in signers}
    # Opened with only a key that did not sign: nothing verifies.
    absent = [s for s in _SIGNERS if s not in signers]
    if absent:
        with pytest.raises(SignatureError):
            open_note(signed, [absent[0].verifier()])


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=300) | st.text(max_size=300).map(lambda s: s.encode("utf-8", "replace"))
)
def test_open_arbitrary_bytes_is_refused_with_an_accord_error(data: bytes) -> None:
    # Random bytes are never a note signed by this key: they must be refused, and only with a
    # VerificationError (never a raw ValueError/UnicodeError, never accepted).
    with pytest.raises(VerificationError):
        open_note(data, [_SIGNERS[0].verifier()])


@settings(max_examples=200, deadline=None)
@given(text=NOTE_TEXTS, pos=st.integers(min_value=0), new=NOTE_CHARS)
def test_any_text_change_is_caught(text: str, pos: int, new: str) -> None:
    signed = sign_note(text, _SIGNERS[0])
    i = pos % len(text)
    if text[i] == new:
        return
    tampered = text[:i] + new + text[i + 1 :]
    with pytest.raises(VerificationError):
        open_note(tampered + signed[len(text) :], [_SIGNERS[0].verifier()])


@settings(max_examples=100, deadline=None)
@given(vkey=st.text(max_size=80))
def test_from_vkey_arbitrary_text_raises_only_malformed(vkey: str) -> None:
    try:
        Verifier.from_vkey(vkey)
    except MalformedInput:
        pass


def test_verified_note_is_plain_data() -> None:
    sig = NoteSignature("a", b"\x00\x00\x00\x01", b"x")
    note = VerifiedNote("t\n", (sig,))
    assert note.verified_keys == (("a", b"\x00\x00\x00\x01"),)
    assert note.unverified == ()


# --- the memo of verified signatures ------------------------------------------------------------
def test_a_remembered_signature_still_binds_key_signature_and_message() -> None:
    key = Ed25519PrivateKey.generate()
    other = Ed25519PrivateKey.generate().public_key()
    message = b"accord.example/log\n5\nroot\n"
    signature = key.sign(message)
    ed25519_verify(key.public_key(), signature, message)  # verified, then remembered
    ed25519_verify(key.public_key(), signature, message)  # remembered
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    for public, sig, msg in (
        (key.public_key(), signature, message + b"x"),
        (key.public_key(), flipped, message),
        (other, signature, message),
    ):
        with pytest.raises(InvalidSignature):
            ed25519_verify(public, sig, msg)
    # a failure is never remembered: the same bad triple fails again
    with pytest.raises(InvalidSignature):
        ed25519_verify(other, signature, message)


def test_large_messages_are_verified_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    key = Ed25519PrivateKey.generate()
    message = b"m" * (MEMO_MAX_MESSAGE + 1)
    signature = key.sign(message)
    ed25519_verify(key.public_key(), signature, message)
    calls: list[bytes] = []
    public = key.public_key()

    class Counting:
        def public_bytes_raw(self) -> bytes:
            return public.public_bytes_raw()

        def verify(self, sig: bytes, msg: bytes) -> None:
            calls.append(msg)
            public.verify(sig, msg)

    ed25519_verify(Counting(), signature, message)  # type: ignore[arg-type]
    assert calls == [message]


@pytest.mark.parametrize("char", ["\x00", "\t", "\x0b", "\r", "\x1f"])
def test_every_control_character_but_newline_is_refused(peter_signer: Signer, char: str) -> None:
    with pytest.raises(MalformedInput, match=f"control character {ord(char):#04x}"):
        sign_note(f"accord.example/log{char}\n5\n", peter_signer)
    assert sign_note("accord.example/log \x7f\n5\n", peter_signer)  # DEL and space are fine
