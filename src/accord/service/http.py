"""HTTP plumbing every capability's routes share: authentication, parameters, bodies, errors.

* :func:`authenticate` / :func:`require`: who sent a request (bearer token, else TLS client
  certificate) and whether their role may do what they ask;
* :func:`int_param`, :func:`collection_param`, :func:`json_body`: parsing untrusted input, with
  the request body's size bounded *while* it is read (chunked or not);
* :func:`error_middleware`: every error leaves as ``{"error": {"code": ..., "message": ...}}`` with
  a 4xx status; a 500 is only ever an accord bug, and its details are logged, not sent.

Errors in the HTTP framing itself (before any route runs) are :mod:`accord.service.protocol`'s.
This module knows no routes and imports no capability.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from cryptography import x509

from accord.core.canonical import parse_json
from accord.core.entry import DEFAULT_COLLECTION
from accord.core.quoting import quoted
from accord.errors import (
    AccordError,
    AuthError,
    ConfigurationError,
    Conflict,
    EntryRedacted,
    Gone,
    InvalidRequest,
    MalformedInput,
    NotFound,
    OrderingUnavailable,
    StorageError,
)
from accord.identity import fingerprint
from accord.service.state import STATE
from accord.service.users import READ_ROLES, User

log = logging.getLogger("accord.service")

API_VERSIONS = ("2022-05-13", "2022-04-20-preview", "2024-01-26-preview")
SUPPORTED_API_VERSIONS = frozenset(API_VERSIONS)
JSON_CONTENT_TYPES = ("application/json", "application/merge-patch+json")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_DECIMAL = re.compile(r"[0-9]{1,19}")


def error_body(code: str, message: str, **details: str) -> str:
    """Azure's error shape; ``details`` are further members of ``error`` (a redaction's id)."""
    return json.dumps({"error": {"code": code, "message": message, **details}})


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    details: dict[str, str] | None = None,
) -> web.Response:
    return web.Response(
        status=status,
        text=error_body(code, message, **(details or {})),
        content_type="application/json",
        headers=headers,
    )


def unauthorized(message: str) -> web.HTTPUnauthorized:
    return web.HTTPUnauthorized(
        text=error_body("Unauthorized", message), content_type="application/json"
    )


def payload_too_large(limit: int, message: str) -> web.HTTPRequestEntityTooLarge:
    exc = web.HTTPRequestEntityTooLarge(
        limit, text=error_body("PayloadTooLarge", message), content_type="application/json"
    )
    # The rest of the body is not read into memory; the connection is not reused.
    exc.force_close()
    return exc


def status_for(exc: AccordError) -> tuple[int, str]:
    if isinstance(exc, EntryRedacted):
        return 410, "EntryRedacted"
    if isinstance(exc, Gone):
        return 410, "Gone"
    if isinstance(exc, NotFound):
        return 404, "NotFound"
    if isinstance(exc, Conflict):
        return 409, "Conflict"
    if isinstance(exc, AuthError):
        return 403, "Forbidden"
    if isinstance(exc, InvalidRequest | MalformedInput):
        return 400, "InvalidRequest"
    if isinstance(exc, OrderingUnavailable):
        return 503, "ServiceUnavailable"
    if isinstance(exc, StorageError):
        return 503, "StorageUnavailable"
    return 400, "BadRequest"


def _check_api_version(request: web.Request) -> None:
    version = request.query.get("api-version")
    if version is not None and version not in SUPPORTED_API_VERSIONS:
        raise InvalidRequest(
            f"unsupported api-version {version!r}; supported: "
            + ", ".join(sorted(SUPPORTED_API_VERSIONS))
        )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        _check_api_version(request)
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.content_type == "application/json" and exc.text:
            response = web.Response(
                status=exc.status, text=exc.text, content_type="application/json"
            )
        else:
            response = error_response(exc.status, exc.reason.replace(" ", ""), exc.reason)
        if exc.keep_alive is False:
            response.force_close()
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except ConfigurationError as exc:
        # The operator's to fix (say, a hand-edited users.json): one line that says what, no
        # traceback; the caller learns only that the service is misconfigured.
        log.error("configuration error on %s %s: %s", request.method, request.path, exc)
        return error_response(
            503, "ServiceMisconfigured", "the service is misconfigured; see its log"
        )
    except AccordError as exc:
        status, code = status_for(exc)
        details = (
            {"redactionTransactionId": exc.redaction_id} if isinstance(exc, EntryRedacted) else None
        )
        response = error_response(status, code, str(exc), details=details)
        if isinstance(exc, OrderingUnavailable):  # not acknowledged: the client may retry
            response.headers["Retry-After"] = str(max(1, round(exc.retry_after)))
        return response
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "InternalError", "internal error; see the service log")


# --- authentication ---------------------------------------------------------------------------
def peer_user_id(request: web.Request) -> str | None:
    """The fingerprint of the request's valid TLS client certificate, if it sent one."""
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
        raise unauthorized("the client certificate is expired or not yet valid")
    return user_id


