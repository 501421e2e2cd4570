"""The document store: blobs plus the ledger's document records, driven by the pure fold.

:class:`DocumentStore` is the thin I/O driver around :class:`~accord.documents.records.DocumentState`:
it streams bytes into the blob store (hashing as they arrive), checks each change against the
state with the fold's own rules, writes the record to the ledger, and applies it once the ledger
has made it durable. Changes are serialized by one lock, so a check and its record can never be
overtaken by another change. Nothing is recorded for a refused change.

:func:`verify_documents` is the audit: it re-reads every record from storage and re-hashes every
stored version (``accord documents verify``, and part of ``accord verify``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from accord.core.entry import TransactionId
from accord.documents.blobs import BlobStore, StoredBlob
from accord.documents.records import (
    DOCUMENTS_COLLECTION,
    DOCUMENTS_USER,
    Container,
    DefaultRetention,
    DocumentState,
    Refused,
    Retention,
    Version,
    check_meets_default,
    decode_record,
    encode_record,
)
from accord.errors import (
    AccordError,
    Conflict,
    InvalidRequest,
    NotFound,
    PreconditionFailed,
    StorageError,
)
from accord.log.ledger import LedgerReader, NewEntry

PAGE = 1000
log = logging.getLogger("accord.documents")


def fold_ledger(
    reader: LedgerReader,
    state: DocumentState | None = None,
    *,
    check_contents: bool = False,
    consortium: bool = False,
) -> DocumentState:
    """Fold every document record of a ledger (from ``state.last_seqno`` on) into ``state``.

    Who may have written a record: on a single-node ledger only the store itself
    (:data:`DOCUMENTS_USER`); on a consortium's, the user the record names as ``by`` — the
    consortium's applier admitted the entry only for a current user with a write role of the
    sending node's organization. Each record is judged at its entry's ledger timestamp.
    With ``check_contents``, a record whose stored contents no longer hash to its entry's leaf
    (an edited record) is refused and named, rather than folded."""
    state = state or DocumentState()
    size = reader.size()
    start = state.last_seqno + 1
    while start <= size:
        entries = reader.get_entries(start, size, collection_id=DOCUMENTS_COLLECTION, limit=PAGE)
        if not entries:
            break
        for e in entries:
            md = e.metadata
            txid = str(md.transaction_id)
            try:
                record: dict[str, Any] | None = decode_record(e.contents)
                problem = None
            except AccordError as exc:
                record, problem = None, str(exc)
            if consortium:
                if record is not None and record.get("by") != md.user_id:
                    problem = f"written by {md.user_id!r} in the name of {record.get('by')!r}"
            elif md.user_id != DOCUMENTS_USER:
                problem = f"written by {md.user_id!r}, not by the document store"
            if problem is None and check_contents:
                if not _contents_match(e.contents, md.contents_sha256):
                    problem = "its ledger record was edited: the stored contents no longer "
                    problem += "hash to the entry's Merkle leaf"
            if problem is not None or record is None:
                state.last_seqno = md.seqno
                state.refused.append(Refused.of(txid, problem or "unreadable", record))
                continue
            state.apply(record, txid, md.seqno, now=md.timestamp_ms)
        start = entries[-1].metadata.seqno + 1
    # Scanned to ``size``: the next call starts there, not at the last document record (else
    # every request after another collection's entry would query the ledger again).
    state.last_seqno = max(state.last_seqno, size)
    return state


def _contents_match(contents: str, leaf_sha256: bytes) -> bool:
    digest = hashlib.sha256(contents.encode("utf-8", "surrogatepass")).digest()
    return hmac.compare_digest(digest, leaf_sha256)


BlobSource = Callable[[str], AsyncIterator[bytes]]
"""Where a node fetches a version's bytes it lacks, by SHA-256 (a consortium's peer nodes)."""


class DocumentStore:
    """Documents of one ledger: ``ledger`` takes records (``submit``: the ledger itself, or a
    consortium node's writer), ``reader`` reads them back, ``blobs`` holds bytes.

    In a consortium (``organization`` set), records are written in their user's name, other
    nodes' records are folded as they arrive (:meth:`follow`), and the bytes of versions this
    organization keeps a copy of are fetched from peers (``fetch``) and checked by digest."""

    def __init__(
        self,
        ledger: Any,
        reader: LedgerReader,
        blobs: BlobStore,
        *,
        clock: Callable[[], int],
        organization: str | None = None,
        fetch: BlobSource | None = None,
    ) -> None:
        self.ledger = ledger
        self.reader = reader
        self.blobs = blobs
        self.clock = clock
        self.organization = organization
        self.fetch = fetch
        self.state = fold_ledger(reader, consortium=organization is not None)
        self._lock = asyncio.Lock()
        self._scanned = 0  # versions up to this seqno were checked for a local copy
        self._wanted: set[str] = set()
        self._fetching: dict[str, asyncio.Future[None]] = {}

    def follow(self) -> None:
        """Fold the records the ledger gained since the last call (other nodes' writes)."""
        if self.reader.size() > self.state.last_seqno:
            fold_ledger(self.reader, self.state, consortium=self.organization is not None)

    # --- writing -------------------------------------------------------------------------------
    async def _record(
        self,
        op: str,
        fields: Mapping[str, Any],
        *,
        by: str,
        before: Callable[[], None] | None = None,
        after: Callable[[], None] | None = None,
        now: int | None = None,
    ) -> tuple[str, int]:
        """Check ``op`` against the state, write it, fold it; returns (version id, time).
        ``before`` and ``after`` run under the same lock (blob checks and deletions); ``now``
        is the record's time when a field was computed from it (default: the clock). In a
        consortium another node's change may be ordered first: the fold then refuses this one,
        and so does this call."""
        async with self._lock:
            self.follow()
            now = self.clock() if now is None else now
            contents = encode_record(op, fields, by=by, time=now)
            record = decode_record(contents)
            self.state.check(record, now=now)
            if before is not None:
                await asyncio.to_thread(before)
            tags = [str(fields["container"])]
            user = by if self.organization is not None else DOCUMENTS_USER
            future = self.ledger.submit(
                [NewEntry(contents, DOCUMENTS_COLLECTION, tags)], user_id=user
            )
            txids: list[TransactionId] = await asyncio.wrap_future(future)
            txid = str(txids[0])
            self.follow()
            refusal = next((r for r in reversed(self.state.refused) if r.version_id == txid), None)
            if refusal is not None:
                if isinstance(refusal.error, AccordError):
                    raise refusal.error
                raise Conflict(f"the change was refused when it was ordered: {refusal.reason}")
            if after is not None:
                await asyncio.to_thread(after)
            return txid, now

    # --- copies in a consortium ----------------------------------------------------------------
    def keeps(self, container: Container) -> bool:
        """Whether this organization keeps a copy of the container's versions."""
        return (
            self.organization is None
            or container.copies is None
            or self.organization in container.copies
        )

    def wanted(self) -> list[str]:
        """Digests of versions this organization keeps a copy of but does not hold yet."""
        for c, v in self.state.versions():
            if v.seqno > self._scanned and not v.delete_marker and self.keeps(c):
                self._wanted.add(v.sha256)
        self._scanned = self.state.last_seqno
        self._wanted = {d for d in self._wanted if not self.blobs.exists(d)}
        return sorted(self._wanted)

    async def ensure_blob(self, sha256: str) -> None:
        """Make sure the bytes named ``sha256`` are here, fetching them from a peer if need be
        (StorageError if none can provide them)."""
        if await asyncio.to_thread(self.blobs.exists, sha256):
            return
        if self.fetch is None:
            raise NotFound(f"the bytes {sha256} are missing from this node's store")
        running = self._fetching.get(sha256)
        if running is None:
            running = asyncio.ensure_future(self._fetch_one(sha256))
            self._fetching[sha256] = running
            running.add_done_callback(lambda _: self._fetching.pop(sha256, None))
        await asyncio.shield(running)

    async def _fetch_one(self, sha256: str) -> None:
        assert self.fetch is not None  # noqa: S101 - ensure_blob checked
        writer = self.blobs.writer()
        try:
            async for chunk in self.fetch(sha256):
                await asyncio.to_thread(writer.write, chunk)
            if not hmac.compare_digest(writer.hasher.hexdigest(), sha256):
                raise StorageError(f"a peer sent other bytes for {sha256}; not stored")
        except BaseException:
            writer.abort()
            raise
        await asyncio.to_thread(writer.commit)

    async def replicate(self, interval: float = 0.5) -> None:
        """Forever: fold new records, fetch the copies this organization keeps."""
        while True:
            try:
                self.follow()
                for digest in self.wanted():
                    await self.ensure_blob(digest)
            except asyncio.CancelledError:
                raise
            except AccordError as exc:
                log.warning("documents: replication: %s", exc)
            await asyncio.sleep(interval)

    async def create_container(
        self,
        name: str,
        *,
        object_lock: bool,
        by: str,
        default: DefaultRetention | None = None,
        copies: list[str] | None = None,
    ) -> str:
        """``copies``: in a consortium, the organizations that keep a copy (default: all)."""
        fields: dict[str, Any] = {
            "container": name,
            "objectLock": object_lock,
            "defaultRetention": default.to_json() if default else None,
        }
        if copies is not None:
            fields["copies"] = sorted(set(copies))
        vid, _ = await self._record("container.create", fields, by=by)
        return vid

    async def set_default_retention(
        self, name: str, default: DefaultRetention | None, *, by: str, bypass: bool
    ) -> str:
        vid, _ = await self._record(
            "container.retention",
            {
                "container": name,
                "defaultRetention": default.to_json() if default else None,
                "bypass": bypass,
            },
            by=by,
        )
        return vid

    def precheck_put(
        self, container: str, key: str, retention: Retention | None, hold: bool
    ) -> None:
        """Refuse a put before its bytes are read, where the state already says no."""
        c = self.state.container(container)
        if (retention is not None or hold) and not c.object_lock:
            raise InvalidRequest(
                f"container {container} was created without object lock: no retention or hold"
            )
        if retention is not None:
            check_meets_default(c.default_retention, retention, written=self.clock())

    async def put_version(
        self,
        container: str,
        key: str,
        blob: StoredBlob,
        *,
        content_type: str,
        metadata: Mapping[str, str],
        retention: Retention | None,
        legal_hold: bool,
        by: str,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> Version:
        """Record a new version of ``key`` whose bytes are ``blob``. ``if_match`` (an ETag or
        ``*``) and ``if_none_match`` (``*``: only if the key has no current version) are checked
        under the store's lock, against the latest version as it stands."""
        c = self.state.container(container)
        now = self.clock()
        if retention is None and c.default_retention is not None:
            # The default applies from the record's time; the record carries the resulting date
            # (and the fold checks it against that same time).
            d = c.default_retention
            retention = Retention(d.mode, now + d.days * 86_400_000)

        def blob_is_stored() -> None:  # a deletion of the same bytes may have raced the upload
            latest = self.state.container(container).latest(key)
            current = None if latest is None or latest.delete_marker else latest
            if if_none_match is not None and current is not None:
                raise PreconditionFailed(f"{key} exists (If-None-Match: {if_none_match})")
            if if_match is not None and (
                current is None or if_match.strip('"') not in ("*", current.sha256[:32])
            ):
                raise PreconditionFailed(f"{key}'s current version does not match If-Match")
            if not self.blobs.exists(blob.sha256):
                raise InvalidRequest("the upload raced a deletion of the same bytes; send it again")

        vid, _ = await self._record(
            "version.put",
            {
                "container": container,
                "key": key,
                "sha256": blob.sha256,
                "size": blob.size,
                "contentType": content_type,
                "metadata": dict(metadata),
                "retention": retention.to_json() if retention else None,
                "legalHold": legal_hold,
            },
            by=by,
            before=blob_is_stored,
            now=now,
        )
        return self.state.container(container).version(key, vid)

    async def delete(
        self, container: str, key: str, version_id: str | None, *, by: str, bypass: bool
    ) -> Version | None:
        """Without a version: add a delete marker (returned). With one: delete that version
        permanently, if its retention and hold allow (returns None)."""
        if version_id is None:
            self.state.container(container)
            vid, _ = await self._record(
                "version.delete_marker", {"container": container, "key": key}, by=by
            )
            return self.state.container(container).version(key, vid)
        target = self.state.container(container).version(key, version_id)

        def drop_unreferenced_bytes() -> None:
            if not target.delete_marker and not self._referenced(target.sha256):
                self.blobs.delete(target.sha256)

        await self._record(
            "version.delete",
            {"container": container, "key": key, "versionId": version_id, "bypass": bypass},
            by=by,
            after=drop_unreferenced_bytes,
        )
        return None

    def _referenced(self, sha256: str) -> bool:
        return any(v.sha256 == sha256 for _, v in self.state.versions() if not v.delete_marker)

    async def set_retention(
        self,
        container: str,
        key: str,
        version_id: str,
        retention: Retention | None,
        *,
        by: str,
        bypass: bool,
    ) -> str:
        vid, _ = await self._record(
            "version.retention",
            {
                "container": container,
                "key": key,
                "versionId": version_id,
                "retention": retention.to_json() if retention else None,
                "bypass": bypass,
            },
            by=by,
        )
        return vid

    async def set_hold(
        self,
        container: str,
        key: str,
        version_id: str,
        hold: bool,
        *,
        by: str,
        administrator: bool,
    ) -> str:
        """Set or clear a legal hold. Only an Administrator clears one: the record says whether
        its writer was one, and the fold judges that against the hold *as ordered* (a hold set
        a moment earlier by someone else is not cleared by a non-Administrator's request)."""
        vid, _ = await self._record(
            "version.hold",
            {
                "container": container,
                "key": key,
                "versionId": version_id,
                "legalHold": hold,
                "administrator": administrator,
            },
            by=by,
        )
        return vid


# --- the audit ---------------------------------------------------------------------------------
@dataclass
class DocumentProblem:
    container: str
    key: str
    version_id: str
    problem: str

    def __str__(self) -> str:
        return f"{self.container}/{self.key} version {self.version_id}: {self.problem}"


@dataclass
class DocumentReport:
    containers: int = 0
    versions: int = 0
    bytes: int = 0
    records: int = 0
    refused_changes: int = 0
    problems: list[DocumentProblem] = field(default_factory=list)


def rehash(chunks: Iterator[bytes]) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    for chunk in chunks:
        h.update(chunk)
        size += len(chunk)
    return h.hexdigest(), size


def verify_documents(
    reader: LedgerReader,
    blobs: BlobStore,
    *,
    organization: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DocumentReport:
    """Re-hash every stored version against its ledger record; report what does not match.

    Problems: a stored blob whose bytes hash differently or have another size, a blob that is
    missing, and a record the fold refused or that was edited. On a consortium node
    (``organization`` set) a version of a container this organization keeps no copy of is
    checked only if its bytes happen to be here."""
    state = fold_ledger(reader, check_contents=True, consortium=organization is not None)
    report = DocumentReport(containers=len(state.containers), records=state.records)
    for refused in state.refused:
        if refused.error is not None:
            # an authentic change the rules refused where it was ordered (in a consortium, a
            # change that lost a race): every node refuses it alike; nothing to repair
            report.refused_changes += 1
            continue
        report.problems.append(
            DocumentProblem(
                refused.container, refused.key, refused.version_id, f"record: {refused.reason}"
            )
        )
    stored = [(c, v) for c, v in state.versions() if not v.delete_marker]
    total = len(stored)
    for done, (c, v) in enumerate(stored, 1):
        kept = organization is None or c.copies is None or organization in c.copies
        try:
            digest, size = rehash(blobs.read(v.sha256))
        except NotFound:
            if kept:
                report.versions += 1
                report.problems.append(
                    DocumentProblem(c.name, v.key, v.version_id, "file is missing")
                )
        else:
            report.versions += 1
            report.bytes += size
            if digest != v.sha256 or size != v.size:
                report.problems.append(
                    DocumentProblem(
                        c.name,
                        v.key,
                        v.version_id,
                        f"stored bytes differ from the ledger record (sha256 {digest}, "
                        f"{size} bytes; recorded {v.sha256}, {v.size} bytes)",
                    )
                )
        if progress is not None:
            progress(done, total)
    return report
