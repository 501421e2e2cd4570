"""The offline audit of a node's private contents (accord.private.audit.audit_private), on data
directories made by applying a consortium's stream to a real ledger and sealed store.

``accord verify --data`` runs it on a real node's directory in tests/private/
test_private_consortium.py; here each defect is made by hand and must be reported as such.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from accord.core.private import PURGE_COLLECTION, purge_record
from accord.log.ledger import LedgerReader
from accord.private.audit import PrivateReport, audit_private
from tests.core.test_consortium import A, B, C
from tests.private.test_apply_private import Consortium, Node, _accepted_before_the_check


@pytest.fixture(autouse=True)
def node_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """The node's settings name its organization: the directory's name, here."""
    monkeypatch.setattr(
        "accord.consortium.runtime.load_node_files",
        lambda data: SimpleNamespace(settings=SimpleNamespace(member=data.path.name)),
    )


def audit(node: Node) -> PrivateReport:
    node.ledger.close()
    node.private.store.close()
    data = SimpleNamespace(
        path=node.directory,
        open_reader=lambda: LedgerReader.open(
            str(node.directory / "ledger.db"), node.signer.verifier()
        ),
    )
    report = audit_private(data)
    assert report is not None
    return report


@pytest.fixture
def consortium() -> Consortium:
    c = Consortium()
    c.create()
    return c


@pytest.fixture
def made(tmp_path: Path, consortium: Consortium) -> Iterator[dict[str, Any]]:
    """org-a's and org-c's nodes after three private writes, one public entry and one purge."""
    first, _, one = consortium.write(A, "alice", "first")
    second, _, two = consortium.write(B, "bob", "second")
    public, _ = consortium.entry(C, "carol", "public", "subledger:0")
    third, _, three = consortium.write(A, "alice", "third")
    purge, _ = consortium.entry(
        B, "admin-org-b", purge_record("prices", f"1.{second}", "GDPR"), PURGE_COLLECTION
    )
    nodes = {m: Node(tmp_path, m, consortium) for m in ("org-a", "org-c")}
    for node in nodes.values():
        node.catch_up()
    yield {
        "nodes": nodes,
        "seqnos": (first, second, third),
        "sealed": {first: one.sealed, second: two.sealed, third: three.sealed},
        "purge": purge,
        "public": public,
    }


def _delete_row(node: Node, seqno: int) -> None:
    db = sqlite3.connect(node.directory / "private" / "sealed.db")
    db.execute("DELETE FROM sealed WHERE seqno = ?", (seqno,))
    db.commit()
    db.close()


def test_a_directory_without_a_store_is_not_audited(tmp_path: Path) -> None:
    data = SimpleNamespace(path=tmp_path, open_reader=None)
    assert audit_private(data) is None


def test_a_sound_directory(made: dict[str, Any]) -> None:
    _, second, _ = made["seqnos"]
    report = audit(made["nodes"]["org-a"])
    assert report.organization == "org-a"
    assert report.problems == []
    assert report.checked == 3 and report.held == 2
    assert report.purged == [(f"1.{second}", f"purge 1.{made['purge']}")]


def test_a_non_reader_has_nothing_to_audit(made: dict[str, Any]) -> None:
    report = audit(made["nodes"]["org-c"])
    assert report.organization == "org-c"
    assert (report.checked, report.held, report.purged, report.problems) == (0, 0, [], [])


def test_missing_contents_are_a_problem(made: dict[str, Any]) -> None:
    first, _, _ = made["seqnos"]
    node = made["nodes"]["org-a"]
    node.private.store.close()
    _delete_row(node, first)
    report = audit(node)
    assert len(report.problems) == 1
    assert f"1.{first} (prices)" in report.problems[0] and "never purged" in report.problems[0]


def test_tampered_contents_are_a_problem(made: dict[str, Any]) -> None:
    first, _, third = made["seqnos"]
    node = made["nodes"]["org-a"]
    store = node.private.store
    # another entry's sealed bytes under this one's seqno, and bytes changed in place
    store.put_many([(first, "prices", 0, store.get(third) or b"")])
    db = sqlite3.connect(node.directory / "private" / "sealed.db")
    db.execute(
        "UPDATE sealed SET sealed = CAST(? || sealed AS BLOB) WHERE seqno = ?", (b" ", third)
    )
    db.commit()
    db.close()
    report = audit(node)
    assert len(report.problems) == 2
    assert all("not the ones the entry's record names" in p for p in report.problems)
    assert report.held == 0


def test_a_sealed_value_of_another_sqlite_type_is_reported(made: dict[str, Any]) -> None:
    """A value stored as TEXT (a hand edit, the sqlite3 shell): reported, not a crash."""
    first, _, _ = made["seqnos"]
    node = made["nodes"]["org-a"]
    node.private.store.close()
    db = sqlite3.connect(node.directory / "private" / "sealed.db")
    db.execute("UPDATE sealed SET sealed = 'tampered' WHERE seqno = ?", (first,))
    db.commit()
    db.close()
    report = audit(node)
    assert len(report.problems) == 1, report
    assert f"1.{first} (prices)" in report.problems[0] and "not bytes" in report.problems[0]
    assert report.checked == 3 and report.held == 1  # the others are still audited


def test_an_erasure_no_purge_record_explains_is_a_problem(made: dict[str, Any]) -> None:
    first, _, _ = made["seqnos"]
    node = made["nodes"]["org-a"]
    node.private.store.purge(first, "prices", "1.999")
    report = audit(node)
    assert len(report.problems) == 1
    assert "no purge record on the ledger names it" in report.problems[0]


def test_contents_past_their_retention_are_purged_not_missing(
    tmp_path: Path, consortium: Consortium
) -> None:
    consortium.create("quotes", ("org-a", "org-b"), retention=60_000)
    seqno, _, _ = consortium.write(A, "alice", "short-lived", "quotes")
    kept, _, _ = consortium.write(A, "alice", "still held", "quotes")
    consortium.tick(120_000)
    consortium.entry(A, "alice", "later", "subledger:0")  # the ledger's time moves on
    node = Node(tmp_path, "org-a", consortium)
    node.catch_up()
    node.private.expire(consortium.state, consortium.appliers[0].ledger_time)
    report = audit(node)
    assert report.problems == []
    assert {txid for txid, _ in report.purged} == {f"1.{seqno}", f"1.{kept}"}
    assert all(by == "its collection's retention" for _, by in report.purged)


def test_contents_a_purge_should_have_erased_are_a_problem(made: dict[str, Any]) -> None:
    """Held contents a purge record names are not counted as held: a purge that did not erase
    does not pass."""
    _, second, _ = made["seqnos"]
    node = made["nodes"]["org-a"]
    assert node.private.store.purged_by(second) == f"1.{made['purge']}"
    # the purged contents are back (a fetch from a peer racing the purge, a restored backup)
    node.private.store.put_many([(second, "prices", 0, made["sealed"][second])])
    report = audit(node)
    assert len(report.problems) == 1, report
    problem = report.problems[0]
    assert f"1.{second} (prices): purged by 1.{made['purge']}" in problem
    assert "still held" in problem
    assert report.held == 2 and report.purged == []


def test_contents_held_although_a_marker_says_purged_are_a_problem(made: dict[str, Any]) -> None:
    """No purge record names it, but the node's own marker says it erased it."""
    first, _, _ = made["seqnos"]
    node = made["nodes"]["org-a"]
    db = sqlite3.connect(node.directory / "private" / "sealed.db")
    db.execute("INSERT INTO purged VALUES (?, 'prices', '1.999')", (first,))
    db.commit()
    db.close()
    report = audit(node)
    assert len(report.problems) == 1, report
    assert f"1.{first} (prices): purged by 1.999" in report.problems[0]
    assert "still held" in report.problems[0]


