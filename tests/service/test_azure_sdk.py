"""The official Azure Confidential Ledger SDK (azure-confidentialledger 1.1.1), unchanged, against
a real `accord serve` over HTTPS with mTLS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.confidentialledger import (
    ConfidentialLedgerCertificateCredential,
    ConfidentialLedgerClient,
)
from azure.confidentialledger.certificate import ConfidentialLedgerCertificateClient
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from accord.identity import fingerprint, make_user_identity, write_private
from tests.service.conftest import Service


def credential_file(
    path: Path, cert_pem: bytes, key_pem: bytes
) -> ConfidentialLedgerCertificateCredential:
    write_private(path, cert_pem + key_pem)
    return ConfidentialLedgerCertificateCredential(str(path))


def sdk_client(
    service: Service, credential: ConfidentialLedgerCertificateCredential
) -> ConfidentialLedgerClient:
    return ConfidentialLedgerClient(
        service.url,
        credential,
        ledger_certificate_path=str(service.data / "service.crt"),
    )


@pytest.fixture
def admin(service: Service, tmp_path: Path) -> Iterator[ConfidentialLedgerClient]:
    cred = credential_file(
        tmp_path / "admin.pem",
        (service.data / "admin.crt").read_bytes(),
        (service.data / "admin.key").read_bytes(),
    )
    client = sdk_client(service, cred)
    yield client
    client.close()


def test_write_commit_read(admin: ConfidentialLedgerClient) -> None:
    poller = admin.begin_create_ledger_entry(
        {"contents": "first via the SDK"}, polling_interval=0.05
    )
    result = poller.result()
    txid = result["transactionId"]
    assert result["collectionId"] == "subledger:0"
    status = admin.begin_wait_for_commit(txid, polling_interval=0.05).result()
    assert status["state"] == "Committed"
    entry = admin.get_ledger_entry(txid)
    assert entry["state"] == "Ready"
    assert entry["entry"]["contents"] == "first via the SDK"
    assert entry["entry"]["transactionId"] == txid
    current = admin.get_current_ledger_entry()
    assert current["contents"] == "first via the SDK"
    assert admin.get_transaction_status(txid)["state"] == "Committed"


def test_collections_and_paged_listing(admin: ConfidentialLedgerClient) -> None:
    ids = []
    for i in range(230):
        r = admin.create_ledger_entry({"contents": f"item {i}"}, collection_id="pallets")
        ids.append(r["transactionId"])
    admin.create_ledger_entry({"contents": "elsewhere"}, collection_id="trucks")
    entries = list(
        admin.list_ledger_entries(
            collection_id="pallets", from_transaction_id=ids[0], to_transaction_id=ids[-1]
        )
    )
    assert [e["contents"] for e in entries] == [f"item {i}" for i in range(230)]
    assert {e["collectionId"] for e in entries} == {"pallets"}
    collections = {c["collectionId"] for c in admin.list_collections()}
    assert {"pallets", "trucks"} <= collections
    assert admin.get_current_ledger_entry(collection_id="trucks")["contents"] == "elsewhere"


def test_users_roles_and_enforcement(
    service: Service, admin: ConfidentialLedgerClient, tmp_path: Path
) -> None:
    reader_identity = make_user_identity("sdk reader")
    reader_id = fingerprint(reader_identity.cert)
    reader = sdk_client(
        service,
        credential_file(tmp_path / "r.pem", reader_identity.cert_pem(), reader_identity.key_pem()),
    )
    # Unknown certificate: refused.
    with pytest.raises(HttpResponseError) as err:
        reader.get_current_ledger_entry()
    assert err.value.status_code == 401
    # Added at runtime by fingerprint, plain hex form: takes effect without a restart.
    created = admin.create_or_update_user(
        reader_id.replace(":", "").lower(), {"assignedRole": "Reader"}
    )
    assert created == {"userId": reader_id, "assignedRole": "Reader"}
    assert admin.get_user(reader_id)["assignedRole"] == "Reader"
    admin.create_ledger_entry({"contents": "visible to readers"})
    assert reader.get_current_ledger_entry()["contents"] == "visible to readers"
    # A Reader cannot write or manage users.
    with pytest.raises(HttpResponseError) as err:
        reader.create_ledger_entry({"contents": "not allowed"})
    assert err.value.status_code == 403
    with pytest.raises(HttpResponseError) as err:
        reader.create_or_update_user(reader_id, {"assignedRole": "Administrator"})
    assert err.value.status_code == 403
    # Promote to Contributor: can write, still cannot manage users.
    admin.create_or_update_user(reader_id, {"assignedRole": "Contributor"})
    reader.create_ledger_entry({"contents": "now allowed"})
    with pytest.raises(HttpResponseError) as err:
        reader.get_user(reader_id)
    assert err.value.status_code == 403
    # Removed: refused again.
    admin.delete_user(reader_id)
    with pytest.raises(ResourceNotFoundError):
        admin.get_user(reader_id)
    with pytest.raises(HttpResponseError) as err:
        reader.get_current_ledger_entry()
    assert err.value.status_code == 401
    with pytest.raises(HttpResponseError) as err:
        admin.create_or_update_user(reader_id, {"assignedRole": "Owner"})
    assert err.value.status_code == 400
    reader.close()


def test_governance_enclave_and_identity(service: Service, admin: ConfidentialLedgerClient) -> None:
    constitution = admin.get_constitution()
    assert "Constitution" in constitution["script"]
    import hashlib

    assert constitution["digest"] == hashlib.sha256(constitution["script"].encode()).hexdigest()
    members = list(admin.list_consortium_members())
    assert len(members) == 1
    assert members[0]["certificate"] == (service.data / "member0.crt").read_text()
    quotes = admin.get_enclave_quotes()
    node = quotes["currentNodeId"]
    assert quotes["enclaveQuotes"][node]["quoteVersion"] == "Insecure_Virtual"
    assert quotes["enclaveQuotes"][node]["raw"] == ""
    identity_client = ConfidentialLedgerCertificateClient(
        certificate_endpoint=service.url,
        connection_verify=str(service.data / "service.crt"),
    )
    ledger_id = service.data.load_config().ledger_id
    identity = identity_client.get_ledger_identity(ledger_id)
    assert identity["ledgerId"] == ledger_id
    assert identity["ledgerTlsCertificate"] == (service.data / "service.crt").read_text()
    with pytest.raises(ResourceNotFoundError):
        identity_client.get_ledger_identity("some-other-ledger")


def test_receipts_verify_with_the_sdks_own_verifier(
    service: Service, admin: ConfidentialLedgerClient
) -> None:
    from azure.confidentialledger.receipt import verify_receipt as sdk_verify_receipt

    from accord.core.ccf import verify_ccf_receipt

    service_cert = (service.data / "service.crt").read_text()
    txids = []
    for i in range(40):
        result = admin.begin_create_ledger_entry(
            {"contents": f"shipment {i}"}, collection_id="shipments", polling_interval=0.05
        ).result()
        txids.append(result["transactionId"])
    for txid in txids[:3] + txids[-3:]:
        response = admin.begin_get_receipt(txid, polling_interval=0.05).result()
        assert response["state"] == "Ready"
        assert response["transactionId"] == txid
        claims = response["applicationClaims"]
        assert claims[0]["ledgerEntry"]["contents"].startswith("shipment ")
        sdk_verify_receipt(response["receipt"], service_cert, application_claims=claims)
        verify_ccf_receipt(response["receipt"], service_cert, application_claims=claims)
        # The SDK's verifier rejects the receipt with tampered claims or another service cert.
        forged = [dict(claims[0], ledgerEntry=dict(claims[0]["ledgerEntry"], contents="forged"))]
        with pytest.raises(ValueError):
            sdk_verify_receipt(response["receipt"], service_cert, application_claims=forged)
        other = make_user_identity("another service").cert_pem().decode()
        with pytest.raises(ValueError):
            sdk_verify_receipt(response["receipt"], other, application_claims=claims)
    with pytest.raises(ResourceNotFoundError):
        admin.get_receipt("1.99999")
