"""Tests for accord.core.canonical: RFC 8785 known answers, rejections, naive references, properties."""

from __future__ import annotations

import enum
import json
import math
import struct
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.canonical import (
    MAX_DEPTH,
    JsonValue,
    canonicalize,
    parse_canonical,
    parse_json,
)
from accord.errors import AccordError, MalformedInput, VerificationError

VECTORS = Path(__file__).resolve().parent.parent / "vectors" / "rfc8785"
RFC: dict[str, Any] = json.loads((VECTORS / "rfc8785.json").read_text("utf-8"))
CYBERPHONE = VECTORS / "cyberphone"
CYBERPHONE_NAMES = sorted(path.stem for path in (CYBERPHONE / "input").glob("*.json"))


def double(bits_hex: str) -> float:
    value: float = struct.unpack(">d", bytes.fromhex(bits_hex))[0]
    return value


# --- deliberately naive references, written straight from the specs ---------------------------


def naive_es_escape(text: str) -> str:
    """ECMA-262 QuoteJSONString, code point by code point (without the quotes)."""
    short = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"}
    out = []
    for ch in text:
        cp = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif cp in short:
            out.append(short[cp])
        elif cp < 0x20:
            out.append(f"\\u{cp:04x}")
        else:
            out.append(ch)
    return "".join(out)


def naive_utf16_units(text: str) -> list[int]:
    units = []
    for ch in text:
        cp = ord(ch)
        if cp < 0x10000:
            units.append(cp)
        else:
            cp -= 0x10000
            units += [0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF)]
    return units


def _floor_log10(m: Fraction) -> int:
    e = len(str(m.numerator)) - len(str(m.denominator))
    while Fraction(10) ** e > m:
        e -= 1
    while Fraction(10) ** (e + 1) <= m:
        e += 1
    return e


def reads_back_as(decimal: Fraction, x: float) -> bool:
    # float(Fraction) divides ints, which CPython rounds correctly: the decimal reads back as x.
    try:
        return float(decimal) == x
    except OverflowError:
        return False


def naive_es_number(x: float) -> str:
    """ECMA-262 Number::toString(x) (§7.1.12.1 with Note 2), by exhaustive search in exact
    arithmetic: the smallest k, then the s closest to x, ties to even s."""
    if x == 0:
        return "0"
    if x < 0:
        return "-" + naive_es_number(-x)
    m = Fraction(x)
    e = _floor_log10(m)
    for k in range(1, 18):
        found = []
        for n in (e, e + 1, e + 2):
            scale = Fraction(10) ** (n - k)
            for s in {math.floor(m / scale), math.ceil(m / scale)}:
                if 10 ** (k - 1) <= s < 10**k and reads_back_as(s * scale, x):
                    found.append((abs(s * scale - m), s % 2, s, n))
        if found:
            _, _, s, n = min(found)
            break
    else:
        raise AssertionError(f"no representation found for {x!r}")
    digits = str(s)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    exponent = ("e+" if n - 1 >= 0 else "e-") + str(abs(n - 1))
    if k == 1:
        return digits + exponent
    return digits[0] + "." + digits[1:] + exponent


def naive_canonicalize(value: Any) -> bytes:
    """RFC 8785 from the text of the RFC, sharing no code with the implementation."""

    def ser(v: Any) -> str:
        if v is None:
            return "null"
        if v is True:
            return "true"
        if v is False:
            return "false"
        if isinstance(v, int):
            return naive_es_number(float(v))
        if isinstance(v, float):
            return naive_es_number(v)
        if isinstance(v, str):
            return '"' + naive_es_escape(v) + '"'
        if isinstance(v, list | tuple):
            return "[" + ",".join(ser(x) for x in v) + "]"
        if isinstance(v, dict):
            names = sorted(v, key=naive_utf16_units)
            return "{" + ",".join(ser(n) + ":" + ser(v[n]) for n in names) + "}"
        raise TypeError(type(v))

    return ser(value).encode("utf-8")


