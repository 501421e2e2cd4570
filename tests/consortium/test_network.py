"""Three organizations, three nodes, one ledger: writes through any node, final by quorum."""

from __future__ import annotations

import json
import time
import urllib.request

from accord.consortium.demo import LocalConsortium
from accord.core.policy import Policy

from .conftest import client


def _wait_committed(network: LocalConsortium, txid: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    for org in network.orgs.values():
        with client(org) as c:
            while c.status(txid) != "Committed":
                assert time.monotonic() < deadline, f"{txid} not committed on {org.name}"
                time.sleep(0.05)


def test_a_write_through_one_node_is_read_and_final_on_all(network: LocalConsortium) -> None:
    supplier, manufacturer, retailer = network.orgs.values()
    with client(supplier) as c:
        txid = c.append("lot 42 shipped", collection_id="shipments", tags=["lot=42"])
    _wait_committed(network, txid)
    for org in (manufacturer, retailer):
        with client(org) as c:
            entry = c.entry(txid, collection_id="shipments")
            assert entry["entry"]["contents"] == "lot 42 shipped"
    assert network.policy is not None
    policy = Policy.from_text(network.policy.read_text())
    roots = set()
    for org in network.orgs.values():
        with client(org) as c:
            note = c.checkpoint()
        cosigned = policy.verify(note)
        assert len(cosigned.cosigned) >= 2
        roots.add((cosigned.checkpoint.size, cosigned.checkpoint.root_hash))
    sizes = {size for size, _ in roots}
    assert min(sizes) >= int(txid.split(".")[1])


def test_batches_through_different_nodes_interleave_consistently(network: LocalConsortium) -> None:
    orgs = list(network.orgs.values())
    txids = []
    for i, org in enumerate(orgs):
        with client(org) as c:
            txids += c.append_batch([{"contents": f"{org.name} {i} {k}"} for k in range(5)])
    _wait_committed(network, txids[-1])
    seqnos = [int(t.split(".")[1]) for t in txids]
    for k in range(0, len(seqnos), 5):  # a batch is contiguous
        assert seqnos[k : k + 5] == list(range(seqnos[k], seqnos[k] + 5))
    listings = []
    for org in orgs:
        with client(org) as c:
            listings.append([c.entry(t)["entry"]["contents"] for t in txids])
    assert listings[0] == listings[1] == listings[2]


def test_the_official_sdk_works_against_any_node(network: LocalConsortium, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from azure.confidentialledger import (
        ConfidentialLedgerCertificateCredential,
        ConfidentialLedgerClient,
    )
    from azure.confidentialledger.receipt import verify_receipt

    from accord.identity import write_private

    def sdk(org):  # type: ignore[no-untyped-def]
        pem = tmp_path / f"{org.name}.pem"
        write_private(pem, org.admin_cert.read_bytes() + org.admin_key.read_bytes())
        return ConfidentialLedgerClient(
            org.url,
            ConfidentialLedgerCertificateCredential(str(pem)),
            ledger_certificate_path=str(org.service_crt),
        )

    supplier, manufacturer, retailer = network.orgs.values()
    writer, waiter, reader = sdk(supplier), sdk(manufacturer), sdk(retailer)
    try:
        txid = writer.create_ledger_entry({"contents": "via the SDK"})["transactionId"]
        assert waiter.begin_wait_for_commit(txid, polling_interval=0.05).result()["state"] == (
            "Committed"
        )
        entry = reader.get_ledger_entry(txid)
        assert entry["entry"]["contents"] == "via the SDK"
        response = reader.begin_get_receipt(txid, polling_interval=0.05).result()
        claims = response["applicationClaims"]
        # The consortium's one service certificate, as every data directory holds it.
        service_cert = retailer.service_crt.read_text()
        assert service_cert == supplier.service_crt.read_text()
        verify_receipt(response["receipt"], service_cert, application_claims=claims)
    finally:
        for c in (writer, waiter, reader):
            c.close()


def test_servers_sharing_one_machine_run_one_go_thread_each(network: LocalConsortium) -> None:
    # create_consortium puts every organization on this machine: each node file caps its NATS
    # server at one thread, and the running server reports it.
    for org in network.orgs.values():
        engine = json.loads((org.data / "consortium.json").read_text())["engine"]
        assert engine["threads"] == 1
        url = f"http://127.0.0.1:{engine['monitor_port']}/varz"
        with urllib.request.urlopen(url, timeout=5) as answer:
            assert json.loads(answer.read())["gomaxprocs"] == 1
