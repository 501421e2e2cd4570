"""Reading the evidence a consortium's nodes recorded on the ledger, by signer.

A node that receives a checkpoint validly signed by a current node's key whose root it did not
compute records the note as evidence (collection ``accord.evidence``, ``docs/formats.md`` §16).
``accord verify`` reports it by signer: the key's holder (or its storage) signed a view of the log
the others did not compute. Pure: the caller reads the entries.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

EVIDENCE_COLLECTION = "accord.evidence"
EVIDENCE_FORMAT = "accord.evidence.v1"


@dataclass(frozen=True)
class Evidence:
    signer: str
    size: int
    reported_by_entry: str  # the transaction id of the evidence entry


def parse_evidence(entries: Iterable[tuple[str, str]]) -> list[Evidence]:
    """``(transaction id, contents)`` of evidence entries → what each says; malformed ones are
    kept as evidence of an unknown signer rather than dropped."""
    out = []
    for txid, contents in entries:
        try:
            record = json.loads(contents)
            signer = str(record["signer"]) if record.get("format") == EVIDENCE_FORMAT else "?"
            size = int(record.get("size", -1))
        except (ValueError, TypeError, KeyError, AttributeError):
            signer, size = "?", -1
        out.append(Evidence(signer, size, txid))
    return out


def by_signer(evidence: Iterable[Evidence]) -> dict[str, list[Evidence]]:
    grouped: dict[str, list[Evidence]] = {}
    for item in evidence:
        grouped.setdefault(item.signer, []).append(item)
    return dict(sorted(grouped.items()))


def report_lines(evidence: Iterable[Evidence]) -> list[str]:
    lines = []
    for signer, items in by_signer(evidence).items():
        sizes = ", ".join(str(e.size) for e in items[:10]) + (" ..." if len(items) > 10 else "")
        lines.append(
            f"EVIDENCE: {signer} signed {len(items)} checkpoint(s) whose root another node did not "
            f"compute (sizes {sizes}; entries {', '.join(e.reported_by_entry for e in items[:5])})"
        )
    return lines
