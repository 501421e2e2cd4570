"""`tables anchor`'s loop (:func:`accord.tables.anchor.anchor_loop`) against real accord ledgers:
at start it looks up the newest digest of the database already anchored and does not anchor that
block again; a new block is anchored once."""

from __future__ import annotations

import threading
from pathlib import Path

from accord.datadir import init_data_dir
from accord.tables.anchor import LedgerTarget, anchor_digest, anchor_loop, fetch_digests
from accord.tables.database import create_ledger_table, generate_digest
from tests.service.conftest import start_service, stop_service
from tests.tables.conftest import LedgerDatabase


def one_round(db: LedgerDatabase, ledgers: list[LedgerTarget]) -> list[str]:
    """A freshly started loop, stopped after its first round; what it reported."""
    stop = threading.Event()
    lines: list[str] = []

    def report(line: str) -> None:
        lines.append(line)
        if len(lines) == len(ledgers):
            stop.set()

    anchor_loop(db.dsn, ledgers, 0.01, stop, report=report, warn=lines.append)
    return lines


def check_restart_does_not_re_anchor(db: LedgerDatabase, ledger: LedgerTarget) -> None:
    create_ledger_table(db.dsn, "CREATE TABLE t (id int PRIMARY KEY)")
    db.write("INSERT INTO t (id) VALUES (1)")
    digest = generate_digest(db.dsn)
    anchor_digest(digest, ledger)  # what an earlier run of `tables anchor` left
    before = fetch_digests(ledger)

    assert one_round(db, [ledger]) == [f"block 0 is already anchored in {ledger.location}"]
    assert fetch_digests(ledger) == before

    db.write("INSERT INTO t (id) VALUES (2)")
    lines = one_round(db, [ledger])
    assert len(lines) == 1 and lines[0].startswith(f"anchored block 1 in {ledger.location} as ")
    after = fetch_digests(ledger)
    assert len(after) == len(before) + 1 and after[-1].block_id == 1
    assert one_round(db, [ledger]) == [f"block 1 is already anchored in {ledger.location}"]
    assert len(fetch_digests(ledger)) == len(after)


def test_restarted_loop_does_not_re_anchor_into_a_data_directory(
    db: LedgerDatabase, tmp_path: Path
) -> None:
    data = init_data_dir(tmp_path / "data", name="tables.anchor/ledger")
    check_restart_does_not_re_anchor(db, LedgerTarget(str(data.path)))


def test_restarted_loop_does_not_re_anchor_through_a_service(
    db: LedgerDatabase, tmp_path: Path
) -> None:
    data = init_data_dir(tmp_path / "ledger", name="tables.anchor/service")
    proc, url = start_service(data)
    try:
        ledger = LedgerTarget(
            url,
            service_cert=str(data / "service.crt"),
            cert=str(data / "admin.crt"),
            key=str(data / "admin.key"),
        )
        check_restart_does_not_re_anchor(db, ledger)
    finally:
        stop_service(proc)


def test_digests_of_other_databases_do_not_count(db: LedgerDatabase, tmp_path: Path) -> None:
    data = init_data_dir(tmp_path / "data", name="tables.anchor/shared")
    ledger = LedgerTarget(str(data.path))
    other = LedgerDatabase("sqlite", f"sqlite:{tmp_path / 'other.db'}")
    create_ledger_table(other.dsn, "CREATE TABLE t (id int PRIMARY KEY)")
    other.write("INSERT INTO t (id) VALUES (1)")
    anchor_digest(generate_digest(other.dsn), ledger)  # block 0 of another database
    create_ledger_table(db.dsn, "CREATE TABLE t (id int PRIMARY KEY)")
    db.write("INSERT INTO t (id) VALUES (1)")
    lines = one_round(db, [ledger])
    assert len(lines) == 1 and lines[0].startswith("anchored block 0 in ")
