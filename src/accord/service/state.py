"""What every route of the HTTPS service shares: the ledger, the users, the limits.

Built once by :mod:`accord.service.server` (or a test) and stored on the application under
:data:`STATE`; handlers read it from ``request.app[STATE]``. Plain data, no behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from cryptography import x509

from accord.governance import Governance
from accord.log.ledger import Ledger
from accord.service.tokens import TokenVerifier
from accord.service.users import UserStore

DEFAULT_MAX_BATCH_ENTRIES = 1000
DEFAULT_MAX_BATCH_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ServiceLimits:
    """Per-request limits of the service (config.json ``max_batch_entries``/``max_batch_bytes``)."""

    max_batch_entries: int = DEFAULT_MAX_BATCH_ENTRIES
    max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES  # the whole request body, as sent


@dataclass
class ServiceState:
    ledger: Ledger
    users: UserStore
    public_log: bool
    governance: Governance
    tokens: TokenVerifier | None = None
    node_cert: x509.Certificate | None = None
    limits: ServiceLimits = field(default_factory=ServiceLimits)
    writer: Any = None
    """Where appends go when not straight to :attr:`ledger`: a consortium node, which orders them
    through the consortium (same ``submit`` contract as :meth:`Ledger.submit`)."""
    consortium: Any = None
    """The :class:`accord.consortium.node.ConsortiumNode` of a consortium node, else None."""
    documents: Any = None
    """The :class:`accord.documents.store.DocumentStore` of a consortium node (whose peers fetch
    document bytes from it), else None."""

    @property
    def appender(self) -> Any:
        return self.writer if self.writer is not None else self.ledger


STATE = web.AppKey("state", ServiceState)
