"""RFC 8785 JSON Canonicalization Scheme (JCS), and a strict JSON parser for untrusted input.

:func:`canonicalize` turns a JSON value made of ``None``, ``bool``, ``int``, ``float``, ``str``,
``list``/``tuple`` and ``dict`` with ``str`` keys into the one byte string RFC 8785 assigns it:
no whitespace, object members sorted by the UTF-16 code units of their names, strings escaped as
ECMAScript ``JSON.stringify`` does, numbers written as ECMAScript ``Number.prototype.toString``
writes IEEE-754 doubles, UTF-8 output. :func:`parse_json` parses untrusted bytes into such a
value and :func:`parse_canonical` also insists that the bytes were already canonical.

Rules enforced, following RFC 8785 and the I-JSON profile (RFC 7493) it builds on:

* every number is an IEEE-754 double: NaN and infinities are rejected, and so is an ``int``
  that no double equals exactly (beyond ±2**53, e.g. ``2**53 + 1``) — it would otherwise be
  rounded silently. Send such numbers as strings;
* strings and object names are valid Unicode: lone surrogates are rejected;
* object names are unique (parser) and are ``str`` (serializer);
* containers nest at most :data:`MAX_DEPTH` deep, in :func:`canonicalize` as in
  :func:`parse_json` (which also turns a self-referencing list or dict into an error rather
  than a crash).

Every rejection raises :class:`~accord.errors.MalformedInput`, never a bare ``ValueError`` or
``TypeError``.

What this module does not do: it keeps no number spelling (``1.0``, ``1E0`` and ``1`` are the same
number, written ``1``), it does not Unicode-normalize strings (RFC 8785 requires them kept as they
are), it does not accept ``Decimal``, ``bytes``, sets or arbitrary objects, and it does not cap
the size of its input (callers bound request sizes). Pure code: no I/O, no clock.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import TypeAlias

from accord.core.quoting import quoted
from accord.errors import MalformedInput

__all__ = [
    "MAX_DEPTH",
    "JsonValue",
    "canonicalize",
    "parse_canonical",
    "parse_json",
]

JsonValue: TypeAlias = "bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None"
"""A JSON value as :func:`parse_json` returns it (:func:`canonicalize` also takes tuples)."""

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects accepted; ``[[1]]`` has depth 2, a scalar depth 0."""

_MAX_SAFE_INT = 2**53
"""Every integer of magnitude at most 2**53 is exactly a double; beyond, only some are."""

# json's C-accelerated string encoder (ensure_ascii=False) escapes exactly what ECMAScript
# JSON.stringify escapes: '"' and '\\', the short forms \b \f \n \r \t, every other code point
# below U+0020 as \u00xx with lowercase hex, and nothing else (U+007F, U+2028 and U+2029 stay
# literal). The tests compare it with a naive ECMAScript escaper over every code point. It passes
# lone surrogates through; they fail the final UTF-8 encoding instead.
_quote: Callable[[str], str] = encode_basestring

# Big-endian UTF-16 bytes compare like the sequences of UTF-16 code units RFC 8785 sorts by (the
# codec returns (bytes, length) pairs; the bytes decide). A lone surrogate raises
# UnicodeEncodeError.
_utf16_key: Callable[[str], tuple[bytes, int]] = codecs.utf_16_be_encode

_Container: TypeAlias = "dict[str, object] | list[object]"

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # may also match an escaped backslash
_SURROGATE = re.compile(r"[\ud800-\udfff]")


# --- serialization ------------------------------------------------------------------------------


def canonicalize(value: object) -> bytes:
    """The RFC 8785 canonical UTF-8 encoding of the JSON value ``value``.

    Raises :class:`MalformedInput` for values outside the JSON data model of RFC 8785: NaN and
    infinities, integers that no IEEE-754 double equals, lone surrogates in strings or names,
    non-``str`` object names, nesting deeper than :data:`MAX_DEPTH`, and any other type (bytes,
    sets, ``Decimal``, objects, ...).
    """
    out: list[str] = []
    _write(value, out, 0)
    text = "".join(out)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code_point = ord(text[exc.start])
        raise MalformedInput(
            f"string contains a lone surrogate U+{code_point:04X}: not valid Unicode"
        ) from None


