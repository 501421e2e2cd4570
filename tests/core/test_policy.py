"""C2SP tlog-policy: parsing by the spec's rules and quorums evaluated against cosignatures."""

from __future__ import annotations

import hashlib
import itertools

import pytest

from accord.core.checkpoint import Checkpoint, sign_checkpoint
from accord.core.cosignature import Cosigner, MLDSACosigner, MLDSACosignerKey, add_signatures
from accord.core.note import Signer, format_key, key_hash
from accord.core.policy import Policy
from accord.errors import MalformedInput, QuorumNotMet, SignatureError

LOG = Signer.generate("example.com/log")
W = {n: Cosigner.generate(f"witness.example/{n}") for n in ("X1", "X2", "X3", "Y1", "Y2", "Y3")}
CHECKPOINT = Checkpoint("example.com/log", 42, hashlib.sha256(b"r").digest())
NOTE = sign_checkpoint(CHECKPOINT, LOG)
BODY = NOTE.split("\n\n")[0] + "\n"

# The spec's example policy, with real keys.
EXAMPLE = "\n".join(
    [
        f"log {LOG.verifier().to_vkey()}",
        "",
        *(f"witness {n} {W[n].key().to_vkey()}" for n in ("X1", "X2", "X3")),
        "group X-witnesses 2 X1 X2 X3",
        "  # a comment",
        *(f"witness\t{n}  {W[n].key().to_vkey()}" for n in ("Y1", "Y2", "Y3")),
        "group Y-witnesses any Y1 Y2 Y3",
        "group X-and-Y all X-witnesses Y-witnesses",
        "quorum X-and-Y",
        "",
    ]
)


def cosigned(*names: str) -> str:
    return add_signatures(NOTE, [W[n].cosign(BODY, 1_700_000_000) for n in names])


def test_the_spec_example_quorum() -> None:
    policy = Policy.from_text(EXAMPLE)
    assert policy.verify(cosigned("X1", "X3", "Y2")).checkpoint == CHECKPOINT
    for names in (("X1", "Y1"), ("X1", "X2"), ("Y1", "Y2", "Y3"), ()):
        with pytest.raises(QuorumNotMet):
            policy.verify(cosigned(*names))


def test_satisfied_matches_a_brute_force_reading_of_the_example() -> None:
    policy = Policy.from_text(EXAMPLE)
    for r in range(7):
        for subset in itertools.combinations(W, r):
            xs = sum(1 for n in subset if n.startswith("X"))
            ys = sum(1 for n in subset if n.startswith("Y"))
            assert policy.satisfied(set(subset)) == (xs >= 2 and ys >= 1), subset


def test_a_forged_cosignature_from_a_listed_witness_is_refused_not_ignored() -> None:
    policy = Policy.from_text(EXAMPLE)
    other = Checkpoint("example.com/log", 43, CHECKPOINT.root_hash)
    forged = W["X1"].cosign(sign_checkpoint(other, LOG).split("\n\n")[0] + "\n", 1)
    with pytest.raises(SignatureError):
        policy.verify(add_signatures(cosigned("X2", "X3", "Y1"), [forged]))


def test_quorum_none_and_log_signature() -> None:
    policy = Policy.from_text(f"log {LOG.verifier().to_vkey()} https://log.example/\nquorum none\n")
    assert policy.verify(NOTE).checkpoint == CHECKPOINT
    stranger = Policy.from_text(f"log {Signer.generate('example.com/log').verifier().to_vkey()}\n"
                                "quorum none\n")  # fmt: skip
    with pytest.raises(SignatureError):
        stranger.verify(NOTE)


