"""The growing right edge of the tree, kept as the partial tile of every tile level.

:class:`TreeEdge` is the pure state machine behind the sequencer: given a batch of leaf hashes it
returns exactly which tiles (in the packed layout of :mod:`accord.core.tiles`) change, and it can
compute the root at its current size. It holds at most one partial tile per level, so memory stays
O(log n) however large the log grows. It does no I/O: the storage layer writes what it returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from accord.core.merkle import (
    HASH_SIZE,
    NodeHasher,
    NodeId,
    empty_root,
    fold_range,
    node_hash,
    range_nodes,
)
from accord.core.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    node_from_packed,
    packed_row_offsets,
    tile_of_node,
    width_from_packed_size,
)
from accord.errors import MalformedInput

TileKey = tuple[int, int]


def _empty_rows() -> list[list[bytes]]:
    return [[] for _ in range(TILE_HEIGHT)]


class TreeEdge:
    """Partial tiles of every level of a tree of ``size`` leaves."""

    __slots__ = ("_hash", "_rows", "_size")

    def __init__(self, hasher: NodeHasher = node_hash) -> None:
        self._hash = hasher  # RFC 9162 by default; CCF's tree uses prefix-free hashing
        self._size = 0
        self._rows: list[list[list[bytes]]] = []  # per tile level: rows 0..7 of its partial tile

    @property
    def size(self) -> int:
        return self._size

    @staticmethod
    def partial_tiles(size: int) -> list[tuple[int, int, int]]:
        """``(level, index, width)`` of each non-empty partial tile of a tree of ``size``."""
        out = []
        level = 0
        level_size = size
        while level_size:
            index, width = divmod(level_size, TILE_WIDTH)
            if width:
                out.append((level, index, width))
            level += 1
            level_size >>= TILE_HEIGHT
        return out

    @classmethod
    def restore(
        cls, size: int, tiles: Mapping[TileKey, bytes], hasher: NodeHasher = node_hash
    ) -> TreeEdge:
        """Rebuild the edge from stored packed tiles (which may be wider than needed)."""
        edge = cls(hasher)
        edge._size = size
        levels = 0
        s = size
        while s:
            levels += 1
            s >>= TILE_HEIGHT
        edge._rows = [_empty_rows() for _ in range(levels)]
        for level, index, width in cls.partial_tiles(size):
            packed = tiles.get((level, index))
            if packed is None:
                raise MalformedInput(f"missing stored tile {level}/{index} for tree size {size}")
            stored_width = width_from_packed_size(len(packed))
            if stored_width < width:
                raise MalformedInput(
                    f"stored tile {level}/{index} has width {stored_width}, need {width}"
                )
            offsets = packed_row_offsets(stored_width)
            rows = edge._rows[level]
            for r in range(TILE_HEIGHT):
                start = offsets[r] * HASH_SIZE
                rows[r] = [
                    packed[start + i * HASH_SIZE : start + (i + 1) * HASH_SIZE]
                    for i in range(width >> r)
                ]
        return edge

    def copy(self) -> TreeEdge:
        other = TreeEdge(self._hash)
        other._size = self._size
        other._rows = [[list(row) for row in rows] for rows in self._rows]
        return other

    def _level_size(self, level: int) -> int:
        return self._size >> (TILE_HEIGHT * level)

    def append(self, leaf_hashes: Sequence[bytes]) -> dict[TileKey, bytes]:
        """Add leaves; return every tile whose packed bytes changed, keyed ``(level, index)``."""
        writes: dict[TileKey, bytes] = {}
        dirty: set[int] = set()
        for h in leaf_hashes:
            self._push(0, self._size, h, writes, dirty)
            self._size += 1
        for level in dirty:
            rows = self._rows[level]
            if rows[0]:
                index = self._level_size(level) // TILE_WIDTH
                writes[(level, index)] = self.packed_partial(level)
        return writes

    def _push(
        self,
        level: int,
        position: int,
        h: bytes,
        writes: dict[TileKey, bytes],
        dirty: set[int],
    ) -> None:
        # position: index of this hash within tree level 8*level.
        while True:
            if level == len(self._rows):
                self._rows.append(_empty_rows())
            rows = self._rows[level]
            rows[0].append(h)
            r = 0
            while r < TILE_HEIGHT - 1 and not len(rows[r]) & 1:
                rows[r + 1].append(self._hash(rows[r][-2], rows[r][-1]))
                r += 1
            if len(rows[0]) < TILE_WIDTH:
                dirty.add(level)
                return
            writes[(level, position // TILE_WIDTH)] = b"".join(b"".join(row) for row in rows)
            h = self._hash(rows[TILE_HEIGHT - 1][0], rows[TILE_HEIGHT - 1][1])
            self._rows[level] = _empty_rows()
            dirty.discard(level)
            level += 1
            position //= TILE_WIDTH

    def packed_partial(self, level: int) -> bytes:
        """Packed bytes of the partial tile of ``level`` (empty if that level has none)."""
        if level >= len(self._rows):
            return b""
        return b"".join(b"".join(row) for row in self._rows[level])

    def node(self, level: int, index: int) -> bytes:
        """A node held by one of the partial tiles (every node of the root's decomposition is)."""
        tile_level, tile_index, row, position = tile_of_node_tuple(level, index)
        if tile_level >= len(self._rows):
            raise MalformedInput(f"node {level}/{index} is beyond the tree edge")
        if tile_index != self._level_size(tile_level) // TILE_WIDTH:
            raise MalformedInput(f"node {level}/{index} is not on the tree edge")
        rows = self._rows[tile_level]
        if position >= len(rows[row]):
            raise MalformedInput(f"node {level}/{index} is not complete yet")
        return rows[row][position]

    def root(self) -> bytes:
        if self._size == 0:
            return empty_root()
        nodes = [self.node(n.level, n.index) for n in range_nodes(0, self._size)]
        return fold_range(nodes, self._hash)


def tile_of_node_tuple(level: int, index: int) -> tuple[int, int, int, int]:
    return tile_of_node(NodeId(level, index))


def node_from_tiles(tiles: Mapping[TileKey, bytes], level: int, index: int) -> bytes:
    """Read one node from a mapping of packed tiles (as fetched from storage)."""
    tile_level, tile_index, row, position = tile_of_node_tuple(level, index)
    packed = tiles.get((tile_level, tile_index))
    if packed is None:
        raise MalformedInput(f"missing stored tile {tile_level}/{tile_index}")
    return node_from_packed(packed, row, position)
