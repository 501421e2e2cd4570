"""A data directory never silently replaces a lost ledger, on either backend.

The directory records the newest checkpoint it signed (``latest-checkpoint``) outside the database;
storage that is missing, emptied, or behind that record (an old backup) refuses to open for writing
or verification, and nothing is created or changed while refusing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from accord.datadir import DataDir, init_data_dir
from accord.errors import ConfigurationError, LedgerMissing, StorageError
from accord.log.ledger import Ledger
from accord.log.record import RECORD_FILE
from accord.testing.pgserver import PostgresServer

SRC = str(Path(__file__).parents[1] / "src")


def accord(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC}
    env.pop("ACCORD_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "accord.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def _fill(data: DataDir, count: int) -> None:
    with data.open_ledger() as ledger:
        for i in range(count):
            ledger.append(f"entry {i}", wait_for_commit=True)


@pytest.fixture
def sqlite_dir(tmp_path: Path) -> DataDir:
    data = init_data_dir(tmp_path / "d", name="record.test/ledger")
    _fill(data, 5)
    return data


def test_init_records_the_empty_checkpoint(tmp_path: Path) -> None:
    data = init_data_dir(tmp_path / "d", name="record.test/ledger")
    recorded = data.checkpoint_record().read(data.verifier())
    assert recorded is not None and recorded.size == 0
    _fill(data, 3)
    recorded = data.checkpoint_record().read(data.verifier())
    assert recorded is not None and recorded.size == 3
    assert (data / RECORD_FILE).stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("damage", ["delete", "truncate"])
def test_lost_sqlite_ledger_refuses_to_open_and_creates_nothing(
    sqlite_dir: DataDir, damage: str
) -> None:
    db = sqlite_dir / "ledger.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    if damage == "truncate":
        db.write_bytes(b"")
    with pytest.raises(LedgerMissing, match="signed a checkpoint of size 5"):
        sqlite_dir.open_ledger()
    with pytest.raises(LedgerMissing, match="Restore the ledger storage"):
        sqlite_dir.open_reader()
    if damage == "delete":
        assert not db.exists(), "refusing must not create an empty ledger file"
    else:
        assert db.stat().st_size == 0


def test_restored_old_backup_refuses_to_open(sqlite_dir: DataDir, tmp_path: Path) -> None:
    db = sqlite_dir / "ledger.db"
    backup = tmp_path / "backup.db"
    with sqlite_dir.open_ledger():
        pass  # closing checkpoints the WAL into the file
    shutil.copy(db, backup)
    _fill(sqlite_dir, 3)
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    shutil.copy(backup, db)
    with pytest.raises(LedgerMissing, match=r"holds 5 entries .* size 8"):
        sqlite_dir.open_ledger()


def test_a_different_ledger_in_place_is_refused(sqlite_dir: DataDir, tmp_path: Path) -> None:
    # Same key, same size, different entries: a fork put in place of the real storage.
    other = tmp_path / "other.db"
    with Ledger.create_or_open(str(other), sqlite_dir.signer()) as ledger:
        for i in range(5):
            ledger.append(f"forged {i}", wait_for_commit=True)
    db = sqlite_dir / "ledger.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    shutil.copy(other, db)
    with pytest.raises(LedgerMissing, match="different tree at size 5"):
        sqlite_dir.open_ledger()


def test_damaged_record_is_a_configuration_error(sqlite_dir: DataDir) -> None:
    (sqlite_dir / RECORD_FILE).write_text("not a checkpoint\n")
    with pytest.raises(ConfigurationError, match="latest-checkpoint"):
        sqlite_dir.open_ledger()


def test_directory_without_record_gets_one(sqlite_dir: DataDir) -> None:
    # Data directories made before records existed open normally and start recording.
    (sqlite_dir / RECORD_FILE).unlink()
    _fill(sqlite_dir, 1)
    recorded = sqlite_dir.checkpoint_record().read(sqlite_dir.verifier())
    assert recorded is not None and recorded.size == 6


def test_serve_and_verify_refuse_a_deleted_ledger(sqlite_dir: DataDir) -> None:
    db = sqlite_dir / "ledger.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    served = accord("serve", "--data", str(sqlite_dir.path), "--port", "0")
    assert served.returncode != 0
    assert "signed a checkpoint of size 5" in served.stderr
    assert "Traceback" not in served.stderr
    verified = accord("verify", "--data", str(sqlite_dir.path))
    assert verified.returncode == 1, verified.stderr
    assert "signed a checkpoint of size 5" in verified.stderr
    assert not db.exists(), "accord verify must not create a ledger file"


def test_verify_is_read_only_and_catches_a_shorter_ledger(
    sqlite_dir: DataDir, tmp_path: Path
) -> None:
    db = sqlite_dir / "ledger.db"
    ok = accord("verify", "--data", str(sqlite_dir.path))
    assert ok.returncode == 0, ok.stderr
    with sqlite_dir.open_ledger():
        pass
    backup = tmp_path / "backup.db"
    shutil.copy(db, backup)
    _fill(sqlite_dir, 2)
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    shutil.copy(backup, db)
    before = {p.name: p.stat().st_mtime_ns for p in sqlite_dir.path.iterdir()}
    result = accord("verify", "--data", str(sqlite_dir.path))
    assert result.returncode == 1
    assert "covers 7 entries but only 5 are stored" in result.stderr
    after = {p.name: p.stat().st_mtime_ns for p in sqlite_dir.path.iterdir()}
    assert after == before, "accord verify created or changed files"


def test_verify_of_a_stopped_ledger_creates_nothing(sqlite_dir: DataDir) -> None:
    # A cleanly stopped SQLite ledger has no -wal/-shm files; a reader must not make them (it
    # opens the file immutable while it holds the writer lock shared, so no writer can start).
    db = sqlite_dir / "ledger.db"
    for suffix in ("-wal", "-shm"):
        assert not Path(str(db) + suffix).exists()
    before = {p.name: p.stat().st_mtime_ns for p in sqlite_dir.path.iterdir()}
    assert accord("verify", "--data", str(sqlite_dir.path)).returncode == 0
    env_url = accord("receipt", "get", "--data", str(sqlite_dir.path), "1.2")
    assert env_url.returncode == 0, env_url.stderr
    after = {p.name: p.stat().st_mtime_ns for p in sqlite_dir.path.iterdir()}
    assert after == before
    # While a reader holds it, a writer is refused with a message that says why.
    reader = sqlite_dir.open_reader()
    try:
        with pytest.raises(StorageError, match="a reader such as `accord verify`"):
            sqlite_dir.open_ledger()
    finally:
        reader.close()
    sqlite_dir.open_ledger().close()


def test_not_a_database_in_place_of_the_ledger(sqlite_dir: DataDir) -> None:
    db = sqlite_dir / "ledger.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    db.write_bytes(b"these are not the pages you are looking for" * 100)
    with pytest.raises(LedgerMissing, match="is not an SQLite database"):
        sqlite_dir.open_ledger()
    result = accord("verify", "--data", str(sqlite_dir.path))
    assert result.returncode == 1 and "size 5" in result.stderr


def test_verify_of_a_directory_without_ledger_never_creates_one(tmp_path: Path) -> None:
    data = init_data_dir(tmp_path / "d", name="record.test/ledger")
    (data / RECORD_FILE).unlink()
    for suffix in ("", "-wal", "-shm"):
        Path(str(data / "ledger.db") + suffix).unlink(missing_ok=True)
    result = accord("verify", "--data", str(data.path))
    assert result.returncode != 0
    assert "does not exist" in result.stderr
    assert not (data / "ledger.db").exists()
    with pytest.raises(StorageError, match="does not exist"):
        data.open_storage()


# --- PostgreSQL storage ----------------------------------------------------------------------
def test_emptied_postgres_ledger_refuses_to_open(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    name = "t_record_emptied"
    dsn = postgres_server.create_database(name)
    try:
        data = init_data_dir(tmp_path / "d", name="record.test/ledger", storage=dsn)
        _fill(data, 4)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DROP TABLE entries, tiles, checkpoints, meta")
        with pytest.raises(LedgerMissing, match="signed a checkpoint of size 4"):
            data.open_ledger()
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute("SELECT to_regclass('meta')").fetchone()
        assert row is not None and row[0] is None, "refusing must not re-create the schema"
        verified = accord("verify", "--data", str(data.path))
        assert verified.returncode == 1 and "size 4" in verified.stderr
    finally:
        postgres_server.drop_database(name)


def test_dropped_postgres_database_refuses_to_open(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    name = "t_record_dropped"
    dsn = postgres_server.create_database(name)
    data = init_data_dir(tmp_path / "d", name="record.test/ledger", storage=dsn)
    _fill(data, 2)
    postgres_server.drop_database(name)
    with pytest.raises(LedgerMissing, match="signed a checkpoint of size 2"):
        data.open_ledger()
    verified = accord("verify", "--data", str(data.path))
    assert verified.returncode == 1 and "does not exist" in verified.stderr
    # Re-created empty (say by a careless restore script): still refused.
    postgres_server.create_database(name)
    try:
        with pytest.raises(LedgerMissing, match="signed a checkpoint of size 2"):
            data.open_ledger()
    finally:
        postgres_server.drop_database(name)


@pytest.mark.parametrize("storage", ["mysql://db.example/ledger", "s3:bucket/ledger"])
def test_unsupported_storage_is_refused_by_init_and_in_config(tmp_path: Path, storage: str) -> None:
    with pytest.raises(ConfigurationError, match="unsupported storage location"):
        init_data_dir(tmp_path / "new", name="record.test/ledger", storage=storage)
    assert not (tmp_path / "new").exists()
    data = init_data_dir(tmp_path / "d", name="record.test/ledger")
    config = json.loads((data / "config.json").read_text())
    (data / "config.json").write_text(json.dumps({**config, "storage": storage}))
    with pytest.raises(ConfigurationError, match="unsupported storage location"):
        data.load_config()
