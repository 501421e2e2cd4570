"""Governance of a ledger: its constitution, consortium members and identities (domain data).

What the governance endpoints of the HTTPS service report, as plain values; the data directory
builds it (:func:`accord.datadir.load_governance`), :mod:`accord.service.governance` serves it.
No I/O, no HTTP, no clock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Governance:
    """The constitution, consortium members and identities of one ledger."""

    ledger_id: str
    node_id: str
    service_cert_pem: str
    constitution: str
    members: tuple[tuple[str, str], ...]  # (member id, certificate PEM)

    @property
    def constitution_digest(self) -> str:
        """SHA-256 of the constitution's UTF-8 text, hex (as Azure Confidential Ledger reports)."""
        return hashlib.sha256(self.constitution.encode()).hexdigest()
