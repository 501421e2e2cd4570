"""The OpenAPI 3.0 document of the HTTPS service, and the route that serves it.

:data:`OPENAPI` describes every route that :func:`accord.service.app.build_app` registers (the
verification endpoints, the Azure Confidential Ledger data plane of :mod:`accord.service.acl`, the
consortium's governance, witness and node-to-node routes of :mod:`accord.service.consortium`, and
``GET /app/openapi.json`` itself): parameters with the patterns the handlers enforce, request
bodies, and each status code a handler can answer with. It is written by hand from the handlers,
not generated from them; ``tests/service/test_openapi.py`` checks that it names exactly the routes
of the router and fuzzes a real server against it.

Authentication: OpenAPI 3.0 has no security scheme type for TLS client certificates (``mutualTLS``
arrived in 3.1), so only the bearer token is a declared scheme; the certificate alternative is the
``x-mutualTLS`` extension, shaped like a 3.1 security scheme object, and every operation that lists
``bearerAuth`` accepts a registered client certificate instead. The consortium's node-to-node
routes (``/add-checkpoint``, ``/app/consortium/...``) declare no scheme: they authenticate the
caller's TLS certificate as a current node's, which their descriptions say.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from accord.core.consortium import (
    CONSTITUTION_FORMAT,
    GOVERNANCE_HEADER,
    MAX_MEMBERS,
    MAX_PROPOSAL_TTL_MS,
    MIN_PROPOSAL_TTL_MS,
    PROPOSAL_STATES,
    STATE_FORMAT,
)
from accord.core.entry import (
    COLLECTION_ID_PATTERN,
    DEFAULT_COLLECTION,
    MAX_TAGS,
    TAG_PATTERN,
    TRANSACTION_ID_PATTERN,
)
from accord.core.witness import SIZE_CONTENT_TYPE
from accord.service.http import API_VERSIONS
from accord.service.users import (
    CERT_USER_ID_PATTERN,
    CERT_USER_ID_RULE,
    ROLES,
    SUBJECT_ID_PATTERN,
    SUBJECT_ID_RULE,
)

JSON = "application/json"
# The patterns the service enforces, imported from where they are defined (already anchored, as
# JSON Schema's `pattern` needs). The tags query parameter is a comma-separated list of tags.
_TAG = TAG_PATTERN.removeprefix("^").removesuffix("$")
TAGS_PATTERN = rf"^({_TAG})?(,({_TAG})?)*$"
# ASCII digits only (ECMAScript's \d); accord.core.tiles.parse_tile_path is the rule.
TILE_PATH_PATTERN = r"^([0-9]{1,2}|entries)/(x[0-9]{3}/)*[0-9]{3}(\.p/[0-9]{1,3})?$"
MAX_QUERY_INTEGER = 10**19 - 1  # the handlers accept at most 19 decimal digits

AUTHENTICATED: list[dict[str, list[str]]] = [{"bearerAuth": []}]
ANONYMOUS: list[dict[str, list[str]]] = []


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _schema(name: str) -> dict[str, str]:
    return _ref("schemas", name)


def _obj(
    properties: dict[str, Any], *, optional: tuple[str, ...] = (), closed: bool = True
) -> dict[str, Any]:
    """A JSON object schema whose properties are all required except ``optional``."""
    out: dict[str, Any] = {"type": "object", "properties": properties}
    required = [k for k in properties if k not in optional]
    if required:  # OpenAPI 3.0 forbids an empty `required`
        out["required"] = required
    if closed:
        out["additionalProperties"] = False
    return out


def _string(**extra: Any) -> dict[str, Any]:
    return {"type": "string", **extra}


def _ok(description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}, **extra}


def _operation(
    operation_id: str,
    summary: str,
    tag: str,
    responses: dict[str, Any],
    errors: tuple[int, ...],
    *,
    parameters: tuple[str, ...] = (),
    path_parameters: tuple[str, ...] = (),
    security: list[dict[str, list[str]]] = AUTHENTICATED,
    description: str | None = None,
    request_body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One operation; every operation takes ``api-version`` (checked before anything else)."""
    op: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "tags": [tag],
        "parameters": [_ref("parameters", p) for p in (*path_parameters, *parameters)]
        + [_ref("parameters", "ApiVersion")],
        "security": security,
        "responses": {**responses, **{str(c): _ref("responses", _ERROR_NAMES[c]) for c in errors}},
    }
    if description:
        op["description"] = description
    if request_body is not None:
        op["requestBody"] = request_body
    return op


_ERROR_NAMES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Gone",
    413: "PayloadTooLarge",
    503: "StorageUnavailable",
}
_ERROR_DESCRIPTIONS = {
    400: "The request is invalid (a malformed parameter or body, an unsupported api-version, "
    "a size beyond the latest checkpoint, ...); nothing was changed.",
    401: "No client certificate or bearer token of a known user, or a bearer token that does not "
    "verify.",
    403: "The caller's role may not do this.",
    404: "The object does not exist (or is not visible yet).",
    409: "The change would break an invariant (e.g. leave the ledger without an "
    "Administrator); nothing was changed.",
    410: "The entry exists (its receipt still verifies) but its contents were erased: code "
    "EntryRedacted, with the redaction record's id as redactionTransactionId, for an entry "
    "redacted on a single-node ledger (POST /app/transactions/{id}/redact).",
    413: "The request body exceeds the route's limit (checked while it is read, chunked or "
    "not); nothing was changed.",
    503: "The storage backend failed; retry later.",
}

# Status codes a read handler can answer with (before its own specific ones).
_READ = (400, 401, 503)
_LOG_READER_DESCRIPTION = (
    "Requires a user of any role, unless the service runs with --public-log, which opens the "
    "verification endpoints to anyone."
)

_HEX32 = "^[0-9a-f]{64}$"
_ENTRY_METADATA = _obj(
    {
        "collectionId": _string(pattern=COLLECTION_ID_PATTERN),
        "contentsSha256": _string(pattern=_HEX32),
        "format": _string(enum=["accord.entry.v1"]),
        "tags": {"type": "array", "items": _string(), "maxItems": MAX_TAGS},
        "timestamp": {"type": "integer", "minimum": 0, "description": "Milliseconds since 1970."},
        "transactionId": _string(pattern=TRANSACTION_ID_PATTERN),
        "userId": _string(),
    }
)

