"""Holes a hostile review found in the S3 API, each closed, each with a test that reopens it."""

from __future__ import annotations

import datetime
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.documents.conftest import S3Server, running_server, unique_bucket


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with running_server(tmp_path_factory.mktemp("hardening")) as s:
        yield s


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _records(server: S3Server) -> int:
    """How many versions the admin sees in all buckets (a refusal must not add one)."""
    s3 = server.client()
    total = 0
    for b in s3.list_buckets()["Buckets"]:
        reply = s3.list_object_versions(Bucket=b["Name"])
        total += len(reply.get("Versions", [])) + len(reply.get("DeleteMarkers", []))
    return total


def test_only_an_administrator_clears_a_legal_hold(server: S3Server) -> None:
    admin, contributor = server.client(), server.client("contributor")
    bucket = unique_bucket("hold")
    admin.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    vid = admin.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    admin.put_object_legal_hold(Bucket=bucket, Key="k", VersionId=vid, LegalHold={"Status": "ON"})
    with pytest.raises(ClientError) as refused:
        contributor.put_object_legal_hold(
            Bucket=bucket, Key="k", VersionId=vid, LegalHold={"Status": "OFF"}
        )
    assert _code(refused) == "AccessDenied"
    # A Contributor racing an Administrator's ON: whatever the order, the hold stays on.
    vid2 = admin.put_object(Bucket=bucket, Key="race", Body=b"y")["VersionId"]
    stop = threading.Event()

    def clear() -> None:
        while not stop.is_set():
            try:
                contributor.put_object_legal_hold(
                    Bucket=bucket, Key="race", VersionId=vid2, LegalHold={"Status": "OFF"}
                )
            except ClientError:
                pass

    racers = [threading.Thread(target=clear) for _ in range(4)]
    for t in racers:
        t.start()
    try:
        admin.put_object_legal_hold(
            Bucket=bucket, Key="race", VersionId=vid2, LegalHold={"Status": "ON"}
        )
    finally:
        stop.set()
        for t in racers:
            t.join()
    hold = admin.get_object_legal_hold(Bucket=bucket, Key="race", VersionId=vid2)
    assert hold["LegalHold"]["Status"] == "ON"
    with pytest.raises(ClientError) as refused:
        contributor.delete_object(Bucket=bucket, Key="race", VersionId=vid2)
    assert _code(refused) == "AccessDenied"


def test_a_locked_default_cannot_be_undercut_by_an_explicit_retention(server: S3Server) -> None:
    admin, contributor = server.client(), server.client("contributor")
    bucket = unique_bucket("floor")
    admin.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    admin.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 30}},
        },
    )
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=30)
    before = _records(server)
    for mode in ("GOVERNANCE", "COMPLIANCE"):
        with pytest.raises(ClientError) as refused:
            contributor.put_object(
                Bucket=bucket,
                Key="k",
                Body=b"x",
                ObjectLockMode=mode,
                ObjectLockRetainUntilDate=soon,
            )
        assert _code(refused) == "AccessDenied"
    assert _records(server) == before
    vid = contributor.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    retention = admin.get_object_retention(Bucket=bucket, Key="k", VersionId=vid)["Retention"]
    assert retention["Mode"] == "COMPLIANCE"


def test_weakening_a_governance_default_needs_the_bypass_header(server: S3Server) -> None:
    admin = server.client()
    bucket = unique_bucket("gdef")
    admin.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    config = {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}},
    }
    admin.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=config)
    with pytest.raises(ClientError) as refused:
        admin.put_object_lock_configuration(
            Bucket=bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"}
        )
    assert _code(refused) == "AccessDenied"

    def bypass(request: Any, **_: Any) -> None:
        request.headers["x-amz-bypass-governance-retention"] = "true"

    admin.meta.events.register("before-sign.s3.PutObjectLockConfiguration", bypass)
    try:
        admin.put_object_lock_configuration(
            Bucket=bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"}
        )
    finally:
        admin.meta.events.unregister("before-sign.s3.PutObjectLockConfiguration", bypass)
    assert (
        "Rule" not in admin.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    )


def test_delete_objects_keeps_spaces_in_keys(server: S3Server) -> None:
    admin = server.client()
    bucket = unique_bucket("spaces")
    admin.create_bucket(Bucket=bucket)
    admin.put_object(Bucket=bucket, Key="dup", Body=b"a")
    admin.put_object(Bucket=bucket, Key="dup ", Body=b"b")
    reply = admin.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "dup "}]})
    assert [d["Key"] for d in reply["Deleted"]] == ["dup "]
    keys = [o["Key"] for o in admin.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["dup"]


def test_a_multipart_upload_completes_once(server: S3Server) -> None:
    admin = server.client()
    bucket = unique_bucket("mpu")
    admin.create_bucket(Bucket=bucket)
    upload = admin.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    etag = admin.upload_part(
        Bucket=bucket, Key="big", UploadId=upload, PartNumber=1, Body=b"z" * 1000
    )["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
    outcomes: list[str] = []

    def complete() -> None:
        try:
            admin.complete_multipart_upload(
                Bucket=bucket, Key="big", UploadId=upload, MultipartUpload=parts
            )
            outcomes.append("ok")
        except ClientError as exc:
            outcomes.append(str(exc.response["Error"]["Code"]))

    threads = [threading.Thread(target=complete) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["NoSuchUpload"] * 3 + ["ok"], outcomes
    assert len(admin.list_object_versions(Bucket=bucket)["Versions"]) == 1
    with pytest.raises(ClientError) as gone:
        admin.abort_multipart_upload(Bucket=bucket, Key="big", UploadId=upload)
    assert _code(gone) == "NoSuchUpload"


def test_bad_input_is_a_4xx_that_changes_nothing(server: S3Server, tmp_path: Path) -> None:
    admin = server.client()
    bucket = unique_bucket("input")
    admin.create_bucket(Bucket=bucket)
    admin.put_object(Bucket=bucket, Key="k", Body=b"first")
    before = _records(server)
    with pytest.raises(ClientError) as refused:
        admin.put_object(Bucket=bucket, Key="k", Body=b"second", IfNoneMatch="*")
    assert _code(refused) == "PreconditionFailed"
    reply = server.signed("GET", f"/{bucket}/k?response-content-disposition=a%0D%0AX-Evil%3A%201")
    assert reply.status_code == 400 and b"InvalidArgument" in reply.content
    reply = server.signed("PUT", f"/{bucket}/a%ff%fe", body=b"x")
    assert reply.status_code == 400 and b"InvalidURI" in reply.content
    utf16 = '<?xml version="1.0" encoding="UTF-16"?><Delete><Object><Key>k</Key></Object></Delete>'
    reply = server.signed("POST", f"/{bucket}?delete", body=utf16.encode("utf-16"))
    assert reply.status_code == 400 and b"MalformedXML" in reply.content
    assert _records(server) == before
    assert admin.get_object(Bucket=bucket, Key="k")["Body"].read() == b"first"
