"""The HTTPS service over real sockets: a real `accord serve` process, real TLS client certs."""

from __future__ import annotations

import base64
import json
import re
import signal
import ssl
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from accord.cli.main import main
from accord.client.client import AccordClient
from accord.core.checkpoint import open_checkpoint
from accord.core.merkle import (
    leaf_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from accord.core.receipt import verify_receipt
from accord.core.tiles import decode_entry_bundle
from accord.datadir import init_data_dir, load_verifier
from accord.errors import AuthError
from accord.identity import make_user_identity, write_private

SRC = str(Path(__file__).parents[2] / "src")


from tests.service.conftest import (  # noqa: E402
    Service,
    checkpoint_size,
    start_service,
    stop_service,
)


def test_append_read_receipt_roundtrip(service: Service) -> None:
    client = service.client()
    txid = client.append("hello over https", "orders")
    assert re.fullmatch(r"1\.\d+", txid)
    entry = client.entry(txid)
    assert entry["entry"]["contents"] == "hello over https"
    assert entry["entry"]["collectionId"] == "orders"
    status = client.status(txid)
    assert status in ("Pending", "Committed")
    receipt = client.accord_receipt(txid)
    vkey = load_verifier(service.data / "checkpoint.vkey")
    verified = verify_receipt(receipt, vkey, contents=b"hello over https")
    assert str(verified.metadata.transaction_id) == txid


def test_verification_endpoints(service: Service) -> None:
    client = service.client()
    for i in range(300):
        client.append(f"entry {i}")
    vkey = load_verifier(service.data / "checkpoint.vkey")
    assert checkpoint_size(client, service.data, 300) == 300
    cp = open_checkpoint(client.checkpoint(), vkey)
    assert cp.size == 300
    leaves = decode_entry_bundle(client.tile("tile/entries/000"))
    leaves += decode_entry_bundle(client.tile("tile/entries/001.p/44"))
    hashes = [leaf_hash(x) for x in leaves]
    assert root_from_leaf_hashes(hashes) == cp.root_hash
    assert client.tile("tile/0/000") == b"".join(hashes[:256])
    assert client.tile("tile/0/001.p/44") == b"".join(hashes[256:])
    proof = client.get_json("/proofs/inclusion", {"index": "123", "size": "300"})
    assert proof["index"] == 123 and proof["size"] == 300
    verify_inclusion(
        123, 300, hashes[123], [base64.b64decode(h) for h in proof["hashes"]], cp.root_hash
    )
    cons = client.get_json("/proofs/consistency", {"from": "100", "to": "300"})
    verify_consistency(
        100,
        300,
        root_from_leaf_hashes(hashes[:100]),
        cp.root_hash,
        [base64.b64decode(h) for h in cons["hashes"]],
    )


def test_bad_requests_get_4xx_and_change_nothing(service: Service) -> None:
    service.client().append("first")
    checkpoint_size(service.client(), service.data, 1)
    size_before = service.client().checkpoint()
    cases = [
        ("POST", "/app/transactions", b'{"contents": "' + b"x" * 5000 + b'"}', "application/json"),
        ("POST", "/app/transactions", b"{not json", "application/json"),
        ("POST", "/app/transactions", b'{"contents": "ok"}', "text/plain"),
        ("POST", "/app/transactions", b'{"contents": 5}', "application/json"),
        (
            "POST",
            "/app/transactions?collectionId=bad%20id",
            b'{"contents": "ok"}',
            "application/json",
        ),
        ("POST", "/app/transactions", b'{"contents": "\\ud800"}', "application/json"),
        ("POST", "/app/transactions", b"[" * 100000 + b"]" * 100000, "application/json"),
        ("POST", "/app/transactions", b'{"contents": "x", "y": NaN}', "application/json"),
        ("POST", "/app/transactions", '{"contents": "x"}'.encode("utf-16"), "application/json"),
        ("GET", "/app/transactions?fromTransactionId=2.1", None, ""),
        ("GET", "/app/transactions/abc", None, ""),
        ("GET", "/app/transactions/1.999", None, ""),
        ("GET", "/proofs/inclusion?index=5&size=5", None, ""),
        ("GET", "/proofs/inclusion?index=0&size=99", None, ""),
        ("GET", "/proofs/inclusion?index=-1&size=1", None, ""),
        ("GET", "/proofs/consistency?from=2&to=1", None, ""),
        ("GET", "/proofs/consistency?from=1", None, ""),
        ("GET", "/tile/0/7", None, ""),
        ("GET", "/tile/0/000", None, ""),
        ("GET", "/receipts/1.999", None, ""),
    ]
    for method, path, body, ctype in cases:
        status, payload = service.raw(method, path, body=body, content_type=ctype)
        assert 400 <= status < 500, (path, status, payload)
        error = json.loads(payload)["error"]
        assert error["code"] and error["message"], payload
    assert service.client().checkpoint() == size_before


def test_authentication_and_roles(service: Service, tmp_path: Path) -> None:
    status, _ = service.raw("GET", "/checkpoint", role=None)
    assert status == 401
    status, _ = service.raw("POST", "/app/transactions", body=b'{"contents":"x"}', role=None)
    assert status == 401
    status, body = service.raw("POST", "/app/transactions", body=b'{"contents":"x"}', role="reader")
    assert status == 403, body
    assert service.raw("GET", "/checkpoint", role="reader")[0] == 200
    # A certificate nobody registered is refused: it authenticates, but as nobody.
    stranger = make_user_identity("stranger")
    (tmp_path / "s.crt").write_bytes(stranger.cert_pem())
    write_private(tmp_path / "s.key", stranger.key_pem())
    client = AccordClient(
        service.url,
        service_cert=str(service.data / "service.crt"),
        cert=str(tmp_path / "s.crt"),
        key=str(tmp_path / "s.key"),
    )
    with pytest.raises(AuthError, match="401"):
        client.append("intruder")
    with pytest.raises(AuthError):
        service.client("reader").append("nope")
    assert (
        open_checkpoint(
            service.client().checkpoint(), load_verifier(service.data / "checkpoint.vkey")
        ).size
        == 0
    )


def test_public_log_option(tmp_path: Path) -> None:
    data = init_data_dir(tmp_path / "d", name="public.test/ledger")
    proc, url = start_service(data, "--public-log")
    try:
        ctx = ssl.create_default_context(cafile=str(data / "service.crt"))
        with urllib.request.urlopen(url + "/checkpoint", context=ctx) as resp:
            assert resp.read().startswith(b"public.test/ledger\n0\n")
        req = urllib.request.Request(
            url + "/app/transactions",
            data=b'{"contents":"x"}',
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, context=ctx)
        assert err.value.code == 401
    finally:
        stop_service(proc)


def test_remote_verify_and_graceful_shutdown(
    service: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    client = service.client()
    with ThreadPoolExecutor(16) as pool:
        txids = list(pool.map(lambda i: client.append(f"c{i}"), range(400)))
    assert len(set(txids)) == 400
    code = main(
        [
            "verify",
            "--url",
            service.url,
            "--vkey",
            str(service.data / "checkpoint.vkey"),
            "--cacert",
            str(service.data / "service.crt"),
            "--cert",
            str(service.data / "admin.crt"),
            "--key",
            str(service.data / "admin.key"),
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    # SIGTERM while writes are in flight: every acknowledged write survives.
    acknowledged: list[str] = []

    def writer(i: int) -> None:
        try:
            acknowledged.append(client.append(f"late {i}"))
        except Exception:
            pass

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(writer, i) for i in range(200)]
        service.proc.send_signal(signal.SIGTERM)
        for f in futures:
            f.result()
    service.proc.communicate(timeout=30)
    assert service.proc.returncode == 0
    from accord.log.ledger import LedgerReader

    reader = LedgerReader.open(
        service.data.storage_location(), load_verifier(service.data / "checkpoint.vkey")
    )
    try:
        for txid in acknowledged + txids:
            assert reader.status(txid) == "Committed", txid
    finally:
        reader.close()
    assert main(["verify", "--data", str(service.data.path)]) == 0


def test_contents_over_azures_limit_are_accepted_with_a_warning(tmp_path: Path) -> None:
    data = init_data_dir(tmp_path / "d", name="limits.test/ledger")  # default limit: 1 MiB
    proc, url = start_service(data)
    try:
        ctx = ssl.create_default_context(cafile=str(data / "service.crt"))
        ctx.load_cert_chain(str(data / "admin.crt"), str(data / "admin.key"))

        def post(n: int) -> tuple[int, str | None]:
            req = urllib.request.Request(
                url + "/app/transactions",
                data=json.dumps({"contents": "z" * n}).encode(),
                method="POST",
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(req, context=ctx) as resp:
                    return resp.status, resp.headers.get("x-accord-warning")
            except urllib.error.HTTPError as exc:
                return exc.code, None

        assert post(8192) == (200, None)
        status, warning = post(9000)
        assert status == 200
        assert warning is not None and "Azure Confidential Ledger refuses" in warning
        assert post((1 << 20) + 1)[0] == 400  # this ledger's own limit
    finally:
        stop_service(proc)


def test_expired_client_certificate_is_refused(service: Service, tmp_path: Path) -> None:
    import datetime

    from accord.service.users import UserStore

    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=30)
    expired = make_user_identity("expired admin", days=10, now=long_ago)
    UserStore(service.data / "users.json").add_certificate(
        expired.cert_pem().decode(), "Administrator"
    )
    (tmp_path / "e.crt").write_bytes(expired.cert_pem())
    write_private(tmp_path / "e.key", expired.key_pem())
    client = AccordClient(
        service.url,
        service_cert=str(service.data / "service.crt"),
        cert=str(tmp_path / "e.crt"),
        key=str(tmp_path / "e.key"),
    )
    with pytest.raises(AuthError, match="expired"):
        client.append("from an expired certificate")
