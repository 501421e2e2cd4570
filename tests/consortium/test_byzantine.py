"""What a lying node, a forged envelope or a forged ballot gets: refused the same way everywhere."""

from __future__ import annotations

import asyncio
import json
import secrets
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

from accord.consortium.demo import LocalConsortium, OrgProcess
from accord.consortium.ordering import OrderingClient, client_ssl_context
from accord.core.checkpoint import Checkpoint, sign_checkpoint
from accord.core.consortium import (
    Member,
    ballot_body,
    member_add_action,
    member_remove_action,
    proposal_body,
    sign_action,
)
from accord.core.cosignature import Cosigner
from accord.core.envelope import Envelope, encode_message, message_id
from accord.core.note import Signer
from accord.core.policy import Policy
from accord.core.witness import AddCheckpointRequest
from accord.errors import AuthError
from accord.identity import fingerprint, make_user_identity

from .conftest import client


def _post(org: OrgProcess, path: str, body: bytes, *, as_node: bool = False) -> tuple[int, bytes]:
    ctx = ssl.create_default_context(cafile=str(org.service_crt))
    if as_node:
        ctx.load_cert_chain(str(org.data / "node.crt"), str(org.data / "node.key"))
    else:
        ctx.load_cert_chain(str(org.admin_cert), str(org.admin_key))
    request = urllib.request.Request(org.url + path, data=body, method="POST")
    request.add_header("Content-Type", "text/plain")
    try:
        with urllib.request.urlopen(request, context=ctx, timeout=20) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _admin_id(org: OrgProcess) -> str:
    from cryptography import x509

    return fingerprint(x509.load_pem_x509_certificate(org.admin_cert.read_bytes()))


def _get_json(org: OrgProcess, path: str) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(org.url + path, context=org.ssl_context(), timeout=20) as r:
        return json.loads(r.read())


def _publish(org: OrgProcess, data: bytes, msg_id: str | None = None) -> None:
    settings = json.loads((org.data / "consortium.json").read_text())
    tls = org.data / "engine-tls"

    async def go() -> None:
        ordering = await OrderingClient.connect(
            settings["engine"]["servers"],
            tls=client_ssl_context(
                tls / "server.crt", tls / "server.key", org.data / "engine-ca-bundle.pem"
            ),
            name="test-forger",
        )
        try:
            await ordering.publish(
                settings["subject"], data, msg_id=msg_id or message_id(data), stream="ACCORD"
            )
        finally:
            await ordering.close()

    asyncio.run(go())


def _envelope(node: str, user: str, contents: str, counter: int) -> Envelope:
    return Envelope(
        kind="entry",
        node=node,
        boot=int(time.time() * 1000),
        counter=counter,
        timestamp_ms=int(time.time() * 1000),
        user_id=user,
        collection_id="subledger:0",
        tags=(),
        contents=contents,
    )


def _rejections(org: OrgProcess) -> list[str]:
    with client(org) as c:
        return [e["contents"] for e in c.list_entries(collection_id="accord.rejected")]


