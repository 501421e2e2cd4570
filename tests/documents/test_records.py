"""The pure rules of the document store: records, retention, legal hold, the fold."""

from __future__ import annotations

from typing import Any

import pytest

from accord.documents.records import (
    COMPLIANCE,
    DAY_MS,
    GOVERNANCE,
    DefaultRetention,
    DocumentState,
    Retention,
    check_default_change,
    check_deletable,
    check_retention_change,
    decode_record,
    encode_record,
    validate_container,
    validate_key,
    validate_metadata,
)
from accord.errors import Conflict, DocumentLocked, InvalidRequest, MalformedInput, NotFound

T0 = 1_800_000_000_000
SHA = "ab" * 32


class Fold:
    """Drive a DocumentState the way the store does: check, then apply at the next seqno."""

    def __init__(self) -> None:
        self.state = DocumentState()
        self.seqno = 0

    def do(self, op: str, *, by: str = "alice", time: int = T0, **fields: Any) -> str:
        record = decode_record(encode_record(op, fields, by=by, time=time))
        self.state.check(record)
        self.seqno += 1
        vid = f"1.{self.seqno}"
        self.state.apply(record, vid, self.seqno)
        return vid

    def put(
        self,
        key: str = "k",
        *,
        retention: Retention | None = None,
        hold: bool = False,
        time: int = T0,
        container: str = "coa",
    ) -> str:
        return self.do(
            "version.put",
            container=container,
            key=key,
            sha256=SHA,
            size=3,
            contentType="text/plain",
            metadata={},
            legalHold=hold,
            retention=retention.to_json() if retention else None,
            time=time,
        )


@pytest.fixture
def fold() -> Fold:
    f = Fold()
    f.do("container.create", container="coa", objectLock=True, defaultRetention=None)
    return f


def test_record_is_canonical_and_round_trips() -> None:
    text = encode_record(
        "container.create",
        {"container": "coa", "objectLock": True, "defaultRetention": None},
        by="u",
        time=5,
    )
    assert text.startswith('{"by":"u","container":"coa"')
    assert decode_record(text)["op"] == "container.create"
    with pytest.raises(MalformedInput):
        decode_record('{"format":"accord.document.v1","op":"nope","by":"u","time":1}')
    with pytest.raises(MalformedInput):
        decode_record('{"format":"other","op":"version.put","by":"u","time":1}')


def test_versions_accumulate_and_delete_markers_hide_the_latest(fold: Fold) -> None:
    v1, v2 = fold.put(), fold.put()
    c = fold.state.container("coa")
    assert [v.version_id for v in c.objects["k"]] == [v1, v2]
    marker = fold.do("version.delete_marker", container="coa", key="k")
    latest = c.latest("k")
    assert latest is not None and latest.delete_marker and latest.version_id == marker
    assert c.version("k", v1).sha256 == SHA  # older versions stay readable


def test_compliance_retention_blocks_deletion_and_shortening(fold: Fold) -> None:
    until = T0 + 10 * DAY_MS
    v = fold.put(retention=Retention(COMPLIANCE, until))
    with pytest.raises(DocumentLocked, match="COMPLIANCE"):
        fold.do("version.delete", container="coa", key="k", versionId=v, bypass=True)
    with pytest.raises(DocumentLocked, match="never shortened"):
        fold.do(
            "version.retention",
            container="coa",
            key="k",
            versionId=v,
            bypass=True,
            retention=Retention(COMPLIANCE, until - 1).to_json(),
        )
    with pytest.raises(DocumentLocked):
        fold.do(
            "version.retention", container="coa", key="k", versionId=v, bypass=True, retention=None
        )
    with pytest.raises(DocumentLocked):  # weakening the mode is shortening in disguise
        fold.do(
            "version.retention",
            container="coa",
            key="k",
            versionId=v,
            bypass=True,
            retention=Retention(GOVERNANCE, until + DAY_MS).to_json(),
        )
    fold.do(
        "version.retention",
        container="coa",
        key="k",
        versionId=v,
        bypass=False,
        retention=Retention(COMPLIANCE, until + DAY_MS).to_json(),
    )
    assert fold.state.container("coa").version("k", v).retention == Retention(
        COMPLIANCE, until + DAY_MS
    )
    # once the date has passed, deletion is allowed
    fold.do(
        "version.delete", container="coa", key="k", versionId=v, bypass=False, time=until + DAY_MS
    )
    with pytest.raises(NotFound):
        fold.state.container("coa").version("k", v)


def test_governance_retention_yields_only_to_an_explicit_bypass(fold: Fold) -> None:
    v = fold.put(retention=Retention(GOVERNANCE, T0 + DAY_MS))
    with pytest.raises(DocumentLocked, match="bypass"):
        fold.do("version.delete", container="coa", key="k", versionId=v, bypass=False)
    with pytest.raises(DocumentLocked):
        fold.do(
            "version.retention", container="coa", key="k", versionId=v, bypass=False, retention=None
        )
    fold.do("version.retention", container="coa", key="k", versionId=v, bypass=True, retention=None)
    assert fold.state.container("coa").version("k", v).retention is None


def test_legal_hold_blocks_deletion_whatever_the_retention(fold: Fold) -> None:
    v = fold.put(hold=True)
    for bypass in (False, True):
        with pytest.raises(DocumentLocked, match="legal hold"):
            fold.do(
                "version.delete",
                container="coa",
                key="k",
                versionId=v,
                bypass=bypass,
                time=T0 + 1000 * DAY_MS,
            )
    with pytest.raises(DocumentLocked, match="Administrator"):
        fold.do("version.hold", container="coa", key="k", versionId=v, legalHold=False)
    fold.do(
        "version.hold", container="coa", key="k", versionId=v, legalHold=False, administrator=True
    )
    fold.do("version.delete", container="coa", key="k", versionId=v, bypass=False)
    assert "k" not in fold.state.container("coa").objects