@functools.lru_cache(maxsize=1024)
def _certificate_facts(der: bytes) -> tuple[str, datetime.datetime, datetime.datetime]:
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        raise unauthorized("the client certificate cannot be parsed") from None
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
            raise unauthorized("the Authorization header must be 'Bearer <token>'")
        if state.tokens is None:
            raise unauthorized("this ledger does not accept bearer tokens")
        try:
            user_id = state.tokens.user_id(token.strip())
        except AuthError as exc:
            raise unauthorized(str(exc)) from None
        user = state.users.find(user_id)
        if user is None:
            raise unauthorized(f"user {user_id} is not a user of this ledger")
        return user
    fingerprint_id = peer_user_id(request)
    if fingerprint_id is None:
        return None
    return state.users.find(fingerprint_id)


def require(request: web.Request, roles: frozenset[str]) -> User:
    """The authenticated user, if their role is one of ``roles``; else 401 or 403."""
    user = authenticate(request)
    if user is None:
        raise unauthorized("a client certificate or bearer token of a known user is required")
    if user.role not in roles:
        raise AuthError(f"role {user.role} may not do this")
    return user


def require_log_reader(request: web.Request) -> None:
    if not request.app[STATE].public_log:
        require(request, READ_ROLES)


# --- parameters and bodies --------------------------------------------------------------------
def int_param(request: web.Request, name: str) -> int:
    raw = request.query.get(name)
    if raw is None:
        raise InvalidRequest(f"query parameter {name!r} is required")
    if not _DECIMAL.fullmatch(raw):
        raise InvalidRequest(f"query parameter {name!r} must be a non-negative integer")
    return int(raw)


def collection_param(request: web.Request) -> str:
    return request.query.get("collectionId", DEFAULT_COLLECTION)


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it exceeds ``limit`` bytes.

    The limit holds while reading, so a chunked body (no Content-Length) is never held whole:
    reading stops at the first chunk past the limit.
    """
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise web.HTTPUnsupportedMediaType(
            text=error_body(
                "UnsupportedContentEncoding",
                f"Content-Encoding {quoted(encoding)} is not supported; send the body uncompressed",
            ),
            content_type="application/json",
        )
    declared = request.content_length
    if declared is not None and declared > limit:
        raise payload_too_large(
            limit, f"request body of {declared} bytes exceeds this route's limit of {limit} bytes"
        )
    chunks: list[bytes] = []
    size = 0
    content = request.content
    while True:
        chunk = await content.readany()
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise payload_too_large(
                limit, f"request body exceeds this route's limit of {limit} bytes"
            )
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def json_body(request: web.Request, limit: int) -> Any:
    """The request body as strict JSON (RFC 8259/I-JSON: see :func:`parse_json`)."""
    if request.content_type not in JSON_CONTENT_TYPES:
        raise InvalidRequest(
            f"content type must be application/json, got {request.content_type or 'none'}"
        )
    raw = await read_body(request, limit)
    try:
        return parse_json(raw)
    except MalformedInput as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from exc


def entry_body_limit(request: web.Request) -> int:
    """Body limit of a one-entry request: contents JSON-escaped (≤ 6 bytes a byte) plus room."""
    return int(request.app[STATE].ledger.options.max_contents) * 6 + 4096


async def in_thread(func: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, func, *args)
