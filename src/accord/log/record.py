"""The newest checkpoint a ledger signed, recorded outside its storage.

A database can be lost, emptied or restored from an old backup without anyone noticing: the
ledger would then start again from whatever it finds and sign checkpoints that contradict the ones
it already gave out. :class:`CheckpointRecord` keeps the newest signed checkpoint note in a small
file beside the configuration (``DIR/latest-checkpoint``, a C2SP signed note, replaced atomically
and durably after every checkpoint the storage committed). When the ledger opens, storage must hold
at least that checkpoint's tree, with the same root; otherwise it refuses to start
(:class:`~accord.errors.LedgerMissing`) instead of signing a smaller or forked tree.

What it does not do: it is a guard against accidents and careless restores on *this* machine. An
operator who deletes the storage and this file together is not caught here; only checkpoints held
elsewhere (by clients, witnesses, other organizations) catch that.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from accord.core.checkpoint import Checkpoint, open_checkpoint
from accord.core.note import Verifier
from accord.errors import ConfigurationError, LedgerMissing, VerificationError

RECORD_FILE = "latest-checkpoint"


class CheckpointRecord:
    """The ``latest-checkpoint`` file of a data directory."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def read_note(self) -> str | None:
        """The recorded note text, or None if nothing was recorded yet."""
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"cannot read {self.path}: {exc}") from exc

    def read(self, verifier: Verifier) -> Checkpoint | None:
        """The recorded checkpoint, verified with the ledger's key; None if none was recorded."""
        note = self.read_note()
        if note is None:
            return None
        try:
            return open_checkpoint(note, verifier)
        except VerificationError as exc:
            raise ConfigurationError(
                f"{self.path} does not hold a checkpoint signed by this ledger's key: {exc}"
            ) from exc

    def write(self, note: str) -> None:
        """Replace the record with ``note``: durable when this returns, never half-written."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, note.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def missing_ledger(recorded: Checkpoint, where: str, found: str) -> LedgerMissing:
    """The error for storage that holds less than (or something else than) the record."""
    return LedgerMissing(
        f"{where} {found}, but this data directory signed a checkpoint of size {recorded.size} "
        f"(root {recorded.root_hash.hex()[:16]}…); refusing to start a ledger that would drop or "
        "contradict signed entries. Restore the ledger storage from a backup that holds at least "
        f"{recorded.size} entries; to deliberately start a new ledger, create a new data directory "
        "with `accord init`"
    )


def check_against_record(
    recorded: Checkpoint,
    *,
    where: str,
    initialized: bool,
    stored_size: int,
    signed_size: int,
    root_at: Callable[[int], bytes],
) -> None:
    """Raise LedgerMissing unless storage holds the recorded tree (pure, given ``root_at``).

    ``stored_size`` is the number of stored entries, ``signed_size`` the size of the newest
    checkpoint in storage, ``root_at(size)`` the root of the stored tree at ``size``.
    """
    if not initialized:
        raise missing_ledger(recorded, where, "holds no ledger (missing or empty)")
    if stored_size < recorded.size or signed_size < recorded.size:
        raise missing_ledger(
            recorded,
            where,
            f"holds {stored_size} entries and a newest checkpoint of size {signed_size}",
        )
    if root_at(recorded.size) != recorded.root_hash:
        raise LedgerMissing(
            f"{where} holds a different tree at size {recorded.size} than the checkpoint this "
            "data directory signed: the storage was replaced by another ledger or rewritten. "
            "Restore the right backup, or run `accord verify` to find out what changed"
        )
