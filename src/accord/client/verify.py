"""Audit a running service through its public tlog-tiles API, trusting only the verifier key.

Fetches the signed checkpoint, every entry bundle and every tile it covers, re-derives each leaf
hash from the entry bundle, recomputes the tree, and checks every served tile and the checkpoint's
root. Contents are not served in tiles, so this proves the metadata log, not the contents (the
data-directory audit checks contents too).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass

from accord.client.client import AccordClient
from accord.core.checkpoint import open_checkpoint
from accord.core.entry import EntryMetadata
from accord.core.merkle import leaf_hash
from accord.core.note import Verifier
from accord.core.tiles import (
    TILE_WIDTH,
    bottom_row,
    decode_entry_bundle,
    entries_path,
    tile_path,
)
from accord.core.treestate import TreeEdge
from accord.errors import AccordError, TamperingDetected


@dataclass(frozen=True)
class RemoteAuditReport:
    size: int
    root: bytes
    tiles: int


def audit_remote(
    client: AccordClient,
    verifier: Verifier,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> RemoteAuditReport:
    checkpoint = open_checkpoint(client.checkpoint(), verifier)
    size = checkpoint.size
    edge = TreeEdge()
    served_tiles = 0
    for bundle_index in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
        width = min(TILE_WIDTH, size - bundle_index * TILE_WIDTH)
        leaves = decode_entry_bundle(client.tile(entries_path(bundle_index, width)))
        if len(leaves) != width:
            raise TamperingDetected(
                f"entry bundle {bundle_index} holds {len(leaves)} entries, expected {width}",
                seqno=bundle_index * TILE_WIDTH + 1,
            )
        hashes = []
        for offset, leaf in enumerate(leaves):
            seqno = bundle_index * TILE_WIDTH + offset + 1
            try:
                metadata = EntryMetadata.from_leaf(leaf)
            except AccordError as exc:
                raise TamperingDetected(f"entry {seqno}: {exc}", seqno=seqno) from exc
            if metadata.seqno != seqno:
                raise TamperingDetected(
                    f"entry {seqno} is served as {metadata.transaction_id}", seqno=seqno
                )
            hashes.append(leaf_hash(leaf))
        for (level, index), packed in edge.append(hashes).items():
            tile_width = len(bottom_row(packed)) // 32
            served = client.tile(tile_path(level, index, tile_width))
            served_tiles += 1
            if not hmac.compare_digest(served, bottom_row(packed)):
                raise TamperingDetected(
                    f"served tile {level}/{index} differs from the tree recomputed from entries",
                    seqno=((index * TILE_WIDTH) << (8 * level)) + 1,
                )
        if progress is not None:
            progress(edge.size, size)
    root = edge.root()
    if not hmac.compare_digest(root, checkpoint.root_hash):
        raise TamperingDetected(
            f"the signed checkpoint of size {size} does not match the served entries", seqno=1
        )
    return RemoteAuditReport(size, root, served_tiles)
