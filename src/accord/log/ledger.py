"""The ledger: a reader over any storage backend, and a writer that sequences appends.

* :class:`LedgerReader` answers entries, statuses, proofs, tiles, checkpoints and receipts from
  storage alone, in O(log n) reads per proof. Any number of readers may run beside the writer.
* :class:`Ledger` adds the sequencer: appends are validated in the caller's thread (bad input raises
  at once and writes nothing), queued, and written by one thread in *group commits*: every batch is
  one durable transaction with its entries and tiles. An append is acknowledged (its future
  resolves) only after that transaction committed. A signed checkpoint goes with each batch, or
  separately when ``checkpoint_interval`` caps the signing rate; an entry is ``Committed`` once a
  durable checkpoint covers it and ``Pending`` before.
* :meth:`Ledger.redact` erases one entry's contents after writing a redaction record
  (:mod:`accord.core.redaction`); readers then answer :class:`~accord.errors.EntryRedacted` for it,
  while its leaf, proofs and receipts stay. A writer that opens a ledger finishes any erasure a
  crash interrupted.

The tree logic is :class:`accord.core.treestate.TreeEdge`; this module is the I/O driver around it.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from cryptography import x509

from accord.core.ccf import (
    LeafComponents,
    build_ccf_receipt,
    ccf_node_hash,
    claims_digest,
    commit_evidence,
    entry_ccf_leaf,
    entry_claim_key,
    entry_claims,
    ledger_entry_claims_digest,
    receipt_response,
    sign_ccf_root,
    write_set_digest,
)
from accord.core.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from accord.core.cosignature import add_signatures
from accord.core.entry import (
    DEFAULT_COLLECTION,
    DEFAULT_MAX_CONTENTS,
    ENTRY_FORMAT,
    EntryMetadata,
    TransactionId,
    encode_contents,
    validate_collection_id,
    validate_tags,
    validate_user_id,
)
from accord.core.merkle import (
    NodeHasher,
    consistency_plan,
    empty_root,
    fold_range,
    inclusion_plan,
    leaf_hash,
    range_nodes,
)
from accord.core.note import NoteSignature, Signer, Verifier, note_signatures
from accord.core.receipt import Receipt
from accord.core.redaction import (
    CONSORTIUM_REFUSAL,
    REDACTIONS_COLLECTION,
    REDACTIONS_USER,
    Redaction,
    RedactionRecord,
    Redactions,
    check_redactable,
    validate_reason,
)
from accord.core.tiles import (
    TILE_WIDTH,
    bottom_row,
    encode_entry_bundle,
    tile_of_node,
    tile_width_at,
)
from accord.core.treestate import TreeEdge, node_from_tiles
from accord.errors import (
    AccordError,
    ConfigurationError,
    DatabaseMissing,
    EntryRedacted,
    InvalidRequest,
    MalformedInput,
    NotFound,
    StorageError,
    VerificationError,
)
from accord.identity import KeyAndCert
from accord.log.record import CheckpointRecord, check_against_record, missing_ledger
from accord.log.storage import (
    CCF_TREE,
    RFC9162_TREE,
    LogStorage,
    StoredCheckpoint,
    StoredEntry,
    StoredTile,
    open_storage,
)

log = logging.getLogger("accord.ledger")

PENDING = "Pending"
COMMITTED = "Committed"
UNKNOWN = "Unknown"


@dataclass(frozen=True)
class NewEntry:
    """An entry to append."""

    contents: str
    collection_id: str = DEFAULT_COLLECTION
    tags: Sequence[str] = ()


@dataclass(frozen=True)
class LedgerEntry:
    """A stored entry with its contents and commit status.

    A redacted entry, as listings return it, has empty ``contents`` and ``redaction``, the
    transaction id of the redaction record that erased them.
    """

    metadata: EntryMetadata
    contents: str
    status: str
    redaction: TransactionId | None = None

    @property
    def transaction_id(self) -> TransactionId:
        return self.metadata.transaction_id


#: Seconds between two checkpoint signatures under load. An isolated write is still signed at
#: once (the interval only caps the rate), so ``Committed`` comes within tens of milliseconds,
#: while a busy ledger signs at most 50 checkpoints a second instead of one per group commit
#: (storage and audit time then grow with the number of entries, not of commits).
DEFAULT_CHECKPOINT_INTERVAL = 0.02


@dataclass
class LedgerOptions:
    max_contents: int = DEFAULT_MAX_CONTENTS
    max_batch: int = 10_000
    checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL
    """Minimum seconds between two checkpoint signatures (0: one per batch)."""
    clock: Callable[[], float] = field(default=time.time)
    external_finality: bool = False
    """A consortium node: entries are appended only through :meth:`Ledger.submit_ordered`, and a
    checkpoint is stored (making entries ``Committed``) only through :meth:`Ledger.submit_final`,
    once the organizations' quorum cosigned it; the ledger never commits on its own signature."""


@dataclass
class _Request:
    items: list[tuple[str, tuple[str, ...], bytes]]
    user_id: str
    future: Future[list[TransactionId]]


@dataclass(frozen=True)
class OrderedItem:
    """An entry whose position, user and timestamp the ordering service already decided."""

    collection_id: str
    tags: tuple[str, ...]
    contents: bytes
    user_id: str
    timestamp_ms: int


@dataclass(frozen=True)
class OrderedResult:
    """What an ordered batch became: its ids, and the tree right after it (durable)."""

    transaction_ids: list[TransactionId]
    size: int
    root: bytes


@dataclass
class _OrderedRequest:
    items: Sequence[OrderedItem]
    meta: dict[str, str]
    future: Future[OrderedResult]


@dataclass
class _FinalRequest:
    size: int
    note: str  # the checkpoint note with the quorum's cosignatures (and any log signature)
    future: Future[str]