def same_json(a: object, b: object) -> bool:
    """Equal as JSON values: numbers by value (1 == 1.0, -0.0 == 0), bools never equal to ints."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, str) or isinstance(b, str):
        return type(a) is type(b) and a == b
    if a is None or b is None:
        return a is b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    return False


# --- strategies ---------------------------------------------------------------------------------

safe_ints = st.integers(min_value=-(2**53), max_value=2**53)
# Integers beyond 2**53 that a double holds exactly: m × 2**e with m ≤ 2**53.
exact_big_ints = st.builds(
    lambda m, e, sign: sign * m * 2**e,
    st.integers(min_value=1, max_value=2**53),
    st.integers(min_value=1, max_value=970),
    st.sampled_from([1, -1]),
)
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
texts = st.text()  # hypothesis never generates surrogates here
bmp_texts = st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]))


def json_values(
    numbers: st.SearchStrategy[Any], names: st.SearchStrategy[str]
) -> st.SearchStrategy[Any]:
    scalars = st.none() | st.booleans() | numbers | texts
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=5) | st.dictionaries(names, children, max_size=5)
        ),
        max_leaves=25,
    )


any_json = json_values(safe_ints | exact_big_ints | finite_floats, texts)
floatless_bmp_json = json_values(safe_ints, bmp_texts)


# --- RFC 8785 known answers ---------------------------------------------------------------------

NUMBER_SAMPLES = RFC["numbers"]["samples"]


@pytest.mark.parametrize(
    ("bits", "expected"),
    [(row["ieee754"], row["json"]) for row in NUMBER_SAMPLES if row["json"] is not None],
)
def test_appendix_b_number_samples(bits: str, expected: str) -> None:
    x = double(bits)
    assert canonicalize(x) == expected.encode()
    assert canonicalize([x]) == f"[{expected}]".encode()
    assert naive_es_number(x) == expected
    # The canonical text parses back to the same double, and is accepted as canonical.
    assert same_json(parse_canonical(expected.encode()), x)
    if x.is_integer():  # an int holding the same number serializes like the double
        assert canonicalize(int(x)) == expected.encode()


@pytest.mark.parametrize("bits", [row["ieee754"] for row in NUMBER_SAMPLES if row["json"] is None])
def test_appendix_b_values_out_of_range_are_rejected(bits: str) -> None:
    x = double(bits)
    assert not math.isfinite(x)
    with pytest.raises(MalformedInput):
        canonicalize(x)
    with pytest.raises(MalformedInput):
        canonicalize(-x)


def test_appendix_b_table_is_complete() -> None:
    assert len(NUMBER_SAMPLES) == 26
    assert sum(row["json"] is None for row in NUMBER_SAMPLES) == 2


def test_section_3_2_primitives_example() -> None:
    example = RFC["primitives"]
    value = parse_json(example["input"].encode())
    expected = bytes.fromhex(example["canonical_utf8_hex"])
    assert expected == example["canonical"].encode("utf-8")
    assert canonicalize(value) == expected
    assert naive_canonicalize(value) == expected
    # JSON.stringify's output (members in input order) holds the same data.
    assert canonicalize(parse_json(example["json_stringify"])) == expected
    assert same_json(parse_canonical(expected), value)


def test_section_3_2_3_sorting_example() -> None:
    example = RFC["sorting"]
    value = parse_json(example["input"])
    assert isinstance(value, dict)
    ordered_values = list(json.loads(canonicalize(value)).values())
    assert ordered_values == example["expected_value_order"]


@pytest.mark.parametrize("name", CYBERPHONE_NAMES)
def test_cyberphone_testdata(name: str) -> None:
    source = (CYBERPHONE / "input" / f"{name}.json").read_bytes()
    expected = (CYBERPHONE / "output" / f"{name}.json").read_bytes()
    value = parse_json(source)
    assert canonicalize(value) == expected
    assert naive_canonicalize(value) == expected
    assert same_json(parse_canonical(expected), value)
    outhex = CYBERPHONE / "outhex" / f"{name}.txt"
    if outhex.exists():
        assert bytes.fromhex(outhex.read_text("ascii")) == expected


def test_cyberphone_testdata_is_present() -> None:
    assert set(CYBERPHONE_NAMES) >= {"arrays", "french", "structures", "unicode", "values", "weird"}


# --- sorting, strings, numbers: specific cases --------------------------------------------------


def test_names_sort_by_utf16_code_units_not_code_points() -> None:
    # U+1F600 is D83D DE00 in UTF-16: before U+E000 and U+FFFF, although its code point is larger.
    value = {"\uffff": 3, "\ue000": 2, "\U0001f600": 1, "z": 0}
    assert sorted(value) != sorted(value, key=naive_utf16_units)
    assert canonicalize(value) == '{"z":0,"\U0001f600":1,"\ue000":2,"\uffff":3}'.encode()


def test_names_sort_raw_not_escaped() -> None:
    # "\n" (U+000A) sorts before "1" although its escaped form "\\n" would not.
    assert canonicalize({"1": 1, "\n": 2, "": 3}) == b'{"":3,"\\n":2,"1":1}'


def test_escaping_of_every_code_point_matches_ecmascript() -> None:
    every = "".join(chr(cp) for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF)
    assert canonicalize(every) == ('"' + naive_es_escape(every) + '"').encode("utf-8")
    assert canonicalize({every: every}) == naive_canonicalize({every: every})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\x00", b'"\\u0000"'),
        ("\x0b", b'"\\u000b"'),  # lowercase hex
        ("\x1f", b'"\\u001f"'),
        ("\b\f\n\r\t", b'"\\b\\f\\n\\r\\t"'),
        ('"\\', b'"\\"\\\\"'),
        ("/", b'"/"'),  # not escaped
        ("\x7f", b'"\x7f"'),  # DEL is literal
        ("\u2028\u2029", '"\u2028\u2029"'.encode()),  # literal, as in ES2019+ JSON.stringify
        ("\u20ac\U0001f602", '"\u20ac\U0001f602"'.encode()),
        ("A\u030a", '"A\u030a"'.encode()),  # never normalized
    ],
)
def test_string_escapes(text: str, expected: bytes) -> None:
    assert canonicalize(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, b"0"),
        (-0.0, b"0"),
        (0.0, b"0"),
        (56.0, b"56"),
        (-56.0, b"-56"),
        (4.5, b"4.5"),
        (0.1, b"0.1"),
        (1e-6, b"0.000001"),
        (1e-7, b"1e-7"),
        (1.5e-7, b"1.5e-7"),
        (1e-5, b"0.00001"),
        (1e16, b"10000000000000000"),
        (1e20, b"100000000000000000000"),
        (1e21, b"1e+21"),
        (1.5e21, b"1.5e+21"),
        (123456789.0, b"123456789"),
        (2**53, b"9007199254740992"),
        (-(2**53), b"-9007199254740992"),
        (2**53 + 2, b"9007199254740994"),
        (2**68, b"295147905179352830000"),
        (10**21, b"1e+21"),
        (True, b"true"),
        (False, b"false"),
        (None, b"null"),
        ((), b"[]"),
        ((1, "a"), b'[1,"a"]'),
        ([], b"[]"),
        ({}, b"{}"),
    ],
)
def test_scalars_and_empty_containers(value: object, expected: bytes) -> None:
    assert canonicalize(value) == expected


def test_subclasses_serialize_as_their_base_type() -> None:
    class Colour(enum.IntEnum):
        RED = 7

    class Name(str):
        def __str__(self) -> str:
            return "something else"

    assert canonicalize([Colour.RED, Name("x"), {Name("k"): 1}]) == b'[7,"x",{"k":1}]'


def test_bool_is_not_an_int() -> None:
    assert canonicalize({"a": True, "b": 1}) == b'{"a":true,"b":1}'
    assert parse_json(b"true") is True


def test_large_integers_round_trip_through_their_canonical_text() -> None:
    for n in (2**68, -(2**68), 2**60, 2**1023, 10**22, 3 * 2**900):
        text = canonicalize(n)
        assert float(text) == n
        assert parse_canonical(text) == n
        assert type(parse_json(text)) is (int if b"e" not in text else float)


# --- rejections ---------------------------------------------------------------------------------


class Unserializable:
    pass


def _cyclic_list() -> list[object]:
    cycle: list[object] = []
    cycle.append(cycle)
    return cycle


def _cyclic_dict() -> dict[str, object]:
    cycle: dict[str, object] = {}
    cycle["self"] = cycle
    return cycle


def _nested_list(depth: int) -> object:
    value: object = 0
    for _ in range(depth):
        value = [value]
    return value


def _nested_dict(depth: int) -> object:
    value: object = 0
    for _ in range(depth):
        value = {"a": value}
    return value


def _nested_empty(depth: int) -> object:
    value: object = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    [
        math.nan,
        math.inf,
        -math.inf,
        [1, math.nan],
        {"a": math.inf},
        2**53 + 1,
        -(2**53) - 1,
        2**64 - 1,
        10**23,  # 1e+23 is a different number
        10**400,  # beyond every double
        "\ud800",
        "a\udfffb",
        "\udc00\ud800",  # a reversed pair is two lone surrogates
        ["ok", "\ud83d"],
        {"\ud800": 1},
        {"ok": {"\udc00": 1}},
        {1: "a"},
        {None: 1},
        {("a",): 1},
        {"a": 1, 2: 3},
        {b"a": 1},
        b"bytes",
        bytearray(b"x"),
        {1, 2},
        frozenset(),
        Decimal("1.5"),
        1j,
        Unserializable(),
        [Unserializable()],
        _cyclic_list(),
        _cyclic_dict(),
        _nested_list(MAX_DEPTH + 1),
        _nested_dict(MAX_DEPTH + 1),
        _nested_empty(MAX_DEPTH + 1),  # an empty container counts as a level too
        [[{}]] * 3 + [_nested_empty(MAX_DEPTH)],
    ],
    ids=repr,
)
def test_canonicalize_rejects(value: object) -> None:
    with pytest.raises(MalformedInput) as info:
        canonicalize(value)
    assert isinstance(info.value, VerificationError)
    assert isinstance(info.value, AccordError)
    assert str(info.value)


def test_canonicalize_accepts_max_depth() -> None:
    assert canonicalize(_nested_list(MAX_DEPTH)) == b"[" * MAX_DEPTH + b"0" + b"]" * MAX_DEPTH
    assert canonicalize(_nested_empty(MAX_DEPTH)) == b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert canonicalize(_nested_dict(MAX_DEPTH)).count(b"{") == MAX_DEPTH


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"a":1,"a":2}', "duplicate"),
        (b'{"a":1,"\\u0061":2}', "duplicate"),  # the same name, spelled differently
        (b'[{"x":{"a":1,"b":2,"a":3}}]', "duplicate"),
        (b"NaN", "NaN"),
        (b"[Infinity]", "Infinity"),
        (b'{"a":-Infinity}', "Infinity"),
        (b"1e400", "range"),
        (b"-1e400", "range"),
        (b"9007199254740993", "IEEE-754"),
        (b"-9007199254740993", "IEEE-754"),
        (b"100000000000000000000000", "IEEE-754"),  # 10**23: no double equals it
        (b"1" * 400, "range"),
        (b"1" * 5000, "range"),  # would hit int()'s digit limit
        (b'"\\ud800"', "surrogate"),
        (b'"\\uDFFF"', "surrogate"),
        (b'"\\udc00\\ud800"', "surrogate"),
        (b'{"\\ud800":1}', "surrogate"),
        (b'["ok",{"k":["\\ud83d"]}]', "surrogate"),
        (b'"\xff"', "UTF-8"),
        (b'"\xc0\xaf"', "UTF-8"),  # overlong "/"
        (b'"\xed\xa0\x80"', "UTF-8"),  # an encoded surrogate
        (b'"\xe2\x82"', "UTF-8"),  # truncated
        (b"\xef\xbb\xbf{}", "byte order mark"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nesting"),
        (b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1), "nesting"),
        (b"[" * 100_000, "nesting"),
        (b"[" * 100_000 + b"]" * 100_000, "nesting"),
        (b"", "invalid JSON"),
        (b" ", "invalid JSON"),
        (b"[1,]", "invalid JSON"),
        (b"{'a':1}", "invalid JSON"),
        (b"01", "invalid JSON"),
        (b"1 2", "invalid JSON"),
        (b'"a\nb"', "invalid JSON"),  # raw control character in a string
        (b'"\\x41"', "invalid JSON"),
        (b"[1] x", "invalid JSON"),
        (b"+1", "invalid JSON"),
        (b".5", "invalid JSON"),
        (b"True", "invalid JSON"),
    ],
    ids=repr,
)
def test_parse_json_rejects(data: bytes, message: str) -> None:
    with pytest.raises(MalformedInput, match=message):
        parse_json(data)
    if b"\xff" not in data and b"\xc0" not in data and b"\xed" not in data and b"\xe2" not in data:
        with pytest.raises(MalformedInput, match=message):
            parse_json(data.decode("utf-8"))
    with pytest.raises(MalformedInput):
        parse_canonical(data)


@pytest.mark.parametrize("text", ['"\ud800"', '{"\udc00":1}', '["a\ud83d"]'], ids=ascii)
def test_parse_json_rejects_raw_lone_surrogates_in_str_input(text: str) -> None:
    with pytest.raises(MalformedInput, match="surrogate"):
        parse_json(text)


@pytest.mark.parametrize("data", [None, 1, 1.5, ["[]"], Unserializable()], ids=repr)
def test_parse_json_rejects_non_text(data: Any) -> None:
    with pytest.raises(MalformedInput):
        parse_json(data)
    with pytest.raises(MalformedInput):
        parse_canonical(data)


def test_parse_json_accepts_max_depth_and_escaped_backslashes() -> None:
    deep = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert canonicalize(parse_json(deep)) == deep
    deep_objects = b'{"a":' * MAX_DEPTH + b"0" + b"}" * MAX_DEPTH
    assert parse_canonical(deep_objects) == _nested_dict(MAX_DEPTH)
    # Many shallow containers are fine, and so is a backslash followed by "ud800".
    assert parse_json(b"[" + b",".join([b"[]"] * 500) + b"]") == [[]] * 500
    assert parse_json(b'"\\\\ud800"') == "\\ud800"
    assert parse_json(b'"\\ud83d\\ude00"') == "\U0001f600"


def test_parse_json_numbers() -> None:
    assert parse_json(b"-0") == 0
    negative_zero = parse_json(b"-0.0")
    assert isinstance(negative_zero, float)
    assert math.copysign(1, negative_zero) == -1
    assert parse_json(b"1E2") == 100.0
    assert parse_json(b"1e-400") == 0.0  # underflow is a double, only overflow is not
    assert parse_json(b"9007199254740992") == 2**53
    assert parse_json(b"295147905179352830000") == 2**68  # ES spelling of the double 2**68
    assert parse_json(b"295147905179352825856") == 2**68  # its exact value
    assert parse_json(b"1180591620717411303424") == 2**70
    bytes_likes: list[Any] = [bytearray(b"[1]"), memoryview(b"[1]")]  # accepted at runtime too
    for data in bytes_likes:
        assert parse_json(data) == [1]
        assert parse_canonical(data) == [1]


@pytest.mark.parametrize(
    "data",
    [
        b'{"b":1,"a":2}',
        b'{"a": 1}',
        b" {}",
        b"{}\n",
        b"[1.0]",
        b"[1E2]",
        b"[1e2]",
        b"[100.0]",
        b"[-0]",
        b"[0.10]",
        b'["\\u0041"]',
        b'["\\/"]',
        b'["\\u001F"]',
        b'["\\u007f"]',
        b'["\\u00e9"]',
        b"[1e21]",
        b"[1e+21 ]",
        b"[0.0000001]",
        b"[295147905179352825856]",
        b'{"\\ue000":1,"\\ud83d\\ude00":2}',  # code point order, not UTF-16 order
    ],
    ids=repr,
)
def test_parse_canonical_rejects_non_canonical_spellings(data: bytes) -> None:
    parse_json(data)  # valid JSON ...
    with pytest.raises(MalformedInput, match="canonical form"):
        parse_canonical(data)  # ... but not canonical


# --- properties ---------------------------------------------------------------------------------


@given(any_json)
def test_round_trip_through_parse(value: Any) -> None:
    encoded = canonicalize(value)
    assert same_json(parse_json(encoded), value)
    assert same_json(parse_canonical(encoded), value)


@given(any_json)
def test_canonical_form_is_a_fixed_point(value: Any) -> None:
    encoded = canonicalize(value)
    assert canonicalize(parse_json(encoded)) == encoded
    # Any other spelling of the same data canonicalizes to the same bytes.
    pretty = json.dumps(value, indent=2, ensure_ascii=True)
    assert canonicalize(parse_json(pretty)) == encoded


@given(floatless_bmp_json)
def test_matches_naive_json_dumps_without_floats_or_astral_names(value: Any) -> None:
    naive = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonicalize(value) == naive.encode("utf-8")


@settings(deadline=None)
@given(any_json)
def test_matches_naive_reference(value: Any) -> None:
    assert canonicalize(value) == naive_canonicalize(value)


@settings(deadline=None, max_examples=500)
@given(finite_floats)
def test_numbers_match_naive_ecmascript_reference(x: float) -> None:
    text = canonicalize(x)
    assert text.decode() == naive_es_number(x)
    assert float(text) == x


def _edge_doubles() -> list[float]:
    # Powers of two (where the gap between doubles halves below) and of ten, with neighbours.
    centres = [2.0**e for e in range(-1074, 1024, 11)] + [
        float(f"1e{e}") for e in range(-323, 309, 5)
    ]
    edges = [math.nextafter(c, d) for c in centres for d in (0.0, math.inf)] + centres
    return [x for x in edges if 0 < x < math.inf]


def test_numbers_match_naive_reference_at_binary_and_decimal_edges() -> None:
    for x in _edge_doubles():
        assert canonicalize(x).decode() == naive_es_number(x), repr(x)
        assert canonicalize(-x).decode() == "-" + naive_es_number(x), repr(x)


@given(st.integers(min_value=2**53 + 1, max_value=2**80) | st.integers(max_value=-(2**53) - 1))
def test_integers_no_double_equals_are_rejected_not_rounded(n: int) -> None:
    if float(n) == n:
        assert float(canonicalize(n)) == n
    else:
        with pytest.raises(MalformedInput, match="IEEE-754"):
            canonicalize(n)
        with pytest.raises(MalformedInput, match="IEEE-754"):
            parse_json(str(n))


@given(st.dictionaries(texts, st.integers(min_value=0, max_value=9), max_size=8))
def test_member_order_is_utf16_order_and_independent_of_insertion(value: dict[str, int]) -> None:
    encoded = canonicalize(value)
    reversed_insertion = dict(reversed(list(value.items())))
    assert canonicalize(reversed_insertion) == encoded
    parsed = json.loads(encoded)
    assert list(parsed) == sorted(value, key=naive_utf16_units)


@given(any_json, st.sampled_from([" ", "\n", "\t", "\r"]))
def test_parse_canonical_rejects_added_whitespace(value: Any, space: str) -> None:
    encoded = canonicalize(value)
    with pytest.raises(MalformedInput):
        parse_canonical(space.encode() + encoded)
    with pytest.raises(MalformedInput):
        parse_canonical(encoded + space.encode())


def test_json_value_alias_is_usable() -> None:
    value: JsonValue = {"a": [1, 2.5, "x", None, True, {"b": []}]}
    assert canonicalize(value) == b'{"a":[1,2.5,"x",null,true,{"b":[]}]}'
