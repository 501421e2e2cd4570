"""Tests for accord.core.checkpoint: known answers, strict parsing, broken variants, properties."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.checkpoint import (
    MAX_TREE_SIZE,
    Checkpoint,
    open_checkpoint,
    sign_checkpoint,
)
from accord.core.note import Signer, Verifier, open_note, sign_note
from accord.errors import MalformedInput, SignatureError, VerificationError

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "c2sp"
GO: dict[str, Any] = json.loads((VECTORS / "go-sumdb-note" / "vectors.json").read_text("utf-8"))
TD: dict[str, Any] = json.loads(
    (VECTORS / "transparency-dev-formats" / "vectors.json").read_text("utf-8")
)
SUMDB: dict[str, Any] = TD["sumdb_checkpoint"]

ROOT = hashlib.sha256(b"\x00hello world").digest()
ROOT_B64 = base64.b64encode(ROOT).decode()


def naive_text(origin: str, size: int, root: bytes, extensions: list[str]) -> str:
    """The checkpoint body written straight from the spec."""
    body = f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"
    return body + "".join(f"{line}\n" for line in extensions)


@pytest.fixture(scope="module")
def log_signer() -> Signer:
    # transparency-dev/formats' "Log" key: its name is the origin, as our convention wants.
    return Signer.from_skey(TD["key_pairs"][0]["skey"])


@pytest.fixture(scope="module")
def log_cp(log_signer: Signer) -> Checkpoint:
    return Checkpoint(log_signer.name, 42, ROOT)


# --- known answers -------------------------------------------------------------------------------


def test_go_tree_known_answer() -> None:
    tree = GO["tree"]
    cp = Checkpoint.from_text(tree["text"])
    assert cp.origin == tree["origin"] == "go.sum database tree"
    assert cp.size == tree["size"]
    # Go's RecordHash is the RFC 6962 leaf hash SHA-256(0x00 || data).
    assert (
        cp.root_hash
        == hashlib.sha256(b"\x00" + tree["root_hash_is_leaf_hash_of"].encode()).digest()
    )
    assert cp.extensions == ()
    assert cp.to_text() == tree["text"]


@pytest.mark.parametrize("bad", GO["tree"]["bad"])
def test_go_bad_trees(bad: str) -> None:
    with pytest.raises(MalformedInput):
        Checkpoint.from_text(bad)


def test_go_junk_on_end() -> None:
    # Go's ParseTree ignores junk after the root; the checkpoint spec makes every following line
    # an extension line, so we keep it, and a last line without newline is not a note text.
    text = GO["tree"]["text"]
    assert Checkpoint.from_text(text + "JOE\n").extensions == ("JOE",)
    assert Checkpoint.from_text(text + "JOE\n" * 1000).extensions == ("JOE",) * 1000
    with pytest.raises(MalformedInput):
        Checkpoint.from_text(text + "JOE")


def test_sumdb_signed_checkpoint() -> None:
    verifier = Verifier.from_vkey(SUMDB["vkey"])
    cp = open_checkpoint(SUMDB["note"], verifier, origin=SUMDB["origin"])
    assert cp == Checkpoint(
        SUMDB["origin"], SUMDB["size"], base64.b64decode(SUMDB["root_hash_b64"])
    )
    assert open_checkpoint(SUMDB["note"].encode(), verifier, origin=SUMDB["origin"]) == cp
    # Re-encoding gives back the signed text byte for byte.
    assert SUMDB["note"].startswith(cp.to_text() + "\n")


def test_sumdb_checkpoint_default_origin_is_the_key_name() -> None:
    # sum.golang.org's origin line is "go.sum database tree", not its key name: by our
    # convention that is a mismatch unless the caller names the origin.
    verifier = Verifier.from_vkey(SUMDB["vkey"])
    with pytest.raises(VerificationError) as info:
        open_checkpoint(SUMDB["note"], verifier)
    assert type(info.value) is VerificationError
    with pytest.raises(VerificationError):
        open_checkpoint(SUMDB["note"], verifier, origin="Go rocks but I might have the wrong ID")


@pytest.mark.parametrize("pair", TD["key_pairs"], ids=lambda p: p["vkey"].split("+")[0])
def test_transparency_dev_key_pairs(pair: dict[str, str]) -> None:
    signer = Signer.from_skey(pair["skey"])
    assert signer.verifier().to_vkey() == pair["vkey"]
    assert Verifier.from_vkey(pair["vkey"]) == signer.verifier()
    assert signer.to_skey() == pair["skey"]


def test_formats_marshal_shape() -> None:
    # transparency-dev/formats TestMarshal, with a real 32-byte root in place of "bananas".
    assert Checkpoint("Log", 123, ROOT).to_text() == f"Log\n123\n{ROOT_B64}\n"


# --- sign and open -------------------------------------------------------------------------------


def test_sign_and_open(log_signer: Signer, log_cp: Checkpoint) -> None:
    signed = sign_checkpoint(log_cp, log_signer)
    assert signed.startswith(f"Log\n42\n{ROOT_B64}\n\n\u2014 Log ")
    assert open_checkpoint(signed, log_signer.verifier()) == log_cp
    assert open_checkpoint(signed, log_signer.verifier(), origin="Log") == log_cp


def test_extensions_are_signed(log_signer: Signer) -> None:
    cp = Checkpoint("Log", 7, ROOT, ("ext one", "ext two"))
    signed = sign_checkpoint(cp, log_signer)
    assert open_checkpoint(signed, log_signer.verifier()) == cp
    with pytest.raises(SignatureError):
        open_checkpoint(signed.replace("ext two", "ext 2"), log_signer.verifier())


def test_other_signatures_are_ignored(log_signer: Signer, log_cp: Checkpoint) -> None:
    witness = Signer.generate("witness.example/w1")
    signed = sign_note(log_cp.to_text(), witness, log_signer)
    assert open_checkpoint(signed, log_signer.verifier()) == log_cp


# --- broken variants -----------------------------------------------------------------------------


def test_origin_mismatch(log_signer: Signer) -> None:
    signed = sign_checkpoint(Checkpoint("Not the log", 1, ROOT), log_signer)
    with pytest.raises(VerificationError):
        open_checkpoint(signed, log_signer.verifier())
    with pytest.raises(VerificationError):
        open_checkpoint(signed, log_signer.verifier(), origin="Log")
    assert open_checkpoint(signed, log_signer.verifier(), origin="Not the log").size == 1


def test_flipped_signature_bit(log_signer: Signer, log_cp: Checkpoint) -> None:
    signed = sign_checkpoint(log_cp, log_signer)
    head, _, b64 = signed.rstrip("\n").rpartition(" ")
    raw = bytearray(base64.b64decode(b64))
    raw[20] ^= 0x04
    with pytest.raises(SignatureError):
        open_checkpoint(f"{head} {base64.b64encode(bytes(raw)).decode()}\n", log_signer.verifier())


def test_wrong_key(log_signer: Signer, log_cp: Checkpoint) -> None:
    impostor = Signer.generate("Log")  # same name, other key, so another key ID
    signed = sign_checkpoint(log_cp, impostor)
    with pytest.raises(SignatureError):
        open_checkpoint(signed, log_signer.verifier())


def test_wrong_key_name_and_key_hash(log_signer: Signer, log_cp: Checkpoint) -> None:
    signed = sign_checkpoint(log_cp, log_signer)
    with pytest.raises(SignatureError):
        open_checkpoint(signed.replace("\u2014 Log ", "\u2014 Lag "), log_signer.verifier())
    prefix = signed.index("\u2014 Log ") + len("\u2014 Log ")
    raw = bytearray(base64.b64decode(signed[prefix:].rstrip("\n")))
    raw[0] ^= 0x01
    tampered = signed[:prefix] + base64.b64encode(bytes(raw)).decode() + "\n"
    with pytest.raises(SignatureError):
        open_checkpoint(tampered, log_signer.verifier())


@pytest.mark.parametrize(
    ("old", "new"),
    [("\n42\n", "\n43\n"), ("Log\n", "Lag\n"), (ROOT_B64, base64.b64encode(bytes(32)).decode())],
)
def test_changed_body(log_signer: Signer, log_cp: Checkpoint, old: str, new: str) -> None:
    signed = sign_checkpoint(log_cp, log_signer)
    with pytest.raises(SignatureError):
        open_checkpoint(signed.replace(old, new, 1), log_signer.verifier())


def test_missing_signature(log_signer: Signer, log_cp: Checkpoint) -> None:
    with pytest.raises(MalformedInput):
        open_checkpoint(log_cp.to_text(), log_signer.verifier())
    with pytest.raises(MalformedInput):
        open_checkpoint(log_cp.to_text() + "\n", log_signer.verifier())
    only_other = sign_note(log_cp.to_text(), Signer.generate("someone.else"))
    with pytest.raises(SignatureError):
        open_checkpoint(only_other, log_signer.verifier())


def test_signature_is_checked_before_parsing(log_signer: Signer) -> None:
    # A garbage body under a bad signature is a signature failure, not a parse failure.
    garbage = sign_note("if this is a valid checkpoint then I'll eat my hat\n", log_signer)
    with pytest.raises(MalformedInput):
        open_checkpoint(garbage, log_signer.verifier())
    other = sign_note(
        "if this is a valid checkpoint then I'll eat my hat\n", Signer.generate("Log")
    )
    with pytest.raises(SignatureError):
        open_checkpoint(other, log_signer.verifier())


@pytest.mark.parametrize(
    "body",
    [
        f"Log\nLog\n42\n{ROOT_B64}\n",  # duplicated origin line
        f"Log\n42\n42\n{ROOT_B64}\n",  # duplicated size line
        f"Log\n042\n{ROOT_B64}\n",
        f"Log\n{ROOT_B64}\n",
        f"Log\n42\n{ROOT_B64}\n\nextension after an empty line\n",
    ],
)
def test_validly_signed_but_malformed_body(log_signer: Signer, body: str) -> None:
    with pytest.raises(MalformedInput):
        open_checkpoint(sign_note(body, log_signer), log_signer.verifier())


def test_duplicated_and_extra_signature_lines(log_signer: Signer, log_cp: Checkpoint) -> None:
    signed = sign_checkpoint(log_cp, log_signer)
    sig_line = signed[len(log_cp.to_text()) + 1 :]
    assert open_checkpoint(signed + sig_line, log_signer.verifier()) == log_cp
    with pytest.raises(MalformedInput):
        open_checkpoint(signed + "extra line\n", log_signer.verifier())
    with pytest.raises(MalformedInput):
        open_checkpoint(signed + "\n", log_signer.verifier())


# --- strict parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size",
    [
        "042",
        "00",
        "+42",
        "-1",
        "-0",
        " 42",
        "42 ",
        "4_2",
        "0x2a",
        "4.2",
        "1e3",
        "",
        "\u0664\u0662",  # Arabic-Indic digits, which int() would accept
        "\uff14\uff12",  # fullwidth digits
        str(MAX_TREE_SIZE + 1),
        "9" * 25,
    ],
)
def test_non_canonical_size(size: str) -> None:
    with pytest.raises(MalformedInput):
        Checkpoint.from_text(f"Log\n{size}\n{ROOT_B64}\n")


def test_size_bounds() -> None:
    assert Checkpoint.from_text(f"Log\n0\n{ROOT_B64}\n").size == 0
    top = Checkpoint.from_text(f"Log\n{MAX_TREE_SIZE}\n{ROOT_B64}\n")
    assert top.size == 2**64 - 1


@pytest.mark.parametrize(
    "root",
    [
        base64.b64encode(bytes(31)).decode(),
        base64.b64encode(bytes(33)).decode(),
        "",
        ROOT_B64.rstrip("="),  # missing padding
        ROOT_B64[:-2] + chr(ord(ROOT_B64[-2]) + 1) + "=",  # non-canonical final bits
        base64.urlsafe_b64encode(ROOT).decode(),  # ROOT_B64 holds a '+'
        ROOT_B64 + " ",
        " " + ROOT_B64,
        "YmFuYW5hcw==",  # "bananas": transparency-dev/formats' test hash, 7 bytes
        "ThisIsn'tBase64",
    ],
)
def test_bad_root(root: str) -> None:
    with pytest.raises(MalformedInput):
        Checkpoint.from_text(f"Log\n42\n{root}\n")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        "Head\n9944\n",  # too few lines
        f"\n42\n{ROOT_B64}\n",  # empty origin
        f"Log\n42\n{ROOT_B64}",  # no final newline
        f"Log\n42\n{ROOT_B64}\n\n",  # empty extension line
        f"Log\n42\n{ROOT_B64}\nok\n\n",
        f"Log\r\n42\n{ROOT_B64}\n",
        f"Log\x00\n42\n{ROOT_B64}\n",
        f"Log\n42\n{ROOT_B64}\nbad\textension\n",
    ],
)
def test_bad_text(text: str) -> None:
    with pytest.raises(MalformedInput):
        Checkpoint.from_text(text)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"origin": ""},
        {"origin": "a\nb"},
        {"origin": "\ud800"},
        {"size": -1},
        {"size": MAX_TREE_SIZE + 1},
        {"size": True},
        {"size": 1.0},
        {"root_hash": bytes(31)},
        {"root_hash": bytearray(32)},
        {"root_hash": ROOT_B64},
        {"extensions": ["list"]},
        {"extensions": ("",)},
        {"extensions": ("two\nlines",)},
    ],
)
def test_constructor_validates(kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"origin": "Log", "size": 1, "root_hash": ROOT, **kwargs}
    with pytest.raises(MalformedInput):
        Checkpoint(**args)


def test_origin_may_hold_spaces_and_unicode() -> None:
    cp = Checkpoint("go.sum database tree – ünïcode", 5, ROOT)
    assert Checkpoint.from_text(cp.to_text()) == cp


# --- properties ----------------------------------------------------------------------------------

LINES = st.text(
    st.characters(min_codepoint=0x20, exclude_categories=["Cs"]), min_size=1, max_size=40
)
CHECKPOINTS = st.builds(
    Checkpoint,
    origin=LINES,
    size=st.integers(0, MAX_TREE_SIZE),
    root_hash=st.binary(min_size=32, max_size=32),
    extensions=st.lists(LINES, max_size=3).map(tuple),
)

_PROP_SIGNER = Signer.generate("prop.example/log")


@settings(max_examples=300, deadline=None)
@given(cp=CHECKPOINTS)
def test_text_round_trip(cp: Checkpoint) -> None:
    text = cp.to_text()
    assert text == naive_text(cp.origin, cp.size, cp.root_hash, list(cp.extensions))
    assert Checkpoint.from_text(text) == cp


@settings(max_examples=100, deadline=None)
@given(cp=CHECKPOINTS)
def test_signed_round_trip(cp: Checkpoint) -> None:
    signed = sign_checkpoint(cp, _PROP_SIGNER)
    verifier = _PROP_SIGNER.verifier()
    assert open_checkpoint(signed, verifier, origin=cp.origin) == cp
    assert open_note(signed, [verifier]).text == cp.to_text()
    if cp.origin != verifier.name:
        with pytest.raises(VerificationError):
            open_checkpoint(signed, verifier)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
def test_from_text_arbitrary_raises_only_malformed(text: str) -> None:
    try:
        cp = Checkpoint.from_text(text)
    except MalformedInput:
        return
    assert cp.to_text() == text


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_open_checkpoint_arbitrary_bytes_never_verify(data: bytes) -> None:
    # Without the log's private key no input can verify: every one must be refused, and refused
    # with a verification error (a parser of untrusted input raises nothing else).
    with pytest.raises(VerificationError):
        open_checkpoint(data, _PROP_SIGNER.verifier())


# --- forgeries: every mutation of a signed checkpoint is refused, or changed only unsigned bytes --
#
# Which bytes of a signed note does the log's signature NOT cover? (c2sp.org/signed-note)
#
# * The signature covers exactly the note text: every byte up to and including the newline before
#   the last blank line. Changing one of those must fail the signature check.
# * The blank line and the trusted key's signature line are outside the signature, but they decide
#   how the note is read: the blank line decides where the text ends; the key name and the key ID
#   decide which key verifies. Changing them splits the note elsewhere or names a key the verifier
#   does not know (then no trusted signature is left), so such changes must be refused too.
# * The Ed25519 signature bytes are not malleable (RFC 8032 verification with S < L, and R compared
#   as bytes), so changing them must be refused.
# * The base64 padding bits of the trusted signature (68 bytes: the last character before "=" holds
#   2 unused bits) are not signed either: Go's note package decodes them leniently. accord accepts
#   only canonical base64 (the bytes of a note are a function of its content), so changing them
#   must be refused with MalformedInput: stricter than "unsigned", deliberately.
# * Signature lines from keys the verifier does not know (another name; the log's name with
#   another key ID; another name with the log's key ID) are ignored by the spec's rule: their bytes
#   are truly unsigned. A change inside one of them may be accepted, but then what the checkpoint
#   says (origin, size, root hash, extensions) and the signature that vouched for it must be
#   exactly the original's. (A change that turns one into the log's (name, key ID) must be refused:
#   a trusted key's line is always verified.)
#
# So the unsigned region is *only* the unknown-key signature lines, located by byte offset below;
# any accepted mutation elsewhere is a forgery and fails the test.


def _fixed_signer(name: str) -> Signer:
    # Fixed keys: a failing example replays on the same note bytes.
    seed = hashlib.sha256(name.encode()).digest()
    return Signer.from_private_key(name, Ed25519PrivateKey.from_private_bytes(seed))


_FORGE_LOG = _fixed_signer("forge.example/log")
_FORGE_CP = Checkpoint(_FORGE_LOG.name, 1234567, hashlib.sha256(b"forge").digest(), ("ext 1",))


def _unknown_line(name: str, key_id: bytes, seed: bytes) -> bytes:
    signature = hashlib.sha512(seed).digest()  # 64 bytes, like an Ed25519 signature
    return f"\u2014 {name} {base64.b64encode(key_id + signature).decode()}\n".encode()


def _forge_note() -> tuple[bytes, list[tuple[int, int]]]:
    """The signed checkpoint with three unknown-key lines around the log's; their byte ranges."""
    witness = _fixed_signer("witness.example/w1")
    text = _FORGE_CP.to_text().encode()
    trusted_line = sign_checkpoint(_FORGE_CP, _FORGE_LOG).encode()[len(text) + 1 :]
    other_id = bytes(b ^ 0x5A for b in _FORGE_LOG.key_id)
    parts = [
        (text + b"\n", False),
        (_unknown_line(_FORGE_LOG.name, other_id, b"same name, other key ID"), True),
        (trusted_line, False),
        (_unknown_line("other.example/key", _FORGE_LOG.key_id, b"same ID, other name"), True),
        (sign_note(_FORGE_CP.to_text(), witness).encode()[len(text) + 1 :], True),
    ]
    note, unsigned, offset = b"", [], 0
    for part, is_unsigned in parts:
        if is_unsigned:
            unsigned.append((offset, offset + len(part)))
        note += part
        offset += len(part)
    return note, unsigned


