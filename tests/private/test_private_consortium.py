"""Private collections across three organizations, each its own node and NATS server.

supplier and manufacturer read the collection ``prices``; retailer sees only commitments. Its
whole data directory (NATS store included) is scanned for the plaintext, disclosure is checked
offline, and a purge erases contents at both readers while ``accord verify`` still passes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from accord.cli.gov import ballot_note, proposal_note
from accord.consortium.demo import LocalConsortium, OrgProcess
from accord.core.private import private_create_action
from tests.consortium.helpers import (
    admin_options,
    client,
    http,
    member_key,
    running_consortium,
)

READERS = ("supplier", "manufacturer")


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalConsortium]:
    with running_consortium(tmp_path_factory.mktemp("private") / "c") as consortium:
        orgs = consortium.orgs
        # through the command line: propose with one member's key, vote with another's
        proposed = accord(
            orgs["supplier"],
            "private",
            "create",
            "prices",
            "--readers",
            ",".join(READERS),
            "--member-key",
            str(orgs["supplier"].data / "member.key"),
            "--json",
        )
        outcome = json.loads(proposed.stdout)
        assert outcome["proposalState"] == "open"
        with client(orgs["manufacturer"]) as c:
            outcome = c.submit_action(
                ballot_note(member_key(orgs["manufacturer"]), outcome["proposalId"], True)
            )
        assert outcome["proposalState"] == "accepted", outcome
        # a short-lived collection, to see retention purge contents by itself
        note = proposal_note(
            member_key(orgs["supplier"]), [private_create_action("quotes", READERS, 2000)]
        )
        with client(orgs["supplier"]) as c:
            outcome = c.submit_action(note)
        with client(orgs["retailer"]) as c:
            outcome = c.submit_action(
                ballot_note(member_key(orgs["retailer"]), outcome["proposalId"], True)
            )
        assert outcome["proposalState"] == "accepted", outcome
        for org in orgs.values():  # every node applied the proposal
            with http(org) as h:
                wait_for(
                    lambda h=h: h.get("/app/private/collections").json()["collections"],
                    what=f"the private collection at {org.name}",
                )
        yield consortium


def accord(org: OrgProcess, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the accord CLI against ``org``'s node as its Administrator."""
    out = subprocess.run(
        [sys.executable, "-m", "accord.cli.main", *argv, *admin_options(org)],
        capture_output=True,
        text=True,
    )
    if check:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


def _write(org: OrgProcess, contents: str, collection: str = "prices") -> str:
    with http(org) as h:
        r = h.post(f"/app/transactions?collectionId={collection}", json={"contents": contents})
        assert r.status_code == 200, r.text
        return str(r.json()["transactionId"])


def _read(org: OrgProcess, txid: str) -> httpx.Response:
    with http(org) as h:
        return wait_for(
            lambda: (r := h.get(f"/app/transactions/{txid}")).status_code != 404 and r,
            what=f"{txid} at {org.name}",
        )


def test_readers_read_and_outsiders_see_only_commitments(network: LocalConsortium) -> None:
    orgs = network.orgs
    marker = f"price-of-part-7 {uuid.uuid4().hex}"
    txid = _write(orgs["supplier"], marker)
    got = _read(orgs["manufacturer"], txid)
    assert got.status_code == 200, got.text
    assert got.json()["entry"]["contents"] == marker
    assert _read(orgs["supplier"], txid).json()["entry"]["contents"] == marker
    refused = _read(orgs["retailer"], txid)
    assert refused.status_code == 403, refused.text
    assert "private" in refused.json()["error"]["message"]
    # the retailer cannot write to it either, and nothing is written
    with http(orgs["retailer"]) as h:
        r = h.post("/app/transactions?collectionId=prices", json={"contents": "x"})
        assert r.status_code == 403, r.text
        listed = h.get("/app/transactions?collectionId=prices")
        assert listed.status_code == 403
    # the receipt (and so the commitment) is available to the retailer
    with http(orgs["retailer"]) as h:
        receipt = wait_for(lambda: (r := h.get(f"/receipts/{txid}")).status_code == 200 and r)
    leaf = receipt.json()["entry"]
    assert leaf["collectionId"] == "prices"
    # a public entry still reads everywhere
    public = _write(orgs["retailer"], "public hello", "subledger:0")
    assert _read(orgs["supplier"], public).json()["entry"]["contents"] == "public hello"
    # the retailer's whole directory, NATS store included, never held the plaintext
    with client(orgs["supplier"]) as c:
        c.wait_for_commit(txid, timeout=60)
    wait_for(lambda: _size(orgs["retailer"]) >= int(txid.split(".")[1]), what="retailer applies")
    needle = marker.encode()
    store = orgs["retailer"].data / "engine" / "jetstream"
    assert any(p.stat().st_size > 0 for p in store.rglob("*.blk")), "no ordering data to scan"
    for path in orgs["retailer"].data.rglob("*"):
        if path.is_file():
            assert needle not in path.read_bytes(), f"plaintext found in {path}"
    # the readers' ledgers hold the public record only, the sealed store the ciphertext
    for name in READERS:
        db = orgs[name].data / "private" / "sealed.db"
        assert db.exists()
        for path in orgs[name].data.rglob("*"):
            if path.is_file() and path.suffix in {".db", ".sqlite", ".blk", ".idx"}:
                assert needle not in path.read_bytes(), f"plaintext at rest in {path}"


