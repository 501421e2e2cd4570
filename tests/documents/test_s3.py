"""boto3 against `accord serve`: every S3 operation of the document store, over real TLS.

One server runs for the module (:func:`s3_server`); each test makes its own buckets. The tests
that stop a server, restart it or damage its files get a server of their own. Expected
behaviour is real S3's, as botocore parses it (error codes, status codes, response shapes);
where accord is stricter than S3 (a COMPLIANCE default retention is locked; buckets are never
deleted), the test says so.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import io
import json
import os
import socket
import ssl
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import botocore.auth
import pytest
import requests
from boto3.s3.transfer import TransferConfig
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from accord.datadir import DataDir
from accord.documents.records import DOCUMENTS_COLLECTION, DOCUMENTS_USER
from accord.service.users import UserStore
from tests.documents.conftest import (
    S3Server,
    accord_cli,
    accord_subprocess,
    create_access_key,
    unique_bucket,
)

S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
MIB = 1024 * 1024


# --- helpers ------------------------------------------------------------------------------------
def s3_error(status: int, code: str, call: Callable[..., Any], **kwargs: Any) -> dict[str, Any]:
    """Call a boto3 operation that must fail with ``status`` and S3 error ``code``; the error
    response (botocore parsed it from S3's XML error document)."""
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response: dict[str, Any] = caught.value.response
    got = (response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"])
    assert got == (status, code), response
    return response


def future(**delta: float) -> datetime.datetime:
    """A moment from now, whole seconds (the server keeps milliseconds, boto3 sends seconds)."""
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    return now + datetime.timedelta(**delta)


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def versions_of(s3: Any, bucket: str, key: str | None = None) -> list[tuple[str, str, bool, bool]]:
    """(key, version id, is latest, is a delete marker) in S3's order: by key, newest first."""
    kwargs = {"Bucket": bucket, **({"Prefix": key} if key is not None else {})}
    out = s3.list_object_versions(**kwargs)
    for kind in ("Versions", "DeleteMarkers"):  # each list, as answered, is in that order
        order = [(v["Key"], -_seqno(v["VersionId"])) for v in out.get(kind, [])]
        assert order == sorted(order, key=lambda o: (o[0].encode(), o[1])), out
    items = [(v["Key"], v["VersionId"], v["IsLatest"], False) for v in out.get("Versions", [])]
    items += [(m["Key"], m["VersionId"], m["IsLatest"], True) for m in out.get("DeleteMarkers", [])]
    if key is not None:
        items = [i for i in items if i[0] == key]
    # boto3 splits versions and markers into two lists; merge them back (ids grow with time).
    return sorted(items, key=lambda i: (i[0].encode(), -_seqno(i[1])))


def _seqno(version_id: str) -> int:
    return int(version_id.split(".")[1])


def blob_path(data: DataDir, body: bytes) -> Path:
    digest = hashlib.sha256(body).hexdigest()
    return data.path / "documents" / "blobs" / digest[:2] / digest


def document_records(data: DataDir) -> list[tuple[str, dict[str, Any], str]]:
    """Every entry of the ledger's document collection: (transaction id, record, writer)."""
    reader = data.open_reader()
    try:
        size = reader.size()
        entries = reader.get_entries(1, size, collection_id=DOCUMENTS_COLLECTION) if size else []
    finally:
        reader.close()
    return [
        (str(e.metadata.transaction_id), json.loads(e.contents), e.metadata.user_id)
        for e in entries
    ]


@pytest.fixture
def s3(s3_server: S3Server) -> Any:
    return s3_server.client("admin")


@pytest.fixture
def bucket(s3: Any) -> str:
    """A fresh bucket with object lock enabled."""
    name = unique_bucket("lock")
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


@pytest.fixture
def plain_bucket(s3: Any) -> str:
    """A fresh bucket created without object lock."""
    name = unique_bucket("plain")
    s3.create_bucket(Bucket=name)
    return name


# --- buckets ------------------------------------------------------------------------------------
def test_create_bucket_with_object_lock_then_head_list_and_read_its_configuration(s3: Any) -> None:
    name = unique_bucket("new")
    created = s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert created["Location"] == f"/{name}"
    head = s3.head_bucket(Bucket=name)
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"
    listed = s3.list_buckets()
    names = [b["Name"] for b in listed["Buckets"]]
    assert name in names
    assert names == sorted(names)
    mine = next(b for b in listed["Buckets"] if b["Name"] == name)
    age = datetime.datetime.now(datetime.UTC) - mine["CreationDate"]
    assert datetime.timedelta(0) <= age < datetime.timedelta(minutes=1)
    lock = s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]
    assert lock == {"ObjectLockEnabled": "Enabled"}
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"


def test_creating_a_bucket_twice_is_bucket_already_owned_by_you(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"kept")
    s3_error(409, "BucketAlreadyOwnedByYou", s3.create_bucket, Bucket=bucket)
    s3_error(
        409,
        "BucketAlreadyOwnedByYou",
        s3.create_bucket,
        Bucket=bucket,
        ObjectLockEnabledForBucket=True,
    )
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"kept"
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]].count(bucket) == 1


@pytest.mark.parametrize(
    "name", ["ab", "Upper-case", "under_score", "-leading", "trailing-", "a..b", "192.168.1.1"]
)
def test_a_bucket_name_breaking_s3_rules_is_invalid_bucket_name(s3: Any, name: str) -> None:
    s3_error(400, "InvalidBucketName", s3.create_bucket, Bucket=name)
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_a_missing_bucket_is_no_such_bucket(s3: Any) -> None:
    missing = unique_bucket("missing")
    for call, kwargs in [
        (s3.get_object, {"Key": "k"}),
        (s3.put_object, {"Key": "k", "Body": b"x"}),
        (s3.list_objects_v2, {}),
        (s3.list_object_versions, {}),
        (s3.get_object_lock_configuration, {}),
    ]:
        s3_error(404, "NoSuchBucket", call, Bucket=missing, **kwargs)
    s3_error(404, "404", s3.head_bucket, Bucket=missing)  # HEAD: no body, so no code but the status


def test_versioning_stays_enabled_and_buckets_are_never_deleted(s3: Any, bucket: str) -> None:
    # accord is stricter than S3 here: immutable documents are always versioned, never dropped.
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3_error(
        400,
        "InvalidBucketState",
        s3.put_bucket_versioning,
        Bucket=bucket,
        VersioningConfiguration={"Status": "Suspended"},
    )
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    s3_error(405, "MethodNotAllowed", s3.delete_bucket, Bucket=bucket)
    s3.head_bucket(Bucket=bucket)


# --- objects ------------------------------------------------------------------------------------
def test_put_get_head_round_trip_bytes_type_and_metadata(s3: Any, bucket: str) -> None:
    body = os.urandom(1000) + b"end"
    put = s3.put_object(
        Bucket=bucket,
        Key="lot-17/analysis.pdf",
        Body=body,
        ContentType="application/pdf",
        Metadata={"lot": "17", "Analyst": "Zoe Q."},
    )
    assert put["VersionId"]
    got = s3.get_object(Bucket=bucket, Key="lot-17/analysis.pdf")
    assert got["Body"].read() == body
    assert got["ContentType"] == "application/pdf"
    assert got["ContentLength"] == len(body)
    assert got["Metadata"] == {"lot": "17", "analyst": "Zoe Q."}
    assert got["ETag"] == put["ETag"]
    assert got["VersionId"] == put["VersionId"]
    head = s3.head_object(Bucket=bucket, Key="lot-17/analysis.pdf")
    assert head["ContentLength"] == len(body)
    assert head["ETag"] == put["ETag"]
    assert head["VersionId"] == put["VersionId"]
    assert head["Metadata"] == {"lot": "17", "analyst": "Zoe Q."}
    assert head["ObjectLockLegalHoldStatus"] == "OFF"
    assert "ObjectLockMode" not in head
    age = datetime.datetime.now(datetime.UTC) - head["LastModified"]
    assert datetime.timedelta(seconds=-2) < age < datetime.timedelta(minutes=1)


def test_an_empty_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b""
    assert got["ContentLength"] == 0
    assert s3.head_object(Bucket=bucket, Key="empty")["ContentLength"] == 0


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [
        ("bytes=0-4", 0, 5),
        ("bytes=3-", 3, 26),
        ("bytes=-4", 22, 26),
        ("bytes=7-7", 7, 8),
        ("bytes=20-1000", 20, 26),
    ],
)
def test_get_object_with_a_range(s3_server: S3Server, spec: str, start: int, end: int) -> None:
    s3 = s3_server.client("reader")  # reading is a Reader's right
    body = b"abcdefghijklmnopqrstuvwxyz"
    got = s3.get_object(Bucket=_range_bucket(s3_server, body), Key="alphabet", Range=spec)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["Body"].read() == body[start:end]
    assert got["ContentRange"] == f"bytes {start}-{end - 1}/{len(body)}"
    assert got["ContentLength"] == end - start


_RANGE_BUCKETS: dict[str, str] = {}


def _range_bucket(server: S3Server, body: bytes) -> str:
    """One bucket holding ``alphabet`` for every range test of this server."""
    if server.endpoint not in _RANGE_BUCKETS:
        admin = server.client("admin")
        name = unique_bucket("range")
        admin.create_bucket(Bucket=name)
        admin.put_object(Bucket=name, Key="alphabet", Body=body)
        _RANGE_BUCKETS[server.endpoint] = name
    return _RANGE_BUCKETS[server.endpoint]


def test_a_range_past_the_end_is_invalid_range_416(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="ten", Body=b"0123456789")
    error = s3_error(
        416, "InvalidRange", s3.get_object, Bucket=bucket, Key="ten", Range="bytes=10-20"
    )
    assert error["ResponseMetadata"]["HTTPHeaders"]["content-range"] == "bytes */10"
    assert s3.get_object(Bucket=bucket, Key="ten", Range="bytes=9-20")["Body"].read() == b"9"


def test_missing_keys_and_versions(s3: Any, bucket: str) -> None:
    s3_error(404, "NoSuchKey", s3.get_object, Bucket=bucket, Key="never-written")
    s3_error(404, "404", s3.head_object, Bucket=bucket, Key="never-written")
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    wrong = f"{put['VersionId'].split('.')[0]}.999999999"
    s3_error(404, "NoSuchVersion", s3.get_object, Bucket=bucket, Key="k", VersionId=wrong)
    s3_error(
        404, "NoSuchVersion", s3.get_object, Bucket=bucket, Key="other", VersionId=put["VersionId"]
    )
    s3_error(404, "404", s3.head_object, Bucket=bucket, Key="k", VersionId=wrong)


