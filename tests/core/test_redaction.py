"""Redaction records (accord.core.redaction): the format, the reason rule, the fold, the checks."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.core.canonical import canonicalize
from accord.core.entry import EntryMetadata, TransactionId
from accord.core.redaction import (
    ERASED,
    PENDING,
    REDACTIONS_COLLECTION,
    REDACTIONS_USER,
    RedactionRecord,
    Redactions,
    check_redactable,
    redacted_contents,
    validate_reason,
)
from accord.errors import AuthError, Conflict, InvalidRequest, MalformedInput, VerificationError

CONTENTS = b"Jane Doe, 12 Acacia Avenue"


def target(
    seqno: int = 3, collection: str = "customers", contents: bytes = CONTENTS
) -> EntryMetadata:
    return EntryMetadata(
        TransactionId(1, seqno), collection, (), hashlib.sha256(contents).digest(), "alice", 1
    )


def record_for(entry: EntryMetadata, reason: str = "GDPR art. 17 request 114") -> RedactionRecord:
    return RedactionRecord(entry.transaction_id, entry.contents_sha256, b"\x07" * 32, reason, "bob")


def record_entry(
    record: RedactionRecord,
    seqno: int,
    *,
    user: str = REDACTIONS_USER,
    collection: str = REDACTIONS_COLLECTION,
) -> tuple[EntryMetadata, bytes]:
    contents = record.encode()
    metadata = EntryMetadata(
        TransactionId(1, seqno), collection, (), hashlib.sha256(contents).digest(), user, 2
    )
    return metadata, contents


def test_record_is_canonical_json_with_exactly_its_keys() -> None:
    record = record_for(target())
    data = record.encode()
    obj = json.loads(data)
    assert canonicalize(obj) == data
    assert obj == {
        "by": "bob",
        "ccfClaimsDigest": "07" * 32,
        "contentsSha256": hashlib.sha256(CONTENTS).hexdigest(),
        "format": "accord.redaction.v1",
        "reason": "GDPR art. 17 request 114",
        "transactionId": "1.3",
    }
    assert RedactionRecord.parse(data) == record


@pytest.mark.parametrize(
    "change",
    [
        lambda o: o.pop("reason"),
        lambda o: o.update(extra=1),
        lambda o: o.update(format="accord.redaction.v2"),
        lambda o: o.update(contentsSha256="AB" * 32),
        lambda o: o.update(ccfClaimsDigest="00" * 31),
        lambda o: o.update(transactionId="1.03"),
        lambda o: o.update(reason=""),
        lambda o: o.update(reason="x" * 513),
        lambda o: o.update(reason="line\nbreak"),
        lambda o: o.update(by=""),
        lambda o: o.update(by=7),
    ],
)
def test_a_malformed_record_does_not_parse(change: object) -> None:
    obj = json.loads(record_for(target()).encode())
    change(obj)  # type: ignore[operator]
    with pytest.raises(MalformedInput):
        RedactionRecord.parse(canonicalize(obj))


def test_a_record_that_is_not_canonical_does_not_parse() -> None:
    obj = json.loads(record_for(target()).encode())
    with pytest.raises(MalformedInput):
        RedactionRecord.parse(json.dumps(obj, indent=1).encode())


@pytest.mark.parametrize("reason", ["x", "x" * 512, "Art. 17 — Löschung ✓", "a b"])
def test_valid_reasons(reason: str) -> None:
    assert validate_reason(reason) == reason


@pytest.mark.parametrize(
    "reason", ["", " ", "\t", "x" * 513, "a\nb", "a\x00b", "\x7f", "a\x85b", "\ud800", None, 5]
)
def test_invalid_reasons(reason: object) -> None:
    with pytest.raises(InvalidRequest):
        validate_reason(reason)


@given(st.text(min_size=1, max_size=512))
def test_every_accepted_reason_round_trips_through_a_record(reason: str) -> None:
    try:
        validate_reason(reason)
    except InvalidRequest:
        return
    record = record_for(target(), reason)
    assert RedactionRecord.parse(record.encode()).reason == reason


def test_fold_indexes_records_by_the_entry_they_redact() -> None:
    redactions = Redactions()
    a, b = target(3), target(5, contents=b"other")
    first = redactions.add(*record_entry(record_for(a), 9))
    second = redactions.add(*record_entry(record_for(b), 12))
    assert redactions.get(3) == first and first.record_id == TransactionId(1, 9)
    assert redactions.get(5) == second and redactions.newest == second
    assert redactions.get(4) is None
    assert list(redactions) == [3, 5] and len(redactions) == 2
    assert redactions.last_record_seqno == 12


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        (lambda r: record_entry(r, 9, user="alice"), "written by 'alice'"),
        (lambda r: record_entry(r, 9, collection="customers"), "is in collection"),
        (lambda r: record_entry(r, 3), "not an earlier entry"),
        (lambda r: record_entry(r, 2), "not an earlier entry"),
        (lambda r: (record_entry(r, 9)[0], r.encode() + b" "), "contents are not the ones"),
        (lambda r: (record_entry(r, 9)[0], b"{}"), "contents are not the ones"),
    ],
)
def test_fold_refuses_records_the_ledger_could_not_have_written(entry: object, match: str) -> None:
    with pytest.raises(MalformedInput, match=match):
        Redactions().add(*entry(record_for(target(3))))  # type: ignore[operator]


def test_fold_refuses_a_second_record_for_one_entry_and_records_out_of_order() -> None:
    redactions = Redactions()
    redactions.add(*record_entry(record_for(target(3)), 9))
    with pytest.raises(MalformedInput, match="again"):
        redactions.add(*record_entry(record_for(target(3), "twice"), 10))
    with pytest.raises(MalformedInput, match="comes after"):
        redactions.add(*record_entry(record_for(target(4, contents=b"4")), 8))
    assert list(redactions) == [3]  # a refused record changes nothing


def test_check_redactable() -> None:
    redactions = Redactions()
    check_redactable(target(3), redactions)
    for reserved in ("accord.documents", "accord.redactions", "accord.governance"):
        with pytest.raises(AuthError, match="accord's own records"):
            check_redactable(target(3, collection=reserved), redactions)
    redactions.add(*record_entry(record_for(target(3)), 9))
    with pytest.raises(Conflict, match=r"already redacted \(by redaction record 1\.9\)"):
        check_redactable(target(3), redactions)


def test_redacted_contents_erased_pending_or_tampered() -> None:
    entry = target(3)
    redactions = Redactions()
    redaction = redactions.add(*record_entry(record_for(entry), 9))
    assert redacted_contents(entry, b"", redaction) == ERASED
    assert redacted_contents(entry, CONTENTS, redaction) == PENDING
    with pytest.raises(VerificationError, match="changed, not erased"):
        redacted_contents(entry, b"Jane Doe", redaction)
    other = target(3, contents=b"something else")  # the record names other contents
    with pytest.raises(VerificationError, match="contentsSha256"):
        redacted_contents(other, b"", redaction)
    with pytest.raises(VerificationError, match="names transaction"):
        redacted_contents(target(4), b"", redaction)
