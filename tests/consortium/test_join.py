"""A new organization joins by vote with its own node and NATS server, then leaves by vote."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time

from accord.consortium.demo import LocalConsortium, OrgProcess
from accord.core.consortium import (
    ballot_body,
    member_remove_action,
    proposal_body,
    sign_action,
)
from accord.core.policy import Policy

from .helpers import admin_options, member_key
from .test_byzantine import _get_json, _get_text, _post
from .test_faults import converged, wait_until


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "accord.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done


def _act(org: OrgProcess, body: dict) -> dict:  # type: ignore[type-arg]
    status, raw = _post(org, "/app/governance/actions", sign_action(body, member_key(org)).encode())
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
    # Through the command line, as an operator would: prepare the organization, propose, vote.
    prepared = _cli("consortium", "add-org", "--dir", str(network.directory), "--name", "shipper")
    assert "accord gov propose" in prepared.stdout
    shipper_dir = network.directory / "shipper"
    proposed = _cli(
        "gov",
        "propose",
        "--member-key",
        str(supplier.data / "member.key"),
        "--add-member",
        str(shipper_dir / "member.json"),
        "--add-node",
        str(shipper_dir / "node.json"),
        *admin_options(supplier),
    )
    pid, state = proposed.stdout.split()[:2]
    assert state == "open"
    voted = _cli(
        "gov",
        "vote",
        pid,
        "yes",
        "--member-key",
        str(manufacturer.data / "member.key"),
        *admin_options(manufacturer),
    )
    assert voted.stdout.split()[:2] == [pid, "accepted"]
    summary = {"url": json.loads((shipper_dir / "node.json").read_text())["url"]}
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