AWKWARD_KEYS = [
    "with space.txt",
    "  leading and trailing  ",
    "plus+sign+and space",
    "a+b=c&d;e,f",
    "100%.txt",
    "%2F-looks-encoded",
    "question?and#hash",
    "tilde~!*'()$@",
    "ünïcödé/ファイル.pdf",
    "emoji-😀",
    "deep/a//b/",
    "/leading-slash",
    ".",
    "..",
    "dots/../up",
    "back\\slash",
    "x" * 1024,
]


def test_awkward_keys_round_trip_through_put_get_head_and_listings(s3: Any, bucket: str) -> None:
    for i, key in enumerate(AWKWARD_KEYS):
        body = f"body {i}".encode()
        put = s3.put_object(Bucket=bucket, Key=key, Body=body)
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body, key
        assert s3.head_object(Bucket=bucket, Key=key)["VersionId"] == put["VersionId"], key
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(AWKWARD_KEYS, key=lambda k: k.encode())
    for key in AWKWARD_KEYS:  # a prefix (a query parameter) with the same characters
        found = s3.list_objects_v2(Bucket=bucket, Prefix=key)["Contents"]
        assert key in [o["Key"] for o in found], key
    versions = [v["Key"] for v in s3.list_object_versions(Bucket=bucket)["Versions"]]
    assert sorted(versions) == sorted(AWKWARD_KEYS)


def test_a_key_over_1024_bytes_is_refused(s3: Any, bucket: str) -> None:
    s3_error(400, "KeyTooLongError", s3.put_object, Bucket=bucket, Key="é" * 513, Body=b"x")
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_conditional_get(s3: Any, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    s3_error(304, "304", s3.get_object, Bucket=bucket, Key="k", IfNoneMatch=put["ETag"])
    s3_error(412, "PreconditionFailed", s3.get_object, Bucket=bucket, Key="k", IfMatch='"0000"')
    assert s3.get_object(Bucket=bucket, Key="k", IfMatch=put["ETag"])["Body"].read() == b"v"


# --- versions and deletion ------------------------------------------------------------------------
def test_the_same_key_twice_makes_two_versions_each_readable(s3: Any, bucket: str) -> None:
    first = s3.put_object(Bucket=bucket, Key="report", Body=b"first")
    second = s3.put_object(Bucket=bucket, Key="report", Body=b"second")
    assert first["VersionId"] != second["VersionId"]
    assert s3.get_object(Bucket=bucket, Key="report")["Body"].read() == b"second"
    old = s3.get_object(Bucket=bucket, Key="report", VersionId=first["VersionId"])
    assert old["Body"].read() == b"first"
    assert old["VersionId"] == first["VersionId"]
    assert versions_of(s3, bucket, "report") == [
        ("report", second["VersionId"], True, False),
        ("report", first["VersionId"], False, False),
    ]
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("report", 6)]


