"""CCF tree, leaves, claims and JSON receipts, cross-checked with the Azure SDK's own verifier.

Every receipt made here must pass both ``azure.confidentialledger.receipt.verify_receipt`` (the
verifier Azure Confidential Ledger customers run) and :func:`accord.core.ccf.verify_ccf_receipt`;
every broken variant must be rejected by both. The tree shape is checked against a literal model
of CCF's ``merklecpp`` insertion, and the verifier against two receipts issued by real Azure
Confidential Ledger instances.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime
import hashlib
import json
import random
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from azure.confidentialledger.receipt import compute_claims_digest, verify_receipt
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.ccf import (
    NO_CLAIMS_DIGEST,
    LeafComponents,
    build_ccf_receipt,
    ccf_inclusion_proof_elements,
    ccf_leaf,
    ccf_node_hash,
    ccf_root,
    ccf_root_from_proof,
    claims_digest,
    commit_evidence,
    entry_claims,
    entry_leaf_components,
    node_id,
    parse_commit_evidence,
    receipt_response,
    sign_ccf_root,
    verify_ccf_receipt,
)
from accord.core.entry import EntryMetadata, TransactionId
from accord.core.tiles import TILE_WIDTH, pack_tile
from accord.core.treestate import TreeEdge, node_from_tiles
from accord.errors import (
    ConfigurationError,
    InvalidRequest,
    MalformedInput,
    SignatureError,
    VerificationError,
)
from accord.identity import KeyAndCert, make_node_identity, make_service_identity

COMMIT_SECRET = bytes(range(32))


# --- a literal model of merklecpp's tree (CCF src/libmerklecpp/merklecpp.h) ---------------------
# A node's size counts nodes, not leaves; a node is "full" when it is a perfect tree. A new leaf
# becomes the right sibling of the tree if it is full, else goes into the left child if that is not
# full, else into the right child. Written from that description, sharing no code with accord.
class _Node:
    def __init__(self, digest: bytes | None, left: _Node | None, right: _Node | None) -> None:
        self.digest, self.left, self.right = digest, left, right
        self.update()

    def update(self) -> None:
        if self.left and self.right:
            self.size = self.left.size + self.right.size + 1
            self.height = max(self.left.height, self.right.height) + 1
        else:
            self.size = self.height = 1

    def is_full(self) -> bool:
        return self.size == (1 << self.height) - 1

    def leaves(self) -> int:
        return (self.size + 1) // 2

    def hash(self) -> bytes:
        if self.left and self.right:
            return hashlib.sha256(self.left.hash() + self.right.hash()).digest()
        assert self.digest is not None
        return self.digest


def _insert(node: _Node | None, leaf: _Node) -> _Node:
    if node is None:
        return leaf
    if node.is_full():
        return _Node(None, node, leaf)
    assert node.left and node.right
    if not node.left.is_full():
        node.left = _insert(node.left, leaf)
    else:
        node.right = _insert(node.right, leaf)
    node.update()
    return node


def _model_tree(leaves: list[bytes]) -> _Node:
    root: _Node | None = None
    for leaf in leaves:
        root = _insert(root, _Node(leaf, None, None))
    assert root is not None
    return root


def _model_path(root: _Node, index: int) -> list[dict[str, str]]:
    path: list[dict[str, str]] = []
    node = root
    while node.left and node.right:
        if index < node.left.leaves():
            path.append({"right": node.right.hash().hex()})
            node = node.left
        else:
            path.append({"left": node.left.hash().hex()})
            index -= node.left.leaves()
            node = node.right
    return path[::-1]


# --- helpers -------------------------------------------------------------------------------------
def _get_node(leaves: list[bytes]) -> Callable[[int, int], bytes]:
    @cache
    def get(level: int, index: int) -> bytes:
        if level == 0:
            return leaves[index]
        return ccf_node_hash(get(level - 1, 2 * index), get(level - 1, 2 * index + 1))

    return get


def _metadata(seqno: int, rng: random.Random) -> tuple[EntryMetadata, str]:
    contents = f"entry {seqno} " + "".join(
        rng.choice("abcé€😀\n\"'") for _ in range(rng.randrange(20))
    )
    meta = EntryMetadata(
        transaction_id=TransactionId(2, seqno),
        collection_id=rng.choice(["subledger:0", "orders", "a.b-c"]),
        tags=(),
        contents_sha256=hashlib.sha256(contents.encode()).digest(),
        user_id="user",
        timestamp_ms=1_700_000_000_000 + seqno,
    )
    return meta, contents


class _Ledger:
    """``size`` entries with application claims, their CCF tree and its signed root."""

    def __init__(self, size: int, node: KeyAndCert, seed: int) -> None:
        rng = random.Random(seed)
        self.metadata: list[EntryMetadata] = []
        self.claims: list[list[dict[str, object]]] = []
        self.components: list[LeafComponents] = []
        for seqno in range(1, size + 1):
            meta, contents = _metadata(seqno, rng)
            claims = entry_claims(meta.collection_id, contents, rng.randbytes(32))
            self.metadata.append(meta)
            self.claims.append(claims)
            self.components.append(entry_leaf_components(meta, COMMIT_SECRET, claims))
        self.leaves = [c.leaf() for c in self.components]
        self.size = size
        self.root = ccf_root(self.leaves)
        self.node = node
        self.signature = sign_ccf_root(self.root, node.key)
        self.get_node = _get_node(self.leaves)

    def receipt(self, index: int) -> dict[str, Any]:
        proof = ccf_inclusion_proof_elements(index, self.size, self.get_node)
        return build_ccf_receipt(
            components=self.components[index],
            proof=proof,
            signature=self.signature,
            node_cert=self.node.cert,
        )


def _pem(identity: KeyAndCert) -> str:
    return identity.cert_pem().decode()


def _sdk_accepts(receipt: dict[str, Any], service_pem: str, claims: Any = None) -> None:
    verify_receipt(copy.deepcopy(receipt), service_pem, application_claims=copy.deepcopy(claims))


def _both_reject(receipt: dict[str, Any], service_pem: str, claims: Any = None) -> None:
    with pytest.raises(ValueError):
        _sdk_accepts(receipt, service_pem, claims)
    with pytest.raises(VerificationError):
        verify_ccf_receipt(receipt, service_pem, application_claims=claims)


@pytest.fixture(scope="module")
def service() -> KeyAndCert:
    return make_service_identity("test")


@pytest.fixture(scope="module")
def node(service: KeyAndCert) -> KeyAndCert:
    return make_node_identity(service, ["localhost", "127.0.0.1"])


# --- the tree ------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", range(1, 71))
def test_tree_shape_matches_merklecpp(size: int) -> None:
    rng = random.Random(size)
    leaves = [rng.randbytes(32) for _ in range(size)]
    model = _model_tree(leaves)
    assert ccf_root(leaves) == model.hash()
    get_node = _get_node(leaves)
    for index in range(size):
        proof = ccf_inclusion_proof_elements(index, size, get_node)
        assert proof == _model_path(model, index)
        assert ccf_root_from_proof(leaves[index], proof) == model.hash()


def test_tree_hashing_has_no_prefixes() -> None:
    a, b, c = (bytes([i]) * 32 for i in range(3))
    assert ccf_node_hash(a, b) == hashlib.sha256(a + b).digest()
    assert ccf_root([a]) == a
    assert ccf_root([a, b, c]) == hashlib.sha256(hashlib.sha256(a + b).digest() + c).digest()


def test_tree_edge_cases() -> None:
    with pytest.raises(InvalidRequest):
        ccf_root([])
    with pytest.raises(VerificationError):
        ccf_inclusion_proof_elements(3, 3, lambda level, index: bytes(32))


# --- leaves and claims ---------------------------------------------------------------------------
def test_leaf_is_what_the_sdk_hashes() -> None:
    wsd, claims = hashlib.sha256(b"w").digest(), hashlib.sha256(b"c").digest()
    ce = commit_evidence(TransactionId(3, 9), COMMIT_SECRET)
    expected = hashlib.sha256(wsd + hashlib.sha256(ce.encode()).digest() + claims).digest()
    assert ccf_leaf(wsd, ce, claims) == expected
    with pytest.raises(MalformedInput):
        ccf_leaf(wsd[:31], ce, claims)


def test_commit_evidence() -> None:
    ce = commit_evidence(TransactionId(4, 1234), COMMIT_SECRET)
    assert ce == commit_evidence(TransactionId(4, 1234), COMMIT_SECRET)
    assert ce != commit_evidence(TransactionId(4, 1235), COMMIT_SECRET)
    assert ce != commit_evidence(TransactionId(4, 1234), bytes(32))
    assert ce.startswith("ce:4.1234:") and len(ce) == len("ce:4.1234:") + 64
    assert parse_commit_evidence(ce) == TransactionId(4, 1234)
    for bad in ["ce:4.1234", "ce:0.1:" + "a" * 64, "ce:4.1:" + "A" * 64, "x:4.1:" + "a" * 64]:
        with pytest.raises(MalformedInput):
            parse_commit_evidence(bad)
    with pytest.raises(ConfigurationError):
        commit_evidence(TransactionId(1, 1), b"short")


def test_entry_leaf_components() -> None:
    meta, _ = _metadata(5, random.Random(5))
    comps = entry_leaf_components(meta, COMMIT_SECRET)
    assert comps.write_set_digest == hashlib.sha256(meta.leaf()).digest()
    assert comps.claims_digest == NO_CLAIMS_DIGEST == bytes(32)
    assert comps.transaction_id == meta.transaction_id
    assert LeafComponents.from_json(comps.to_json()) == comps


@pytest.mark.parametrize("n_claims", [1, 2, 3])
def test_claims_digest_matches_sdk(n_claims: int) -> None:
    rng = random.Random(n_claims)
    claims: list[dict[str, object]] = []
    for i in range(n_claims):
        claims += entry_claims(f"c{i}", f"contents {i} é😀", rng.randbytes(32))
    claims.append(
        {"kind": "ClaimDigest", "digest": {"protocol": "LedgerEntryV1", "value": "ab" * 32}}
    )
    assert claims_digest(claims).hex() == compute_claims_digest(copy.deepcopy(claims))
    assert claims_digest(claims[:1]).hex() == compute_claims_digest(copy.deepcopy(claims[:1]))


def test_claims_digest_of_azure_example() -> None:
    # The LedgerEntryV1 claim of the Azure SDK's own tests; the digest is the SDK's output.
    claims = [
        {
            "kind": "LedgerEntry",
            "ledgerEntry": {
                "collectionId": "subledger:0",
                "contents": "Hello world",
                "protocol": "LedgerEntryV1",
                "secretKey": "Jde/VvaIfyrjQ/B19P+UJCBwmcrgN7sERStoyHnYO0M=",
            },
        }
    ]
    assert claims_digest(claims).hex() == compute_claims_digest(copy.deepcopy(claims))
    assert (
        entry_claims(
            "subledger:0",
            "Hello world",
            base64.b64decode("Jde/VvaIfyrjQ/B19P+UJCBwmcrgN7sERStoyHnYO0M="),
        )
        == claims
    )


@pytest.mark.parametrize(
    "bad",
    [
        "not a list",
        [1],
        [{"kind": "LedgerEntry"}],
        [{"kind": "Other", "ledgerEntry": {}}],
        [{"kind": "LedgerEntry", "ledgerEntry": {"collectionId": "a", "contents": "b"}}],
        [
            {
                "kind": "LedgerEntry",
                "ledgerEntry": {
                    "collectionId": "a",
                    "contents": "b",
                    "protocol": "LedgerEntryV2",
                    "secretKey": "AAAA",
                },
            }
        ],
        [
            {
                "kind": "LedgerEntry",
                "ledgerEntry": {
                    "collectionId": "a",
                    "contents": "b",
                    "protocol": "LedgerEntryV1",
                    "secretKey": "not base64!",
                },
            }
        ],
        [
            {
                "kind": "LedgerEntry",
                "ledgerEntry": {
                    "collectionId": "a",
                    "contents": "\ud800",
                    "protocol": "LedgerEntryV1",
                    "secretKey": "AAAA",
                },
            }
        ],
        [{"kind": "ClaimDigest", "digest": {"protocol": "p", "value": "xyz"}}],
        [{"kind": "ClaimDigest", "digest": {"protocol": "p", "value": 5}}],
    ],
)
def test_malformed_claims_rejected(bad: Any) -> None:
    with pytest.raises(MalformedInput):
        claims_digest(bad)


def test_entry_claims_key_size() -> None:
    with pytest.raises(ConfigurationError):
        entry_claims("c", "x", bytes(16))


# --- receipts: every leaf of trees of sizes 1..70, accepted by the SDK and by accord -------------
@pytest.mark.parametrize("size", range(1, 71))
def test_every_receipt_verifies_with_sdk_and_accord(
    size: int, service: KeyAndCert, node: KeyAndCert
) -> None:
    ledger = _Ledger(size, node, seed=size)
    service_pem = _pem(service)
    for index in range(size):
        receipt = ledger.receipt(index)
        json.dumps(receipt)  # plain JSON values only
        claims = ledger.claims[index]
        _sdk_accepts(receipt, service_pem, claims)
        verified = verify_ccf_receipt(
            receipt,
            service_pem,
            application_claims=claims,
            entry_leaf=ledger.metadata[index].leaf(),
            commit_secret=COMMIT_SECRET,
        )
        assert verified.root == ledger.root
        assert verified.transaction_id == TransactionId(2, index + 1)
        assert verified.components == ledger.components[index]


def test_receipt_fields(service: KeyAndCert, node: KeyAndCert) -> None:
    ledger = _Ledger(5, node, seed=1)
    receipt = ledger.receipt(2)
    assert set(receipt) == {
        "cert",
        "leafComponents",
        "nodeId",
        "proof",
        "serviceEndorsements",
        "signature",
    }
    assert set(receipt["leafComponents"]) == {"claimsDigest", "commitEvidence", "writeSetDigest"}
    assert receipt["cert"] == _pem(node)
    assert receipt["nodeId"] == node_id(node.cert)
    assert receipt["serviceEndorsements"] == []
    # JSON text, as served, verifies too.
    verify_ccf_receipt(json.dumps(receipt), service.cert_pem())
    verify_ccf_receipt(json.dumps(receipt).encode(), service.cert)


def test_receipt_response_as_the_sdk_reads_it(service: KeyAndCert, node: KeyAndCert) -> None:
    ledger = _Ledger(3, node, seed=2)
    body = json.loads(
        json.dumps(receipt_response(ledger.receipt(1), TransactionId(2, 2), ledger.claims[1]))
    )
    assert body["state"] == "Ready" and body["transactionId"] == "2.2"
    # The SDK README's recipe, verbatim in spirit.
    verify_receipt(
        body["receipt"], _pem(service), application_claims=body.get("applicationClaims", None)
    )
    verify_ccf_receipt(body["receipt"], _pem(service), application_claims=body["applicationClaims"])
    assert "applicationClaims" not in receipt_response(ledger.receipt(1), TransactionId(2, 2))


def test_receipt_without_claims(service: KeyAndCert, node: KeyAndCert) -> None:
    meta, _ = _metadata(1, random.Random(0))
    comps = entry_leaf_components(meta, COMMIT_SECRET)
    leaf = comps.leaf()
    receipt = build_ccf_receipt(
        components=comps, proof=[], signature=sign_ccf_root(leaf, node.key), node_cert=node.cert
    )
    _sdk_accepts(receipt, _pem(service))
    verify_ccf_receipt(receipt, _pem(service))
    verify_ccf_receipt(receipt, _pem(service), application_claims=[])
    some_claims = entry_claims("subledger:0", "x", bytes(32))
    _both_reject(receipt, _pem(service), some_claims)


# --- broken variants: rejected by both -----------------------------------------------------------
BROKEN_CASES = [(2, 0), (2, 1), (3, 2), (5, 4), (7, 3), (8, 5), (13, 12), (64, 17), (70, 69)]


@pytest.mark.parametrize(("size", "index"), BROKEN_CASES)
def test_broken_variants_rejected(
    size: int, index: int, service: KeyAndCert, node: KeyAndCert
) -> None:
    ledger = _Ledger(size, node, seed=100 + size)
    pem = _pem(service)
    good = ledger.receipt(index)
    claims = ledger.claims[index]
    _sdk_accepts(good, pem, claims)

    for i, element in enumerate(good["proof"]):
        ((side, value),) = element.items()
        flipped = copy.deepcopy(good)
        raw = bytearray(bytes.fromhex(value))
        raw[i % 32] ^= 0x01
        flipped["proof"][i] = {side: raw.hex()}
        _both_reject(flipped, pem, claims)

        swapped = copy.deepcopy(good)
        swapped["proof"][i] = {"right" if side == "left" else "left": value}
        _both_reject(swapped, pem, claims)

    # Wrong claims: another entry's claims, and this entry's claims with other contents.
    other = ledger.claims[(index + 1) % size] if size > 1 else entry_claims("x", "y", bytes(32))
    _both_reject(good, pem, other)
    tampered_claims = copy.deepcopy(claims)
    tampered_claims[0]["ledgerEntry"]["contents"] += "!"  # type: ignore[index]
    _both_reject(good, pem, tampered_claims)

    # Wrong service certificate: another service that did not issue the node certificate.
    _both_reject(good, _pem(make_service_identity("other")), claims)

    # Wrong signature: over another root, by another key, or one bit flipped.
    for signature in [
        sign_ccf_root(hashlib.sha256(ledger.root).digest(), node.key),
        sign_ccf_root(ledger.root, make_node_identity(service, ["x"]).key),
    ]:
        bad = dict(good, signature=base64.b64encode(signature).decode())
        _both_reject(bad, pem, claims)
    sig = bytearray(base64.b64decode(good["signature"]))
    sig[-1] ^= 0x01
    _both_reject(dict(good, signature=base64.b64encode(bytes(sig)).decode()), pem, claims)

    # A truncated or extended proof, a dropped leaf component change.
    if good["proof"]:
        _both_reject(dict(good, proof=good["proof"][:-1]), pem, claims)
    _both_reject(dict(good, proof=[*good["proof"], {"left": "00" * 32}]), pem, claims)
    for field in ["writeSetDigest", "claimsDigest"]:
        bad = copy.deepcopy(good)
        bad["leafComponents"][field] = "11" * 32
        _both_reject(bad, pem)
    bad = copy.deepcopy(good)
    bad["leafComponents"]["commitEvidence"] = commit_evidence(TransactionId(2, 999), COMMIT_SECRET)
    _both_reject(bad, pem)

    # A node certificate issued by someone else, but signing correctly with its own key.
    rogue_service = make_service_identity("rogue")
    rogue_node = make_node_identity(rogue_service, ["localhost"])
    rogue = build_ccf_receipt(
        components=ledger.components[index],
        proof=good["proof"],
        signature=sign_ccf_root(ledger.root, rogue_node.key),
        node_cert=rogue_node.cert,
    )
    _sdk_accepts(rogue, _pem(rogue_service), claims)  # the proof itself is fine
    _both_reject(rogue, pem, claims)

    # nodeId naming another key.
    _both_reject(dict(good, nodeId=node_id(rogue_node.cert)), pem, claims)


def test_accord_checks_entry_and_commit_secret(service: KeyAndCert, node: KeyAndCert) -> None:
    ledger = _Ledger(4, node, seed=7)
    receipt = ledger.receipt(1)
    with pytest.raises(VerificationError):
        verify_ccf_receipt(receipt, service.cert, entry_leaf=ledger.metadata[2].leaf())
    with pytest.raises(VerificationError):
        verify_ccf_receipt(receipt, service.cert, commit_secret=bytes(32))


# --- endorsement chains (a service whose identity changed) ---------------------------------------
def _endorse(subject: KeyAndCert, endorser: KeyAndCert) -> x509.Certificate:
    """A certificate for ``subject``'s key issued by ``endorser``, as CCF endorses old identities."""
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject.cert.subject)
        .issuer_name(endorser.cert.subject)
        .public_key(subject.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(endorser.key, hashes.SHA384())
    )


