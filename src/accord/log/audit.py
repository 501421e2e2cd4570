"""Full offline audit of a stored ledger.

Re-derives every leaf from its stored metadata and contents, recomputes the whole tree (every stored
tile, every row of it), checks every stored checkpoint's signature and that each one's root is the
root of the recomputed tree at its size, which also proves that successive checkpoints are
consistent. The first problem raises :class:`~accord.errors.TamperingDetected` naming the first bad
seqno where one can be named.

A redacted entry (``docs/formats.md`` §22) is not a problem but is reported: its contents may be
missing (or, after a crash between the record and the erasure, still stored) when a valid
redaction record later in the log names it with the contentsSha256 of its leaf; its CCF leaf is
then recomputed from the claims digest the record kept. Contents missing without such a record, a
record that names other contents, or contents that were changed are tampering.

What it cannot see alone: a rollback that deletes the newest entries *and* their checkpoints
together. Pass a checkpoint saved earlier outside the operator's reach (``trusted_checkpoints``) to
catch that too.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from accord.core.ccf import (
    ccf_leaf,
    ccf_node_hash,
    commit_evidence,
    entry_ccf_leaf,
    entry_claim_key,
    ledger_entry_claims_digest,
    write_set_digest,
)
from accord.core.checkpoint import Checkpoint, open_checkpoint
from accord.core.entry import ENTRY_FORMAT, EntryMetadata, TransactionId
from accord.core.merkle import HASH_SIZE, leaf_hash
from accord.core.note import Verifier
from accord.core.redaction import ERASED, REDACTIONS_COLLECTION, Redactions, redacted_contents
from accord.core.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    packed_row_offsets,
    packed_size,
    width_from_packed_size,
)
from accord.core.treestate import TreeEdge
from accord.errors import (
    AccordError,
    MalformedInput,
    TamperingDetected,
    VerificationError,
)
from accord.log.storage import CCF_TREE, RFC9162_TREE, LogStorage, StoredCheckpoint

CHUNK = 2048
FULL_TILE_BYTES = packed_size(TILE_WIDTH)


@dataclass(frozen=True)
class RedactedEntry:
    """An entry whose contents a redaction record erased (or, not ``erased`` yet, will erase)."""

    transaction_id: TransactionId
    record_id: TransactionId
    erased: bool


@dataclass(frozen=True)
class AuditReport:
    entries: int
    checkpoints: int
    tiles: int
    root: bytes
    redacted: tuple[RedactedEntry, ...] = ()


def _first_leaf_of(level: int, index: int, row: int, position: int) -> int:
    """First seqno under node ``position`` of ``row`` in tile ``(level, index)``."""
    node_level = TILE_HEIGHT * level + row
    node_index = (index * TILE_WIDTH >> row) + position
    return (node_index << node_level) + 1


def _compare_tile(
    level: int, index: int, expected: bytes, stored: bytes | None, tree: int = RFC9162_TREE
) -> None:
    name = "CCF tree tile" if tree == CCF_TREE else "tile"
    if stored is None:
        raise TamperingDetected(
            f"{name} {level}/{index} is missing",
            seqno=_first_leaf_of(level, index, 0, 0),
        )
    if hmac.compare_digest(expected, stored):
        return
    width = width_from_packed_size(len(expected))
    try:
        stored_width = width_from_packed_size(len(stored))
    except MalformedInput:
        stored_width = -1
    if stored_width != width:
        raise TamperingDetected(
            f"{name} {level}/{index} has width {stored_width}, the recomputed tree has {width}",
            seqno=_first_leaf_of(level, index, 0, 0),
        )
    offsets = packed_row_offsets(width)
    for row in range(TILE_HEIGHT):
        for position in range(width >> row):
            start = (offsets[row] + position) * HASH_SIZE
            if expected[start : start + HASH_SIZE] != stored[start : start + HASH_SIZE]:
                seqno = _first_leaf_of(level, index, row, position)
                raise TamperingDetected(
                    f"stored hash at tree level {TILE_HEIGHT * level + row} ({name} {level}/{index}) "
                    f"differs from the hash recomputed from the entries, first seqno {seqno}",
                    seqno=seqno,
                )


class _Checkpoints:
    """Streams stored checkpoints in size order, verifying each signature as it is reached."""

    def __init__(
        self,
        stored: Iterator[StoredCheckpoint],
        verifier: Verifier,
        node_key: ec.EllipticCurvePublicKey | None,
    ) -> None:
        self.node_key = node_key
        self._iter = stored
        self._verifier = verifier
        self.count = 0
        self.previous_size = 0
        self.current: tuple[StoredCheckpoint, Checkpoint] | None = None
        self._advance()

    def _advance(self) -> None:
        nxt = next(self._iter, None)
        if nxt is None:
            self.current = None
            return
        try:
            cp = open_checkpoint(nxt.note, self._verifier)
        except VerificationError as exc:
            raise TamperingDetected(
                f"stored checkpoint of size {nxt.size} does not verify: {exc}",
                seqno=self.previous_size + 1,
            ) from exc
        if cp.size != nxt.size:
            raise TamperingDetected(
                f"checkpoint stored under size {nxt.size} is signed for size {cp.size}",
                seqno=self.previous_size + 1,
            )
        self.current = (nxt, cp)
        self.count += 1

    def check_at(self, size: int, root: bytes, ccf_root: bytes | None = None) -> None:
        while self.current is not None and self.current[1].size == size:
            stored, cp = self.current
            if not hmac.compare_digest(cp.root_hash, root):
                raise TamperingDetected(
                    f"the signed checkpoint of size {size} does not match the recomputed tree: "
                    f"entries {self.previous_size + 1}..{size} were changed or reordered",
                    seqno=self.previous_size + 1,
                )
            if stored.ccf_signature is None and self.node_key is not None and size > 0:
                raise TamperingDetected(
                    f"the checkpoint of size {size} has no node signature over its CCF root "
                    "(every checkpoint written by a node with an identity has one)",
                    seqno=self.previous_size + 1,
                )
            if stored.ccf_signature is not None and self.node_key is not None:
                if ccf_root is None:
                    raise TamperingDetected(
                        f"a CCF root signature is stored for the empty tree (size {size})",
                        seqno=self.previous_size + 1,
                    )
                try:
                    self.node_key.verify(
                        stored.ccf_signature, ccf_root, ec.ECDSA(Prehashed(hashes.SHA256()))
                    )
                except InvalidSignature:
                    raise TamperingDetected(
                        f"the node's signature over the CCF root of size {size} does not match "
                        f"the CCF tree recomputed from entries {self.previous_size + 1}..{size}",
                        seqno=self.previous_size + 1,
                    ) from None
            self.previous_size = size
            self._advance()

    def next_size(self) -> int | None:
        return None if self.current is None else self.current[1].size


def audit_storage(
    storage: LogStorage,
    verifier: Verifier,
    *,
    trusted_checkpoints: Sequence[str] = (),
    node_cert: x509.Certificate | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> AuditReport:
    """Audit everything in ``storage``; raises TamperingDetected (or another VerificationError).

    Both trees are recomputed: the RFC 9162 tree and the CCF tree behind Azure-format receipts.
    With ``node_cert`` (the ledger was always written by that node), every checkpoint of a
    non-empty tree must carry the node's signature over the CCF root, and each is checked.

    The audit reads one consistent snapshot of the storage, so it can run beside a writer.
    """
    with storage.snapshot():
        return _audit(storage, verifier, trusted_checkpoints, node_cert, progress)


def _audit(
    storage: LogStorage,
    verifier: Verifier,
    trusted_checkpoints: Sequence[str],
    node_cert: x509.Certificate | None,
    progress: Callable[[int, int], None] | None,
) -> AuditReport:
    meta = storage.read_meta()
    if meta.get("format") != ENTRY_FORMAT:
        raise VerificationError("the storage does not hold an accord ledger")
    if meta.get("origin") != verifier.name:
        raise VerificationError(
            f"the ledger is {meta.get('origin')!r} but the verifier key is for {verifier.name!r}"
        )
    view = int(meta.get("view", "1"))
    total = storage.entry_count()
    trusted: dict[int, bytes] = {}
    for note in trusted_checkpoints:
        cp = open_checkpoint(note, verifier)
        if cp.size > total:
            raise TamperingDetected(
                f"a trusted checkpoint covers {cp.size} entries but only {total} are stored: "
                "entries were deleted",
                seqno=total + 1,
            )
        trusted[cp.size] = cp.root_hash

    secret_hex = meta.get("commit_secret")
    if not secret_hex:
        raise VerificationError("the ledger has no commit secret; cannot recompute its CCF tree")
    commit_secret = bytes.fromhex(secret_hex)
    node_key = None
    if node_cert is not None:
        public_key = node_cert.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise VerificationError("the node certificate does not hold an EC key")
        node_key = public_key
    checkpoints = _Checkpoints(storage.iter_checkpoints(), verifier, node_key)
    ccf_edge = TreeEdge(ccf_node_hash)
    ccf_pending: list[bytes] = []
    edge = TreeEdge()
    checkpoints.check_at(0, edge.root())
    tiles_checked = 0
    expected_seqno = 1
    stored_leaf_tile: tuple[int, bytes] | None = None

    def stored_leaf_hash(seqno: int) -> bytes | None:
        nonlocal stored_leaf_tile
        index = (seqno - 1) // TILE_WIDTH
        if stored_leaf_tile is None or stored_leaf_tile[0] != index:
            packed = storage.get_tiles([(0, index)]).get((0, index), b"")
            stored_leaf_tile = (index, packed)
        packed = stored_leaf_tile[1]
        offset = ((seqno - 1) % TILE_WIDTH) * HASH_SIZE
        if len(packed) < offset + HASH_SIZE:
            return None
        return packed[offset : offset + HASH_SIZE]

    pending: list[bytes] = []
    redactions, bad_records = _fold_redactions(storage, total)
    redacted: list[RedactedEntry] = []

    def flush() -> None:
        nonlocal tiles_checked
        for tree, tree_edge, leaves in (
            (RFC9162_TREE, edge, pending),
            (CCF_TREE, ccf_edge, ccf_pending),
        ):
            writes = tree_edge.append(leaves)
            leaves.clear()
            full = [key for key, packed in writes.items() if len(packed) == FULL_TILE_BYTES]
            stored = storage.get_tiles(full, tree) if full else {}
            for key in full:
                _compare_tile(key[0], key[1], writes[key], stored.get(key), tree)
                tiles_checked += 1

    for entry in storage.iter_entries(1, CHUNK, total):
        seqno = entry.seqno
        if seqno != expected_seqno:
            raise TamperingDetected(
                f"entry {expected_seqno} is missing (next stored entry is {seqno})",
                seqno=expected_seqno,
            )
        try:
            metadata = EntryMetadata.from_leaf(entry.leaf)
        except AccordError as exc:
            raise TamperingDetected(
                f"entry {seqno}: stored metadata is invalid: {exc}", seqno=seqno
            ) from exc
        if metadata.transaction_id.seqno != seqno or metadata.transaction_id.view != view:
            raise TamperingDetected(
                f"entry {seqno}: metadata names transaction {metadata.transaction_id}", seqno=seqno
            )
        if metadata.collection_id != entry.collection_id:
            raise TamperingDetected(
                f"entry {seqno}: collection column {entry.collection_id!r} differs from the "
                f"signed metadata {metadata.collection_id!r}",
                seqno=seqno,
            )
        if seqno in bad_records:
            raise TamperingDetected(bad_records[seqno], seqno=seqno)
        redaction = redactions.get(seqno)
        if redaction is None:
            if not hmac.compare_digest(
                hashlib.sha256(entry.contents).digest(), metadata.contents_sha256
            ):
                what = (
                    "contents are missing and no redaction record names the entry"
                    if not entry.contents
                    else "contents do not match their recorded SHA-256"
                )
                raise TamperingDetected(f"entry {seqno}: {what}", seqno=seqno)
            ccf = entry_ccf_leaf(
                entry.leaf,
                metadata.transaction_id,
                entry.collection_id,
                entry.contents,
                commit_secret,
            )
        else:
            try:
                state = redacted_contents(metadata, entry.contents, redaction)
            except VerificationError as exc:
                raise TamperingDetected(str(exc), seqno=seqno) from exc
            claims = redaction.record.ccf_claims_digest
            if state != ERASED:  # still stored: the record's claims digest must be theirs
                key = entry_claim_key(metadata.transaction_id, commit_secret)
                own = ledger_entry_claims_digest(entry.collection_id, entry.contents, key)
                if not hmac.compare_digest(own, claims):
                    raise TamperingDetected(
                        f"entry {seqno}: redaction record {redaction.record_id} names a CCF "
                        "claims digest that is not the entry's",
                        seqno=seqno,
                    )
            ccf = ccf_leaf(
                write_set_digest(entry.leaf),
                commit_evidence(metadata.transaction_id, commit_secret),
                claims,
            )
            redacted.append(
                RedactedEntry(metadata.transaction_id, redaction.record_id, state == ERASED)
            )
        try:
            entry.contents.decode("utf-8")
        except UnicodeDecodeError:
            raise TamperingDetected(f"entry {seqno}: contents are not UTF-8", seqno=seqno) from None
        h = leaf_hash(entry.leaf)
        stored_hash = stored_leaf_hash(seqno)
        if stored_hash is None or not hmac.compare_digest(stored_hash, h):
            raise TamperingDetected(
                f"entry {seqno}: its leaf hash differs from the stored tree", seqno=seqno
            )
        pending.append(h)
        ccf_pending.append(ccf)
        if len(pending) >= CHUNK:
            flush()
        if checkpoints.next_size() == seqno or seqno in trusted:
            flush()
            root = edge.root()
            checkpoints.check_at(seqno, root, ccf_edge.root())
            if seqno in trusted and not hmac.compare_digest(trusted[seqno], root):
                raise TamperingDetected(
                    f"the trusted checkpoint of size {seqno} does not match the stored log: "
                    f"some of entries 1..{seqno} differ from the ones it signed (a fork or a "
                    "rewrite)"
                )
        expected_seqno += 1
        if progress is not None and seqno % 10_000 == 0:
            progress(seqno, total)

    flush()
    size = expected_seqno - 1
    if size != total:
        raise TamperingDetected(f"entry {size + 1} is missing", seqno=size + 1)
    # The right edge: every partial tile must match exactly.
    for tree, tree_edge in ((RFC9162_TREE, edge), (CCF_TREE, ccf_edge)):
        for level, index, _width in TreeEdge.partial_tiles(size):
            expected = tree_edge.packed_partial(level)
            stored_tile = storage.get_tiles([(level, index)], tree).get((level, index))
            _compare_tile(level, index, expected, stored_tile, tree)
            tiles_checked += 1
    next_size = checkpoints.next_size()
    if next_size is not None:
        raise TamperingDetected(
            f"a signed checkpoint covers {next_size} entries but only {size} are stored",
            seqno=size + 1,
        )
    if progress is not None:
        progress(size, total)
    return AuditReport(size, checkpoints.count, tiles_checked, edge.root(), tuple(redacted))


def _fold_redactions(storage: LogStorage, total: int) -> tuple[Redactions, dict[int, str]]:
    """The valid redaction records among entries 1..total, and why each invalid one is not.

    Read ahead of the entries (a record comes after the entry it redacts); an invalid record is
    reported when the audit reaches its seqno, so the first bad seqno is still the one named.
    """
    redactions = Redactions()
    bad: dict[int, str] = {}
    first = 1
    while first <= total:
        rows = storage.get_collection_entries(REDACTIONS_COLLECTION, first, total, CHUNK)
        if not rows:
            break
        for row in rows:
            try:
                redactions.add(EntryMetadata.from_leaf(row.leaf), row.contents)
            except AccordError as exc:
                bad[row.seqno] = f"entry {row.seqno} is not a valid redaction record: {exc}"
        first = rows[-1].seqno + 1
    return redactions, bad