def test_delete_without_a_version_adds_a_delete_marker_and_keeps_the_versions(
    s3: Any, bucket: str
) -> None:
    put = s3.put_object(Bucket=bucket, Key="doc", Body=b"content")
    deleted = s3.delete_object(Bucket=bucket, Key="doc")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    assert marker != put["VersionId"]
    error = s3_error(404, "NoSuchKey", s3.get_object, Bucket=bucket, Key="doc")
    assert error["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    head = s3_error(404, "404", s3.head_object, Bucket=bucket, Key="doc")
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-version-id"] == marker
    assert (
        s3.get_object(Bucket=bucket, Key="doc", VersionId=put["VersionId"])["Body"].read()
        == b"content"
    )
    # GET of the marker itself: 405, as S3 answers.
    s3_error(405, "MethodNotAllowed", s3.get_object, Bucket=bucket, Key="doc", VersionId=marker)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    assert versions_of(s3, bucket, "doc") == [
        ("doc", marker, True, True),
        ("doc", put["VersionId"], False, False),
    ]
    # A second delete adds a second marker.
    again = s3.delete_object(Bucket=bucket, Key="doc")
    assert again["DeleteMarker"] is True
    assert len(versions_of(s3, bucket, "doc")) == 3


def test_deleting_a_version_removes_it_and_deleting_the_marker_restores_the_key(
    s3: Any, bucket: str
) -> None:
    old = s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    new = s3.put_object(Bucket=bucket, Key="k", Body=b"new")
    gone = s3.delete_object(Bucket=bucket, Key="k", VersionId=new["VersionId"])
    assert gone["VersionId"] == new["VersionId"]
    assert "DeleteMarker" not in gone
    s3_error(
        404, "NoSuchVersion", s3.get_object, Bucket=bucket, Key="k", VersionId=new["VersionId"]
    )
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"old"
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    s3_error(404, "NoSuchKey", s3.get_object, Bucket=bucket, Key="k")
    undone = s3.delete_object(Bucket=bucket, Key="k", VersionId=marker)
    assert undone["DeleteMarker"] is True
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"old"
    assert versions_of(s3, bucket, "k") == [("k", old["VersionId"], True, False)]


def test_deleting_the_only_version_frees_its_bytes(
    s3_server: S3Server, s3: Any, bucket: str
) -> None:
    body = os.urandom(64)
    put = s3.put_object(Bucket=bucket, Key="k", Body=body)
    assert blob_path(s3_server.data, body).is_file()
    s3.delete_object(Bucket=bucket, Key="k", VersionId=put["VersionId"])
    assert not blob_path(s3_server.data, body).exists()
    assert "Versions" not in s3.list_object_versions(Bucket=bucket)


def test_list_object_versions_with_delete_markers_and_pagination(s3: Any, bucket: str) -> None:
    expected: list[tuple[str, str, bool, bool]] = []
    for key in ("a", "b/1", "b/2 +ü", "c"):
        ids = [
            s3.put_object(Bucket=bucket, Key=key, Body=f"{key}{n}".encode())["VersionId"]
            for n in range(3)
        ]
        if key == "b/2 +ü":
            ids.append(s3.delete_object(Bucket=bucket, Key=key)["VersionId"])
        newest_first = list(reversed(ids))
        expected += [
            (key, vid, i == 0, key == "b/2 +ü" and i == 0) for i, vid in enumerate(newest_first)
        ]
    assert versions_of(s3, bucket) == expected
    for page_size in (1, 2, 5):
        seen: list[tuple[str, str]] = []
        kwargs: dict[str, Any] = {"Bucket": bucket, "MaxKeys": page_size}
        pages = 0
        while True:
            page = s3.list_object_versions(**kwargs)
            pages += 1
            items = [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
            items += [(m["Key"], m["VersionId"]) for m in page.get("DeleteMarkers", [])]
            assert 0 < len(items) <= page_size
            seen += sorted(items, key=lambda i: (i[0], -_seqno(i[1])))
            if not page["IsTruncated"]:
                break
            kwargs["KeyMarker"] = page["NextKeyMarker"]
            kwargs["VersionIdMarker"] = page["NextVersionIdMarker"]
        assert seen == [(k, v) for k, v, _, _ in expected], page_size
        assert pages == -(-len(expected) // page_size)
    # boto3's paginator and a prefix, with the delimiter rolling b/ up.
    paginator = s3.get_paginator("list_object_versions")
    prefixes = []
    count = 0
    for page in paginator.paginate(Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 2}):
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        count += len(page.get("Versions", [])) + len(page.get("DeleteMarkers", []))
    assert prefixes == ["b/"]
    assert count == 6  # a and c, three versions each
    only_b = s3.list_object_versions(Bucket=bucket, Prefix="b/")
    assert {v["Key"] for v in only_b["Versions"]} == {"b/1", "b/2 +ü"}
    assert [m["Key"] for m in only_b["DeleteMarkers"]] == ["b/2 +ü"]


# --- listing ------------------------------------------------------------------------------------
LISTED_KEYS = [
    "a.txt",
    "dir/one",
    "dir/sub/three",
    "dir/sub/two",
    "dir/two",
    "plus+key",
    "space key",
    "z",
    "ü/one",
    "ü/two",
]


@pytest.fixture(scope="module")
def listing_bucket(s3_server: S3Server) -> str:
    s3 = s3_server.client("admin")
    name = unique_bucket("list")
    s3.create_bucket(Bucket=name)
    for key in LISTED_KEYS:
        s3.put_object(Bucket=name, Key=key, Body=key.encode())
    s3.put_object(Bucket=name, Key="deleted", Body=b"x")
    s3.delete_object(Bucket=name, Key="deleted")
    return name


def test_list_objects_v2_everything_in_order_without_deleted_keys(
    s3_server: S3Server, listing_bucket: str
) -> None:
    out = s3_server.client("reader").list_objects_v2(Bucket=listing_bucket)
    assert [o["Key"] for o in out["Contents"]] == LISTED_KEYS
    assert out["KeyCount"] == len(LISTED_KEYS)
    assert out["IsTruncated"] is False
    first = out["Contents"][0]
    assert first["Size"] == len("a.txt")
    assert first["StorageClass"] == "STANDARD"
    assert first["ETag"].startswith('"')


def test_list_objects_v2_with_a_prefix(s3: Any, listing_bucket: str) -> None:
    out = s3.list_objects_v2(Bucket=listing_bucket, Prefix="dir/")
    assert [o["Key"] for o in out["Contents"]] == [
        "dir/one",
        "dir/sub/three",
        "dir/sub/two",
        "dir/two",
    ]
    assert out["Prefix"] == "dir/"
    assert "Contents" not in s3.list_objects_v2(Bucket=listing_bucket, Prefix="nothing/")
    assert s3.list_objects_v2(Bucket=listing_bucket, Prefix="nothing/")["KeyCount"] == 0


def test_list_objects_v2_with_a_delimiter_rolls_up_common_prefixes(
    s3: Any, listing_bucket: str
) -> None:
    top = s3.list_objects_v2(Bucket=listing_bucket, Delimiter="/")
    assert [o["Key"] for o in top["Contents"]] == ["a.txt", "plus+key", "space key", "z"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["dir/", "ü/"]
    assert top["KeyCount"] == 6
    assert top["Delimiter"] == "/"
    inner = s3.list_objects_v2(Bucket=listing_bucket, Prefix="dir/", Delimiter="/")
    assert [o["Key"] for o in inner["Contents"]] == ["dir/one", "dir/two"]
    assert [p["Prefix"] for p in inner["CommonPrefixes"]] == ["dir/sub/"]
    unicode = s3.list_objects_v2(Bucket=listing_bucket, Prefix="ü/", Delimiter="/")
    assert [o["Key"] for o in unicode["Contents"]] == ["ü/one", "ü/two"]


@pytest.mark.parametrize("page_size", [1, 2, 3, 10])
def test_list_objects_v2_pagination_with_max_keys_and_continuation_token(
    s3: Any, listing_bucket: str, page_size: int
) -> None:
    seen: list[str] = []
    kwargs: dict[str, Any] = {"Bucket": listing_bucket, "MaxKeys": page_size}
    pages = 0
    while True:
        page = s3.list_objects_v2(**kwargs)
        pages += 1
        keys = [o["Key"] for o in page.get("Contents", [])]
        assert page["KeyCount"] == len(keys) <= page_size
        assert page["MaxKeys"] == page_size
        seen += keys
        if not page["IsTruncated"]:
            assert "NextContinuationToken" not in page
            break
        kwargs["ContinuationToken"] = page["NextContinuationToken"]
    assert seen == LISTED_KEYS
    assert pages == -(-len(LISTED_KEYS) // page_size)


def test_list_objects_v2_paginator_with_a_delimiter_returns_each_item_once(
    s3: Any, listing_bucket: str
) -> None:
    paginator = s3.get_paginator("list_objects_v2")
    keys: list[str] = []
    prefixes: list[str] = []
    for page in paginator.paginate(
        Bucket=listing_bucket, Delimiter="/", PaginationConfig={"PageSize": 1}
    ):
        keys += [o["Key"] for o in page.get("Contents", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    assert keys == ["a.txt", "plus+key", "space key", "z"]
    assert prefixes == ["dir/", "ü/"]


def test_list_objects_v2_start_after(s3: Any, listing_bucket: str) -> None:
    out = s3.list_objects_v2(Bucket=listing_bucket, StartAfter="dir/two")
    assert [o["Key"] for o in out["Contents"]] == LISTED_KEYS[5:]
    assert out["StartAfter"] == "dir/two"
    between = s3.list_objects_v2(Bucket=listing_bucket, StartAfter="plus+key", MaxKeys=1)
    assert [o["Key"] for o in between["Contents"]] == ["space key"]
    assert between["IsTruncated"] is True
    rest = s3.list_objects_v2(
        Bucket=listing_bucket, ContinuationToken=between["NextContinuationToken"]
    )
    assert [o["Key"] for o in rest["Contents"]] == ["z", "ü/one", "ü/two"]
    assert "Contents" not in s3.list_objects_v2(Bucket=listing_bucket, StartAfter="ü/two")


def test_list_objects_v1_with_marker(s3: Any, listing_bucket: str) -> None:
    out = s3.list_objects(Bucket=listing_bucket, Marker="plus+key")
    assert [o["Key"] for o in out["Contents"]] == ["space key", "z", "ü/one", "ü/two"]
    paginator = s3.get_paginator("list_objects")
    keys = [
        o["Key"]
        for page in paginator.paginate(Bucket=listing_bucket, PaginationConfig={"PageSize": 3})
        for o in page.get("Contents", [])
    ]
    assert keys == LISTED_KEYS


def test_list_objects_v2_with_a_bad_continuation_token_is_invalid_argument(
    s3: Any, listing_bucket: str
) -> None:
    s3_error(
        400,
        "InvalidArgument",
        s3.list_objects_v2,
        Bucket=listing_bucket,
        ContinuationToken="!!!not-a-token",
    )


# --- retention ----------------------------------------------------------------------------------
def _assert_still_there(s3: Any, bucket: str, key: str, version_id: str, body: bytes) -> None:
    """A refused change changed nothing: the version is listed and reads back whole."""
    assert s3.get_object(Bucket=bucket, Key=key, VersionId=version_id)["Body"].read() == body
    assert version_id in [v for _, v, _, _ in versions_of(s3, bucket, key)]


def test_compliance_retention_blocks_deletion_and_can_only_be_extended(
    s3_server: S3Server, bucket: str
) -> None:
    admin, contributor = s3_server.client("admin"), s3_server.client("contributor")
    put = contributor.put_object(Bucket=bucket, Key="coa.pdf", Body=b"certificate")
    vid = put["VersionId"]
    until = future(days=1)
    contributor.put_object_retention(
        Bucket=bucket,
        Key="coa.pdf",
        VersionId=vid,
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": until},
    )
    got = admin.get_object_retention(Bucket=bucket, Key="coa.pdf", VersionId=vid)["Retention"]
    assert got == {"Mode": "COMPLIANCE", "RetainUntilDate": until}
    head = admin.head_object(Bucket=bucket, Key="coa.pdf")
    assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"]) == ("COMPLIANCE", until)
    # Deleting the version: refused for everyone, with or without a bypass.
    for client, extra in [
        (contributor, {}),
        (admin, {}),
        (admin, {"BypassGovernanceRetention": True}),
    ]:
        s3_error(
            403,
            "AccessDenied",
            client.delete_object,
            Bucket=bucket,
            Key="coa.pdf",
            VersionId=vid,
            **extra,
        )
        _assert_still_there(admin, bucket, "coa.pdf", vid, b"certificate")
    # Shortening, removing, or downgrading to GOVERNANCE: refused even to a bypassing Administrator.
    for retention in [
        {"Mode": "COMPLIANCE", "RetainUntilDate": until - datetime.timedelta(hours=1)},
        {"Mode": "GOVERNANCE", "RetainUntilDate": until + datetime.timedelta(days=1)},
        {},
    ]:
        for client, extra in [(contributor, {}), (admin, {"BypassGovernanceRetention": True})]:
            s3_error(
                403,
                "AccessDenied",
                client.put_object_retention,
                Bucket=bucket,
                Key="coa.pdf",
                VersionId=vid,
                Retention=retention,
                **extra,
            )
            got = admin.get_object_retention(Bucket=bucket, Key="coa.pdf", VersionId=vid)[
                "Retention"
            ]
            assert got == {"Mode": "COMPLIANCE", "RetainUntilDate": until}
    # Extending: allowed (a Contributor may), and the new date holds.
    later = until + datetime.timedelta(days=30)
    contributor.put_object_retention(
        Bucket=bucket,
        Key="coa.pdf",
        VersionId=vid,
        Retention={"Mode": "COMPLIANCE", "RetainUntilDate": later},
    )
    assert (
        admin.get_object_retention(Bucket=bucket, Key="coa.pdf", VersionId=vid)["Retention"][
            "RetainUntilDate"
        ]
        == later
    )
    s3_error(403, "AccessDenied", admin.delete_object, Bucket=bucket, Key="coa.pdf", VersionId=vid)
    # A delete marker is still allowed (as in S3): the version stays, retained.
    marker = contributor.delete_object(Bucket=bucket, Key="coa.pdf")
    assert marker["DeleteMarker"] is True
    _assert_still_there(admin, bucket, "coa.pdf", vid, b"certificate")


def test_governance_retention_is_shortened_or_removed_only_by_a_bypassing_administrator(
    s3_server: S3Server, bucket: str
) -> None:
    admin, contributor = s3_server.client("admin"), s3_server.client("contributor")
    until = future(days=2)
    put = contributor.put_object(
        Bucket=bucket,
        Key="g",
        Body=b"governed",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=until,
    )
    vid = put["VersionId"]
    shorter = {"Mode": "GOVERNANCE", "RetainUntilDate": until - datetime.timedelta(days=1)}
    # A Contributor: not without a bypass, and a bypass is not theirs to ask for.
    s3_error(
        403,
        "AccessDenied",
        contributor.put_object_retention,
        Bucket=bucket,
        Key="g",
        VersionId=vid,
        Retention=shorter,
    )
    s3_error(
        403,
        "AccessDenied",
        contributor.put_object_retention,
        Bucket=bucket,
        Key="g",
        VersionId=vid,
        Retention=shorter,
        BypassGovernanceRetention=True,
    )
    s3_error(403, "AccessDenied", contributor.delete_object, Bucket=bucket, Key="g", VersionId=vid)
    s3_error(
        403,
        "AccessDenied",
        contributor.delete_object,
        Bucket=bucket,
        Key="g",
        VersionId=vid,
        BypassGovernanceRetention=True,
    )
    # An Administrator without the bypass header: refused too.
    s3_error(
        403,
        "AccessDenied",
        admin.put_object_retention,
        Bucket=bucket,
        Key="g",
        VersionId=vid,
        Retention=shorter,
    )
    s3_error(403, "AccessDenied", admin.delete_object, Bucket=bucket, Key="g", VersionId=vid)
    assert (
        admin.get_object_retention(Bucket=bucket, Key="g", VersionId=vid)["Retention"][
            "RetainUntilDate"
        ]
        == until
    )
    _assert_still_there(admin, bucket, "g", vid, b"governed")
    # Extending needs no bypass, even from a Contributor.
    longer = until + datetime.timedelta(days=1)
    contributor.put_object_retention(
        Bucket=bucket,
        Key="g",
        VersionId=vid,
        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": longer},
    )
    assert (
        admin.get_object_retention(Bucket=bucket, Key="g", VersionId=vid)["Retention"][
            "RetainUntilDate"
        ]
        == longer
    )
    # The Administrator with the bypass: shorten, then remove.
    admin.put_object_retention(
        Bucket=bucket, Key="g", VersionId=vid, Retention=shorter, BypassGovernanceRetention=True
    )
    assert admin.get_object_retention(Bucket=bucket, Key="g", VersionId=vid)["Retention"] == shorter
    admin.put_object_retention(
        Bucket=bucket, Key="g", VersionId=vid, Retention={}, BypassGovernanceRetention=True
    )
    s3_error(
        404,
        "NoSuchObjectLockConfiguration",
        admin.get_object_retention,
        Bucket=bucket,
        Key="g",
        VersionId=vid,
    )
    assert "ObjectLockMode" not in admin.head_object(Bucket=bucket, Key="g")
    # Now nothing protects it: a Contributor may delete it.
    contributor.delete_object(Bucket=bucket, Key="g", VersionId=vid)
    s3_error(404, "NoSuchVersion", admin.get_object, Bucket=bucket, Key="g", VersionId=vid)


def test_an_administrator_deletes_a_governance_version_with_the_bypass(
    s3_server: S3Server, bucket: str
) -> None:
    admin = s3_server.client("admin")
    put = admin.put_object(
        Bucket=bucket,
        Key="g",
        Body=b"x",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=future(days=1),
    )
    s3_error(
        403, "AccessDenied", admin.delete_object, Bucket=bucket, Key="g", VersionId=put["VersionId"]
    )
    admin.delete_object(
        Bucket=bucket, Key="g", VersionId=put["VersionId"], BypassGovernanceRetention=True
    )
    assert versions_of(admin, bucket, "g") == []


def test_a_retain_until_date_in_the_past_is_invalid_argument(s3: Any, bucket: str) -> None:
    past = future(days=-1)
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    s3_error(
        400,
        "InvalidArgument",
        s3.put_object_retention,
        Bucket=bucket,
        Key="k",
        VersionId=put["VersionId"],
        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": past},
    )
    s3_error(404, "NoSuchObjectLockConfiguration", s3.get_object_retention, Bucket=bucket, Key="k")
    s3_error(
        400,
        "InvalidArgument",
        s3.put_object,
        Bucket=bucket,
        Key="past",
        Body=b"v",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=past,
    )
    assert versions_of(s3, bucket, "past") == []


def test_retention_headers_must_come_in_pairs_with_a_known_mode(
    s3_server: S3Server, bucket: str
) -> None:
    response = s3_server.signed(
        "PUT", f"/{bucket}/half", body=b"v", headers={"x-amz-object-lock-mode": "GOVERNANCE"}
    )
    assert response.status_code == 400
    assert ET.fromstring(response.content).findtext("Code") == "InvalidArgument"
    response = s3_server.signed(
        "PUT",
        f"/{bucket}/mode",
        body=b"v",
        headers={
            "x-amz-object-lock-mode": "FOREVER",
            "x-amz-object-lock-retain-until-date": future(days=1).isoformat(),
        },
    )
    assert response.status_code == 400
    assert ET.fromstring(response.content).findtext("Code") == "InvalidArgument"
    assert "Versions" not in s3_server.client().list_object_versions(Bucket=bucket)


# --- legal hold ---------------------------------------------------------------------------------
def test_a_legal_hold_blocks_deletion_until_an_administrator_clears_it(
    s3_server: S3Server, bucket: str
) -> None:
    admin, contributor = s3_server.client("admin"), s3_server.client("contributor")
    vid = contributor.put_object(Bucket=bucket, Key="held", Body=b"evidence")["VersionId"]
    assert admin.get_object_legal_hold(Bucket=bucket, Key="held")["LegalHold"] == {"Status": "OFF"}
    contributor.put_object_legal_hold(
        Bucket=bucket, Key="held", VersionId=vid, LegalHold={"Status": "ON"}
    )
    assert admin.get_object_legal_hold(Bucket=bucket, Key="held", VersionId=vid)["LegalHold"] == {
        "Status": "ON"
    }
    assert admin.head_object(Bucket=bucket, Key="held")["ObjectLockLegalHoldStatus"] == "ON"
    for client, extra in [
        (contributor, {}),
        (admin, {}),
        (admin, {"BypassGovernanceRetention": True}),
    ]:
        s3_error(
            403,
            "AccessDenied",
            client.delete_object,
            Bucket=bucket,
            Key="held",
            VersionId=vid,
            **extra,
        )
        _assert_still_there(admin, bucket, "held", vid, b"evidence")
    # Only an Administrator clears it.
    s3_error(
        403,
        "AccessDenied",
        contributor.put_object_legal_hold,
        Bucket=bucket,
        Key="held",
        VersionId=vid,
        LegalHold={"Status": "OFF"},
    )
    assert admin.get_object_legal_hold(Bucket=bucket, Key="held", VersionId=vid)["LegalHold"] == {
        "Status": "ON"
    }
    admin.put_object_legal_hold(
        Bucket=bucket, Key="held", VersionId=vid, LegalHold={"Status": "OFF"}
    )
    assert admin.get_object_legal_hold(Bucket=bucket, Key="held", VersionId=vid)["LegalHold"] == {
        "Status": "OFF"
    }
    contributor.delete_object(Bucket=bucket, Key="held", VersionId=vid)
    assert versions_of(admin, bucket, "held") == []


def test_a_legal_hold_outlasts_an_expired_retention(s3_server: S3Server, bucket: str) -> None:
    admin = s3_server.client("admin")
    soon = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=4)  # a slow PUT fits
    put = admin.put_object(
        Bucket=bucket,
        Key="k",
        Body=b"v",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=soon,
        ObjectLockLegalHoldStatus="ON",
    )
    vid = put["VersionId"]
    head = admin.head_object(Bucket=bucket, Key="k")
    assert (head["ObjectLockMode"], head["ObjectLockLegalHoldStatus"]) == ("COMPLIANCE", "ON")
    time.sleep(max(0.0, (soon - datetime.datetime.now(datetime.UTC)).total_seconds()) + 0.2)
    error = s3_error(
        403, "AccessDenied", admin.delete_object, Bucket=bucket, Key="k", VersionId=vid
    )
    assert "legal hold" in error["Error"]["Message"]
    _assert_still_there(admin, bucket, "k", vid, b"v")
    admin.put_object_legal_hold(Bucket=bucket, Key="k", VersionId=vid, LegalHold={"Status": "OFF"})
    admin.delete_object(Bucket=bucket, Key="k", VersionId=vid)  # the retention has expired
    assert versions_of(admin, bucket, "k") == []


def test_legal_hold_status_must_be_on_or_off(s3_server: S3Server, bucket: str) -> None:
    s3_server.client().put_object(Bucket=bucket, Key="k", Body=b"v")
    body = b'<LegalHold xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>MAYBE</Status></LegalHold>'
    response = s3_server.signed("PUT", f"/{bucket}/k?legal-hold", body=body)
    assert response.status_code == 400
    assert ET.fromstring(response.content).findtext("Code") == "MalformedXML"
    assert s3_server.client().get_object_legal_hold(Bucket=bucket, Key="k")["LegalHold"] == {
        "Status": "OFF"
    }


# --- default retention (object lock configuration) ----------------------------------------------
def test_a_default_retention_applies_to_new_versions_only(s3_server: S3Server, bucket: str) -> None:
    admin, contributor = s3_server.client("admin"), s3_server.client("contributor")
    before = contributor.put_object(Bucket=bucket, Key="before", Body=b"b")["VersionId"]
    admin.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 3}},
        },
    )
    config = admin.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert config == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 3}},
    }
    sent = datetime.datetime.now(datetime.UTC)
    after = contributor.put_object(Bucket=bucket, Key="after", Body=b"a")["VersionId"]
    retention = admin.get_object_retention(Bucket=bucket, Key="after", VersionId=after)["Retention"]
    assert retention["Mode"] == "GOVERNANCE"
    delta = retention["RetainUntilDate"] - (sent + datetime.timedelta(days=3))
    assert abs(delta) < datetime.timedelta(seconds=30)
    s3_error(
        404,
        "NoSuchObjectLockConfiguration",
        admin.get_object_retention,
        Bucket=bucket,
        Key="before",
        VersionId=before,
    )
    s3_error(
        403, "AccessDenied", contributor.delete_object, Bucket=bucket, Key="after", VersionId=after
    )
    # An explicit retention on the upload wins over the default.
    explicit = future(days=10)
    vid = contributor.put_object(
        Bucket=bucket,
        Key="explicit",
        Body=b"e",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=explicit,
    )["VersionId"]
    got = admin.get_object_retention(Bucket=bucket, Key="explicit", VersionId=vid)["Retention"]
    assert got == {"Mode": "COMPLIANCE", "RetainUntilDate": explicit}
    # Years are days too; an Administrator may change a GOVERNANCE default.
    admin.put_object_lock_configuration(
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Years": 1}},
        },
    )
    rule = admin.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]["Rule"]
    assert rule["DefaultRetention"]["Mode"] == "GOVERNANCE"
    assert rule["DefaultRetention"].get("Days") == 365 or rule["DefaultRetention"].get("Years") == 1


