"""RFC 9162 hashing, proof plans and verification: public vectors, broken variants, properties."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.merkle import (
    consistency_plan,
    fold_range,
    inclusion_plan,
    leaf_hash,
    node_hash,
    range_nodes,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from accord.core.treestate import TreeEdge
from accord.errors import MalformedInput, RootMismatch, VerificationError

VECTORS = json.loads((Path(__file__).parent.parent / "vectors/rfc9162/vectors.json").read_text())
LEAVES = [bytes.fromhex(x) for x in VECTORS["leaves_hex"]]
LEAF_HASHES = [leaf_hash(x) for x in LEAVES]
ROOTS = {int(k): bytes.fromhex(v) for k, v in VECTORS["roots_by_size"].items()}


# --- a deliberately naive reference: RFC 9162 §2.1 read literally, recursion and slices ----------
def ref_mth(hashes: list[bytes]) -> bytes:
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(ref_mth(hashes[:k]), ref_mth(hashes[k:]))


def ref_path(m: int, hashes: list[bytes]) -> list[bytes]:
    n = len(hashes)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*ref_path(m, hashes[:k]), ref_mth(hashes[k:])]
    return [*ref_path(m - k, hashes[k:]), ref_mth(hashes[:k])]


def ref_subproof(m: int, hashes: list[bytes], b: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if b else [ref_mth(hashes)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*ref_subproof(m, hashes[:k], b), ref_mth(hashes[k:])]
    return [*ref_subproof(m - k, hashes[k:], False), ref_mth(hashes[:k])]


def ref_consistency(m: int, hashes: list[bytes]) -> list[bytes]:
    if m == 0 or m == len(hashes):
        return []
    return ref_subproof(m, hashes, True)


def plan_hashes(ranges: list[tuple[int, int]], hashes: list[bytes]) -> list[bytes]:
    """Resolve a proof plan the way storage does: perfect nodes, then fold."""
    out = []
    for begin, end in ranges:
        nodes = range_nodes(begin, end)
        out.append(
            fold_range(
                [ref_mth(hashes[n.index << n.level : (n.index + 1) << n.level]) for n in nodes]
            )
        )
    return out


# --- known answers -----------------------------------------------------------------------------
@pytest.mark.parametrize("size", sorted(ROOTS))
def test_roots_match_published_vectors(size: int) -> None:
    assert root_from_leaf_hashes(LEAF_HASHES[:size]) == ROOTS[size]
    assert ref_mth(LEAF_HASHES[:size]) == ROOTS[size]
    edge = TreeEdge()
    edge.append(LEAF_HASHES[:size])
    assert edge.root() == ROOTS[size]


@pytest.mark.parametrize("vector", VECTORS["inclusion"], ids=lambda v: f"{v['index']}-{v['size']}")
def test_inclusion_vectors(vector: dict[str, object]) -> None:
    index, size = int(vector["index"]), int(vector["size"])  # type: ignore[call-overload]
    expected = [bytes.fromhex(h) for h in vector["proof"]]  # type: ignore[attr-defined]
    assert plan_hashes(inclusion_plan(index, size), LEAF_HASHES[:size]) == expected
    verify_inclusion(index, size, LEAF_HASHES[index], expected, ROOTS[size])


@pytest.mark.parametrize(
    "vector", VECTORS["consistency"], ids=lambda v: f"{v['first']}-{v['second']}"
)
def test_consistency_vectors(vector: dict[str, object]) -> None:
    first, second = int(vector["first"]), int(vector["second"])  # type: ignore[call-overload]
    expected = [bytes.fromhex(h) for h in vector["proof"]]  # type: ignore[attr-defined]
    assert plan_hashes(consistency_plan(first, second), LEAF_HASHES[:second]) == expected
    verify_consistency(first, second, ROOTS[first], ROOTS[second], expected)


# --- broken variants must be rejected ------------------------------------------------------------
def _flip(h: bytes, bit: int = 0) -> bytes:
    return bytes([h[0] ^ (1 << bit)]) + h[1:]


def test_inclusion_broken_variants() -> None:
    proof = [bytes.fromhex(h) for h in VECTORS["inclusion"][1]["proof"]]
    index, size, root = 5, 8, ROOTS[8]
    verify_inclusion(index, size, LEAF_HASHES[index], proof, root)
    with pytest.raises(RootMismatch):
        verify_inclusion(index, size, LEAF_HASHES[index], [_flip(proof[0]), *proof[1:]], root)
    with pytest.raises(RootMismatch):
        verify_inclusion(index, size, LEAF_HASHES[4], proof, root)  # wrong leaf
    with pytest.raises(VerificationError):
        verify_inclusion(index, 6, LEAF_HASHES[index], proof, root)  # wrong size
    with pytest.raises(VerificationError):
        verify_inclusion(index, size, LEAF_HASHES[index], proof[:-1], root)  # truncated
    with pytest.raises(VerificationError):
        verify_inclusion(index, size, LEAF_HASHES[index], [*proof, proof[0]], root)  # extended
    with pytest.raises(VerificationError):
        verify_inclusion(4, size, LEAF_HASHES[index], proof, root)  # wrong index
    with pytest.raises(RootMismatch):
        verify_inclusion(index, size, LEAF_HASHES[index], proof, _flip(root, 7))
    with pytest.raises(VerificationError):
        verify_inclusion(8, 8, LEAF_HASHES[0], proof, root)  # index >= size
    with pytest.raises(MalformedInput):
        verify_inclusion(index, size, LEAF_HASHES[index], [proof[0][:31], *proof[1:]], root)


def test_consistency_broken_variants() -> None:
    proof = [bytes.fromhex(h) for h in VECTORS["consistency"][2]["proof"]]
    verify_consistency(6, 8, ROOTS[6], ROOTS[8], proof)
    with pytest.raises(VerificationError):
        verify_consistency(6, 8, ROOTS[6], ROOTS[8], [_flip(proof[1]), proof[0], proof[2]])
    with pytest.raises(VerificationError):
        verify_consistency(6, 8, _flip(ROOTS[6]), ROOTS[8], proof)
    with pytest.raises(VerificationError):
        verify_consistency(6, 8, ROOTS[6], _flip(ROOTS[8]), proof)
    with pytest.raises(VerificationError):
        verify_consistency(5, 8, ROOTS[5], ROOTS[8], proof)  # wrong size
    with pytest.raises(VerificationError):
        verify_consistency(6, 8, ROOTS[6], ROOTS[8], proof[:-1])  # truncated
    with pytest.raises(VerificationError):
        verify_consistency(6, 8, ROOTS[6], ROOTS[8], [])  # empty
    with pytest.raises(VerificationError):
        verify_consistency(8, 6, ROOTS[8], ROOTS[6], proof)  # from > to
    with pytest.raises(RootMismatch):
        verify_consistency(3, 3, ROOTS[3], ROOTS[4], [])  # same size, different roots
    with pytest.raises(VerificationError):
        verify_consistency(3, 3, ROOTS[3], ROOTS[3], [ROOTS[1]])


def test_plans_reject_impossible_requests() -> None:
    with pytest.raises(VerificationError):
        inclusion_plan(5, 5)
    with pytest.raises(VerificationError):
        consistency_plan(6, 5)
    with pytest.raises(VerificationError):
        range_nodes(1, 4)  # not aligned to a perfect subtree split


# --- properties against the naive reference ---------------------------------------------------
def _hashes(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.data())
def test_inclusion_matches_reference(size: int, data: st.DataObject) -> None:
    hashes = _hashes(size)
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    proof = plan_hashes(inclusion_plan(index, size), hashes)
    assert proof == ref_path(index, hashes)
    verify_inclusion(index, size, hashes[index], proof, ref_mth(hashes))


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.data())
def test_consistency_matches_reference(second: int, data: st.DataObject) -> None:
    hashes = _hashes(second)
    first = data.draw(st.integers(min_value=0, max_value=second))
    proof = plan_hashes(consistency_plan(first, second), hashes)
    assert proof == ref_consistency(first, hashes)
    verify_consistency(first, second, ref_mth(hashes[:first]), ref_mth(hashes), proof)
    if proof and first > 0:
        bad = list(proof)
        bad[data.draw(st.integers(min_value=0, max_value=len(bad) - 1))] = b"\x00" * 32
        with pytest.raises(VerificationError):
            verify_consistency(first, second, ref_mth(hashes[:first]), ref_mth(hashes), bad)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=8), max_size=70))
def test_tree_edge_and_level_fold_match_reference(leaves: list[bytes]) -> None:
    hashes = [leaf_hash(x) for x in leaves]
    edge = TreeEdge()
    edge.append(hashes)
    assert edge.root() == ref_mth(hashes) == root_from_leaf_hashes(hashes)
