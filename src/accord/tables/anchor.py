"""Anchoring database digests in an accord ledger, and reading them back.

The ledger is either a local data directory (opened as the ledger's writer for the append, so it
fails with :class:`~accord.errors.LedgerLocked` while a server runs on it) or a running service
reached over HTTPS with :class:`~accord.client.client.AccordClient`. :func:`anchor_loop` is the
long-running ``accord tables anchor``.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from accord.errors import AccordError, InvalidRequest, LedgerLocked, MalformedInput
from accord.tables.core import DatabaseDigest

if TYPE_CHECKING:
    from accord.client.client import AccordClient

DIGEST_COLLECTION = "accord-tables-digests"


@dataclass(frozen=True)
class LedgerTarget:
    """Where digests go: a data directory path or an ``https://`` service URL."""

    location: str
    service_cert: str | None = None
    cert: str | None = None
    key: str | None = None
    token: str | None = None

    @property
    def is_url(self) -> bool:
        return self.location.startswith(("https://", "http://"))

    def client(self) -> AccordClient:
        from accord.client.client import AccordClient

        return AccordClient(
            self.location,
            service_cert=self.service_cert,
            cert=self.cert,
            key=self.key,
            token=self.token,
        )


def anchor_digest(
    digest: DatabaseDigest, ledger: LedgerTarget, collection: str = DIGEST_COLLECTION
) -> str:
    """Append the digest to the ledger; returns the accord transaction id."""
    contents = digest.to_bytes().decode()
    if ledger.is_url:
        with ledger.client() as client:
            return str(client.append(contents, collection))
    from accord.datadir import DataDir

    data = DataDir(ledger.location)
    try:
        # Through the data directory: guarded by its checkpoint record like `accord serve`.
        writer = data.open_ledger()
    except LedgerLocked as exc:
        raise LedgerLocked(
            f"{ledger.location} is in use (is `accord serve` running on it?): pass the "
            f"service URL instead, e.g. --ledger https://127.0.0.1:8443 ({exc})"
        ) from exc
    with writer:
        return str(writer.append(contents, collection_id=collection, wait_for_commit=True))


def fetch_digests(
    ledger: LedgerTarget, collection: str = DIGEST_COLLECTION
) -> list[DatabaseDigest]:
    """Every digest anchored in the collection, oldest first; other entries are skipped."""
    contents: list[str] = []
    if ledger.is_url:
        with ledger.client() as client:
            contents = [str(e["contents"]) for e in client.list_entries(collection)]
    else:
        from accord.datadir import DataDir

        data = DataDir(ledger.location)
        reader = data.open_reader()
        try:
            first, last = 1, reader.size()
            while first <= last:
                page = reader.get_entries(first, last, collection_id=collection, limit=1000)
                if not page:
                    break
                contents.extend(e.contents for e in page)
                first = page[-1].metadata.seqno + 1
        finally:
            reader.close()
    digests = []
    for text in contents:
        try:
            digests.append(DatabaseDigest.from_bytes(text))
        except MalformedInput:
            continue
    return digests


def newest_anchored(
    ledger: LedgerTarget, database: str, collection: str = DIGEST_COLLECTION
) -> DatabaseDigest | None:
    """The digest of ``database`` with the highest block id already anchored in the ledger."""
    mine = [d for d in fetch_digests(ledger, collection) if d.database == database]
    return max(mine, key=lambda d: d.block_id, default=None)


def _same_block(a: DatabaseDigest | None, b: DatabaseDigest) -> bool:
    return a is not None and (a.block_id, a.block_hash) == (b.block_id, b.block_hash)


def anchor_loop(
    dsn: str,
    ledgers: Sequence[LedgerTarget],
    interval: float,
    stop: threading.Event,
    *,
    collection: str = DIGEST_COLLECTION,
    report: Callable[[str], None] = print,
    warn: Callable[[str], None] = lambda message: print(message, file=sys.stderr),
) -> None:
    """Every ``interval`` seconds until ``stop`` is set: close a block if transactions are waiting
    and anchor the newest block's digest in each ledger where that block is not anchored yet.

    At start each ledger is asked for the newest digest of this database it already holds, so a
    restarted loop does not anchor an unchanged block again. A database that cannot be read is
    reported through ``warn`` and read again at the next interval; a ledger error ends the loop.
    """
    from accord.tables.database import generate_digest

    if interval <= 0:
        raise InvalidRequest("--interval must be positive")
    last: dict[int, DatabaseDigest | None] = {}
    while not stop.is_set():
        try:
            digest = generate_digest(dsn)
        except AccordError as exc:  # e.g. no transaction yet, database restarting
            warn(f"accord: warning: {exc}")
        else:
            for index, ledger in enumerate(ledgers):
                if index not in last:
                    last[index] = newest_anchored(ledger, digest.database, collection)
                    if _same_block(last[index], digest):
                        report(f"block {digest.block_id} is already anchored in {ledger.location}")
                if not _same_block(last[index], digest):
                    txid = anchor_digest(digest, ledger, collection)
                    report(f"anchored block {digest.block_id} in {ledger.location} as {txid}")
                    last[index] = digest
        stop.wait(interval)
