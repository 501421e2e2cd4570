"""RFC 9162 Merkle tree hashing, proof plans and proof verification.

Pure functions over plain values: no storage, no I/O. Proof *generation* is split in two so that a
storage layer can serve proofs in O(log n) reads without holding the tree:

* :func:`inclusion_plan` / :func:`consistency_plan` say which subtree hashes a proof consists of, as
  half-open leaf ranges ``[begin, end)``;
* :func:`range_nodes` names the perfect (stored) subtrees that make up one such range, and
  :func:`fold_range` combines their hashes into the range's hash.

Verification (:func:`verify_inclusion`, :func:`verify_consistency`) follows RFC 9162 §2.1.3.2 and
§2.1.4.2 step by step and raises :class:`~accord.errors.VerificationError` on any failure; it never
returns a boolean.

A *node* is identified by ``(level, index)``: the perfect subtree of ``2**level`` leaves starting at
leaf ``index * 2**level``. Leaves are level 0.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from accord.errors import MalformedInput, RootMismatch, VerificationError

HASH_SIZE = 32
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_MAX_PROOF_LENGTH = 128


@dataclass(frozen=True, slots=True)
class NodeId:
    """A perfect subtree: ``2**level`` leaves starting at leaf ``index << level``."""

    level: int
    index: int


def leaf_hash(leaf: bytes) -> bytes:
    """``SHA-256(0x00 || leaf)``."""
    return hashlib.sha256(_LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def empty_root() -> bytes:
    """The root of the empty tree: ``SHA-256("")``."""
    return hashlib.sha256(b"").digest()


def _largest_power_of_two_below(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_sizes(index: int, size: int) -> None:
    if index < 0 or size < 0:
        raise VerificationError("tree positions must be non-negative")


def inclusion_plan(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form the inclusion proof of leaf ``index`` in a tree of ``size``.

    The order is the RFC 9162 ``PATH`` order: the sibling nearest the leaf first.
    """
    _check_sizes(index, size)
    if index >= size:
        raise VerificationError(f"leaf index {index} is not in a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    begin, end = 0, size
    while end - begin > 1:
        k = _largest_power_of_two_below(end - begin)
        if index - begin < k:
            ranges.append((begin + k, end))
            end = begin + k
        else:
            ranges.append((begin, begin + k))
            begin += k
    ranges.reverse()
    return ranges


def consistency_plan(first: int, second: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form the consistency proof from size ``first`` to ``second``.

    Follows RFC 9162 ``SUBPROOF``; empty when ``first == second`` or ``first == 0``.
    """
    _check_sizes(first, second)
    if first > second:
        raise VerificationError(f"cannot prove consistency from size {first} to smaller {second}")
    if first == 0 or first == second:
        return []
    ranges: list[tuple[int, int]] = []
    begin, end = 0, second
    complete = True  # RFC 9162's b: the old tree is a complete subtree of this one
    while True:
        size = end - begin
        m = first - begin
        if m == size:
            if not complete:
                ranges.append((begin, end))
            break
        k = _largest_power_of_two_below(size)
        if m <= k:
            ranges.append((begin + k, end))
            end = begin + k
        else:
            ranges.append((begin, begin + k))
            begin += k
            complete = False
    ranges.reverse()
    return ranges


def range_nodes(begin: int, end: int) -> list[NodeId]:
    """The perfect subtrees, left to right, whose hashes fold into the hash of ``[begin, end)``.

    ``begin`` must be aligned as every range produced by a proof plan is: the range is the right
    part of some subtree, so it splits into perfect subtrees of decreasing size.
    """
    if begin < 0 or end <= begin:
        raise VerificationError(f"empty or negative leaf range [{begin}, {end})")
    nodes: list[NodeId] = []
    position = begin
    remaining = end - begin
    while remaining:
        level = remaining.bit_length() - 1
        if position & ((1 << level) - 1):
            raise VerificationError(f"leaf range [{begin}, {end}) is not aligned")
        nodes.append(NodeId(level, position >> level))
        position += 1 << level
        remaining -= 1 << level
    return nodes


NodeHasher = Callable[[bytes, bytes], bytes]


def fold_range(hashes: Sequence[bytes], hasher: NodeHasher | None = None) -> bytes:
    """Combine the hashes of :func:`range_nodes` (left to right) into the range's hash.

    ``hasher`` is the interior-node hash, RFC 9162's by default (CCF's tree passes its own).
    """
    if not hashes:
        raise VerificationError("cannot fold an empty list of hashes")
    combine = hasher or node_hash
    result = hashes[-1]
    for h in reversed(hashes[:-1]):
        result = combine(h, result)
    return result


def root_from_leaf_hashes(hashes: Sequence[bytes], hasher: NodeHasher = node_hash) -> bytes:
    """Merkle Tree Hash of a list of leaf hashes (for small trees, tests and tiles)."""
    if not hashes:
        return empty_root()
    level = list(hashes)
    while len(level) > 1:
        nxt = [hasher(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    # Carrying an odd node upward unchanged is exactly RFC 9162's split at the largest power of two.
    return level[0]


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise MalformedInput(f"{what} must be {HASH_SIZE} bytes, got {len(value)}")


def _check_proof(proof: Sequence[bytes]) -> None:
    if len(proof) > _MAX_PROOF_LENGTH:
        raise MalformedInput(f"proof has {len(proof)} hashes; at most {_MAX_PROOF_LENGTH} allowed")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof hash {i}")


def root_from_inclusion_proof(
    index: int, size: int, leaf_hash_value: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root that ``proof`` leads to for ``leaf_hash_value`` at ``index`` (RFC 9162 §2.1.3.2).

    Raises :class:`VerificationError` if the proof has the wrong shape for ``(index, size)``.
    """
    _check_sizes(index, size)
    if index >= size:
        raise VerificationError(f"leaf index {index} is not in a tree of size {size}")
    _check_hash(leaf_hash_value, "leaf hash")
    _check_proof(proof)
    fn, sn = index, size - 1
    r = leaf_hash_value
    for p in proof:
        if sn == 0:
            raise VerificationError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("inclusion proof is too short")
    return r


def verify_inclusion(
    index: int, size: int, leaf_hash_value: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that the leaf hash ``leaf_hash_value`` is at ``index`` in the tree ``(size, root)``.

    Raises :class:`RootMismatch` or :class:`VerificationError`; returns nothing on success.
    """
    _check_hash(root, "root hash")
    computed = root_from_inclusion_proof(index, size, leaf_hash_value, proof)
    if computed != root:
        raise RootMismatch(
            f"inclusion proof for leaf {index} does not lead to the root of size {size}"
        )


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree ``(first, first_root)`` is a prefix of ``(second, second_root)``.

    RFC 9162 §2.1.4.2. ``first == second`` requires an empty proof and equal roots; ``first == 0``
    requires an empty proof (every tree extends the empty tree).
    """
    _check_sizes(first, second)
    _check_hash(first_root, "first root")
    _check_hash(second_root, "second root")
    _check_proof(proof)
    if first > second:
        raise VerificationError(f"size {first} is larger than size {second}")
    if first == second:
        if proof:
            raise VerificationError("consistency proof between equal sizes must be empty")
        if first_root != second_root:
            raise RootMismatch(f"two different roots for the same size {first}")
        return
    if first == 0:
        if proof:
            raise VerificationError("consistency proof from the empty tree must be empty")
        return
    if not proof:
        raise VerificationError("consistency proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("consistency proof is too short")
    if fr != first_root:
        raise RootMismatch(f"consistency proof does not lead to the root of size {first}")
    if sr != second_root:
        raise RootMismatch(f"consistency proof does not lead to the root of size {second}")
