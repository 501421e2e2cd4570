"""Documents in a consortium: records through the ordering service, copies held by several
organizations and fetched by digest, retention enforced by every node, survival of a node loss.

Three organizations, each its own `accord serve` (with `--s3-port 0`) and NATS server.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from accord.consortium.demo import LocalConsortium, OrgProcess
from accord.datadir import DataDir
from accord.documents.runtime import open_blobs
from accord.documents.store import verify_documents
from accord.log.ledger import LedgerReader
from accord.log.storage import open_storage
from tests.documents.conftest import accord_cli, unique_bucket

ORGS = ("supplier", "manufacturer", "retailer")
# `accord serve --data D` as LocalConsortium starts it, plus the S3 API on a free port.
WITH_S3 = ["sh", "-c", 'exec "$@" --s3-port 0', "sh"]
_S3_LINE = re.compile(r"serving documents \(S3 API\) on (https://127\.0\.0\.1:\d+)")


def _eventually(check: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except (AssertionError, ClientError):
            result = None
            if time.monotonic() > deadline:
                raise
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.2)


def _endpoint(consortium: LocalConsortium, org: OrgProcess) -> str:
    def found() -> str | None:
        text = org.log.read_text(errors="replace") if org.log and org.log.exists() else ""
        matches = _S3_LINE.findall(text)
        return matches[-1] if matches else None

    result: str = _eventually(found, 60, f"{org.name}'s S3 banner")
    return result


def _client(
    org: OrgProcess, endpoint: str, key: dict[str, str], hooks: dict[str, Any] | None = None
) -> Any:
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        verify=str(org.service_crt),
        region_name="us-east-1",
        aws_access_key_id=key["access_key_id"],
        aws_secret_access_key=key["secret_access_key"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    for event, handler in (hooks or {}).items():
        s3.meta.events.register(event, handler)
    return s3


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalConsortium]:
    network = LocalConsortium.create(tmp_path_factory.mktemp("documents") / "c", ORGS)
    network.wrappers = {name: WITH_S3 for name in ORGS}
    try:
        network.start_all()
        network.wait_ready()
        yield network
    finally:
        network.stop_all()


@pytest.fixture(scope="module")
def clients(consortium: LocalConsortium) -> dict[str, Any]:
    out = {}
    for name, org in consortium.orgs.items():
        code, text = accord_cli(
            "documents",
            "keys",
            "create",
            "--data",
            str(org.data),
            "--user",
            str(org.admin_cert),
            "--json",
        )
        assert code == 0, text
        out[name] = _client(org, _endpoint(consortium, org), json.loads(text))
    return out


def _blob_file(org: OrgProcess, digest: str) -> Path:
    return org.data / "documents" / "blobs" / digest[:2] / digest


def test_a_document_written_at_one_node_is_readable_and_retained_at_every_node(
    consortium: LocalConsortium, clients: dict[str, Any]
) -> None:
    bucket = unique_bucket("coa")
    clients["supplier"].create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    body = os.urandom(700_000)
    digest = hashlib.sha256(body).hexdigest()
    put = clients["supplier"].put_object(
        Bucket=bucket,
        Key="lot-17.pdf",
        Body=body,
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate="2040-01-01T00:00:00Z",
    )
    vid = put["VersionId"]
    for name in ("manufacturer", "retailer"):
        # every organization keeps a copy by default: fetched from the writer, checked
        _eventually(
            lambda n=name: _blob_file(consortium.orgs[n], digest).is_file(), 30, f"{name}'s copy"
        )
        got = clients[name].get_object(Bucket=bucket, Key="lot-17.pdf", VersionId=vid)
        assert got["Body"].read() == body
        assert got["ObjectLockMode"] == "COMPLIANCE"
        # the retention is the consortium's, enforced by this node too
        with pytest.raises(ClientError) as refused:
            clients[name].delete_object(Bucket=bucket, Key="lot-17.pdf", VersionId=vid)
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
    listed = clients["retailer"].list_object_versions(Bucket=bucket)["Versions"]
    assert [v["VersionId"] for v in listed] == [vid]


def test_a_user_writes_only_through_their_own_organizations_node(
    consortium: LocalConsortium, clients: dict[str, Any]
) -> None:
    supplier = consortium.orgs["supplier"]
    manufacturer = consortium.orgs["manufacturer"]
    code, text = accord_cli(
        "documents",
        "keys",
        "create",
        "--data",
        str(manufacturer.data),
        "--user",
        str(supplier.admin_cert),
        "--json",
    )
    assert code == 0, text
    stranger = _client(manufacturer, _endpoint(consortium, manufacturer), json.loads(text))
    bucket = unique_bucket("own")
    with pytest.raises(ClientError) as refused:
        stranger.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert "supplier" in refused.value.response["Error"]["Message"]
    names = [b["Name"] for b in clients["manufacturer"].list_buckets()["Buckets"]]
    assert bucket not in names


def test_copies_survive_the_loss_of_the_writing_node(
    consortium: LocalConsortium, clients: dict[str, Any]
) -> None:
    bucket = unique_bucket("bills")

    def only_manufacturer(request: Any, **_: Any) -> None:
        request.headers["x-accord-copies"] = "manufacturer"

    retailer = consortium.orgs["retailer"]
    writer = _client(
        retailer,
        _endpoint(consortium, retailer),
        json.loads(
            accord_cli(
                "documents",
                "keys",
                "create",
                "--data",
                str(retailer.data),
                "--user",
                str(retailer.admin_cert),
                "--json",
            )[1]
        ),
        hooks={"before-sign.s3.CreateBucket": only_manufacturer},
    )
    writer.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    body = b"bill of lading 42\n" * 1000
    digest = hashlib.sha256(body).hexdigest()
    vid = writer.put_object(Bucket=bucket, Key="bl-42", Body=body)["VersionId"]
    manufacturer = consortium.orgs["manufacturer"]
    _eventually(lambda: _blob_file(manufacturer, digest).is_file(), 30, "the named copy")
    time.sleep(1.5)  # a few replication rounds: the supplier keeps no copy of this container
    assert not _blob_file(consortium.orgs["supplier"], digest).exists()

    consortium.kill("retailer")  # the writer is gone; the named copy remains
    try:
        got = clients["manufacturer"].get_object(Bucket=bucket, Key="bl-42", VersionId=vid)
        assert got["Body"].read() == body
        # a node without a copy fetches the bytes from a peer that has them, checked by digest
        got = clients["supplier"].get_object(Bucket=bucket, Key="bl-42", VersionId=vid)
        assert got["Body"].read() == body
    finally:
        consortium.start("retailer")
        consortium.wait_ready(["retailer"])


def test_verify_on_each_node(consortium: LocalConsortium, clients: dict[str, Any]) -> None:
    bucket = unique_bucket("audit")
    clients["manufacturer"].create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    body = b"customs declaration 7"
    digest = hashlib.sha256(body).hexdigest()
    clients["manufacturer"].put_object(Bucket=bucket, Key="cd-7", Body=body)
    supplier = consortium.orgs["supplier"]
    _eventually(lambda: _blob_file(supplier, digest).is_file(), 30, "the supplier's copy")
    path = _blob_file(supplier, digest)
    path.write_bytes(b"customs declaration 8")  # the supplier's copy is changed on its disk
    data = DataDir(supplier.data)
    storage = open_storage(data.storage_location(), read_only=True)  # beside the running node
    try:
        report = verify_documents(
            LedgerReader(storage, data.verifier()), open_blobs(data), organization="supplier"
        )
    finally:
        storage.close()
    assert [(p.container, p.key) for p in report.problems] == [(bucket, "cd-7")]
    path.write_bytes(body)


def test_a_document_receipt_verifies_offline_under_the_consortium_policy(
    consortium: LocalConsortium, clients: dict[str, Any], tmp_path: Path
) -> None:
    bucket = unique_bucket("rcpt")
    clients["supplier"].create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    document = tmp_path / "analysis.pdf"
    document.write_bytes(os.urandom(50_000))
    clients["supplier"].put_object(Bucket=bucket, Key="a.pdf", Body=document.read_bytes())
    retailer = consortium.orgs["retailer"]
    key = json.loads(
        accord_cli(
            "documents",
            "keys",
            "create",
            "--data",
            str(retailer.data),
            "--user",
            str(retailer.admin_cert),
            "--json",
        )[1]
    )
    receipt = tmp_path / "a.receipt.json"
    endpoint = _endpoint(consortium, retailer)

    def fetch_receipt() -> bool:  # the retailer's node serves the write once it applied it
        code, _ = accord_cli(
            "documents",
            "receipt",
            bucket,
            "a.pdf",
            "-o",
            str(receipt),
            "--endpoint-url",
            endpoint,
            "--cacert",
            str(retailer.service_crt),
            "--access-key",
            key["access_key_id"],
            "--secret-key",
            key["secret_access_key"],
        )
        return code == 0

    _eventually(fetch_receipt, 60, "the receipt from the retailer's node")
    assert consortium.policy is not None
    code, out = accord_cli(
        "receipt",
        "verify",
        str(receipt),
        "--policy",
        str(consortium.policy),
        "--file",
        str(document),
    )
    assert code == 0, out
    assert "the file matches" in out
    document.write_bytes(document.read_bytes()[:-1] + b"!")
    code, out = accord_cli(
        "receipt",
        "verify",
        str(receipt),
        "--policy",
        str(consortium.policy),
        "--file",
        str(document),
    )
    assert code == 1
