"""C2SP tlog-tiles geometry, paths and accord's stored tile layout.

A tile at level ``L``, index ``N`` holds up to 256 consecutive hashes of tree level ``8*L``,
starting at node ``N*256``: level-0 tiles hold leaf hashes. C2SP serves only that bottom row.
accord *stores* each tile with its seven interior levels too (the *packed* layout below) so that
any node of the tree is one slice of one stored tile, and a proof costs one read per tile level.

Packed layout of a tile of width ``w`` (1..256 hashes in its bottom row): rows ``r = 0..7`` of the
tile's own subtree concatenated, row ``r`` holding the ``w >> r`` complete nodes of tree level
``8*L + r``. Row 8 would be the tile's root: it lives in the bottom row of tile level ``L + 1``.

Pure code: no storage, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from accord.core.merkle import HASH_SIZE, NodeHasher, NodeId, node_hash
from accord.core.quoting import quoted
from accord.errors import MalformedInput

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
ENTRY_BUNDLE_MAX_ITEM = 0xFFFF


def packed_row_offsets(width: int) -> list[int]:
    """Hash offsets of rows 0..8 in a packed tile of ``width`` (the last is the total count)."""
    offsets = [0]
    for r in range(TILE_HEIGHT):
        offsets.append(offsets[-1] + (width >> r))
    return offsets


def packed_size(width: int) -> int:
    """Bytes in a packed tile of ``width``."""
    return packed_row_offsets(width)[-1] * HASH_SIZE


def width_from_packed_size(size_bytes: int) -> int:
    """Invert :func:`packed_size`; raises MalformedInput for a size no width has."""
    if size_bytes % HASH_SIZE:
        raise MalformedInput(f"stored tile of {size_bytes} bytes is not a whole number of hashes")
    width = _WIDTH_OF_COUNT.get(size_bytes // HASH_SIZE)
    if width is None:
        raise MalformedInput(f"stored tile of {size_bytes} bytes has no valid width")
    return width


# count(w) is strictly increasing: one table inverts it (the sequencer asks for every write).
_WIDTH_OF_COUNT: dict[int, int] = {packed_row_offsets(w)[-1]: w for w in range(1, TILE_WIDTH + 1)}


def pack_tile(bottom_row: Sequence[bytes], hasher: NodeHasher = node_hash) -> bytes:
    """Build the packed layout from a tile's bottom row (computing its interior nodes)."""
    if not 1 <= len(bottom_row) <= TILE_WIDTH:
        raise MalformedInput(f"a tile holds 1..{TILE_WIDTH} hashes, not {len(bottom_row)}")
    rows: list[bytes] = []
    row = list(bottom_row)
    for _ in range(TILE_HEIGHT):
        rows.append(b"".join(row))
        row = [hasher(row[i], row[i + 1]) for i in range(0, len(row) - 1, 2)]
    return b"".join(rows)


def bottom_row(packed: bytes, width: int | None = None) -> bytes:
    """The C2SP tile body (the bottom row), optionally truncated to ``width`` hashes."""
    stored = width_from_packed_size(len(packed))
    if width is None:
        width = stored
    if not 1 <= width <= stored:
        raise MalformedInput(f"tile of width {stored} has no prefix of width {width}")
    return packed[: width * HASH_SIZE]


def tile_of_node(node: NodeId) -> tuple[int, int, int, int]:
    """Where a node is stored: ``(tile_level, tile_index, row, position_in_row)``."""
    tile_level, row = divmod(node.level, TILE_HEIGHT)
    first_leaf_of_row0 = node.index << row
    tile_index = first_leaf_of_row0 // TILE_WIDTH
    position = node.index - (tile_index * TILE_WIDTH >> row)
    return tile_level, tile_index, row, position


