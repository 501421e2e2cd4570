"""Schema life of ledger tables on real PostgreSQL: dropping tables and columns keeps their data,
renamed and read-only, and every hash still verifies; non-owner roles write without grants on the
ledger's own objects."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import psycopg
import pytest

from accord.errors import InvalidRequest, NotFound, TamperingDetected
from accord.tables.database import (
    add_ledger_column,
    close_block,
    create_ledger_table,
    drop_ledger_column,
    drop_ledger_table,
    generate_digest,
    list_ledger_tables,
    verify_database,
)
from accord.testing.pgserver import PostgresServer, find_postgres_bindir
from tests.tables.conftest import ACCOUNTS, sql, tampered


def test_dropped_table_keeps_its_data_read_only_and_verified(pg_accounts_db: str) -> None:
    digest = generate_digest(pg_accounts_db)
    before = verify_database(pg_accounts_db, [digest])
    current = sql(pg_accounts_db, "SELECT id, owner, balance FROM accounts ORDER BY id")
    history = sql(pg_accounts_db, "SELECT count(*) FROM accounts_history")

    renamed = drop_ledger_table(pg_accounts_db, "accounts")

    assert renamed.startswith("dropped_") and renamed.endswith("_accounts")
    relations = {r[0] for r in sql(pg_accounts_db, "SELECT relname FROM pg_class")}
    assert {"accounts", "accounts_history", "accounts_ledger", "accounts_pkey"}.isdisjoint(
        relations
    )
    assert sql(pg_accounts_db, f"SELECT id, owner, balance FROM {renamed} ORDER BY id") == current
    dropped = [t for t in list_ledger_tables(pg_accounts_db) if t["name"] == "accounts"]
    assert dropped[0]["droppedAs"] == renamed and dropped[0]["dropped"] is not None
    history_name = renamed.replace("_accounts", "_history_accounts")
    assert sql(pg_accounts_db, f"SELECT count(*) FROM {history_name}") == history
    for statement in (
        f"INSERT INTO {renamed} (id, owner) VALUES (99, 'x')",
        f"UPDATE {renamed} SET balance = 0",
        f"DELETE FROM {renamed}",
        f"TRUNCATE {renamed}",
        f"DELETE FROM {history_name}",
    ):
        with pytest.raises(
            psycopg.errors.InsufficientPrivilege, match=r"dropped ledger table|TRUNCATE"
        ):
            sql(pg_accounts_db, statement)
    after = verify_database(pg_accounts_db, [digest])
    assert after.row_versions == before.row_versions
    with pytest.raises(NotFound):
        drop_ledger_table(pg_accounts_db, "accounts")

    # The same DDL creates a new `accounts`; old and new both verify.
    create_ledger_table(pg_accounts_db, ACCOUNTS)
    sql(pg_accounts_db, "INSERT INTO accounts VALUES (1, 'new ann', 5)")
    sql(pg_accounts_db, "UPDATE accounts SET balance = 6 WHERE id = 1")
    close_block(pg_accounts_db)
    report = verify_database(pg_accounts_db, [digest])
    assert report.row_versions == before.row_versions + 3

    # Tampering with the dropped table is still caught, and named.
    tampered(pg_accounts_db, renamed, f"UPDATE {renamed} SET balance = 1 WHERE id = 2")
    with pytest.raises(TamperingDetected, match=f"{renamed} row id=2"):
        verify_database(pg_accounts_db, [digest])


def test_dropped_column_keeps_its_data_under_a_reserved_name(pg_accounts_db: str) -> None:
    digest = generate_digest(pg_accounts_db)
    balances = sql(pg_accounts_db, "SELECT id, balance FROM accounts ORDER BY id")

    renamed = drop_ledger_column(pg_accounts_db, "accounts", "balance")

    assert renamed == "ledger_dropped_1_balance"
    assert sql(pg_accounts_db, f"SELECT id, {renamed} FROM accounts ORDER BY id") == balances
    view_columns = sql(pg_accounts_db, "SELECT column_name FROM information_schema.columns "
                                    "WHERE table_name = 'accounts_ledger'")  # fmt: skip
    assert ("balance",) not in view_columns and (renamed,) not in view_columns
    verify_database(pg_accounts_db, [digest])

    # Applications go on without the column: inserts leave it NULL, updates keep old values.
    sql(pg_accounts_db, "INSERT INTO accounts (id, owner) VALUES (7, 'flo')")
    sql(pg_accounts_db, "UPDATE accounts SET owner = 'ann b' WHERE id = 1")
    sql(pg_accounts_db, "DELETE FROM accounts WHERE id = 2")
    close_block(pg_accounts_db)
    verify_database(pg_accounts_db, [digest])
    assert sql(pg_accounts_db, f"SELECT {renamed} FROM accounts WHERE id = 7") == [(None,)]
    assert sql(pg_accounts_db, f"SELECT {renamed} FROM accounts WHERE id = 1") == [balances[0][1:]]

    # The dropped name cannot come back (its hashes use it); other names can.
    with pytest.raises(InvalidRequest, match="was dropped"):
        add_ledger_column(pg_accounts_db, "accounts", "balance numeric")
    add_ledger_column(pg_accounts_db, "accounts", "balance2 numeric")
    sql(pg_accounts_db, "UPDATE accounts SET balance2 = 1 WHERE id = 1")
    verify_database(pg_accounts_db, [digest])

    # The kept values are hashed under the original name: editing them is caught.
    tampered(pg_accounts_db, "accounts", f"UPDATE accounts SET {renamed} = 0 WHERE id = 4")
    with pytest.raises(TamperingDetected, match="accounts row id=4"):
        verify_database(pg_accounts_db, [digest])


def test_drop_column_refusals_change_nothing(pg_accounts_db: str) -> None:
    for table, column, error in (
        ("accounts", "id", InvalidRequest),  # primary key
        ("accounts", "nope", NotFound),
        ("accounts", "ledger_start_transaction_id", NotFound),
        ("nope", "x", NotFound),
        ("events", "id", InvalidRequest),
    ):
        with pytest.raises(error):
            drop_ledger_column(pg_accounts_db, table, column)
    drop_ledger_column(pg_accounts_db, "events", "what")
    with pytest.raises(NotFound):
        drop_ledger_column(pg_accounts_db, "events", "what")
    with pytest.raises(InvalidRequest, match="last column"):
        create_ledger_table(pg_accounts_db, "CREATE TABLE solo (v text)")
        drop_ledger_column(pg_accounts_db, "solo", "v")
    verify_database(pg_accounts_db)


def test_writers_need_no_grant_on_the_ledger_objects(pg_accounts_db: str) -> None:
    role = f"clerk_{secrets.token_hex(4)}"  # roles are per server, databases per test
    sql(pg_accounts_db, f"CREATE ROLE {role} LOGIN")
    sql(pg_accounts_db, f"GRANT SELECT, INSERT, UPDATE, DELETE ON accounts, events TO {role}")
    sql(pg_accounts_db, f"GRANT USAGE ON SEQUENCE events_id_seq TO {role}")
    clerk = pg_accounts_db.replace("postgres@", f"{role}@")
    assert clerk != pg_accounts_db
    with psycopg.connect(clerk) as conn:
        conn.execute("INSERT INTO accounts VALUES (20, 'zed', 1)")
        conn.execute("UPDATE accounts SET balance = 2 WHERE id = 20")
        conn.execute("DELETE FROM accounts WHERE id = 1")
        conn.execute("INSERT INTO events (what) VALUES ('by clerk')")
    principal = sql(pg_accounts_db, "SELECT principal FROM accord_ledger.transactions "
                                 "ORDER BY transaction_id DESC LIMIT 1")  # fmt: skip
    assert principal == [(role,)]
    for statement in (
        "DELETE FROM accord_ledger.transactions",
        "UPDATE accounts_history SET balance = 0",
        "INSERT INTO accounts_history (id, owner) VALUES (1, 'x')",
    ):
        with psycopg.connect(clerk) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement.encode())
    close_block(pg_accounts_db)
    verify_database(pg_accounts_db)


def test_a_writers_search_path_cannot_hijack_the_owner_functions(pg_accounts_db: str) -> None:
    role = f"mallory_{secrets.token_hex(4)}"
    sql(pg_accounts_db, f"CREATE ROLE {role} LOGIN")
    sql(pg_accounts_db, f"CREATE SCHEMA evil AUTHORIZATION {role}")
    sql(pg_accounts_db, f"GRANT SELECT, INSERT, UPDATE, DELETE ON accounts TO {role}")
    mallory = pg_accounts_db.replace("postgres@", f"{role}@")
    with psycopg.connect(mallory, autocommit=True) as conn:
        for signature, returns in (("starts_with(text, text)", "boolean"),
                                   ("strpos(text, text)", "integer"),
                                   ("current_setting(text, boolean)", "text"),
                                   ("textcat(text, text)", "text")):  # fmt: skip
            conn.execute(
                f"CREATE FUNCTION evil.{signature} RETURNS {returns} LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'hijacked as %', current_user; END $$".encode()
            )
        conn.execute("CREATE OPERATOR evil.|| (LEFTARG = text, RIGHTARG = text, "
                     "FUNCTION = evil.textcat)")  # fmt: skip
        conn.execute("SET search_path = evil, pg_catalog, public")
        conn.execute("UPDATE accounts SET balance = 1 WHERE id = 1")
        conn.execute("DELETE FROM accounts WHERE id = 2")
        conn.execute("INSERT INTO accounts VALUES (30, 'x', 1)")
    close_block(pg_accounts_db)
    verify_database(pg_accounts_db)


def test_owner_functions_cannot_be_borrowed_for_another_table(pg_accounts_db: str) -> None:
    role = f"borrower_{secrets.token_hex(4)}"
    sql(pg_accounts_db, f"CREATE ROLE {role} LOGIN")
    borrower = pg_accounts_db.replace("postgres@", f"{role}@")
    history_before = sql(pg_accounts_db, "SELECT count(*) FROM accounts_history")
    functions = sql(pg_accounts_db, "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN "
                                 "pg_namespace n ON n.oid = p.pronamespace WHERE "
                                 "n.nspname = 'accord_ledger' AND p.prosecdef")  # fmt: skip
    assert len(functions) == 4  # update and delete of accounts, on_commit, hash_transaction
    for (function,) in functions:
        with psycopg.connect(borrower) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            if function.endswith("()") and "hash_transaction" not in function:
                conn.execute(
                    "CREATE TEMP TABLE accounts (id int, owner text, balance numeric, "
                    "ledger_start_transaction_id bigint, ledger_end_transaction_id bigint, "
                    "ledger_start_sequence_number bigint, ledger_end_sequence_number bigint)"
                )
                conn.execute(
                    f"CREATE TRIGGER x BEFORE DELETE ON pg_temp.accounts FOR EACH ROW "
                    f"EXECUTE FUNCTION {function}".encode()
                )
            else:
                conn.execute(f"SELECT {function.split('(')[0]}()".encode())
    # Even the owner cannot point a table's row function at another table.
    sql(pg_accounts_db, "CREATE TABLE decoy (LIKE accounts)")
    sql(pg_accounts_db, "CREATE TRIGGER x BEFORE DELETE ON decoy FOR EACH ROW "
                     "EXECUTE FUNCTION accord_ledger.t1_delete()")  # fmt: skip
    sql(pg_accounts_db, "INSERT INTO decoy (id, owner) VALUES (666, 'mallory')")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="belongs to another table"):
        sql(pg_accounts_db, "DELETE FROM decoy")
    assert sql(pg_accounts_db, "SELECT count(*) FROM accounts_history") == history_before
    verify_database(pg_accounts_db)


def test_a_re_created_table_hashes_under_its_own_name(pg_accounts_db: str) -> None:
    """Rows of a dropped table and of a new table of the same name cannot be swapped unseen."""
    sql(pg_accounts_db, "UPDATE accounts SET balance = 1 WHERE id = 2")
    dropped = drop_ledger_table(pg_accounts_db, "accounts")
    create_ledger_table(pg_accounts_db, ACCOUNTS)
    sql(pg_accounts_db, "INSERT INTO accounts VALUES (2, 'bob', 1)")
    assert sql(pg_accounts_db, "SELECT name, hash_name FROM accord_ledger.tables "
                            "WHERE name = 'accounts' ORDER BY id") == [
        ("accounts", "accounts"), ("accounts", "accounts#3")]  # fmt: skip
    digest = generate_digest(pg_accounts_db)
    verify_database(pg_accounts_db, [digest])
    columns = "id, owner, balance, ledger_start_transaction_id, ledger_start_sequence_number"
    new_row = sql(pg_accounts_db, f"SELECT {columns} FROM accounts WHERE id = 2")
    old_row = sql(pg_accounts_db, f"SELECT {columns} FROM {dropped} WHERE id = 2")
    tampered(pg_accounts_db, "accounts", "DELETE FROM accounts")
    tampered(pg_accounts_db, dropped, f"DELETE FROM {dropped} WHERE id = 2")
    tampered(pg_accounts_db, "accounts", f"INSERT INTO accounts ({columns}) VALUES "
                                      f"(2, 'bob', {old_row[0][2]}, {old_row[0][3]}, {old_row[0][4]})")  # fmt: skip
    tampered(pg_accounts_db, dropped, f"INSERT INTO {dropped} ({columns}) VALUES "
                                   f"(2, 'bob', {new_row[0][2]}, {new_row[0][3]}, {new_row[0][4]})")  # fmt: skip
    with pytest.raises(TamperingDetected):
        verify_database(pg_accounts_db, [digest])


def test_a_writer_rewinding_the_sequence_setting_gets_the_commit_refused(
    pg_accounts_db: str,
) -> None:
    before = sql(pg_accounts_db, "SELECT count(*) FROM accounts")
    with psycopg.connect(pg_accounts_db) as conn:
        conn.execute("INSERT INTO accounts VALUES (50, 'x', 1)")
        conn.execute("SELECT set_config('accord.seq', txid_current() || ':-1', true)")
        conn.execute("INSERT INTO accounts VALUES (51, 'y', 1)")
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="repeat"):
            conn.commit()
    assert sql(pg_accounts_db, "SELECT count(*) FROM accounts") == before
    verify_database(pg_accounts_db)


def test_writes_and_verification_survive_a_dump_and_restore(
    pg_accounts_db: str, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    bindir = find_postgres_bindir()
    assert bindir is not None
    dump = tmp_path / "ledger.sql"
    subprocess.run([str(bindir / "pg_dump"), "--no-owner", "-f", str(dump), pg_accounts_db],
                   check=True, capture_output=True)  # fmt: skip
    restored = postgres_server.create_database(f"restored_{secrets.token_hex(4)}")
    subprocess.run([str(bindir / "psql"), "-q", "-v", "ON_ERROR_STOP=1", "-f", str(dump),
                    restored], check=True, capture_output=True)  # fmt: skip
    verify_database(restored)
    sql(restored, "INSERT INTO accounts VALUES (40, 'new', 1)")
    sql(restored, "UPDATE accounts SET balance = 2 WHERE id = 40")
    sql(restored, "DELETE FROM accounts WHERE id = 1")
    close_block(restored)
    assert (
        verify_database(restored).row_versions == verify_database(pg_accounts_db).row_versions + 4
    )


def test_relabelling_a_dropped_table_as_the_live_one_is_caught(pg_accounts_db: str) -> None:
    dropped = drop_ledger_table(pg_accounts_db, "accounts")
    create_ledger_table(pg_accounts_db, ACCOUNTS)
    sql(pg_accounts_db, "INSERT INTO accounts VALUES (2, 'bob', 1)")
    digest = generate_digest(pg_accounts_db)
    history = dropped.replace("_accounts", "_history_accounts")
    # Swap the table pairs and their registry rows: every row still hashes as before.
    sql(
        pg_accounts_db,
        f"""
        ALTER TABLE accounts RENAME TO swap; ALTER TABLE accounts_history RENAME TO swap_h;
        ALTER TABLE {dropped} RENAME TO accounts; ALTER TABLE {history} RENAME TO accounts_history;
        ALTER TABLE swap RENAME TO {dropped}; ALTER TABLE swap_h RENAME TO {history};
        UPDATE accord_ledger.tables SET relation = 'x', history = 'xh' WHERE id = 3;
        UPDATE accord_ledger.tables SET relation = 'accounts', history = 'accounts_history'
            WHERE id = 1;
        UPDATE accord_ledger.tables SET relation = '{dropped}', history = '{history}'
            WHERE id = 3;
    """,
    )
    with pytest.raises(TamperingDetected, match=r"accord_ledger\.tables: table id 1"):
        verify_database(pg_accounts_db, [digest])


def test_a_schema_squatted_by_another_role_is_refused(pg_dsn: str) -> None:
    role = f"squatter_{secrets.token_hex(4)}"
    sql(pg_dsn, f"CREATE ROLE {role} LOGIN")
    database = pg_dsn.rsplit("/", 1)[1]
    sql(pg_dsn, f'GRANT CREATE ON DATABASE "{database}" TO {role}')
    sql(pg_dsn.replace("postgres@", f"{role}@"), "CREATE SCHEMA accord_ledger")
    with pytest.raises(InvalidRequest, match=f"belongs to {role}"):
        create_ledger_table(pg_dsn, ACCOUNTS)
    assert sql(pg_dsn, "SELECT to_regclass('public.accounts')") == [(None,)]
