"""Audit a running service through its public tlog-tiles API, trusting only the verifier key.

Fetches the signed checkpoint and checks its signature before reading anything else; then fetches
every entry bundle and every tile the checkpoint covers, re-derives each leaf hash from the entry
bundle, recomputes the tree, and checks the recomputed root against the signed one and every served
tile against the recomputed tree. Finally it checks the service's proof endpoints against that
tree: the inclusion proof of the newest entry, and the consistency proof from every trusted
checkpoint.

Only the checkpoint is signed; entries and tiles are authenticated by hashing up to its root. So a
disagreement is attributed by which of them reaches the signed root: entries that do not, beside
tiles that do, are a tampered entry bundle (named down to the entry); entries that do, beside a
tile that differs, are a tampered tile; neither means the checkpoint was signed for another tree.

What it cannot see alone: a service that rolls back, or forks, its whole log consistently. Pass
checkpoints saved earlier (``trusted_checkpoints``) to catch that. Contents are not served in
tiles, so this proves the metadata log, not the contents (the data-directory audit checks contents
too). Every failure raises a :class:`~accord.errors.VerificationError` subclass; nothing returns
False.

A consortium's checkpoints are final once a quorum of member organizations cosigned them:
:func:`check_served_policy` checks the served checkpoint against a C2SP tlog-policy (k of n
cosignatures) and ties it to the audited tree, and :func:`verify_receipt_under_policy` checks a
receipt's checkpoint note the same way, offline. :func:`policy_log` finds which of a policy's
logs (a consortium's nodes) signed a checkpoint, for the audit's verifier key.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from accord.client.client import AccordClient
from accord.core.checkpoint import Checkpoint, open_checkpoint
from accord.core.cosignature import CosignedCheckpoint
from accord.core.entry import EntryMetadata
from accord.core.merkle import HASH_SIZE, leaf_hash, verify_consistency, verify_inclusion
from accord.core.note import Verifier
from accord.core.policy import Policy
from accord.core.receipt import VerifiedReceipt, parse_receipt, verify_receipt
from accord.core.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    bottom_row,
    decode_entry_bundle,
    entries_path,
    tile_path,
)
from accord.core.treestate import TreeEdge
from accord.errors import (
    AccordError,
    ConfigurationError,
    MalformedInput,
    RootMismatch,
    SignatureError,
    TamperingDetected,
    VerificationError,
)


@dataclass(frozen=True)
class RemoteAuditReport:
    size: int
    root: bytes
    tiles: int


def _open_served_checkpoint(client: AccordClient, verifier: Verifier) -> Checkpoint:
    note = client.checkpoint()
    try:
        return open_checkpoint(note, verifier)
    except VerificationError as exc:
        # Same class (SignatureError, MalformedInput, ...), saying which document failed.
        raise type(exc)(f"the checkpoint served by {client.url} does not verify: {exc}") from exc


def _trusted_roots(
    notes: Sequence[str], verifier: Verifier, served: Checkpoint
) -> dict[int, bytes]:
    trusted: dict[int, bytes] = {}
    for note in notes:
        try:
            cp = open_checkpoint(note, verifier)
        except VerificationError as exc:
            raise ConfigurationError(f"a trusted checkpoint does not verify: {exc}") from exc
        if cp.size > served.size:
            raise TamperingDetected(
                f"the served checkpoint is for {served.size} entries but a trusted checkpoint "
                f"covers {cp.size}: the log was rolled back",
                seqno=served.size + 1,
            )
        if cp.size == served.size and not hmac.compare_digest(cp.root_hash, served.root_hash):
            raise TamperingDetected(
                f"the served checkpoint and a trusted checkpoint, both signed, give different "
                f"roots for size {cp.size}: the log has forked"
            )
        trusted[cp.size] = cp.root_hash
    return trusted


def _first_seqno(level: int, index: int, position: int) -> int:
    """First seqno under hash ``position`` of the bottom row of tile ``level/index``."""
    return ((index * TILE_WIDTH + position) << (TILE_HEIGHT * level)) + 1


def _first_difference(expected: bytes, served: bytes) -> int:
    """Index of the first 32-byte hash where ``served`` differs from ``expected``."""
    for position in range(len(expected) // HASH_SIZE):
        start = position * HASH_SIZE
        if expected[start : start + HASH_SIZE] != served[start : start + HASH_SIZE]:
            return position
    return len(expected) // HASH_SIZE  # served is longer


def _served_hashes(
    client: AccordClient, path: str, query: dict[str, str], what: str
) -> list[bytes]:
    try:
        body = client.get_json(path, query)
    except ValueError as exc:  # the body is not JSON
        raise MalformedInput(f"the {what} served by {client.url} is not JSON") from exc
    hashes = body.get("hashes") if isinstance(body, dict) else None
    if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
        raise MalformedInput(f"the {what} served by {client.url} has no list of hashes")
    try:
        return [base64.b64decode(h, validate=True) for h in hashes]
    except (binascii.Error, ValueError) as exc:
        raise MalformedInput(f"the {what} served by {client.url} is not base64") from exc


def _check_proofs(
    client: AccordClient,
    checkpoint: Checkpoint,
    last_leaf_hash: bytes | None,
    trusted: dict[int, bytes],
) -> None:
    size = checkpoint.size
    if last_leaf_hash is not None:
        what = f"inclusion proof of entry {size} in the tree of size {size}"
        proof = _served_hashes(
            client, "/proofs/inclusion", {"index": str(size - 1), "size": str(size)}, what
        )
        try:
            verify_inclusion(size - 1, size, last_leaf_hash, proof, checkpoint.root_hash)
        except VerificationError as exc:
            raise RootMismatch(f"the {what} served by {client.url} is wrong: {exc}") from exc
    for first, first_root in sorted(trusted.items()):
        if not 0 < first < size:
            continue
        what = f"consistency proof from size {first} to {size}"
        proof = _served_hashes(
            client, "/proofs/consistency", {"from": str(first), "to": str(size)}, what
        )
        try:
            verify_consistency(first, size, first_root, checkpoint.root_hash, proof)
        except VerificationError as exc:
            raise RootMismatch(f"the {what} served by {client.url} is wrong: {exc}") from exc


def audit_remote(
    client: AccordClient,
    verifier: Verifier,
    *,
    trusted_checkpoints: Sequence[str] = (),
    progress: Callable[[int, int], None] | None = None,
) -> RemoteAuditReport:
    """Audit the log ``client`` serves; raises :class:`~accord.errors.VerificationError` subclasses.

    ``trusted_checkpoints`` are signed checkpoint notes saved earlier: the served log must extend
    each of them (else the log was rolled back or forked) and its consistency proofs from them
    must verify.
    """
    checkpoint = _open_served_checkpoint(client, verifier)
    size = checkpoint.size
    trusted = _trusted_roots(trusted_checkpoints, verifier, checkpoint)

    edge = TreeEdge()  # the tree of the served entries
    served_edge: TreeEdge | None = TreeEdge()  # the tree of the served level-0 tiles
    roots_at: dict[int, bytes] = {0: edge.root()}
    bad_tile: TamperingDetected | None = None
    bad_entry: tuple[int, int] | None = None  # (seqno, bundle) of the first entry ≠ its tile
    served_tiles = 0
    last_leaf_hash: bytes | None = None
    for bundle_index in range((size + TILE_WIDTH - 1) // TILE_WIDTH):
        base = bundle_index * TILE_WIDTH
        width = min(TILE_WIDTH, size - base)
        try:
            leaves = decode_entry_bundle(client.tile(entries_path(bundle_index, width)))
        except MalformedInput as exc:
            raise TamperingDetected(
                f"entry bundle {bundle_index} does not parse: {exc}", seqno=base + 1
            ) from exc
        if len(leaves) != width:
            raise TamperingDetected(
                f"entry bundle {bundle_index} holds {len(leaves)} entries, expected {width}",
                seqno=base + 1,
            )
        hashes = []
        for offset, leaf in enumerate(leaves):
            seqno = base + offset + 1
            try:
                metadata = EntryMetadata.from_leaf(leaf)
            except AccordError as exc:
                raise TamperingDetected(
                    f"entry {seqno} in entry bundle {bundle_index}: {exc}", seqno=seqno
                ) from exc
            if metadata.seqno != seqno:
                raise TamperingDetected(
                    f"entry {seqno} in entry bundle {bundle_index} is served as "
                    f"{metadata.transaction_id}",
                    seqno=seqno,
                )
            hashes.append(leaf_hash(leaf))
        last_leaf_hash = hashes[-1]

        # Append in pieces that end at every trusted size inside this bundle, to know the root
        # there; the tiles written by the last piece supersede the earlier ones.
        writes: dict[tuple[int, int], bytes] = {}
        start = 0
        for cut in sorted({m - base for m in trusted if base < m <= base + width} | {width}):
            writes.update(edge.append(hashes[start:cut]))
            roots_at[base + cut] = edge.root()
            start = cut
        for (level, index), packed in writes.items():
            expected = bottom_row(packed)
            served = client.tile(tile_path(level, index, len(expected) // HASH_SIZE))
            served_tiles += 1
            if level == 0 and served_edge is not None:
                if len(served) == len(expected):
                    served_edge.append(
                        [served[i : i + HASH_SIZE] for i in range(0, len(served), HASH_SIZE)]
                    )
                else:
                    served_edge = None
            if hmac.compare_digest(served, expected):
                continue
            position = _first_difference(expected, served)
            seqno = _first_seqno(level, index, position)
            if level == 0 and bad_entry is None:
                bad_entry = (seqno, bundle_index)
            if bad_tile is None:
                bad_tile = TamperingDetected(
                    f"served tile {level}/{index} differs from the tree recomputed from the "
                    f"entries, first at hash {position} (first seqno under it: {seqno})",
                    seqno=seqno,
                )
        if progress is not None:
            progress(edge.size, size)

    root = edge.root()
    if not hmac.compare_digest(root, checkpoint.root_hash):
        tiles_root = served_edge.root() if served_edge is not None else None
        if (
            bad_entry is not None
            and tiles_root is not None
            and hmac.compare_digest(tiles_root, checkpoint.root_hash)
        ):
            seqno, bundle_index = bad_entry
            raise TamperingDetected(
                f"entry {seqno} served in entry bundle {bundle_index} was changed: its leaf hash "
                "differs from the served tiles, which (unlike the entries) hash to the signed "
                f"root of size {size}",
                seqno=seqno,
            )
        raise TamperingDetected(
            f"the signed checkpoint of size {size} matches neither the served entries nor the "
            "served tiles: it was signed for a different tree (a fork) or the log was rewritten",
            seqno=1,
        )
    for first, first_root in sorted(trusted.items()):
        if not hmac.compare_digest(roots_at[first], first_root):
            raise TamperingDetected(
                f"the served log does not extend the trusted checkpoint of size {first}: "
                "the log has forked or was rewritten",
                seqno=1,
            )
    if bad_tile is not None:
        raise bad_tile
    _check_proofs(client, checkpoint, last_leaf_hash, trusted)
    return RemoteAuditReport(size, root, served_tiles)


# --- trust policies (a consortium's k-of-n cosignatures) ----------------------------------------
def policy_log(note: str | bytes, policy: Policy) -> Verifier:
    """The first log of ``policy`` whose signature on the checkpoint ``note`` verifies.

    Raises :class:`~accord.errors.SignatureError` if none does. Says nothing about cosignatures:
    :meth:`Policy.verify` checks those.
    """
    last: VerificationError | None = None
    for log, _url in policy.logs:
        try:
            open_checkpoint(note, log)
        except VerificationError as exc:
            last = exc
            continue
        return log
    raise SignatureError(f"no log of the policy signed this checkpoint ({last or 'no log'})")


def witnesses_of(policy: Policy, cosigned: CosignedCheckpoint) -> list[str]:
    """The policy's names of the witnesses whose cosignatures verified, sorted."""
    return sorted(
        name
        for name, witness in policy.witnesses.items()
        if (witness.key.name, witness.key.key_id) in cosigned.verified_keys
    )