# --- consortium governance (docs/formats.md §14) ------------------------------------------------
_VKEY = "A C2SP verifier key, NAME+HASH+BASE64."
_MS = {"type": "integer", "minimum": 0, "description": "Milliseconds since 1970."}
_CONSORTIUM_SCHEMAS: dict[str, Any] = {
    "Threshold": {
        "oneOf": [
            _string(enum=["majority", "unanimous"]),
            {"type": "integer", "minimum": 1, "maximum": MAX_MEMBERS},
        ],
        "description": "A strict majority, all members, or k members (capped at their number).",
    },
    "Constitution": _obj(
        {
            "format": _string(enum=[CONSTITUTION_FORMAT]),
            "cosignQuorum": _schema("Threshold"),
            "thresholds": {
                "type": "object",
                "additionalProperties": _schema("Threshold"),
                "description": "Action type to the yes votes it needs (default majority).",
            },
            "proposalTtlMs": {
                "type": "integer",
                "minimum": MIN_PROPOSAL_TTL_MS,
                "maximum": MAX_PROPOSAL_TTL_MS,
            },
        }
    ),
    "Member": _obj(
        {
            "name": _string(description="The organization; also its witness name."),
            "memberKey": _string(description=_VKEY + " Signs its governance notes."),
            "cosigner": _string(description=_VKEY + " (type 0x04) Cosigns checkpoints."),
            "adminUser": _string(description="Made an Administrator when the member joins."),
        }
    ),
    "Node": _obj(
        {
            "nodeId": _string(),
            "member": _string(),
            "logKey": _string(description=_VKEY + " Signs the node's checkpoints."),
            "url": _string(),
            "engineRoute": _string(),
            "engineClient": _string(),
            "tlsCertSha256": _string(pattern=_HEX32),
            "engineCaPem": _string(
                description="The authority that issues its NATS server's and client's "
                "certificates (PEM)."
            ),
        }
    ),
    "Action": _obj(
        {"type": _string(description="e.g. member.add, node.remove, user.set.")},
        closed=False,
    ),
    "Proposal": _obj(
        {
            "proposalId": _string(
                pattern=_HEX32, description="SHA-256 of the proposal's signed note."
            ),
            "proposer": _string(),
            "actions": {"type": "array", "items": _schema("Action")},
            "created": _MS,
            "expires": _MS,
            "seqno": {"type": "integer", "minimum": 1},
            "votes": {"type": "object", "additionalProperties": _string(enum=["yes", "no"])},
            "state": _string(enum=list(PROPOSAL_STATES)),
            "finalSeqno": {"type": "integer", "minimum": 1, "nullable": True},
            "reason": _string(),
        }
    ),
    "ConsortiumState": _obj(
        {
            "format": _string(enum=[STATE_FORMAT]),
            "origin": _string(),
            "serviceCertPem": _string(),
            "constitution": _schema("Constitution"),
            "cosignQuorum": {"type": "integer", "minimum": 1},
            "members": {"type": "array", "items": _schema("Member")},
            "nodes": {"type": "array", "items": _schema("Node")},
            "users": {"type": "object", "additionalProperties": _string(enum=list(ROLES))},
            "proposals": {"type": "array", "items": _schema("Proposal")},
            "lastSeqno": {"type": "integer", "minimum": 1},
            "ledgerTime": _MS,
        }
    ),
    "ActionOutcome": _obj(
        {
            "accepted": {"type": "boolean"},
            "reason": _string(),
            "proposalId": {"type": "string", "pattern": _HEX32, "nullable": True},
            "proposalState": {
                "type": "string",
                "enum": list(PROPOSAL_STATES),
                "nullable": True,
            },
            "transactionId": _schema("TransactionId"),
        }
    ),
}

_SCHEMAS: dict[str, Any] = {
    "Error": _obj(
        {
            "error": _obj(
                {
                    "code": _string(description="Machine-readable, e.g. InvalidRequest."),
                    "message": _string(description="For people; never includes internals."),
                }
            )
        }
    ),
    "GoneError": _obj(
        {
            "error": _obj(
                {
                    "code": _string(description="EntryRedacted for a redacted entry."),
                    "message": _string(description="Names the redaction record."),
                    "redactionTransactionId": _schema("TransactionId"),
                },
                optional=("redactionTransactionId",),
            )
        }
    ),
    "TransactionId": _string(
        pattern=TRANSACTION_ID_PATTERN, description="'<view>.<seqno>'; seqno counts from 1."
    ),
    "Proof": {
        "type": "array",
        "items": _string(format="byte"),
        "description": "RFC 9162 proof hashes, base64.",
    },
    "EntryMetadata": _ENTRY_METADATA,
    "AccordReceipt": _obj(
        {
            "format": _string(enum=["accord.receipt.v1"]),
            "entry": _schema("EntryMetadata"),
            "leafIndex": {"type": "integer", "minimum": 0},
            "treeSize": {"type": "integer", "minimum": 1},
            "inclusionProof": _schema("Proof"),
            "checkpoint": _string(description="The signed checkpoint note the proof leads to."),
        }
    ),
    "CcfReceipt": _obj(
        {
            "cert": _string(description="The signing node's certificate (PEM)."),
            "leafComponents": _obj(
                {
                    "claimsDigest": _string(pattern=_HEX32),
                    "commitEvidence": _string(),
                    "writeSetDigest": _string(pattern=_HEX32),
                }
            ),
            "nodeId": _string(),
            "proof": {
                "type": "array",
                "items": {
                    "oneOf": [
                        _obj({"left": _string(pattern=_HEX32)}),
                        _obj({"right": _string(pattern=_HEX32)}),
                    ]
                },
            },
            "serviceEndorsements": {"type": "array", "items": _string()},
            "signature": _string(format="byte"),
        }
    ),
    "ApplicationClaim": _obj(
        {
            "kind": _string(enum=["LedgerEntry", "ClaimDigest"]),
            "ledgerEntry": _obj(
                {
                    "collectionId": _string(),
                    "contents": _string(),
                    "protocol": _string(),
                    "secretKey": _string(format="byte"),
                }
            ),
        },
        optional=("ledgerEntry",),
        closed=False,
    ),
    "LedgerEntry": _obj(
        {
            "contents": _string(description="Empty for a redacted entry."),
            "collectionId": _string(),
            "transactionId": _schema("TransactionId"),
            "redacted": {
                "type": "boolean",
                "enum": [True],
                "description": "Present (true) when a redaction erased the contents.",
            },
            "redactionTransactionId": _schema("TransactionId"),
        },
        optional=("redacted", "redactionTransactionId"),
    ),
    "User": _obj(
        {
            "userId": _string(minLength=1),
            "assignedRole": _string(enum=list(ROLES)),
        }
    ),
    **_CONSORTIUM_SCHEMAS,
}

