"""Acknowledged documents survive a crash; PostgreSQL as the shared store behind the same API."""

from __future__ import annotations

import hashlib
import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg

from accord.datadir import init_data_dir
from tests.documents.conftest import (
    S3Server,
    accord_subprocess,
    create_access_key,
    unique_bucket,
)


def test_every_acknowledged_put_survives_a_sigkill(tmp_path: Path) -> None:
    data = init_data_dir(tmp_path / "data", name="documents.test/crash")
    server = S3Server(data, {"admin": create_access_key(data, str(data / "admin.crt"))})
    server.start()
    bodies = {f"doc-{i}": os.urandom(300_000 + i) for i in range(24)}
    try:
        s3 = server.client()
        bucket = unique_bucket("crash")
        s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)

        def put(key: str) -> str:
            reply = s3.put_object(Bucket=bucket, Key=key, Body=bodies[key])
            return str(reply["VersionId"])

        with ThreadPoolExecutor(6) as pool:
            versions = dict(zip(bodies, pool.map(put, bodies), strict=True))
        assert server.proc is not None
        server.proc.kill()  # SIGKILL: no shutdown, no final checkpoint
        server.proc.communicate(timeout=30)
        server.proc = None
        server.start()
        s3 = server.client()
        for key, body in bodies.items():
            got = s3.get_object(Bucket=bucket, Key=key, VersionId=versions[key])["Body"].read()
            assert hashlib.sha256(got).digest() == hashlib.sha256(body).digest(), key
        server.stop()
    finally:
        server.kill()
    done = accord_subprocess("documents", "verify", "--data", str(data.path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"OK: {len(bodies)} document versions" in done.stdout


def test_postgresql_holds_the_documents_behind_the_same_s3_api(tmp_path: Path, pg_dsn: str) -> None:
    data = init_data_dir(tmp_path / "data", name="documents.test/pg", storage=pg_dsn)
    server = S3Server(data, {"admin": create_access_key(data, str(data / "admin.crt"))})
    server.start()
    big = os.urandom(9 * 1024 * 1024)  # > boto3's 8 MiB threshold: a multipart upload
    try:
        s3 = server.client()
        bucket = unique_bucket("pg")
        s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        s3.put_object(Bucket=bucket, Key="small.txt", Body=b"bill of lading 42")
        s3.upload_fileobj(io.BytesIO(big), bucket, "big.bin")
        got = s3.get_object(Bucket=bucket, Key="big.bin", Range="bytes=1048570-1048585")
        assert got["Body"].read() == big[1048570:1048586]
        server.stop()
        server.start()  # the state comes back from the ledger in PostgreSQL
        s3 = server.client()
        whole = s3.get_object(Bucket=bucket, Key="big.bin")["Body"].read()
        assert whole == big
        assert not list((data / "documents" / "blobs").glob("*/*"))  # no bytes beside PG
        server.stop()
    finally:
        server.kill()
    done = accord_subprocess("documents", "verify", "--data", str(data.path))
    assert done.returncode == 0, done.stdout + done.stderr
    digest = hashlib.sha256(b"bill of lading 42").hexdigest()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE accord_document_chunks SET data = 'bill of lading 43' WHERE blob = %s",
            (digest,),
        )
    done = accord_subprocess("documents", "verify", "--data", str(data.path))
    assert done.returncode == 1
    assert f"{bucket}/small.txt version" in done.stdout and "differ" in done.stdout