def node_from_packed(packed: bytes, row: int, position: int) -> bytes:
    """Slice one node out of a packed tile; MalformedInput if the tile does not hold it."""
    width = width_from_packed_size(len(packed))
    if position >= width >> row:
        raise MalformedInput(
            f"stored tile of width {width} does not hold row {row} node {position}"
        )
    offset = (packed_row_offsets(width)[row] + position) * HASH_SIZE
    return packed[offset : offset + HASH_SIZE]


def tile_width_at(tile_level: int, tile_index: int, tree_size: int) -> int:
    """How many hashes (0..256) tile ``(tile_level, tile_index)`` holds at ``tree_size``."""
    level_size = tree_size >> (TILE_HEIGHT * tile_level)
    return max(0, min(TILE_WIDTH, level_size - tile_index * TILE_WIDTH))


def encode_index(n: int) -> str:
    """C2SP tile index path: 1234067 → ``x001/x234/067``."""
    if n < 0:
        raise MalformedInput("tile index must be non-negative")
    parts = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        parts.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(parts))


def tile_path(tile_level: int, tile_index: int, width: int = TILE_WIDTH) -> str:
    """``tile/<L>/<N>[.p/<W>]``."""
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{tile_level}/{encode_index(tile_index)}{suffix}"


def entries_path(tile_index: int, width: int = TILE_WIDTH) -> str:
    """``tile/entries/<N>[.p/<W>]``."""
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/entries/{encode_index(tile_index)}{suffix}"


_INDEX_RE = re.compile(r"^(?:x\d{3}/)*\d{3}$")
_TILE_RE = re.compile(r"^(\d{1,2}|entries)/((?:x\d{3}/)*\d{3})(?:\.p/(\d{1,3}))?$")


def parse_index(text: str) -> int:
    """Inverse of :func:`encode_index`; rejects non-canonical encodings."""
    if not _INDEX_RE.match(text):
        raise MalformedInput(f"malformed tile index {quoted(text)}")
    value = 0
    for part in text.split("/"):
        value = value * 1000 + int(part.lstrip("x"))
    if encode_index(value) != text:
        raise MalformedInput(f"non-canonical tile index {quoted(text)}")
    return value


def parse_tile_path(path: str) -> tuple[int | None, int, int]:
    """Parse the part after ``tile/``: returns ``(level or None for entries, index, width)``."""
    m = _TILE_RE.match(path)
    if not m:
        raise MalformedInput(f"malformed tile path {quoted(path)}")
    level_text, index_text, width_text = m.groups()
    level = None if level_text == "entries" else int(level_text)
    if level is not None and (level > 63 or str(level) != level_text):
        raise MalformedInput(f"malformed tile level {quoted(level_text)}")
    index = parse_index(index_text)
    width = TILE_WIDTH
    if width_text is not None:
        width = int(width_text)
        if not 1 <= width < TILE_WIDTH or str(width) != width_text:
            raise MalformedInput(f"partial tile width must be 1..255, got {quoted(width_text)}")
    return level, index, width


def encode_entry_bundle(leaves: Sequence[bytes]) -> bytes:
    """C2SP entry bundle: each leaf as a big-endian uint16 length followed by its bytes."""
    out = bytearray()
    for leaf in leaves:
        if len(leaf) > ENTRY_BUNDLE_MAX_ITEM:
            raise MalformedInput(f"entry of {len(leaf)} bytes does not fit an entry bundle")
        out += len(leaf).to_bytes(2, "big") + leaf
    return bytes(out)


def decode_entry_bundle(data: bytes) -> list[bytes]:
    """Inverse of :func:`encode_entry_bundle`."""
    leaves: list[bytes] = []
    i = 0
    while i < len(data):
        if i + 2 > len(data):
            raise MalformedInput("truncated entry bundle length")
        n = int.from_bytes(data[i : i + 2], "big")
        if i + 2 + n > len(data):
            raise MalformedInput("truncated entry bundle item")
        leaves.append(data[i + 2 : i + 2 + n])
        i += 2 + n
    return leaves
