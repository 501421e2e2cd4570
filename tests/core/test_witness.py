"""C2SP tlog-witness add-checkpoint: the request format and every refusal with its status."""

from __future__ import annotations

import pytest

from accord.core.checkpoint import Checkpoint, sign_checkpoint
from accord.core.cosignature import Cosigner, add_signatures, open_cosigned_checkpoint
from accord.core.merkle import consistency_plan, empty_root, leaf_hash, root_from_leaf_hashes
from accord.core.note import Signer
from accord.core.witness import (
    SIZE_CONTENT_TYPE,
    AddCheckpointRequest,
    WitnessRecord,
    add_checkpoint,
)
from accord.errors import WitnessRefused
from tests.core.test_merkle import plan_hashes

LOG = Signer.generate("example.com/log")
WITNESS = Cosigner.generate("witness.example/w1")
LOGS = {LOG.name: [LOG.verifier()]}
LEAVES = [leaf_hash(b"entry %d" % i) for i in range(40)]
NOW = 1_700_000_000


def note_at(size: int, signer: Signer = LOG) -> bytes:
    cp = Checkpoint(signer.name, size, root_from_leaf_hashes(LEAVES[:size]))
    return sign_checkpoint(cp, signer).encode()


def request(old: int, new: int, *, proof: list[bytes] | None = None) -> AddCheckpointRequest:
    if proof is None:
        proof = [] if old == 0 else plan_hashes(consistency_plan(old, new), LEAVES[:new])
    return AddCheckpointRequest(old, tuple(proof), note_at(new))


def record(size: int) -> WitnessRecord:
    return WitnessRecord(size, root_from_leaf_hashes(LEAVES[:size]))


def refusal(req: AddCheckpointRequest, records: dict[str, WitnessRecord]) -> WitnessRefused:
    with pytest.raises(WitnessRefused) as info:
        add_checkpoint(req, LOGS, records, WITNESS, NOW)
    return info.value


def test_first_and_following_checkpoints_are_cosigned() -> None:
    first = add_checkpoint(request(0, 7), LOGS, {}, WITNESS, NOW)
    assert first.record == record(7)
    second = add_checkpoint(request(7, 33), LOGS, {LOG.name: first.record}, WITNESS, NOW + 1)
    assert second.record == record(33)
    # The answer is a cosignature line that a client appends and verifies.
    body = second.response_body().decode()
    assert body.startswith("\u2014 witness.example/w1 ") and body.endswith("\n")
    opened = open_cosigned_checkpoint(note_at(33).decode() + body, LOG.verifier(), [WITNESS.key()])
    assert opened.cosigned == {WITNESS.name: NOW + 1}
    # The same size again, with the same root, is cosigned again.
    again = add_checkpoint(request(33, 33), LOGS, {LOG.name: second.record}, WITNESS, NOW + 2)
    assert again.record == second.record


def test_request_bytes_round_trip_the_spec_layout() -> None:
    req = request(7, 33)
    data = req.to_bytes()
    assert data.startswith(b"old 7\n") and b"\n\n" + note_at(33) in data
    assert AddCheckpointRequest.from_bytes(data) == req


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 7\n",
        b"old 07\n\nx",
        b"old -1\n\nx",
        b"old 1\nnot base64!\n\nx",
        b"old 1\nAAAA\n\nx",  # base64, but not 32 bytes
        b"old 1\n" + b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n" * 64 + b"\nx",
        b"OLD 1\n\nx",
        b"old 1 \n\nx",
    ],
)
def test_malformed_requests_are_400(body: bytes) -> None:
    with pytest.raises(WitnessRefused) as info:
        AddCheckpointRequest.from_bytes(body)
    assert info.value.status == 400


def test_every_refusal_has_the_spec_status() -> None:
    at7 = {LOG.name: record(7)}
    # 404: an origin the witness does not know.
    stranger = Signer.generate("example.org/unknown")
    unknown = AddCheckpointRequest(0, (), note_at(3, stranger))
    assert refusal(unknown, {}).status == 404
    # 403: the right origin, signed by another key.
    impostor = Signer.generate(LOG.name)
    assert refusal(AddCheckpointRequest(0, (), note_at(3, impostor)), {}).status == 403
    # 400: an old size beyond the checkpoint.
    assert refusal(AddCheckpointRequest(9, (), note_at(5)), {LOG.name: record(9)}).status == 400
    # 409: not the recorded size; the answer is the recorded size.
    conflict = refusal(request(0, 20), at7)
    assert (conflict.status, conflict.body, conflict.content_type) == (
        409,
        "7\n",
        SIZE_CONTENT_TYPE,
    )
    assert refusal(request(5, 20), at7).status == 409
    # 422: a proof that does not verify, a proof from the empty tree, a fork at equal size.
    good = request(7, 20)
    bad = AddCheckpointRequest(7, (good.proof[0][::-1], *good.proof[1:]), good.note)
    assert refusal(bad, at7).status == 422
    assert refusal(request(0, 20, proof=list(good.proof)), {}).status == 422
    fork = Checkpoint(LOG.name, 7, leaf_hash(b"other"))
    forked = AddCheckpointRequest(7, (), sign_checkpoint(fork, LOG).encode())
    assert refusal(forked, at7).status == 422
    # 422: a size-0 checkpoint must carry the empty tree's root.
    empty_bad = Checkpoint(LOG.name, 0, leaf_hash(b"x"))
    assert (
        refusal(AddCheckpointRequest(0, (), sign_checkpoint(empty_bad, LOG).encode()), {}).status
        == 422
    )
    empty_ok = Checkpoint(LOG.name, 0, empty_root())
    assert add_checkpoint(
        AddCheckpointRequest(0, (), sign_checkpoint(empty_ok, LOG).encode()), LOGS, {}, WITNESS, NOW
    ).record == WitnessRecord(0, empty_root())