_PARAMETERS: dict[str, Any] = {
    "ApiVersion": {
        "name": "api-version",
        "in": "query",
        "required": False,
        "description": "Any supported version selects the same API; any other is refused (400).",
        "schema": _string(enum=list(API_VERSIONS)),
    },
    "TransactionIdPath": {
        "name": "transactionId",
        "in": "path",
        "required": True,
        "schema": _schema("TransactionId"),
    },
    "CollectionIdQuery": {
        "name": "collectionId",
        "in": "query",
        "required": False,
        "description": f"The collection (sub-ledger); default {DEFAULT_COLLECTION!r}.",
        "schema": _string(pattern=COLLECTION_ID_PATTERN),
    },
    "FromTransactionId": {
        "name": "fromTransactionId",
        "in": "query",
        "required": False,
        "description": "First transaction of the range (inclusive); default the first entry.",
        "schema": _schema("TransactionId"),
    },
    "ToTransactionId": {
        "name": "toTransactionId",
        "in": "query",
        "required": False,
        "description": "Last transaction of the range (inclusive); default the last entry.",
        "schema": _schema("TransactionId"),
    },
    "Tags": {
        "name": "tags",
        "in": "query",
        "required": False,
        "description": f"Comma-separated tags of the new entry: at most {MAX_TAGS}, no duplicates.",
        "schema": _string(pattern=TAGS_PATTERN),
    },
    "UserIdPath": {
        "name": "userId",
        "in": "path",
        "required": True,
        "description": f"Either {CERT_USER_ID_RULE} (pattern {CERT_USER_ID_PATTERN!r}), or "
        f"{SUBJECT_ID_RULE} (pattern {SUBJECT_ID_PATTERN!r}). Any other id is refused "
        "(400). Fingerprints are answered in their canonical form (upper-case pairs, colons).",
        # Deliberately wider than the rule, so that fuzzing also sends ids the service refuses.
        "schema": _string(minLength=1, maxLength=256),
    },
    "ProposalIdPath": {
        "name": "proposalId",
        "in": "path",
        "required": True,
        "description": "A proposal id: the SHA-256 of its signed note, 64 lower-case hex digits.",
        # Any string, so that fuzzing also sends ids that name no proposal (404).
        "schema": _string(minLength=1),
    },
    "LedgerIdPath": {
        "name": "ledgerId",
        "in": "path",
        "required": True,
        "schema": _string(minLength=1),
    },
    "TilePath": {
        "name": "path",
        "in": "path",
        "required": True,
        "description": "C2SP tlog-tiles path after 'tile/', e.g. '0/x001/234' or 'entries/000.p/7'; "
        "its slashes are part of the value.",
        "schema": _string(pattern=TILE_PATH_PATTERN),
    },
    **{
        name: {
            "name": query,
            "in": "query",
            "required": True,
            "schema": {"type": "integer", "minimum": 0, "maximum": MAX_QUERY_INTEGER},
        }
        for name, query in (
            ("FirstQuery", "first"),
            ("LastQuery", "last"),
            ("IndexQuery", "index"),
            ("SizeQuery", "size"),
            ("FromQuery", "from"),
            ("ToQuery", "to"),
        )
    },
    "Sha256Path": {
        "name": "sha256",
        "in": "path",
        "required": True,
        "description": "The SHA-256 of the bytes, 64 lower-case hex digits.",
        "schema": _string(pattern="^[0-9a-f]{64}$"),
    },
}

_RESPONSES: dict[str, Any] = {
    name: {
        "description": _ERROR_DESCRIPTIONS[code],
        "content": {JSON: {"schema": _schema("GoneError" if code == 410 else "Error")}},
    }
    for code, name in _ERROR_NAMES.items()
}

_CONSORTIUM_ONLY = " On a single-node ledger (not part of a consortium) it answers 404."
_TEXT = "text/plain"


def _text_or_error(description: str, text_type: str = _TEXT) -> dict[str, Any]:
    """A status answered as text by the handler, or as the JSON Error by the common plumbing."""
    return {
        "description": description,
        "content": {text_type: {"schema": _string()}, JSON: {"schema": _schema("Error")}},
    }


_WITNESS_RESPONSES: dict[str, Any] = {
    "200": {
        "description": "This organization's cosignature: one C2SP tlog-cosignature line.",
        "content": {_TEXT: {"schema": _string()}},
    },
    "400": _text_or_error(
        "The body does not parse as an add-checkpoint request (or the api-version is "
        "unsupported, answered as JSON)."
    ),
    "403": _text_or_error(
        "The caller's TLS certificate is not a current node's, or no current node's key "
        "signed the checkpoint."
    ),
    "404": _text_or_error(
        "The checkpoint's origin is not this consortium's log (text), or this ledger is not "
        "part of a consortium (JSON)."
    ),
    "409": {
        "description": "The old size is not the size this witness last cosigned (C2SP "
        "tlog-witness); the body is that size and a newline.",
        "content": {SIZE_CONTENT_TYPE: {"schema": _string(pattern="^[0-9]+\n$")}},
    },
    "413": _ref("responses", "PayloadTooLarge"),
    "422": {
        "description": "The checkpoint cannot be cosigned: its root is not the one this node "
        "computed for that size (recorded as evidence), or a size-0 checkpoint does not have "
        "the empty tree's root.",
        "content": {_TEXT: {"schema": _string()}},
    },
    "503": {
        **_text_or_error(
            "This node has not applied that size yet (text, with Retry-After), or its storage "
            "failed (JSON)."
        ),
        "headers": {"Retry-After": {"required": False, "schema": {"type": "integer"}}},
    },
}