X1 = f"witness X1 {W['X1'].key().to_vkey()}"
# The same key material under other key names: duplicates by the underlying public key.
TWIN_NAME = Cosigner("witness.example/renamed", W["X1"].private_key).key().to_vkey()
LOG_TWIN = Signer.from_private_key("example.com/log-renamed", LOG.private_key).verifier().to_vkey()
LOG_AS_WITNESS = Cosigner("example.com/log", LOG.private_key).key().to_vkey()
X2 = f"witness X2 {W['X2'].key().to_vkey()}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("log x\n", "policy line 1"),
        (f"{X1}\n", "no quorum"),
        (f"{X1}\nquorum X1\nquorum X1\n", "exactly one quorum"),
        ("quorum X1\n", "not defined above"),
        (f"quorum X1\n{X1}\n", "not defined above"),
        (f"{X1}\n{X1}\nquorum X1\n", "defined twice"),
        (f"{X1}\ngroup X1 any X1\nquorum X1\n", "defined twice"),
        (f"{X1}\ngroup g any X1 X1\nquorum g\n", "at most once"),
        (f"{X1}\ngroup g any none\nquorum g\n", "'none' cannot"),
        (f"witness none {W['X1'].key().to_vkey()}\nquorum none\n", "predefined"),
        (f"{X1}\n{X2}\ngroup g 3 X1 X2\nquorum g\n", "between 1 and 2"),
        (f"{X1}\ngroup g 0 X1\nquorum g\n", "not all, any"),
        (f"{X1}\ngroup g 01 X1\nquorum g\n", "not all, any"),
        (f"{X1}\ngroup g any\nquorum g\n", "a group needs"),
        (f"witness X1 {LOG.verifier().to_vkey()}\nquorum X1\n", "not a cosignature/v1 key"),
        (f"log {W['X1'].key().to_vkey()}\nquorum none\n", "unsupported signature type"),
        (f"{X1}\nwitness X9 {W['X1'].key().to_vkey()}\nquorum X1\n", "same public key"),
        ("quorum none\nfrobnicate\n", "unknown keyword"),
        (f"{X1}\ngroup g any h\ngroup h any X1\nquorum g\n", "not defined above"),
        (
            f"{X1}\n{X2}\ngroup a any X1 X2\ngroup b any X1 X2\ngroup q all a b\nquorum q\n",
            "already a member",
        ),
        (f"{X1}\ngroup a any X1\ngroup q 2 a X1\nquorum q\n", "already a member"),
        (f"{X1}\nwitness X9 {TWIN_NAME}\nquorum X1\n", "same public key"),
        (f"log {LOG.verifier().to_vkey()}\nlog {LOG_TWIN}\nquorum none\n", "same public key"),
        (
            f"log {LOG.verifier().to_vkey()}\nwitness S {LOG_AS_WITNESS}\nquorum S\n",
            "also a log's key",
        ),
        ("quorum none\x7f\n", "control character"),
        ("quorum none\n# \ud800\n", "valid Unicode"),
        ("quorum none\x0b\n", "control character"),
        ("quorum none\r\n", "control character"),
    ],
)
def test_malformed_policies_are_refused(text: str, message: str) -> None:
    with pytest.raises(MalformedInput, match=message):
        Policy.from_text(text)


def test_non_ascii_names_are_opaque() -> None:
    kelvin = "\u212a"  # a Kelvin sign is not the letter K
    policy = Policy.from_text(
        f"log {LOG.verifier().to_vkey()}\nwitness {kelvin} {W['X1'].key().to_vkey()}\n"
        f"group g any {kelvin}\nquorum g\n"
    )
    assert policy.verify(cosigned("X1")).checkpoint == CHECKPOINT
    with pytest.raises(MalformedInput, match="not defined above"):
        Policy.from_text(f"witness {kelvin} {W['X1'].key().to_vkey()}\nquorum K\n")


def test_two_witnesses_sharing_a_key_name_count_separately() -> None:
    twin_a = Cosigner.generate("witness.example/twin")
    twin_b = Cosigner.generate("witness.example/twin")
    policy = Policy.from_text(
        f"log {LOG.verifier().to_vkey()}\nwitness A {twin_a.key().to_vkey()}\n"
        f"witness B {twin_b.key().to_vkey()}\ngroup both all A B\nquorum both\n"
    )
    only_a = add_signatures(NOTE, [twin_a.cosign(BODY, 1)])
    with pytest.raises(QuorumNotMet):
        policy.verify(only_a)
    both = add_signatures(only_a, [twin_b.cosign(BODY, 2)])
    assert policy.verify(both).verified_keys == {
        (twin_a.name, twin_a.key().key_id),
        (twin_b.name, twin_b.key().key_id),
    }