def test_service_endorsements(service: KeyAndCert) -> None:
    old_service = make_service_identity("old")
    old_node = make_node_identity(old_service, ["localhost"])
    ledger = _Ledger(6, old_node, seed=9)
    comps = ledger.components[3]
    proof = ccf_inclusion_proof_elements(3, 6, ledger.get_node)
    receipt = build_ccf_receipt(
        components=comps,
        proof=proof,
        signature=ledger.signature,
        node_cert=old_node.cert,
        service_endorsements=[_endorse(old_service, service)],
    )
    _sdk_accepts(receipt, _pem(service), ledger.claims[3])
    verify_ccf_receipt(receipt, _pem(service), application_claims=ledger.claims[3])
    _both_reject(dict(receipt, serviceEndorsements=[]), _pem(service))
    wrong = [_endorse(make_service_identity("x"), service)]
    _both_reject(dict(receipt, serviceEndorsements=[_pem_cert(c) for c in wrong]), _pem(service))


def _pem_cert(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


# --- receipts issued by real Azure Confidential Ledger instances ---------------------------------
# Known-answer vectors: two receipts and their service certificates from the Azure SDK for Python's
# tests (sdk/confidentialledger/azure-confidentialledger/tests/receipt/_shared/receipt_constants.py,
# Copyright (c) Microsoft Corporation, MIT License). P-256 keys; certificates long expired (neither
# verifier checks validity periods). The first uses the older snake_case keys.
ACL_SERVICE_CERT_1 = """-----BEGIN CERTIFICATE-----
MIIBejCCASCgAwIBAgIQcmv2rRjksVYvqdOOHxp5UjAKBggqhkjOPQQDAjAWMRQw
EgYDVQQDDAtDQ0YgTmV0d29yazAeFw0yMjExMDExODU0MzNaFw0yMzAxMzAxODU0
MzJaMBYxFDASBgNVBAMMC0NDRiBOZXR3b3JrMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEEFi2//FtAFoJvS+4jzQte+hjhhtBee8yjZ28ntukjeqWbG8XCncx4e0j
eoQbFmGC9BnMb+t3t6FskQZkvgobrqNQME4wDAYDVR0TBAUwAwEB/zAdBgNVHQ4E
FgQUQgzYFOQLy0vDkm3wqLSlcJsbQm8wHwYDVR0jBBgwFoAUQgzYFOQLy0vDkm3w
qLSlcJsbQm8wCgYIKoZIzj0EAwIDSAAwRQIhAN/DrvHLpwRa7PeuN7q4ZztPjEY6
R8r2IuT+wd5lMe7UAiAu7FftNooRjWIJ6pVFQO1xPtjCI5/JyvBUcJqfWT+Q2g==
-----END CERTIFICATE-----
"""
ACL_RECEIPT_1 = {
    "is_signature_transaction": False,
    "cert": """-----BEGIN CERTIFICATE-----
MIIB0zCCAXqgAwIBAgIRALXhnOIN/WoLnD69pfR2rvQwCgYIKoZIzj0EAwIwFjEU
MBIGA1UEAwwLQ0NGIE5ldHdvcmswHhcNMjIxMTAxMTg1NDM2WhcNMjMwMTMwMTg1
NDM1WjATMREwDwYDVQQDDAhDQ0YgTm9kZTBZMBMGByqGSM49AgEGCCqGSM49AwEH
A0IABAUkp7vj54d1qr51leVMEwn/GXFozJQ1Ycx+AYoCb++0a6lrekGEgN91dR6D
YdaBRKbYPMphAf4vDQEcVIjpFwKjgaswgagwCQYDVR0TBAIwADAdBgNVHQ4EFgQU
54/ExTbNk7ZnZWImu6xq+8vOngEwHwYDVR0jBBgwFoAUQgzYFOQLy0vDkm3wqLSl
cJsbQm8wWwYDVR0RBFQwUocECvACNYIRYXAtc3RhZ2luZy1sZWRnZXKCN2FwLXN0
YWdpbmctbGVkZ2VyLmNvbmZpZGVudGlhbC1sZWRnZXItc3RhZ2luZy5henVyZS5j
b20wCgYIKoZIzj0EAwIDRwAwRAIgBkB5XGxiiB5hhyWuHrM5TDlLfDUNR4GV1vie
tpmGmLsCIF76tqizqk+s5Wuoa8ePLvGxUXIy3Q+H2rfRFi2LIB0B
-----END CERTIFICATE-----
""",
    "node_id": "708c2e71b2533e5eb38e05cc344390d133c8fb336cb80481ab4e5e902e6131a5",
    "service_endorsements": [],
    "leaf_components": {
        "claims_digest": "00" * 32,
        "commit_evidence": "ce:2.35:fa08b4eae4a034971b97f0b21810951ec64b06fb2f4b5a1e80f6f4b83a23c719",
        "write_set_digest": "fef1aa22972daba05864a7e986c1bb94aa6b8fea43781cb48907c972e9761e71",
    },
    "proof": [
        {"left": "5e949d6d17b88900aeb8fb292f041075272d3b58108f2016a3ceea2a47ffad8f"},
        {"left": "fb199f029ed1e7886ca95f8ecb4f9a56edede5f15fb425874c2a34861a9765ee"},
        {"left": "efe9c61961fc189e292edeadb4317040ea4a6e5abc8cf349dc74295930ed7435"},
    ],
    "signature": "MEYCIQC05OyTn/a5ZKphfY4AsnnBF2Rfj0j0pNrfPtHHO5JvnwIhAPItujuzkC8enmxIsG2X82hBgHCaNoFHL9GC3XfejOUI",
}
ACL_SERVICE_CERT_2 = """-----BEGIN CERTIFICATE-----
MIIBezCCASGgAwIBAgIRAL1K5p7mE+zOdNn4Po05mDcwCgYIKoZIzj0EAwIwFjEU
MBIGA1UEAwwLQ0NGIE5ldHdvcmswHhcNMjIxMDI1MTIzMDU3WhcNMjMwMTIzMTIz
MDU2WjAWMRQwEgYDVQQDDAtDQ0YgTmV0d29yazBZMBMGByqGSM49AgEGCCqGSM49
AwEHA0IABGd51KunQeso9Y/6oA2p9Vh8Wf5eYCNPm8MTwE+1hVYX51U/LqdoVxZB
JvcWNbDkToOyxPdmFC19QmSb49pjfLGjUDBOMAwGA1UdEwQFMAMBAf8wHQYDVR0O
BBYEFErYKi5W20k63JsLMj3ZG/f/PaZwMB8GA1UdIwQYMBaAFErYKi5W20k63JsL
Mj3ZG/f/PaZwMAoGCCqGSM49BAMCA0gAMEUCIQC215NRdXWKaVNH9Rp2VJzMHHwN
qsUPm+U8mwLeOOk7TgIgL7JFqyJmnigevF2Ju/k4QkkBMZm4McuywM1f2n8+8Qk=
-----END CERTIFICATE-----
"""
ACL_RECEIPT_2 = {
    "cert": """-----BEGIN CERTIFICATE-----
MIIBzzCCAXWgAwIBAgIQIqJhTJJl+Oxf8Fl0oH622TAKBggqhkjOPQQDAjAWMRQw
EgYDVQQDDAtDQ0YgTmV0d29yazAeFw0yMjEwMjUxMjMwNTZaFw0yMzAxMjMxMjMw
NTVaMBMxETAPBgNVBAMMCENDRiBOb2RlMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcD
QgAEqmsG0x22ZuFBjDItZruC+jVJza8qpXh/HKeX5yG/0/HKyjMOEce2g/C7Z/fi
bf/bYXiCbz4WP/YbU3crQUtc7qOBpzCBpDAJBgNVHRMEAjAAMB0GA1UdDgQWBBSY
w8oZLUv/qjpB/u0uaJyEGsMM9zAfBgNVHSMEGDAWgBRK2CouVttJOtybCzI92Rv3
/z2mcDBXBgNVHREEUDBOghNhcC10ZXN0LWxlZGdlci1wcml2gjFhcC10ZXN0LWxl
ZGdlci1wcml2LmNvbmZpZGVudGlhbC1sZWRnZXIuYXp1cmUuY29thwQK8Eq3MAoG
CCqGSM49BAMCA0gAMEUCIQCbokInYEKX7ItmjJDlnG/0EbIwgcCCGnRubIzHYhiX
8gIgbqhPG68pxR43ZhJy6y6JeWuB+kSXsqRmQdYP3UMkzXg=
-----END CERTIFICATE-----
""",
    "leafComponents": {
        "claimsDigest": "00" * 32,
        "commitEvidence": "ce:16.7415:e718636e480d0ea56650406cece0abf6c010f58e6635dce8f404e2d2779fbc9d",
        "writeSetDigest": "4242b251a0800c9b6857b5da503d92a152e43da79f3da20758f9c5db65d8dd4c",
    },
    "nodeId": "a16d14661618d220365594fc4986f4401ff74785b70818b00e6590bb3c1a1a5d",
    "proof": [
        {"left": "113d89bdcb5282bf773ca12ba97a7baa1b2515a5ffecdb9feaae67bddc89c639"},
        {"left": "5f8edd797d0146b76e0ebfa6ee9d5e34a8f8b9795f3957202b3f92817b991918"},
        {"left": "7e00bfbb86030ac74e8db5b08af1a9dbe15659c083cdcedc78fc915ecd57ab3e"},
        {"left": "842e1dd9cb8768f9c158e61a51041d94c5a52c7a905068c85b6c5cc165010417"},
        {"left": "2921ba478d7cbfb8964b1b0221a6909ef8793738045d24c095200fa88396fa1b"},
        {"left": "65fa347e5392b4a1b399194321446ff7e0b25fc44609c9ddff2558674cc8b8fe"},
        {"left": "96736d241bfd0890cdbefdca97633f13cb345e18d62464ca4d3aeb4c4e2acc05"},
        {"left": "75fdb2b7f6589d7f38218dcdf09ad06d1873cc11692ac11ca099956c4d0df2c6"},
        {"left": "7cb66ee49ecb284ad967be5ae9f735e9046ebe5fb49bd093e29b851932afcac7"},
        {"left": "b5acc41d51ebc21112882d9e444dffcddc1135a6a1edd9b287ec6927e7baac84"},
    ],
    "serviceEndorsements": [],
    "signature": "MEUCIBehRsSl0CyNwMHiObY3Kxw9cV5e/rSQKmCrEJooxWvmAiEAnYwaT5yVGFkSFuJ8JdbW0ZolbDHzRrfl+fm6jIrDzxw=",
}


@pytest.mark.parametrize(
    ("receipt", "service_pem", "txid"),
    [
        (ACL_RECEIPT_1, ACL_SERVICE_CERT_1, TransactionId(2, 35)),
        (ACL_RECEIPT_2, ACL_SERVICE_CERT_2, TransactionId(16, 7415)),
    ],
)
def test_real_azure_receipts(
    receipt: dict[str, Any], service_pem: str, txid: TransactionId
) -> None:
    _sdk_accepts(receipt, service_pem)
    verified = verify_ccf_receipt(receipt, service_pem, application_claims=[])
    assert verified.transaction_id == txid
    other = ACL_SERVICE_CERT_2 if service_pem == ACL_SERVICE_CERT_1 else ACL_SERVICE_CERT_1
    _both_reject(receipt, other)
    bad = json.loads(json.dumps(receipt).replace('"left"', '"right"', 1))
    _both_reject(bad, service_pem)


# --- malformed input raises accord errors only ---------------------------------------------------
@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: "not an object",
        lambda r: {k: v for k, v in r.items() if k != "cert"},
        lambda r: {k: v for k, v in r.items() if k != "signature"},
        lambda r: {k: v for k, v in r.items() if k != "proof"},
        lambda r: {k: v for k, v in r.items() if k != "leafComponents"},
        lambda r: dict(r, cert="-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        lambda r: dict(r, cert=5),
        lambda r: dict(r, signature="***"),
        lambda r: dict(r, nodeId="zz"),
        lambda r: dict(r, proof="abc"),
        lambda r: dict(r, proof=[{"left": "00" * 32, "right": "00" * 32}]),
        lambda r: dict(r, proof=[{"up": "00" * 32}]),
        lambda r: dict(r, proof=[{"left": "00" * 31}]),
        lambda r: dict(r, proof=[{"left": "00" * 32}] * 65),
        lambda r: dict(r, serviceEndorsements="x"),
        lambda r: dict(r, serviceEndorsements=["not a cert"]),
        lambda r: dict(r, leafComponents={"claimsDigest": "00" * 32}),
        lambda r: dict(r, leafComponents=dict(r["leafComponents"], writeSetDigest="00")),
        lambda r: dict(r, leafComponents=dict(r["leafComponents"], commitEvidence="ce:1")),
        lambda r: dict(r, node_id=r["nodeId"]),  # both spellings of one key
    ],
)
def test_malformed_receipts_raise_malformed_input(
    mutate: Callable[[dict[str, Any]], Any], service: KeyAndCert, node: KeyAndCert
) -> None:
    receipt = _Ledger(3, node, seed=3).receipt(0)
    with pytest.raises(MalformedInput):
        verify_ccf_receipt(mutate(receipt), service.cert)


