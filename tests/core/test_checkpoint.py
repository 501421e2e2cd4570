"""Tests for accord.core.checkpoint: known answers, strict parsing, broken variants, properties."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.checkpoint import (
    MAX_TREE_SIZE,
    Checkpoint,
    open_checkpoint,
    sign_checkpoint,
)
from accord.core.note import Signer, Verifier, open_note, sign_note
from accord.errors import AccordError, MalformedInput, SignatureError, VerificationError

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


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300))
def test_open_checkpoint_arbitrary_bytes(data: bytes) -> None:
    try:
        open_checkpoint(data, _PROP_SIGNER.verifier())
    except AccordError:
        pass