def test_no_retention_or_hold_without_object_lock() -> None:
    f = Fold()
    f.do("container.create", container="plain", objectLock=False, defaultRetention=None)
    with pytest.raises(InvalidRequest, match="object lock"):
        f.put(container="plain", hold=True)
    v = f.put(container="plain")
    with pytest.raises(InvalidRequest, match="object lock"):
        f.do("version.hold", container="plain", key="k", versionId=v, legalHold=True)
    with pytest.raises(InvalidRequest, match="object lock"):
        f.do(
            "container.create",
            container="other",
            objectLock=False,
            defaultRetention={"mode": GOVERNANCE, "days": 1},
        )


def test_locked_default_retention_can_only_grow(fold: Fold) -> None:
    fold.do(
        "container.retention",
        container="coa",
        bypass=True,
        defaultRetention={"mode": COMPLIANCE, "days": 30},
    )
    with pytest.raises(DocumentLocked, match="locked"):
        fold.do(
            "container.retention",
            container="coa",
            bypass=True,
            defaultRetention={"mode": COMPLIANCE, "days": 29},
        )
    with pytest.raises(DocumentLocked):
        fold.do("container.retention", container="coa", bypass=True, defaultRetention=None)
    fold.do(
        "container.retention",
        container="coa",
        bypass=False,
        defaultRetention={"mode": COMPLIANCE, "days": 31},
    )
    assert fold.state.container("coa").default_retention == DefaultRetention(COMPLIANCE, 31)


def test_a_refusal_changes_nothing_and_a_bad_record_is_kept_as_refused(fold: Fold) -> None:
    v = fold.put(hold=True)
    record = decode_record(
        encode_record(
            "version.delete",
            {"container": "coa", "key": "k", "versionId": v, "bypass": True},
            by="mallory",
            time=T0,
        )
    )
    fold.state.apply(record, "1.99", 99)  # as if a forged database held it
    assert fold.state.container("coa").version("k", v).legal_hold
    assert [r.version_id for r in fold.state.refused] == ["1.99"]
    assert fold.state.refused[0].container == "coa" and fold.state.refused[0].key == "k"
    with pytest.raises(InvalidRequest):  # out of ledger order
        fold.state.apply(record, "1.50", 50)


def test_duplicate_container_and_unknown_names() -> None:
    f = Fold()
    f.do("container.create", container="coa", objectLock=True, defaultRetention=None)
    with pytest.raises(Conflict):
        f.do("container.create", container="coa", objectLock=True, defaultRetention=None)
    with pytest.raises(NotFound):
        f.put(container="nope")
    with pytest.raises(NotFound):
        f.do("version.hold", container="coa", key="k", versionId="1.7", legalHold=True)


@pytest.mark.parametrize(
    "name", ["ab", "A-bucket", "-abc", "abc-", "a..b", "192.168.1.1", "x" * 64, "bad_name"]
)
def test_bad_container_names(name: str) -> None:
    with pytest.raises(InvalidRequest):
        validate_container(name)


def test_keys_and_metadata_limits() -> None:
    assert validate_key("lot 17/ü.pdf") == "lot 17/ü.pdf"
    for bad in ("", "a\nb", "x" * 1025, "\ud800"):
        with pytest.raises(InvalidRequest):
            validate_key(bad)
    assert validate_metadata({"Lot": "17"}) == {"lot": "17"}
    with pytest.raises(InvalidRequest):
        validate_metadata({"bad name": "x"})
    with pytest.raises(InvalidRequest):
        validate_metadata({"big": "x" * 3000})


def test_pure_checks_directly() -> None:
    r = Retention(GOVERNANCE, T0 + 5)
    check_retention_change(r, Retention(GOVERNANCE, T0 + 6), now=T0, bypass=False)  # extend
    check_retention_change(r, None, now=T0 + 5, bypass=False)  # expired: anything goes
    check_default_change(None, None, bypass=False)
    with pytest.raises(DocumentLocked):
        check_default_change(DefaultRetention(GOVERNANCE, 5), None, bypass=False)
    fold = Fold()
    fold.do("container.create", container="coa", objectLock=True, defaultRetention=None)
    vid = fold.put(retention=r)
    version = fold.state.container("coa").version("k", vid)
    check_deletable(version, now=T0 + 5, bypass=False)
    with pytest.raises(DocumentLocked):
        check_deletable(version, now=T0 + 4, bypass=False)


def test_a_locked_default_binds_every_new_version(fold: Fold) -> None:
    fold.do(
        "container.retention",
        container="coa",
        bypass=False,
        defaultRetention={"mode": COMPLIANCE, "days": 30},
    )
    for weaker in (Retention(GOVERNANCE, T0 + 40 * DAY_MS), Retention(COMPLIANCE, T0 + DAY_MS)):
        with pytest.raises(DocumentLocked, match="locked COMPLIANCE default"):
            fold.put(retention=weaker)
    with pytest.raises(DocumentLocked):
        fold.put(retention=None)  # the store always records the default's date
    vid = fold.put(retention=Retention(COMPLIANCE, T0 + 30 * DAY_MS))
    assert fold.state.container("coa").version("k", vid).retention is not None


def test_governance_default_is_only_a_default(fold: Fold) -> None:
    fold.do(
        "container.retention",
        container="coa",
        bypass=False,
        defaultRetention={"mode": GOVERNANCE, "days": 30},
    )
    fold.put(retention=Retention(GOVERNANCE, T0 + DAY_MS))  # as in S3: a version may override
