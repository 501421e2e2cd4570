"""The HTTPS service: routes, authentication and error mapping (aiohttp).

Routes map one-to-one to :class:`accord.log.ledger.Ledger` calls. Authentication is by TLS client
certificate (the SHA-256 fingerprint is the user id); roles come from :class:`UserStore`.
Every error leaves as ``{"error": {"code": ..., "message": ...}}`` with a 4xx status; a 500 is only
ever an accord bug, and its details are logged, not sent.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import functools
import hashlib
import json
import logging
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from cryptography import x509

from accord.core.canonical import parse_json
from accord.core.entry import DEFAULT_COLLECTION, TransactionId
from accord.core.tiles import parse_tile_path
from accord.errors import (
    AccordError,
    AuthError,
    ConfigurationError,
    InvalidRequest,
    MalformedInput,
    NotFound,
    StorageError,
)
from accord.identity import fingerprint
from accord.log.ledger import Ledger, NewEntry
from accord.service.tls import accept_any_client_certificate
from accord.service.tokens import TokenVerifier
from accord.service.users import READ_ROLES, WRITE_ROLES, User, UserStore

log = logging.getLogger("accord.service")

API_VERSION = "2022-05-13"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


AZURE_MAX_CONTENTS = 8 * 1024
_DECIMAL = re.compile(r"[0-9]{1,19}")
SUPPORTED_API_VERSIONS = frozenset({"2022-05-13", "2022-04-20-preview", "2024-01-26-preview"})


@dataclass(frozen=True)
class Governance:
    """What the governance endpoints report: the constitution, members and identities."""

    ledger_id: str
    node_id: str
    service_cert_pem: str
    constitution: str
    members: tuple[tuple[str, str], ...]  # (member id, certificate PEM)

    @property
    def constitution_digest(self) -> str:
        return hashlib.sha256(self.constitution.encode()).hexdigest()


@dataclass
class ServiceState:
    ledger: Ledger
    users: UserStore
    public_log: bool
    governance: Governance
    ssl_context: ssl.SSLContext | None = None
    tokens: TokenVerifier | None = None
    node_cert: x509.Certificate | None = None


STATE = web.AppKey("state", ServiceState)


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _status_for(exc: AccordError) -> tuple[int, str]:
    if isinstance(exc, NotFound):
        return 404, "NotFound"
    if isinstance(exc, AuthError):
        return 403, "Forbidden"
    if isinstance(exc, InvalidRequest | MalformedInput):
        return 400, "InvalidRequest"
    if isinstance(exc, StorageError):
        return 503, "StorageUnavailable"
    return 400, "BadRequest"


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        version = request.query.get("api-version")
        if version is not None and version not in SUPPORTED_API_VERSIONS:
            raise InvalidRequest(
                f"unsupported api-version {version!r}; supported: "
                + ", ".join(sorted(SUPPORTED_API_VERSIONS))
            )
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.content_type == "application/json" and exc.text:
            return web.Response(status=exc.status, text=exc.text, content_type="application/json")
        return error_response(exc.status, exc.reason.replace(" ", ""), exc.reason)
    except ConfigurationError:
        log.exception("configuration error on %s %s", request.method, request.path)
        return error_response(
            503, "ServiceMisconfigured", "the service is misconfigured; see its log"
        )
    except AccordError as exc:
        status, code = _status_for(exc)
        return error_response(status, code, str(exc))
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "InternalError", "internal error; see the service log")


def peer_user_id(request: web.Request) -> str | None:
    transport = request.transport
    if transport is None:
        return None
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    user_id, not_before, not_after = _certificate_facts(der)
    now = datetime.datetime.now(datetime.UTC)
    if not not_before <= now <= not_after:
        # The TLS layer accepts any certificate (users are registered by fingerprint), so the
        # validity period is enforced here.
        raise _unauthorized("the client certificate is expired or not yet valid")
    return user_id


@functools.lru_cache(maxsize=1024)
def _certificate_facts(der: bytes) -> tuple[str, datetime.datetime, datetime.datetime]:
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        raise _unauthorized("the client certificate cannot be parsed") from None
    return fingerprint(der), cert.not_valid_before_utc, cert.not_valid_after_utc


def authenticate(request: web.Request) -> User | None:
    """The user behind a request: a bearer token if one is sent, else the client certificate.

    A token that does not verify is refused outright (401), never downgraded to the certificate.
    """
    state = request.app[STATE]
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("the Authorization header must be 'Bearer <token>'")
        if state.tokens is None:
            raise _unauthorized("this ledger does not accept bearer tokens")
        try:
            user_id = state.tokens.user_id(token.strip())
        except AuthError as exc:
            raise _unauthorized(str(exc)) from None
        user = state.users.find(user_id)
        if user is None:
            raise _unauthorized(f"user {user_id} is not a user of this ledger")
        return user
    fingerprint_id = peer_user_id(request)
    if fingerprint_id is None:
        return None
    return state.users.find(fingerprint_id)


def _unauthorized(message: str) -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(
        text=json.dumps({"error": {"code": "Unauthorized", "message": message}}),
        content_type="application/json",
    )


def require(request: web.Request, roles: frozenset[str]) -> User:
    user = authenticate(request)
    if user is None:
        raise _unauthorized("a client certificate or bearer token of a known user is required")
    if user.role not in roles:
        raise AuthError(f"role {user.role} may not do this")
    return user


def require_log_reader(request: web.Request) -> None:
    if not request.app[STATE].public_log:
        require(request, READ_ROLES)


def _int_param(request: web.Request, name: str) -> int:
    raw = request.query.get(name)
    if raw is None:
        raise InvalidRequest(f"query parameter {name!r} is required")
    if not _DECIMAL.fullmatch(raw):
        raise InvalidRequest(f"query parameter {name!r} must be a non-negative integer")
    return int(raw)


def _collection_param(request: web.Request) -> str:
    return request.query.get("collectionId", DEFAULT_COLLECTION)


async def _in_thread(func: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, func, *args)


# --- verification endpoints -------------------------------------------------------------------
async def get_checkpoint(request: web.Request) -> web.Response:
    require_log_reader(request)
    note, _ = await _in_thread(request.app[STATE].ledger.latest_checkpoint)
    return web.Response(text=note, content_type="text/plain", charset="utf-8")


async def get_tile(request: web.Request) -> web.Response:
    require_log_reader(request)
    level, index, width = parse_tile_path(request.match_info["path"])
    ledger = request.app[STATE].ledger
    if level is None:
        body = await _in_thread(ledger.entry_bundle, index, width)
    else:
        body = await _in_thread(ledger.tile, level, index, width)
    headers = {"Cache-Control": "public, max-age=31536000, immutable"}
    return web.Response(body=body, content_type="application/octet-stream", headers=headers)


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


async def get_inclusion_proof(request: web.Request) -> web.Response:
    require_log_reader(request)
    index, size = _int_param(request, "index"), _int_param(request, "size")
    proof = await _in_thread(request.app[STATE].ledger.inclusion_proof, index, size)
    return web.json_response({"index": index, "size": size, "hashes": _b64(proof)})


async def get_consistency_proof(request: web.Request) -> web.Response:
    require_log_reader(request)
    first, second = _int_param(request, "from"), _int_param(request, "to")
    proof = await _in_thread(request.app[STATE].ledger.consistency_proof, first, second)
    return web.json_response({"from": first, "to": second, "hashes": _b64(proof)})


async def get_accord_receipt(request: web.Request) -> web.Response:
    require_log_reader(request)
    txid = TransactionId.parse(request.match_info["txid"])
    receipt = await _in_thread(request.app[STATE].ledger.receipt, txid)
    return web.json_response(receipt.to_json())


# --- application endpoints ------------------------------------------------------------------
async def _json_body(request: web.Request) -> Any:
    if request.content_type not in ("application/json", "application/merge-patch+json"):
        raise InvalidRequest(
            f"content type must be application/json, got {request.content_type or 'none'}"
        )
    limit = request.app[STATE].ledger.options.max_contents * 6 + 4096
    if request.content_length is not None and request.content_length > limit:
        raise InvalidRequest(f"request body of {request.content_length} bytes is too large")
    raw = await request.read()
    try:
        # Strict RFC 8259: UTF-8 only, no NaN/Infinity, no duplicate keys, bounded nesting.
        return parse_json(raw)
    except MalformedInput as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from exc


async def post_transaction(request: web.Request) -> web.Response:
    user = require(request, WRITE_ROLES)
    body = await _json_body(request)
    if not isinstance(body, dict) or not isinstance(body.get("contents"), str):
        raise InvalidRequest('body must be a JSON object with a string "contents"')
    tags_param = request.query.get("tags")
    tags = [t for t in tags_param.split(",") if t] if tags_param else []
    collection = _collection_param(request)
    ledger = request.app[STATE].ledger
    future = ledger.submit([NewEntry(body["contents"], collection, tags)], user_id=user.user_id)
    txids = await asyncio.wrap_future(future)
    txid = str(txids[0])
    headers = {"x-ms-ccf-transaction-id": txid}
    size = len(body["contents"].encode("utf-8", "surrogatepass"))
    if size > AZURE_MAX_CONTENTS:
        # Accepted here (the limit is configurable), but say what Azure would have answered, so
        # that code meant to stay portable to Azure Confidential Ledger notices.
        headers["x-accord-warning"] = (
            f"contents are {size} bytes; Azure Confidential Ledger refuses entries over "
            f"{AZURE_MAX_CONTENTS} bytes"
        )
    return web.json_response({"collectionId": collection, "transactionId": txid}, headers=headers)


async def get_transaction(request: web.Request) -> web.Response:
    require(request, READ_ROLES)
    txid = TransactionId.parse(request.match_info["txid"])
    # One indexed row read: cheaper on the event loop than a hop to a worker thread.
    entry = request.app[STATE].ledger.get_entry(txid)
    collection = request.query.get("collectionId")
    if collection is not None and collection != entry.metadata.collection_id:
        raise NotFound(f"transaction {txid} is not in collection {collection!r}")
    return web.json_response(
        {
            "state": "Ready",
            "entry": {
                "contents": entry.contents,
                "collectionId": entry.metadata.collection_id,
                "transactionId": str(txid),
                "tags": ",".join(entry.metadata.tags),
            },
        }
    )


async def get_transaction_status(request: web.Request) -> web.Response:
    require(request, READ_ROLES)
    txid = TransactionId.parse(request.match_info["txid"])
    status = request.app[STATE].ledger.status(txid)
    if status == "Unknown":
        raise NotFound(f"transaction {txid} does not exist")
    return web.json_response({"state": status, "transactionId": str(txid)})


async def get_current(request: web.Request) -> web.Response:
    require(request, READ_ROLES)
    ledger = request.app[STATE].ledger
    collection = _collection_param(request)
    size = await _in_thread(ledger.size)
    seqno = await _in_thread(ledger.storage.last_seqno_in_collection, collection, size)
    if seqno is None:
        raise NotFound(f"collection {collection!r} has no entries")
    entry = await _in_thread(ledger.get_entry, seqno)
    return web.json_response(
        {
            "contents": entry.contents,
            "collectionId": collection,
            "transactionId": str(entry.transaction_id),
        }
    )


async def get_ccf_receipt(request: web.Request) -> web.Response:
    """Azure/CCF-format receipt; ``Loading`` until a signed CCF root covers the entry."""
    require(request, READ_ROLES)
    state = request.app[STATE]
    txid = TransactionId.parse(request.match_info["txid"])
    if state.node_cert is None:
        raise NotFound("this node has no identity to sign CCF receipts with")
    body = await _in_thread(state.ledger.ccf_receipt, txid, state.node_cert)
    if body is None:
        return web.json_response({"state": "Loading", "transactionId": str(txid)})
    return web.json_response(body)


def build_app(state: ServiceState) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=64 * 1024 * 1024)
    app[STATE] = state
    app.router.add_get("/checkpoint", get_checkpoint)
    app.router.add_get("/tile/{path:.+}", get_tile)
    app.router.add_get("/proofs/inclusion", get_inclusion_proof)
    app.router.add_get("/proofs/consistency", get_consistency_proof)
    app.router.add_get("/receipts/{txid}", get_accord_receipt)
    app.router.add_post("/app/transactions", post_transaction)
    app.router.add_get("/app/transactions/current", get_current)
    app.router.add_get("/app/transactions/{txid}", get_transaction)
    app.router.add_get("/app/transactions/{txid}/status", get_transaction_status)
    app.router.add_get("/app/transactions/{txid}/receipt", get_ccf_receipt)
    from accord.service.acl import add_acl_routes
    from accord.service.openapi import add_openapi_route

    add_acl_routes(app)
    add_openapi_route(app)
    return app


def make_ssl_context(
    cert_file: str, key_file: str, service_cert_file: str, users: UserStore
) -> ssl.SSLContext:
    """Server TLS context: the node certificate, and every registered user certificate trusted."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"cannot load the node certificate: {exc}") from exc
    if not accept_any_client_certificate(ctx):
        log.warning(
            "this Python cannot accept arbitrary client certificates; only users registered "
            "with their certificate (not just a fingerprint) can authenticate by mTLS"
        )
        ctx.verify_mode = ssl.CERT_OPTIONAL
        trust_user_certificates(ctx, users)
    return ctx


def trust_user_certificates(ctx: ssl.SSLContext, users: UserStore) -> None:
    """Add registered certificates to the context (new handshakes see them; no restart)."""
    pems = [u.cert_pem for u in users.all() if u.cert_pem]
    if pems:
        ctx.load_verify_locations(cadata="\n".join(pems))
