"""`accord tables create|list|digest|verify|anchor --db FILE.db` end to end on SQLite."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from accord.cli.main import main
from accord.datadir import init_data_dir
from accord.tables.sqlite import connect
from tests.tables.conftest import raw


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = init_data_dir(tmp_path / "data", name="tables.sqlite-cli/ledger")
    ledger = str(data.path)
    db = str(tmp_path / "notes.db")
    code, _, err = run(capsys, "tables", "list", "--db", db)
    assert code == 1 and "does not exist" in err and f"sqlite:{db}" in err
    code, out, _ = run(capsys, "tables", "create", "--db", f"sqlite:{db}",
                       "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")  # fmt: skip
    assert code == 0 and "id INTEGER [int], body TEXT [text]" in out
    code, _, err = run(capsys, "tables", "create", "--db", db, "DROP TABLE notes")
    assert code == 1 and err.startswith("accord: error: only a plain CREATE TABLE")
    code, _, err = run(capsys, "tables", "create", "--db", db, "CREATE TABLE j (doc json)")
    assert code == 1 and "'json', which ledger tables do not support" in err
    with connect(db) as conn:
        conn.executemany("INSERT INTO notes (id, body) VALUES (?, ?)", [(1, "hello"), (2, "world")])

    code, out, _ = run(capsys, "tables", "list", "--db", db, "--json")
    assert json.loads(out)[0]["name"] == "notes" and json.loads(out)[0]["rows"] == 2
    code, out, err = run(capsys, "tables", "digest", "--db", db, "--ledger", ledger)
    assert code == 0 and json.loads(out)["blockId"] == 0 and "anchored block 0" in err
    code, out, _ = run(capsys, "tables", "verify", "--db", db, "--ledger", ledger)
    assert code == 0 and "1 anchored digests match" in out, out

    raw(db, "UPDATE notes SET body = 'forged' WHERE id = 2")
    code, out, err = run(capsys, "tables", "verify", "--db", db, "--ledger", ledger)
    assert code == 1
    assert err.startswith("TAMPERING DETECTED: table notes:") and "notes row id=2" in err


def test_anchor_loop_on_sqlite_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    data = init_data_dir(tmp_path / "data", name="tables.sqlite-loop/ledger")
    db = str(tmp_path / "app.sqlite")
    assert main(["tables", "create", "--db", f"sqlite:{db}", "CREATE TABLE t (id INT)"]) == 0
    with connect(db) as conn:
        conn.execute("INSERT INTO t (id) VALUES (1)")
    process = subprocess.Popen(
        [sys.executable, "-m", "accord.cli.main", "tables", "anchor", "--db", db,
         "--ledger", str(data.path), "--interval", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert "anchored block 0" in process.stdout.readline()
        with connect(db) as conn:
            conn.execute("INSERT INTO t (id) VALUES (2)")
        assert "anchored block 1" in process.stdout.readline()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert main(["tables", "verify", "--db", db, "--ledger", str(data.path)]) == 0