def _size(org: OrgProcess) -> int:
    with http(org) as h:
        r = h.get("/checkpoint")
        return int(r.text.splitlines()[1]) if r.status_code == 200 else 0


def test_disclosure_verifies_offline(network: LocalConsortium, tmp_path: Path) -> None:
    orgs = network.orgs
    marker = f"disclosed {uuid.uuid4().hex}"
    txid = _write(orgs["manufacturer"], marker)
    with client(orgs["manufacturer"]) as c:
        c.wait_for_commit(txid, timeout=60)
    with http(orgs["supplier"]) as h:
        d = wait_for(
            lambda: (r := h.get(f"/app/private/disclosures/{txid}")).status_code == 200 and r,
            what="a disclosure",
        ).json()
    with http(orgs["retailer"]) as h:
        assert h.get(f"/app/private/disclosures/{txid}").status_code == 403
    path = tmp_path / "disclosure.json"
    path.write_text(json.dumps(d))
    policy = network.directory / "consortium.policy"
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "accord.cli.main",
            "receipt",
            "verify",
            str(path),
            "--policy",
            str(policy),
        ],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert marker in ok.stdout or "commitment" in ok.stdout
    forged = dict(d, contents=d["contents"] + "!")
    path.write_text(json.dumps(forged))
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "accord.cli.main",
            "receipt",
            "verify",
            str(path),
            "--policy",
            str(policy),
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0
    assert "commitment" in bad.stderr