_FORGE_NOTE, _FORGE_UNSIGNED = _forge_note()
_FORGE_VERIFIER = _FORGE_LOG.verifier()
_FORGE_OPENED = open_note(_FORGE_NOTE, [_FORGE_VERIFIER])


def _mutate(note: bytes, kind: str, pos: int, value: int) -> bytes:
    if kind == "flip":
        return note[:pos] + bytes([note[pos] ^ (1 << value)]) + note[pos + 1 :]
    if kind == "set":
        return note[:pos] + bytes([value]) + note[pos + 1 :]
    if kind == "insert":
        return note[:pos] + bytes([value]) + note[pos:]
    if kind == "delete":
        return note[:pos] + note[pos + 1 :]
    raise AssertionError(kind)


def _only_unsigned_bytes_changed(kind: str, pos: int) -> bool:
    # An insertion at ``pos`` goes between bytes pos-1 and pos: inside a line only strictly within.
    if kind == "insert":
        return any(start < pos < end for start, end in _FORGE_UNSIGNED)
    return any(start <= pos < end for start, end in _FORGE_UNSIGNED)


def _check_mutation(kind: str, pos: int, value: int) -> None:
    mutated = _mutate(_FORGE_NOTE, kind, pos, value)
    if mutated == _FORGE_NOTE:
        return  # e.g. setting a byte to its own value: nothing was changed
    try:
        cp = open_checkpoint(mutated, _FORGE_VERIFIER)
    except VerificationError:
        return
    # Accepted: only an unknown key's line may have changed, and nothing the log signed.
    assert _only_unsigned_bytes_changed(kind, pos), (
        f"forgery accepted: {kind} {value} at byte {pos} changes signed bytes: {mutated!r}"
    )
    assert cp == _FORGE_CP
    assert (cp.origin, cp.size, cp.root_hash, cp.extensions) == (
        _FORGE_CP.origin,
        _FORGE_CP.size,
        _FORGE_CP.root_hash,
        _FORGE_CP.extensions,
    )
    opened = open_note(mutated, [_FORGE_VERIFIER])
    assert opened.text == _FORGE_OPENED.text
    assert opened.verified == _FORGE_OPENED.verified


