"""Ledger tables: the pure, documented hashing of row versions, transactions, blocks and digests.

This module is the whole definition of what a ledger-table verifier recomputes (``docs/tables.md``);
the PostgreSQL triggers compute the same bytes in SQL, the SQLite wrapper in Python, and both
verifiers call these functions. No I/O, no clock.

Row text (``accord.row.v1``): the row's non-NULL columns in ascending byte order of their UTF-8
names, each written as three length-prefixed fields (decimal byte length, ``:``, bytes)::

    <len(name)>:<name><len(type)>:<type><len(value)>:<value>

where ``type`` is the column's type tag (``int``, ``numeric``, ``text``, ``bool``, ``float``,
``date``, ``timestamp``, ``timestamptz``, ``uuid``, ``bytea``, ``jsonb``) and ``value`` its
canonical text (see ``docs/tables.md``). NULL columns are left out, so adding a nullable column
does not change the hash of any existing row version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from accord.core.canonical import canonicalize, parse_json
from accord.core.merkle import leaf_hash, root_from_leaf_hashes
from accord.errors import MalformedInput

ROW_FORMAT = "accord.row.v1"
TRANSACTION_FORMAT = "accord.tx.v1"
BLOCK_FORMAT = "accord.block.v1"
DIGEST_FORMAT = "accord.tables.digest.v1"
TYPE_TAGS = frozenset(
    {"int", "numeric", "text", "bool", "float", "date", "timestamp", "timestamptz", "uuid",
     "bytea", "jsonb"}
)  # fmt: skip
INSERT = "I"
DELETE = "D"
ZERO_HASH = bytes(32)


def field(data: bytes) -> bytes:
    """One length-prefixed field of the row text: ``<decimal byte length>:<bytes>``."""
    return b"%d:%s" % (len(data), data)


def row_text(columns: Iterable[tuple[str, str, str | None]]) -> bytes:
    """Canonical bytes of one row: ``(name, type tag, canonical text or None)`` per column."""
    items = []
    for name, type_tag, value in columns:
        if type_tag not in TYPE_TAGS:
            raise MalformedInput(f"unknown column type tag {type_tag!r}")
        if value is None:
            continue
        data = value.encode()
        items.append((name.encode(), b"%d:%s" % (len(type_tag), type_tag.encode()), data))
    items.sort(key=lambda item: item[0])
    return b"".join(b"%d:%s%s%d:%s" % (len(n), n, t, len(v), v) for n, t, v in items)


def version_hash(
    table: str, operation: str, transaction_id: int, sequence: int, text: bytes
) -> bytes:
    """Hash of one row version: an INSERT (row appears) or DELETE (row disappears)."""
    if operation not in (INSERT, DELETE):
        raise MalformedInput(f"operation must be I or D, not {operation!r}")
    header = f"{ROW_FORMAT}\n{table}\n{operation}\n{transaction_id}\n{sequence}\n".encode()
    return hashlib.sha256(header + text).digest()


def table_root(version_hashes: Sequence[bytes]) -> bytes:
    """RFC 9162 Merkle root over a transaction's row-version hashes of one table, in sequence order."""
    return root_from_leaf_hashes([leaf_hash(h) for h in version_hashes])


def transaction_hash(transaction_id: int, table_roots: dict[str, bytes]) -> bytes:
    """Hash of one ledger transaction over the roots of every table it wrote."""
    lines = [f"{TRANSACTION_FORMAT}\n{transaction_id}\n"]
    for table in sorted(table_roots, key=lambda t: t.encode()):
        lines.append(f"{table}:{table_roots[table].hex()}\n")
    return hashlib.sha256("".join(lines).encode()).digest()


def block_root(transaction_hashes: Sequence[bytes]) -> bytes:
    """RFC 9162 Merkle root over a block's transaction hashes, in transaction-id order."""
    return root_from_leaf_hashes([leaf_hash(h) for h in transaction_hashes])


def block_hash(block_id: int, previous: bytes, root: bytes, transaction_count: int) -> bytes:
    text = f"{BLOCK_FORMAT}\n{block_id}\n{previous.hex()}\n{root.hex()}\n{transaction_count}\n"
    return hashlib.sha256(text.encode()).digest()


@dataclass(frozen=True)
class DatabaseDigest:
    """What is anchored in an accord ledger: the newest block of a database ledger."""

    database: str
    block_id: int
    block_hash: bytes
    last_commit_time: str
    digest_time: str

    def to_bytes(self) -> bytes:
        return canonicalize(
            {
                "format": DIGEST_FORMAT,
                "database": self.database,
                "blockId": self.block_id,
                "hash": self.block_hash.hex(),
                "lastCommitTime": self.last_commit_time,
                "digestTime": self.digest_time,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes | str) -> DatabaseDigest:
        obj = parse_json(data)
        keys = {"format", "database", "blockId", "hash", "lastCommitTime", "digestTime"}
        if not isinstance(obj, dict) or set(obj) != keys or obj["format"] != DIGEST_FORMAT:
            raise MalformedInput("not an accord.tables.digest.v1 object")
        try:
            block_id = obj["blockId"]
            if not isinstance(block_id, int) or isinstance(block_id, bool) or block_id < 0:
                raise ValueError("blockId")
            digest = bytes.fromhex(str(obj["hash"]))
            if len(digest) != 32:
                raise ValueError("hash")
            return cls(
                str(obj["database"]),
                block_id,
                digest,
                str(obj["lastCommitTime"]),
                str(obj["digestTime"]),
            )
        except ValueError as exc:
            raise MalformedInput(f"malformed database digest: {exc}") from exc