def test_a_compliance_default_retention_can_be_extended_never_shortened_or_removed(
    s3: Any, bucket: str
) -> None:
    # accord is stricter than S3 here: a COMPLIANCE default is locked like a COMPLIANCE version.
    def rule(mode: str, days: int) -> dict[str, Any]:
        return {
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": mode, "Days": days}},
        }

    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=rule("COMPLIANCE", 5))
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=rule("COMPLIANCE", 7))
    for weaker in [rule("COMPLIANCE", 6), rule("GOVERNANCE", 30), {"ObjectLockEnabled": "Enabled"}]:
        s3_error(
            403,
            "AccessDenied",
            s3.put_object_lock_configuration,
            Bucket=bucket,
            ObjectLockConfiguration=weaker,
        )
        assert s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"] == rule(
            "COMPLIANCE", 7
        )
    vid = s3.put_object(Bucket=bucket, Key="k", Body=b"v")["VersionId"]
    assert (
        s3.get_object_retention(Bucket=bucket, Key="k", VersionId=vid)["Retention"]["Mode"]
        == "COMPLIANCE"
    )
    s3_error(
        403,
        "AccessDenied",
        s3.delete_object,
        Bucket=bucket,
        Key="k",
        VersionId=vid,
        BypassGovernanceRetention=True,
    )


def test_invalid_default_retentions_are_refused(s3: Any, bucket: str) -> None:
    for days in (0, 36_501):
        s3_error(
            400,
            "InvalidArgument",
            s3.put_object_lock_configuration,
            Bucket=bucket,
            ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled",
                "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": days}},
            },
        )
    s3_error(
        400,
        "MalformedXML",
        s3.put_object_lock_configuration,
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1, "Years": 1}},
        },
    )
    assert s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled"
    }


# --- a bucket without object lock ---------------------------------------------------------------
def test_a_bucket_without_object_lock_refuses_retention_hold_and_defaults(
    s3: Any, plain_bucket: str
) -> None:
    vid = s3.put_object(Bucket=plain_bucket, Key="k", Body=b"v")["VersionId"]
    kw = {"Bucket": plain_bucket, "Key": "k", "VersionId": vid}
    s3_error(
        400,
        "InvalidRequest",
        s3.put_object_retention,
        **kw,
        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": future(days=1)},
    )
    s3_error(400, "InvalidRequest", s3.put_object_legal_hold, **kw, LegalHold={"Status": "ON"})
    s3_error(400, "InvalidRequest", s3.get_object_retention, **kw)
    s3_error(400, "InvalidRequest", s3.get_object_legal_hold, **kw)
    s3_error(
        400,
        "InvalidRequest",
        s3.put_object,
        Bucket=plain_bucket,
        Key="locked",
        Body=b"v",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=future(days=1),
    )
    s3_error(
        400,
        "InvalidRequest",
        s3.put_object,
        Bucket=plain_bucket,
        Key="held",
        Body=b"v",
        ObjectLockLegalHoldStatus="ON",
    )
    s3_error(
        400,
        "InvalidRequest",
        s3.create_multipart_upload,
        Bucket=plain_bucket,
        Key="multipart",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=future(days=1),
    )
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=plain_bucket)
    s3_error(
        404,
        "ObjectLockConfigurationNotFoundError",
        s3.get_object_lock_configuration,
        Bucket=plain_bucket,
    )
    s3_error(
        409,
        "InvalidBucketState",
        s3.put_object_lock_configuration,
        Bucket=plain_bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
        },
    )
    assert versions_of(s3, plain_bucket) == [("k", vid, True, False)]
    s3.delete_object(**kw)  # nothing locks it
    assert versions_of(s3, plain_bucket) == []