def test_purge_erases_contents_everywhere_and_audit_passes(network: LocalConsortium) -> None:
    orgs = network.orgs
    marker = f"to be forgotten {uuid.uuid4().hex}"
    txid = _write(orgs["supplier"], marker)
    for name in READERS:
        assert _read(orgs[name], txid).json()["entry"]["contents"] == marker
    with http(orgs["retailer"]) as h:  # not a reader: may not purge
        r = h.post("/app/private/purge", json={"transactionId": txid, "reason": "GDPR"})
        assert r.status_code == 403, r.text
    with http(orgs["manufacturer"]) as h:
        bad = h.post("/app/private/purge", json={"transactionId": txid, "reason": ""})
        assert bad.status_code == 400, bad.text
    purged = accord(orgs["manufacturer"], "private", "purge", txid, "--reason", "GDPR request 17")
    assert f"purged {txid}" in purged.stdout
    with http(orgs["manufacturer"]) as h:  # taken effect at that node once acknowledged
        assert h.get(f"/app/transactions/{txid}").status_code == 410
        again = h.post("/app/private/purge", json={"transactionId": txid, "reason": "again"})
        assert again.status_code == 409, again.text
        public = _write(orgs["manufacturer"], "not private", "subledger:0")
        r = h.post("/app/private/purge", json={"transactionId": public, "reason": "x"})
        assert r.status_code == 400, r.text
    for name in READERS:
        with http(orgs[name]) as h:
            gone = wait_for(
                lambda h=h: (r := h.get(f"/app/transactions/{txid}")).status_code == 410 and r,
                what=f"the purge at {name}",
            )
            assert "purged" in gone.json()["error"]["message"]
    needle = marker.encode()
    for name in READERS:
        for path in orgs[name].data.rglob("*"):
            if path.is_file():
                assert needle not in path.read_bytes(), f"plaintext left in {path}"
    # every proof still verifies: a full audit of every node
    with client(orgs["supplier"]) as c:
        c.wait_for_commit(txid, timeout=60)
    policy = network.directory / "consortium.policy"
    for org in orgs.values():
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "accord.cli.main",
                "verify",
                "--url",
                org.url,
                "--cacert",
                str(org.service_crt),
                "--cert",
                str(org.admin_cert),
                "--key",
                str(org.admin_key),
                "--policy",
                str(policy),
            ],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stdout + out.stderr
    # the offline audit of each reader's directory reports the entry purged, not tampered
    for name in READERS:
        out = subprocess.run(
            [sys.executable, "-m", "accord.cli.main", "verify", "--data", str(orgs[name].data)],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"PURGED: {txid}" in out.stdout, out.stdout
        assert "private entries read by" in out.stdout


def test_retention_purges_contents_by_itself(network: LocalConsortium) -> None:
    orgs = network.orgs
    marker = f"short-lived quote {uuid.uuid4().hex}"
    txid = _write(orgs["manufacturer"], marker, "quotes")
    first = _read(orgs["supplier"], txid)
    assert first.status_code in (200, 410)  # 2 s: it may be gone already on a slow machine
    for name in READERS:
        with http(orgs[name]) as h:
            wait_for(
                lambda h=h: h.get(f"/app/transactions/{txid}").status_code == 410,
                timeout=40,
                what=f"retention at {name}",
            )
            # a list shows it, marked purged, without contents
            listed = h.get("/app/transactions?collectionId=quotes").json()["entries"]
            mine = [e for e in listed if e["transactionId"] == txid]
            assert mine and mine[0]["purged"] is True and mine[0]["contents"] == ""
    # the sealed copies are erased, not just hidden
    for name in READERS:
        wait_for(lambda name=name: not _held(orgs[name], txid), timeout=40, what="the erasure")


def _held(org: OrgProcess, txid: str) -> bool:
    import sqlite3

    seqno = int(txid.split(".")[1])
    db = sqlite3.connect(f"file:{org.data / 'private' / 'sealed.db'}?mode=ro", uri=True)
    try:
        return db.execute("SELECT 1 FROM sealed WHERE seqno = ?", (seqno,)).fetchone() is not None
    finally:
        db.close()


def test_cli_lists_discloses_and_a_reader_refetches_lost_contents(
    network: LocalConsortium, tmp_path: Path
) -> None:
    orgs = network.orgs
    listed = json.loads(accord(orgs["retailer"], "private", "collections", "--json").stdout)
    assert {c["collectionId"]: c["readers"] for c in listed}["prices"] == sorted(READERS)
    marker = f"refetched {uuid.uuid4().hex}"
    txid = _write(orgs["supplier"], marker)
    assert _read(orgs["manufacturer"], txid).json()["entry"]["contents"] == marker
    out = tmp_path / "d.json"
    accord(orgs["manufacturer"], "private", "disclose", txid, "-o", str(out))
    assert json.loads(out.read_text())["contents"] == marker
    refused = accord(orgs["retailer"], "private", "disclose", txid, check=False)
    assert refused.returncode != 0 and "private" in refused.stderr
    # the manufacturer's node loses its sealed copy (as after catching up from a peer's tiles):
    # a read fetches it from the supplier's node over mTLS and checks it against the record
    network.stop("manufacturer")
    import sqlite3

    db = sqlite3.connect(orgs["manufacturer"].data / "private" / "sealed.db")
    db.execute("DELETE FROM sealed WHERE seqno = ?", (int(txid.split(".")[1]),))
    db.commit()
    db.close()
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "accord.cli.main",
            "verify",
            "--data",
            str(orgs["manufacturer"].data),
        ],
        capture_output=True,
        text=True,
    )
    assert missing.returncode != 0 and "never purged" in missing.stdout, missing.stdout
    network.start("manufacturer")
    network.wait_ready(["manufacturer"])
    got = _read(orgs["manufacturer"], txid)
    assert got.status_code == 200, got.text
    assert got.json()["entry"]["contents"] == marker
    assert _held(orgs["manufacturer"], txid)


def test_a_proposal_that_could_not_take_effect_is_refused_at_the_edge(
    network: LocalConsortium,
) -> None:
    supplier = network.orgs["supplier"]
    with http(supplier) as h:
        before = h.get("/app/governance/proposals").json()["proposals"]
    refused = accord(
        supplier,
        "private",
        "create",
        "prices-2",
        "--readers",
        "supplier,nobody",
        "--member-key",
        str(supplier.data / "member.key"),
        check=False,
    )
    assert refused.returncode != 0
    assert "could not take effect" in refused.stderr and "nobody" in refused.stderr
    assert "Traceback" not in refused.stderr, refused.stderr
    with http(supplier) as h:  # nothing was ordered: no proposal to vote on
        assert h.get("/app/governance/proposals").json()["proposals"] == before
