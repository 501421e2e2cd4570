"""CCF's Merkle tree, leaves and JSON receipts, as Azure Confidential Ledger serves them.

accord keeps a second Merkle tree beside its RFC 9162 one, over the same entries, so that it can
serve receipts that the Azure SDK (``azure.confidentialledger.receipt.verify_receipt``) verifies.
This module is that tree's arithmetic and receipt format; it does no I/O and reads no clock.

The CCF tree differs from RFC 9162 only in its hashing:

* a leaf is a 32-byte digest used as is (no ``0x00`` prefix):
  ``SHA-256(writeSetDigest || SHA-256(commitEvidence) || claimsDigest)``;
* an interior node is ``SHA-256(left || right)`` (no ``0x01`` prefix).

Its *shape* is RFC 9162's: CCF's tree (``merklecpp``) hangs each new leaf under the first perfect
subtree on the right edge, which is the same as splitting every range at the largest power of two
below its size. So :func:`accord.core.merkle.inclusion_plan` and ``range_nodes`` name the nodes of
a CCF proof too; only the hash that combines them changes, and the stored-tile machinery serves
this tree when given :func:`ccf_node_hash` (``TreeEdge(ccf_node_hash)``,
``pack_tile(row, ccf_node_hash)``). A CCF tree has no empty root.

An accord entry's leaf components:

* ``writeSetDigest`` = SHA-256 of the entry's canonical accord leaf bytes, so both trees commit to
  the same entries;
* ``commitEvidence`` = ``"ce:<view>.<seqno>:<64 hex>"``, the hex being
  ``HMAC-SHA256(commit_secret, "accord.ccf.commit-evidence.v1:" || "<view>.<seqno>")``:
  deterministic, and recomputable by an auditor holding the ledger's commit secret;
* ``claimsDigest`` = the digest of the entry's application claims (Azure's ``LedgerEntryV1``
  claims), or 32 zero bytes for an entry without claims, as CCF does.

A receipt (``cert``, ``leafComponents``, ``nodeId``, ``proof``, ``serviceEndorsements``,
``signature``) proves the leaf is under a root that the node's key signed (ECDSA over the root as a
pre-hashed SHA-256 digest), the node certificate being issued by the pinned service certificate,
directly or through ``serviceEndorsements``. Like the SDK, :func:`verify_ccf_receipt` does not
check certificate validity periods (no clock here). Unlike the SDK it raises
:class:`~accord.errors.VerificationError` subclasses, never a bare ``ValueError``, checks hash
lengths, and never returns False.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from accord.core.canonical import parse_json
from accord.core.entry import EntryMetadata, TransactionId
from accord.core.merkle import fold_range, inclusion_plan, range_nodes, root_from_leaf_hashes
from accord.core.quoting import quoted
from accord.errors import (
    ConfigurationError,
    InvalidRequest,
    MalformedInput,
    SignatureError,
    VerificationError,
)

HASH_SIZE = 32
NO_CLAIMS_DIGEST = bytes(HASH_SIZE)
"""``claimsDigest`` of an entry without application claims (CCF's unset claims digest)."""
LEDGER_ENTRY_CLAIM = "LedgerEntry"
DIGEST_CLAIM = "ClaimDigest"
LEDGER_ENTRY_V1 = "LedgerEntryV1"
COMMIT_EVIDENCE_LABEL = b"accord.ccf.commit-evidence.v1:"
MIN_COMMIT_SECRET = 32
ENTRY_CLAIM_KEY_SIZE = 32
MAX_PROOF_LENGTH = 64
MAX_CLAIMS = 64
MAX_ENDORSEMENTS = 16

ProofElement = dict[str, str]
"""One step of a CCF proof: ``{"left": hex}`` (sibling on the left) or ``{"right": hex}``."""
GetNode = Callable[[int, int], bytes]
"""``get_node(level, index)``: CCF hash of the perfect subtree ``NodeId(level, index)``, e.g.
``lambda level, index: node_from_tiles(ccf_tiles, level, index)``."""

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")
_COMMIT_EVIDENCE = re.compile(r"ce:([0-9]+\.[0-9]+):([0-9a-f]{64})")
# Older Azure Confidential Ledger instances spelled receipt keys in snake_case; the SDK accepts
# both, so do we.
_CAMEL = {
    "leaf_components": "leafComponents",
    "node_id": "nodeId",
    "service_endorsements": "serviceEndorsements",
    "claims_digest": "claimsDigest",
    "commit_evidence": "commitEvidence",
    "write_set_digest": "writeSetDigest",
}


# --- the tree ------------------------------------------------------------------------------------


def ccf_node_hash(left: bytes, right: bytes) -> bytes:
    """A CCF interior node: ``SHA-256(left || right)``, no domain prefix."""
    return hashlib.sha256(left + right).digest()


def ccf_fold_range(hashes: Sequence[bytes]) -> bytes:
    """Combine the CCF hashes of ``merkle.range_nodes(begin, end)`` into the range's CCF hash."""
    return fold_range(hashes, ccf_node_hash)


def ccf_root(leaf_digests: Sequence[bytes]) -> bytes:
    """Root of the CCF tree over ``leaf_digests`` (each a :func:`ccf_leaf`); for small trees/tests.

    Pairs each level left to right and carries an odd last node up unchanged, exactly as
    ``merklecpp`` rebuilds a tree. Raises :class:`InvalidRequest` for no leaves: CCF has no empty
    root.
    """
    if not leaf_digests:
        raise InvalidRequest("a CCF tree of no entries has no root")
    return root_from_leaf_hashes(leaf_digests, ccf_node_hash)


def ccf_inclusion_proof_elements(index: int, size: int, get_node: GetNode) -> list[ProofElement]:
    """The receipt ``proof`` of leaf ``index`` in the CCF tree of ``size`` leaves, leaf to root.

    Each element holds the sibling subtree's hash and its side. ``get_node`` is asked only for the
    perfect subtrees that make up the ranges of RFC 9162's ``inclusion_plan``.
    """
    elements: list[ProofElement] = []
    for begin, end in inclusion_plan(index, size):
        sibling = ccf_fold_range([get_node(n.level, n.index) for n in range_nodes(begin, end)])
        elements.append({"right" if begin > index else "left": sibling.hex()})
    return elements


def ccf_root_from_proof(leaf: bytes, proof: Sequence[Mapping[str, object]]) -> bytes:
    """Fold ``proof`` (the receipt's list of left/right elements) from ``leaf`` up to a root."""
    _check_hash(leaf, "leaf")
    current = leaf
    for is_left, sibling in _parse_proof(proof):
        current = ccf_node_hash(sibling, current) if is_left else ccf_node_hash(current, sibling)
    return current


# --- leaves --------------------------------------------------------------------------------------


def ccf_leaf(write_set_digest: bytes, commit_evidence: str, claims_digest: bytes) -> bytes:
    """The CCF leaf: ``SHA-256(write_set_digest || SHA-256(commit_evidence) || claims_digest)``."""
    _check_hash(write_set_digest, "writeSetDigest")
    _check_hash(claims_digest, "claimsDigest")
    evidence = hashlib.sha256(commit_evidence.encode("utf-8")).digest()
    return hashlib.sha256(write_set_digest + evidence + claims_digest).digest()


def write_set_digest(entry_leaf: bytes) -> bytes:
    """``writeSetDigest`` of an accord entry: SHA-256 of its canonical (RFC 9162 tree) leaf."""
    return hashlib.sha256(entry_leaf).digest()


def commit_evidence(transaction_id: TransactionId, commit_secret: bytes) -> str:
    """``"ce:<view>.<seqno>:<hex>"``, the hex an HMAC-SHA256 of the txid under ``commit_secret``."""
    if len(commit_secret) < MIN_COMMIT_SECRET:
        raise ConfigurationError(f"the commit secret must be at least {MIN_COMMIT_SECRET} bytes")
    txid = str(transaction_id)
    mac = hmac.new(commit_secret, COMMIT_EVIDENCE_LABEL + txid.encode("ascii"), hashlib.sha256)
    return f"ce:{txid}:{mac.hexdigest()}"


def parse_commit_evidence(text: str) -> TransactionId:
    """The transaction id a commit evidence string names; :class:`MalformedInput` if malformed."""
    m = _COMMIT_EVIDENCE.fullmatch(text) if isinstance(text, str) else None
    if not m:
        raise MalformedInput("commitEvidence must be 'ce:<view>.<seqno>:<64 lowercase hex>'")
    try:
        return TransactionId.parse(m.group(1))
    except InvalidRequest as exc:
        raise MalformedInput(f"commitEvidence: {exc}") from exc


@dataclass(frozen=True, slots=True)
class LeafComponents:
    """What a CCF leaf is hashed from; the receipt's ``leafComponents``."""

    write_set_digest: bytes
    commit_evidence: str
    claims_digest: bytes

    def leaf(self) -> bytes:
        return ccf_leaf(self.write_set_digest, self.commit_evidence, self.claims_digest)

    @property
    def transaction_id(self) -> TransactionId:
        return parse_commit_evidence(self.commit_evidence)

    def to_json(self) -> dict[str, str]:
        return {
            "claimsDigest": self.claims_digest.hex(),
            "commitEvidence": self.commit_evidence,
            "writeSetDigest": self.write_set_digest.hex(),
        }

    @classmethod
    def from_json(cls, obj: object) -> LeafComponents:
        """Parse ``leafComponents`` (camelCase or the older snake_case keys)."""
        if not isinstance(obj, Mapping):
            raise MalformedInput("leafComponents must be an object")
        fields = _camel_keys(obj, "leafComponents")
        evidence = fields.get("commitEvidence")
        if not isinstance(evidence, str):
            raise MalformedInput("leafComponents.commitEvidence must be a string")
        parse_commit_evidence(evidence)
        return cls(
            write_set_digest=_hex_hash(fields.get("writeSetDigest"), "writeSetDigest"),
            commit_evidence=evidence,
            claims_digest=_hex_hash(fields.get("claimsDigest"), "claimsDigest"),
        )


def entry_leaf_components(
    metadata: EntryMetadata,
    commit_secret: bytes,
    claims: Sequence[Mapping[str, object]] | None = None,
) -> LeafComponents:
    """The leaf components of an accord entry (``claims`` as :func:`entry_claims` makes them)."""
    return LeafComponents(
        write_set_digest=write_set_digest(metadata.leaf()),
        commit_evidence=commit_evidence(metadata.transaction_id, commit_secret),
        claims_digest=claims_digest(claims or []),
    )


# --- application claims --------------------------------------------------------------------------


ENTRY_CLAIM_KEY_LABEL = b"accord.ccf.entry-claim-key.v1:"


def entry_claim_key(transaction_id: TransactionId, commit_secret: bytes) -> bytes:
    """The 32-byte ``secretKey`` of an entry's application claim, derived from the ledger secret."""
    if len(commit_secret) < MIN_COMMIT_SECRET:
        raise ConfigurationError(f"the commit secret must be at least {MIN_COMMIT_SECRET} bytes")
    message = ENTRY_CLAIM_KEY_LABEL + str(transaction_id).encode("ascii")
    return hmac.new(commit_secret, message, hashlib.sha256).digest()


def ledger_entry_claims_digest(collection_id: str, contents: bytes, secret_key: bytes) -> bytes:
    """``claims_digest(entry_claims(...))`` computed straight from bytes (the sequencer's path)."""
    inner = hashlib.sha256(
        hmac.new(secret_key, collection_id.encode("utf-8"), hashlib.sha256).digest()
        + hmac.new(secret_key, contents, hashlib.sha256).digest()
    ).digest()
    claim = hashlib.sha256(LEDGER_ENTRY_V1.encode("ascii") + inner).digest()
    return hashlib.sha256((1).to_bytes(4, "little") + claim).digest()


def entry_ccf_leaf(
    entry_leaf: bytes,
    transaction_id: TransactionId,
    collection_id: str,
    contents: bytes,
    commit_secret: bytes,
) -> bytes:
    """The CCF leaf of an accord entry with its ``LedgerEntryV1`` application claim.

    The sequencer's hot path: the same bytes as ``ccf_leaf(write_set_digest(...),
    commit_evidence(...), claims_digest(entry_claims(...)))`` (a test checks it), computed with
    one-shot HMACs and no intermediate objects.
    """
    if len(commit_secret) < MIN_COMMIT_SECRET:
        raise ConfigurationError(f"the commit secret must be at least {MIN_COMMIT_SECRET} bytes")
    sha256 = hashlib.sha256
    txid = str(transaction_id).encode("ascii")
    key = hmac.digest(commit_secret, ENTRY_CLAIM_KEY_LABEL + txid, "sha256")
    evidence_mac = hmac.digest(commit_secret, COMMIT_EVIDENCE_LABEL + txid, "sha256")
    evidence = b"ce:" + txid + b":" + evidence_mac.hex().encode("ascii")
    inner = sha256(
        hmac.digest(key, collection_id.encode("utf-8"), "sha256")
        + hmac.digest(key, contents, "sha256")
    ).digest()
    claims = sha256(_ONE_CLAIM + sha256(_LEDGER_ENTRY_V1_BYTES + inner).digest()).digest()
    return sha256(sha256(entry_leaf).digest() + sha256(evidence).digest() + claims).digest()


_ONE_CLAIM = (1).to_bytes(4, "little")
_LEDGER_ENTRY_V1_BYTES = b"LedgerEntryV1"


def entry_claims(collection_id: str, contents: str, secret_key: bytes) -> list[dict[str, object]]:
    """Azure's application claims of a ledger entry: one ``LedgerEntryV1`` claim.

    ``secret_key`` is the entry's own 32-byte key; it is published with the claims so anyone
    holding the contents can recompute the claims digest.
    """
    if len(secret_key) != ENTRY_CLAIM_KEY_SIZE:
        raise ConfigurationError(f"an entry claim key is {ENTRY_CLAIM_KEY_SIZE} bytes")
    return [
        {
            "kind": LEDGER_ENTRY_CLAIM,
            "ledgerEntry": {
                "collectionId": collection_id,
                "contents": contents,
                "protocol": LEDGER_ENTRY_V1,
                "secretKey": base64.b64encode(secret_key).decode("ascii"),
            },
        }
    ]


def claims_digest(claims: Sequence[Mapping[str, object]]) -> bytes:
    """The ``claimsDigest`` of a list of application claims, as the Azure SDK computes it.

    ``SHA-256(uint32_le(len(claims)) || d_1 || ... || d_n)`` where a ``LedgerEntry`` claim's
    ``d = SHA-256("LedgerEntryV1" || SHA-256(HMAC(k, collectionId) || HMAC(k, contents)))`` and a
    ``ClaimDigest`` claim's ``d = SHA-256(protocol || value)``. No claims give
    :data:`NO_CLAIMS_DIGEST` (the SDK refuses an empty list; CCF writes zeros). Raises
    :class:`MalformedInput` for anything else.
    """
    if isinstance(claims, str | bytes) or not isinstance(claims, Sequence):
        raise MalformedInput("application claims must be a list")
    if not claims:
        return NO_CLAIMS_DIGEST
    if len(claims) > MAX_CLAIMS:
        raise MalformedInput(f"at most {MAX_CLAIMS} application claims, got {len(claims)}")
    digests = b"".join(_claim_digest(claim) for claim in claims)
    return hashlib.sha256(len(claims).to_bytes(4, "little") + digests).digest()


def _claim_digest(claim: object) -> bytes:
    if not isinstance(claim, Mapping):
        raise MalformedInput("an application claim must be an object")
    kind = claim.get("kind")
    if kind == LEDGER_ENTRY_CLAIM and set(claim) == {"kind", "ledgerEntry"}:
        entry = _exact_strings(
            claim["ledgerEntry"],
            {"collectionId", "contents", "protocol", "secretKey"},
            "ledgerEntry",
        )
        if entry["protocol"] != LEDGER_ENTRY_V1:
            raise MalformedInput(
                f"unsupported ledger entry claim protocol {quoted(entry['protocol'])}"
            )
        try:
            key = base64.b64decode(entry["secretKey"], validate=True)
            collection = entry["collectionId"].encode("utf-8")
            contents = entry["contents"].encode("utf-8")
        except (binascii.Error, ValueError) as exc:  # UnicodeEncodeError is a ValueError
            raise MalformedInput(f"ledger entry claim: {exc}") from exc
        inner = hashlib.sha256(
            hmac.new(key, collection, hashlib.sha256).digest()
            + hmac.new(key, contents, hashlib.sha256).digest()
        ).digest()
        return hashlib.sha256(LEDGER_ENTRY_V1.encode("ascii") + inner).digest()
    if kind == DIGEST_CLAIM and set(claim) == {"kind", "digest"}:
        digest = _exact_strings(claim["digest"], {"protocol", "value"}, "digest")
        if not _HEX.fullmatch(digest["value"]):
            raise MalformedInput("a digest claim's value must be hex")
        try:
            protocol = digest["protocol"].encode("utf-8")
        except UnicodeEncodeError as exc:
            raise MalformedInput("a digest claim's protocol is not valid Unicode") from exc
        return hashlib.sha256(protocol + bytes.fromhex(digest["value"])).digest()
    raise MalformedInput(
        "an application claim must be {kind: LedgerEntry, ledgerEntry} "
        "or {kind: ClaimDigest, digest}"
    )


def _exact_strings(obj: object, keys: set[str], what: str) -> dict[str, str]:
    if not isinstance(obj, Mapping) or set(obj) != keys:
        raise MalformedInput(f"{what} must be an object with exactly the keys {sorted(keys)}")
    out: dict[str, str] = {}
    for key in keys:
        value = obj[key]
        if not isinstance(value, str):
            raise MalformedInput(f"{what}.{key} must be a string")
        out[key] = value
    return out


# --- signing and building receipts ---------------------------------------------------------------


def node_id(cert: x509.Certificate) -> str:
    """CCF's node id: hex SHA-256 of the node certificate's SubjectPublicKeyInfo DER."""
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


def sign_ccf_root(root: bytes, node_private_key: ec.EllipticCurvePrivateKey) -> bytes:
    """DER ECDSA signature over ``root`` as a pre-hashed SHA-256 digest (CCF's ``sign_hash``)."""
    _check_hash(root, "root")
    return node_private_key.sign(root, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


def build_ccf_receipt(
    *,
    components: LeafComponents,
    proof: Sequence[Mapping[str, object]],
    signature: bytes,
    node_cert: x509.Certificate,
    service_endorsements: Sequence[x509.Certificate] = (),
) -> dict[str, object]:
    """The receipt JSON object the Azure SDK verifies.

    ``proof`` comes from :func:`ccf_inclusion_proof_elements`; ``signature`` from
    :func:`sign_ccf_root` over the root of the same tree size, by ``node_cert``'s key.
    ``service_endorsements`` link ``node_cert``'s issuer to the current service certificate
    (empty when the service certificate issued ``node_cert`` itself).
    """
    elements = [
        {"left" if is_left else "right": sibling.hex()} for is_left, sibling in _parse_proof(proof)
    ]
    return {
        "cert": _pem(node_cert),
        "leafComponents": components.to_json(),
        "nodeId": node_id(node_cert),
        "proof": elements,
        "serviceEndorsements": [_pem(c) for c in service_endorsements],
        "signature": base64.b64encode(signature).decode("ascii"),
    }


def receipt_response(
    receipt: Mapping[str, object],
    transaction_id: TransactionId,
    application_claims: Sequence[Mapping[str, object]] | None = None,
) -> dict[str, object]:
    """The body of ``GET /app/transactions/{id}/receipt`` as the Azure SDK reads it."""
    body: dict[str, object] = {
        "receipt": dict(receipt),
        "state": "Ready",
        "transactionId": str(transaction_id),
    }
    if application_claims:
        body["applicationClaims"] = [dict(c) for c in application_claims]
    return body


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


# --- verification --------------------------------------------------------------------------------


@dataclass(frozen=True)
class VerifiedCcfReceipt:
    """What a successful :func:`verify_ccf_receipt` vouches for."""

    transaction_id: TransactionId
    components: LeafComponents
    root: bytes
    node_cert: x509.Certificate


def verify_ccf_receipt(
    receipt: Mapping[str, object] | str | bytes,
    service_cert: x509.Certificate | str | bytes,
    *,
    application_claims: Sequence[Mapping[str, object]] | None = None,
    entry_leaf: bytes | None = None,
    commit_secret: bytes | None = None,
) -> VerifiedCcfReceipt:
    """Verify a CCF JSON receipt against the pinned service certificate.

    Checks what the Azure SDK checks: the node certificate is issued by ``service_cert`` (through
    ``serviceEndorsements`` if any), ``nodeId`` (when present) names its key, and the node's key
    signed the root that the leaf components and proof lead to. Then, when given:
    ``application_claims`` must digest to ``claimsDigest`` (``[]`` to the zero digest),
    ``entry_leaf`` (an accord entry's canonical leaf) must hash to ``writeSetDigest``, and
    ``commit_secret`` must reproduce ``commitEvidence``.

    Raises :class:`MalformedInput`, :class:`SignatureError` or :class:`VerificationError`.
    """
    obj = parse_json(receipt) if isinstance(receipt, str | bytes) else receipt
    if not isinstance(obj, Mapping):
        raise MalformedInput("a CCF receipt must be a JSON object")
    fields = _camel_keys(obj, "receipt")
    node_cert = _load_cert(fields.get("cert"), "cert")
    endorsements_field = fields.get("serviceEndorsements", [])
    if not isinstance(endorsements_field, list) or len(endorsements_field) > MAX_ENDORSEMENTS:
        raise MalformedInput(f"serviceEndorsements must be a list of at most {MAX_ENDORSEMENTS}")
    endorsements = [_load_cert(e, "serviceEndorsements") for e in endorsements_field]
    components = LeafComponents.from_json(fields.get("leafComponents"))
    proof = fields.get("proof")
    if not isinstance(proof, list):
        raise MalformedInput("proof must be a list")
    signature_field = fields.get("signature")
    if not isinstance(signature_field, str):
        raise MalformedInput("signature must be a base64 string")
    try:
        signature = base64.b64decode(signature_field, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedInput("signature is not valid base64") from exc
    node_id_field = fields.get("nodeId")
    if node_id_field is not None and (
        not isinstance(node_id_field, str) or not _HEX64.fullmatch(node_id_field)
    ):
        raise MalformedInput("nodeId must be 64 hex digits")

    trusted = (
        service_cert
        if isinstance(service_cert, x509.Certificate)
        else _load_cert(service_cert, "service certificate")
    )
    current = node_cert
    for endorser in [*endorsements, trusted]:
        _check_issued_by(current, endorser)
        current = endorser
    if node_id_field is not None and node_id_field.lower() != node_id(node_cert):
        raise SignatureError("nodeId does not name the key of the receipt's node certificate")

    root = ccf_root_from_proof(components.leaf(), proof)
    node_key = node_cert.public_key()
    if not isinstance(node_key, ec.EllipticCurvePublicKey):
        raise SignatureError("the node certificate's key is not an ECDSA key")
    try:
        node_key.verify(signature, root, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    except InvalidSignature:
        raise SignatureError("the receipt's signature over its root is invalid") from None

    if application_claims is not None and not hmac.compare_digest(
        claims_digest(application_claims), components.claims_digest
    ):
        raise VerificationError("the application claims do not match the receipt's claimsDigest")
    if entry_leaf is not None and not hmac.compare_digest(
        write_set_digest(entry_leaf), components.write_set_digest
    ):
        raise VerificationError("the entry does not match the receipt's writeSetDigest")
    transaction_id = components.transaction_id
    if commit_secret is not None and not hmac.compare_digest(
        commit_evidence(transaction_id, commit_secret), components.commit_evidence
    ):
        raise VerificationError("commitEvidence was not made with this commit secret")
    return VerifiedCcfReceipt(transaction_id, components, root, node_cert)


def _check_issued_by(endorsee: x509.Certificate, endorser: x509.Certificate) -> None:
    """The endorser's ECDSA key signed the endorsee's TBS certificate (as the SDK checks)."""
    key = endorser.public_key()
    try:
        algorithm = endorsee.signature_hash_algorithm
    except UnsupportedAlgorithm:
        algorithm = None
    if not isinstance(key, ec.EllipticCurvePublicKey) or algorithm is None:
        raise SignatureError("receipt certificates must be ECDSA certificates")
    try:
        key.verify(endorsee.signature, endorsee.tbs_certificate_bytes, ec.ECDSA(algorithm))
    except InvalidSignature:
        raise SignatureError(
            "the node certificate is not endorsed by the service certificate"
        ) from None


def _load_cert(value: object, what: str) -> x509.Certificate:
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogatepass")
    if not isinstance(value, bytes):
        raise MalformedInput(f"{what} must be a PEM certificate string")
    try:
        cert = x509.load_pem_x509_certificate(value)
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion) as exc:
        # InvalidVersion is not a ValueError: without it a certificate claiming an unknown X.509
        # version escaped as a raw cryptography exception.
        raise MalformedInput(f"{what} is not a valid PEM certificate") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise MalformedInput(f"{what} does not hold an ECDSA public key")
    return cert


def _camel_keys(obj: Mapping[str, object], what: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in obj.items():
        name = _CAMEL.get(key, key)
        if name in out:
            raise MalformedInput(f"{what} has both {name} and its snake_case spelling")
        out[name] = value
    return out


def _parse_proof(proof: Sequence[Mapping[str, object]]) -> list[tuple[bool, bytes]]:
    """``(sibling_is_left, sibling)`` per element; each must hold exactly one of left/right."""
    if isinstance(proof, str | bytes) or not isinstance(proof, Sequence):
        raise MalformedInput("proof must be a list")
    if len(proof) > MAX_PROOF_LENGTH:
        raise MalformedInput(f"proof has {len(proof)} elements; at most {MAX_PROOF_LENGTH}")
    steps: list[tuple[bool, bytes]] = []
    for i, element in enumerate(proof):
        if not isinstance(element, Mapping) or len(element) != 1:
            raise MalformedInput(f"proof element {i} must be {{'left': hex}} or {{'right': hex}}")
        ((side, value),) = element.items()
        if side not in ("left", "right"):
            raise MalformedInput(f"proof element {i} must be {{'left': hex}} or {{'right': hex}}")
        steps.append((side == "left", _hex_hash(value, f"proof element {i}")))
    return steps


def _hex_hash(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise MalformedInput(f"{what} must be 64 hex digits")
    return bytes.fromhex(value)


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise MalformedInput(f"{what} must be {HASH_SIZE} bytes")