# --- checksums ----------------------------------------------------------------------------------
def test_a_sha256_checksum_is_checked_and_answered(s3: Any, bucket: str) -> None:
    body = os.urandom(3000)
    put = s3.put_object(Bucket=bucket, Key="k", Body=body, ChecksumAlgorithm="SHA256")
    assert put["ChecksumSHA256"] == sha256_b64(body)
    explicit = s3.put_object(Bucket=bucket, Key="k2", Body=body, ChecksumSHA256=sha256_b64(body))
    assert explicit["ChecksumSHA256"] == sha256_b64(body)
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == sha256_b64(body)
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")  # botocore checks it
    assert got["Body"].read() == body
    assert got["ChecksumSHA256"] == sha256_b64(body)


@pytest.mark.parametrize(
    "wrong",
    [
        {"ChecksumSHA256": sha256_b64(b"something else")},
        {"ChecksumCRC32": base64.b64encode(b"\0\0\0\0").decode()},
        {"ChecksumSHA1": base64.b64encode(hashlib.sha1(b"other").digest()).decode()},
        {"ContentMD5": base64.b64encode(hashlib.md5(b"other").digest()).decode()},
    ],
    ids=["sha256", "crc32", "sha1", "md5"],
)
def test_a_wrong_checksum_is_bad_digest_and_nothing_is_stored(
    s3_server: S3Server, s3: Any, bucket: str, wrong: dict[str, str]
) -> None:
    body = os.urandom(2048)
    s3_error(400, "BadDigest", s3.put_object, Bucket=bucket, Key="bad", Body=body, **wrong)
    s3_error(404, "NoSuchKey", s3.get_object, Bucket=bucket, Key="bad")
    assert versions_of(s3, bucket, "bad") == []
    assert not blob_path(s3_server.data, body).exists()


def test_a_body_shorter_than_its_content_length_stores_nothing(
    s3_server: S3Server, bucket: str
) -> None:
    # Signed for 10 bytes, sends 4, then closes: the server must not keep a version.
    key = s3_server.keys["admin"]
    request = AWSRequest(
        method="PUT",
        url=f"{s3_server.endpoint}/{bucket}/short",
        data=b"",
        headers={"Content-Length": "10", "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"},
    )
    S3SigV4Auth(
        Credentials(key["access_key_id"], key["secret_access_key"]), "s3", "us-east-1"
    ).add_auth(request)
    host, port = s3_server.endpoint.removeprefix("https://").split(":")
    head = f"PUT /{bucket}/short HTTP/1.1\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in request.headers.items()
    )
    context = ssl.create_default_context(cafile=s3_server.ca)
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(head.encode() + b"\r\n" + b"1234")
            tls.shutdown(socket.SHUT_WR)
            try:
                tls.recv(65536)
            except (ssl.SSLError, OSError):
                pass
    time.sleep(0.2)
    assert versions_of(s3_server.client(), bucket, "short") == []


# --- multipart upload ---------------------------------------------------------------------------
def test_multipart_upload_create_upload_parts_list_and_complete(
    s3_server: S3Server, bucket: str
) -> None:
    s3 = s3_server.client("contributor")
    parts_data = [os.urandom(5 * MIB), os.urandom(5 * MIB), b"the last part is small"]
    until = future(days=1)
    created = s3.create_multipart_upload(
        Bucket=bucket,
        Key="big/file.bin",
        ContentType="application/x-big",
        Metadata={"batch": "9"},
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=until,
    )
    upload_id = created["UploadId"]
    assert (created["Bucket"], created["Key"]) == (bucket, "big/file.bin")
    listed = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in listed] == [("big/file.bin", upload_id)]
    etags = []
    for n, data in enumerate(parts_data, 1):
        etags.append(
            s3.upload_part(
                Bucket=bucket, Key="big/file.bin", UploadId=upload_id, PartNumber=n, Body=data
            )["ETag"]
        )
    # Re-sending a part replaces it.
    etags[1] = s3.upload_part(
        Bucket=bucket, Key="big/file.bin", UploadId=upload_id, PartNumber=2, Body=parts_data[1]
    )["ETag"]
    parts = s3.list_parts(Bucket=bucket, Key="big/file.bin", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in parts] == [
        (n, etag, len(d)) for n, (etag, d) in enumerate(zip(etags, parts_data, strict=True), 1)
    ]
    assert versions_of(s3, bucket, "big/file.bin") == []  # nothing is visible before completion
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="big/file.bin",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    assert done["ETag"] == s3.head_object(Bucket=bucket, Key="big/file.bin")["ETag"]
    assert done["VersionId"]
    whole = b"".join(parts_data)
    got = s3.get_object(Bucket=bucket, Key="big/file.bin")
    assert got["Body"].read() == whole
    assert got["ContentType"] == "application/x-big"
    assert got["Metadata"] == {"batch": "9"}
    assert got["VersionId"] == done["VersionId"]
    assert got["ObjectLockMode"] == "GOVERNANCE"
    assert got["ObjectLockRetainUntilDate"] == until
    tail = s3.get_object(
        Bucket=bucket, Key="big/file.bin", Range=f"bytes={5 * MIB - 2}-{5 * MIB + 1}"
    )
    assert tail["Body"].read() == whole[5 * MIB - 2 : 5 * MIB + 2]
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    s3_error(
        404, "NoSuchUpload", s3.list_parts, Bucket=bucket, Key="big/file.bin", UploadId=upload_id
    )
    s3_error(
        403,
        "AccessDenied",
        s3.delete_object,
        Bucket=bucket,
        Key="big/file.bin",
        VersionId=done["VersionId"],
    )


def test_multipart_upload_abort(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="aborted")["UploadId"]
    etag = s3.upload_part(
        Bucket=bucket, Key="aborted", UploadId=upload_id, PartNumber=1, Body=b"part"
    )["ETag"]
    aborted = s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=upload_id)
    assert aborted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    s3_error(
        404,
        "NoSuchUpload",
        s3.upload_part,
        Bucket=bucket,
        Key="aborted",
        UploadId=upload_id,
        PartNumber=2,
        Body=b"x",
    )
    s3_error(
        404,
        "NoSuchUpload",
        s3.complete_multipart_upload,
        Bucket=bucket,
        Key="aborted",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    s3_error(
        404,
        "NoSuchUpload",
        s3.abort_multipart_upload,
        Bucket=bucket,
        Key="aborted",
        UploadId=upload_id,
    )
    assert versions_of(s3, bucket, "aborted") == []


def test_multipart_completion_checks_parts(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"one")[
        "ETag"
    ]
    e2 = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=2, Body=b"two")[
        "ETag"
    ]
    complete = {"Bucket": bucket, "Key": "k", "UploadId": upload_id}
    bad_md5 = base64.b64encode(hashlib.md5(b"not three").digest()).decode()
    s3_error(
        400,
        "BadDigest",
        s3.upload_part,
        Bucket=bucket,
        Key="k",
        UploadId=upload_id,
        PartNumber=3,
        Body=b"three",
        ContentMD5=bad_md5,
    )
    parts = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]
    assert [p["PartNumber"] for p in parts] == [1, 2]
    s3_error(
        400,
        "InvalidPart",
        s3.complete_multipart_upload,
        **complete,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e2}]},
    )
    s3_error(
        400,
        "InvalidPart",
        s3.complete_multipart_upload,
        **complete,
        MultipartUpload={"Parts": [{"PartNumber": 3, "ETag": e1}]},
    )
    s3_error(
        400,
        "InvalidPartOrder",
        s3.complete_multipart_upload,
        **complete,
        MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]},
    )
    s3_error(
        404,
        "NoSuchUpload",
        s3.upload_part,
        Bucket=bucket,
        Key="other-key",
        UploadId=upload_id,
        PartNumber=1,
        Body=b"x",
    )
    s3_error(
        400,
        "InvalidArgument",
        s3.upload_part,
        Bucket=bucket,
        Key="k",
        UploadId=upload_id,
        PartNumber=10001,
        Body=b"x",
    )
    assert versions_of(s3, bucket, "k") == []
    # Only the listed parts make the object.
    s3.complete_multipart_upload(
        **complete, MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": e2}]}
    )
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"


