"""Tile geometry, packed layout, C2SP paths and the TreeEdge state machine."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.merkle import leaf_hash, range_nodes, root_from_leaf_hashes
from accord.core.tiles import (
    TILE_WIDTH,
    bottom_row,
    decode_entry_bundle,
    encode_entry_bundle,
    encode_index,
    node_from_packed,
    pack_tile,
    packed_size,
    parse_index,
    parse_tile_path,
    tile_of_node,
    tile_path,
    width_from_packed_size,
)
from accord.core.treestate import TreeEdge, node_from_tiles
from accord.errors import MalformedInput


def _hashes(n: int, salt: int = 0) -> list[bytes]:
    return [leaf_hash((i + salt).to_bytes(4, "big")) for i in range(n)]


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "000"), (7, "007"), (999, "999"), (1000, "x001/000"), (1234067, "x001/x234/067")],
)
def test_index_encoding(n: int, text: str) -> None:
    assert encode_index(n) == text
    assert parse_index(text) == n


@pytest.mark.parametrize("bad", ["7", "0007", "x000/007", "x1/000", "abc", "001/002", ""])
def test_bad_index_rejected(bad: str) -> None:
    with pytest.raises(MalformedInput):
        parse_index(bad)


def test_tile_paths() -> None:
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(1, 3, 17) == "tile/1/003.p/17"
    assert parse_tile_path("0/x001/x234/067") == (0, 1234067, 256)
    assert parse_tile_path("entries/005.p/9") == (None, 5, 9)
    for bad in ["0/005.p/0", "0/005.p/256", "0/005.p/07", "64/000", "01/000", "x/000"]:
        with pytest.raises(MalformedInput):
            parse_tile_path(bad)


@pytest.mark.parametrize("width", [1, 2, 3, 7, 128, 200, 255, 256])
def test_packed_layout(width: int) -> None:
    hashes = _hashes(width)
    packed = pack_tile(hashes)
    assert len(packed) == packed_size(width)
    assert width_from_packed_size(len(packed)) == width
    assert bottom_row(packed) == b"".join(hashes)
    for row in range(8):
        for position in range(width >> row):
            expected = root_from_leaf_hashes(hashes[position << row : (position + 1) << row])
            assert node_from_packed(packed, row, position) == expected


def test_width_from_bad_sizes() -> None:
    with pytest.raises(MalformedInput):
        width_from_packed_size(33)
    with pytest.raises(MalformedInput):
        width_from_packed_size(0)


def test_entry_bundle_roundtrip_and_truncation() -> None:
    leaves = [b"", b"a", b"x" * 300]
    data = encode_entry_bundle(leaves)
    assert decode_entry_bundle(data) == leaves
    with pytest.raises(MalformedInput):
        decode_entry_bundle(data[:-1])


def test_tile_of_node() -> None:
    assert tile_of_node(range_nodes(0, 256)[0]) == (1, 0, 0, 0)
    assert tile_of_node(range_nodes(512, 520)[0]) == (0, 2, 3, 0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=6))
def test_tree_edge_matches_reference_and_restores(batches: list[int]) -> None:
    edge = TreeEdge()
    tiles: dict[tuple[int, int], bytes] = {}
    all_hashes: list[bytes] = []
    for n in batches:
        new = _hashes(n, salt=len(all_hashes))
        all_hashes.extend(new)
        tiles.update(edge.append(new))
        assert edge.size == len(all_hashes)
        assert edge.root() == root_from_leaf_hashes(all_hashes)
        # Every stored tile equals the packed layout of its bottom row.
        for (level, index), packed in tiles.items():
            assert packed == pack_tile(
                [bottom_row(packed)[i : i + 32] for i in range(0, len(bottom_row(packed)), 32)]
            )
            if level == 0:
                width = width_from_packed_size(len(packed))
                start = index * TILE_WIDTH
                assert bottom_row(packed) == b"".join(all_hashes[start : start + width])
        # Any range hash is readable from stored tiles alone.
        nodes = range_nodes(0, edge.size)
        assert [node_from_tiles(tiles, x.level, x.index) for x in nodes]
        restored = TreeEdge.restore(edge.size, tiles)
        assert restored.root() == edge.root()
        edge = restored


def test_restore_detects_missing_tile() -> None:
    edge = TreeEdge()
    tiles = edge.append(_hashes(300))
    del tiles[(0, 1)]
    with pytest.raises(MalformedInput):
        TreeEdge.restore(300, tiles)
