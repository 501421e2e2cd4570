"""Ledger tables on PostgreSQL: write overhead and verification throughput, for BENCHMARKS.md.

``bench/run.py`` calls :func:`tables_section` with its PostgreSQL server and appends
:func:`report_lines` to the report. Every figure has a baseline measured in the same run on the
same server: the same table without the ledger (writes) and a plain read of the same rows
(verification). Run alone with::

    PYTHONPATH=src:. ACCORD_BENCH_SCALE=0.05 .venv/bin/python -m bench.tables
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from accord.tables.database import close_block, create_ledger_table, verify_database
from accord.tables.postgres_sql import (
    CANONICAL_SETTINGS,
    TABLE_SCHEMA,
    Column,
    canonical_expression,
)
from accord.testing.pgserver import PostgresServer

TABLE = "payments"
#: The same statement creates the ledger table (through accord) and the plain one (directly).
DDL = (
    f"CREATE TABLE {TABLE} (id bigint PRIMARY KEY, account text NOT NULL, "
    "amount numeric(12,2) NOT NULL, memo text, created timestamptz NOT NULL)"
)
COLUMNS = [
    Column("id", "int", "bigint"),
    Column("account", "text", "text"),
    Column("amount", "numeric", "numeric(12,2)"),
    Column("memo", "text", "text"),
    Column("created", "timestamptz", "timestamp with time zone"),
]
INSERT = f"INSERT INTO {TABLE} (id, account, amount, memo, created) VALUES (%s, %s, %s, %s, %s)"
UPDATE = f"UPDATE {TABLE} SET amount = amount + %s, memo = %s WHERE id = %s"
BATCH = 1000
#: Targets named by the issue; reported beside the measurements, never enforced here.
TARGET_OVERHEAD = 1.5
TARGET_VERIFY_ROWS_PER_S = 50_000
#: Wall-clock allowance for building the verification table (inserts + updates), in seconds.
VERIFY_LOAD_BUDGET_S = 180.0
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)

Row = tuple[int, str, Decimal, str, datetime]


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _count(x: float, scale: float) -> int:
    return max(1, int(x * scale))


def _row(i: int) -> Row:
    return (
        i,
        f"acct-{i % 9973:05d}",
        Decimal(i % 100_000) / 100,
        f"invoice {i:09d} settled via transfer",
        EPOCH + timedelta(seconds=i),
    )


def _rows(first: int, count: int) -> list[Row]:
    return [_row(i) for i in range(first, first + count)]


def _create_plain(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(DDL.encode())


def _timed_transactions(dsn: str, statement: str, batches: Sequence[Sequence[Any]]) -> float:
    """Run each batch as one transaction with ``executemany``; seconds taken (connected)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.cursor()
        start = time.perf_counter()
        for batch in batches:
            with conn.transaction():
                cur.executemany(statement, batch)
        return time.perf_counter() - start


def _insert_batches(first: int, transactions: int, size: int) -> list[list[Row]]:
    return [_rows(first + t * size, size) for t in range(transactions)]


def _update_batches(
    rng: random.Random, existing: int, transactions: int, size: int
) -> list[list[tuple[Decimal, str, int]]]:
    batches = []
    for t in range(transactions):
        ids = rng.sample(range(1, existing + 1), size)
        batches.append([(Decimal("0.01"), f"adjusted {t}", i) for i in ids])
    return batches


def _write_section(pg: PostgresServer, scale: float) -> dict[str, Any]:
    ledger_dsn = pg.create_database("tables_ledger")
    plain_dsn = pg.create_database("tables_plain")
    create_ledger_table(ledger_dsn, DDL)
    _create_plain(plain_dsn)
    single = _count(2000, scale)
    batched = _count(100, scale)
    plans: list[tuple[str, str, int, int, Any]] = []
    # Inserts: single-row transactions first (ids 1..single), then 1,000-row transactions.
    plans.append(("insert", INSERT, 1, single, _insert_batches(1, single, 1)))
    plans.append(("insert", INSERT, BATCH, batched, _insert_batches(single + 1, batched, BATCH)))
    existing = single + batched * BATCH
    rng = random.Random(11)
    plans.append(("update", UPDATE, 1, single, _update_batches(rng, existing, single, 1)))
    plans.append(
        (
            "update",
            UPDATE,
            BATCH,
            batched,
            _update_batches(rng, existing, batched, min(BATCH, existing)),
        )
    )
    results: dict[str, Any] = {}
    for operation, statement, size, transactions, batches in plans:
        rows = sum(len(b) for b in batches)
        log(f"ledger tables: {operation}, {transactions:,} transactions of {size:,} row(s)")
        plain_s = _timed_transactions(plain_dsn, statement, batches)
        ledger_s = _timed_transactions(ledger_dsn, statement, batches)
        plain_rate, ledger_rate = rows / plain_s, rows / ledger_s
        results[f"{operation}_{size}"] = {
            "operation": operation,
            "rows_per_transaction": size,
            "transactions": transactions,
            "rows": rows,
            "plain_rows_per_s": plain_rate,
            "ledger_rows_per_s": ledger_rate,
            "overhead": plain_rate / ledger_rate,
        }
        log(f"  plain {plain_rate:,.0f} rows/s, ledger {ledger_rate:,.0f} rows/s")
    return results