def test_upload_file_over_8_mib_goes_multipart_and_downloads_whole(
    s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    s3 = s3_server.client("contributor")
    source = tmp_path / "big.bin"
    data = os.urandom(9 * MIB + 123)
    source.write_bytes(data)
    calls: list[str] = []

    def count(event_name: str, **_: Any) -> None:
        calls.append(event_name.rsplit(".", 1)[1])

    s3.meta.events.register("before-call.s3", count, unique_id="count-calls")
    try:
        s3.upload_file(str(source), bucket, "uploads/big.bin")  # default threshold: 8 MiB
        s3.upload_fileobj(io.BytesIO(b"small"), bucket, "uploads/small.bin")
    finally:
        s3.meta.events.unregister("before-call.s3", unique_id="count-calls")
    assert sorted(calls) == sorted(
        [
            "CreateMultipartUpload",
            "UploadPart",
            "UploadPart",
            "CompleteMultipartUpload",
            "PutObject",
        ]
    )
    head = s3.head_object(Bucket=bucket, Key="uploads/big.bin")
    assert head["ContentLength"] == len(data)
    target = tmp_path / "back.bin"
    s3.download_file(bucket, "uploads/big.bin", str(target))
    assert hashlib.sha256(target.read_bytes()).digest() == hashlib.sha256(data).digest()
    buffer = io.BytesIO()
    s3.download_fileobj(
        bucket, "uploads/big.bin", buffer, Config=TransferConfig(multipart_chunksize=4 * MIB)
    )
    assert buffer.getvalue() == data  # ranged GETs, reassembled
    assert s3.get_object(Bucket=bucket, Key="uploads/small.bin")["Body"].read() == b"small"


# --- DeleteObjects ------------------------------------------------------------------------------
def test_delete_objects_reports_each_refusal(s3: Any, bucket: str) -> None:
    free = s3.put_object(Bucket=bucket, Key="free", Body=b"f")["VersionId"]
    locked = s3.put_object(
        Bucket=bucket,
        Key="locked",
        Body=b"l",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=future(days=1),
    )["VersionId"]
    s3.put_object(Bucket=bucket, Key="marked", Body=b"m")
    out = s3.delete_objects(
        Bucket=bucket,
        Delete={
            "Objects": [
                {"Key": "free", "VersionId": free},
                {"Key": "locked", "VersionId": locked},
                {"Key": "marked"},
            ]
        },
    )
    deleted = {(d["Key"], d.get("VersionId")): d for d in out["Deleted"]}
    errors = {(e["Key"], e.get("VersionId")): e["Code"] for e in out["Errors"]}
    assert set(deleted) == {("free", free), ("marked", None)}
    assert deleted[("marked", None)]["DeleteMarker"] is True
    assert errors == {("locked", locked): "AccessDenied"}
    _assert_still_there(s3, bucket, "locked", locked, b"l")
    s3_error(404, "NoSuchKey", s3.get_object, Bucket=bucket, Key="marked")
    assert versions_of(s3, bucket, "free") == []


# --- authentication -----------------------------------------------------------------------------
def test_a_wrong_secret_is_signature_does_not_match(s3_server: S3Server, bucket: str) -> None:
    key_id = s3_server.keys["admin"]["access_key_id"]
    forger = s3_server.client(key_id=key_id, secret="not-the-secret-" + "x" * 25)
    s3_error(403, "SignatureDoesNotMatch", forger.list_objects_v2, Bucket=bucket)
    s3_error(
        403, "SignatureDoesNotMatch", forger.put_object, Bucket=bucket, Key="forged", Body=b"x"
    )
    assert versions_of(s3_server.client(), bucket, "forged") == []


def test_an_unknown_access_key_is_invalid_access_key_id(s3_server: S3Server, bucket: str) -> None:
    stranger = s3_server.client(key_id="AKACNOSUCHKEY0000000", secret="whatever")
    s3_error(403, "InvalidAccessKeyId", stranger.list_buckets)
    s3_error(403, "InvalidAccessKeyId", stranger.put_object, Bucket=bucket, Key="k", Body=b"x")


def test_a_revoked_access_key_is_refused(s3_server: S3Server, bucket: str) -> None:
    spare = s3_server.keys["spare"]
    client = s3_server.client(key_id=spare["access_key_id"], secret=spare["secret_access_key"])
    client.put_object(Bucket=bucket, Key="before", Body=b"ok")  # it works until revoked
    code, out = accord_cli(
        "documents", "keys", "revoke", "--data", str(s3_server.data.path), spare["access_key_id"]
    )
    assert code == 0
    assert "revoked" in out
    s3_error(403, "InvalidAccessKeyId", client.put_object, Bucket=bucket, Key="after", Body=b"x")
    s3_error(403, "InvalidAccessKeyId", client.get_object, Bucket=bucket, Key="before")
    assert versions_of(s3_server.client(), bucket, "after") == []
    code, out = accord_cli(
        "documents", "keys", "list", "--data", str(s3_server.data.path), "--json"
    )
    listed = {k["access_key_id"]: k for k in json.loads(out)}
    assert listed[spare["access_key_id"]]["revoked"]
    assert listed[s3_server.keys["admin"]["access_key_id"]]["revoked"] is None
    assert (
        spare["secret_access_key"]
        not in (s3_server.data.path / "documents" / "access-keys.json").read_text()
    )


def _until(check: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_a_role_change_applies_to_the_users_existing_keys(s3_server: S3Server, bucket: str) -> None:
    users = UserStore(s3_server.data / "users.json")
    user = f"temp-{os.getpid()}"
    users.assign_role(user, "token", "Contributor")
    key = create_access_key(s3_server.data, user)
    client = s3_server.client(key_id=key["access_key_id"], secret=key["secret_access_key"])

    def can_put() -> bool:
        try:
            client.put_object(Bucket=bucket, Key="role-probe", Body=b"x")
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "AccessDenied", exc.response
            return False
        return True

    assert _until(can_put), "the new Contributor never got write access"
    users.assign_role(user, "token", "Reader")
    assert _until(lambda: not can_put()), "the demoted user kept write access"
    assert client.get_object(Bucket=bucket, Key="role-probe")["Body"].read() == b"x"
    users.delete(user)
    assert _until(lambda: _denied(client, bucket)), "a deleted user's key kept working"


def _denied(client: Any, bucket: str) -> bool:
    try:
        client.list_objects_v2(Bucket=bucket)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "AccessDenied", exc.response
        return True
    return False


def _urlopen(
    url: str, ca: str, method: str = "GET", data: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    context = ssl.create_default_context(cafile=ca)
    request = urllib.request.Request(url, method=method, data=data)
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _error_xml(body: bytes) -> ET.Element:
    root = ET.fromstring(body)
    assert root.tag == "Error", body
    return root


def test_an_unsigned_request_is_403_with_an_s3_xml_error(s3_server: S3Server, bucket: str) -> None:
    s3_server.client().put_object(Bucket=bucket, Key="secret.txt", Body=b"classified")
    for method, path, data in [
        ("GET", f"/{bucket}/secret.txt", None),
        ("GET", "/", None),
        ("PUT", f"/{bucket}/anonymous", b"x"),
        ("DELETE", f"/{bucket}/secret.txt", None),
    ]:
        status, headers, body = _urlopen(s3_server.endpoint + path, s3_server.ca, method, data)
        assert status == 403, (method, path)
        assert headers["Content-Type"].startswith("application/xml")
        root = _error_xml(body)
        assert root.findtext("Code") == "AccessDenied"
        assert root.findtext("Message")
        assert root.findtext("RequestId") == headers["x-amz-request-id"]
        assert b"classified" not in body
    assert versions_of(s3_server.client(), bucket, "anonymous") == []
    assert (
        s3_server.client().get_object(Bucket=bucket, Key="secret.txt")["Body"].read()
        == b"classified"
    )


def test_a_presigned_get_url_works_until_it_expires(s3_server: S3Server, bucket: str) -> None:
    s3 = s3_server.client("reader", signature_version="s3v4")
    s3_server.client().put_object(Bucket=bucket, Key="shared file+1.txt", Body=b"shared")
    # botocore presigns with SigV2 unless told s3v4: refused, and the error says why.
    v2 = s3_server.client("reader").generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "shared file+1.txt"}, ExpiresIn=300
    )
    assert "Signature=" in v2 and "X-Amz-Signature" not in v2
    response = requests.get(v2, verify=s3_server.ca, timeout=30)
    assert response.status_code == 400
    assert _error_xml(response.content).findtext("Code") == "InvalidRequest"
    assert "AWS4-HMAC-SHA256" in (_error_xml(response.content).findtext("Message") or "")
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "shared file+1.txt"}, ExpiresIn=300
    )
    response = requests.get(url, verify=s3_server.ca, timeout=30)
    assert response.status_code == 200
    assert response.content == b"shared"
    status, _, body = _urlopen(url, s3_server.ca)
    assert (status, body) == (200, b"shared")
    # The signature covers the key and the expiry: changing either is refused.
    other = url.replace("shared%20file%2B1.txt", "shared%20file%2B2.txt")
    assert other != url
    response = requests.get(other, verify=s3_server.ca, timeout=30)
    assert response.status_code == 403
    assert _error_xml(response.content).findtext("Code") == "SignatureDoesNotMatch"
    longer = url.replace("X-Amz-Expires=300", "X-Amz-Expires=600")
    assert longer != url
    assert requests.get(longer, verify=s3_server.ca, timeout=30).status_code == 403
    # response-* parameters (signed with the URL) set the answer's headers.
    download = s3.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": bucket,
            "Key": "shared file+1.txt",
            "ResponseContentDisposition": 'attachment; filename="report.txt"',
            "ResponseContentType": "text/plain",
        },
        ExpiresIn=60,
    )
    response = requests.get(download, verify=s3_server.ca, timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="report.txt"'
    assert response.headers["Content-Type"] == "text/plain"
    assert response.content == b"shared"
    short = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "shared file+1.txt"}, ExpiresIn=1
    )
    time.sleep(2.1)
    response = requests.get(short, verify=s3_server.ca, timeout=30)
    assert response.status_code == 403
    assert _error_xml(response.content).findtext("Code") == "AccessDenied"
    assert "expired" in (_error_xml(response.content).findtext("Message") or "")
    assert response.content != b"shared"


def test_a_presigned_put_url_stores_an_object(s3_server: S3Server, bucket: str) -> None:
    s3 = s3_server.client("contributor", signature_version="s3v4")
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "via-url"}, ExpiresIn=60
    )
    response = requests.put(url, data=b"uploaded by url", verify=s3_server.ca, timeout=30)
    assert response.status_code == 200, response.text
    got = s3.get_object(Bucket=bucket, Key="via-url")
    assert got["Body"].read() == b"uploaded by url"
    assert got["VersionId"] == response.headers["x-amz-version-id"]
    reader_url = s3_server.client("reader", signature_version="s3v4").generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "reader-url"}, ExpiresIn=60
    )
    response = requests.put(reader_url, data=b"no", verify=s3_server.ca, timeout=30)
    assert response.status_code == 403
    assert _error_xml(response.content).findtext("Code") == "AccessDenied"


# --- roles --------------------------------------------------------------------------------------
def test_a_reader_reads_and_lists_but_writes_nothing(s3_server: S3Server, bucket: str) -> None:
    admin, reader = s3_server.client("admin"), s3_server.client("reader")
    vid = admin.put_object(Bucket=bucket, Key="doc", Body=b"readable")["VersionId"]
    assert reader.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"readable"
    assert reader.head_object(Bucket=bucket, Key="doc")["VersionId"] == vid
    assert [o["Key"] for o in reader.list_objects_v2(Bucket=bucket)["Contents"]] == ["doc"]
    assert bucket in [b["Name"] for b in reader.list_buckets()["Buckets"]]
    assert reader.get_object_legal_hold(Bucket=bucket, Key="doc")["LegalHold"]["Status"] == "OFF"
    reader.head_bucket(Bucket=bucket)
    kw = {"Bucket": bucket, "Key": "doc"}
    for call, extra in [
        (reader.put_object, {"Body": b"overwrite"}),
        (reader.delete_object, {}),
        (reader.delete_object, {"VersionId": vid}),
        (
            reader.put_object_retention,
            {
                "VersionId": vid,
                "Retention": {"Mode": "GOVERNANCE", "RetainUntilDate": future(days=1)},
            },
        ),
        (reader.put_object_legal_hold, {"VersionId": vid, "LegalHold": {"Status": "ON"}}),
        (reader.create_multipart_upload, {}),
    ]:
        s3_error(403, "AccessDenied", call, **kw, **extra)
    s3_error(403, "AccessDenied", reader.create_bucket, Bucket=unique_bucket("by-reader"))
    s3_error(
        403,
        "AccessDenied",
        reader.delete_objects,
        Bucket=bucket,
        Delete={"Objects": [{"Key": "doc"}]},
    )
    assert versions_of(admin, bucket, "doc") == [("doc", vid, True, False)]
    assert admin.get_object_legal_hold(Bucket=bucket, Key="doc")["LegalHold"]["Status"] == "OFF"
    s3_error(404, "NoSuchObjectLockConfiguration", admin.get_object_retention, **kw)


