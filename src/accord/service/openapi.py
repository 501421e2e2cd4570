"""The OpenAPI 3.0 document of the HTTPS service, and the route that serves it.

:data:`OPENAPI` describes every route that :func:`accord.service.app.build_app` registers (the
verification endpoints, the Azure Confidential Ledger data plane of :mod:`accord.service.acl`, and
``GET /app/openapi.json`` itself): parameters with the patterns the handlers enforce, request
bodies, and each status code a handler can answer with. It is written by hand from the handlers,
not generated from them; ``tests/service/test_openapi.py`` checks that it names exactly the routes
of the router and fuzzes a real server against it.

Authentication: OpenAPI 3.0 has no security scheme type for TLS client certificates (``mutualTLS``
arrived in 3.1), so only the bearer token is a declared scheme; the certificate alternative is the
``x-mutualTLS`` extension, shaped like a 3.1 security scheme object, and every operation that lists
``bearerAuth`` accepts a registered client certificate instead.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from accord.core.entry import (
    COLLECTION_ID_PATTERN,
    DEFAULT_COLLECTION,
    MAX_TAGS,
    TAG_PATTERN,
    TRANSACTION_ID_PATTERN,
)
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
            "contents": _string(),
            "collectionId": _string(),
            "transactionId": _schema("TransactionId"),
        }
    ),
    "User": _obj(
        {
            "userId": _string(minLength=1),
            "assignedRole": _string(enum=list(ROLES)),
        }
    ),
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
            ("IndexQuery", "index"),
            ("SizeQuery", "size"),
            ("FromQuery", "from"),
            ("ToQuery", "to"),
        )
    },
}

_RESPONSES: dict[str, Any] = {
    name: {
        "description": _ERROR_DESCRIPTIONS[code],
        "content": {JSON: {"schema": _schema("Error")}},
    }
    for code, name in _ERROR_NAMES.items()
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
            (*_READ, 404),
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
            (*_READ, 404),
            path_parameters=("TransactionIdPath",),
            parameters=("CollectionIdQuery",),
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
                    "receipt and the entry's application claims.",
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
                    "The constitution.",
                    _obj({"digest": _string(pattern=_HEX32), "script": _string()}),
                )
            },
            (400, 401),
        )
    },
    "/app/governance/members": {
        "get": _operation(
            "listConsortiumMembers",
            "The consortium members and their certificates.",
            "governance",
            {
                "200": _ok(
                    "The members.",
                    _obj(
                        {
                            "members": {
                                "type": "array",
                                "items": _obj({"certificate": _string(), "id": _string()}),
                            }
                        }
                    ),
                )
            },
            (400, 401),
        )
    },
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

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "accord",
        "version": "0.1.0",
        "description": "A verifiable ledger with the Azure Confidential Ledger data-plane API "
        "(api-version 2022-05-13) and C2SP tlog-tiles verification endpoints. Authenticate "
        "with a registered TLS client certificate (x-mutualTLS) or a bearer JWT (bearerAuth). "
        "Every error is {'error': {'code', 'message'}}. Every GET also answers HEAD.",
    },
    "tags": [
        {"name": name} for name in ("verification", "entries", "users", "governance", "identity")
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
