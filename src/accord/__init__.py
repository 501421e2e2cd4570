"""accord: a verifiable, append-only ledger for organizations that do not fully trust each other.

The package is layered so that a reader can find where a request goes by folder name:

* ``accord.core``    pure verification: hashing, Merkle proofs, notes, checkpoints, receipts.
* ``accord.log``     the ledger itself: sequencer, storage backends (SQLite, PostgreSQL), tiles.
* ``accord.service`` the HTTPS service.
* ``accord.cli``     the ``accord`` command.
"""

__version__ = "0.1.0"
