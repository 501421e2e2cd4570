"""``accord verify --policy`` and ``accord receipt verify --policy``: k of n cosignatures, offline.

The checkpoint notes are built here: signed with the ledger's key (``sign_checkpoint``), cosigned
by three witnesses (``Cosigner.cosign`` + ``add_signatures``), checked against a 2-of-3 policy.
A single-node service (no consortium) serves the ``verify --url`` cases.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from accord.cli.main import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from accord.client.verify import RemoteAuditReport, check_served_policy, policy_log
from accord.core.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from accord.core.cosignature import Cosigner, add_signatures
from accord.core.note import Signer
from accord.core.policy import Policy
from accord.datadir import DataDir, init_data_dir
from accord.errors import QuorumNotMet, RootMismatch, SignatureError, TamperingDetected
from accord.log.ledger import Ledger, NewEntry
from tests.service.conftest import Service, checkpoint_size, start_service, stop_service

WITNESSES = ("alpha", "beta", "gamma")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def cosigners() -> dict[str, Cosigner]:
    return {name: Cosigner.generate(name) for name in WITNESSES}


def policy_text(log_vkeys: list[str], cosigners: dict[str, Cosigner], quorum: str = "2") -> str:
    lines = [f"log {vkey}" for vkey in log_vkeys]
    lines += [f"witness {name} {c.key().to_vkey()}" for name, c in cosigners.items()]
    lines += [f"group members {quorum} {' '.join(cosigners)}", "quorum members"]
    return "\n".join(lines) + "\n"


def cosigned(note: str, by: list[Cosigner]) -> str:
    """``note`` with a cosignature of its checkpoint by each of ``by``."""
    body = note[: note.index("\n\n") + 1]
    return add_signatures(note, [c.cosign(body, int(time.time())) for c in by])


@pytest.fixture
def ledger(tmp_path: Path) -> DataDir:
    data = init_data_dir(tmp_path / "d", name="policy.test/ledger")
    with Ledger.create_or_open(data.storage_location(), data.signer(), node=data.node()) as led:
        led.append_batch([NewEntry("hello"), NewEntry("world")], wait_for_commit=True)
    return data


def receipt_with(ledger: DataDir, tmp_path: Path, by: list[Cosigner]) -> Path:
    """A receipt of entry 1.2 whose checkpoint note is signed here and cosigned by ``by``."""
    reader = ledger.open_reader()
    try:
        receipt = reader.receipt("1.2").to_json()
    finally:
        reader.close()
    checkpoint = Checkpoint.from_text(str(receipt["checkpoint"]).split("\n\n")[0] + "\n")
    note = sign_checkpoint(checkpoint, ledger.signer())
    receipt["checkpoint"] = cosigned(note, by)
    path = tmp_path / f"receipt-{len(by)}.json"
    path.write_text(json.dumps(receipt))
    return path


def write_policy(tmp_path: Path, text: str, name: str = "consortium.policy") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# --- receipts -----------------------------------------------------------------------------------
def test_receipt_verify_needs_k_of_n_cosignatures(
    ledger: DataDir,
    tmp_path: Path,
    cosigners: dict[str, Cosigner],
    capsys: pytest.CaptureFixture[str],
) -> None:
    vkey = (ledger / "checkpoint.vkey").read_text().strip()
    policy = write_policy(tmp_path, policy_text([vkey], cosigners))
    a, b, c = (cosigners[n] for n in WITNESSES)

    two = receipt_with(ledger, tmp_path, [a, c])
    code, out, err = run(capsys, "receipt", "verify", str(two), "--policy", policy)
    assert code == EXIT_OK, err
    assert "transaction 1.2" in out
    assert "satisfies the policy" in out and "cosigned by alpha, gamma (2 of 3" in out
    # --vkey as well: that key must be the one that signed.
    vkey_file = str(ledger / "checkpoint.vkey")
    code, _, err = run(
        capsys, "receipt", "verify", str(two), "--policy", policy, "--vkey", vkey_file
    )
    assert code == EXIT_OK, err

    one = receipt_with(ledger, tmp_path, [b])
    code, out, err = run(capsys, "receipt", "verify", str(one), "--policy", policy)
    assert code == EXIT_FAILED
    assert out == ""
    assert err.startswith("VERIFICATION FAILED") and "cosigned by beta" in err, err
    assert "does not satisfy the quorum" in err
    # Without --policy the same receipt verifies: the quorum is what --policy adds.
    code, _, err = run(capsys, "receipt", "verify", str(one), "--vkey", vkey_file)
    assert code == EXIT_OK, err


def test_receipt_verify_under_a_policy_of_other_logs_or_witnesses_fails(
    ledger: DataDir,
    tmp_path: Path,
    cosigners: dict[str, Cosigner],
    capsys: pytest.CaptureFixture[str],
) -> None:
    a, b, _ = (cosigners[n] for n in WITNESSES)
    receipt = receipt_with(ledger, tmp_path, [a, b])
    vkey = (ledger / "checkpoint.vkey").read_text().strip()

    other_log = Signer.generate("policy.test/ledger").verifier().to_vkey()
    policy = write_policy(tmp_path, policy_text([other_log], cosigners), "other-log.policy")
    code, _, err = run(capsys, "receipt", "verify", str(receipt), "--policy", policy)
    assert code == EXIT_FAILED and "no log of the policy signed" in err, err

    strangers = {n: Cosigner.generate(n) for n in WITNESSES}  # same names, other keys
    policy = write_policy(tmp_path, policy_text([vkey], strangers), "strangers.policy")
    code, _, err = run(capsys, "receipt", "verify", str(receipt), "--policy", policy)
    assert code == EXIT_FAILED and "cosigned by none" in err, err

    # A policy that trusts the log, and another key given with --vkey: refused too.
    policy = write_policy(tmp_path, policy_text([vkey, other_log], cosigners), "two.policy")
    wrong = tmp_path / "wrong.vkey"
    wrong.write_text(other_log + "\n")
    code, _, err = run(
        capsys, "receipt", "verify", str(receipt), "--policy", policy, "--vkey", str(wrong)
    )
    assert code == EXIT_FAILED, err


def test_policy_arguments(
    ledger: DataDir, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receipt = receipt_with(ledger, tmp_path, [])
    bad = write_policy(tmp_path, "log not-a-key\nquorum none\n", "bad.policy")
    cases = [
        (["receipt", "verify", str(receipt)], "give --vkey"),
        (["receipt", "verify", str(receipt), "--policy", bad], "is not a trust policy"),
        (["receipt", "verify", str(receipt), "--policy", str(tmp_path / "nope")], "no such file"),
        (["verify", "--data", str(ledger.path), "--policy", bad], "is not a trust policy"),
    ]
    good = write_policy(tmp_path, "quorum none\n", "none.policy")
    cases.append((["verify", "--data", str(ledger.path), "--policy", good], "give --url"))
    for argv, expected in cases:
        code, _, err = run(capsys, *argv)
        assert code == EXIT_USAGE, (argv, err)
        assert expected in err and err.count("\n") == 1, (argv, err)


# --- a running service --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, str]]:
    """A single-node service holding two entries, and its size-2 checkpoint note."""
    tmp = tmp_path_factory.mktemp("policy")
    data = init_data_dir(tmp / "data", name="policy.test/service")
    proc, url = start_service(data)
    service = Service(data, url, proc, tmp / "no-reader.crt", tmp / "no-reader.key")
    with service.client() as client:
        client.append("one")
        client.append("two")
        checkpoint_size(client, data, 2)
        note = client.checkpoint()
    yield service, note
    if proc.poll() is None:
        stop_service(proc)


def _connection(service: Service) -> list[str]:
    data = service.data
    return [
        "--url",
        service.url,
        "--cacert",
        str(data / "service.crt"),
        "--cert",
        str(data / "admin.crt"),
        "--key",
        str(data / "admin.key"),
    ]


def test_verify_url_with_policy(
    node: tuple[Service, str],
    tmp_path: Path,
    cosigners: dict[str, Cosigner],
    capsys: pytest.CaptureFixture[str],
) -> None:
    service, _ = node
    vkey = (service.data / "checkpoint.vkey").read_text().strip()
    # No --vkey: the policy's log key audits the log too.
    none = write_policy(tmp_path, f"log {vkey}\nquorum none\n", "none.policy")
    code, out, err = run(capsys, "verify", *_connection(service), "--policy", none)
    assert code == EXIT_OK, err
    assert "serves a consistent log" in out and "satisfies the policy" in out

    # A single node's checkpoint carries no cosignature: a 2-of-3 policy refuses it.
    k_of_n = write_policy(tmp_path, policy_text([vkey], cosigners))
    code, out, err = run(capsys, "verify", *_connection(service), "--policy", k_of_n)
    assert code == EXIT_FAILED, err
    assert "VERIFICATION FAILED" in err and "does not satisfy the quorum" in err, err

    other = Signer.generate("policy.test/service").verifier().to_vkey()
    stranger = write_policy(tmp_path, f"log {other}\nquorum none\n", "stranger.policy")
    code, _, err = run(capsys, "verify", *_connection(service), "--policy", stranger)
    assert code == EXIT_FAILED and "no log of the policy signed" in err, err


def test_served_policy_checkpoint_must_extend_the_audited_tree(node: tuple[Service, str]) -> None:
    service, note_at_2 = node
    vkey = (service.data / "checkpoint.vkey").read_text().strip()
    policy = Policy.from_text(f"log {vkey}\nquorum none\n")
    log = policy_log(note_at_2, policy)
    at_2 = open_checkpoint(note_at_2, log)
    with service.client() as client:
        client.append("three")
        size = checkpoint_size(client, service.data, 3)
        # Extends the tree audited at size 2: the served consistency proof ties them.
        ok = check_served_policy(client, policy, RemoteAuditReport(2, at_2.root_hash, 0))
        assert ok.checkpoint.size == size >= 3
        with pytest.raises(RootMismatch):
            check_served_policy(client, policy, RemoteAuditReport(2, bytes(32), 0))
        with pytest.raises(TamperingDetected, match="rolled back"):
            check_served_policy(client, policy, RemoteAuditReport(size + 1, bytes(32), 0))
        with pytest.raises(TamperingDetected, match="forked"):
            check_served_policy(client, policy, RemoteAuditReport(size, bytes(32), 0))
        strict = Policy.from_text(
            f"log {vkey}\nwitness w {Cosigner.generate('w').key().to_vkey()}\nquorum w\n"
        )
        with pytest.raises(QuorumNotMet):
            check_served_policy(client, strict, RemoteAuditReport(2, at_2.root_hash, 0))
    with pytest.raises(SignatureError):
        policy_log(note_at_2, Policy.from_text("quorum none\n"))