def _load_verify_table(dsn: str, target: int, deadline: float) -> tuple[int, int]:
    """Insert up to ``target`` rows in 1,000-row transactions, then update 10% of them.

    Stops inserting early (on a whole transaction) when the inserts would leave the updates no
    time before ``deadline``; returns (rows inserted, rows updated).
    """
    create_ledger_table(dsn, DDL)
    inserted = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.cursor()
        start = time.perf_counter()
        step = max(target // 10, BATCH)
        while inserted < target:
            size = min(BATCH, target - inserted)
            with conn.transaction():
                cur.executemany(INSERT, _rows(inserted + 1, size))
            inserted += size
            now = time.perf_counter()
            # Updates cost about as much per row as inserts; keep room for 10% of what we have.
            if now + (now - start) * 0.15 > deadline and inserted < target:
                log(f"  stopping the load at {inserted:,} rows to stay within the time budget")
                break
            if inserted % step == 0:
                log(
                    f"  inserted {inserted:,} / {target:,} ({inserted / (now - start):,.0f} rows/s)"
                )
        to_update = inserted // 10
        rng = random.Random(13)
        ids = rng.sample(range(1, inserted + 1), to_update)
        for first in range(0, to_update, BATCH):
            with conn.transaction():
                cur.executemany(
                    UPDATE, [(Decimal("0.01"), "corrected", i) for i in ids[first : first + BATCH]]
                )
        log(f"  updated {to_update:,} rows")
        conn.execute(f"VACUUM (ANALYZE) {TABLE}, {TABLE}_history".encode())
        # Touch every page once so neither measurement pays for hint bits or a cold cache.
        conn.execute(f"SELECT count(*) FROM {TABLE}".encode())
        conn.execute(f"SELECT count(*) FROM {TABLE}_history".encode())
    return inserted, to_update


def _select_baseline(dsn: str, canonical: bool) -> tuple[int, float]:
    """Read every current and history row, as the verifier's query does; (rows, seconds)."""
    select: sql.Composable = sql.SQL("*")
    if canonical:
        select = sql.SQL(", ").join(
            [
                *(canonical_expression(c) for c in COLUMNS),
                sql.SQL(
                    "ledger_start_transaction_id, ledger_start_sequence_number, "
                    "ledger_end_transaction_id, ledger_end_sequence_number"
                ),
            ]
        )
    rows = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        start = time.perf_counter()
        with conn.transaction():
            for setting, value in CANONICAL_SETTINGS:
                conn.execute("SELECT set_config(%s, %s, true)", (setting, value))
            for source in (TABLE, f"{TABLE}_history"):
                cursor = conn.cursor(name=f"baseline_{source}")
                cursor.execute(
                    sql.SQL("SELECT {} FROM {}").format(
                        select, sql.Identifier(TABLE_SCHEMA, source)
                    )
                )
                for _ in cursor:
                    rows += 1
                cursor.close()
        return rows, time.perf_counter() - start


def _verify_section(pg: PostgresServer, scale: float) -> dict[str, Any]:
    target = max(BATCH, int(1_000_000 * scale) // BATCH * BATCH)
    dsn = pg.create_database("tables_verify")
    log(f"ledger tables: building a {target:,}-row ledger table with 10% updated")
    started = time.perf_counter()
    inserted, updated = _load_verify_table(dsn, target, started + VERIFY_LOAD_BUDGET_S)
    load_s = time.perf_counter() - started
    block = close_block(dsn)
    log(f"  loaded in {load_s:.0f} s, closed block {block}")
    log("ledger tables: baseline reads of every current and history row")
    plain_rows, plain_s = _select_baseline(dsn, canonical=False)
    canonical_rows, canonical_s = _select_baseline(dsn, canonical=True)
    log("ledger tables: verify_database")
    start = time.perf_counter()
    report = verify_database(dsn)
    verify_s = time.perf_counter() - start
    stored = inserted + updated  # current rows + history rows
    if canonical_rows != stored or plain_rows != stored:
        raise RuntimeError(f"expected {stored} stored rows, read {canonical_rows}/{plain_rows}")
    log(f"  verified {stored:,} rows in {verify_s:.1f} s ({stored / verify_s:,.0f} rows/s)")
    return {
        "verify_rows_target": target,
        "verify_rows": inserted,
        "verify_rows_capped": inserted < target,
        "updated_rows": updated,
        "stored_rows": stored,
        "row_versions": report.row_versions,
        "transactions": report.transactions,
        "blocks": report.blocks,
        "load_seconds": load_s,
        "verify_seconds": verify_s,
        "verify_rows_per_s": stored / verify_s,
        "select_canonical_seconds": canonical_s,
        "select_canonical_rows_per_s": stored / canonical_s,
        "select_plain_seconds": plain_s,
        "select_plain_rows_per_s": stored / plain_s,
    }


def tables_section(pg: PostgresServer, scale: float) -> dict[str, Any]:
    """Measure ledger-table writes and verification on ``pg`` (already started)."""
    started = time.perf_counter()
    writes = _write_section(pg, scale)
    verification = _verify_section(pg, scale)
    return {
        "scale": scale,
        "writes": writes,
        "verify": verification,
        "seconds": time.perf_counter() - started,
    }


def _meets(ok: bool) -> str:
    return "meets" if ok else "**misses**"


def report_lines(result: dict[str, Any]) -> list[str]:
    """Markdown for BENCHMARKS.md."""
    lines = [
        "## Ledger tables (PostgreSQL)",
        "",
        f"Table: `{DDL}`.",
        "",
        "Written through psycopg 3 `executemany` by one client (the same code for both tables),",
        "`synchronous_commit=on`. Baseline: the same `CREATE TABLE` without the ledger, in another",
        "database of the same server. The ledger table additionally stamps every",
        "row version, moves old versions of updated rows to `payments_history`, and hashes the",
        "transaction at commit (row hashes, Merkle root, `accord_ledger.transactions` row).",
        f"Overhead = plain rows/s ÷ ledger rows/s (target ≤ {TARGET_OVERHEAD}×).",
        "",
        "| operation | rows / transaction | transactions | plain rows/s | ledger rows/s "
        "| overhead | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for value in result["writes"].values():
        lines.append(
            f"| {value['operation']} | {value['rows_per_transaction']:,} | "
            f"{value['transactions']:,} | {value['plain_rows_per_s']:,.0f} | "
            f"{value['ledger_rows_per_s']:,.0f} | {value['overhead']:.2f}× | "
            f"{_meets(value['overhead'] <= TARGET_OVERHEAD)} |"
        )
    v = result["verify"]
    size_note = ""
    if v["verify_rows_capped"]:
        size_note = (
            f" (the load was stopped at {v['verify_rows']:,} of the intended "
            f"{v['verify_rows_target']:,} rows to keep the benchmark within its time budget)"
        )
    rate = v["verify_rows_per_s"]
    lines += [
        "",
        f"Verification (`accord.tables.database.verify_database`) of a ledger table of "
        f"{v['verify_rows']:,} rows{size_note}, inserted in 1,000-row transactions, then "
        f"{v['updated_rows']:,} of them updated in 1,000-row transactions "
        f"({v['stored_rows']:,} stored rows: current + history; {v['row_versions']:,} row versions; "
        f"{v['transactions']:,} transactions in {v['blocks']} block(s); built in "
        f"{v['load_seconds']:.0f} s):",
        "",
        f"- verification: **{rate:,.0f} rows/s** ({v['verify_seconds']:.1f} s; target ≥ "
        f"{TARGET_VERIFY_ROWS_PER_S:,} rows/s: {_meets(rate >= TARGET_VERIFY_ROWS_PER_S)})",
        f"- baseline, reading the same rows with the verifier's canonical-text `SELECT` (server-side "
        f"cursor, no hashing): {v['select_canonical_rows_per_s']:,.0f} rows/s "
        f"({v['select_canonical_seconds']:.1f} s; verification takes "
        f"{v['verify_seconds'] / v['select_canonical_seconds']:.1f}× as long)",
        f"- baseline, a plain `SELECT *` of the same rows: {v['select_plain_rows_per_s']:,.0f} rows/s "
        f"({v['select_plain_seconds']:.1f} s)",
        "",
    ]
    return lines


def main() -> None:
    scale = float(os.environ.get("ACCORD_BENCH_SCALE", "1.0"))
    with PostgresServer() as pg:
        result = tables_section(pg, scale)
    log(f"ledger tables section took {result['seconds']:.0f} s")
    print("\n".join(report_lines(result)))


if __name__ == "__main__":
    main()
