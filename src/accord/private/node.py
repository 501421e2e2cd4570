"""Private collections on a consortium node: sealing writes, keeping and purging sealed contents,
and answering reads, disclosures and purges.

The consortium node calls in at four points: :meth:`PrivateData.seal_write` when a user writes
(before anything is ordered), :meth:`keep` with every applied batch *before* the ledger stores
it, :meth:`after_commit` once it is durable (purges), and :meth:`restore` on start. The rules of
who may write, read and purge are the replicated state's (:mod:`accord.core.private`), judged by
the applier; this module only keeps this node's copies in line with the ledger.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from accord.core.entry import TransactionId
from accord.core.private import (
    PURGE_COLLECTION,
    PrivateCollection,
    PrivateRecord,
    disclosure_json,
    key_id,
    parse_purge,
    parse_record,
    private_state,
    write_contents,
)
from accord.errors import (
    AccordError,
    AuthError,
    ConfigurationError,
    Gone,
    InvalidRequest,
    NotFound,
    StorageError,
    VerificationError,
)
from accord.private.keys import load_keyring
from accord.private.sealing import open_sealed, seal
from accord.private.store import EXPIRED, SealedStore

if TYPE_CHECKING:
    from accord.consortium.apply import Applied
    from accord.consortium.node import ConsortiumNode
    from accord.core.consortium import ConsortiumState
    from accord.log.ledger import LedgerEntry

log = logging.getLogger(__name__)

RETENTION_INTERVAL = 5.0


class PrivateData:
    def __init__(self, node: ConsortiumNode, directory: Path) -> None:
        self.node = node
        self.directory = directory
        self.store = SealedStore(directory / "private")
        self.keys = load_keyring(directory)
        self.on_erase: list[Callable[[int], None]] = []
        """Called with an entry's seqno once its sealed contents were erased (a purge or its
        retention), for copies other capabilities made of its contents."""

    @property
    def member(self) -> str:
        return self.node.settings.member

    def collection(self, collection_id: str, seqno: int | None = None) -> PrivateCollection | None:
        return private_state(self.node.state.extensions).get(collection_id, seqno)

    # --- writes -----------------------------------------------------------------------------
    def seal_write(self, state: ConsortiumState, collection_id: str, contents: str) -> str | None:
        """The contents to order for a write to ``collection_id``: sealed if it is private (None
        if it is not). Only a reader organization's node seals: a write through any other node
        is refused here, before anything is ordered (the applier refuses it again)."""
        private = private_state(state.extensions).get(collection_id)
        if private is None:
            return None
        if self.member not in private.readers:
            raise AuthError(
                f"collection {collection_id} is private to {', '.join(private.readers)}; "
                f"{self.member}'s users may not write to it"
            )
        keys: dict[str, bytes] = {}
        for reader in private.readers:
            member = state.members.get(reader)
            if member is None or member.encryption_key is None:
                raise InvalidRequest(f"reader {reader} has no encryption key")
            keys[reader] = member.encryption_key
        own = key_id(keys[self.member])
        if own not in self.keys:
            # The state names a key for this organization that this node does not hold (a
            # rotation it was not given, or a key others replaced): sealing to it would hand
            # this organization's contents to whoever holds it.
            raise ConfigurationError(
                f"the consortium's encryption key of {self.member} ({own}) is not in this node's "
                f"keyring ({self.directory}/encryption*.key): refusing to seal to it"
            )
        sealed = seal(contents, collection_id, keys)
        return write_contents(sealed.record, sealed.sealed)

    # --- applying ---------------------------------------------------------------------------
    def keep(self, applied: Sequence[Applied], first_seqno: int) -> None:
        """Store the sealed contents of this batch's private entries that this organization
        reads, durably, before the batch's leaves are stored; drop them from ``applied``."""
        rows = []
        for offset, a in enumerate(applied):
            if a.sealed is None:
                continue
            collection = self.collection(a.item.collection_id)
            if collection is not None and self.member in collection.readers:
                rows.append(
                    (first_seqno + offset, a.item.collection_id, a.item.timestamp_ms, a.sealed)
                )
            object.__setattr__(a, "sealed", None)  # not kept in memory past this point
        if rows:
            self.store.put_many(rows)

    def after_commit(self, applied: Sequence[Applied], txids: Sequence[TransactionId]) -> None:
        """Carry out the purge records of a batch now durable."""
        for a, txid in zip(applied, txids, strict=True):
            if a.accepted and a.item.collection_id == PURGE_COLLECTION:
                self._purge(a.item.contents.decode("utf-8"), str(txid))

    def _purge(self, contents: str, by: str) -> None:
        try:
            purge = parse_purge(contents)
            if purge.seqno >= TransactionId.parse(by).seqno:  # only earlier entries are purged
                raise InvalidRequest(f"{purge.transaction_id} is not before the purge")
            entry = self.node.ledger.get_entry(purge.seqno)
        except AccordError as exc:
            log.warning("purge %s names no entry: %s", by, exc)
            return
        md = entry.metadata
        private = self.collection(md.collection_id, md.seqno)
        if md.collection_id != purge.collection_id or private is None:
            log.warning("purge %s names %s, not a private entry of it", by, purge.collection_id)
            return
        if self.member in private.readers:
            self.store.purge(md.seqno, md.collection_id, by)
            self._erased(md.seqno)

    def restore(self) -> None:
        """Bring the store in line with the ledger after a start: forget rows of entries that
        never committed, and finish purges recorded before a crash."""
        ledger = self.node.ledger
        size = ledger.size()
        dropped = self.store.drop_after(size)
        if dropped:
            log.info("dropped %d sealed rows past the ledger's size %d", dropped, size)
        done = self.store.purges()
        for entry in ledger.iter_collection(PURGE_COLLECTION, 1, size):
            try:
                target = parse_purge(entry.contents).seqno
            except AccordError:
                continue
            if target not in done:
                self._purge(entry.contents, str(entry.transaction_id))

    async def run_retention(self) -> None:
        """Erase contents whose collection's retention ran out, by the consortium's time."""
        while True:
            await asyncio.sleep(RETENTION_INTERVAL)
            try:
                await asyncio.to_thread(self.expire, self.node.state, self._ledger_time())
            except Exception as exc:  # keep trying; the next round catches up
                log.warning("erasing expired private contents failed: %s", exc)

    def _ledger_time(self) -> int:
        applier = self.node.applier
        return applier.ledger_time if applier is not None else 0

    def expire(self, state: ConsortiumState, now_ms: int) -> int:
        erased = 0
        for collection in private_state(state.extensions).collections.values():
            if collection.retention_ms is None or self.member not in collection.readers:
                continue
            for seqno in self.store.expired(
                collection.collection_id, now_ms - collection.retention_ms
            ):
                self.store.purge(seqno, collection.collection_id, EXPIRED)
                self._erased(seqno)
                erased += 1
        return erased

    def _erased(self, seqno: int) -> None:
        for callback in self.on_erase:
            try:
                callback(seqno)
            except Exception as exc:  # one capability's failure must not stop the erasure
                log.error("erasing copies of entry %d failed: %s", seqno, exc)

    # --- reads ------------------------------------------------------------------------------
    def check_reader(self, collection: PrivateCollection, user_id: str) -> None:
        member = self.node.state.member_of(user_id)
        if member not in collection.readers:
            raise AuthError(
                f"collection {collection.collection_id} is private to "
                f"{', '.join(collection.readers)}: its entries' commitments are in their receipts"
            )

    def _purged_or_expired(self, entry: LedgerEntry, collection: PrivateCollection) -> str | None:
        by = self.store.purged_by(entry.metadata.seqno)
        if by is None and collection.expired(entry.metadata.timestamp_ms, self._ledger_time()):
            by = EXPIRED
        return by

    async def open_entry(self, entry: LedgerEntry, user_id: str) -> tuple[str, bytes] | None:
        """The contents and salt of ``entry`` for ``user_id`` if it is private (None if public).

        AuthError for a user of an organization that is not a reader, Gone for purged contents.
        """
        md = entry.metadata
        collection = self.collection(md.collection_id, md.seqno)
        if collection is None:
            return None
        self.check_reader(collection, user_id)
        if self.member not in collection.readers:
            raise AuthError(
                f"this node ({self.member}'s) holds only the commitments of "
                f"{collection.collection_id}: read it through a node of "
                f"{', '.join(collection.readers)}"
            )
        by = self._purged_or_expired(entry, collection)
        if by is not None:
            raise Gone(
                f"the contents of transaction {md.transaction_id} were purged "
                + ("when its collection's retention ran out" if by == EXPIRED else f"by {by}")
                + "; its commitment and proofs remain"
            )
        record = parse_record(entry.contents)
        sealed = await asyncio.to_thread(self.store.get, md.seqno)
        if sealed is None:
            sealed = await self._fetch(md.seqno, collection, record)
        try:
            return open_sealed(sealed, record, self.member, self.keys)
        except (
            VerificationError
        ) as exc:  # this node's own copy or keys are at fault: not the caller
            log.error("the sealed contents of %s do not open: %s", md.transaction_id, exc)
            raise StorageError(
                f"this node cannot open the sealed contents of {md.transaction_id} "
                "(accord verify --data names the problem)"
            ) from None

    async def contents_of(self, entry: LedgerEntry) -> str | None:
        """``entry``'s contents as this node's organization reads them: opened if private (its
        copy fetched from a reader peer if missing), None if purged or past its retention.
        AuthError if the entry is private and this organization is not a reader."""
        md = entry.metadata
        collection = self.collection(md.collection_id, md.seqno)
        if collection is None:
            return entry.contents
        if self.member not in collection.readers:
            raise AuthError(f"{self.member} does not read {collection.collection_id}")
        if self._purged_or_expired(entry, collection) is not None:
            return None
        record = parse_record(entry.contents)
        sealed = await asyncio.to_thread(self.store.get, md.seqno)
        if sealed is None:
            try:
                sealed = await self._fetch(md.seqno, collection, record)
            except Gone:
                return None
        return open_sealed(sealed, record, self.member, self.keys)[0]

    async def contents_for(self, entry: LedgerEntry, user_id: str) -> str:
        opened = await self.open_entry(entry, user_id)
        return entry.contents if opened is None else opened[0]

    async def disclosure(self, entry: LedgerEntry, user_id: str) -> dict[str, object]:
        """An entry's disclosure: its receipt, public record, contents and salt."""
        opened = await self.open_entry(entry, user_id)
        if opened is None:
            raise InvalidRequest(
                f"transaction {entry.transaction_id} is not in a private collection: its "
                "receipt and contents are all an outsider needs"
            )
        receipt = await asyncio.to_thread(self.node.ledger.receipt, entry.transaction_id)
        return disclosure_json(receipt.to_json(), entry.contents, opened[0], opened[1])

    # --- copies between reader nodes --------------------------------------------------------
    def sealed_for_peer(self, seqno: int, peer_member: str) -> bytes:
        """The sealed contents of ``seqno`` for a node of ``peer_member`` (a reader too)."""
        entry = self.node.ledger.get_entry(seqno)
        collection = self.collection(entry.metadata.collection_id, seqno)
        if collection is None or peer_member not in collection.readers:
            raise AuthError(f"{peer_member} does not read transaction {entry.transaction_id}")
        sealed = self.store.get(seqno)
        if sealed is None:
            raise NotFound(f"this node holds no sealed contents for entry {seqno}")
        return sealed

    async def _fetch(
        self, seqno: int, collection: PrivateCollection, record: PrivateRecord
    ) -> bytes:
        """Sealed contents this node misses (it caught up from a peer's tiles), from a node of
        another reader organization, checked against the record before they are kept."""
        state = self.node.state
        peers = [
            n
            for n in state.nodes.values()
            if n.member in collection.readers and n.node_id != self.node.node_id
        ]
        errors = []
        async with httpx.AsyncClient(verify=self.node.peer_tls, timeout=10.0) as client:
            for peer in peers:
                try:
                    response = await client.get(
                        f"{peer.url.rstrip('/')}/app/consortium/sealed/{seqno}"
                    )
                    response.raise_for_status()
                    sealed = base64.b64decode(response.json()["sealed"], validate=True)
                except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                    errors.append(f"{peer.node_id}: {exc}")
                    continue
                if hashlib.sha256(sealed).hexdigest() != record.sealed_sha256:
                    errors.append(f"{peer.node_id}: sent contents that are not the entry's")
                    continue
                ts = self.node.ledger.get_entry(seqno).metadata.timestamp_ms
                kept = await asyncio.to_thread(
                    self.store.put_unless_purged, seqno, collection.collection_id, ts, sealed
                )
                if not kept:
                    raise Gone(f"the contents of entry {seqno} were purged meanwhile")
                return sealed
        raise StorageError(
            f"this node holds no sealed contents for entry {seqno} and no reader peer sent them"
            + (f" ({'; '.join(errors)})" if errors else "")
        )