_NODE_ONLY = (
    "Node to node only: the caller must present the TLS client certificate of one of the "
    "consortium's current nodes (else 403)." + _CONSORTIUM_ONLY
)


def _node_operation(
    operation_id: str,
    summary: str,
    ok: dict[str, Any],
    *,
    parameters: tuple[str, ...] = (),
    description: str = "",
) -> dict[str, Any]:
    return _operation(
        operation_id,
        summary,
        "consortium",
        {"200": ok},
        (400, 403, 404, 503),
        parameters=parameters,
        security=ANONYMOUS,
        description=(description + " " if description else "") + _NODE_ONLY,
    )


_CONSORTIUM_PATHS: dict[str, Any] = {
    "/app/consortium/position": {
        "get": _node_operation(
            "getNodePosition",
            "How far this node applied the ordered stream (for a peer catching up).",
            _ok(
                "The node's position.",
                _obj(
                    {
                        "node": _string(),
                        "size": {"type": "integer", "minimum": 0},
                        "streamSeq": {"type": "integer", "minimum": 0},
                        "positions": {
                            "type": "object",
                            "additionalProperties": {
                                "type": "array",
                                "items": {"type": "integer"},
                                "minItems": 2,
                                "maxItems": 2,
                            },
                        },
                    }
                ),
            ),
        )
    },
    "/app/consortium/entries": {
        "get": _node_operation(
            "getNodeEntries",
            "Entries `first`..`last` (1-based, inclusive) as this node applied them.",
            _ok(
                "The entries: each leaf and contents, base64.",
                _obj(
                    {
                        "entries": {
                            "type": "array",
                            "items": _obj(
                                {
                                    "leaf": _string(format="byte"),
                                    "contents": _string(format="byte"),
                                }
                            ),
                        }
                    }
                ),
            ),
            parameters=("FirstQuery", "LastQuery"),
            description="At most 1,000 entries, all already applied here (else 400).",
        )
    },
    "/app/consortium/consistency": {
        "get": _node_operation(
            "getNodeConsistencyProof",
            "RFC 9162 consistency proof between tree sizes `from` and `to` of this node's tree.",
            _ok(
                "The proof.",
                _obj(
                    {
                        "from": {"type": "integer", "minimum": 0},
                        "to": {"type": "integer", "minimum": 0},
                        "hashes": _schema("Proof"),
                    }
                ),
            ),
            parameters=("FromQuery", "ToQuery"),
        )
    },
    "/app/consortium/checkpoint": {
        "get": _node_operation(
            "getNodeFinalCheckpoint",
            "This node's latest final checkpoint, with the member cosignatures that made it final.",
            {
                "description": "The checkpoint note.",
                "content": {_TEXT: {"schema": _string()}},
            },
        )
    },
    "/app/consortium/blobs/{sha256}": {
        "get": _node_operation(
            "getNodeDocumentBytes",
            "The bytes of a document version this node holds, named by their SHA-256 (for a "
            "peer keeping a copy, which checks them against the ledger record's digest).",
            {
                "description": "The bytes.",
                "content": {"application/octet-stream": {"schema": _string(format="binary")}},
            },
            parameters=("Sha256Path",),
        )
    },
    "/add-checkpoint": {
        "post": _operation(
            "addCheckpoint",
            "C2SP tlog-witness add-checkpoint: a peer node asks this organization to cosign.",
            "consortium",
            _WITNESS_RESPONSES,
            (),
            security=ANONYMOUS,
            description="For the consortium's own nodes: the caller must present the TLS "
            "client certificate of a current node, and the checkpoint must carry a current "
            "node's signature. This organization cosigns only a size it applied itself with "
            "the same root." + _CONSORTIUM_ONLY,
            request_body={
                "required": True,
                "description": "`old <size>`, up to 63 base64 consistency-proof lines, an empty "
                "line and the signed checkpoint (at most 64 KiB).",
                "content": {_TEXT: {"schema": _string()}},
            },
        )
    },
    "/app/governance/actions": {
        "post": _operation(
            "submitGovernanceAction",
            "Submit a member-signed proposal, ballot or withdrawal; answers what the fold decided.",
            "governance",
            {
                "200": _ok(
                    "The note was ordered and accepted (a proposal opened or decided, a ballot "
                    "counted, a proposal withdrawn).",
                    _schema("ActionOutcome"),
                    headers={
                        "x-ms-ccf-transaction-id": {
                            "required": True,
                            "schema": _schema("TransactionId"),
                        }
                    },
                ),
                "409": _ok(
                    "The note was ordered but refused by the fold (bad signature, stale, "
                    "replayed, unknown proposal, ...): `reason` says why; nothing changed.",
                    _schema("ActionOutcome"),
                    headers={
                        "x-ms-ccf-transaction-id": {
                            "required": True,
                            "schema": _schema("TransactionId"),
                        }
                    },
                ),
            },
            (400, 401, 403, 404, 413, 503),
            description="Requires a user of any role; the note's member signature is what "
            "authorizes the action (docs/formats.md §14.5)." + _CONSORTIUM_ONLY,
            request_body={
                "required": True,
                "description": f"A C2SP signed note whose text is {GOVERNANCE_HEADER.strip()!r} "
                "and one line of RFC 8785 JSON, with its member's signature (at most 64 KiB).",
                "content": {_TEXT: {"schema": _string()}},
            },
        )
    },
    "/app/governance/proposals": {
        "get": _operation(
            "listProposals",
            "Every proposal the consortium state remembers, by the entry that opened it.",
            "governance",
            {
                "200": _ok(
                    "The proposals.",
                    _obj({"proposals": {"type": "array", "items": _schema("Proposal")}}),
                )
            },
            (*_READ, 404),
            description="Requires a user of any role." + _CONSORTIUM_ONLY,
        )
    },
    "/app/governance/proposals/{proposalId}": {
        "get": _operation(
            "getProposal",
            "One proposal, its ballots and its state.",
            "governance",
            {"200": _ok("The proposal.", _schema("Proposal"))},
            (*_READ, 404),
            path_parameters=("ProposalIdPath",),
            description="Requires a user of any role. 404 for an unknown (or forgotten) "
            "proposal." + _CONSORTIUM_ONLY,
        )
    },
    "/app/governance/state": {
        "get": _operation(
            "getConsortiumState",
            "The replicated consortium state: members, nodes, users, constitution, proposals.",
            "governance",
            {"200": _ok("The state (docs/formats.md §14.8).", _schema("ConsortiumState"))},
            (*_READ, 404),
            description="Requires a user of any role." + _CONSORTIUM_ONLY,
        )
    },
    "/app/governance/policy": {
        "get": _operation(
            "getTrustPolicy",
            "The C2SP tlog-policy in force: the nodes' log keys and the members' cosigner "
            "keys, with the cosign quorum (no authentication).",
            "governance",
            {
                "200": {
                    "description": "The policy text (docs/formats.md §14.8).",
                    "content": {_TEXT: {"schema": _string()}},
                }
            },
            (400, 404),
            security=ANONYMOUS,
            description="Save it to verify checkpoints and receipts offline (accord verify "
            "--policy)." + _CONSORTIUM_ONLY,
        )
    },
}


