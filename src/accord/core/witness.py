"""C2SP tlog-witness ``add-checkpoint``: the request format and the witness's decision, pure.

A log (here: every consortium node) asks a witness (here: every other organization) to cosign a
new checkpoint by sending ``old <size>``, up to 63 consistency-proof lines (base64), an empty line
and the signed checkpoint. The witness keeps, per log origin, the latest checkpoint it cosigned;
:func:`add_checkpoint` decides, from that record alone, whether to cosign, exactly as the spec
orders the checks and with its status codes:

* 400 the body does not parse, or the old size is larger than the checkpoint's size;
* 404 the origin is not a log this witness knows;
* 403 no trusted log key signed it, or a trusted key's signature fails;
* 409 the old size is not the size of the latest checkpoint cosigned for that origin (the
  answer's body is that size and a newline, content type ``text/x.tlog.size``);
* 422 the consistency proof does not verify (also: a proof given for old size 0, equal sizes
  with different roots, a size-0 checkpoint whose root is not the empty tree's).

On success it returns the new record (to be persisted atomically with the size check, before
answering: that is the caller's I/O) and the cosignature line. Pure code: the time is passed in.
``sign-subtree`` and the monitoring endpoint are not implemented.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from accord.core.checkpoint import MAX_TREE_SIZE, Checkpoint
from accord.core.cosignature import MAX_TIMESTAMP, Cosigner
from accord.core.merkle import HASH_SIZE, empty_root, verify_consistency
from accord.core.note import NoteSignature, Verifier, open_note
from accord.errors import AccordError, VerificationError, WitnessRefused

MAX_PROOF_LINES = 63
SIZE_CONTENT_TYPE = "text/x.tlog.size"
_OLD = re.compile(r"old (0|[1-9][0-9]{0,19})")


@dataclass(frozen=True)
class AddCheckpointRequest:
    old_size: int
    proof: tuple[bytes, ...]
    note: bytes  # the signed checkpoint, as sent

    def __post_init__(self) -> None:
        if not isinstance(self.old_size, int) or isinstance(self.old_size, bool):
            raise WitnessRefused(400, "the old size must be an integer")
        if not 0 <= self.old_size <= MAX_TREE_SIZE:
            raise WitnessRefused(400, "the old size is not a tree size")
        if not isinstance(self.note, bytes) or not all(
            isinstance(h, bytes) and len(h) == HASH_SIZE for h in self.proof
        ):
            raise WitnessRefused(400, "a request holds bytes: 32-byte hashes and the note")

    @classmethod
    def from_bytes(cls, body: bytes) -> AddCheckpointRequest:
        """Parse a request body; anything malformed is a 400."""
        if not isinstance(body, bytes | bytearray | memoryview):
            raise WitnessRefused(400, "the request body must be bytes")
        data = bytes(body)
        head, sep, note = data.partition(b"\n\n")
        if not sep:
            raise WitnessRefused(400, "expected an old size line, proof lines and an empty line")
        try:
            lines = head.decode("ascii").split("\n")
        except UnicodeDecodeError:
            raise WitnessRefused(400, "the old size and proof lines must be ASCII") from None
        match = _OLD.fullmatch(lines[0])
        if match is None:
            raise WitnessRefused(400, "the first line must be 'old <size>' (decimal, no zeros)")
        proof_lines = lines[1:]
        if len(proof_lines) > MAX_PROOF_LINES:
            raise WitnessRefused(400, f"more than {MAX_PROOF_LINES} consistency proof lines")
        proof = []
        for number, line in enumerate(proof_lines, 2):
            try:
                digest = base64.b64decode(line.encode("ascii"), validate=True)
            except (binascii.Error, ValueError):
                raise WitnessRefused(400, f"line {number} is not a base64 hash") from None
            if len(digest) != HASH_SIZE or base64.b64encode(digest).decode() != line:
                raise WitnessRefused(400, f"line {number} is not a base64 SHA-256 hash")
            proof.append(digest)
        return cls(int(match.group(1)), tuple(proof), note)

    def to_bytes(self) -> bytes:
        lines = [f"old {self.old_size}"] + [base64.b64encode(h).decode() for h in self.proof]
        return ("\n".join(lines) + "\n\n").encode() + self.note


@dataclass(frozen=True)
class WitnessRecord:
    """The latest checkpoint a witness cosigned for one log origin."""

    size: int
    root_hash: bytes


@dataclass(frozen=True)
class Cosigned:
    record: WitnessRecord
    checkpoint: Checkpoint
    cosignature: NoteSignature

    def response_body(self) -> bytes:
        return self.cosignature.to_line().encode("utf-8")


def _origin_of(note: bytes) -> str:
    first, sep, _ = note.partition(b"\n")
    if not sep or not first:
        raise WitnessRefused(400, "the checkpoint has no origin line")
    try:
        return first.decode("utf-8")
    except UnicodeDecodeError:
        raise WitnessRefused(400, "the checkpoint origin is not UTF-8") from None


def add_checkpoint(
    request: AddCheckpointRequest,
    logs: Mapping[str, Sequence[Verifier]],
    records: Mapping[str, WitnessRecord],
    cosigner: Cosigner,
    now: int,
) -> Cosigned:
    """Decide one ``add-checkpoint`` request; raises :class:`WitnessRefused` with its status.

    ``logs`` maps each known origin to the keys trusted for it; ``records`` the latest cosigned
    checkpoint per origin (absent: never cosigned, size 0). ``now`` (POSIX seconds, > 0) dates the
    cosignature.
    """
    if not isinstance(now, int) or isinstance(now, bool) or not 0 < now <= MAX_TIMESTAMP:
        raise WitnessRefused(500, "a cosignature must carry a timestamp in 1..2^63-1")
    origin = _origin_of(request.note)
    keys = logs.get(origin)
    if not keys:
        raise WitnessRefused(404, "this witness does not know the log of that origin")
    # The origin line only picked the keys: now check the signature, then parse.
    try:
        opened = open_note(request.note, list(keys))
    except VerificationError as exc:
        raise WitnessRefused(
            403, f"the checkpoint is not validly signed by its log: {exc}"
        ) from None
    try:
        checkpoint = Checkpoint.from_text(opened.text)
    except AccordError as exc:
        raise WitnessRefused(400, f"not a checkpoint: {exc}") from None
    if checkpoint.origin != origin:
        raise WitnessRefused(400, "the checkpoint origin does not parse as sent")
    if request.old_size > checkpoint.size:
        raise WitnessRefused(400, "the old size is larger than the checkpoint's size")
    record = records.get(origin)
    recorded_size = 0 if record is None else record.size
    if request.old_size != recorded_size:
        raise WitnessRefused(
            409,
            f"the latest checkpoint cosigned for this log has size {recorded_size}",
            body=f"{recorded_size}\n",
            content_type=SIZE_CONTENT_TYPE,
        )
    if checkpoint.size == 0 and checkpoint.root_hash != empty_root():
        raise WitnessRefused(422, "a checkpoint of size 0 must have the empty tree's root")
    if request.old_size == 0:
        if request.proof:
            raise WitnessRefused(422, "no consistency proof is given from the empty tree")
    else:
        if record is None:  # unreachable: old size equals the recorded size, here non-zero
            raise WitnessRefused(409, "no checkpoint was cosigned for this log")
        try:
            verify_consistency(
                record.size, checkpoint.size, record.root_hash, checkpoint.root_hash, request.proof
            )
        except VerificationError as exc:
            raise WitnessRefused(422, f"the consistency proof does not verify: {exc}") from None
    cosignature = cosigner.cosign(opened.text, now)
    return Cosigned(WitnessRecord(checkpoint.size, checkpoint.root_hash), checkpoint, cosignature)
