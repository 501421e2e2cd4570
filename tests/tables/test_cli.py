"""`accord tables ...` end to end: create, digest anchored in a data directory, verify, tamper,
and the long-running `anchor` loop stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from accord.cli.main import main
from accord.datadir import init_data_dir
from accord.errors import LedgerLocked
from accord.log.ledger import Ledger
from accord.tables.anchor import LedgerTarget, anchor_digest
from accord.tables.database import generate_digest
from tests.tables.conftest import sql, tampered


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_round_trip(pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = init_data_dir(tmp_path / "data", name="tables.cli/ledger")
    ledger = str(data.path)
    code, out, _ = run(capsys, "tables", "create", "--db", pg_dsn,
                       "CREATE TABLE notes (id int PRIMARY KEY, body text)")  # fmt: skip
    assert code == 0 and "id integer [int], body text [text]" in out
    code, _, err = run(capsys, "tables", "create", "--db", pg_dsn, "DROP TABLE notes")
    assert code == 1 and err.startswith("accord: error: only a plain CREATE TABLE")
    sql(pg_dsn, "INSERT INTO notes VALUES (1, 'hello'), (2, 'world')")

    code, out, _ = run(capsys, "tables", "list", "--db", pg_dsn, "--json")
    assert json.loads(out)[0]["name"] == "notes"
    code, out, err = run(capsys, "tables", "digest", "--db", pg_dsn, "--ledger", ledger)
    assert code == 0 and json.loads(out)["blockId"] == 0 and "anchored block 0" in err
    code, out, _ = run(capsys, "tables", "verify", "--db", pg_dsn, "--ledger", ledger)
    assert code == 0 and "1 anchored digests match" in out, out

    tampered(pg_dsn, "notes", "UPDATE notes SET body = 'forged' WHERE id = 2")
    code, out, err = run(capsys, "tables", "verify", "--db", pg_dsn, "--ledger", ledger)
    assert code == 1
    assert err.startswith("TAMPERING DETECTED: table notes:") and "notes row id=2" in err


def test_anchor_into_a_ledger_in_use_names_the_fix(pg_dsn: str, tmp_path: Path) -> None:
    data = init_data_dir(tmp_path / "data", name="tables.lock/ledger")
    sql(pg_dsn, "SELECT 1")
    main(["tables", "create", "--db", pg_dsn, "CREATE TABLE t (id int)"])
    sql(pg_dsn, "INSERT INTO t VALUES (1)")
    digest = generate_digest(pg_dsn)
    with Ledger.create_or_open(data.storage_location(), data.signer(), node=data.node()):
        with pytest.raises(LedgerLocked, match="pass the service URL"):
            anchor_digest(digest, LedgerTarget(str(data.path)))


def test_anchor_loop_stops_cleanly_on_sigterm(pg_dsn: str, tmp_path: Path) -> None:
    data = init_data_dir(tmp_path / "data", name="tables.loop/ledger")
    main(["tables", "create", "--db", pg_dsn, "CREATE TABLE t (id int)"])
    sql(pg_dsn, "INSERT INTO t VALUES (1)")
    process = subprocess.Popen(
        [sys.executable, "-m", "accord.cli.main", "tables", "anchor", "--db", pg_dsn,
         "--ledger", str(data.path), "--interval", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert "anchored block 0" in process.stdout.readline()
        sql(pg_dsn, "INSERT INTO t VALUES (2)")
        assert "anchored block 1" in process.stdout.readline()
        time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
    code = main(["tables", "verify", "--db", pg_dsn, "--ledger", str(data.path)])
    assert code == 0


def test_cli_drop_column_and_table(pg_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    main(["tables", "create", "--db", pg_dsn, "CREATE TABLE notes (id int PRIMARY KEY, body text)"])
    capsys.readouterr()
    sql(pg_dsn, "INSERT INTO notes VALUES (1, 'hello')")
    code, out, _ = run(capsys, "tables", "drop-column", "--db", pg_dsn, "notes", "body")
    assert code == 0 and "kept as ledger_dropped_1_body" in out
    code, _, err = run(capsys, "tables", "drop-column", "--db", pg_dsn, "notes", "id")
    assert code == 1 and "primary key" in err
    code, out, _ = run(capsys, "tables", "drop", "--db", pg_dsn, "notes")
    assert code == 0 and "read-only, as dropped_1_notes" in out
    code, out, _ = run(capsys, "tables", "list", "--db", pg_dsn)
    assert "notes\tupdatable\t1 rows" in out and "dropped, kept as dropped_1_notes" in out
    code, out, _ = run(capsys, "tables", "verify", "--db", pg_dsn)
    assert code == 0, out
    code, _, err = run(capsys, "tables", "drop", "--db", pg_dsn, "notes")
    assert code != 0 and "not a ledger table" in err