def test_comments_without_a_space_and_several_logs() -> None:
    second = Signer.generate("example.org/second-log")
    policy = Policy.from_text(
        f"#comment\nlog {second.verifier().to_vkey()}\nlog {LOG.verifier().to_vkey()}\n"
        "\t# indented comment\nquorum none\n"
    )
    assert policy.verify(NOTE).checkpoint == CHECKPOINT  # signed by the second listed log


def test_too_many_items_are_refused() -> None:
    lines = [
        f"witness w{i} {Cosigner.generate(f'w.example/{i}').key().to_vkey()}" for i in range(257)
    ]
    with pytest.raises(MalformedInput, match="more than 256"):
        Policy.from_text("\n".join([*lines, "quorum none", ""]))


PQ = MLDSACosigner.generate("witness.example/pq")
# 2 of 3 organizations, one of which cosigns with ML-DSA-44 (vkey type 0x06).
MIXED = (
    f"log {LOG.verifier().to_vkey()}\n"
    f"witness A {W['X1'].key().to_vkey()}\n"
    f"witness B {W['X2'].key().to_vkey()} https://b.example/witness\n"
    f"witness P {PQ.key().to_vkey()}\n"
    "group orgs 2 A B P\n"
    "quorum orgs\n"
)


def test_a_policy_names_an_mldsa_witness_and_counts_it() -> None:
    policy = Policy.from_text(MIXED)
    assert isinstance(policy.witnesses["P"].key, MLDSACosignerKey)
    assert policy.witnesses["P"].key == PQ.key()
    pq = PQ.cosign(BODY, 1_700_000_000)
    with_pq = add_signatures(cosigned("X1"), [pq])
    opened = policy.verify(with_pq)
    assert opened.checkpoint == CHECKPOINT
    assert (PQ.name, PQ.key().key_id) in opened.verified_keys
    assert policy.verify(cosigned("X1", "X2")).checkpoint == CHECKPOINT
    assert policy.verify(add_signatures(cosigned("X2"), [pq])).checkpoint == CHECKPOINT
    for note in (add_signatures(NOTE, [pq]), cosigned("X1"), cosigned("X3", "Y1")):
        with pytest.raises(QuorumNotMet):
            policy.verify(note)
    # Future-dated ML-DSA cosignature: not counted.
    with pytest.raises(QuorumNotMet):
        policy.verify(with_pq, not_after=1_699_999_999)


def test_a_forged_mldsa_cosignature_from_a_listed_witness_is_refused() -> None:
    policy = Policy.from_text(MIXED)
    other = Checkpoint("example.com/log", 43, CHECKPOINT.root_hash)
    forged = PQ.cosign(other.to_text(), 1)
    with pytest.raises(SignatureError):
        policy.verify(add_signatures(cosigned("X1", "X2"), [forged]))


def test_mldsa_witness_lines_are_checked() -> None:
    pq = PQ.key()
    short = b"\x06" + pq.public_key_bytes[:-1]
    truncated = format_key(pq.name, key_hash(pq.name, short), 0x06, short[1:])
    renamed = MLDSACosigner("witness.example/renamed", PQ.private_key).key().to_vkey()
    for text, message in (
        (f"witness P {truncated}\nquorum P\n", "policy line 1: .*1312 bytes"),
        (f"witness P {pq.to_vkey()}\nwitness Q {renamed}\nquorum P\n", "same public key"),
        (f"witness P {pq.to_vkey()}\nwitness Q {pq.to_vkey()}\nquorum P\n", "same public key"),
        (f"log {pq.to_vkey()}\nquorum none\n", "unsupported signature type 0x06"),
    ):
        with pytest.raises(MalformedInput, match=message):
            Policy.from_text(text)