def test_forged_envelopes_are_rejected_identically_by_every_node(network: LocalConsortium) -> None:
    supplier = network.orgs["supplier"]
    origin = json.loads((supplier.data / "config.json").read_text())["name"]
    node_key = Signer.from_skey((supplier.data / "checkpoint.key").read_text().strip())
    # 1. claims to be supplier-node, signed by another key
    _publish(
        supplier,
        encode_message([_envelope("supplier-node", "x", "forged", 1)], Signer.generate(origin)),
    )
    # 2. a node that is not in the consortium
    _publish(
        supplier,
        encode_message([_envelope("ghost-node", "x", "ghost", 1)], Signer.generate(origin)),
    )
    # 3. a real node key, but for a user without a role
    valid = encode_message([_envelope("supplier-node", "nobody", "no role", 1)], node_key)
    _publish(supplier, valid)
    # 4. the same bytes again, past JetStream's de-duplication: a replay
    _publish(supplier, valid, msg_id=secrets.token_hex(16))
    # 5. a real node key writing as ANOTHER organization's user (its Administrator)
    other_admin = _admin_id(network.orgs["manufacturer"])
    impersonation = encode_message(
        [_envelope("supplier-node", other_admin, "as manufacturer", 2)], node_key
    )
    _publish(supplier, impersonation)
    deadline = time.monotonic() + 30
    while len(_rejections(supplier)) < 5:  # applied (the node moves past its key's new position)
        assert time.monotonic() < deadline, "the forgeries were never applied"
        time.sleep(0.1)
    with client(supplier) as c:
        txid = c.append("after the forgeries")
        c.wait_for_commit(txid, timeout=30)
    expected = None
    for org in network.orgs.values():
        with client(org) as c:
            c.wait_for_commit(txid, timeout=30)
        reasons = [json.loads(r)["reason"] for r in _rejections(org)]
        if expected is None:
            expected = reasons
        assert reasons == expected
    assert expected is not None and len(expected) >= 5
    joined = " | ".join(expected)
    assert "signature does not verify" in joined
    assert "ghost-node is not a current node" in joined
    assert "may not write" in joined
    assert "replayed" in joined
    assert "belongs to manufacturer, not to supplier" in joined
    for org in network.orgs.values():
        with client(org) as c:
            contents = [e["contents"] for e in c.list_entries()]
        assert "forged" not in contents and "ghost" not in contents and "no role" not in contents
        assert "as manufacturer" not in contents


def test_an_organization_cannot_manage_another_organizations_users(
    network: LocalConsortium,
) -> None:
    supplier, manufacturer = network.orgs["supplier"], network.orgs["manufacturer"]
    victim = _admin_id(manufacturer)
    with client(supplier) as c:
        for change in (lambda: c.delete_user(victim), lambda: c.set_user(victim, "Reader")):
            try:
                change()
                refused = False
            except AuthError as exc:
                refused = "belongs to manufacturer" in str(exc)
            assert refused
    with client(manufacturer) as c:  # still its Administrator, on every node
        assert c.get_user(victim)["assignedRole"] == "Administrator"


