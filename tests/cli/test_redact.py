"""``accord redact`` offline (--data, both backends) and through a service (--url), and what
``accord verify``, ``get``, ``list`` and ``receipt`` then say; refusals and their exit codes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import psycopg
import pytest

from accord.cli.main import EXIT_FAILED, EXIT_REFUSED, EXIT_UNAVAILABLE, EXIT_USAGE, main
from accord.consortium.demo import LocalConsortium
from accord.core.redaction import OPERATOR
from accord.datadir import DataDir, init_data_dir
from accord.log.ledger import NewEntry
from tests.cli.test_cli_batch_service import tls
from tests.service.conftest import Service, start_service, stop_service

PERSONAL = "Jane Doe, 12 Acacia Avenue"


@pytest.fixture(params=["sqlite", "postgres"])
def data(request: pytest.FixtureRequest, tmp_path: Path) -> DataDir:
    storage = None if request.param == "sqlite" else request.getfixturevalue("pg_dsn")
    data = init_data_dir(tmp_path / "data", name="redact.test/ledger", storage=storage)
    with data.open_ledger() as ledger:
        ledger.append(PERSONAL, collection_id="customers", wait_for_commit=True)
        ledger.append_batch([NewEntry(f"entry {i}") for i in range(10)], wait_for_commit=True)
    return data


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own errors (a missing option) exit from the parser
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def execute(data: DataDir, sql: str, params: tuple[object, ...] = ()) -> None:
    location = data.storage_location()
    if location.startswith("postgresql://"):
        with psycopg.connect(location, autocommit=True) as pg:
            pg.execute(sql.replace("?", "%s"), params)
        return
    conn = sqlite3.connect(location)
    try:
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


@pytest.fixture(autouse=True)
def no_service_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ACCORD_URL", raising=False)


def test_offline_redaction_then_verify(data: DataDir, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "redact", "1.1", "--reason", "erasure request 114", "--data", str(data.path)
    )
    assert code == 0, err
    assert out.strip() == (
        "redacted 1.1: its contents are erased from this ledger's storage; redaction record 1.12"
    )
    code, out, err = run(capsys, "verify", "--data", str(data.path))
    assert code == 0, err
    assert out.startswith("OK: 12 entries")
    assert (
        "REDACTED: 1.1 by redaction record 1.12 (contents erased; its leaf and proofs verified)"
        in out
    )

    reader = data.open_reader()
    try:
        (record,) = reader.get_entries(1, 12, collection_id="accord.redactions")
    finally:
        reader.close()
    assert json.loads(record.contents)["by"] == OPERATOR
    assert json.loads(record.contents)["reason"] == "erasure request 114"

    code, out, err = run(
        capsys, "redact", "1.1", "--reason", "again", "--data", str(data.path), "--json"
    )
    assert code == EXIT_REFUSED and "already redacted (by redaction record 1.12)" in err
    code, out, err = run(
        capsys, "redact", "1.2", "--reason", "second", "--data", str(data.path), "--json"
    )
    assert code == 0, err
    assert json.loads(out) == {"transactionId": "1.13", "redactedTransactionId": "1.2"}
    code, out, _ = run(
        capsys, "receipt", "get", "1.1", "--data", str(data.path), "-o", str(data.path / "r.json")
    )
    assert code == 0
    code, out, err = run(
        capsys,
        "receipt",
        "verify",
        str(data.path / "r.json"),
        "--vkey",
        str(data / "checkpoint.vkey"),
    )
    assert code == 0 and out.startswith("OK: transaction 1.1 (collection customers)"), err


@pytest.mark.parametrize(
    ("sql", "params", "message"),
    [
        (
            "UPDATE entries SET contents = ? WHERE seqno = 3",
            (b"",),
            "missing and no redaction record",
        ),
        ("UPDATE entries SET contents = ? WHERE seqno = 1", (b"Jane",), "changed, not erased"),
        ("UPDATE entries SET contents = ? WHERE seqno = 2", (b"entry 99",), "do not match"),
        ("DELETE FROM entries WHERE seqno = 12", (), "entries were deleted"),
        (
            "UPDATE entries SET contents = ? WHERE seqno = 12",
            (b'{"format":"accord.redaction.v1"}',),
            "missing and no redaction record",
        ),
    ],
    ids=[
        "erased-without-record",
        "redacted-then-changed",
        "other-entry-changed",
        "record-deleted",
        "record-edited",
    ],
)
def test_tampering_after_a_redaction_is_still_detected(
    data: DataDir,
    capsys: pytest.CaptureFixture[str],
    sql: str,
    params: tuple[object, ...],
    message: str,
) -> None:
    assert run(capsys, "redact", "1.1", "--reason", "request", "--data", str(data.path))[0] == 0
    execute(data, sql, params)
    code, out, err = run(capsys, "verify", "--data", str(data.path))
    assert code == EXIT_FAILED, out
    assert "TAMPERING DETECTED" in err and message in err, err


def test_redaction_through_a_service(service: Service, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "append", *tls(service), "--collection", "customers", PERSONAL)
    assert code == 0, err
    txid = out.strip()
    code, out, err = run(capsys, "redact", txid, "--reason", "request 9", *tls(service))
    assert code == 0, err
    record = out.strip().rsplit(" ", 1)[1]
    code, out, err = run(capsys, "get", *tls(service), txid)
    assert code == EXIT_REFUSED
    assert f"was redacted by transaction {record}" in err
    code, out, err = run(capsys, "list", *tls(service), "--collection", "customers")
    assert code == 0 and out == f"{txid}\t[redacted by {record}]\n", err
    code, out, err = run(capsys, "list", *tls(service), "--collection", "customers", "--json")
    assert json.loads(out)["redactionTransactionId"] == record
    receipt = str(service.data.path.parent / "receipt.json")
    assert run(capsys, "receipt", "get", *tls(service), txid, "-o", receipt)[0] == 0
    code, out, err = run(
        capsys, "receipt", "verify", receipt, "--vkey", str(service.data / "checkpoint.vkey")
    )
    assert code == 0, err
    # A reader may not; the entry redacted already is a refusal too.
    d = service.data
    reader = ["--url", service.url, "--cacert", str(d / "service.crt"), "--cert",
              str(service.reader_cert), "--key", str(service.reader_key)]  # fmt: skip
    code, _, err = run(capsys, "redact", "1.1", "--reason", "request", *reader)
    assert code == EXIT_REFUSED and "403" in err
    code, _, err = run(capsys, "redact", txid, "--reason", "request", *tls(service))
    assert code == EXIT_REFUSED and "already redacted" in err
    # With the service running, the offline path is locked out and says what to do.
    code, _, err = run(capsys, "redact", "1.1", "--reason", "request", "--data", str(d.path))
    assert code == EXIT_UNAVAILABLE and "stop accord serve first, or redact through it" in err


def test_a_consortium_directory_refuses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    consortium = LocalConsortium.create(tmp_path / "c", ("supplier", "retailer"))
    org = consortium.orgs["supplier"]
    code, _, err = run(capsys, "redact", "1.1", "--reason", "request", "--data", str(org.data))
    assert code == EXIT_REFUSED
    assert "redaction of consortium entries is done by private-collection purge" in err.lower()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["1.1", "--reason", ""], "--reason"),
        (["1.1", "--reason", "x" * 513], "--reason"),
        (["1.1", "--reason", "two\nlines"], "control characters"),
        (["1.x", "--reason", "r"], "malformed transaction id"),
        (["1.1"], "--reason"),
        (["1.1", "--reason", "r"], "--url"),
        (["1.1", "--reason", "r", "--url", "https://127.0.0.1:1", "--data", "DATA"], "not both"),
    ],
)
def test_argument_errors(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = init_data_dir(tmp_path / "data", name="redact.test/ledger")
    argv = [str(data.path) if a == "DATA" else a for a in argv]
    code, _, err = run(capsys, "redact", *argv)
    assert code == EXIT_USAGE and message in err, err


def test_help_explains_what_it_does_and_does_not(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["redact", "--help"])
    assert raised.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for phrase in (
        "redaction record",
        "accord.redaction.v1",
        "receipts stay valid",
        "Backups, copies already downloaded",
        "--reason",
        "--data",
        "exit codes",
    ):
        assert phrase in out, phrase


def test_a_stopped_service_finishes_what_the_redaction_started(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """accord serve, started after a crash between a record and its erasure, erases at start."""
    from tests.log.test_redaction import honest_record, write_record

    data = init_data_dir(tmp_path / "data", name="redact.test/ledger", storage=None)
    with data.open_ledger() as ledger:
        ledger.append(PERSONAL, wait_for_commit=True)
        write_record(ledger, honest_record(ledger, 1))  # the record, and then the "crash"
    code, out, _ = run(capsys, "verify", "--data", str(data.path))
    assert code == 0 and "REDACTED: 1.1 by redaction record 1.2 (erasure pending" in out
    proc, url = start_service(data, "--no-s3")
    try:  # the erasure is finished before anything is served
        d = data
        code, _, err = run(
            capsys, "get", "1.1", "--url", url, "--cacert", str(d / "service.crt"),
            "--cert", str(d / "admin.crt"), "--key", str(d / "admin.key"),
        )  # fmt: skip
        assert code == EXIT_REFUSED and "redacted by transaction 1.2" in err
    finally:
        stop_service(proc)
    code, out, _ = run(capsys, "verify", "--data", str(data.path))
    assert code == 0 and "REDACTED: 1.1 by redaction record 1.2 (contents erased" in out