def test_a_contributor_cannot_create_buckets_or_set_their_default_retention(
    s3_server: S3Server, bucket: str
) -> None:
    contributor = s3_server.client("contributor")
    name = unique_bucket("by-contributor")
    s3_error(
        403, "AccessDenied", contributor.create_bucket, Bucket=name, ObjectLockEnabledForBucket=True
    )
    s3_error(404, "404", s3_server.client().head_bucket, Bucket=name)
    s3_error(
        403,
        "AccessDenied",
        contributor.put_object_lock_configuration,
        Bucket=bucket,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
        },
    )
    assert contributor.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled"
    }
    # What a Contributor may do: write, and delete what nothing protects.
    vid = contributor.put_object(Bucket=bucket, Key="k", Body=b"v")["VersionId"]
    contributor.delete_object(Bucket=bucket, Key="k", VersionId=vid)


# --- error documents ----------------------------------------------------------------------------
def test_an_error_is_an_s3_xml_document_with_code_message_resource_and_request_id(
    s3_server: S3Server, bucket: str
) -> None:
    response = s3_server.signed("GET", f"/{bucket}/no%20such%20key")
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/xml")
    root = _error_xml(response.content)
    assert root.findtext("Code") == "NoSuchKey"
    assert "no such key" in (root.findtext("Message") or "")
    assert root.findtext("Resource") == f"/{bucket}/no%20such%20key"
    assert root.findtext("RequestId") == response.headers["x-amz-request-id"]
    # botocore reads the same document.
    error = s3_error(
        404, "NoSuchKey", s3_server.client().get_object, Bucket=bucket, Key="no such key"
    )
    assert error["Error"]["Message"]
    assert error["ResponseMetadata"]["RequestId"]


@pytest.mark.parametrize(
    ("query", "body"),
    [
        ("legal-hold", b"<LegalHold><Status>ON</Status>"),
        ("legal-hold", b"not xml at all"),
        ("retention", b"<Retention><Mode>GOVERNANCE</Mode>"),
        ("retention", b"<Retention><Mode>GOVERNANCE</Mode></Retention>"),
        (
            "retention",
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "GOVERNANCE">]><Retention><Mode>&e;</Mode></Retention>',
        ),
        ("legal-hold", b"<Retention><Mode>GOVERNANCE</Mode></Retention>"),
    ],
    ids=["unclosed", "not-xml", "unclosed-retention", "half-retention", "dtd", "wrong-root"],
)
def test_a_malformed_body_is_malformed_xml_and_changes_nothing(
    s3_server: S3Server, bucket: str, query: str, body: bytes
) -> None:
    admin = s3_server.client()
    vid = admin.put_object(Bucket=bucket, Key="k", Body=b"v")["VersionId"]
    response = s3_server.signed("PUT", f"/{bucket}/k?{query}&versionId={vid}", body=body)
    assert response.status_code == 400, response.text
    assert _error_xml(response.content).findtext("Code") == "MalformedXML"
    assert admin.get_object_legal_hold(Bucket=bucket, Key="k")["LegalHold"]["Status"] == "OFF"
    s3_error(
        404, "NoSuchObjectLockConfiguration", admin.get_object_retention, Bucket=bucket, Key="k"
    )


def test_malformed_xml_in_bucket_requests(s3_server: S3Server, bucket: str) -> None:
    response = s3_server.signed("PUT", f"/{bucket}?object-lock", body=b"<ObjectLockConfiguration>")
    assert response.status_code == 400
    assert _error_xml(response.content).findtext("Code") == "MalformedXML"
    response = s3_server.signed("POST", f"/{bucket}?delete", body=b"<Delete><Object>")
    assert response.status_code == 400
    assert _error_xml(response.content).findtext("Code") == "MalformedXML"
    name = unique_bucket("malformed")
    response = s3_server.signed("PUT", f"/{name}", body=b"<CreateBucketConfiguration>")
    assert response.status_code == 400
    assert _error_xml(response.content).findtext("Code") == "MalformedXML"
    s3_error(404, "404", s3_server.client().head_bucket, Bucket=name)


def test_operations_accord_does_not_implement_say_so(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    s3_error(
        501,
        "NotImplemented",
        s3.copy_object,
        Bucket=bucket,
        Key="copy",
        CopySource={"Bucket": bucket, "Key": "k"},
    )
    s3_error(501, "NotImplemented", s3.get_bucket_acl, Bucket=bucket)
    s3_error(501, "NotImplemented", s3.get_object_tagging, Bucket=bucket, Key="k")
    s3_error(501, "NotImplemented", s3.get_object_acl, Bucket=bucket, Key="k")
    s3_error(501, "NotImplemented", s3.get_object, Bucket=bucket, Key="k", PartNumber=1)
    s3_error(501, "NotImplemented", s3.get_bucket_encryption, Bucket=bucket)
    s3_error(501, "NotImplemented", s3.get_bucket_tagging, Bucket=bucket)
    s3_error(
        501,
        "NotImplemented",
        s3.put_object_tagging,
        Bucket=bucket,
        Key="k",
        Tagging={"TagSet": [{"Key": "a", "Value": "b"}]},
    )
    # A DELETE of a subresource must not be taken for a DeleteObject (a delete marker).
    s3_error(501, "NotImplemented", s3.delete_object_tagging, Bucket=bucket, Key="k")
    s3_error(501, "NotImplemented", s3.delete_bucket_tagging, Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    assert versions_of(s3, bucket, "k")[0][2:] == (True, False)
    assert len(versions_of(s3, bucket, "k")) == 1
    assert versions_of(s3, bucket, "copy") == []


# --- restart, ledger records, audit -------------------------------------------------------------
def test_a_restart_rebuilds_every_bucket_version_retention_and_hold_from_the_ledger(
    fresh_s3_server: S3Server,
) -> None:
    server = fresh_s3_server
    s3 = server.client()
    locked, plain = unique_bucket("persist"), unique_bucket("persist-plain")
    s3.create_bucket(Bucket=locked, ObjectLockEnabledForBucket=True)
    s3.create_bucket(Bucket=plain)
    until = future(days=3)
    accepted: dict[str, tuple[str, str, bytes]] = {}  # version id -> (bucket, key, body)

    def put(bucket: str, key: str, body: bytes, **extra: Any) -> str:
        vid: str = s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)["VersionId"]
        accepted[vid] = (bucket, key, body)
        return vid

    v1 = put(locked, "doc", b"one", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)
    v2 = put(locked, "doc", b"two")
    s3.put_object_legal_hold(Bucket=locked, Key="doc", VersionId=v2, LegalHold={"Status": "ON"})
    v3 = put(
        locked, "gov", b"governed", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until
    )
    marker = s3.delete_object(Bucket=locked, Key="gov")["VersionId"]
    v4 = put(locked, "gone", b"deleted for good")
    s3.delete_object(Bucket=locked, Key="gone", VersionId=v4)
    s3.put_object_lock_configuration(
        Bucket=locked,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2}},
        },
    )
    v5 = put(locked, "defaulted", b"by default")
    default_until = s3.get_object_retention(Bucket=locked, Key="defaulted")["Retention"][
        "RetainUntilDate"
    ]
    v6 = put(plain, "unicode ü+", b"plain")
    # Refused changes leave no record.
    s3_error(
        400,
        "BadDigest",
        s3.put_object,
        Bucket=locked,
        Key="bad",
        Body=b"x",
        ChecksumSHA256=sha256_b64(b"y"),
    )
    s3_error(403, "AccessDenied", s3.delete_object, Bucket=locked, Key="doc", VersionId=v1)
    s3_error(
        403, "AccessDenied", server.client("reader").put_object, Bucket=locked, Key="r", Body=b"r"
    )
    before_stop = {b: versions_of(s3, b) for b in (locked, plain)}
    server.stop()

    records = document_records(server.data)
    assert all(writer == DOCUMENTS_USER for _, _, writer in records)
    puts = {txid: rec for txid, rec, _ in records if rec["op"] == "version.put"}
    assert set(puts) == set(accepted)  # every accepted PutObject, and nothing refused
    for vid, (bucket, key, body) in accepted.items():
        rec = puts[vid]
        assert (rec["container"], rec["key"]) == (bucket, key)
        assert (rec["sha256"], rec["size"]) == (hashlib.sha256(body).hexdigest(), len(body))
    ops = [rec["op"] for _, rec, _ in records]
    assert ops.count("container.create") == 2
    assert ops.count("version.delete_marker") == 1
    assert ops.count("version.delete") == 1
    assert ops.count("version.hold") == 1
    assert ops.count("container.retention") == 1
    assert puts[v1]["retention"] == {
        "mode": "COMPLIANCE",
        "retainUntil": int(until.timestamp() * 1000),
    }
    verified = accord_subprocess("documents", "verify", "--data", str(server.data.path))
    assert verified.returncode == 0, verified.stdout + verified.stderr

    server.start()
    s3 = server.client()
    assert {locked, plain} <= {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {b: versions_of(s3, b) for b in (locked, plain)} == before_stop
    assert s3.get_object(Bucket=locked, Key="doc")["Body"].read() == b"two"
    assert s3.get_object(Bucket=locked, Key="doc", VersionId=v1)["Body"].read() == b"one"
    assert s3.get_object_retention(Bucket=locked, Key="doc", VersionId=v1)["Retention"] == {
        "Mode": "COMPLIANCE",
        "RetainUntilDate": until,
    }
    assert (
        s3.get_object_legal_hold(Bucket=locked, Key="doc", VersionId=v2)["LegalHold"]["Status"]
        == "ON"
    )
    s3_error(404, "NoSuchKey", s3.get_object, Bucket=locked, Key="gov")
    assert s3.get_object(Bucket=locked, Key="gov", VersionId=v3)["Body"].read() == b"governed"
    assert (
        s3.get_object_retention(Bucket=locked, Key="gov", VersionId=v3)["Retention"]["Mode"]
        == "GOVERNANCE"
    )
    assert marker in [v for _, v, _, m in versions_of(s3, locked, "gov") if m]
    s3_error(404, "NoSuchVersion", s3.get_object, Bucket=locked, Key="gone", VersionId=v4)
    assert (
        s3.get_object_retention(Bucket=locked, Key="defaulted", VersionId=v5)["Retention"][
            "RetainUntilDate"
        ]
        == default_until
    )
    rule = s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"]["Rule"]
    assert rule == {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2}}
    assert s3.get_object(Bucket=plain, Key="unicode ü+", VersionId=v6)["Body"].read() == b"plain"
    s3_error(
        404, "ObjectLockConfigurationNotFoundError", s3.get_object_lock_configuration, Bucket=plain
    )
    # The rules hold after the restart too.
    s3_error(
        403,
        "AccessDenied",
        s3.delete_object,
        Bucket=locked,
        Key="doc",
        VersionId=v1,
        BypassGovernanceRetention=True,
    )
    s3_error(403, "AccessDenied", s3.delete_object, Bucket=locked, Key="doc", VersionId=v2)
    s3_error(
        403,
        "AccessDenied",
        s3.put_object_lock_configuration,
        Bucket=locked,
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}},
        },
    )
    s3_error(409, "BucketAlreadyOwnedByYou", s3.create_bucket, Bucket=locked)
    v7 = s3.put_object(Bucket=locked, Key="doc", Body=b"three")["VersionId"]
    assert _seqno(v7) > max(_seqno(v) for v in accepted)
    assert versions_of(s3, locked, "doc")[0] == ("doc", v7, True, False)