_STOP = object()
_MAX_SEQNO = (1 << 63) - 1
_RECORD_PAGE = 1000


class LedgerReader:
    """Read access to a ledger in any storage backend.

    Every stored checkpoint it hands out is verified with ``verifier`` first (then parsed), so a
    reader never serves a checkpoint the ledger's key did not sign.
    """

    def __init__(self, storage: LogStorage, verifier: Verifier) -> None:
        if not isinstance(verifier, Verifier):
            raise ConfigurationError("a LedgerReader needs the ledger's checkpoint Verifier")
        self.storage = storage
        meta = storage.read_meta()
        if meta.get("format") != ENTRY_FORMAT:
            raise ConfigurationError("the storage does not hold an accord ledger (not initialized)")
        self.origin = meta["origin"]
        self.view = int(meta.get("view", "1"))
        secret = meta.get("commit_secret")
        self.commit_secret = bytes.fromhex(secret) if secret else None
        self.verifier = verifier
        self._checkpoint_cache: tuple[StoredCheckpoint, Checkpoint] | None = None
        self._redactions = Redactions()
        self._redactions_lock = threading.Lock()
        self._follow_redactions = True  # a reader folds new records as the ledger grows

    @classmethod
    def open(cls, location: str, verifier: Verifier, *, read_only: bool = True) -> LedgerReader:
        """A reader of the ledger at ``location``; by default it opens storage read-only."""
        storage = open_storage(location, read_only=read_only)
        try:
            return cls(storage, verifier)
        except BaseException:
            storage.close()
            raise

    def close(self) -> None:
        self.storage.close()

    # --- checkpoints ----------------------------------------------------------------------------
    def _parse_checkpoint(self, stored: StoredCheckpoint) -> Checkpoint:
        cached = self._checkpoint_cache
        if cached is not None and cached[0] == stored:
            return cached[1]
        try:
            cp = open_checkpoint(stored.note, self.verifier)
        except VerificationError as exc:
            raise StorageError(
                f"the checkpoint stored under size {stored.size} does not verify: {exc}"
            ) from exc
        if cp.size != stored.size:
            raise StorageError(f"checkpoint stored under size {stored.size} says {cp.size}")
        self._checkpoint_cache = (stored, cp)
        return cp

    def latest_checkpoint(self) -> tuple[str, Checkpoint]:
        """The newest signed checkpoint: its note text and parsed form."""
        stored = self.storage.latest_checkpoint()
        if stored is None:
            raise NotFound("no checkpoint has been signed yet")
        return stored.note, self._parse_checkpoint(stored)

    def committed_size(self) -> int:
        """Size of the newest checkpoint, once its signature verified (never a bare row)."""
        stored = self.storage.latest_checkpoint()
        return 0 if stored is None else self._parse_checkpoint(stored).size

    def size(self) -> int:
        """Durable entries, committed or not."""
        return self.storage.entry_count()

    # --- entries --------------------------------------------------------------------------------
    def _seqno(self, txid: TransactionId | str | int) -> int:
        if isinstance(txid, int) and not isinstance(txid, bool):
            return txid
        parsed = txid if isinstance(txid, TransactionId) else TransactionId.parse(str(txid))
        if parsed.view != self.view:
            raise NotFound(
                f"transaction {parsed} does not exist (this ledger is in view {self.view})"
            )
        return parsed.seqno

    def status(self, txid: TransactionId | str | int) -> str:
        seqno = self._seqno(txid)
        if seqno <= self.committed_size():
            return COMMITTED
        if seqno <= self.size():
            return PENDING
        return UNKNOWN

    def _to_entry(self, stored: StoredEntry, committed: int, redactions: Redactions) -> LedgerEntry:
        status = COMMITTED if stored.seqno <= committed else PENDING
        redaction = redactions.get(stored.seqno)
        try:
            metadata = EntryMetadata.from_stored_leaf(stored.leaf)
            if redaction is not None:
                return LedgerEntry(metadata, "", status, redaction.record_id)
            contents = stored.contents.decode("utf-8")
        except (MalformedInput, UnicodeDecodeError) as exc:
            raise StorageError(f"stored entry {stored.seqno} is corrupt: {exc}") from exc
        return LedgerEntry(metadata, contents, status)

    def get_entry(self, txid: TransactionId | str | int) -> LedgerEntry:
        """One entry with its contents; :class:`EntryRedacted` if a redaction erased them."""
        seqno = self._seqno(txid)
        redaction = self.redactions().get(seqno)
        if redaction is not None:
            raise EntryRedacted(
                f"transaction {self.view}.{seqno} was redacted by transaction "
                f"{redaction.record_id}: its contents are erased (its receipt still verifies)",
                redaction_id=str(redaction.record_id),
            )
        rows = self.storage.get_entries(seqno, seqno)
        if not rows:
            raise NotFound(f"transaction {self.view}.{seqno} does not exist")
        return self._to_entry(rows[0], self.committed_size(), self._redactions)

    def entry_metadata(self, txid: TransactionId | str | int) -> EntryMetadata:
        """An entry's leaf metadata, redacted or not (no contents are decoded)."""
        seqno = self._seqno(txid)
        rows = self.storage.get_entries(seqno, seqno)
        if not rows:
            raise NotFound(f"transaction {self.view}.{seqno} does not exist")
        try:
            return EntryMetadata.from_stored_leaf(rows[0].leaf)
        except MalformedInput as exc:
            raise StorageError(f"stored entry {seqno} is corrupt: {exc}") from exc

    def get_entries(
        self,
        first_seqno: int,
        last_seqno: int,
        *,
        collection_id: str | None = None,
        limit: int = 1000,
    ) -> list[LedgerEntry]:
        committed = self.committed_size()
        redactions = self.redactions()
        if collection_id is None:
            rows = self.storage.get_entries(first_seqno, min(last_seqno, first_seqno + limit - 1))
        else:
            rows = self.storage.get_collection_entries(
                collection_id, first_seqno, last_seqno, limit
            )
        return [self._to_entry(r, committed, redactions) for r in rows]

    def iter_collection(
        self,
        collection_id: str,
        first_seqno: int = 1,
        last_seqno: int | None = None,
        *,
        page: int = 1000,
    ) -> Iterator[LedgerEntry]:
        """Every entry of ``collection_id`` from ``first_seqno`` to ``last_seqno`` (default: the
        current size), in order, read ``page`` entries at a time."""
        last = self.size() if last_seqno is None else last_seqno
        while first_seqno <= last:
            rows = self.get_entries(first_seqno, last, collection_id=collection_id, limit=page)
            yield from rows
            if len(rows) < page:
                return
            first_seqno = rows[-1].metadata.seqno + 1

    def collections(self) -> list[str]:
        return self.storage.collections()

    # --- redactions -----------------------------------------------------------------------------
    def redactions(self) -> Redactions:
        """Every redaction recorded so far, folded from the ``accord.redactions`` collection.

        A reader folds the records appended since it last looked (one indexed query per call);
        the writer keeps the fold itself, as it writes every record.
        """
        if self._follow_redactions:
            last = self.storage.last_seqno_in_collection(REDACTIONS_COLLECTION, _MAX_SEQNO)
            if last is not None and last > self._redactions.last_record_seqno:
                with self._redactions_lock:
                    self._fold_redactions(last)
        return self._redactions

    def _fold_redactions(self, last: int) -> None:
        first = self._redactions.last_record_seqno + 1
        while first <= last:
            rows = self.storage.get_collection_entries(
                REDACTIONS_COLLECTION, first, last, _RECORD_PAGE
            )
            if not rows:
                return
            for row in rows:
                try:
                    self._redactions.add(EntryMetadata.from_stored_leaf(row.leaf), row.contents)
                except MalformedInput as exc:
                    raise StorageError(
                        f"stored entry {row.seqno} is not a valid redaction record: {exc} "
                        "(run `accord verify`)"
                    ) from exc
            first = rows[-1].seqno + 1

    # --- proofs ---------------------------------------------------------------------------------
    def _check_size(self, size: int) -> None:
        committed = self.committed_size()
        if size > committed:
            raise InvalidRequest(
                f"tree size {size} is beyond the latest checkpoint (size {committed})"
            )

    def _range_hashes(
        self,
        ranges: Sequence[tuple[int, int]],
        tree: int = RFC9162_TREE,
        hasher: NodeHasher | None = None,
    ) -> list[bytes]:
        per_range = [range_nodes(b, e) for b, e in ranges]
        keys = set()
        for nodes in per_range:
            for node in nodes:
                tile_level, tile_index, _, _ = tile_of_node(node)
                keys.add((tile_level, tile_index))
        tiles = self.storage.get_tiles(sorted(keys), tree)
        try:
            return [
                fold_range([node_from_tiles(tiles, n.level, n.index) for n in nodes], hasher)
                for nodes in per_range
            ]
        except MalformedInput as exc:
            raise StorageError(f"stored tree is incomplete: {exc}") from exc

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 9162 inclusion proof of leaf ``index`` (0-based) in the tree of ``size`` leaves."""
        if index < 0 or size < 0:
            raise InvalidRequest("index and size must be non-negative")
        if index >= size:
            raise InvalidRequest(f"index {index} must be smaller than size {size}")
        self._check_size(size)
        return self._range_hashes(inclusion_plan(index, size))

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """RFC 9162 consistency proof between tree sizes ``first`` and ``second``."""
        if first < 0 or second < 0:
            raise InvalidRequest("sizes must be non-negative")
        if first > second:
            raise InvalidRequest(f"from ({first}) must not be larger than to ({second})")
        self._check_size(second)
        return self._range_hashes(consistency_plan(first, second))

    def root_at(self, size: int) -> bytes:
        """Root hash of the tree of ``size`` leaves, from stored tiles."""
        if size == 0:
            return empty_root()
        return self._range_hashes([(0, size)])[0]

    def receipt(self, txid: TransactionId | str | int) -> Receipt:
        """A receipt for a committed entry, against the latest checkpoint."""
        seqno = self._seqno(txid)
        note, checkpoint = self.latest_checkpoint()
        if seqno > checkpoint.size:
            if seqno <= self.size():
                raise InvalidRequest(
                    f"transaction {self.view}.{seqno} is not committed yet; no receipt is issued "
                    "for an uncommitted entry"
                )
            raise NotFound(f"transaction {self.view}.{seqno} does not exist")
        metadata = self.entry_metadata(seqno)  # a redacted entry keeps its receipt
        proof = self._range_hashes(inclusion_plan(seqno - 1, checkpoint.size))
        return Receipt(metadata, seqno - 1, checkpoint.size, tuple(proof), note)

    def ccf_receipt(
        self, txid: TransactionId | str | int, node_cert: x509.Certificate
    ) -> dict[str, object] | None:
        """The Azure/CCF receipt response for a committed entry; None while not yet signed.

        The proof is in the CCF tree up to the first checkpoint that covers the entry and carries
        the node's signature over that tree's root.
        """
        seqno = self._seqno(txid)
        if self.commit_secret is None:
            raise ConfigurationError("the ledger has no commit secret")
        stored = self.storage.ccf_checkpoint_covering(seqno)
        if stored is None or stored.ccf_signature is None or seqno > self.committed_size():
            if seqno > self.size():
                raise NotFound(f"transaction {self.view}.{seqno} does not exist")
            return None
        rows = self.storage.get_entries(seqno, seqno)
        if not rows:
            raise NotFound(f"transaction {self.view}.{seqno} does not exist")
        row = rows[0]
        transaction_id = TransactionId(self.view, seqno)
        redaction = self.redactions().get(seqno)
        claims: list[dict[str, object]] | None = None
        if redaction is None:
            key = entry_claim_key(transaction_id, self.commit_secret)
            claims = entry_claims(row.collection_id, row.contents.decode("utf-8"), key)
            digest = claims_digest(claims)
        else:  # the contents are gone: the record kept their claims digest, the claims are not
            digest = redaction.record.ccf_claims_digest
        components = LeafComponents(
            write_set_digest=write_set_digest(row.leaf),
            commit_evidence=commit_evidence(transaction_id, self.commit_secret),
            claims_digest=digest,
        )
        index = seqno - 1
        plan = inclusion_plan(index, stored.size)
        hashes = self._range_hashes(plan, CCF_TREE, ccf_node_hash)
        proof: list[dict[str, object]] = [
            {"left": h.hex()} if end <= index else {"right": h.hex()}
            for (_, end), h in zip(plan, hashes, strict=True)
        ]
        receipt = build_ccf_receipt(
            components=components,
            proof=proof,
            signature=stored.ccf_signature,
            node_cert=node_cert,
        )
        return receipt_response(receipt, transaction_id, claims)

    # --- tiles ----------------------------------------------------------------------------------
    def tile(self, level: int, index: int, width: int) -> bytes:
        """C2SP tile body; only what the latest checkpoint covers is served."""
        available = tile_width_at(level, index, self.committed_size())
        if width > available:
            raise NotFound(f"tile {level}/{index} of width {width} is not available")
        packed = self.storage.get_tiles([(level, index)]).get((level, index))
        if packed is None:
            raise NotFound(f"tile {level}/{index} is not available")
        return bottom_row(packed, width)

    def entry_bundle(self, index: int, width: int) -> bytes:
        available = tile_width_at(0, index, self.committed_size())
        if width > available:
            raise NotFound(f"entry bundle {index} of width {width} is not available")
        first = index * TILE_WIDTH + 1
        rows = self.storage.get_entries(first, first + width - 1)
        if len(rows) != width:
            raise StorageError(f"entries {first}..{first + width - 1} are incomplete")
        return encode_entry_bundle([r.leaf for r in rows])


class Ledger(LedgerReader):
    """A ledger open for writing: the only sequencer of its storage."""

    def __init__(
        self,
        storage: LogStorage,
        signer: Signer,
        options: LedgerOptions | None = None,
        node: KeyAndCert | None = None,
        record: CheckpointRecord | None = None,
    ) -> None:
        self.options = options or LedgerOptions()
        self.signer = signer
        self.node = node  # signs CCF roots for Azure-compatible receipts; optional
        self.record = record  # the newest signed checkpoint, kept outside storage; optional
        storage.acquire_writer_lock()
        super().__init__(storage, signer.verifier())
        if self.origin != signer.name and not self.options.external_finality:
            raise ConfigurationError(
                f"the checkpoint key is for {signer.name!r} but the ledger is {self.origin!r}"
            )
        self._latest: tuple[str, Checkpoint] | None = None
        self._signed: tuple[str, Checkpoint] | None = None
        if self.commit_secret is None:
            raise ConfigurationError("the ledger has no commit secret (created by an old version)")
        self._edge, self._ccf_edge = self._restore_edges()
        self._check_record()
        self._durable_size = self._edge.size
        self._committed = super().committed_size()
        self._last_timestamp = 0
        self._last_signature = 0.0
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._commit_waiters: list[tuple[int, int, Future[int]]] = []
        self._waiter_counter = 0
        self._state_lock = threading.Lock()
        self._closed = False
        self._failed: AccordError | None = None
        self._redaction_lock = threading.Lock()
        self.redactions()  # fold every record once; from now on this writer keeps the fold
        self._follow_redactions = False
        self._unerased: set[int] = set()
        self._finish_erasures(at_start=True)
        if self.options.external_finality:
            if self._edge.size == 0 and self.storage.latest_checkpoint() is None:
                self._write_checkpoint()  # the empty tree commits nothing: no quorum needed
        elif self._committed < self._edge.size or self.storage.latest_checkpoint() is None:
            self._write_checkpoint()  # a new ledger starts with a signed empty tree
        self._thread = threading.Thread(target=self._run, name="accord-sequencer", daemon=True)
        self._thread.start()

    @classmethod
    def create_or_open(
        cls,
        location: str,
        signer: Signer,
        options: LedgerOptions | None = None,
        node: KeyAndCert | None = None,
        record: CheckpointRecord | None = None,
    ) -> Ledger:
        """Open the ledger at ``location`` (SQLite path or PostgreSQL DSN), creating it if new.

        With a ``record`` that holds a checkpoint, the ledger is never created: storage that is
        missing, empty or behind the record raises :class:`~accord.errors.LedgerMissing` and is
        left exactly as it was found.
        """
        recorded = record.read(signer.verifier()) if record is not None else None
        if recorded is not None:
            _require_initialized(location, recorded)
        storage = open_storage(location)
        try:
            storage.initialize(
                {
                    "format": ENTRY_FORMAT,
                    "origin": signer.name,
                    "view": "1",
                    "commit_secret": secrets.token_hex(32),
                }
            )
            return cls(storage, signer, options, node, record)
        except BaseException:
            storage.close()
            raise

    def _check_record(self) -> None:
        if self.record is None:
            return
        recorded = self.record.read(self.verifier)
        if recorded is None:
            return  # a data directory from before records: the first checkpoint creates one
        stored = self.storage.latest_checkpoint()
        check_against_record(
            recorded,
            where=f"the ledger storage {self.storage.description}",
            initialized=True,
            stored_size=self._edge.size,
            signed_size=0 if stored is None else stored.size,
            root_at=lambda size: (
                self._edge.root() if size == self._edge.size else self.root_at(size)
            ),
        )

    # --- start-up -------------------------------------------------------------------------------
    def _restore_edges(self) -> tuple[TreeEdge, TreeEdge]:
        size = self.storage.entry_count()
        keys = [(level, index) for level, index, _ in TreeEdge.partial_tiles(size)]
        try:
            edge = TreeEdge.restore(size, self.storage.get_tiles(keys))
            ccf_edge = TreeEdge.restore(size, self.storage.get_tiles(keys, CCF_TREE), ccf_node_hash)
        except MalformedInput as exc:
            raise StorageError(f"cannot restore the tree at size {size}: {exc}") from exc
        stored = self.storage.latest_checkpoint()
        if stored is not None:
            try:
                cp = self._parse_checkpoint(stored)
            except VerificationError as exc:
                raise StorageError(f"the latest stored checkpoint does not verify: {exc}") from exc
            if cp.size > size:
                raise StorageError(
                    f"the latest checkpoint covers {cp.size} entries but only {size} are stored"
                )
            root = edge.root() if cp.size == size else self.root_at(cp.size)
            if root != cp.root_hash:
                raise StorageError(
                    f"the stored tree does not match the signed checkpoint of size {cp.size}; "
                    "refusing to sign anything (run `accord verify`)"
                )
        return edge, ccf_edge

    # --- appends --------------------------------------------------------------------------------
    def _prepare(self, entry: NewEntry) -> tuple[str, tuple[str, ...], bytes]:
        if not isinstance(entry, NewEntry):
            raise InvalidRequest("entries must be NewEntry values")
        if entry.collection_id == REDACTIONS_COLLECTION:
            raise InvalidRequest(
                f"collection {REDACTIONS_COLLECTION} holds redaction records, which only "
                "Ledger.redact writes"
            )
        return (
            validate_collection_id(entry.collection_id),
            validate_tags(entry.tags),
            encode_contents(entry.contents, self.options.max_contents),
        )

    def _check_open(self) -> None:
        if self._closed:
            raise InvalidRequest("the ledger is closed")
        if self._failed is not None:
            raise StorageError(f"the ledger stopped after a storage failure: {self._failed}")

    def submit(self, entries: Sequence[NewEntry], *, user_id: str) -> Future[list[TransactionId]]:
        """Validate and queue entries; the future resolves to their ids once they are durable."""
        self._check_open()
        if self.options.external_finality:
            raise ConfigurationError(
                "this ledger is a consortium node's: entries come from the ordering service"
            )
        validate_user_id(user_id)
        items = [self._prepare(e) for e in entries]
        if not items:
            raise InvalidRequest("nothing to append")
        future: Future[list[TransactionId]] = Future()
        self._queue.put(_Request(items, user_id, future))
        return future

    def submit_ordered(
        self, items: Sequence[OrderedItem], *, meta: dict[str, str] | None = None
    ) -> Future[OrderedResult]:
        """Queue entries in the order the ordering service gave them (a consortium node).

        The items are appended exactly as given, in one durable transaction with ``meta``; the
        caller (the node's applier) has already checked them, deterministically, so nothing here
        may depend on this node's clock or configuration. Raises for an item that cannot be stored.
        """
        self._check_open()
        for item in items:
            if not isinstance(item, OrderedItem):
                raise InvalidRequest("ordered entries must be OrderedItem values")
        future: Future[OrderedResult] = Future()
        self._queue.put(_OrderedRequest(list(items), dict(meta or {}), future))
        return future

    def submit_final(self, size: int, note: str) -> Future[str]:
        """Store ``note`` (a checkpoint of this tree cosigned by the quorum) as final.

        The sequencer checks that the note's tree is this ledger's tree at ``size``, adds this
        node's own log signature if the note lacks it, and stores it as the latest checkpoint:
        every entry up to ``size`` becomes ``Committed``. The future resolves to the stored note;
        an older or equal size than the latest final one resolves to the note already stored.
        """
        self._check_open()
        future: Future[str] = Future()
        self._queue.put(_FinalRequest(size, note, future))
        return future

    def append(
        self,
        contents: str,
        *,
        collection_id: str = DEFAULT_COLLECTION,
        tags: Sequence[str] = (),
        user_id: str = "local",
        wait_for_commit: bool = False,
        timeout: float | None = 60.0,
    ) -> TransactionId:
        """Append one entry; returns once it is durable (and committed, if asked)."""
        return self.append_batch(
            [NewEntry(contents, collection_id, tags)],
            user_id=user_id,
            wait_for_commit=wait_for_commit,
            timeout=timeout,
        )[0]

    def append_batch(
        self,
        entries: Sequence[NewEntry],
        *,
        user_id: str = "local",
        wait_for_commit: bool = False,
        timeout: float | None = 60.0,
    ) -> list[TransactionId]:
        """Append entries atomically in order; returns once they are durable."""
        txids = self.submit(entries, user_id=user_id).result(timeout)
        if wait_for_commit:
            self.wait_for_commit(txids[-1].seqno, timeout)
        return txids

    # --- redaction ------------------------------------------------------------------------------
    def redact(self, txid: TransactionId | str | int, *, reason: str, by: str) -> Redaction:
        """Erase one entry's contents, on the record: returns the redaction (its record's id).

        The redaction record (``accord.redaction.v1``, written as :data:`REDACTIONS_USER` in
        :data:`REDACTIONS_COLLECTION`) is made durable first; only then are the contents erased
        from storage. A crash in between leaves a record whose entry still holds its contents,
        which the audit accepts as a pending erasure and the next writer to open the ledger
        erases. Refusals write nothing: a bad reason (InvalidRequest), an unknown entry
        (NotFound), an ``accord.*`` entry (AuthError), an entry redacted already (Conflict), a
        consortium node's ledger (InvalidRequest). Who may redact is the caller's to check.
        """
        self._check_open()
        if self.options.external_finality:
            raise InvalidRequest(CONSORTIUM_REFUSAL)
        reason = validate_reason(reason)
        validate_user_id(by)
        seqno = self._seqno(txid)
        secret = self.commit_secret
        if secret is None:
            raise ConfigurationError("the ledger has no commit secret")
        with self._redaction_lock:  # one redaction at a time: the check and the record agree
            self._finish_erasures()
            rows = self.storage.get_entries(seqno, seqno) if 0 < seqno <= self.size() else []
            if not rows:
                raise NotFound(f"transaction {self.view}.{seqno} does not exist")
            row = rows[0]
            try:
                target = EntryMetadata.from_stored_leaf(row.leaf)
            except MalformedInput as exc:
                raise StorageError(f"stored entry {seqno} is corrupt: {exc}") from exc
            check_redactable(target, self._redactions)
            if hashlib.sha256(row.contents).digest() != target.contents_sha256:
                raise StorageError(
                    f"the stored contents of entry {seqno} are not the ones its leaf names; "
                    "nothing was redacted (run `accord verify`)"
                )
            key = entry_claim_key(target.transaction_id, secret)
            record = RedactionRecord(
                target.transaction_id,
                target.contents_sha256,
                ledger_entry_claims_digest(row.collection_id, row.contents, key),
                reason,
                by,
            )
            future: Future[list[TransactionId]] = Future()
            self._queue.put(
                _Request([(REDACTIONS_COLLECTION, (), record.encode())], REDACTIONS_USER, future)
            )
            record_id = future.result()[0]  # durable from here on
            # Folded from storage, as any reader folds it: what was written is what counts.
            self._fold_redactions(record_id.seqno)
            redaction = self._redactions.get(seqno)
            if redaction is None or redaction.record_id != record_id:
                raise StorageError(f"redaction record {record_id} did not fold as written")
            self._unerased.add(seqno)
            try:
                self._finish_erasures()
            except StorageError as exc:
                raise StorageError(
                    f"redaction record {record_id} is written and transaction {target.transaction_id} "
                    f"is answered as redacted, but its contents could not be erased yet ({exc}); "
                    "the next redaction or the next start of the ledger erases them"
                ) from exc
        return redaction

    def _finish_erasures(self, *, at_start: bool = False) -> None:
        """Erase the contents of redacted entries that still hold them.

        At start every redaction is looked at (a crash may have come between a record and its
        erasure), and the newest is erased again whatever it holds, which also truncates a
        write-ahead log that a crash left holding the old page. A failure is logged and left
        for the next redaction or start: the entry is answered as redacted meanwhile.
        """
        if at_start:
            newest = self._redactions.newest
            for seqno in self._redactions:
                rows = self.storage.get_entries(seqno, seqno)
                if rows and rows[0].contents:
                    self._unerased.add(seqno)
            if newest is not None:
                self._unerased.add(newest.record.transaction_id.seqno)
        for seqno in sorted(self._unerased):
            try:
                self.storage.erase_contents(seqno)
            except StorageError as exc:
                log.error("cannot erase the contents of redacted entry %s yet: %s", seqno, exc)
                if not at_start:
                    raise
                return
            self._unerased.discard(seqno)

    def commit_future(self, seqno: int) -> Future[int]:
        """A future that resolves (to the checkpoint size) once ``seqno`` is committed."""
        future: Future[int] = Future()
        with self._state_lock:
            if seqno <= self._committed:
                future.set_result(self._committed)
            else:
                self._waiter_counter += 1
                heapq.heappush(self._commit_waiters, (seqno, self._waiter_counter, future))
        return future

    def wait_for_commit(self, seqno: int, timeout: float | None = 60.0) -> None:
        self.commit_future(seqno).result(timeout)

    # --- the sequencer thread -------------------------------------------------------------------
    def _run(self) -> None:
        stopping = False
        while not stopping:
            pending_checkpoint = (
                self._committed < self._edge.size and not self.options.external_finality
            )
            timeout = None
            if pending_checkpoint:
                elapsed = time.monotonic() - self._last_signature
                timeout = max(0.0, self.options.checkpoint_interval - elapsed)
            try:
                first = self._queue.get(timeout=timeout)
            except queue.Empty:
                self._guarded(self._write_checkpoint)
                continue
            requests: list[_Request] = []
            ordered: list[_OrderedRequest] = []
            finals: list[_FinalRequest] = []
            count = 0
            item: object = first
            while True:
                if item is _STOP:
                    stopping = True
                    break
                if isinstance(item, _Request):
                    requests.append(item)
                    count += len(item.items)
                elif isinstance(item, _OrderedRequest):
                    ordered.append(item)
                    count += len(item.items)
                elif isinstance(item, _FinalRequest):
                    finals.append(item)
                if count >= self.options.max_batch:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if requests:
                self._guarded(functools.partial(self._write_requests, requests), requests)
            if ordered:  # one transaction for all: the last one's meta is the stream position
                self._guarded(functools.partial(self._write_ordered, ordered), ordered)
            if finals:
                self._guarded(functools.partial(self._write_final, finals), finals)
        if self._committed < self._edge.size and not self.options.external_finality:
            self._guarded(self._write_checkpoint)

    def _guarded(
        self,
        action: Callable[[], None],
        requests: Sequence[_Request | _OrderedRequest | _FinalRequest] = (),
    ) -> None:
        try:
            action()
        except Exception as exc:  # every failure must reach the callers, never kill the thread
            error = exc if isinstance(exc, AccordError) else StorageError(str(exc))
            log.error("ledger write failed: %s", error)
            for request in requests:
                if not request.future.done():
                    request.future.set_exception(error)
            try:
                self._edge, self._ccf_edge = self._restore_edges()
                self._check_record()  # storage must still hold what was signed before going on
                self._durable_size = self._edge.size
                self._committed = LedgerReader.committed_size(self)
                self._latest = None
            except AccordError as restore_error:
                self._failed = restore_error
                log.error("ledger cannot continue: %s", restore_error)

    def _checkpoint_due(self) -> bool:
        interval = self.options.checkpoint_interval
        return interval <= 0 or time.monotonic() - self._last_signature >= interval

    def _sign(self) -> StoredCheckpoint:
        """Sign the current tree: the C2SP checkpoint and, with a node key, the CCF root."""
        size = self._edge.size
        checkpoint = Checkpoint(self.origin, size, self._edge.root())
        note = sign_checkpoint(checkpoint, self.signer)
        ccf_signature = None
        if self.node is not None and size > 0:
            ccf_signature = sign_ccf_root(self._ccf_edge.root(), self.node.key)
        self._last_signature = time.monotonic()
        self._signed = (note, checkpoint)  # becomes the latest once it is durable
        return StoredCheckpoint(size, note, ccf_signature)

    def _write_requests(self, requests: list[_Request]) -> None:
        now = int(self.options.clock() * 1000)
        timestamp = max(now, self._last_timestamp)
        self._last_timestamp = timestamp
        view = self.view
        seqno = self._edge.size + 1
        stored: list[StoredEntry] = []
        hashes: list[bytes] = []
        ccf_leaves: list[bytes] = []
        results: list[list[TransactionId]] = []
        sha256 = hashlib.sha256
        secret = self.commit_secret
        if secret is None:
            raise ConfigurationError("the ledger has no commit secret")
        for request in requests:
            ids = []
            for collection_id, tags, data in request.items:
                txid = TransactionId(view, seqno)
                metadata = EntryMetadata(
                    txid, collection_id, tags, sha256(data).digest(), request.user_id, timestamp
                )
                leaf = metadata.leaf()
                stored.append(StoredEntry(seqno, collection_id, leaf, data))
                hashes.append(leaf_hash(leaf))
                ccf_leaves.append(entry_ccf_leaf(leaf, txid, collection_id, data, secret))
                ids.append(txid)
                seqno += 1
            results.append(ids)
        writes = self._edge.append(hashes)
        tiles = [StoredTile(level, index, packed) for (level, index), packed in writes.items()]
        ccf_writes = self._ccf_edge.append(ccf_leaves)
        tiles += [
            StoredTile(level, index, packed, CCF_TREE)
            for (level, index), packed in ccf_writes.items()
        ]
        checkpoint = self._sign() if self._checkpoint_due() else None
        self.storage.write_batch(stored, tiles, checkpoint)
        self._durable_size = self._edge.size
        if checkpoint is not None:
            self._record(checkpoint)
            self._mark_committed(checkpoint.size)
        for request, ids in zip(requests, results, strict=True):
            request.future.set_result(ids)

    def _write_ordered(self, requests: list[_OrderedRequest]) -> None:
        view = self.view
        seqno = self._edge.size + 1
        secret = self.commit_secret
        if secret is None:
            raise ConfigurationError("the ledger has no commit secret")
        sha256 = hashlib.sha256
        stored: list[StoredEntry] = []
        writes: dict[tuple[int, int], bytes] = {}
        ccf_writes: dict[tuple[int, int], bytes] = {}
        results: list[OrderedResult] = []
        meta: dict[str, str] = {}
        for request in requests:
            hashes: list[bytes] = []
            ccf_leaves: list[bytes] = []
            ids: list[TransactionId] = []
            for item in request.items:
                txid = TransactionId(view, seqno)
                metadata = EntryMetadata(
                    txid,
                    item.collection_id,
                    item.tags,
                    sha256(item.contents).digest(),
                    item.user_id,
                    item.timestamp_ms,
                )
                leaf = metadata.leaf()
                stored.append(StoredEntry(seqno, item.collection_id, leaf, item.contents))
                hashes.append(leaf_hash(leaf))
                ccf_leaves.append(
                    entry_ccf_leaf(leaf, txid, item.collection_id, item.contents, secret)
                )
                ids.append(txid)
                seqno += 1
            writes.update(self._edge.append(hashes))
            ccf_writes.update(self._ccf_edge.append(ccf_leaves))
            results.append(OrderedResult(ids, self._edge.size, self._edge.root()))
            meta.update(request.meta)
        tiles = [StoredTile(level, index, packed) for (level, index), packed in writes.items()]
        tiles += [
            StoredTile(level, index, packed, CCF_TREE)
            for (level, index), packed in ccf_writes.items()
        ]
        self.storage.write_batch(stored, tiles, None, meta)
        self._durable_size = self._edge.size
        for request, result in zip(requests, results, strict=True):
            request.future.set_result(result)

    def _write_final(self, finals: list[_FinalRequest]) -> None:
        """Store the largest final checkpoint among ``finals`` (each checked against the tree)."""
        best: tuple[_FinalRequest, StoredCheckpoint] | None = None
        for request in finals:
            try:
                stored = self._final_checkpoint(request)
            except AccordError as exc:
                request.future.set_exception(exc)
                continue
            if stored is None:
                continue
            if best is None or stored.size > best[1].size:
                best = (request, stored)
        if best is not None:
            self.storage.write_batch([], [], best[1])
            self._record(best[1])
            self._mark_committed(best[1].size)
        latest = self.latest_checkpoint()[0]
        for request in finals:
            if not request.future.done():
                request.future.set_result(latest)

    def _final_checkpoint(self, request: _FinalRequest) -> StoredCheckpoint | None:
        size = request.size
        if size <= self._committed:
            return None
        if size > self._edge.size:
            raise InvalidRequest(f"checkpoint size {size} is beyond this node's tree")
        body, sep, _ = request.note.partition("\n\n")
        if not sep:
            raise MalformedInput("a final checkpoint is a signed note")
        checkpoint = Checkpoint.from_text(body + "\n")
        if checkpoint.origin != self.origin or checkpoint.size != size:
            raise InvalidRequest("the final checkpoint is not of this log at that size")
        root = self._edge.root() if size == self._edge.size else self.root_at(size)
        if root != checkpoint.root_hash:
            raise VerificationError(
                f"the final checkpoint's root at size {size} is not this node's tree root"
            )
        text = body + "\n"
        note = request.note
        if not any(
            sig.name == self.signer.name and sig.key_id == self.signer.key_id
            for sig in note_signatures(note)[1]
        ):
            own = NoteSignature(
                self.signer.name, self.signer.key_id, self.signer.sign(text.encode())
            )
            note = add_signatures(note, [own])
        verified = open_checkpoint(note, self.verifier)  # the stored note must verify with our key
        ccf_signature = None
        if self.node is not None and size > 0:
            ccf_root = (
                self._ccf_edge.root()
                if size == self._edge.size
                else self._range_hashes([(0, size)], CCF_TREE, ccf_node_hash)[0]
            )
            ccf_signature = sign_ccf_root(ccf_root, self.node.key)
        self._signed = (note, verified)
        return StoredCheckpoint(size, note, ccf_signature)

    def _write_checkpoint(self) -> None:
        checkpoint = self._sign()
        self.storage.write_batch([], [], checkpoint)
        self._record(checkpoint)
        self._mark_committed(checkpoint.size)

    def _record(self, checkpoint: StoredCheckpoint) -> None:
        """Record a checkpoint that storage committed (after the commit: storage ≥ record)."""
        if self.record is None:
            return
        try:
            self.record.write(checkpoint.note)
        except OSError as exc:
            # The entries and checkpoint are durable; only the guard lags behind. Say so loudly.
            log.error("cannot update %s: %s (the ledger goes on)", self.record.path, exc)

    def proof_between(self, first: int, second: int) -> list[bytes]:
        """RFC 9162 consistency proof between two sizes of the durable tree, final or not (what
        a consortium node sends a witness along with a checkpoint that is not final yet)."""
        if not 0 <= first <= second <= self._durable_size:
            raise InvalidRequest(f"no consistency proof from {first} to {second}")
        if first == 0 or first == second:
            return []
        return self._range_hashes(consistency_plan(first, second))

    def tree_edge(self) -> TreeEdge:
        """A copy of the tree's edge at the durable size (for a catch-up to extend and check)."""
        return self._edge.copy()

    # The writer knows its own state: answer from memory instead of asking the database.
    def committed_size(self) -> int:
        return self._committed

    def size(self) -> int:
        return self._durable_size

    def latest_checkpoint(self) -> tuple[str, Checkpoint]:
        latest = self._latest
        if latest is None:
            return super().latest_checkpoint()
        return latest

    def cached_checkpoint(self) -> tuple[str, Checkpoint] | None:
        """The newest checkpoint this ledger stored, from memory (no I/O: safe on an event loop);
        None until it stored one since it opened (then :meth:`latest_checkpoint` reads storage)."""
        return self._latest

    def _mark_committed(self, size: int) -> None:
        self._latest = self._signed
        with self._state_lock:
            self._committed = size
            waiters = self._commit_waiters
            while waiters and waiters[0][0] <= size:
                _, _, future = heapq.heappop(waiters)
                if not future.done():
                    future.set_result(size)

    def close(self) -> None:
        """Finish every queued append, sign a final checkpoint, and release the storage."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join()
            while True:  # a submit that raced with close() is refused, not left hanging
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, _Request) and not item.future.done():
                    item.future.set_exception(InvalidRequest("the ledger is closed"))
            with self._state_lock:
                for _, _, future in self._commit_waiters:
                    if not future.done():
                        future.set_exception(StorageError("the ledger was closed"))
                self._commit_waiters.clear()
        super().close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _require_initialized(location: str, recorded: Checkpoint) -> None:
    """Refuse (LedgerMissing) a location that holds no ledger, looking without writing."""
    probe = open_storage(location, read_only=True)
    try:
        require_ledger(probe, recorded, location)
    finally:
        probe.close()


def require_ledger(storage: LogStorage, recorded: Checkpoint | None, location: str) -> None:
    """Raise unless ``storage`` holds an initialized ledger.

    With a ``recorded`` checkpoint, storage that does not exist, is empty, or is not a database
    is :class:`~accord.errors.LedgerMissing` (the ledger was lost); other failures (a server
    down, a permission) are raised as they are.
    """
    where = f"the ledger storage {location}"
    try:
        meta = storage.read_meta()
    except DatabaseMissing as exc:
        if recorded is None:
            raise
        raise missing_ledger(recorded, where, f"is gone ({exc})") from exc
    if meta.get("format") != ENTRY_FORMAT:
        if recorded is not None:
            raise missing_ledger(recorded, where, "holds no ledger (it is empty)")
        raise StorageError(f"{where} holds no accord ledger (it is empty)")
