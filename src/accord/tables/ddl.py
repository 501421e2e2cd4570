"""Conservative checks of the DDL a user hands to ``accord tables create``.

Pure: a small SQL tokenizer (comments, quoted strings and identifiers, dollar quotes) that accepts
exactly one ``CREATE TABLE name (...)`` statement and returns the table name. It does not read the
column list: the PostgreSQL backend runs the statement in a scratch schema and asks the catalog,
which is the only parser that agrees with PostgreSQL on every corner of the grammar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from accord.errors import InvalidRequest

#: Ledger table names: plain lower-case identifiers, short enough for ``<name>_history`` and the
#: generated function names to stay within PostgreSQL's 63-byte limit, and free of the ``:``,
#: ``,`` and newline that the transaction hash and the trigger bookkeeping use as separators.
TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,49}")
LEDGER_COLUMN_PREFIX = "ledger_"
#: What ``drop-column`` renames a column to: ``ledger_dropped_<n>_<name>``.
DROPPED_COLUMN_PREFIX = f"{LEDGER_COLUMN_PREFIX}dropped_"


def cut_identifier(text: str, limit: int | None) -> str:
    """``text`` cut to ``limit`` UTF-8 bytes on a character boundary (PostgreSQL: 63); as is
    when ``limit`` is None."""
    return text if limit is None else text.encode()[:limit].decode(errors="ignore")


def dropped_names(
    table_id: int, name: str, append_only: bool, limit: int | None
) -> tuple[str, str | None, str]:
    """Where ``drop`` keeps a ledger table, its history and its ledger view:
    ``dropped_<id>_<name>``, ``dropped_<id>_history_<name>``, ``dropped_<id>_ledger_<name>``."""
    prefix = f"dropped_{table_id}_"
    history = None if append_only else cut_identifier(f"{prefix}history_{name}", limit)
    return (
        cut_identifier(prefix + name, limit),
        history,
        cut_identifier(f"{prefix}ledger_{name}", limit),
    )


def dropped_column_name(number: int, column: str, limit: int | None) -> str:
    """What ``drop-column`` renames the ``number``-th dropped column of a table to."""
    return cut_identifier(f"{DROPPED_COLUMN_PREFIX}{number}_{column}", limit)


_WORD = re.compile(r"[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


@dataclass(frozen=True)
class Token:
    kind: str  # "word", "ident" (double-quoted), "string", "punct", "number"
    text: str


def tokenize(sql: str) -> list[Token]:
    """Split SQL into tokens, dropping whitespace and comments; raise on unterminated quotes."""
    tokens: list[Token] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c.isspace():
            i += 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            depth, i = 1, i + 2
            while depth:
                if i >= n:
                    raise InvalidRequest("unterminated /* comment in the DDL")
                if sql.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif sql.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c in "eE" and i + 1 < n and sql[i + 1] == "'":
            i = _skip_string(sql, i + 1, backslashes=True)
            tokens.append(Token("string", "'"))
        elif c == "'":
            i = _skip_string(sql, i, backslashes=False)
            tokens.append(Token("string", "'"))
        elif c == '"':
            j = i + 1
            while True:
                j = sql.find('"', j)
                if j < 0:
                    raise InvalidRequest("unterminated quoted identifier in the DDL")
                if sql.startswith('""', j):
                    j += 2
                    continue
                break
            tokens.append(Token("ident", sql[i + 1 : j].replace('""', '"')))
            i = j + 1
        elif c == "$" and (m := _DOLLAR_TAG.match(sql, i)):
            end = sql.find(m.group(0), m.end())
            if end < 0:
                raise InvalidRequest("unterminated dollar-quoted string in the DDL")
            tokens.append(Token("string", "$"))
            i = end + len(m.group(0))
        elif m := _WORD.match(sql, i):
            tokens.append(Token("word", m.group(0)))
            i = m.end()
        elif c.isdigit():
            j = i
            while j < n and (sql[j].isalnum() or sql[j] == "."):
                j += 1
            tokens.append(Token("number", sql[i:j]))
            i = j
        else:
            tokens.append(Token("punct", c))
            i += 1
    return tokens


def _skip_string(sql: str, start: int, *, backslashes: bool) -> int:
    """Index just past the string literal whose opening quote is at ``start``."""
    j = start + 1
    while True:
        if j >= len(sql):
            raise InvalidRequest("unterminated string literal in the DDL")
        if backslashes and sql[j] == "\\":
            j += 2
            continue
        if sql[j] == "'":
            if sql.startswith("''", j):
                j += 2
                continue
            return j + 1
        j += 1


def _keyword(token: Token, word: str) -> bool:
    return token.kind == "word" and token.text.lower() == word


def parse_create_table(ddl: str) -> str:
    """Return the table name of a single ``CREATE TABLE name (...)`` statement, or refuse it.

    Refused: several statements, anything but a plain CREATE TABLE (TEMP, UNLOGGED, IF NOT EXISTS,
    AS SELECT, PARTITION OF, OF type), schema-qualified names, anything after the column list
    (INHERITS, PARTITION BY, WITH, TABLESPACE), and names that are not plain lower-case identifiers.
    """
    tokens = tokenize(ddl)
    while tokens and tokens[-1] == Token("punct", ";"):
        tokens.pop()
    if any(t == Token("punct", ";") for t in tokens):
        raise InvalidRequest("give exactly one CREATE TABLE statement (found several statements)")
    if len(tokens) < 2 or not (_keyword(tokens[0], "create") and _keyword(tokens[1], "table")):
        raise InvalidRequest("only a plain CREATE TABLE name (...) statement is accepted")
    if len(tokens) < 4:
        raise InvalidRequest("CREATE TABLE needs a name and a column list")
    name_token = tokens[2]
    if name_token.kind == "word" and name_token.text.lower() in ("if", "as", "of", "partition"):
        raise InvalidRequest("only a plain CREATE TABLE name (...) statement is accepted")
    if name_token.kind == "word":
        name = name_token.text.lower()
    elif name_token.kind == "ident":
        name = name_token.text
    else:
        raise InvalidRequest("CREATE TABLE needs a table name")
    if tokens[3] == Token("punct", "."):
        raise InvalidRequest(
            "give the table name without a schema: ledger tables are created in schema public"
        )
    if not TABLE_NAME.fullmatch(name):
        raise InvalidRequest(
            f"table name {name!r} is not supported: use a lower-case identifier of at most 50 "
            "characters (letters, digits, _)"
        )
    if tokens[3] != Token("punct", "("):
        raise InvalidRequest("CREATE TABLE name must be followed by its column list in (...)")
    depth = 0
    for index in range(3, len(tokens)):
        token = tokens[index]
        if token == Token("punct", "("):
            depth += 1
        elif token == Token("punct", ")"):
            depth -= 1
            if depth == 0:
                if index != len(tokens) - 1:
                    raise InvalidRequest(
                        "nothing may follow the column list (no INHERITS, PARTITION BY, WITH, "
                        "TABLESPACE)"
                    )
                return name
    raise InvalidRequest("unbalanced parentheses in the column list")


def check_column_definition(definition: str) -> None:
    """Refuse an ``ADD COLUMN`` definition that is not one plain nullable column."""
    tokens = tokenize(definition)
    if not tokens or any(t == Token("punct", ";") for t in tokens):
        raise InvalidRequest("give one column definition, e.g. 'note text'")
    words = {t.text.lower() for t in tokens if t.kind == "word"}
    refused = words & {"default", "not", "generated", "primary", "unique", "references", "check"}
    if refused:
        raise InvalidRequest(
            "a column added to a ledger table must be nullable with no default, constraint or "
            f"generation (found {', '.join(sorted(refused)).upper()}): existing row versions must "
            "keep their hashes"
        )
