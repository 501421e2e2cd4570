"""A new organization joins by vote with its own node and NATS server, then leaves by vote."""

from __future__ import annotations

import json
import secrets
import time

from accord.consortium.demo import LocalConsortium, OrgProcess
from accord.consortium.setup import prepare_joining_org
from accord.core.consortium import (
    Node,
    ballot_body,
    member_add_action,
    member_remove_action,
    node_add_action,
    proposal_body,
    sign_action,
)
from accord.core.note import Signer
from accord.core.policy import Policy

from .test_byzantine import _get_json, _get_text, _post
from .test_faults import converged, wait_until


def _key(org: OrgProcess) -> Signer:
    return Signer.from_skey((org.data / "member.key").read_text().strip())


def _act(org: OrgProcess, body: dict) -> dict:  # type: ignore[type-arg]
    status, raw = _post(org, "/app/governance/actions", sign_action(body, _key(org)).encode())
    assert status == 200, raw
    return json.loads(raw)


def test_an_organization_joins_with_its_node_and_leaves(fresh_network: LocalConsortium) -> None:
    network = fresh_network
    supplier, manufacturer, retailer = network.orgs.values()
    from .conftest import client

    acked: dict[str, str] = {}
    with client(supplier) as c:
        for i in range(5):
            acked[c.append(f"before shipper {i}")] = f"before shipper {i}"
    nodes = [Node.from_json(n) for n in _get_json(supplier, "/app/governance/state")["nodes"]]
    member, node, summary = prepare_joining_org(
        network.directory / "shipper",
        "shipper",
        peer=supplier.data,
        service_ca=network.directory / "service-ca",
        current_nodes=nodes,
    )
    now = int(time.time() * 1000)
    answer = _act(
        supplier,
        proposal_body(
            "supplier",
            now,
            secrets.token_hex(16),
            [member_add_action(member), node_add_action(node)],
        ),
    )
    answer = _act(
        manufacturer,
        ballot_body("manufacturer", now + 1, secrets.token_hex(16), answer["proposalId"], True),
    )
    assert answer["proposalState"] == "accepted"
    shipper = OrgProcess("shipper", network.directory / "shipper", summary["url"])
    network.orgs["shipper"] = shipper
    network.start("shipper")
    network.wait_ready(["shipper"], timeout=120)
    # The new node applied the whole history and takes writes that become final with 3 of 4.
    with client(shipper) as c:
        for txid, contents in acked.items():
            assert c.entry(txid)["entry"]["contents"] == contents
        txid = c.append("from the shipper")
        acked[txid] = "from the shipper"
    assert _get_json(retailer, "/app/governance/members")["cosignQuorum"] == 3
    live = Policy.from_text(_get_text(retailer, "/app/governance/policy"))
    converged(network, acked, live)
    # It leaves by vote (three of four); its node's envelopes stop counting from that seqno.
    now = int(time.time() * 1000)
    answer = _act(
        retailer,
        proposal_body("retailer", now, secrets.token_hex(16), [member_remove_action("shipper")]),
    )
    pid = answer["proposalId"]
    _act(supplier, ballot_body("supplier", now + 1, secrets.token_hex(16), pid, True))
    answer = _act(
        manufacturer, ballot_body("manufacturer", now + 2, secrets.token_hex(16), pid, True)
    )
    assert answer["proposalState"] == "accepted"
    network.stop("shipper")
    del network.orgs["shipper"]
    wait_until(
        lambda: _get_json(supplier, "/app/governance/members")["cosignQuorum"] == 2,
        20,
        "the quorum to return to 2 of 3",
    )
    with client(manufacturer) as c:
        txid = c.append("after the shipper left")
        acked[txid] = "after the shipper left"
    converged(network, acked, Policy.from_text(_get_text(retailer, "/app/governance/policy")))
