"""Private collections' pure formats (accord.core.private): commitments, records, ordered writes,
purge records, disclosures, the ``private.create`` rules, and members' encryption keys."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core import private as p
from accord.core.canonical import canonicalize
from accord.core.consortium import (
    Member,
    encryption_key_action,
    genesis_state,
    member_remove_action,
)
from accord.errors import Conflict, MalformedInput, VerificationError
from tests.core.test_consortium import A, B, C, Chain, Org, genesis_text, pid_of

SALT = bytes(range(32))
H1 = "ab" * 32
H2 = "cd" * 32
KEY_A = bytes(range(1, 33))
KEY_B = bytes(range(2, 34))


def _commit(salt: bytes, contents: bytes) -> str:
    """A deliberately naive reference: the bytes the docs name, hashed by hashlib."""
    return hashlib.sha256(b"accord.private.commitment.v1" + b"\x00" + salt + contents).hexdigest()


def _json(obj: object) -> str:
    return canonicalize(obj).decode()


def _record(collection: str = "prices", commitment: str = H1, sealed: str = H2) -> dict[str, str]:
    return {
        "collectionId": collection,
        "commitment": commitment,
        "format": "accord.private.v1",
        "sealedSha256": sealed,
    }


# --- commitments --------------------------------------------------------------------------------


def test_commitment_known_answer() -> None:
    contents = "price: 12.50 €".encode()
    assert p.COMMITMENT_DOMAIN == b"accord.private.commitment.v1\x00"
    assert p.commitment(SALT, contents).hex() == _commit(SALT, contents)
    # pinned, so that a change of the format cannot pass unnoticed
    assert (
        p.commitment(SALT, contents).hex()
        == "e2adeedb2dcc1a255ce14589ab8a28674f8131a248e230bf1be112d510fe4ffd"
    )
    assert (
        p.commitment(bytes(32), b"").hex()
        == "29d16a0a5a11ee2d1ea441f7cb29758e3e2a4c8309b3879753aebc016f43a62f"
    )


@given(st.binary(min_size=32, max_size=32), st.binary(max_size=200))
@settings(max_examples=50)
def test_commitment_matches_the_reference(salt: bytes, contents: bytes) -> None:
    assert p.commitment(salt, contents).hex() == _commit(salt, contents)
    p.check_commitment(_commit(salt, contents), salt, contents)


@pytest.mark.parametrize("salt", [b"", bytes(31), bytes(33), "0" * 32, bytearray(32)])
def test_commitment_salt_is_32_bytes(salt: object) -> None:
    with pytest.raises(MalformedInput):
        p.commitment(salt, b"x")  # type: ignore[arg-type]


def test_check_commitment_raises_for_other_contents_or_salt() -> None:
    good = _commit(SALT, b"contents")
    p.check_commitment(good, SALT, b"contents")
    with pytest.raises(VerificationError, match="commitment"):
        p.check_commitment(good, SALT, b"contentS")
    with pytest.raises(VerificationError):
        p.check_commitment(good, bytes(32), b"contents")
    with pytest.raises(VerificationError):
        p.check_commitment(good.upper(), SALT, b"contents")


# --- encryption keys ----------------------------------------------------------------------------


def test_parse_key_round_trip_and_key_id() -> None:
    text = p.encode_key(KEY_A)
    assert p.parse_key(text) == KEY_A
    assert p.key_id(KEY_A) == hashlib.sha256(KEY_A).hexdigest()[:16]


@pytest.mark.parametrize(
    "value",
    [
        None,
        42,
        b"x" * 44,
        "",
        base64.b64encode(bytes(31)).decode(),
        base64.b64encode(bytes(33)).decode(),
        "!" * 44,
        base64.b64encode(bytes(32)).decode()[:-2] + "B=",  # same length, non-zero padding bits
        base64.urlsafe_b64encode(b"\xff" * 32).decode(),  # the URL-safe alphabet
        " " + base64.b64encode(bytes(32)).decode()[1:],
    ],
)
def test_parse_key_refuses(value: object) -> None:
    with pytest.raises(MalformedInput):
        p.parse_key(value)


# --- records ------------------------------------------------------------------------------------


def test_record_round_trip() -> None:
    record = p.PrivateRecord("prices", H1, H2)
    data = record.to_bytes()
    assert data == canonicalize(_record())
    assert p.parse_record(data) == record
    assert p.parse_record(data.decode()) == record


@pytest.mark.parametrize(
    "data",
    [
        json.dumps(_record()),  # not canonical (spaces)
        '{"format":"accord.private.v1","collectionId":"prices","commitment":"'
        + H1
        + '","sealedSha256":"'
        + H2
        + '"}',  # members out of order
        _json(dict(_record(), format="accord.private.v2")),
        _json(dict(_record(), extra=1)),
        _json({k: v for k, v in _record().items() if k != "sealedSha256"}),
        _json({k: v for k, v in _record().items() if k != "commitment"}),
        _json(_record(commitment=H1.upper())),
        _json(_record(commitment=H1[:-1])),
        _json(_record(commitment=H1 + "0")),
        _json(_record(sealed="g" * 64)),
        _json(dict(_record(), collectionId=7)),
        _json(dict(_record(), commitment=None)),
        _json([_record()]),
        "",
        "null",
        "{",
        b"\xff\xfe",
    ],
)
def test_parse_record_refuses(data: str | bytes) -> None:
    with pytest.raises(MalformedInput):
        p.parse_record(data)


def _write(
    record: Mapping[str, object] | None = None, sealed: bytes = b"ciphertext"
) -> dict[str, object]:
    if record is None:
        record = _record(sealed=hashlib.sha256(sealed).hexdigest())
    return {
        "format": "accord.private.write.v1",
        "record": record,
        "sealed": base64.b64encode(sealed).decode(),
    }


def test_write_round_trip() -> None:
    sealed = b"\x00sealed bytes\xff"
    record = p.PrivateRecord("prices", H1, hashlib.sha256(sealed).hexdigest())
    text = p.write_contents(record, sealed)
    assert text == _json(_write(_record(sealed=record.sealed_sha256), sealed))
    assert p.parse_write(text, "prices") == (record, sealed)


_SEALED_SHA = hashlib.sha256(b"ciphertext").hexdigest()


@pytest.mark.parametrize(
    "contents",
    [
        json.dumps(_write()),  # not canonical
        _json(dict(_write(), format="accord.private.v1")),
        _json(dict(_write(), extra="x")),
        _json({k: v for k, v in _write().items() if k != "sealed"}),
        _json({k: v for k, v in _write().items() if k != "record"}),
        _json(_write(_record(collection="other", sealed=_SEALED_SHA))),  # another collection
        _json(_write(_record(sealed=hashlib.sha256(b"other").hexdigest()))),  # sha mismatch
        _json(_write(dict(_record(sealed=_SEALED_SHA), format="accord.private.v0"))),
        _json(_write(dict(_record(sealed=_SEALED_SHA), extra=1))),
        _json(dict(_write(), record="not an object")),
        _json(dict(_write(), record=[1, 2])),
        _json(dict(_write(), sealed="not base64!")),
        _json(dict(_write(), sealed="Y2lwaGVydGV4dA")),  # missing padding
        _json(dict(_write(), sealed="Y2lw\naGVydGV4dA==")),
        _json(dict(_write(), sealed=12)),
        _json(dict(_write(), sealed=None)),
        "plain text, as written before the collection was private",
        "",
    ],
)
def test_parse_write_refuses(contents: str) -> None:
    with pytest.raises(MalformedInput):
        p.parse_write(contents, "prices")


# --- purge records ------------------------------------------------------------------------------


def test_purge_round_trip() -> None:
    text = p.purge_record("prices", "2.17", "GDPR erasure request")
    assert text == _json(
        {
            "collectionId": "prices",
            "format": "accord.purge.v1",
            "reason": "GDPR erasure request",
            "transactionId": "2.17",
        }
    )
    purge = p.parse_purge(text)
    assert purge == p.PurgeRecord("prices", "2.17", "GDPR erasure request")
    assert purge.seqno == 17
    assert p.parse_purge(text.encode()) == purge
    assert p.parse_purge(p.purge_record("prices", "1.5", "x" * p.MAX_REASON)).reason == "x" * 512


def _purge(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "collectionId": "prices",
        "format": "accord.purge.v1",
        "reason": "why",
        "transactionId": "1.5",
    }
    return {**base, **changes}


@pytest.mark.parametrize(
    "contents",
    [
        json.dumps(_purge()),
        _json(_purge(format="accord.purge.v2")),
        _json(_purge(extra=True)),
        _json({k: v for k, v in _purge().items() if k != "reason"}),
        _json(_purge(reason="")),
        _json(_purge(reason="   \n\t")),
        _json(_purge(reason="x" * 513)),
        _json(_purge(reason=5)),
        _json(_purge(collectionId=5)),
        _json(_purge(transactionId="5")),
        _json(_purge(transactionId="0.5")),
        _json(_purge(transactionId="1.0")),
        _json(_purge(transactionId="01.5")),
        _json(_purge(transactionId="1.05")),
        _json(_purge(transactionId="1.5.6")),
        _json(_purge(transactionId="a.b")),
        _json(_purge(transactionId="1.-5")),
        _json(_purge(transactionId=" 1.5")),
        _json(_purge(transactionId="1.5\n")),
        _json(_purge(transactionId="1." + "9" * 19)),
        _json(_purge(transactionId=1.5)),
        _json([_purge()]),
        "",
    ],
)
def test_parse_purge_refuses(contents: str) -> None:
    with pytest.raises(MalformedInput):
        p.parse_purge(contents)


@pytest.mark.parametrize("reason", ["", " ", "x" * 513])
def test_purge_record_refuses_a_bad_reason(reason: str) -> None:
    with pytest.raises(MalformedInput):
        p.purge_record("prices", "1.5", reason)


# --- disclosures --------------------------------------------------------------------------------


def _disclosure(
    contents: str = "the contents", salt: bytes = SALT
) -> tuple[dict[str, object], bytes]:
    record = p.PrivateRecord("prices", _commit(salt, contents.encode()), H2).to_bytes()
    body = p.disclosure_json({"a": "receipt"}, record.decode(), contents, salt)
    return body, hashlib.sha256(record).digest()


def test_disclosure_round_trip_and_verify() -> None:
    body, leaf = _disclosure()
    assert body["format"] == "accord.disclosure.v1" and body["salt"] == SALT.hex()
    for form in (body, json.dumps(body), json.dumps(body).encode()):
        parsed = p.parse_disclosure(form)
        assert parsed == p.Disclosure({"a": "receipt"}, str(body["record"]), "the contents", SALT)
        record = p.verify_disclosure_contents(parsed, leaf, "prices")
        assert record.collection_id == "prices"


@pytest.mark.parametrize(
    "change",
    [
        {"format": "accord.disclosure.v2"},
        {"salt": SALT.hex().upper()},
        {"salt": SALT.hex()[:-2]},
        {"salt": SALT.hex() + "00"},
        {"salt": 5},
        {"record": {"not": "a string"}},
        {"contents": 5},
        {"extra": 1},
    ],
)
def test_parse_disclosure_refuses(change: dict[str, object]) -> None:
    body, _ = _disclosure()
    with pytest.raises(MalformedInput):
        p.parse_disclosure({**body, **change})


@pytest.mark.parametrize("data", ["[]", "null", "{", '{"format":"accord.disclosure.v1"}', b"\xff"])
def test_parse_disclosure_refuses_text(data: str | bytes) -> None:
    with pytest.raises(MalformedInput):
        p.parse_disclosure(data)


def test_parse_disclosure_needs_every_key() -> None:
    body, _ = _disclosure()
    for key in body:
        with pytest.raises(MalformedInput):
            p.parse_disclosure({k: v for k, v in body.items() if k != key})


def test_verify_disclosure_refuses_a_flipped_contents_byte() -> None:
    body, leaf = _disclosure("price=100")
    forged = p.parse_disclosure({**body, "contents": "price=900"})
    with pytest.raises(VerificationError, match="commitment"):
        p.verify_disclosure_contents(forged, leaf, "prices")
    flipped = p.parse_disclosure({**body, "contents": "price=101"})
    with pytest.raises(VerificationError):
        p.verify_disclosure_contents(flipped, leaf, "prices")


def test_verify_disclosure_refuses_a_wrong_salt() -> None:
    body, leaf = _disclosure()
    wrong = bytearray(SALT)
    wrong[0] ^= 1
    with pytest.raises(VerificationError, match="commitment"):
        p.verify_disclosure_contents(
            p.parse_disclosure({**body, "salt": wrong.hex()}), leaf, "prices"
        )


def test_verify_disclosure_refuses_a_record_that_is_not_the_leafs() -> None:
    body, leaf = _disclosure()
    other_leaf = bytes([leaf[0] ^ 1]) + leaf[1:]
    with pytest.raises(VerificationError, match="contentsSha256"):
        p.verify_disclosure_contents(p.parse_disclosure(body), other_leaf, "prices")
    # a record re-encoded (same values, not the leaf's bytes) is not the leaf's either
    spaced = json.dumps(json.loads(str(body["record"])))
    with pytest.raises(VerificationError):
        p.verify_disclosure_contents(p.parse_disclosure({**body, "record": spaced}), leaf, "prices")


def test_verify_disclosure_refuses_records_that_do_not_parse() -> None:
    body, _ = _disclosure()
    for record in ("not a record", "\ud800", _json(dict(_record(), format="x"))):
        d = p.parse_disclosure({**body, "record": record})
        with pytest.raises(VerificationError):
            p.verify_disclosure_contents(d, hashlib.sha256(b"x").digest(), "prices")
    lone = p.parse_disclosure({**body, "contents": "\udc00"})
    with pytest.raises(VerificationError):
        leaf = hashlib.sha256(str(body["record"]).encode()).digest()
        p.verify_disclosure_contents(lone, leaf, "prices")


def test_verify_disclosure_refuses_a_record_of_another_collection_than_the_leafs() -> None:
    """The record must name the collection of the entry the receipt proves: a record someone
    wrote as the contents of a public entry elsewhere does not disclose a private one."""
    body, leaf = _disclosure()
    assert p.verify_disclosure_contents(p.parse_disclosure(body), leaf, "prices")
    with pytest.raises(VerificationError, match=r"names collection 'prices'.*'scratch'"):
        p.verify_disclosure_contents(p.parse_disclosure(body), leaf, "scratch")


# --- the replicated state and private.create ----------------------------------------------------


def _create(
    collection: object = "prices", readers: object = ("org-b", "org-a"), retention: object = None
) -> dict[str, object]:
    readers = list(readers) if isinstance(readers, tuple) else readers
    return {
        "collection": {"collectionId": collection, "readers": readers, "retentionMs": retention}
    }


def test_parse_create() -> None:
    create = p.parse_create(_create())
    assert create == p.CreateCollection("prices", ("org-a", "org-b"), None)
    assert p.parse_create(_create(retention=1000)).retention_ms == 1000
    assert p.parse_create(_create(retention=p.MAX_RETENTION_MS)).retention_ms == p.MAX_RETENTION_MS
    assert len(p.parse_create(_create(readers=[f"m{i}" for i in range(64)])).readers) == 64
    action = p.private_create_action("prices", ["org-b", "org-a"], 5000)
    assert action["type"] == "private.create"
    assert p.parse_create({k: v for k, v in action.items() if k != "type"}) == p.CreateCollection(
        "prices", ("org-a", "org-b"), 5000
    )


@pytest.mark.parametrize(
    "args",
    [
        {},
        {"collection": "prices"},
        dict(_create(), extra=1),
        {"collection": {"collectionId": "prices", "readers": ["org-a"]}},
        {"collection": {**cast(dict[str, object], _create()["collection"]), "extra": 1}},
        _create(collection="accord.private"),
        _create(collection="accord.documents"),
        _create(collection="accord.anything"),
        _create(collection="no spaces"),
        _create(collection=""),
        _create(collection="x" * 129),
        _create(collection=5),
        _create(readers=[]),
        _create(readers="org-a"),
        _create(readers=["org-a", "org-a"]),
        _create(readers=["org-a", 5]),
        _create(readers=[f"m{i}" for i in range(65)]),
        _create(retention=999),
        _create(retention=0),
        _create(retention=-1000),
        _create(retention=p.MAX_RETENTION_MS + 1),
        _create(retention=True),
        _create(retention=1000.0),
        _create(retention="1000"),
    ],
)
def test_parse_create_refuses(args: dict[str, object]) -> None:
    with pytest.raises(MalformedInput):
        p.parse_create(args)


MEMBERS = {"org-a": object(), "org-b": object(), "org-c": object()}
KEYS: dict[str, bytes | None] = {"org-a": KEY_A, "org-b": KEY_B, "org-c": None}


def test_apply_create() -> None:
    empty = p.PrivateState()
    state = p.apply_create(
        empty, p.parse_create(_create()), members=MEMBERS, member_keys=KEYS, seqno=9
    )
    assert empty.collections == {}  # not changed in place
    collection = state.get("prices")
    assert collection == p.PrivateCollection("prices", ("org-a", "org-b"), None, 9)
    assert collection is not None and not collection.covers(9) and collection.covers(10)
    assert state.get("prices", 9) is None and state.get("prices", 10) == collection
    assert state.get("other") is None
    assert state.to_json() == {
        "collections": [
            {
                "collectionId": "prices",
                "readers": ["org-a", "org-b"],
                "retentionMs": None,
                "since": 9,
            }
        ]
    }
    assert state == p.PrivateState({"prices": collection}) and hash(state) == hash(
        p.PrivateState({"prices": collection})
    )
    assert state != empty and state != "not a state"


@pytest.mark.parametrize(
    ("args", "members", "keys", "match"),
    [
        (_create(readers=["org-a", "org-x"]), MEMBERS, KEYS, "not a member"),
        (_create(readers=["org-a", "org-c"]), MEMBERS, KEYS, "no encryption key"),
        (_create(readers=["org-a", "org-b"]), MEMBERS, {"org-a": KEY_A}, "no encryption key"),
        (_create(readers=["org-a"]), MEMBERS, {}, "no encryption key"),
    ],
)
def test_apply_create_refuses(
    args: dict[str, object], members: dict[str, object], keys: dict[str, bytes | None], match: str
) -> None:
    create = p.parse_create(args)
    with pytest.raises(Conflict, match=match):
        p.apply_create(p.PrivateState(), create, members=members, member_keys=keys, seqno=2)
    if "org-c" in create.readers:  # fine once org-c has a key
        ok = dict(keys, **{"org-c": KEY_B})
        p.apply_create(p.PrivateState(), create, members=members, member_keys=ok, seqno=2)


def test_apply_create_refuses_a_collection_private_already() -> None:
    create = p.parse_create(_create(readers=["org-a"]))
    state = p.apply_create(p.PrivateState(), create, members=MEMBERS, member_keys=KEYS, seqno=2)
    again = p.parse_create(_create(readers=["org-b"]))
    with pytest.raises(Conflict, match="private already"):
        p.apply_create(state, again, members=MEMBERS, member_keys=KEYS, seqno=5)


def test_private_collection_expiry_boundaries() -> None:
    kept = p.PrivateCollection("c", ("org-a",), None, 1)
    assert not kept.expired(0, 10**15)
    short = p.PrivateCollection("c", ("org-a",), 1000, 1)
    assert not short.expired(5000, 5999)
    assert short.expired(5000, 6000)


def test_private_state_of_extensions() -> None:
    assert p.private_state({}) == p.PrivateState()
    assert p.private_state({"private": "not a state"}) == p.PrivateState()
    state = p.PrivateState({"c": p.PrivateCollection("c", ("org-a",), None, 1)})
    assert p.private_state({"private": state}) is state
    with pytest.raises(TypeError):
        state.collections["d"] = state.collections["c"]  # type: ignore[index]


# --- members' encryption keys -------------------------------------------------------------------


def test_member_json_round_trip_with_and_without_an_encryption_key() -> None:
    plain = A.member
    assert plain.encryption_key is None
    assert "encryptionKey" not in plain.to_json()
    assert Member.from_json(plain.to_json()) == plain
    keyed = replace(plain, encryption_key=KEY_A)
    obj = keyed.to_json()
    assert obj["encryptionKey"] == base64.b64encode(KEY_A).decode()
    assert Member.from_json(obj) == keyed
    assert Member.from_json(json.loads(json.dumps(obj))) == keyed


def test_member_json_of_before_encryption_keys_still_parses() -> None:
    old = {
        k: v
        for k, v in A.member.to_json().items()
        if k in ("name", "memberKey", "cosigner", "adminUser")
    }
    assert Member.from_json(old) == A.member
    # and a genesis document written before encryption keys still starts a consortium
    state = genesis_state(genesis_text(), seqno=1, timestamp_ms=0)
    assert all(m.encryption_key is None for m in state.members.values())


@pytest.mark.parametrize(
    "key",
    [
        "",
        base64.b64encode(bytes(31)).decode(),
        "not base64 at all, not base64 at all, not b",
        5,
        [],
    ],
)
def test_member_json_refuses_a_bad_encryption_key(key: object) -> None:
    with pytest.raises(MalformedInput):
        Member.from_json(dict(A.member.to_json(), encryptionKey=key))


def test_member_refuses_an_encryption_key_that_is_not_32_bytes() -> None:
    with pytest.raises(MalformedInput):
        replace(A.member, encryption_key=bytes(31))
    with pytest.raises(MalformedInput):
        replace(A.member, encryption_key="x" * 32)  # type: ignore[arg-type]


def test_member_json_refuses_other_extra_keys() -> None:
    with pytest.raises(MalformedInput):
        Member.from_json(dict(A.member.to_json(), encryptionKeys=p.encode_key(KEY_A)))


def _passed(chain: Chain, note: str, voter: Org = B) -> str:
    """Vote ``note``'s proposal through; the proposal's final state and reason."""
    chain.vote(voter, pid_of(note), True)
    proposal = chain.state.proposals[pid_of(note)]
    return f"{proposal.state}: {proposal.reason}"


def _chain_with_keys() -> Chain:
    chain = Chain()
    for org, key in ((A, KEY_A), (B, KEY_B)):
        note = chain.propose(org, encryption_key_action(org.member.name, key))
        chain.vote(C, pid_of(note), True)
        assert chain.last.accepted, chain.last.reason
    return chain


def test_encryption_key_action_sets_and_rotates_a_key() -> None:
    chain = _chain_with_keys()
    assert chain.state.members["org-a"].encryption_key == KEY_A
    assert chain.state.members["org-b"].encryption_key == KEY_B
    assert chain.state.members["org-c"].encryption_key is None
    note = chain.propose(A, encryption_key_action("org-a", KEY_B))
    chain.vote(B, pid_of(note), True)
    assert chain.state.members["org-a"].encryption_key == KEY_B


def test_encryption_key_action_refusals() -> None:
    chain = Chain()
    note = chain.propose(A, encryption_key_action("org-x", KEY_A))
    outcome = _passed(chain, note)
    assert outcome.startswith("rejected") and "not a member" in outcome
    # a bad action does not even make a signed note (the fold parses notes the same way)
    bad = {"type": "member.encryption-key", "member": "org-a", "encryptionKey": "AAAA"}
    with pytest.raises(MalformedInput, match="encryption key"):
        chain.propose(A, bad)
    with pytest.raises(MalformedInput):
        chain.propose(A, dict(encryption_key_action("org-a", KEY_A), extra=1))
    with pytest.raises(MalformedInput):
        chain.propose(A, dict(p.private_create_action("accord.x", ["org-a"])))


def test_private_create_through_governance() -> None:
    chain = _chain_with_keys()
    note = chain.propose(A, p.private_create_action("prices", ["org-a", "org-b"], None))
    assert chain.state.extensions.get("private") is None  # open, not yet accepted
    chain.vote(B, pid_of(note), True)
    assert chain.last.accepted, chain.last.reason
    ballot_seqno = chain.state.last_seqno
    collection = p.private_state(chain.state.extensions).get("prices")
    assert collection == p.PrivateCollection("prices", ("org-a", "org-b"), None, ballot_seqno)
    # the same collection again, or one read by a member without a key, is refused
    note = chain.propose(A, p.private_create_action("prices", ["org-a"]))
    outcome = _passed(chain, note)
    assert outcome.startswith("rejected") and "private already" in outcome
    note = chain.propose(A, p.private_create_action("other", ["org-a", "org-c"]))
    outcome = _passed(chain, note)
    assert outcome.startswith("rejected") and "no encryption key" in outcome
    note = chain.propose(A, p.private_create_action("other", ["org-a", "org-x"]))
    outcome = _passed(chain, note)
    assert outcome.startswith("rejected") and "not a member" in outcome
    assert set(p.private_state(chain.state.extensions).collections) == {"prices"}


def test_a_removed_reader_member_is_no_longer_a_reader() -> None:
    chain = _chain_with_keys()
    note = chain.propose(A, p.private_create_action("prices", ["org-a", "org-b"]))
    chain.vote(B, pid_of(note), True)
    note = chain.propose(A, member_remove_action("org-b"))
    chain.vote(C, pid_of(note), True)
    collection = p.private_state(chain.state.extensions).get("prices")
    assert collection is not None
    assert collection.readers == ("org-a",) and "org-b" not in chain.state.members


def test_drop_reader() -> None:
    both = p.PrivateState(
        {
            "prices": p.PrivateCollection("prices", ("org-a", "org-b"), None, 5),
            "solo": p.PrivateCollection("solo", ("org-b",), None, 6),
            "other": p.PrivateCollection("other", ("org-a",), None, 7),
        }
    )
    dropped = p.drop_reader(both, "org-b")
    assert dropped.collections["prices"].readers == ("org-a",)
    assert dropped.collections["solo"].readers == ()
    assert dropped.collections["other"] == both.collections["other"]
    assert p.drop_reader(both, "org-x") == both


# --- the sealed slots the applier checks without any key ----------------------------------------


def _sealed(wrapped: object, **change: object) -> bytes:
    obj: dict[str, object] = {
        "ciphertext": "AAAA",
        "format": "accord.sealed.v1",
        "nonce": "AAAA",
        "suite": "HPKE-base-X25519-HKDF-SHA256-AES-256-GCM",
        "wrapped": wrapped,
    }
    return canonicalize({**obj, **change})


def _slot(member: str, key: bytes) -> dict[str, str]:
    return {"key": "AAAA", "keyId": p.key_id(key), "member": member}


def test_check_sealed_slots_accepts_one_slot_per_reader_under_its_current_key() -> None:
    readers = {"org-a": KEY_A, "org-b": KEY_B}
    p.check_sealed_slots(_sealed([_slot("org-a", KEY_A), _slot("org-b", KEY_B)]), readers)


@pytest.mark.parametrize(
    ("sealed", "match"),
    [
        (_sealed([_slot("org-a", KEY_A)]), "not to every reader"),  # a reader left out
        (_sealed([_slot("org-b", KEY_B), _slot("org-a", KEY_A)]), "not to every reader"),  # order
        (_sealed([_slot("org-a", KEY_A)] * 2 + [_slot("org-b", KEY_B)]), "not to every reader"),
        (
            _sealed([_slot("org-a", KEY_A), _slot("org-b", KEY_B), _slot("org-c", KEY_B)]),
            "not to every reader",
        ),
        (_sealed([_slot("org-a", KEY_A), _slot("org-b", KEY_A)]), "not its current"),  # stale key
        (_sealed([_slot("org-a", KEY_A), dict(_slot("org-b", KEY_B), x="1")]), "slots"),
        (_sealed("org-a"), "slots"),
        (_sealed([], format="accord.sealed.v0"), "accord.sealed.v1"),
        (_sealed([], suite="HPKE-base-X25519-HKDF-SHA256-CHACHA20"), "suite"),
        (_sealed([], extra=1), "exactly"),
        (b"not sealed at all", "sealed contents"),
        (json.dumps({"format": "accord.sealed.v1"}, indent=1).encode(), "sealed contents"),
    ],
)
def test_check_sealed_slots_refuses(sealed: bytes, match: str) -> None:
    with pytest.raises(MalformedInput, match=match):
        p.check_sealed_slots(sealed, {"org-a": KEY_A, "org-b": KEY_B})


# --- hostile input: the parsers raise only MalformedInput ---------------------------------------


@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
@settings(max_examples=200)
def test_parsers_raise_only_malformed_input(data: bytes | str) -> None:
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    for call in (
        lambda: p.parse_record(data),
        lambda: p.parse_purge(data),
        lambda: p.parse_write(text, "prices"),
        lambda: p.parse_disclosure(data),
        lambda: p.parse_key(text),
    ):
        try:
            call()
        except MalformedInput:
            pass


@given(
    st.dictionaries(
        st.sampled_from(["collectionId", "commitment", "format", "sealedSha256", "x"]),
        st.one_of(
            st.none(), st.integers(), st.text(max_size=70), st.lists(st.integers(), max_size=2)
        ),
    )
)
@settings(max_examples=200)
def test_record_parser_on_json_objects(obj: dict[str, object]) -> None:
    try:
        record = p.parse_record(canonicalize(obj))
    except MalformedInput:
        return
    assert record.to_bytes() == canonicalize(obj)