def _reencode_cert(receipt: dict[str, Any], old: bytes, new: bytes) -> dict[str, Any]:
    der = _der(receipt["cert"])
    assert der.count(old) == 1
    body = base64.encodebytes(der.replace(old, new)).decode()
    return dict(receipt, cert=f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n")


def test_certificate_of_unknown_version_or_signature_algorithm(
    service: KeyAndCert, node: KeyAndCert
) -> None:
    # Found by the forgery fuzz test: cryptography's InvalidVersion is not a ValueError.
    receipt = _Ledger(2, node, seed=5).receipt(0)
    version_3 = bytes.fromhex("a003020102")  # [0] { INTEGER 2 }: X.509 v3
    with pytest.raises(MalformedInput):
        verify_ccf_receipt(
            _reencode_cert(receipt, version_3, bytes.fromhex("a003020103")), service.cert
        )
    # The outer signatureAlgorithm (ecdsa-with-SHA384, after the TBS part) made unknown.
    ecdsa_sha384 = bytes.fromhex("06082a8648ce3d040303")
    der = _der(receipt["cert"])
    at = der.rindex(ecdsa_sha384)
    unknown = ecdsa_sha384[:-1] + b"\x7f"
    body = base64.encodebytes(der[:at] + unknown + der[at + len(unknown) :]).decode()
    changed = dict(receipt, cert=f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n")
    with pytest.raises(SignatureError):
        verify_ccf_receipt(changed, service.cert)


def test_non_ecdsa_or_bad_service_cert(service: KeyAndCert, node: KeyAndCert) -> None:
    receipt = _Ledger(2, node, seed=4).receipt(0)
    with pytest.raises(MalformedInput):
        verify_ccf_receipt(receipt, "not a certificate")
    with pytest.raises(SignatureError):
        verify_ccf_receipt(receipt, make_service_identity("z").cert)


# --- forgeries: every changed receipt is refused, or changed only what the verifier does not need --
#
# A receipt's signed content is what its checks read: the node certificate's DER (its TBS part is
# signed by the service certificate or the endorsement chain, its key signs the root), the
# endorsement certificates' DER, the three leaf components (hashed into the leaf), the proof's
# sides and hashes (folded into the root), and the ECDSA signature over that root. What the
# verifier does NOT need, so a receipt may differ there and still verify, each for a reason:
#
# 1. Top-level keys other than the six below (and their snake_case spellings): ignored by accord
#    and by the Azure SDK alike.
# 2. ``nodeId``: optional; when present it must name the key of ``cert`` (checked), so it carries
#    nothing ``cert`` does not. Its presence (absent or null) and the letter case of its hex are
#    free; its value is not (``_needed`` below refuses a wrong one).
# 3. The spelling of keys: the older snake_case ``leaf_components``, ``node_id``,
#    ``service_endorsements``, ``claims_digest``, ``commit_evidence``, ``write_set_digest``.
# 4. The letter case of the hex of ``writeSetDigest``, ``claimsDigest`` and proof hashes: the
#    bytes are hashed, not the text.
# 5. The PEM armour of certificates (line breaks, whitespace): the DER is what is signed.
# 6. ``serviceEndorsements`` absent or ``[]``.
# 7. The base64 padding bits of ``signature`` (decoded leniently, as the SDK does): the DER
#    signature is what is verified.
# 8. ECDSA malleability: (r, s) and (r, n - s) are both valid signatures of the same root, so the
#    signature is compared as (r, min(s, n - s)).
#
# ``_needed`` reads a receipt the way this list says, independently of accord's parser; a changed
# receipt that still verifies must read to the same value as the original, and verify to the same
# transaction, leaf components (claims digest, write set digest, commit evidence), root and node
# certificate. Anything else accepted is a forgery and fails the test.

_CURVE_ORDERS = {
    "secp256r1": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "secp384r1": int(
        "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
        16,
    ),
}
_KEY_ALIASES = {
    "leaf_components": "leafComponents",
    "node_id": "nodeId",
    "service_endorsements": "serviceEndorsements",
    "claims_digest": "claimsDigest",
    "commit_evidence": "commitEvidence",
    "write_set_digest": "writeSetDigest",
}
_RECEIPT_KEYS = {"cert", "leafComponents", "nodeId", "proof", "serviceEndorsements", "signature"}


def _der(pem: object) -> bytes:
    if not isinstance(pem, str):
        raise TypeError("not a PEM string")
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)


def _unaliased(obj: object) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise TypeError("not an object")
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            raise TypeError("a key that is not a string")
        out[_KEY_ALIASES.get(key, key)] = value
    if len(out) != len(obj):
        raise ValueError("a key and its alias")
    return out


def _needed(receipt: object) -> tuple[Any, ...] | None:
    """The receipt's signed content in canonical form; None if it cannot be read as a receipt."""
    try:
        if isinstance(receipt, bytes):
            receipt = json.loads(receipt)
        fields = _unaliased(receipt)
        cert = _der(fields["cert"])
        node_key = x509.load_der_x509_certificate(cert).public_key()
        spki = node_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        node_id_field = fields.get("nodeId")
        if node_id_field is not None and node_id_field.lower() != hashlib.sha256(spki).hexdigest():
            return None
        endorsements = tuple(_der(pem) for pem in fields.get("serviceEndorsements", []))
        leaf = _unaliased(fields["leafComponents"])
        if set(leaf) != {"writeSetDigest", "commitEvidence", "claimsDigest"}:
            return None
        components = (
            bytes.fromhex(leaf["writeSetDigest"]),
            leaf["commitEvidence"],
            bytes.fromhex(leaf["claimsDigest"]),
        )
        proof = []
        for element in fields["proof"]:
            ((side, value),) = element.items()
            proof.append((side, bytes.fromhex(value)))
        r, s = utils.decode_dss_signature(base64.b64decode(fields["signature"]))
        order = _CURVE_ORDERS[node_key.curve.name]  # type: ignore[union-attr]
        return (cert, endorsements, components, tuple(proof), (r, min(s, order - s)))
    except (
        TypeError,
        ValueError,
        KeyError,
        AttributeError,
        binascii.Error,
        x509.InvalidVersion,
        UnsupportedAlgorithm,
    ):
        return None


_FUZZ_SERVICE = make_service_identity("fuzz")
_FUZZ_NODE = make_node_identity(_FUZZ_SERVICE, ["localhost"])
_FUZZ_OLD_SERVICE = make_service_identity("fuzz, before recovery")
_FUZZ_OLD_NODE = make_node_identity(_FUZZ_OLD_SERVICE, ["localhost"])


def _padded_signature(ledger: _Ledger) -> bytes:
    # ECDSA signatures vary in length; pick one whose base64 has padding bits (for change 7).
    while len(ledger.signature) % 3 == 0:
        ledger.signature = sign_ccf_root(ledger.root, ledger.node.key)
    return ledger.signature


def _fuzz_bases() -> dict[str, dict[str, Any]]:
    ledger = _Ledger(3, _FUZZ_NODE, seed=11)
    _padded_signature(ledger)
    direct = ledger.receipt(1)
    old = _Ledger(5, _FUZZ_OLD_NODE, seed=12)
    _padded_signature(old)
    endorsed = build_ccf_receipt(
        components=old.components[4],
        proof=ccf_inclusion_proof_elements(4, 5, old.get_node),
        signature=old.signature,
        node_cert=_FUZZ_OLD_NODE.cert,
        service_endorsements=[_endorse(_FUZZ_OLD_SERVICE, _FUZZ_SERVICE)],
    )
    return {"direct": direct, "endorsed": endorsed}


_FUZZ_BASES = _fuzz_bases()
_FUZZ_VERIFIED = {k: verify_ccf_receipt(r, _FUZZ_SERVICE.cert) for k, r in _FUZZ_BASES.items()}


def _check_changed_receipt(base: str, mutated: object) -> bool:
    """Refused, or only unsigned content changed and the result is the original's; True if accepted."""
    try:
        verified = verify_ccf_receipt(mutated, _FUZZ_SERVICE.cert)  # type: ignore[arg-type]
    except VerificationError:
        return False
    assert _needed(mutated) == _needed(_FUZZ_BASES[base]), f"forgery accepted: {mutated!r}"
    assert verified == _FUZZ_VERIFIED[base]
    original = _FUZZ_VERIFIED[base]
    assert (verified.transaction_id, verified.components, verified.root) == (
        original.transaction_id,
        original.components,
        original.root,
    )
    return True


def _strings(obj: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], bool]]:
    """Every string in a JSON tree: (path, is_key). A key's path ends with the key itself."""
    found: list[tuple[tuple[Any, ...], bool]] = []
    if isinstance(obj, str):
        found.append((path, False))
    elif isinstance(obj, dict):
        for key, value in obj.items():
            found.append(((*path, key), True))
            found.extend(_strings(value, (*path, key)))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            found.extend(_strings(value, (*path, i)))
    return found


