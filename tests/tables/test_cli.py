"""`accord tables ...` end to end, on both backends: create, digest anchored in a data directory,
verify, tamper, and the long-running `anchor` loop stopped by SIGTERM. SQLite's bare path versus
``sqlite:PATH`` has its own test."""

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
from tests.tables.conftest import LedgerDatabase, sql


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_round_trip(
    db: LedgerDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = init_data_dir(tmp_path / "data", name="tables.cli/ledger")
    ledger = str(data.path)
    if db.postgres:
        ddl, columns = "id int PRIMARY KEY, body text", "id integer [int], body text [text]"
        unsupported, named = "point", "type point, which ledger tables do not support"
    else:  # SQLite keeps the declared type
        ddl, columns = "id INTEGER PRIMARY KEY, body TEXT", "id INTEGER [int], body TEXT [text]"
        unsupported, named = "json", "'json', which ledger tables do not support"
    code, out, _ = run(capsys, "tables", "create", "--db", db.dsn, f"CREATE TABLE notes ({ddl})")
    assert code == 0 and columns in out
    code, _, err = run(capsys, "tables", "create", "--db", db.dsn, "DROP TABLE notes")
    assert code == 4 and err.startswith("accord: error: only a plain CREATE TABLE")
    code, _, err = run(capsys, "tables", "create", "--db", db.dsn,
                       f"CREATE TABLE j (doc {unsupported})")  # fmt: skip
    assert code == 4 and named in err
    db.write(("INSERT INTO notes (id, body) VALUES (?, ?), (?, ?)", (1, "hello", 2, "world")))

    code, out, _ = run(capsys, "tables", "list", "--db", db.dsn, "--json")
    assert json.loads(out)[0]["name"] == "notes" and json.loads(out)[0]["rows"] == 2
    code, out, err = run(capsys, "tables", "digest", "--db", db.dsn, "--ledger", ledger)
    assert code == 0 and json.loads(out)["blockId"] == 0 and "anchored block 0" in err
    code, out, _ = run(capsys, "tables", "verify", "--db", db.dsn, "--ledger", ledger)
    assert code == 0 and "1 anchored digests match" in out, out

    db.tamper("notes", "UPDATE notes SET body = 'forged' WHERE id = 2")
    code, out, err = run(capsys, "tables", "verify", "--db", db.dsn, "--ledger", ledger)
    assert code == 1
    assert err.startswith("TAMPERING DETECTED: table notes:") and "notes row id=2" in err


def test_cli_on_sqlite_a_bare_path_must_exist_and_sqlite_path_creates_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A typo in a bare path must not create a new, empty database; ``sqlite:PATH`` does."""
    db = str(tmp_path / "notes.db")
    code, _, err = run(capsys, "tables", "list", "--db", db)
    assert code == 4 and "does not exist" in err and f"sqlite:{db}" in err
    code, out, _ = run(capsys, "tables", "create", "--db", f"sqlite:{db}",
                       "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")  # fmt: skip
    assert code == 0 and "id INTEGER [int], body TEXT [text]" in out
    code, out, _ = run(capsys, "tables", "list", "--db", db)
    assert code == 0 and "notes\tupdatable\t0 rows" in out


def test_anchor_into_a_ledger_in_use_names_the_fix(db: LedgerDatabase, tmp_path: Path) -> None:
    data = init_data_dir(tmp_path / "data", name="tables.lock/ledger")
    assert main(["tables", "create", "--db", db.dsn, "CREATE TABLE t (id int)"]) == 0
    db.write("INSERT INTO t (id) VALUES (1)")
    digest = generate_digest(db.dsn)
    with Ledger.create_or_open(data.storage_location(), data.signer(), node=data.node()):
        with pytest.raises(LedgerLocked, match="pass the service URL"):
            anchor_digest(digest, LedgerTarget(str(data.path)))


def test_anchor_loop_stops_cleanly_on_sigterm(db: LedgerDatabase, tmp_path: Path) -> None:
    data = init_data_dir(tmp_path / "data", name="tables.loop/ledger")
    assert main(["tables", "create", "--db", db.dsn, "CREATE TABLE t (id int)"]) == 0
    db.write("INSERT INTO t (id) VALUES (1)")
    process = subprocess.Popen(
        [sys.executable, "-m", "accord.cli.main", "tables", "anchor", "--db", db.dsn,
         "--ledger", str(data.path), "--interval", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert "anchored block 0" in process.stdout.readline()
        db.write("INSERT INTO t (id) VALUES (2)")
        assert "anchored block 1" in process.stdout.readline()
        time.sleep(0.3)  # longer than an interval: a round with nothing new, then the stop
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert main(["tables", "verify", "--db", db.dsn, "--ledger", str(data.path)]) == 0


def test_cli_drop_column_and_table(pg_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    main(["tables", "create", "--db", pg_dsn, "CREATE TABLE notes (id int PRIMARY KEY, body text)"])
    capsys.readouterr()
    sql(pg_dsn, "INSERT INTO notes VALUES (1, 'hello')")
    code, out, _ = run(capsys, "tables", "drop-column", "--db", pg_dsn, "notes", "body")
    assert code == 0 and "kept as ledger_dropped_1_body" in out
    code, _, err = run(capsys, "tables", "drop-column", "--db", pg_dsn, "notes", "id")
    assert code == 4 and "primary key" in err
    code, out, _ = run(capsys, "tables", "drop", "--db", pg_dsn, "notes")
    assert code == 0 and "read-only, as dropped_1_notes" in out
    code, out, _ = run(capsys, "tables", "list", "--db", pg_dsn)
    assert "notes\tupdatable\t1 rows" in out and "dropped, kept as dropped_1_notes" in out
    code, out, _ = run(capsys, "tables", "verify", "--db", pg_dsn)
    assert code == 0, out
    code, _, err = run(capsys, "tables", "drop", "--db", pg_dsn, "notes")
    assert code != 0 and "not a ledger table" in err