def _write(value: object, out: list[str], depth: int) -> None:
    # Ordered by how often each type occurs in ledger entries. `is True`/`is False` must come
    # before the int branch: bool is a subclass of int.
    if isinstance(value, str):
        out.append(_quote(value))
    elif isinstance(value, dict):
        if depth >= MAX_DEPTH:
            raise MalformedInput(f"nesting deeper than {MAX_DEPTH} levels")
        if not value:
            out.append("{}")
            return
        members = _sorted_members(value)
        out.append("{")
        for name, member in members:
            out.append(_quote(name))
            out.append(":")
            _write(member, out, depth + 1)
            out.append(",")
        out[-1] = "}"
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(_format_int(value))
    elif isinstance(value, float):
        out.append(_format_float(value))
    elif isinstance(value, (list, tuple)):
        if depth >= MAX_DEPTH:
            raise MalformedInput(f"nesting deeper than {MAX_DEPTH} levels")
        if not value:
            out.append("[]")
            return
        out.append("[")
        for item in value:
            _write(item, out, depth + 1)
            out.append(",")
        out[-1] = "]"
    else:
        raise MalformedInput(f"{type(value).__name__} is not a JSON value")


def _sorted_members(obj: dict[str, object]) -> list[tuple[str, object]]:
    try:
        names = "".join(obj)
    except TypeError:
        bad = next(name for name in obj if not isinstance(name, str))
        raise MalformedInput(
            f"object name {_shorten(repr(bad))} is not a string ({type(bad).__name__})"
        ) from None
    # Names are distinct, so the pairs never compare by value.
    if names.isascii():  # the common case: code point order is UTF-16 order
        return sorted(obj.items())
    try:
        keyed = sorted(zip(map(_utf16_key, obj), obj.items(), strict=True))
    except UnicodeEncodeError as exc:
        raise MalformedInput(
            f"object name {_shorten(repr(exc.object))} contains a lone surrogate: not valid Unicode"
        ) from None
    return [member for _, member in keyed]


def _format_int(value: int) -> str:
    if -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT:
        return int.__repr__(value)
    try:
        as_double = float(value)
    except OverflowError:
        as_double = math.inf
    if as_double != value:  # exact comparison: int and float compare by mathematical value
        raise MalformedInput(
            f"integer {_shorten(int.__repr__(value))} is not exactly an IEEE-754 double; "
            "send it as a string"
        )
    return _format_float(as_double)


def _format_float(value: float) -> str:
    """ECMAScript Number::toString(value) (ECMA-262 §7.1.12.1 with its Note 2).

    ``repr`` already yields the shortest digits that round-trip, the closest to the value when
    several do (the digits ECMAScript asks for); only the layout differs.
    """
    if not math.isfinite(value):
        raise MalformedInput(f"{quoted(value)} is not a JSON number")
    if value == 0:
        return "0"  # also for -0.0
    text = float.__repr__(value)
    if "e" not in text:
        # repr writes 1e-4 <= |x| < 1e16 positionally, as ECMAScript does; only "56.0" differs.
        return text[:-2] if text.endswith(".0") else text
    mantissa, _, exponent = text.partition("e")
    sign = ""
    if mantissa.startswith("-"):
        sign, mantissa = "-", mantissa[1:]
    digits = mantissa.replace(".", "")
    k = len(digits)  # value = 0.<digits> * 10**n
    n = int(exponent) + 1
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    e_text = f"e+{e}" if e >= 0 else f"e{e}"
    if k == 1:
        return sign + digits + e_text
    return sign + digits[0] + "." + digits[1:] + e_text


# --- parsing ------------------------------------------------------------------------------------


