"""Digests anchored in, and verified against, a running accord service over HTTPS with mTLS."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from accord.cli.main import main
from accord.datadir import init_data_dir
from tests.service.conftest import start_service, stop_service


def test_digest_anchored_through_the_service_catches_a_superuser_edit(
    pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = init_data_dir(tmp_path / "ledger", name="tables.test/anchors")
    proc, url = start_service(data)
    tls = [
        "--ledger",
        url,
        "--cacert",
        str(data / "service.crt"),
        "--cert",
        str(data / "admin.crt"),
        "--key",
        str(data / "admin.key"),
    ]
    try:
        ddl = "CREATE TABLE payments (id integer PRIMARY KEY, amount numeric, payee text)"
        assert main(["tables", "create", "--db", pg_dsn, ddl]) == 0
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            for i in range(20):
                conn.execute(
                    "INSERT INTO payments (id, amount, payee) VALUES (%s, %s, %s)",
                    (i, f"{i}.50", f"supplier {i}"),
                )
            conn.execute("UPDATE payments SET amount = 99 WHERE id = 3")
        assert main(["tables", "digest", "--db", pg_dsn, *tls]) == 0
        assert main(["tables", "verify", "--db", pg_dsn, *tls]) == 0
        capsys.readouterr()
        # A superuser edits a row with the capture disabled: the service's digests expose it.
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute("ALTER TABLE payments DISABLE TRIGGER ALL")
            conn.execute("UPDATE payments SET payee = 'mallory' WHERE id = 7")
            conn.execute("ALTER TABLE payments ENABLE TRIGGER ALL")
        assert main(["tables", "verify", "--db", pg_dsn, *tls]) == 1
        out = capsys.readouterr()
        assert "TAMPERING DETECTED" in out.err
        assert "payments" in out.err
    finally:
        stop_service(proc)