def test_forge_note_layout() -> None:
    # The fixture is what the comments above say: it verifies, with one trusted signature and three
    # ignored ones, whose byte ranges are exactly the three unknown-key lines.
    assert open_checkpoint(_FORGE_NOTE, _FORGE_VERIFIER) == _FORGE_CP
    assert _FORGE_OPENED.verified_keys == ((_FORGE_LOG.name, _FORGE_LOG.key_id),)
    assert len(_FORGE_OPENED.unverified) == 3
    for start, end in _FORGE_UNSIGNED:
        line = _FORGE_NOTE[start:end]
        assert line.startswith("\u2014 ".encode()) and line.endswith(b"\n")
        assert line.count(b"\n") == 1
    text_end = len(_FORGE_CP.to_text().encode())
    assert all(start > text_end for start, _ in _FORGE_UNSIGNED)


_BYTE_VALUES = st.sampled_from(b"\n =+/A\x00\x80\xe2\x94") | st.integers(0, 255)


@settings(max_examples=1500, deadline=None)
@given(
    kind=st.sampled_from(["flip", "set", "insert", "delete"]),
    pos=st.integers(0, len(_FORGE_NOTE)),
    value=_BYTE_VALUES,
)
def test_mutated_checkpoint_is_refused_unless_only_unsigned_bytes_changed(
    kind: str, pos: int, value: int
) -> None:
    if kind != "insert":
        pos = min(pos, len(_FORGE_NOTE) - 1)
    if kind == "flip":
        value %= 8
    _check_mutation(kind, pos, value)