def parse_json(data: bytes | str) -> object:
    """Parse untrusted JSON text (UTF-8 bytes, or ``str``) into a :data:`JsonValue`.

    Objects become ``dict``, arrays ``list``; integer literals become ``int`` and other numbers
    ``float``. Raises :class:`MalformedInput` for anything that is not I-JSON: syntax errors,
    invalid UTF-8, a leading byte order mark, duplicate object names (also when spelled with
    different escapes), ``NaN``/``Infinity``, numbers beyond the double range, integer literals
    that no double equals (unless written as ECMAScript writes that double, so that
    ``canonicalize`` output always parses back), lone surrogates (``"\\ud800"``), and nesting
    deeper than :data:`MAX_DEPTH`. Whitespace and number spelling are not checked: see
    :func:`parse_canonical`.
    """
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedInput(f"JSON is not valid UTF-8 (byte offset {exc.start})") from None
    elif isinstance(data, str):
        text = data
        if not text.isascii():  # isascii() is O(1) on str; encoding is the fast surrogate check
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                code_point = ord(text[exc.start])
                raise MalformedInput(
                    f"JSON text contains a lone surrogate U+{code_point:04X}: not valid Unicode"
                ) from None
    else:
        raise MalformedInput(f"JSON text must be bytes or str, not {type(data).__name__}")

    if text.startswith("\ufeff"):
        raise MalformedInput("JSON text must not start with a byte order mark")
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object_from_pairs,
            parse_constant=_reject_constant,
            parse_float=_parse_float,
            parse_int=_parse_int,
        )
    except json.JSONDecodeError as exc:
        raise MalformedInput(
            f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:  # json's scanner guards its own recursion (~1000 levels)
        raise MalformedInput(f"nesting deeper than {MAX_DEPTH} levels") from None
    # Cheap hints first; the exact checks walk the result only when a hint fires.
    if text.count("[") + text.count("{") > MAX_DEPTH and _nests_deeper_than(value, MAX_DEPTH):
        raise MalformedInput(f"nesting deeper than {MAX_DEPTH} levels")
    if _SURROGATE_ESCAPE.search(text):  # "\\ud800" decodes to a lone surrogate
        _check_strings(value)
    return value


def parse_canonical(data: bytes) -> object:
    """Parse ``data`` like :func:`parse_json` and require it to be in RFC 8785 canonical form.

    Raises :class:`MalformedInput` if ``data`` does not parse or if ``canonicalize`` of the result
    is not byte for byte ``data`` (whitespace, member order, escapes or number spelling differ).
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedInput(f"canonical JSON must be bytes, not {type(data).__name__}")
    raw = bytes(data)
    value = parse_json(raw)
    if canonicalize(value) != raw:
        raise MalformedInput("JSON is not in RFC 8785 canonical form")
    return value


def _object_from_pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise MalformedInput(f"duplicate object name {_shorten(repr(name))}")
            seen.add(name)
    return obj


def _reject_constant(literal: str) -> object:
    raise MalformedInput(f"{literal} is not a JSON number")


def _parse_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise MalformedInput(f"number {_shorten(literal)} is out of the IEEE-754 double range")
    return value


def _parse_int(literal: str) -> int:
    if len(literal) <= 15:  # |value| < 10**15 < 2**53: exact
        return int(literal)
    if len(literal.lstrip("-")) > 309:  # beyond 1.8e308; also keeps int() from its digit limit
        raise MalformedInput(f"number {_shorten(literal)} is out of the IEEE-754 double range")
    value = int(literal)
    if -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT:
        return value
    try:
        as_double = float(value)
    except OverflowError:
        raise MalformedInput(
            f"number {_shorten(literal)} is out of the IEEE-754 double range"
        ) from None
    if as_double == value:  # exact: int and float compare by mathematical value
        return value
    # "295147905179352830000" is how ECMAScript (and canonicalize) writes the double 2**68: it
    # names that double, so it parses to the integer the double equals. Any other integer
    # literal that no double equals (9007199254740993, 10**23) is refused, not rounded.
    if _format_float(as_double) == literal:
        return int(as_double)
    raise MalformedInput(
        f"integer {_shorten(literal)} is not exactly an IEEE-754 double; send it as a string"
    )


def _nests_deeper_than(value: object, limit: int) -> bool:
    # Level by level over the containers only. json.loads builds exactly dict and list.
    level: list[_Container] = [value] if isinstance(value, dict | list) else []
    for _ in range(limit):
        if not level:
            return False
        below: list[_Container] = []
        for container in level:
            children = container.values() if isinstance(container, dict) else container
            below += [c for c in children if type(c) is dict or type(c) is list]
        level = below
    return bool(level)


def _check_strings(value: object) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            strings: list[str] = [item]
        elif isinstance(item, dict):
            strings = list(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
            continue
        else:
            continue
        for s in strings:
            match = _SURROGATE.search(s)
            if match:
                raise MalformedInput(
                    f"string contains a lone surrogate U+{ord(match.group()):04X}: "
                    "not valid Unicode"
                )


def _shorten(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
