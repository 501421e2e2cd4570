"""Quoting rejected input back in error messages, safely.

A value that fails to parse may be huge (a 5 MB collection id), span many lines (breaking the
one-line messages of the CLI and the logs), or be another file given by mistake, a private key
included. :func:`quoted` gives the value itself only when it is short and printable, and only its
shape otherwise.
"""

from __future__ import annotations

SHOWN_MAX = 64


def quoted(value: object, limit: int = SHOWN_MAX) -> str:
    """``repr(value)`` for a short printable string; a description of its shape otherwise."""
    if isinstance(value, str):
        if len(value) <= limit and value.isprintable():
            return repr(value)
        lines = value.count("\n") + 1
        where = f" on {lines} lines" if lines > 1 else ""
        return f"(a {len(value)}-character value{where})"
    if isinstance(value, bool | int | float) or value is None:
        text = repr(value)
        return text if len(text) <= limit else f"(a {len(text)}-digit number)"
    return f"(a {type(value).__name__})"