_PATHS: dict[str, Any] = {
    # --- verification endpoints (C2SP tlog-tiles, RFC 9162 proofs, accord receipts) ----------
    "/checkpoint": {
        "get": _operation(
            "getCheckpoint",
            "The latest signed checkpoint (C2SP signed note).",
            "verification",
            {
                "200": {
                    "description": "The checkpoint note.",
                    "content": {"text/plain": {"schema": _string()}},
                }
            },
            (*_READ, 404),
            description=_LOG_READER_DESCRIPTION,
        )
    },
    "/tile/{path}": {
        "get": _operation(
            "getTile",
            "A C2SP tlog-tiles hash tile or entry bundle covered by the latest checkpoint.",
            "verification",
            {
                "200": {
                    "description": "The tile body; immutable, cacheable forever.",
                    "headers": {
                        "Cache-Control": {
                            "schema": _string(enum=["public, max-age=31536000, immutable"])
                        }
                    },
                    "content": {"application/octet-stream": {"schema": _string(format="binary")}},
                }
            },
            (*_READ, 404),
            path_parameters=("TilePath",),
            description=_LOG_READER_DESCRIPTION,
        )
    },
    "/proofs/inclusion": {
        "get": _operation(
            "getInclusionProof",
            "RFC 9162 inclusion proof of leaf `index` (0-based) in the tree of `size` leaves.",
            "verification",
            {
                "200": _ok(
                    "The proof.",
                    _obj(
                        {
                            "index": {"type": "integer", "minimum": 0},
                            "size": {"type": "integer", "minimum": 1},
                            "hashes": _schema("Proof"),
                        }
                    ),
                )
            },
            _READ,
            parameters=("IndexQuery", "SizeQuery"),
            description=_LOG_READER_DESCRIPTION + " `size` must not exceed the latest checkpoint.",
        )
    },
    "/proofs/consistency": {
        "get": _operation(
            "getConsistencyProof",
            "RFC 9162 consistency proof between tree sizes `from` and `to`.",
            "verification",
            {
                "200": _ok(
                    "The proof.",
                    _obj(
                        {
                            "from": {"type": "integer", "minimum": 0},
                            "to": {"type": "integer", "minimum": 0},
                            "hashes": _schema("Proof"),
                        }
                    ),
                )
            },
            _READ,
            parameters=("FromQuery", "ToQuery"),
            description=_LOG_READER_DESCRIPTION + " `to` must not exceed the latest checkpoint.",
        )
    },
    "/receipts/{transactionId}": {
        "get": _operation(
            "getAccordReceipt",
            "An accord receipt (entry metadata, inclusion proof, signed checkpoint).",
            "verification",
            {"200": _ok("The receipt.", _schema("AccordReceipt"))},
            (*_READ, 404),
            path_parameters=("TransactionIdPath",),
            description=_LOG_READER_DESCRIPTION + " An entry not yet committed gets 400.",
        )
    },
    # --- Azure Confidential Ledger data plane ---------------------------------------------------
    "/app/transactions": {
        "post": _operation(
            "createLedgerEntry",
            "Append an entry; answers once it is durable.",
            "entries",
            {
                "200": _ok(
                    "The entry is durable (Pending until a checkpoint covers it).",
                    _obj(
                        {
                            "collectionId": _string(pattern=COLLECTION_ID_PATTERN),
                            "transactionId": _schema("TransactionId"),
                        }
                    ),
                    headers={
                        "x-ms-ccf-transaction-id": {
                            "required": True,
                            "schema": _schema("TransactionId"),
                        },
                        "x-accord-warning": {
                            "required": False,
                            "description": "Set when the contents exceed Azure Confidential "
                            "Ledger's 8 KiB entry limit (accepted here; Azure would refuse).",
                            "schema": {"type": "string"},
                        },
                    },
                )
            },
            (400, 401, 403, 413, 503),
            parameters=("CollectionIdQuery", "Tags"),
            description="Requires the Administrator or Contributor role.",
            request_body={
                "required": True,
                "description": "Other members of the object are ignored. The contents, as "
                "UTF-8, may not exceed the ledger's max_contents (400).",
                "content": {JSON: {"schema": _obj({"contents": _string()}, closed=False)}},
            },
        ),
        "get": _operation(
            "listLedgerEntries",
            "Entries of one collection in a range of transactions, 100 per page.",
            "entries",
            {
                "200": _ok(
                    "One page.",
                    _obj(
                        {
                            "state": _string(enum=["Ready"]),
                            "entries": {"type": "array", "items": _schema("LedgerEntry")},
                            "nextLink": _string(
                                description="Relative URL of the next page; absent on the last."
                            ),
                        },
                        optional=("nextLink",),
                    ),
                )
            },
            (*_READ, 404),
            parameters=("CollectionIdQuery", "FromTransactionId", "ToTransactionId"),
        ),
    },
    "/app/transactions/batch": {
        "post": _operation(
            "createLedgerEntries",
            "Append many entries atomically, in order, in one group commit (an accord extension).",
            "entries",
            {
                "200": _ok(
                    "Every entry is durable, with these ids in the order sent.",
                    _obj(
                        {
                            "transactionIds": {
                                "type": "array",
                                "items": _schema("TransactionId"),
                                "minItems": 1,
                            }
                        }
                    ),
                    headers={
                        "x-ms-ccf-transaction-id": {
                            "required": True,
                            "description": "The id of the last entry.",
                            "schema": _schema("TransactionId"),
                        },
                        "x-accord-warning": {
                            "required": False,
                            "description": "Set when some contents exceed Azure Confidential "
                            "Ledger's 8 KiB entry limit (accepted here).",
                            "schema": {"type": "string"},
                        },
                    },
                )
            },
            (400, 401, 403, 413, 503),
            description="Requires the Administrator or Contributor role. Each entry follows the "
            "rules of a single append; one bad entry refuses the whole batch (400, naming it as "
            "`entries[<index>].<field>`) and nothing is written. At most the service's "
            "max_batch_entries entries (default 1,000) and max_batch_bytes bytes of body "
            "(default 16 MiB, else 413).",
            request_body={
                "required": True,
                "content": {
                    JSON: {
                        "schema": _obj(
                            {
                                "entries": {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": _obj(
                                        {
                                            "contents": _string(),
                                            "collectionId": _string(
                                                pattern=COLLECTION_ID_PATTERN,
                                                description=f"Default {DEFAULT_COLLECTION!r}.",
                                            ),
                                            "tags": {
                                                "type": "array",
                                                "items": _string(pattern=TAG_PATTERN),
                                                "maxItems": MAX_TAGS,
                                                "uniqueItems": True,
                                            },
                                        },
                                        optional=("collectionId", "tags"),
                                    ),
                                }
                            }
                        )
                    }
                },
            },
        )
    },
    "/app/transactions/current": {
        "get": _operation(
            "getCurrentLedgerEntry",
            "The latest entry of a collection.",
            "entries",
            {"200": _ok("The entry.", _schema("LedgerEntry"))},
            (*_READ, 404, 410),
            parameters=("CollectionIdQuery",),
        )
    },
    "/app/transactions/{transactionId}": {
        "get": _operation(
            "getLedgerEntry",
            "One entry; 404 if `collectionId` is given and is not the entry's collection.",
            "entries",
            {
                "200": _ok(
                    "The entry.",
                    _obj(
                        {
                            "state": _string(enum=["Ready"]),
                            "entry": _obj(
                                {
                                    "contents": _string(),
                                    "collectionId": _string(),
                                    "transactionId": _schema("TransactionId"),
                                    "tags": _string(description="Comma-separated."),
                                }
                            ),
                        }
                    ),
                )
            },
            (*_READ, 404, 410),
            path_parameters=("TransactionIdPath",),
            parameters=("CollectionIdQuery",),
            description="A redacted entry answers 410 (EntryRedacted) naming its redaction "
            "record; its status and receipts are still served.",
        )
    },
    "/app/transactions/{transactionId}/redact": {
        "post": _operation(
            "redactLedgerEntry",
            "Erase one entry's contents, on the record (an accord extension).",
            "entries",
            {
                "200": _ok(
                    "The redaction record is durable and the contents are erased from the "
                    "ledger's storage.",
                    _obj(
                        {
                            "transactionId": _schema("TransactionId"),
                            "redactedTransactionId": _schema("TransactionId"),
                        }
                    ),
                    headers={
                        "x-ms-ccf-transaction-id": {
                            "required": True,
                            "description": "The redaction record's id.",
                            "schema": _schema("TransactionId"),
                        }
                    },
                )
            },
            (400, 401, 403, 404, 409, 413, 503),
            path_parameters=("TransactionIdPath",),
            description="Requires the Administrator role. Writes a redaction record "
            "(accord.redaction.v1 in accord.redactions, docs/formats.md §22), then erases the "
            "entry's contents; its leaf, proofs and receipts stay. 403 also for an entry of an "
            "accord.* collection, 409 for an entry redacted already, 400 on a consortium node "
            "(its entries are redacted by private-collection purge). Nothing is written on a "
            "refusal.",
            request_body={
                "required": True,
                "content": {
                    JSON: {
                        "schema": _obj(
                            {
                                "reason": _string(
                                    minLength=1,
                                    maxLength=512,
                                    description="Why (a request number, a legal basis), never "
                                    "what: it stays on the ledger. No control characters.",
                                )
                            }
                        )
                    }
                },
            },
        )
    },
    "/app/transactions/{transactionId}/status": {
        "get": _operation(
            "getTransactionStatus",
            "Whether an entry is covered by a signed checkpoint yet.",
            "entries",
            {
                "200": _ok(
                    "The status.",
                    _obj(
                        {
                            "state": _string(enum=["Pending", "Committed"]),
                            "transactionId": _schema("TransactionId"),
                        }
                    ),
                )
            },
            (*_READ, 404),
            path_parameters=("TransactionIdPath",),
        )
    },
    "/app/transactions/{transactionId}/receipt": {
        "get": _operation(
            "getReceipt",
            "The Azure/CCF receipt of an entry, as the azure-confidentialledger SDK verifies it.",
            "entries",
            {
                "200": _ok(
                    "'Loading' until a signed CCF root covers the entry, then 'Ready' with the "
                    "receipt and the entry's application claims (none for a redacted entry: "
                    "the receipt's claimsDigest is the one its redaction record kept).",
                    _obj(
                        {
                            "state": _string(enum=["Loading", "Ready"]),
                            "transactionId": _schema("TransactionId"),
                            "receipt": _schema("CcfReceipt"),
                            "applicationClaims": {
                                "type": "array",
                                "items": _schema("ApplicationClaim"),
                            },
                        },
                        optional=("receipt", "applicationClaims"),
                    ),
                )
            },
            (*_READ, 404),
            path_parameters=("TransactionIdPath",),
            description="404 also when the node has no identity to sign CCF receipts with.",
        )
    },
    "/app/collections": {
        "get": _operation(
            "listCollections",
            "The collections that hold at least one entry.",
            "entries",
            {
                "200": _ok(
                    "The collections.",
                    _obj(
                        {
                            "collections": {
                                "type": "array",
                                "items": _obj({"collectionId": _string()}),
                            }
                        }
                    ),
                )
            },
            _READ,
        )
    },
    "/app/users": {
        "get": _operation(
            "listUsers",
            "Every user and their role.",
            "users",
            {
                "200": _ok(
                    "The users.",
                    _obj({"users": {"type": "array", "items": _schema("User")}}),
                )
            },
            (400, 401, 403),
            description="Requires the Administrator role.",
        )
    },
    "/app/users/{userId}": {
        "get": _operation(
            "getUser",
            "One user and their role.",
            "users",
            {"200": _ok("The user.", _schema("User"))},
            (400, 401, 403, 404),
            path_parameters=("UserIdPath",),
            description="Requires the Administrator role.",
        ),
        "patch": _operation(
            "createOrUpdateUser",
            "Add a user or change their role (JSON merge patch).",
            "users",
            {
                "200": _ok(
                    "The user as stored; `warning` (and the x-accord-warning header) when the "
                    "user's known certificate is expired or not yet valid.",
                    _obj(
                        {
                            "userId": _string(minLength=1),
                            "assignedRole": _string(enum=list(ROLES)),
                            "warning": _string(),
                        },
                        optional=("warning",),
                    ),
                    headers={
                        "x-accord-warning": {
                            "required": False,
                            "description": "The same text as the body's `warning`.",
                            "schema": {"type": "string"},
                        }
                    },
                )
            },
            (400, 401, 403, 409, 413),
            path_parameters=("UserIdPath",),
            description="Requires the Administrator role. A new user needs `assignedRole`; a "
            "`userId` in the body must name the user of the path. A change that would leave no "
            "Administrator is refused (409).",
            request_body={
                "required": True,
                "description": "application/json is accepted too.",
                "content": {
                    "application/merge-patch+json": {
                        "schema": _obj(
                            {
                                "assignedRole": _string(enum=list(ROLES)),
                                "userId": _string(),
                            },
                            optional=("assignedRole", "userId"),
                        )
                    }
                },
            },
        ),
        "delete": _operation(
            "deleteUser",
            "Remove a user.",
            "users",
            {"204": {"description": "The user is removed."}},
            (400, 401, 403, 404, 409),
            path_parameters=("UserIdPath",),
            description="Requires the Administrator role; administrators cannot delete themselves "
            "(400), and the last Administrator cannot be deleted (409).",
        ),
    },
    "/app/governance/constitution": {
        "get": _operation(
            "getConstitution",
            "The constitution and its SHA-256 digest.",
            "governance",
            {
                "200": _ok(
                    "The constitution. On a consortium node, the live replicated value: `script` "
                    "is its JSON (sorted keys, indented), `digest` the SHA-256 of `script`, and "
                    "`constitution` the object itself.",
                    _obj(
                        {
                            "digest": _string(pattern=_HEX32),
                            "script": _string(),
                            "constitution": _schema("Constitution"),
                        },
                        optional=("constitution",),
                    ),
                )
            },
            (400, 401),
        )
    },
    "/app/governance/members": {
        "get": _operation(
            "listConsortiumMembers",
            "The consortium members (and, on a consortium node, its nodes and cosign quorum).",
            "governance",
            {
                "200": _ok(
                    "The members: their certificates on a single-node ledger; the live "
                    "replicated members, nodes and quorum on a consortium node.",
                    {
                        "oneOf": [
                            _obj(
                                {
                                    "members": {
                                        "type": "array",
                                        "items": _obj({"certificate": _string(), "id": _string()}),
                                    }
                                }
                            ),
                            _obj(
                                {
                                    "members": {
                                        "type": "array",
                                        "items": _obj(
                                            {
                                                "id": _string(),
                                                "name": _string(),
                                                "memberKey": _string(),
                                                "cosigner": _string(),
                                                "adminUser": _string(),
                                            }
                                        ),
                                    },
                                    "nodes": {"type": "array", "items": _schema("Node")},
                                    "cosignQuorum": {"type": "integer", "minimum": 1},
                                }
                            ),
                        ]
                    },
                )
            },
            (400, 401),
        )
    },
    **_CONSORTIUM_PATHS,
    "/app/enclaveQuotes": {
        "get": _operation(
            "getEnclaveQuotes",
            "Enclave quotes: accord runs without an enclave and says so (Insecure_Virtual).",
            "governance",
            {
                "200": _ok(
                    "The node's (absent) quote.",
                    _obj(
                        {
                            "currentNodeId": _string(),
                            "enclaveQuotes": {
                                "type": "object",
                                "additionalProperties": _obj(
                                    {
                                        "nodeId": _string(),
                                        "quoteVersion": _string(enum=["Insecure_Virtual"]),
                                        "raw": _string(maxLength=0),
                                        "mrenclave": {"type": "string", "nullable": True},
                                    }
                                ),
                            },
                            "platform": _string(enum=["Virtual"]),
                            "note": _string(),
                        }
                    ),
                )
            },
            (400, 401),
        )
    },
    "/ledgerIdentity/{ledgerId}": {
        "get": _operation(
            "getLedgerIdentity",
            "The service TLS certificate of a ledger (no authentication).",
            "identity",
            {
                "200": _ok(
                    "The identity.",
                    _obj({"ledgerId": _string(), "ledgerTlsCertificate": _string()}),
                )
            },
            (400, 404),
            path_parameters=("LedgerIdPath",),
            security=ANONYMOUS,
        )
    },
    "/app/openapi.json": {
        "get": _operation(
            "getOpenApiDocument",
            "This document (no authentication).",
            "identity",
            {"200": _ok("The OpenAPI document.", {"type": "object"})},
            (400,),
            security=ANONYMOUS,
        )
    },
}

