"""Canonical text of SQLite values (the ``accord.row.v1`` value field): pure, no I/O.

By column type tag, from the column's declared type at create time: ``int`` (INTEGER, INT, BIGINT)
an INTEGER as decimal; ``float`` (REAL, FLOAT, DOUBLE [PRECISION]) a REAL as Python ``repr``
(shortest round-trip digits); ``text`` (TEXT, VARCHAR, CHAR) the string; ``bytea`` (BLOB)
lower-case hex; ``numeric`` (NUMERIC, DECIMAL; SQLite's NUMERIC affinity) an INTEGER as decimal, a
REAL as ``repr``, a TEXT as stored; ``bool`` (BOOLEAN) 0/1 as ``false``/``true``; ``date`` (DATE)
TEXT ``YYYY-MM-DD``. A value of another storage class is refused at commit and reported as
tampering by the verifier.
"""

from __future__ import annotations

import re
from datetime import date

#: Declared SQLite type (upper case, arguments such as ``(12,2)`` removed) → accord type tag.
TYPE_TAGS = {
    "INTEGER": "int",
    "INT": "int",
    "BIGINT": "int",
    "REAL": "float",
    "FLOAT": "float",
    "DOUBLE": "float",
    "DOUBLE PRECISION": "float",
    "TEXT": "text",
    "VARCHAR": "text",
    "CHAR": "text",
    "BLOB": "bytea",
    "NUMERIC": "numeric",
    "DECIMAL": "numeric",
    "BOOLEAN": "bool",
    "DATE": "date",
}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class UnfitValue(Exception):
    """A stored value that does not fit its column's type tag (not an accord error: the caller
    decides whether that is a refusal at commit or tampering)."""


def canonical_text(type_tag: str, value: object) -> str | None:
    """Canonical text of one stored SQLite value of a column with this type tag; None for NULL."""
    if value is None:
        return None
    if type_tag == "int" and isinstance(value, int):
        return str(value)
    if type_tag == "float" and isinstance(value, float):
        return repr(value)
    if type_tag == "text" and isinstance(value, str):
        return value
    if type_tag == "bytea" and isinstance(value, bytes):
        return value.hex()
    if type_tag == "numeric" and isinstance(value, int | float | str):
        return repr(value) if isinstance(value, float) else str(value)
    if type_tag == "bool" and isinstance(value, int) and value in (0, 1):
        return "true" if value else "false"
    if type_tag == "date" and isinstance(value, str) and _DATE.fullmatch(value):
        try:
            date.fromisoformat(value)
        except ValueError:
            pass
        else:
            return value
    kind = {int: "INTEGER", float: "REAL", str: "TEXT", bytes: "BLOB"}.get(type(value), "?")
    raise UnfitValue(f"a {kind} value {value!r:.40} does not fit type {type_tag}")


def type_tag_of(declared: str) -> str | None:
    """The type tag of a declared SQLite column type, or None when ledger tables refuse it."""
    base = re.sub(r"\(.*\)", "", declared).split()
    return TYPE_TAGS.get(" ".join(base).upper())