def test_a_rolled_back_log_is_never_cosigned() -> None:
    # A witness at size 20 is asked to cosign size 10: the old size cannot match (409), and a
    # request that claims old size 20 for a size-10 checkpoint is a 400.
    at20 = {LOG.name: record(20)}
    assert refusal(request(0, 10), at20).status == 409
    assert refusal(AddCheckpointRequest(20, (), note_at(10)), at20).status == 400


def test_unknown_signatures_are_ignored_and_the_timestamp_is_not_zero() -> None:
    other = Signer.generate("someone.else/key")
    extra = add_signatures(note_at(4).decode(), [])
    noted = (extra + f"\u2014 {other.name} " + "A" * 96 + "\n").encode()
    assert add_checkpoint(
        AddCheckpointRequest(0, (), noted), LOGS, {}, WITNESS, NOW
    ).record == record(4)
    with pytest.raises(WitnessRefused):
        add_checkpoint(request(0, 4), LOGS, {}, WITNESS, 0)


def test_keys_are_the_origins_own_and_any_of_them_will_do() -> None:
    other = Signer.generate("example.org/other-log")
    rotated = Signer.generate(LOG.name)
    logs = {LOG.name: [LOG.verifier(), rotated.verifier()], other.name: [other.verifier()]}
    # Signed by a key trusted for another log: refused.
    cross = AddCheckpointRequest(
        0, (), note_at(3, other).replace(other.name.encode(), LOG.name.encode())
    )
    with pytest.raises(WitnessRefused) as info:
        add_checkpoint(cross, logs, {}, WITNESS, NOW)
    assert info.value.status == 403
    # Either of the origin's keys (a rotation) is accepted.
    by_rotated = AddCheckpointRequest(0, (), note_at(3, rotated))
    assert add_checkpoint(by_rotated, logs, {}, WITNESS, NOW).record == record(3)


def test_a_larger_old_size_than_recorded_is_a_conflict_not_a_free_pass() -> None:
    # old 9 against a record at 7: the proof would be checked from size 9, which was never
    # cosigned; the witness answers with its own size instead.
    conflict = refusal(request(9, 20), {LOG.name: record(7)})
    assert (conflict.status, conflict.body) == (409, "7\n")
    assert refusal(request(9, 20), {}).status == 409  # never cosigned: size 0
    # Both wrong: the old size beyond the checkpoint is checked first (400).
    assert refusal(AddCheckpointRequest(25, (), note_at(20)), {LOG.name: record(7)}).status == 400


def test_limits_of_the_request_grammar() -> None:
    h = b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    assert len(AddCheckpointRequest.from_bytes(b"old 1\n" + h * 63 + b"\nx").proof) == 63
    with pytest.raises(WitnessRefused, match="base64"):
        AddCheckpointRequest.from_bytes(b"old 1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\n\nx")
    huge = AddCheckpointRequest.from_bytes(b"old %d\n\nx" % (2**64 - 1))
    assert huge.old_size == 2**64 - 1
    with pytest.raises(WitnessRefused):
        AddCheckpointRequest.from_bytes(b"old %d\n\nx" % 2**64)
    with pytest.raises(WitnessRefused) as info:
        add_checkpoint(AddCheckpointRequest.from_bytes(b"old 0\n\n\n" + note_at(3)), LOGS, {},
                       WITNESS, NOW)  # fmt: skip
    assert info.value.status == 400
    with pytest.raises(WitnessRefused):
        AddCheckpointRequest(0, (), note_at(3).decode())  # type: ignore[arg-type]


@pytest.mark.parametrize("now", [0, -1, 2**63, True, 1.5])
def test_the_witness_clock_must_give_a_valid_timestamp(now: object) -> None:
    with pytest.raises(WitnessRefused) as info:
        add_checkpoint(request(0, 4), LOGS, {}, WITNESS, now)  # type: ignore[arg-type]
    assert info.value.status == 500