# --- private collections and joint computations (consortium nodes) -----------------------------
_PARAMETERS.update(
    {
        "JobPath": {
            "name": "job",
            "in": "path",
            "required": True,
            "description": "A job id: the transaction id of its proposal.",
            "schema": _schema("TransactionId"),
        },
        "SeqnoPath": {
            "name": "seqno",
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1},
        },
    }
)
_TXID_BODY = {"transactionId": _schema("TransactionId")}
_ANY_OBJECT: dict[str, Any] = {"type": "object"}


def _json_body(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "description": description, "content": {JSON: {"schema": schema}}}


_PATHS.update(
    {
        "/app/private/collections": {
            "get": _operation(
                "listPrivateCollections",
                "Every private collection: its readers, retention and the entry it is private "
                "from (docs/privacy.md).",
                "private",
                {"200": _ok("The collections.", _obj({"collections": {"type": "array"}}))},
                (400, 401, 403, 404),
                description="Requires a user of any role." + _CONSORTIUM_ONLY,
            )
        },
        "/app/private/disclosures/{transactionId}": {
            "get": _operation(
                "getPrivateDisclosure",
                "A private entry's disclosure (accord.disclosure.v1): receipt, public record, "
                "contents and salt, for an outsider to verify offline.",
                "private",
                {"200": _ok("The disclosure (docs/formats.md §20).", _ANY_OBJECT)},
                (400, 401, 403, 404, 410, 503),
                path_parameters=("TransactionIdPath",),
                description="Requires a user of a reader organization (else 403); 410 once "
                "purged." + _CONSORTIUM_ONLY,
            )
        },
        "/app/private/purge": {
            "post": _operation(
                "purgePrivateEntry",
                "Erase a private entry's contents on every node that holds them; the commitment "
                "and every proof stay.",
                "private",
                {"200": _ok("The purge record was ordered and took effect here.", _ANY_OBJECT)},
                (400, 401, 403, 404, 409, 503),
                description="Requires an Administrator of a reader organization."
                + _CONSORTIUM_ONLY,
                request_body=_json_body(
                    "The entry and why.",
                    _obj({**_TXID_BODY, "reason": _string(minLength=1, maxLength=512)}),
                ),
            )
        },
        "/app/consortium/sealed/{seqno}": {
            "get": _node_operation(
                "getNodeSealedContents",
                "A private entry's sealed contents, for another reader organization's node "
                "(which checks them against the entry's record).",
                _ok("The sealed contents.", _obj({"sealed": _string(format="byte")})),
                parameters=("SeqnoPath",),
            )
        },
        "/app/compute/programs": {
            "get": _operation(
                "listComputePrograms",
                "The catalogue of joint-computation programs.",
                "compute",
                {"200": _ok("The programs.", _obj({"programs": {"type": "array"}}))},
                (400, 401, 403),
                description="Requires a user of any role.",
            )
        },
        "/app/compute/jobs": {
            "post": _operation(
                "proposeComputeJob",
                "Propose a joint computation (docs/privacy.md); its job id.",
                "compute",
                {
                    "200": _ok(
                        "The proposal was ordered.", _obj({"jobId": _schema("TransactionId")})
                    )
                },
                (400, 401, 403, 404, 409, 503),
                description="Requires an Administrator." + _CONSORTIUM_ONLY,
                request_body=_json_body(
                    "program, participants, and optionally params, inputs, timeoutMs "
                    "(docs/formats.md §21).",
                    _ANY_OBJECT,
                ),
            ),
            "get": _operation(
                "listComputeJobs",
                "Every job, with its state and provenance.",
                "compute",
                {"200": _ok("The jobs.", _obj({"jobs": {"type": "array"}}))},
                (400, 401, 403, 404),
                description="Requires a user of any role." + _CONSORTIUM_ONLY,
            ),
        },
        "/app/compute/jobs/{job}": {
            "get": _operation(
                "getComputeJob",
                "One job: its state, result and provenance, and whether it is final.",
                "compute",
                {"200": _ok("The job (accord.compute.job.v1).", _ANY_OBJECT)},
                (400, 401, 403, 404),
                path_parameters=("JobPath",),
                description="Requires a user of any role." + _CONSORTIUM_ONLY,
            )
        },
        "/app/compute/jobs/{job}/accept": {
            "post": _operation(
                "acceptComputeJob",
                "Accept a job for this organization, committing to its input.",
                "compute",
                {"200": _ok("The acceptance was ordered.", _obj(_TXID_BODY))},
                (400, 401, 403, 404, 409, 503),
                path_parameters=("JobPath",),
                description="Requires an Administrator of a participant. The input stays on "
                "this node; only its salted commitment is recorded." + _CONSORTIUM_ONLY,
                request_body=_json_body(
                    '{"input": [...]}, or {} when the job reads the input from entries.',
                    _ANY_OBJECT,
                ),
            )
        },
        "/app/compute/jobs/{job}/decline": {
            "post": _operation(
                "declineComputeJob",
                "Decline a proposed job for this organization.",
                "compute",
                {"200": _ok("The decline was ordered.", _obj(_TXID_BODY))},
                (400, 401, 403, 404, 409, 503),
                path_parameters=("JobPath",),
                description="Requires an Administrator of a participant." + _CONSORTIUM_ONLY,
                request_body=_json_body("Why.", _obj({"reason": _string(minLength=1)})),
            )
        },
        "/app/compute/jobs/{job}/private": {
            "get": _operation(
                "getComputePrivateResult",
                "What this organization's party learnt beyond the recorded result (psi's items).",
                "compute",
                {"200": _ok("The private result.", _ANY_OBJECT)},
                (400, 401, 403, 404),
                path_parameters=("JobPath",),
                description="Requires a user of this node's organization." + _CONSORTIUM_ONLY,
            )
        },
    }
)

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "accord",
        "version": "0.1.0",
        "description": "A verifiable ledger with the Azure Confidential Ledger data-plane API "
        "(api-version 2022-05-13) and C2SP tlog-tiles verification endpoints. Authenticate "
        "with a registered TLS client certificate (x-mutualTLS) or a bearer JWT (bearerAuth). "
        "Every error is {'error': {'code', 'message'}} (a 410 for a redacted entry adds "
        "'redactionTransactionId'). Every GET also answers HEAD.",
    },
    "tags": [
        {"name": name}
        for name in (
            "verification",
            "entries",
            "users",
            "governance",
            "consortium",
            "private",
            "compute",
            "identity",
        )
    ],
    "security": AUTHENTICATED,
    "paths": _PATHS,
    "components": {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "A JWT from the ledger's configured issuer; its object id must be "
                "a registered user. A token that does not verify is refused (401), never "
                "downgraded to the client certificate.",
            }
        },
        "x-mutualTLS": {
            "type": "mutualTLS",
            "description": "A TLS client certificate; its SHA-256 fingerprint is the user id. "
            "Accepted wherever bearerAuth is (OpenAPI 3.0 cannot declare this scheme).",
        },
        "schemas": _SCHEMAS,
        "parameters": _PARAMETERS,
        "responses": _RESPONSES,
    },
}


async def get_openapi(request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


def openapi_routes() -> list[web.RouteDef]:
    return [web.get("/app/openapi.json", get_openapi)]