def _edit(text: str, data: st.DataObject) -> str:
    i = data.draw(st.integers(0, max(len(text) - 1, 0)))
    how = data.draw(st.sampled_from(["set", "insert", "delete", "swapcase"]))
    char = data.draw(st.sampled_from("0aAfF=+/ \n-\u2014") | st.characters(max_codepoint=0x2FF))
    if how == "set":
        return text[:i] + char + text[i + 1 :]
    if how == "insert":
        return text[:i] + char + text[i:]
    if how == "delete":
        return text[:i] + text[i + 1 :]
    return text[:i] + text[i : i + 1].swapcase() + text[i + 1 :]


def _mutate_receipt(receipt: dict[str, Any], data: st.DataObject) -> object:
    mutated = copy.deepcopy(receipt)
    kind = data.draw(
        st.sampled_from(["replace", "delete", "rename", "string", "proof", "signature", "bytes"])
    )
    if kind == "replace":  # a top-level value becomes any JSON value
        json_values = st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=70),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
            max_leaves=6,
        )
        key = data.draw(st.sampled_from([*mutated, *_KEY_ALIASES, "extra"]))
        mutated[key] = data.draw(json_values)
    elif kind == "delete":
        del mutated[data.draw(st.sampled_from(sorted(mutated)))]
    elif kind == "rename":  # a key becomes another receipt key, an alias, or anything
        key = data.draw(st.sampled_from(sorted(mutated)))
        new = data.draw(st.sampled_from([*_RECEIPT_KEYS, *_KEY_ALIASES]) | st.text(max_size=8))
        mutated[new] = mutated.pop(key)
    elif kind == "string":  # one character of one string (value or key) anywhere in the tree
        path, is_key = data.draw(st.sampled_from(_strings(mutated)))
        parent = mutated
        for step in path[:-1]:
            parent = parent[step]
        if is_key:
            parent[_edit(path[-1], data)] = parent.pop(path[-1])
        else:
            parent[path[-1]] = _edit(parent[path[-1]], data)
    elif kind == "proof":
        proof = mutated["proof"]
        i = data.draw(st.integers(0, len(proof) - 1))
        how = data.draw(st.sampled_from(["side", "drop", "repeat", "swap", "leaf"]))
        if how == "side":
            ((side, value),) = proof[i].items()
            proof[i] = {"right" if side == "left" else "left": value}
        elif how == "drop":
            del proof[i]
        elif how == "repeat":
            proof.insert(i, proof[i])
        elif how == "swap":
            j = data.draw(st.integers(0, len(proof) - 1))
            proof[i], proof[j] = proof[j], proof[i]
        else:  # the leaf's own digest as a sibling
            proof[i] = {"left": mutated["leafComponents"]["writeSetDigest"]}
    elif kind == "signature":  # one bit of the DER signature or of a certificate's DER
        which = data.draw(st.sampled_from(["signature", "cert"]))
        raw = bytearray(
            base64.b64decode(mutated["signature"])
            if which == "signature"
            else _der(mutated["cert"])
        )
        bit = data.draw(st.integers(0, 8 * len(raw) - 1))
        raw[bit // 8] ^= 1 << (bit % 8)
        if which == "signature":
            mutated["signature"] = base64.b64encode(bytes(raw)).decode()
        else:
            body = base64.encodebytes(bytes(raw)).decode()
            mutated["cert"] = f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n"
    else:  # one byte of the JSON text
        text = json.dumps(mutated, indent=1).encode()
        i = data.draw(st.integers(0, len(text) - 1))
        value = data.draw(st.sampled_from(b' "\\:,{}[]0aAnr') | st.integers(0, 255))
        how = data.draw(st.sampled_from(["set", "insert", "delete"]))
        if how == "set":
            return text[:i] + bytes([value]) + text[i + 1 :]
        if how == "insert":
            return text[:i] + bytes([value]) + text[i:]
        return text[:i] + text[i + 1 :]
    return mutated


@settings(max_examples=1000, deadline=None)
@given(base=st.sampled_from(sorted(_FUZZ_BASES)), data=st.data())
def test_changed_receipt_is_refused_unless_only_unneeded_fields_changed(
    base: str, data: st.DataObject
) -> None:
    _check_changed_receipt(base, _mutate_receipt(_FUZZ_BASES[base], data))


def _reflow_pem(pem: str) -> str:
    lines = pem.strip("\n").split("\n")
    return "\n".join([lines[0], "".join(lines[1:-1]), lines[-1]]) + "\n"


def _malleate(signature_b64: str, order: int) -> str:
    r, s = utils.decode_dss_signature(base64.b64decode(signature_b64))
    return base64.b64encode(utils.encode_dss_signature(r, order - s)).decode()


def _lenient_padding(b64: str) -> str:
    # Set the unused low bits of the last base64 digit before the padding (if there are any).
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    stripped = b64.rstrip("=")
    pad = len(b64) - len(stripped)
    if pad == 0:
        return b64
    unused = 2 if pad == 1 else 4
    last = alphabet.index(stripped[-1]) | ((1 << unused) - 1)
    return stripped[:-1] + alphabet[last] + "=" * pad


def _upper_hex(receipt: dict[str, Any]) -> dict[str, Any]:
    leaf = receipt["leafComponents"]
    return dict(
        receipt,
        leafComponents=dict(
            leaf,
            writeSetDigest=leaf["writeSetDigest"].upper(),
            claimsDigest=leaf["claimsDigest"].upper(),
        ),
        proof=[{side: h.upper() for side, h in el.items()} for el in receipt["proof"]],
        nodeId=receipt["nodeId"].upper(),
    )


_UNNEEDED_CHANGES: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = [
    ("1 extra top-level key", lambda r: dict(r, extra={"anything": [1, None]})),
    ("2 no nodeId", lambda r: {k: v for k, v in r.items() if k != "nodeId"}),
    ("2 null nodeId", lambda r: dict(r, nodeId=None)),
    ("3 snake_case keys", lambda r: _unaliased_back(r)),
    ("2+4 upper-case hex", _upper_hex),
    ("5 PEM reflowed", lambda r: dict(r, cert=_reflow_pem(r["cert"]))),
    (
        "6 no serviceEndorsements",
        lambda r: {k: v for k, v in r.items() if k != "serviceEndorsements" or v},
    ),
    ("7 signature padding bits", lambda r: dict(r, signature=_lenient_padding(r["signature"]))),
    (
        "8 malleated ECDSA signature",
        lambda r: dict(
            r, signature=_malleate(r["signature"], _CURVE_ORDERS[_FUZZ_NODE.key.curve.name])
        ),
    ),
]


def _unaliased_back(receipt: dict[str, Any]) -> dict[str, Any]:
    snake = {v: k for k, v in _KEY_ALIASES.items()}
    out = {snake.get(k, k): v for k, v in receipt.items()}
    out["leaf_components"] = {snake[k]: v for k, v in receipt["leafComponents"].items()}
    return out


# Only the (receipt, change) pairs where the change changes something: e.g. the endorsed receipt
# has no empty serviceEndorsements to remove. Every kind of change occurs for some receipt.
_EFFECTIVE_CHANGES = [
    (base, why, change)
    for base in sorted(_FUZZ_BASES)
    for why, change in _UNNEEDED_CHANGES
    if change(copy.deepcopy(_FUZZ_BASES[base])) != _FUZZ_BASES[base]
]


def test_every_kind_of_unneeded_change_occurs() -> None:
    assert {why for _, why, _ in _EFFECTIVE_CHANGES} == {why for why, _ in _UNNEEDED_CHANGES}


@pytest.mark.parametrize(
    ("base", "why", "change"),
    _EFFECTIVE_CHANGES,
    ids=[f"{b}-{w}" for b, w, _ in _EFFECTIVE_CHANGES],
)
def test_each_unneeded_change_verifies_to_the_same_result(
    base: str, why: str, change: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    # The list above is not vacuous: each kind of unneeded change really occurs, is read by
    # ``_needed`` as the same content, and verifies to the original's result.
    receipt = _FUZZ_BASES[base]
    changed = change(copy.deepcopy(receipt))
    assert changed != receipt
    assert _needed(changed) == _needed(receipt)
    assert _check_changed_receipt(base, changed), f"{why}: refused"


def test_needed_is_not_vacuous() -> None:
    # ``_needed`` tells the signed content apart: a one-bit change in each part reads differently.
    receipt = _FUZZ_BASES["endorsed"]
    leaf = receipt["leafComponents"]
    flipped = "1" if leaf["writeSetDigest"][0] != "1" else "2"
    changes = [
        dict(
            receipt, leafComponents=dict(leaf, writeSetDigest=flipped + leaf["writeSetDigest"][1:])
        ),
        dict(receipt, leafComponents=dict(leaf, commitEvidence=leaf["commitEvidence"][:-1] + "0")),
        dict(receipt, proof=receipt["proof"][:-1]),
        dict(receipt, serviceEndorsements=[]),
        dict(
            receipt,
            signature=base64.b64encode(sign_ccf_root(bytes(32), _FUZZ_OLD_NODE.key)).decode(),
        ),
        dict(receipt, nodeId="0" * 64),
    ]
    for changed in changes:
        assert _needed(changed) != _needed(receipt)
        with pytest.raises(VerificationError):
            verify_ccf_receipt(changed, _FUZZ_SERVICE.cert)


def test_sign_root_uses_prehashed_sha256(node: KeyAndCert) -> None:
    root = hashlib.sha256(b"root").digest()
    signature = sign_ccf_root(root, node.key)
    node.key.public_key().verify(signature, root, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    with pytest.raises(MalformedInput):
        sign_ccf_root(root[:16], node.key)


# --- the stored-tile machinery with CCF hashing --------------------------------------------------
@pytest.mark.parametrize("size", [1, 70, 255, 256, 257, 513, 70_000])
def test_ccf_tree_from_stored_tiles(size: int, service: KeyAndCert, node: KeyAndCert) -> None:
    rng = random.Random(size)
    components = [
        LeafComponents(
            rng.randbytes(32), commit_evidence(TransactionId(1, i + 1), COMMIT_SECRET), bytes(32)
        )
        for i in range(size)
    ]
    leaves = [c.leaf() for c in components]
    edge = TreeEdge(ccf_node_hash)
    tiles: dict[tuple[int, int], bytes] = {}
    for start in range(0, size, 1000):
        tiles.update(edge.append(leaves[start : start + 1000]))
    root = ccf_root(leaves)
    assert edge.root() == root
    assert TreeEdge.restore(size, tiles, ccf_node_hash).root() == root
    if size <= TILE_WIDTH:
        assert tiles[(0, 0)] == pack_tile(leaves, ccf_node_hash)
    model = _model_tree(leaves) if size <= 600 else None
    signature = sign_ccf_root(root, node.key)
    for index in sorted({0, size // 3, size // 2, size - 1}):
        proof = ccf_inclusion_proof_elements(
            index, size, lambda level, i: node_from_tiles(tiles, level, i)
        )
        if model is not None:
            assert proof == _model_path(model, index)
        receipt = build_ccf_receipt(
            components=components[index], proof=proof, signature=signature, node_cert=node.cert
        )
        _sdk_accepts(receipt, _pem(service))
        assert verify_ccf_receipt(receipt, service.cert_pem()).root == root


def test_sequencer_fast_path_matches_claims_rules() -> None:
    from accord.core.ccf import (
        entry_ccf_leaf,
        entry_claim_key,
        entry_claims,
        ledger_entry_claims_digest,
    )
    from accord.core.entry import TransactionId

    secret = bytes(range(32))
    txid = TransactionId(1, 42)
    key = entry_claim_key(txid, secret)
    assert key != entry_claim_key(TransactionId(1, 43), secret)
    contents = "caf\u00e9 \U0001f600"
    claims = entry_claims("orders", contents, key)
    assert ledger_entry_claims_digest("orders", contents.encode(), key) == claims_digest(claims)
    leaf = b'{"example":"leaf"}'
    expected = ccf_leaf(
        hashlib.sha256(leaf).digest(), commit_evidence(txid, secret), claims_digest(claims)
    )
    assert entry_ccf_leaf(leaf, txid, "orders", contents.encode(), secret) == expected