def check_served_policy(
    client: AccordClient, policy: Policy, audited: RemoteAuditReport
) -> CosignedCheckpoint:
    """The checkpoint ``client`` serves now, checked against ``policy`` and the audited tree.

    Raises :class:`~accord.errors.QuorumNotMet` if its verified cosignatures fall short of the
    policy's quorum and :class:`~accord.errors.SignatureError` if no log of the policy signed it.
    The checkpoint must be the audited tree (same size, same root) or extend it (a served
    consistency proof from the audited size must verify): a quorum-cosigned checkpoint of some
    other tree proves nothing about the entries audited.
    """
    note = client.checkpoint()
    try:
        cosigned = policy.verify(note, not_after=_cosignature_deadline())
    except VerificationError as exc:
        raise type(exc)(f"the checkpoint served by {client.url}: {exc}") from exc
    checkpoint = cosigned.checkpoint
    if checkpoint.size < audited.size:
        raise TamperingDetected(
            f"the checkpoint served by {client.url} under the policy has size {checkpoint.size}, "
            f"below the {audited.size} entries just audited: the log was rolled back",
            seqno=checkpoint.size + 1,
        )
    if checkpoint.size == audited.size:
        if not hmac.compare_digest(checkpoint.root_hash, audited.root):
            raise TamperingDetected(
                f"the checkpoint served by {client.url} under the policy and the audited tree "
                f"of size {audited.size} have different roots: the log has forked",
                seqno=1,
            )
        return cosigned
    if audited.size > 0:
        what = f"consistency proof from size {audited.size} to {checkpoint.size}"
        proof = _served_hashes(
            client,
            "/proofs/consistency",
            {"from": str(audited.size), "to": str(checkpoint.size)},
            what,
        )
        try:
            verify_consistency(
                audited.size, checkpoint.size, audited.root, checkpoint.root_hash, proof
            )
        except VerificationError as exc:
            raise RootMismatch(f"the {what} served by {client.url} is wrong: {exc}") from exc
    return cosigned


def verify_receipt_under_policy(
    data: bytes | str | dict[str, object],
    policy: Policy,
    *,
    verifier: Verifier | None = None,
    contents: bytes | None = None,
) -> tuple[VerifiedReceipt, CosignedCheckpoint]:
    """Verify a receipt offline whose checkpoint must satisfy ``policy`` (k of n cosignatures).

    The receipt's checkpoint note (a consortium node's carries the final checkpoint with every
    member cosignature it gathered) must pass :meth:`Policy.verify`; then the receipt is checked
    as :func:`~accord.core.receipt.verify_receipt` does, with ``verifier`` if given (that key must
    have signed the checkpoint), else with the policy's log that signed it. Raises QuorumNotMet,
    SignatureError or another VerificationError.
    """
    receipt = parse_receipt(data)
    cosigned = policy.verify(receipt.checkpoint_note, not_after=_cosignature_deadline())
    log = verifier if verifier is not None else policy_log(receipt.checkpoint_note, policy)
    return verify_receipt(receipt, log, contents=contents), cosigned


def _cosignature_deadline() -> int:
    """Cosignatures dated more than five minutes ahead of this clock do not count."""
    import time

    return int(time.time()) + 300