def test_documents_verify_names_a_changed_or_missing_file(fresh_s3_server: S3Server) -> None:
    server = fresh_s3_server
    s3 = server.client()
    name = unique_bucket("audit")
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    bodies = {key: os.urandom(4096) for key in ("changed.pdf", "missing.pdf", "intact.pdf")}
    vids = {
        key: s3.put_object(Bucket=name, Key=key, Body=body)["VersionId"]
        for key, body in bodies.items()
    }
    server.stop()
    data = str(server.data.path)

    ok = accord_subprocess("documents", "verify", "--data", data)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "3 document versions" in ok.stdout

    changed = blob_path(server.data, bodies["changed.pdf"])
    assert changed.is_file()
    raw = bytearray(changed.read_bytes())
    raw[1000] ^= 0x01
    changed.chmod(0o600)
    changed.write_bytes(bytes(raw))
    bad = accord_subprocess("documents", "verify", "--data", data)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    report = bad.stdout + bad.stderr
    assert f"{name}/changed.pdf version {vids['changed.pdf']}" in report
    assert "missing.pdf" not in report and "intact.pdf" not in report

    blob_path(server.data, bodies["missing.pdf"]).unlink()
    bad = accord_subprocess("documents", "verify", "--data", data)
    assert bad.returncode == 1
    report = bad.stdout + bad.stderr
    assert f"{name}/changed.pdf version {vids['changed.pdf']}" in report
    assert f"{name}/missing.pdf version {vids['missing.pdf']}: file is missing" in report
    assert "intact.pdf" not in report


def test_the_server_banner_names_both_ports(s3_server: S3Server) -> None:
    lines = s3_server.banner.splitlines()
    assert lines[0].startswith("accord: serving ledger ") and "https://127.0.0.1:" in lines[0]
    assert lines[1] == f"accord: serving documents (S3 API) on {s3_server.endpoint}"
    ledger_port = lines[0].split("https://127.0.0.1:")[1].split()[0]
    assert ledger_port != s3_server.endpoint.rsplit(":", 1)[1]


# --- more edges -----------------------------------------------------------------------------------
def test_delete_objects_quiet_answers_only_the_errors(s3: Any, bucket: str) -> None:
    a = s3.put_object(Bucket=bucket, Key="a", Body=b"a")["VersionId"]
    held = s3.put_object(Bucket=bucket, Key="h", Body=b"h", ObjectLockLegalHoldStatus="ON")
    out = s3.delete_objects(
        Bucket=bucket,
        Delete={
            "Objects": [{"Key": "a", "VersionId": a}, {"Key": "h", "VersionId": held["VersionId"]}],
            "Quiet": True,
        },
    )
    assert "Deleted" not in out
    assert [(e["Key"], e["Code"]) for e in out["Errors"]] == [("h", "AccessDenied")]
    assert versions_of(s3, bucket, "a") == []
    _assert_still_there(s3, bucket, "h", held["VersionId"], b"h")


def test_retention_and_hold_of_a_missing_version_are_no_such_version(s3: Any, bucket: str) -> None:
    vid = s3.put_object(Bucket=bucket, Key="k", Body=b"v")["VersionId"]
    wrong = f"{vid.split('.')[0]}.999999999"
    kw = {"Bucket": bucket, "Key": "k", "VersionId": wrong}
    s3_error(
        404,
        "NoSuchVersion",
        s3.put_object_retention,
        **kw,
        Retention={"Mode": "GOVERNANCE", "RetainUntilDate": future(days=1)},
    )
    s3_error(404, "NoSuchVersion", s3.put_object_legal_hold, **kw, LegalHold={"Status": "ON"})
    s3_error(404, "NoSuchVersion", s3.get_object_retention, **kw)
    s3_error(404, "NoSuchKey", s3.get_object_legal_hold, Bucket=bucket, Key="never")


def test_concurrent_puts_of_one_key_each_make_a_version(s3_server: S3Server, bucket: str) -> None:
    s3 = s3_server.client("contributor")
    bodies = [f"writer {i}".encode() for i in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        puts = list(pool.map(lambda b: s3.put_object(Bucket=bucket, Key="hot", Body=b), bodies))
    ids = [p["VersionId"] for p in puts]
    assert len(set(ids)) == len(bodies)
    listed = versions_of(s3, bucket, "hot")
    assert sorted(v for _, v, _, _ in listed) == sorted(ids)
    newest = listed[0][1]
    assert s3.get_object(Bucket=bucket, Key="hot")["VersionId"] == newest
    for put, body in zip(puts, bodies, strict=True):
        got = s3.get_object(Bucket=bucket, Key="hot", VersionId=put["VersionId"])
        assert got["Body"].read() == body


@pytest.mark.parametrize(
    ("skew", "allowed"), [(-20 * 60, False), (20 * 60, False), (-5 * 60, True)]
)
def test_a_request_signed_with_a_skewed_clock(
    s3_server: S3Server, bucket: str, monkeypatch: pytest.MonkeyPatch, skew: int, allowed: bool
) -> None:
    real = botocore.auth.get_current_datetime
    monkeypatch.setattr(
        botocore.auth,
        "get_current_datetime",
        lambda *a, **k: real(*a, **k) + datetime.timedelta(seconds=skew),
    )
    response = s3_server.signed("GET", f"/{bucket}?list-type=2")
    if allowed:
        assert response.status_code == 200, response.text
        assert ET.fromstring(response.content).tag == f"{S3_NS}ListBucketResult"
    else:
        assert response.status_code == 403
        assert _error_xml(response.content).findtext("Code") == "RequestTimeTooSkewed"


def test_a_version_receipt_verifies_offline_against_the_document(
    s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    body = os.urandom(5000)
    vid = s3_server.client().put_object(Bucket=bucket, Key="coa/lot 7.pdf", Body=body)["VersionId"]
    path = f"/{bucket}/coa/lot%207.pdf?versionId={vid}&accord-receipt"

    def fetch() -> requests.Response | None:
        response = s3_server.signed("GET", path, role="reader")
        if response.status_code == 409:  # not yet covered by a signed checkpoint
            assert _error_xml(response.content).findtext("Code") == "OperationAborted"
            return None
        return response

    response = None
    deadline = time.monotonic() + 20
    while response is None and time.monotonic() < deadline:
        response = fetch()
        if response is None:
            time.sleep(0.1)
    assert response is not None, "no receipt within 20 s"
    assert response.status_code == 200, response.text
    receipt = response.json()
    assert receipt["format"] == "accord.document-receipt.v1"
    record = json.loads(receipt["record"])
    assert (record["op"], record["container"], record["key"]) == (
        "version.put",
        bucket,
        "coa/lot 7.pdf",
    )
    assert record["sha256"] == hashlib.sha256(body).hexdigest()
    receipt_file, document = tmp_path / "receipt.json", tmp_path / "lot7.pdf"
    receipt_file.write_text(response.text)
    document.write_bytes(body)
    vkey = str(s3_server.data / "checkpoint.vkey")
    code, _ = accord_cli(
        "receipt", "verify", "--vkey", vkey, "--file", str(document), str(receipt_file)
    )
    assert code == 0
    document.write_bytes(body[:-1] + bytes([body[-1] ^ 1]))
    code, _ = accord_cli(
        "receipt", "verify", "--vkey", vkey, "--file", str(document), str(receipt_file)
    )
    assert code == 1


@pytest.mark.parametrize(
    "options",
    [
        {},  # boto3's default: an unsigned aws-chunked body with a CRC32 trailer
        {"request_checksum_calculation": "when_required"},  # a plain body, no checksum
        {"s3_payload_signing_enabled": True},  # the body's SHA-256 signed in the header
        {"s3_payload_signing_enabled": True, "request_checksum_calculation": "when_required"},
    ],
    ids=["crc32-trailer", "plain", "signed-payload", "signed-plain"],
)
def test_every_body_encoding_boto3_sends_is_stored_whole(
    s3_server: S3Server, bucket: str, options: dict[str, Any]
) -> None:
    s3 = s3_server.client("contributor", **options)
    for size in (0, 1, 65_536, 1024 * 1024 + 7):
        body = os.urandom(size)
        key = f"enc-{size}"
        vid = s3.put_object(Bucket=bucket, Key=key, Body=body)["VersionId"]
        got = s3.get_object(Bucket=bucket, Key=key)
        assert (got["VersionId"], got["Body"].read()) == (vid, body), size
        upload = s3.create_multipart_upload(Bucket=bucket, Key=f"mp-{size}")["UploadId"]
        etag = s3.upload_part(
            Bucket=bucket, Key=f"mp-{size}", UploadId=upload, PartNumber=1, Body=body
        )["ETag"]
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key=f"mp-{size}",
            UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
        )
        assert s3.get_object(Bucket=bucket, Key=f"mp-{size}")["Body"].read() == body, size
