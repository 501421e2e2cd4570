"""``audit_remote`` (and ``accord verify --url``) against a dishonest server.

The server is the real service behind a real HTTPS proxy that rewrites one kind of response (see
conftest.py): a tile, an entry bundle, a proof, or the checkpoint. Every case must raise the
specific accord error, with a message naming what is wrong; the honest proxy must pass.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import pytest

from accord.client.verify import RemoteAuditReport, audit_remote
from accord.core.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from accord.core.note import Signer
from accord.core.tiles import decode_entry_bundle, encode_entry_bundle
from accord.errors import MalformedInput, RootMismatch, SignatureError, TamperingDetected
from tests.client.conftest import ENTRIES, OLD_SIZE, RemoteLog, Rewrite, TamperingProxy
from tests.service.conftest import SRC


def _audit(proxy: TamperingProxy, trusted: tuple[str, ...] = ()) -> RemoteAuditReport:
    with proxy.client() as client:
        return audit_remote(client, proxy.log.data.verifier(), trusted_checkpoints=trusted)


def _flip(offset: int) -> Rewrite:
    def rewrite(body: bytes) -> bytes:
        return body[:offset] + bytes([body[offset] ^ 0x01]) + body[offset + 1 :]

    return rewrite


def _signed_root(log: RemoteLog) -> Checkpoint:
    return open_checkpoint(log.checkpoint, log.data.verifier())


# --- the honest server ---------------------------------------------------------------------------


def test_honest_proxy_passes(proxy: TamperingProxy) -> None:
    report = _audit(proxy, (proxy.log.old_checkpoint, proxy.log.checkpoint))
    cp = _signed_root(proxy.log)
    assert (report.size, report.root) == (ENTRIES, cp.root_hash)
    # Every kind of response the dishonest cases below tamper with is really fetched and checked.
    paths = [p.split("?")[0] for p in proxy.requests]
    for path in (
        "/checkpoint",
        "/tile/entries/000",
        "/tile/entries/001.p/44",
        "/tile/0/000",
        "/tile/0/001.p/44",
        "/tile/1/000.p/1",
        "/proofs/inclusion",
        "/proofs/consistency",
    ):
        assert path in paths


# --- tiles ---------------------------------------------------------------------------------------


def test_tampered_leaf_tile(proxy: TamperingProxy) -> None:
    proxy.rewrites["/tile/0/000"] = _flip(32 * 9 + 3)  # the hash of entry 10
    with pytest.raises(TamperingDetected, match=r"served tile 0/0 differs .* hash 9") as exc:
        _audit(proxy)
    assert exc.value.seqno == 10


def test_tampered_partial_tile(proxy: TamperingProxy) -> None:
    proxy.rewrites["/tile/0/001.p/44"] = _flip(32 * 43)  # entry 300
    with pytest.raises(TamperingDetected, match=r"served tile 0/1 differs") as exc:
        _audit(proxy)
    assert exc.value.seqno == 300


def test_tampered_interior_tile(proxy: TamperingProxy) -> None:
    proxy.rewrites["/tile/1/000.p/1"] = _flip(31)  # the root of entries 1..256
    with pytest.raises(TamperingDetected, match=r"served tile 1/0 differs") as exc:
        _audit(proxy)
    assert exc.value.seqno == 1


def test_truncated_tile(proxy: TamperingProxy) -> None:
    proxy.rewrites["/tile/0/000"] = lambda body: body[: 32 * 200]
    with pytest.raises(TamperingDetected, match=r"served tile 0/0 differs .* hash 200") as exc:
        _audit(proxy)
    assert exc.value.seqno == 201


# --- entry bundles -------------------------------------------------------------------------------


def _change_entry(index: int, old: bytes, new: bytes) -> Rewrite:
    def rewrite(body: bytes) -> bytes:
        leaves = decode_entry_bundle(body)
        assert old in leaves[index]
        leaves[index] = leaves[index].replace(old, new, 1)
        return encode_entry_bundle(leaves)

    return rewrite


def test_tampered_entry_still_well_formed(proxy: TamperingProxy) -> None:
    # Entry 5 keeps parsing (another user id), so only the tree can tell: the served tiles reach
    # the signed root and the entries do not, so the entry is named.
    proxy.rewrites["/tile/entries/000"] = _change_entry(4, b'"userId":"', b'"userId":"X')
    with pytest.raises(TamperingDetected, match=r"entry 5 served in entry bundle 0 was changed"):
        _audit(proxy)


def test_tampered_entry_in_partial_bundle(proxy: TamperingProxy) -> None:
    proxy.rewrites["/tile/entries/001.p/44"] = _change_entry(43, b'"tags":[', b'"tags":["x"')
    with pytest.raises(TamperingDetected, match=r"entry 300 served in entry bundle 1") as exc:
        _audit(proxy)
    assert exc.value.seqno == 300


def test_entry_bundle_and_tiles_rewritten_together(proxy: TamperingProxy) -> None:
    # A consistent rewrite of an entry *and* of the leaf tile still cannot reach the signed root.
    from accord.core.merkle import leaf_hash

    change = _change_entry(4, b'"userId":"', b'"userId":"X')
    proxy.rewrites["/tile/entries/000"] = change

    def tile(body: bytes) -> bytes:
        with proxy.log.client() as client:
            leaf = decode_entry_bundle(change(client.tile("tile/entries/000")))[4]
        return body[: 32 * 4] + leaf_hash(leaf) + body[32 * 5 :]

    proxy.rewrites["/tile/0/000"] = tile
    with pytest.raises(TamperingDetected, match=r"matches neither the served entries nor the"):
        _audit(proxy)


def test_entry_renumbered(proxy: TamperingProxy) -> None:
    proxy.rewrites["/tile/entries/000"] = _change_entry(
        6, b'"transactionId":"1.7"', b'"transactionId":"1.8"'
    )
    with pytest.raises(
        TamperingDetected, match=r"entry 7 in entry bundle 0 is served as 1\.8"
    ) as exc:
        _audit(proxy)
    assert exc.value.seqno == 7


def test_entry_not_metadata(proxy: TamperingProxy) -> None:
    proxy.rewrites["/tile/entries/000"] = _change_entry(2, b'"format":"', b'"format":"x')
    with pytest.raises(TamperingDetected, match=r"entry 3 in entry bundle 0: ") as exc:
        _audit(proxy)
    assert exc.value.seqno == 3


def test_entry_dropped_from_bundle(proxy: TamperingProxy) -> None:
    proxy.rewrites["/tile/entries/000"] = lambda body: encode_entry_bundle(
        decode_entry_bundle(body)[:-1]
    )
    with pytest.raises(TamperingDetected, match=r"entry bundle 0 holds 255 entries, expected 256"):
        _audit(proxy)


def test_truncated_entry_bundle(proxy: TamperingProxy) -> None:
    proxy.rewrites["/tile/entries/001.p/44"] = lambda body: body[:-1]
    with pytest.raises(TamperingDetected, match=r"entry bundle 1 does not parse") as exc:
        _audit(proxy)
    assert exc.value.seqno == 257


# --- proofs --------------------------------------------------------------------------------------


def _change_first_hash(body: bytes) -> bytes:
    doc = json.loads(body)
    first = bytearray(base64.b64decode(doc["hashes"][0]))
    first[0] ^= 0x80
    doc["hashes"][0] = base64.b64encode(bytes(first)).decode()
    return json.dumps(doc).encode()


def test_tampered_inclusion_proof(proxy: TamperingProxy) -> None:
    proxy.rewrites["/proofs/inclusion"] = _change_first_hash
    with pytest.raises(RootMismatch, match=r"inclusion proof of entry 300 .* is wrong"):
        _audit(proxy)


def test_tampered_consistency_proof(proxy: TamperingProxy) -> None:
    proxy.rewrites["/proofs/consistency"] = _change_first_hash
    with pytest.raises(RootMismatch, match=r"consistency proof from size 100 to 300 .* is wrong"):
        _audit(proxy, (proxy.log.old_checkpoint,))


def test_shortened_consistency_proof(proxy: TamperingProxy) -> None:
    def drop_last(body: bytes) -> bytes:
        doc = json.loads(body)
        doc["hashes"] = doc["hashes"][:-1]
        return json.dumps(doc).encode()

    proxy.rewrites["/proofs/consistency"] = drop_last
    with pytest.raises(RootMismatch, match=r"consistency proof from size 100 to 300"):
        _audit(proxy, (proxy.log.old_checkpoint,))


def test_proof_not_json(proxy: TamperingProxy) -> None:
    proxy.rewrites["/proofs/inclusion"] = lambda body: b"<html>oops</html>"
    with pytest.raises(MalformedInput, match=r"inclusion proof of entry 300 .* is not JSON"):
        _audit(proxy)


# --- the checkpoint ------------------------------------------------------------------------------


def test_tampered_checkpoint(proxy: TamperingProxy) -> None:
    proxy.rewrites["/checkpoint"] = lambda body: body.replace(b"\n300\n", b"\n299\n", 1)
    with pytest.raises(SignatureError, match=r"checkpoint served by .* does not verify"):
        _audit(proxy)


def test_unsigned_checkpoint(proxy: TamperingProxy) -> None:
    proxy.rewrites["/checkpoint"] = lambda body: body[: body.index(b"\n\n") + 1]
    with pytest.raises(MalformedInput, match=r"checkpoint served by .* does not verify"):
        _audit(proxy)


def test_checkpoint_signed_by_another_key(proxy: TamperingProxy) -> None:
    impostor = Signer.generate(proxy.log.data.verifier().name)  # same name, another key
    cp = _signed_root(proxy.log)
    proxy.rewrites["/checkpoint"] = lambda body: sign_checkpoint(cp, impostor).encode()
    with pytest.raises(SignatureError, match=r"checkpoint served by .* no valid signature"):
        _audit(proxy)


def test_rolled_back_checkpoint(proxy: TamperingProxy) -> None:
    old = proxy.log.old_checkpoint.encode()
    proxy.rewrites["/checkpoint"] = lambda body: old
    # Alone, an older signed checkpoint is a true (shorter) log: nothing to contradict it.
    assert _audit(proxy).size == OLD_SIZE
    with pytest.raises(TamperingDetected, match=r"covers 300: the log was rolled back") as exc:
        _audit(proxy, (proxy.log.checkpoint,))
    assert exc.value.seqno == OLD_SIZE + 1


def _fork(log: RemoteLog, size: int) -> str:
    """A checkpoint signed by the log's own key for a tree that is not the log's."""
    return sign_checkpoint(Checkpoint(log.data.verifier().name, size, bytes(32)), log.data.signer())


def test_forked_checkpoint_signed_by_the_right_key(proxy: TamperingProxy) -> None:
    fork = _fork(proxy.log, ENTRIES).encode()
    proxy.rewrites["/checkpoint"] = lambda body: fork
    with pytest.raises(TamperingDetected, match=r"matches neither .*a fork"):
        _audit(proxy)
    with pytest.raises(
        TamperingDetected, match=r"different roots for size 300: the log has forked"
    ):
        _audit(proxy, (proxy.log.checkpoint,))


def test_log_that_does_not_extend_a_trusted_checkpoint(proxy: TamperingProxy) -> None:
    # The client was shown another tree of size 100 earlier (a split view): the served log, honest
    # or not, cannot extend both.
    with pytest.raises(
        TamperingDetected, match=r"does not extend the trusted checkpoint of size 100"
    ):
        _audit(proxy, (_fork(proxy.log, OLD_SIZE),))


# --- the command line ----------------------------------------------------------------------------


def test_cli_verify_url_exits_1_on_tampering(proxy: TamperingProxy) -> None:
    data = proxy.log.data
    command = [
        sys.executable,
        "-m",
        "accord.cli.main",
        "verify",
        "--url",
        proxy.url,
        "--vkey",
        str(data / "checkpoint.vkey"),
        "--cacert",
        str(data / "service.crt"),
        "--cert",
        str(data / "admin.crt"),
        "--key",
        str(data / "admin.key"),
    ]
    env = dict(os.environ, PYTHONPATH=SRC)
    honest = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert honest.returncode == 0, honest.stderr
    assert f"consistent log of {ENTRIES} entries" in honest.stdout

    proxy.rewrites["/tile/0/000"] = _flip(32 * 9 + 3)
    tampered = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert tampered.returncode == 1, tampered.stderr
    assert "TAMPERING DETECTED: served tile 0/0 differs" in tampered.stderr
    assert "(first bad seqno: 10)" in tampered.stderr