def test_every_bit_flip_and_deletion_is_refused_unless_unsigned() -> None:
    # The same property, exhaustively for the cheap mutations: every bit of every byte, and the
    # deletion of every byte. Also counts that some unsigned changes were accepted, so the
    # "unsigned" branch above is exercised rather than vacuous.
    accepted = 0
    for pos in range(len(_FORGE_NOTE)):
        for kind, value in [*(("flip", bit) for bit in range(8)), ("delete", 0)]:
            mutated = _mutate(_FORGE_NOTE, kind, pos, value)
            try:
                open_checkpoint(mutated, _FORGE_VERIFIER)
            except VerificationError:
                continue
            accepted += 1
            _check_mutation(kind, pos, value)
    assert accepted > 50


def test_signature_padding_bits_are_refused() -> None:
    # The 2 unused bits of the log signature's last base64 character decode to the same bytes: a
    # lenient decoder would accept them. accord refuses non-canonical base64 outright.
    note = sign_checkpoint(_FORGE_CP, _FORGE_LOG)
    head, _, b64 = note.rstrip("\n").rpartition(" ")
    assert b64.endswith("=") and not b64.endswith("==")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = alphabet.index(b64[-2])
    for bits in (1, 2, 3):
        lenient = b64[:-2] + alphabet[last ^ bits] + "="
        assert base64.b64decode(lenient) == base64.b64decode(b64)
        with pytest.raises(MalformedInput, match="non-canonical"):
            open_checkpoint(f"{head} {lenient}\n", _FORGE_VERIFIER)
