"""POST /app/transactions/{id}/redact against a real `accord serve` (SQLite and PostgreSQL): the
410 read path, listings, receipts (accord's and the Azure SDK's), every refusal writing nothing,
and a consortium node's refusal."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.confidentialledger.receipt import verify_receipt as sdk_verify_receipt

from accord.client.client import AccordClient
from accord.consortium.demo import LocalConsortium
from accord.core.note import Verifier
from accord.datadir import init_data_dir
from accord.errors import AuthError, EntryRedacted, InvalidRequest
from accord.identity import make_user_identity, write_private
from accord.service.users import UserStore
from tests.service.conftest import Service, start_service, stop_service

PERSONAL = "Jane Doe, 12 Acacia Avenue"


@pytest.fixture(params=["sqlite", "postgres"])
def backend_service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Service]:
    storage = None if request.param == "sqlite" else request.getfixturevalue("pg_dsn")
    data = init_data_dir(tmp_path / "data", name="service.test/ledger", storage=storage)
    reader = make_user_identity("a reader")
    reader_cert, reader_key = tmp_path / "reader.crt", tmp_path / "reader.key"
    reader_cert.write_bytes(reader.cert_pem())
    write_private(reader_key, reader.key_pem())
    UserStore(data / "users.json").add_certificate(reader.cert_pem().decode(), "Reader")
    proc, url = start_service(data, "--no-s3")
    yield Service(data, url, proc, reader_cert, reader_key)
    if proc.poll() is None:
        stop_service(proc)


def ready_receipt(client: AccordClient, txid: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        body = client.receipt(txid)
        if body["state"] == "Ready" or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def redact(
    service: Service, txid: str, body: object, role: str | None = "admin"
) -> tuple[int, Any]:
    raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
    status, answer = service.raw("POST", f"/app/transactions/{txid}/redact", body=raw, role=role)
    return status, json.loads(answer) if answer else None


def test_redaction_over_http(backend_service: Service) -> None:
    service = backend_service
    vkey = Verifier.from_vkey((service.data / "checkpoint.vkey").read_text().strip())
    service_cert = (service.data / "service.crt").read_text()
    with service.client() as client:
        txid = client.append(PERSONAL, "customers")
        other = client.append("an order", "customers")
        client.wait_for_commit(other)
        before = ready_receipt(client, txid)

        status, body = redact(service, txid, {"reason": "GDPR art. 17, request 2026-114"})
        assert status == 200, body
        record = body["transactionId"]
        assert body == {"transactionId": record, "redactedTransactionId": txid}
        client.wait_for_commit(record)

        # The entry answers 410, naming the redaction record, in the Azure error shape.
        status, raw = service.raw("GET", f"/app/transactions/{txid}?api-version=2022-05-13")
        assert status == 410
        error = json.loads(raw)["error"]
        assert error["code"] == "EntryRedacted"
        assert error["redactionTransactionId"] == record
        assert record in error["message"]
        with pytest.raises(EntryRedacted) as raised:
            client.entry(txid)
        assert raised.value.redaction_id == record
        status, raw = service.raw("GET", "/app/transactions/current?collectionId=customers")
        assert status == 200 and json.loads(raw)["contents"] == "an order"

        # Listings keep the entry, without contents, marked redacted.
        listed = list(client.list_entries("customers"))
        assert listed[0] == {
            "collectionId": "customers",
            "transactionId": txid,
            "contents": "",
            "redacted": True,
            "redactionTransactionId": record,
        }
        assert listed[1]["contents"] == "an order" and "redacted" not in listed[1]
        (record_entry,) = client.list_entries("accord.redactions")
        assert json.loads(record_entry["contents"])["transactionId"] == txid
        assert client.status(txid) == "Committed"

        # Receipts still verify: accord's offline, and the Azure SDK's own verifier.
        client.verifier = vkey
        assert client.verified_receipt(txid).metadata.collection_id == "customers"
        client.verified_receipt(txid, contents=PERSONAL.encode())  # the leaf still binds them
        after = ready_receipt(client, txid)
        assert "applicationClaims" not in after
        assert after["receipt"]["leafComponents"] == before["receipt"]["leafComponents"]
        sdk_verify_receipt(after["receipt"], service_cert)


def test_the_current_entry_of_a_collection_can_be_redacted(service: Service) -> None:
    with service.client() as client:
        txid = client.append(PERSONAL, "people")
        record = client.redact(txid, "request 7")["transactionId"]
    status, raw = service.raw("GET", "/app/transactions/current?collectionId=people")
    assert status == 410
    assert json.loads(raw)["error"]["redactionTransactionId"] == record


def test_refusals_write_nothing(service: Service, tmp_path: Path) -> None:
    contributor = make_user_identity("a contributor")
    cert, key = tmp_path / "contributor.crt", tmp_path / "contributor.key"
    cert.write_bytes(contributor.cert_pem())
    write_private(key, contributor.key_pem())
    UserStore(service.data / "users.json").add_certificate(
        contributor.cert_pem().decode(), "Contributor"
    )
    with service.client() as client:
        txid = client.append(PERSONAL, "customers")
        first = client.redact(client.append("redact me", "customers"), "request 1")
        time.sleep(1.5)  # users.json is re-read within about a second
        size = int(first["transactionId"].split(".")[1])
        cases: list[tuple[str, object, str | None, int]] = [
            (txid, {"reason": "ok"}, "reader", 403),
            (txid, {"reason": "ok"}, None, 401),
            (txid, {"reason": ""}, "admin", 400),
            (txid, {"reason": "   "}, "admin", 400),
            (txid, {"reason": "x" * 513}, "admin", 400),
            (txid, {"reason": "a\nb"}, "admin", 400),
            (txid, {"reason": 5}, "admin", 400),
            (txid, {}, "admin", 400),
            (txid, {"reason": "ok", "by": "someone else"}, "admin", 400),
            (txid, ["ok"], "admin", 400),
            (txid, b"not json", "admin", 400),
            (txid, b"{" * 10_000, "admin", 413),
            ("1.x", {"reason": "ok"}, "admin", 400),
            ("1.999", {"reason": "ok"}, "admin", 404),
            ("2.1", {"reason": "ok"}, "admin", 404),
            (first["redactedTransactionId"], {"reason": "ok"}, "admin", 409),
            (first["transactionId"], {"reason": "ok"}, "admin", 403),  # an accord.* entry
        ]
        for target, body, role, expected in cases:
            status, answer = redact(service, target, body, role)
            assert status == expected, (target, body, role, answer)
            if answer is not None:
                assert set(answer) == {"error"}
        # A Contributor may append but not redact.
        contributor_client = AccordClient(
            service.url,
            service_cert=str(service.data / "service.crt"),
            cert=str(cert),
            key=str(key),
        )
        with contributor_client, pytest.raises(AuthError, match="403"):
            contributor_client.redact(txid, "request")
        # Nothing was written: the next entry takes the next seqno, the entry is intact.
        assert client.append("after the refusals") == f"1.{size + 1}"
        assert client.entry(txid)["entry"]["contents"] == PERSONAL


def test_a_consortium_node_refuses(tmp_path: Path) -> None:
    consortium = LocalConsortium.create(tmp_path / "c", ("supplier", "retailer"))
    try:
        consortium.start_all()
        consortium.wait_ready()
        org = consortium.orgs["supplier"]
        with AccordClient(
            org.url,
            service_cert=str(org.service_crt),
            cert=str(org.admin_cert),
            key=str(org.admin_key),
        ) as client:
            txid = client.append(PERSONAL)
            with pytest.raises(InvalidRequest, match="private-collection purge") as raised:
                client.redact(txid, "request")
            assert type(raised.value) is InvalidRequest  # a 400, not a 404 or 409
            assert client.entry(txid)["entry"]["contents"] == PERSONAL
    finally:
        consortium.stop_all()