def test_a_purge_record_of_another_collection_does_not_excuse_missing_contents(
    tmp_path: Path, consortium: Consortium
) -> None:
    consortium.create("salaries", ("org-a", "org-c"))
    seqno, _, _ = consortium.write(C, "carol", "salaries", "salaries")
    # org-b reads "prices" only; its purge names the salaries entry: accepted, carried out nowhere
    consortium.entry(
        B, "admin-org-b", purge_record("prices", f"1.{seqno}", "cover"), PURGE_COLLECTION
    )
    node = Node(tmp_path, "org-a", consortium)
    node.catch_up()
    assert node.private.store.get(seqno) is not None
    node.private.store.close()
    _delete_row(node, seqno)  # then the contents go missing at org-a
    report = audit(node)
    assert len(report.problems) == 1, report
    assert f"1.{seqno} (salaries)" in report.problems[0]
    assert "never purged" in report.problems[0]
    assert report.purged == []


def test_a_purge_record_after_which_the_entry_came_does_not_excuse_missing_contents(
    tmp_path: Path, consortium: Consortium
) -> None:
    """A purge record naming a later entry (which an applier from before that check ordered)
    erased nothing: it does not explain missing contents."""
    upcoming = consortium.appliers[0].next_seqno + 1
    record = purge_record("prices", f"1.{upcoming}", "early")
    pseqno, _ = consortium.entry(A, "admin-org-a", record, PURGE_COLLECTION)
    _accepted_before_the_check(consortium, pseqno, record)
    seqno, _, _ = consortium.write(A, "alice", "written after the purge")
    assert seqno == upcoming
    node = Node(tmp_path, "org-a", consortium)
    node.catch_up()
    assert node.private.store.get(seqno) is not None
    node.private.store.close()
    _delete_row(node, seqno)
    report = audit(node)
    assert len(report.problems) == 1, report
    assert f"1.{seqno} (prices)" in report.problems[0]
    assert "never purged" in report.problems[0]
    assert report.purged == []
