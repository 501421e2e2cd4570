"""Anchoring database digests in an accord ledger, and reading them back.

The ledger is either a local data directory (opened as the ledger's writer for the append, so it
fails with :class:`~accord.errors.LedgerLocked` while a server runs on it) or a running service
reached over HTTPS with :class:`~accord.client.client.AccordClient`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from accord.errors import LedgerLocked, MalformedInput
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
    from accord.log.ledger import Ledger

    data = DataDir(ledger.location)
    try:
        writer = Ledger.create_or_open(data.storage_location(), data.signer(), node=data.node())
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
        from accord.log.ledger import LedgerReader

        data = DataDir(ledger.location)
        reader = LedgerReader.open(data.storage_location(), data.verifier())
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
