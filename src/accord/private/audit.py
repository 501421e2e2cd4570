"""The offline audit of a consortium node's private contents (part of ``accord verify --data``).

For every private collection this node's organization reads, every entry must be in one of two
states: its sealed contents are held, are the ones its public record names, and open (with the
organization's key) to contents and a salt that match the record's commitment; or they were
*purged* — by a purge record on the ledger that names the entry, or because the collection's
retention ran out by the ledger's time. Anything else is reported: contents missing with no
purge, sealed bytes that are not the record's, a purge marker the ledger does not explain.
Read-only; the ledger's own audit (proofs, tiles, checkpoints) runs before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from accord.core.private import PURGE_COLLECTION, parse_purge, parse_record, private_state
from accord.errors import AccordError
from accord.private.keys import load_keyring
from accord.private.sealing import open_sealed
from accord.private.store import EXPIRED, SealedStore


@dataclass
class PrivateReport:
    organization: str
    checked: int = 0
    held: int = 0
    purged: list[tuple[str, str]] = field(default_factory=list)  # (txid, by)
    problems: list[str] = field(default_factory=list)


def audit_private(data: Any) -> PrivateReport | None:
    """The private-contents audit of consortium data directory ``data`` (None if it holds no
    private contents store)."""
    from accord.consortium.apply import GOVERNANCE_COLLECTION, Applier
    from accord.consortium.runtime import load_node_files

    store_dir = data.path / "private"
    if not (store_dir / "sealed.db").exists():
        return None
    member = load_node_files(data).settings.member
    report = PrivateReport(member)
    reader = data.open_reader()
    store = SealedStore(store_dir)
    try:
        size = reader.size()
        governance = list(reader.iter_collection(GOVERNANCE_COLLECTION, 1, size))
        last = reader.get_entry(size).metadata.timestamp_ms
        applier = Applier.restore(
            (
                (
                    r.metadata.seqno,
                    r.metadata.timestamp_ms,
                    r.metadata.tags,
                    r.contents,
                    r.metadata.user_id,
                )
                for r in governance
            ),
            size=size,
            ledger_time=last,
            meta={},
        )
        state = applier.state
        keys = load_keyring(data.path)
        # A purge explains an entry only if it names the entry's collection and comes after it.
        purges: dict[tuple[int, str], str] = {}
        for entry in reader.iter_collection(PURGE_COLLECTION, 1, size):
            try:
                purge = parse_purge(entry.contents)
            except AccordError:
                continue
            if purge.seqno < entry.metadata.seqno:
                purges.setdefault((purge.seqno, purge.collection_id), str(entry.transaction_id))
        markers = store.purges()
        for collection in private_state(state.extensions).collections.values():
            if member not in collection.readers:
                continue
            for entry in reader.iter_collection(
                collection.collection_id, collection.since_seqno + 1, size
            ):
                md = entry.metadata
                txid = str(md.transaction_id)
                report.checked += 1
                expired = collection.expired(md.timestamp_ms, last)
                marker = markers.get(md.seqno)
                purged_by = purges.get((md.seqno, collection.collection_id))
                try:
                    sealed = store.get(md.seqno)
                except AccordError as exc:
                    report.problems.append(f"{txid} ({collection.collection_id}): {exc}")
                    continue
                if sealed is not None and (purged_by is not None or marker is not None):
                    report.problems.append(
                        f"{txid} ({collection.collection_id}): purged by "
                        f"{purged_by or marker}, but its sealed contents are still held"
                    )
                    continue
                if sealed is None:
                    if purged_by is not None:
                        report.purged.append((txid, f"purge {purged_by}"))
                    elif expired:
                        report.purged.append((txid, "its collection's retention"))
                    elif marker is not None and marker != EXPIRED:
                        report.problems.append(
                            f"{txid} ({collection.collection_id}): erased as purged by {marker}, "
                            "but no purge record on the ledger names it"
                        )
                    else:
                        report.problems.append(
                            f"{txid} ({collection.collection_id}): sealed contents missing and "
                            "never purged"
                        )
                    continue
                try:
                    open_sealed(sealed, parse_record(entry.contents), member, keys)
                except AccordError as exc:
                    report.problems.append(f"{txid} ({collection.collection_id}): {exc}")
                    continue
                report.held += 1
    finally:
        store.close()
        reader.close()
    return report