def test_a_node_key_signing_another_root_is_caught_as_evidence(network: LocalConsortium) -> None:
    supplier, manufacturer = network.orgs["supplier"], network.orgs["manufacturer"]
    origin = json.loads((supplier.data / "config.json").read_text())["name"]
    node_key = Signer.from_skey((supplier.data / "checkpoint.key").read_text().strip())
    lie = sign_checkpoint(Checkpoint(origin, 1, b"\x07" * 32), node_key)
    body = AddCheckpointRequest(0, (), lie.encode()).to_bytes()
    status, text = _post(manufacturer, "/add-checkpoint", body, as_node=True)
    assert status == 422, text
    evidence = list((manufacturer.data / "evidence").glob("*.json"))
    assert evidence and json.loads(evidence[0].read_text())["signer"] == "supplier-node"
    deadline = time.monotonic() + 30
    while True:
        with client(manufacturer) as c:
            recorded = list(c.list_entries(collection_id="accord.evidence"))
        if recorded:
            break
        assert time.monotonic() < deadline, "the evidence never reached the ledger"
        time.sleep(0.2)
    assert "supplier-node" in recorded[0]["contents"]
    # `accord verify` reports it by signer (exit 1: the log verified, a node key lied).
    import subprocess
    import sys

    audit = subprocess.run(
        [sys.executable, "-m", "accord.cli.main", "verify", "--data", str(manufacturer.data)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert audit.returncode == 1, audit.stderr
    assert "EVIDENCE: supplier-node signed" in audit.stdout
    # An unauthenticated caller (a user, not a node) is refused before anything is checked.
    status, _ = _post(manufacturer, "/add-checkpoint", body)
    assert status == 403


def test_a_stale_old_size_is_answered_409_with_the_record_before_anything_costly(
    network: LocalConsortium,
) -> None:
    # The retailer's node key: the supplier's may already be distrusted (caught lying above).
    retailer, manufacturer = network.orgs["retailer"], network.orgs["manufacturer"]
    with client(retailer) as c:
        c.append("so that every witness has cosigned something")
    origin = json.loads((retailer.data / "config.json").read_text())["name"]
    node_key = Signer.from_skey((retailer.data / "checkpoint.key").read_text().strip())
    # Far beyond what any node applied: the full checks would wait for it and answer 503.
    ahead = sign_checkpoint(Checkpoint(origin, 10**9, b"\x07" * 32), node_key)
    body = AddCheckpointRequest(0, (), ahead.encode()).to_bytes()
    deadline = time.monotonic() + 30
    while True:
        started = time.monotonic()
        status, text = _post(manufacturer, "/add-checkpoint", body, as_node=True)
        if status == 409:
            break
        assert status == 503 and time.monotonic() < deadline, (status, text)  # record still 0
        time.sleep(0.5)
    assert time.monotonic() - started < 2.0  # not after the 3 s wait for the size to be applied
    record = text.decode()
    assert record.endswith("\n") and int(record) > 0
    assert not list((manufacturer.data / "evidence").glob(f"*{10**9}*"))


def _member_key(org: OrgProcess) -> Signer:
    return Signer.from_skey((org.data / "member.key").read_text().strip())


def test_governance_admits_and_removes_an_organization(network: LocalConsortium) -> None:
    supplier, manufacturer, retailer = network.orgs.values()
    assert network.policy is not None
    signer = Signer.generate("shipper")
    cosigner = Cosigner.generate("shipper")
    admin = make_user_identity("shipper administrator")
    shipper = Member("shipper", signer.verifier(), cosigner.key(), fingerprint(admin.cert))
    now = int(time.time() * 1000)
    proposal = sign_action(
        proposal_body("supplier", now, secrets.token_hex(16), [member_add_action(shipper)]),
        _member_key(supplier),
    )
    status, raw = _post(supplier, "/app/governance/actions", proposal.encode())
    assert status == 200, raw
    answer = json.loads(raw)
    assert answer["proposalState"] == "open"
    pid = answer["proposalId"]
    # A forged ballot (a signature byte changed) is refused and counts for nothing.
    ballot = sign_action(
        ballot_body("manufacturer", now + 1, secrets.token_hex(16), pid, True),
        _member_key(manufacturer),
    )
    head, sig = ballot.rsplit(" ", 1)
    forged = head + " " + ("A" if sig[0] != "A" else "B") + sig[1:]
    status, raw = _post(manufacturer, "/app/governance/actions", forged.encode())
    assert status == 409 and b"signature" in raw.lower(), raw
    assert _get_json(retailer, f"/app/governance/proposals/{pid}")["state"] == "open"
    status, raw = _post(manufacturer, "/app/governance/actions", ballot.encode())
    assert status == 200 and json.loads(raw)["proposalState"] == "accepted", raw
    for org in network.orgs.values():  # every node applied it
        deadline = time.monotonic() + 20
        while True:
            members = _get_json(org, "/app/governance/members")
            if len(members["members"]) == 4:
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert members["cosignQuorum"] == 3
    # With four members, three cosignatures are needed; the three nodes still make writes final.
    with client(retailer) as c:
        txid = c.append("with four members")
        c.wait_for_commit(txid, timeout=30)
        live = Policy.from_text(_get_text(retailer, "/app/governance/policy"))
        assert len(live.verify(c.checkpoint()).cosigned) >= 3
    # Remove it again: a majority of four is three votes.
    removal = sign_action(
        proposal_body(
            "retailer", now + 2, secrets.token_hex(16), [member_remove_action("shipper")]
        ),
        _member_key(retailer),
    )
    status, raw = _post(retailer, "/app/governance/actions", removal.encode())
    pid = json.loads(raw)["proposalId"]
    for i, org in enumerate((supplier, manufacturer)):
        vote = sign_action(
            ballot_body(org.name, now + 3 + i, secrets.token_hex(16), pid, True), _member_key(org)
        )
        status, raw = _post(org, "/app/governance/actions", vote.encode())
        assert status == 200, raw
    assert json.loads(raw)["proposalState"] == "accepted"
    deadline = time.monotonic() + 20
    while _get_json(supplier, "/app/governance/members")["cosignQuorum"] != 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)


def _get_text(org: OrgProcess, path: str) -> str:
    with urllib.request.urlopen(org.url + path, context=org.ssl_context(), timeout=20) as r:
        return r.read().decode()


_ = Path
