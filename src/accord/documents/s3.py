"""The S3-compatible API of the document store (path-style: ``https://host:port/bucket/key``).

boto3 and the AWS CLI work against it unchanged with ``--endpoint-url`` (and the service
certificate as their CA bundle). Implemented operations: ListBuckets, CreateBucket (object lock
with ``x-amz-bucket-object-lock-enabled``), HeadBucket, Get/PutBucketVersioning (always
Enabled), Get/PutObjectLockConfiguration, PutObject, GetObject (with Range), HeadObject,
ListObjects(V2), ListObjectVersions, DeleteObject, DeleteObjects, multipart upload (create,
upload part, complete, abort, list parts, list uploads), Get/PutObjectRetention (GOVERNANCE and
COMPLIANCE, ``x-amz-bypass-governance-retention``), Get/PutObjectLegalHold, and checksums
(``x-amz-checksum-sha256``/``-crc32``/``-sha1`` and ``Content-MD5``). Requests are
authenticated with AWS Signature Version 4 (:mod:`accord.documents.sigv4`); there are no
anonymous requests. Errors are S3's XML error documents with S3's codes.

Who may do what (the access key's accord user, its role read from ``users.json`` per request):
Reader — read and list; Contributor — also write objects, delete (where retention allows), set or
extend retention and set legal holds; Administrator — also create containers, set their default
retention, clear legal holds and bypass GOVERNANCE retention.

accord's own addition: ``GET /bucket/key?versionId=V&accord-receipt`` answers the version's
document receipt (``docs/formats.md`` §19), which ``accord receipt verify --file`` checks offline.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import concurrent.futures
import contextlib
import datetime
import email.utils
import hashlib
import json
import logging
import secrets
import shutil
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from accord.documents import sigv4
from accord.documents import xml as sx
from accord.documents.blobs import CHUNK, BlobStore, StoredBlob
from accord.documents.keys import AccessKeyStore
from accord.documents.records import (
    COMPLIANCE,
    DAY_MS,
    GOVERNANCE,
    MAX_KEY_BYTES,
    MODES,
    Container,
    DefaultRetention,
    Retention,
    Version,
    format_ms,
    validate_container,
    validate_key,
    validate_metadata,
)
from accord.documents.store import DocumentStore
from accord.errors import (
    AccordError,
    AuthError,
    Conflict,
    DocumentLocked,
    InvalidRequest,
    NotFound,
    OrderingUnavailable,
    PreconditionFailed,
    StorageError,
)
from accord.service.users import ADMIN_ROLES, READ_ROLES, WRITE_ROLES, User, UserStore

log = logging.getLogger("accord.documents")

DEFAULT_S3_PORT = 8444
MAX_OBJECT = 5 * 1024**3  # S3's limit for one PUT
MAX_PARTS = 10_000
MAX_KEYS = 1000
REGION = "us-east-1"


class S3Error(Exception):
    """An answer in S3's error shape: HTTP status, S3 error code, message."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


@dataclass
class S3Context:
    store: DocumentStore
    users: UserStore
    keys: AccessKeyStore
    uploads: Path
    receipt: Callable[[str], dict[str, Any]]
    """The ledger receipt (``accord.receipt.v1`` JSON) of a transaction id."""
    record: Callable[[str], str]
    """The contents of the ledger entry of a transaction id (the document record)."""


S3 = web.AppKey("s3", S3Context)


# --- plumbing -------------------------------------------------------------------------------------
@dataclass
class Target:
    bucket: str | None
    key: str | None
    query: dict[str, str]
    pairs: list[tuple[str, str]]
    raw_path: str


def parse_target(request: web.Request) -> Target:
    raw = request.raw_path
    path, _, query = raw.partition("?")
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    parts = path.lstrip("/").split("/", 1)
    try:  # strict: two different raw keys must never decode to one
        bucket = urllib.parse.unquote(parts[0], errors="strict") if parts[0] else None
        key = (
            urllib.parse.unquote(parts[1], errors="strict") if len(parts) > 1 and parts[1] else None
        )
    except UnicodeDecodeError:
        raise S3Error(400, "InvalidURI", "the request path is not valid UTF-8") from None
    return Target(bucket, key, dict(pairs), pairs, path)


def _http_date(ms: int) -> str:
    return email.utils.formatdate(ms / 1000, usegmt=True)


def _iso(ms: int) -> str:
    return format_ms(ms)


def _parse_time(text: str, what: str) -> int:
    try:
        when = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise S3Error(
            400, "InvalidArgument", f"{what} must be an ISO 8601 date, e.g. 2030-01-01T00:00:00Z"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return int(when.timestamp() * 1000)


def _etag(sha256: str) -> str:
    return f'"{sha256[:32]}"'


def _b64(hexdigest: str) -> str:
    return base64.b64encode(bytes.fromhex(hexdigest)).decode()


async def _authenticate(request: web.Request, target: Target) -> User:
    ctx = request.app[S3]
    users: dict[str, str] = {}

    def secret_for(key_id: str) -> str | None:
        found = ctx.keys.lookup(key_id)
        if found is None:
            return None
        users[key_id] = found[0].user_id
        return found[1]

    headers = {k.lower(): ",".join(request.headers.getall(k)) for k in request.headers}
    verified = sigv4.verify_request(
        method=request.method,
        raw_path=target.raw_path,
        query_pairs=target.pairs,
        headers=headers,
        secret_for=secret_for,
        now=datetime.datetime.now(datetime.UTC),
    )
    request["sigv4"] = verified
    user = ctx.users.find(users[verified.access_key_id])
    if user is None:
        raise S3Error(
            403, "AccessDenied", "the access key's user is no longer a user of this ledger"
        )
    return user


def _require(user: User, roles: frozenset[str], what: str) -> None:
    if user.role not in roles:
        raise S3Error(
            403,
            "AccessDenied",
            f"{what} needs the role {' or '.join(sorted(roles))}; "
            f"this access key's user is a {user.role}",
        )


class _Body:
    """A request's payload, decoded from aws-chunked where it is. :meth:`chunks` streams it;
    :meth:`check` then checks its signed payload hash and every checksum it declares (headers
    or trailers). ``shared_sha256``: a ``hashlib.sha256()`` the caller updates with every chunk
    itself (the blob writer's), so the bytes are hashed once."""

    def __init__(self, request: web.Request, *, shared_sha256: Any = None) -> None:
        verified: sigv4.VerifiedRequest = request["sigv4"]
        self.request = request
        self.verified = verified
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.headers = headers
        chunked = verified.is_aws_chunked or "aws-chunked" in headers.get("content-encoding", "")
        self.decoder = sigv4.AwsChunkedDecoder.for_request(verified, headers) if chunked else None
        declared = headers.get("x-amz-decoded-content-length" if chunked else "content-length")
        if declared is not None:
            if not declared.isdigit():
                raise S3Error(400, "InvalidArgument", "the content length is not a number")
            if int(declared) > MAX_OBJECT:
                raise S3Error(
                    400,
                    "EntityTooLarge",
                    f"an object sent in one request is at most {MAX_OBJECT} bytes; use a "
                    "multipart upload",
                )
        elif headers.get("transfer-encoding", "").lower() != "chunked":
            raise S3Error(411, "MissingContentLength", "send a Content-Length header")
        self.declared = None if declared is None else int(declared)
        trailers = [n.strip() for n in headers.get("x-amz-trailer", "").split(",") if n.strip()]
        self.shared = shared_sha256
        self.checksums = sigv4.Checksums.for_declared(
            headers, trailers, shared_sha256=shared_sha256
        )
        self.size = 0

    async def chunks(self, batch: int = 0) -> AsyncIterator[bytes | bytearray]:
        """The payload. With ``batch``, in pieces of at least that many bytes (but the last),
        and the caller must pass each piece to :meth:`update` (e.g. from a worker thread)."""
        pending = bytearray()
        decoder = self.decoder
        async for data in self.request.content.iter_chunked(CHUNK):
            out = decoder.feed(data) if decoder is not None else data
            if not out:
                continue
            self.size += len(out)
            if self.size > MAX_OBJECT:
                raise S3Error(400, "EntityTooLarge", f"an object is at most {MAX_OBJECT} bytes")
            if batch <= 0:
                self.checksums.update(out)
                yield out
                continue
            pending += out
            if len(pending) >= batch:
                yield pending  # the caller owns it now (and updates the checksums)
                pending = bytearray()
        if pending:
            yield pending
        if decoder is not None:
            decoder.finish()
        if self.declared is not None and self.size != self.declared:
            raise S3Error(
                400,
                "IncompleteBody",
                f"the body had {self.size} bytes, {self.declared} were declared",
            )

    def update(self, data: bytes | bytearray) -> None:
        self.checksums.update(data)

    def check(self) -> None:
        """After every chunk was consumed (and, with a shared hash, hashed by the caller)."""
        self.verified.check_payload_sha256(self.checksums.hexdigest("sha256"))
        self.checksums.check_declared(self.headers)
        if self.decoder is not None:
            self.checksums.check_declared(self.decoder.trailers)


async def _read_small(request: web.Request, limit: int = sx.MAX_XML) -> bytes:
    body = _Body(request)
    out = bytearray()
    async for chunk in body.chunks():
        out += chunk
        if len(out) > limit:
            raise S3Error(400, "InvalidRequest", f"this request's body is at most {limit} bytes")
    body.check()
    return bytes(out)


PIPE_DEPTH = 4  # batches of CHUNK bytes queued for the writer thread of one upload
INLINE_BODY = 4 * CHUNK  # bodies up to this size are hashed and written on the event loop


async def _pipe(request: web.Request, writer: Any) -> None:
    """Stream a request's payload into ``writer`` (``write``, ``hasher``): socket reads and
    decoding on the event loop; checksums, hashing and writing in the upload's own thread, in
    order, with up to :data:`PIPE_DEPTH` batches queued. The payload's checks pass before
    this returns."""
    body = _Body(request, shared_sha256=writer.hasher)
    if body.declared is not None and body.declared <= INLINE_BODY:
        # small: a writer thread would cost more than hashing and writing here
        async for chunk in body.chunks(batch=CHUNK):
            body.update(chunk)
            writer.write(chunk)
        body.check()
        return
    loop = asyncio.get_running_loop()
    inflight: collections.deque[asyncio.Future[None]] = collections.deque()
    thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="accord-upload")
    try:

        def consume(chunk: bytes | bytearray) -> None:  # hashing and writing release the GIL
            body.update(chunk)
            writer.write(chunk)

        async for chunk in body.chunks(batch=CHUNK):
            while len(inflight) >= PIPE_DEPTH:
                await inflight.popleft()
            inflight.append(loop.run_in_executor(thread, consume, chunk))
        while inflight:
            await inflight.popleft()
        body.check()
    finally:
        if inflight:
            await asyncio.gather(*inflight, return_exceptions=True)
        thread.shutdown(wait=False)


async def _stream_into(store: BlobStore, request: web.Request) -> StoredBlob:
    """A new blob holding the request's payload, committed only once every check passed."""
    writer = store.writer()
    try:
        await _pipe(request, writer)
    except BaseException:
        writer.abort()
        raise
    return await asyncio.to_thread(writer.commit)


class _PartWriter:
    """One multipart part: a temporary file, fsync'd and renamed into place on commit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.tmp")
        self.file = open(self.tmp, "xb")
        self.hasher = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.file.write(data)
        self.hasher.update(data)
        self.size += len(data)

    def commit(self) -> tuple[str, int]:
        import os

        try:
            self.file.flush()
            os.fsync(self.file.fileno())
        finally:
            self.file.close()
        os.replace(self.tmp, self.path)
        return self.hasher.hexdigest(), self.size

    def abort(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)


def _bool_header(request: web.Request, name: str) -> bool:
    value = request.headers.get(name, "false").strip().lower()
    if value not in ("true", "false"):
        raise S3Error(400, "InvalidArgument", f"{name} must be true or false")
    return value == "true"


def _lock_headers(request: web.Request) -> tuple[Retention | None, bool]:
    mode = request.headers.get("x-amz-object-lock-mode")
    until = request.headers.get("x-amz-object-lock-retain-until-date")
    hold = request.headers.get("x-amz-object-lock-legal-hold", "OFF").upper()
    if hold not in ("ON", "OFF"):
        raise S3Error(400, "InvalidArgument", "x-amz-object-lock-legal-hold must be ON or OFF")
    retention = None
    if mode is not None or until is not None:
        if mode is None or until is None:
            raise S3Error(
                400,
                "InvalidArgument",
                "x-amz-object-lock-mode and "
                "x-amz-object-lock-retain-until-date must be given together",
            )
        retention = _retention(mode, until, request.app[S3].store.clock())
    return retention, hold == "ON"


def _check_lockable(c: Container, retention: Retention | None, hold: bool) -> None:
    if (retention is not None or hold) and not c.object_lock:
        raise S3Error(400, "InvalidRequest", "Bucket is missing Object Lock Configuration")


def _retention(mode: str, until: str, now: int) -> Retention:
    if mode not in MODES:
        raise S3Error(400, "InvalidArgument", f"the retention mode must be {' or '.join(MODES)}")
    ms = _parse_time(until, "the retain-until date")
    if ms <= now:
        raise S3Error(400, "InvalidArgument", "the retain until date must be in the future")
    return Retention(mode, ms)


def _metadata(request: web.Request) -> dict[str, str]:
    meta = {
        k[len("x-amz-meta-") :]: v
        for k, v in request.headers.items()
        if k.lower().startswith("x-amz-meta-")
    }
    return validate_metadata(meta)


def _container(request: web.Request, target: Target) -> Container:
    assert target.bucket is not None  # noqa: S101 - routing guarantees it
    try:
        return request.app[S3].store.state.container(target.bucket)
    except NotFound:
        raise S3Error(404, "NoSuchBucket", f"the bucket {target.bucket} does not exist") from None


def _version(request: web.Request, target: Target, c: Container) -> Version:
    key = target.key or ""
    vid = target.query.get("versionId")
    if vid is not None and vid != "null":
        try:
            return c.version(key, vid)
        except NotFound:
            raise S3Error(404, "NoSuchVersion", f"no version {vid} of {key}") from None
    latest = c.latest(key)
    if latest is None:
        raise S3Error(404, "NoSuchKey", f"the key {key} does not exist")
    if latest.delete_marker:
        raise S3Error(
            404,
            "NoSuchKey",
            f"the key {key} does not exist (its latest version is a delete marker)",
            headers={"x-amz-delete-marker": "true", "x-amz-version-id": latest.version_id},
        )
    return latest


def _version_headers(v: Version, *, checksum: bool = False) -> dict[str, str]:
    h = {
        "ETag": _etag(v.sha256),
        "Last-Modified": _http_date(v.time),
        "x-amz-version-id": v.version_id,
        "Accept-Ranges": "bytes",
        "Content-Type": v.content_type or "binary/octet-stream",
    }
    for name, value in v.metadata.items():
        h[f"x-amz-meta-{name}"] = value
    if v.retention is not None:
        h["x-amz-object-lock-mode"] = v.retention.mode
        h["x-amz-object-lock-retain-until-date"] = _iso(v.retention.retain_until)
    h["x-amz-object-lock-legal-hold"] = "ON" if v.legal_hold else "OFF"
    if checksum:
        h["x-amz-checksum-sha256"] = _b64(v.sha256)
        h["x-amz-checksum-type"] = "FULL_OBJECT"
    return h


def _xml(
    tag: str, children: list[str], *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=sx.document(tag, children),
        content_type="application/xml",
        headers=headers,
    )


# --- the dispatcher -------------------------------------------------------------------------------
async def handle(request: web.Request) -> web.StreamResponse:
    request_id = secrets.token_hex(8).upper()
    try:
        target = parse_target(request)
        response = await _dispatch(request, target)
    except S3Error as exc:
        response = _error(request, exc.status, exc.code, exc.message, request_id, exc.headers)
    except DocumentLocked as exc:
        response = _error(request, 403, "AccessDenied", str(exc), request_id)
    except PreconditionFailed as exc:
        response = _error(request, 412, "PreconditionFailed", str(exc), request_id)
    except AuthError as exc:
        response = _error(
            request,
            getattr(exc, "status", 403),
            getattr(exc, "code", "AccessDenied"),
            str(exc),
            request_id,
        )
    except NotFound as exc:
        response = _error(request, 404, "NoSuchKey", str(exc), request_id)
    except Conflict as exc:
        response = _error(request, 409, "OperationAborted", str(exc), request_id)
    except InvalidRequest as exc:
        response = _error(
            request,
            getattr(exc, "status", 400),
            getattr(exc, "code", "InvalidArgument"),
            str(exc),
            request_id,
        )
    except OrderingUnavailable as exc:
        response = _error(
            request,
            503,
            "ServiceUnavailable",
            str(exc),
            request_id,
            {"Retry-After": str(int(exc.retry_after + 0.999))},
        )
    except StorageError as exc:
        log.warning("documents: storage error: %s", exc)
        response = _error(
            request, 503, "ServiceUnavailable", "storage is unavailable; retry", request_id
        )
    except AccordError as exc:
        response = _error(request, 400, "InvalidRequest", str(exc), request_id)
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception:  # an accord bug: logged here, never sent
        log.exception("documents: internal error on %s %s", request.method, request.rel_url.path)
        response = _error(request, 500, "InternalError", "internal error", request_id)
    response.headers["x-amz-request-id"] = request_id
    return response


def _error(
    request: web.Request,
    status: int,
    code: str,
    message: str,
    request_id: str,
    headers: dict[str, str] | None = None,
) -> web.Response:
    resource = request.raw_path.partition("?")[0]
    if request.method == "HEAD":
        return web.Response(status=status, headers=headers)
    return web.Response(
        status=status,
        body=sx.error_document(code, message, resource, request_id),
        content_type="application/xml",
        headers=headers,
    )


async def _dispatch(request: web.Request, t: Target) -> web.StreamResponse:
    user = await _authenticate(request, t)
    request.app[S3].store.follow()  # in a consortium: other nodes' changes, before deciding
    m, q = request.method, t.query
    if t.bucket is None:
        if m == "GET":
            return _list_buckets(request, user)
        raise S3Error(405, "MethodNotAllowed", f"{m} / is not supported")
    if t.key is None:
        if m == "PUT":
            _valid_bucket_name(t.bucket)
            if "object-lock" in q:
                return await _put_lock_configuration(request, t, user)
            if "versioning" in q:
                return await _put_versioning(request, t, user)
            if _params(q):
                raise _unsupported(t)
            return await _create_bucket(request, t, user)
        if m == "HEAD":
            _require(user, READ_ROLES, "HeadBucket")
            _container(request, t)
            return web.Response(status=200, headers={"x-amz-bucket-region": REGION})
        if m == "GET":
            _require(user, READ_ROLES, "reading a bucket")
            c = _container(request, t)
            if "object-lock" in q:
                return _get_lock_configuration(c)
            if "versioning" in q:
                return _xml("VersioningConfiguration", [sx.leaf("Status", "Enabled")])
            if "location" in q:
                return _xml("LocationConstraint", [])
            if "versions" in q:
                return _list_versions(c, q)
            if "uploads" in q:
                return _list_uploads(request, c)
            if _params(q) - _LIST_PARAMS:
                raise _unsupported(t)
            return _list_objects(c, q)
        if m == "POST" and "delete" in q:
            return await _delete_objects(request, t, user)
        if m == "DELETE" and not _params(q):
            raise S3Error(
                405, "MethodNotAllowed", "buckets of immutable documents are never deleted"
            )
        raise _unsupported(t)
    _valid_key(t.key)
    if m == "PUT":
        if "retention" in q:
            return await _put_retention(request, t, user)
        if "legal-hold" in q:
            return await _put_legal_hold(request, t, user)
        if "uploadId" in q:
            return await _upload_part(request, t, user)
        if "x-amz-copy-source" in request.headers:
            raise S3Error(
                501,
                "NotImplemented",
                "CopyObject is not supported: download and upload the object instead",
            )
        if _params(q):
            raise _unsupported(t)
        return await _put_object(request, t, user)
    if m in ("GET", "HEAD"):
        _require(user, READ_ROLES, "reading an object")
        c = _container(request, t)
        if m == "GET" and "retention" in q:
            return _get_retention(request, t, c)
        if m == "GET" and "legal-hold" in q:
            return _get_legal_hold(request, t, c)
        if m == "GET" and "accord-receipt" in q:
            return _get_receipt(request, t, c)
        if m == "GET" and "uploadId" in q:
            return _list_parts(request, t, c)
        if {p for p in _params(q) if not p.startswith("response-")} - {"versionId"}:
            raise _unsupported(t)
        return await _get_object(request, t, c, head=m == "HEAD")
    if m == "DELETE":
        if "uploadId" in q:
            return await _abort_upload(request, t, user)
        if _params(q) - {"versionId"}:
            raise _unsupported(t)
        return await _delete_object(request, t, user)
    if m == "POST":
        if "uploads" in q:
            return await _create_upload(request, t, user)
        if "uploadId" in q:
            return await _complete_upload(request, t, user)
    raise _unsupported(t)


# Query parameters of the listings (ListObjects, ListObjectsV2); anything else on a bucket GET
# is a subresource accord does not implement (acl, policy, tagging, encryption, ...).
_LIST_PARAMS = frozenset(
    {
        "prefix",
        "delimiter",
        "marker",
        "max-keys",
        "encoding-type",
        "list-type",
        "continuation-token",
        "start-after",
        "fetch-owner",
    }
)


def _params(q: dict[str, str]) -> set[str]:
    """The query's parameter names that select or qualify an operation: not the presigned URL's
    ``X-Amz-*`` authentication, nor botocore's ``x-id`` (the operation's name)."""
    return {n for n in q if n != "x-id" and not n.lower().startswith("x-amz-")}


def _valid_bucket_name(name: str) -> None:
    try:
        validate_container(name)
    except InvalidRequest as exc:
        raise S3Error(400, "InvalidBucketName", str(exc)) from None


def _valid_key(key: str) -> None:
    try:
        validate_key(key)
    except InvalidRequest as exc:
        too_long = len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES
        raise S3Error(400, "KeyTooLongError" if too_long else "InvalidArgument", str(exc)) from None


def _unsupported(t: Target) -> S3Error:
    sub = ",".join(sorted(t.query)) or "this request"
    return S3Error(501, "NotImplemented", f"{sub}: this S3 operation is not implemented by accord")


# --- buckets --------------------------------------------------------------------------------------
def _list_buckets(request: web.Request, user: User) -> web.Response:
    _require(user, READ_ROLES, "ListBuckets")
    state = request.app[S3].store.state
    buckets = [
        sx.element("Bucket", sx.leaf("Name", c.name), sx.leaf("CreationDate", _iso(c.created)))
        for c in sorted(state.containers.values(), key=lambda c: c.name)
    ]
    owner = sx.element("Owner", sx.leaf("ID", user.user_id), sx.leaf("DisplayName", user.user_id))
    return _xml("ListAllMyBucketsResult", [owner, sx.element("Buckets", *buckets)])


async def _create_bucket(request: web.Request, t: Target, user: User) -> web.Response:
    _require(user, ADMIN_ROLES, "CreateBucket")
    body = await _read_small(request)
    if body.strip():
        root = sx.parse(body)
        if root.tag != "CreateBucketConfiguration":
            raise sx.MalformedXML("expected a CreateBucketConfiguration")
    lock = _bool_header(request, "x-amz-bucket-object-lock-enabled")
    store = request.app[S3].store
    assert t.bucket is not None  # noqa: S101
    if t.bucket in store.state.containers:
        raise S3Error(409, "BucketAlreadyOwnedByYou", f"the bucket {t.bucket} already exists")
    copies_header = request.headers.get("x-accord-copies")
    copies = None
    if copies_header is not None:
        copies = [c.strip() for c in copies_header.split(",") if c.strip()]
        if not copies:
            raise S3Error(400, "InvalidArgument", "x-accord-copies names no organization")
    await store.create_container(t.bucket, object_lock=lock, by=user.user_id, copies=copies)
    return web.Response(status=200, headers={"Location": f"/{t.bucket}"})


def _get_lock_configuration(c: Container) -> web.Response:
    if not c.object_lock:
        raise S3Error(
            404,
            "ObjectLockConfigurationNotFoundError",
            f"the bucket {c.name} was created without object lock",
        )
    children = [sx.leaf("ObjectLockEnabled", "Enabled")]
    if c.default_retention is not None:
        d = c.default_retention
        children.append(
            sx.element(
                "Rule",
                sx.element("DefaultRetention", sx.leaf("Mode", d.mode), sx.leaf("Days", d.days)),
            )
        )
    return _xml("ObjectLockConfiguration", children)


async def _put_lock_configuration(request: web.Request, t: Target, user: User) -> web.Response:
    _require(user, ADMIN_ROLES, "PutObjectLockConfiguration")
    root = sx.parse(await _read_small(request))
    c = _container(request, t)
    if root.tag != "ObjectLockConfiguration":
        raise sx.MalformedXML("expected an ObjectLockConfiguration")
    if sx.text_of(root, "ObjectLockEnabled") not in (None, "Enabled"):
        raise S3Error(400, "MalformedXML", "ObjectLockEnabled must be Enabled")
    if not c.object_lock:
        raise S3Error(
            409,
            "InvalidBucketState",
            f"the bucket {c.name} was created without "
            "object lock; create a new bucket with object lock enabled",
        )
    default = None
    rule = root.find("Rule/DefaultRetention")
    if rule is not None:
        mode = sx.text_of(rule, "Mode")
        days, years = sx.text_of(rule, "Days"), sx.text_of(rule, "Years")
        if mode not in MODES:
            raise S3Error(400, "MalformedXML", f"Mode must be {' or '.join(MODES)}")
        if (days is None) == (years is None):
            raise S3Error(400, "MalformedXML", "give Days or Years, exactly one")
        try:
            n = int(days) if days is not None else int(years or "") * 365
        except ValueError:
            raise S3Error(400, "MalformedXML", "Days and Years are whole numbers") from None
        try:
            default = DefaultRetention.from_json({"mode": mode, "days": n})
        except AccordError as exc:
            raise S3Error(400, "InvalidArgument", str(exc)) from None
    bypass = _bool_header(request, "x-amz-bypass-governance-retention")
    await request.app[S3].store.set_default_retention(
        c.name, default, by=user.user_id, bypass=bypass
    )
    return web.Response(status=200)


async def _put_versioning(request: web.Request, t: Target, user: User) -> web.Response:
    _require(user, ADMIN_ROLES, "PutBucketVersioning")
    root = sx.parse(await _read_small(request))
    _container(request, t)
    if sx.text_of(root, "Status") != "Enabled":
        raise S3Error(
            400,
            "InvalidBucketState",
            "immutable documents are always versioned; versioning cannot be suspended",
        )
    return web.Response(status=200)


# --- listing --------------------------------------------------------------------------------------
def _max_keys(q: dict[str, str]) -> int:
    try:
        n = int(q.get("max-keys", str(MAX_KEYS)))
    except ValueError:
        raise S3Error(400, "InvalidArgument", "max-keys must be a whole number") from None
    if n < 0:
        raise S3Error(400, "InvalidArgument", "max-keys must not be negative")
    return min(n, MAX_KEYS)


def _encoder(q: dict[str, str]) -> Callable[[str], str]:
    kind = q.get("encoding-type")
    if kind is None:
        return lambda s: s
    if kind != "url":
        raise S3Error(400, "InvalidArgument", "encoding-type must be url")
    return lambda s: urllib.parse.quote_plus(s, safe="/")


def _walk(
    keys: list[str], prefix: str, delimiter: str, after: str, limit: int
) -> tuple[list[str], list[str], bool, str]:
    """S3's listing: keys after ``after`` under ``prefix``, rolled up at ``delimiter``; returns
    (keys, common prefixes, truncated, last item returned)."""
    out_keys: list[str] = []
    prefixes: list[str] = []
    last = ""
    count = 0
    for key in keys:
        if not key.startswith(prefix) or key <= after:
            continue
        item = key
        if delimiter:
            cut = key.find(delimiter, len(prefix))
            if cut >= 0:
                item = key[: cut + len(delimiter)]
                if prefixes and prefixes[-1] == item:
                    continue
                if after.startswith(item):
                    continue
        if count >= limit:
            return out_keys, prefixes, True, last
        if item is key:
            out_keys.append(key)
        else:
            prefixes.append(item)
        last = item
        count += 1
    return out_keys, prefixes, False, last


def _live_keys(c: Container) -> list[str]:
    return sorted(k for k, vs in c.objects.items() if vs and not vs[-1].delete_marker)


def _list_objects(c: Container, q: dict[str, str]) -> web.Response:
    v2 = q.get("list-type") == "2"
    enc = _encoder(q)
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    limit = _max_keys(q)
    if v2:
        token = q.get("continuation-token")
        if token is not None:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode()
            except (ValueError, UnicodeDecodeError):
                raise S3Error(
                    400, "InvalidArgument", "the continuation token is not valid"
                ) from None
        else:
            after = q.get("start-after", "")
    else:
        after = q.get("marker", "")
    keys, prefixes, truncated, last = _walk(_live_keys(c), prefix, delimiter, after, limit)
    children = [
        sx.leaf("Name", c.name),
        sx.leaf("Prefix", enc(prefix)),
        sx.leaf("MaxKeys", limit),
        sx.leaf("IsTruncated", truncated),
    ]
    if delimiter:
        children.append(sx.leaf("Delimiter", enc(delimiter)))
    if "encoding-type" in q:
        children.append(sx.leaf("EncodingType", "url"))
    if v2:
        children.append(sx.leaf("KeyCount", len(keys) + len(prefixes)))
        if "continuation-token" in q:
            children.append(sx.leaf("ContinuationToken", q["continuation-token"]))
        if "start-after" in q:
            children.append(sx.leaf("StartAfter", enc(q["start-after"])))
        if truncated:
            token = base64.urlsafe_b64encode(last.encode()).decode()
            children.append(sx.leaf("NextContinuationToken", token))
    else:
        children.append(sx.leaf("Marker", enc(after)))
        if truncated and delimiter:
            children.append(sx.leaf("NextMarker", enc(last)))
    for key in keys:
        v = c.objects[key][-1]
        children.append(
            sx.element(
                "Contents",
                sx.leaf("Key", enc(key)),
                sx.leaf("LastModified", _iso(v.time)),
                sx.leaf("ETag", _etag(v.sha256)),
                sx.leaf("Size", v.size),
                sx.leaf("StorageClass", "STANDARD"),
                sx.leaf("ChecksumAlgorithm", "SHA256"),
            )
        )
    for p in prefixes:
        children.append(sx.element("CommonPrefixes", sx.leaf("Prefix", enc(p))))
    return _xml("ListBucketResult", children)


def _list_versions(c: Container, q: dict[str, str]) -> web.Response:
    enc = _encoder(q)
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    limit = _max_keys(q)
    key_marker, vid_marker = q.get("key-marker", ""), q.get("version-id-marker", "")
    items: list[str] = []
    prefixes: list[str] = []
    truncated = False
    next_key = next_vid = ""
    for key in sorted(c.objects):
        if not key.startswith(prefix):
            continue
        if delimiter:
            cut = key.find(delimiter, len(prefix))
            if cut >= 0:
                p = key[: cut + len(delimiter)]
                if (not prefixes or prefixes[-1] != p) and p > key_marker:
                    if len(items) + len(prefixes) >= limit:
                        truncated = True
                        break
                    prefixes.append(p)
                    next_key, next_vid = p, ""
                continue
        newest_first = list(reversed(c.objects[key]))
        if key < key_marker:
            continue
        if key == key_marker:
            if not vid_marker:
                continue
            ids = [v.version_id for v in newest_first]
            if vid_marker not in ids:
                continue
            newest_first = newest_first[ids.index(vid_marker) + 1 :]
        for i, v in enumerate(newest_first):
            if len(items) + len(prefixes) >= limit:
                truncated = True
                break
            latest = v is c.objects[key][-1]
            if v.delete_marker:
                items.append(
                    sx.element(
                        "DeleteMarker",
                        sx.leaf("Key", enc(key)),
                        sx.leaf("VersionId", v.version_id),
                        sx.leaf("IsLatest", latest),
                        sx.leaf("LastModified", _iso(v.time)),
                    )
                )
            else:
                items.append(
                    sx.element(
                        "Version",
                        sx.leaf("Key", enc(key)),
                        sx.leaf("VersionId", v.version_id),
                        sx.leaf("IsLatest", latest),
                        sx.leaf("LastModified", _iso(v.time)),
                        sx.leaf("ETag", _etag(v.sha256)),
                        sx.leaf("Size", v.size),
                        sx.leaf("StorageClass", "STANDARD"),
                    )
                )
            next_key, next_vid = key, v.version_id
            del i
        if truncated:
            break
    children = [
        sx.leaf("Name", c.name),
        sx.leaf("Prefix", enc(prefix)),
        sx.leaf("KeyMarker", enc(key_marker)),
        sx.leaf("VersionIdMarker", vid_marker),
        sx.leaf("MaxKeys", limit),
        sx.leaf("IsTruncated", truncated),
    ]
    if delimiter:
        children.append(sx.leaf("Delimiter", enc(delimiter)))
    if "encoding-type" in q:
        children.append(sx.leaf("EncodingType", "url"))
    if truncated:
        children.append(sx.leaf("NextKeyMarker", enc(next_key)))
        if next_vid:
            children.append(sx.leaf("NextVersionIdMarker", next_vid))
    children += items
    children += [sx.element("CommonPrefixes", sx.leaf("Prefix", enc(p))) for p in prefixes]
    return _xml("ListVersionsResult", children)


# --- objects --------------------------------------------------------------------------------------
async def _put_object(request: web.Request, t: Target, user: User) -> web.Response:
    _require(user, WRITE_ROLES, "PutObject")
    ctx = request.app[S3]
    c = _container(request, t)
    retention, hold = _lock_headers(request)
    metadata = _metadata(request)
    _check_lockable(c, retention, hold)
    ctx.store.precheck_put(c.name, t.key or "", retention, hold)
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None and if_none_match.strip() != "*":
        raise S3Error(501, "NotImplemented", "a PUT's If-None-Match can only be *")
    latest = c.latest(t.key or "")
    if if_none_match is not None and latest is not None and not latest.delete_marker:
        raise S3Error(412, "PreconditionFailed", f"{t.key} exists (If-None-Match: *)")
    blob = await _stream_into(ctx.store.blobs, request)
    v = await ctx.store.put_version(
        c.name,
        t.key or "",
        blob,
        content_type=request.headers.get("Content-Type", "binary/octet-stream"),
        metadata=metadata,
        retention=retention,
        legal_hold=hold,
        by=user.user_id,
        if_match=request.headers.get("If-Match"),
        if_none_match=if_none_match,
    )
    headers = {
        "ETag": _etag(v.sha256),
        "x-amz-version-id": v.version_id,
        "x-amz-checksum-sha256": _b64(v.sha256),
    }
    return web.Response(status=200, headers=headers)


_RANGE_UNITS = "bytes="


def _range(header: str, size: int) -> tuple[int, int] | None:
    """``[start, end)`` of a single-range ``Range`` header; None if it is to be ignored."""
    if not header.startswith(_RANGE_UNITS) or "," in header:
        return None
    spec = header[len(_RANGE_UNITS) :].strip()
    first, sep, last = spec.partition("-")
    if not sep:
        return None
    try:
        if first == "":
            n = int(last)
            if n <= 0:
                raise ValueError
            start, end = max(0, size - n), size
        else:
            start = int(first)
            end = size if last == "" else min(int(last) + 1, size)
            if start < 0 or (last != "" and int(last) < start):
                return None
    except ValueError:
        return None
    if start >= size:
        raise S3Error(
            416,
            "InvalidRange",
            f"the range {header} is not satisfiable for an object of {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return start, end


# GetObject's response-* query parameters override these answer headers (for presigned URLs).
_RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


async def _get_object(
    request: web.Request, t: Target, c: Container, *, head: bool
) -> web.StreamResponse:
    vid = t.query.get("versionId")
    if vid is not None and vid != "null":
        try:
            v = c.version(t.key or "", vid)
        except NotFound:
            raise S3Error(404, "NoSuchVersion", f"no version {vid} of {t.key}") from None
        if v.delete_marker:
            raise S3Error(
                405,
                "MethodNotAllowed",
                "that version is a delete marker",
                headers={"x-amz-delete-marker": "true", "x-amz-version-id": vid},
            )
    else:
        v = _version(request, t, c)
    headers = _version_headers(v)
    status = 200
    start, end = 0, v.size
    range_header = request.headers.get("Range")
    if range_header and v.size > 0:
        r = _range(range_header, v.size)
        if r is not None:
            start, end = r
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{v.size}"
    if status == 200 and request.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED":
        headers.update(_version_headers(v, checksum=True))
    inm = request.headers.get("If-None-Match")
    if inm is not None and inm.strip() in (_etag(v.sha256), "*"):
        return web.Response(status=304, headers={"ETag": _etag(v.sha256)})
    im = request.headers.get("If-Match")
    if im is not None and im.strip() not in (_etag(v.sha256), "*"):
        raise S3Error(412, "PreconditionFailed", "If-Match does not match the object's ETag")
    for param, header in _RESPONSE_OVERRIDES.items():
        if param in t.query:
            value = t.query[param]
            if any((ord(ch) < 32 and ch != "\t") or ord(ch) == 127 for ch in value):
                raise S3Error(400, "InvalidArgument", f"{param} may not hold control characters")
            headers[header] = value
    headers["Content-Length"] = str(end - start)
    blobs = request.app[S3].store.blobs
    if head:
        return web.Response(status=status, headers=headers)
    await request.app[S3].store.ensure_blob(v.sha256)  # a consortium peer may hold them
    chunks = await asyncio.to_thread(blobs.read, v.sha256, start, end)
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = end - start
    await response.prepare(request)
    await send_chunks(response, chunks)
    await response.write_eof()
    return response


async def send_chunks(response: web.StreamResponse, chunks: Iterator[bytes]) -> None:
    """Write a blob's chunks, reading the next one (in a thread) while this one is sent."""
    loop = asyncio.get_running_loop()
    nxt = loop.run_in_executor(None, next, chunks, None)
    while True:
        chunk = await nxt
        if chunk is None:
            return
        nxt = loop.run_in_executor(None, next, chunks, None)
        try:
            await response.write(chunk)
        except BaseException:
            await asyncio.gather(nxt, return_exceptions=True)
            raise


async def _delete_object(request: web.Request, t: Target, user: User) -> web.Response:
    _require(user, WRITE_ROLES, "DeleteObject")
    c = _container(request, t)
    bypass = _bool_header(request, "x-amz-bypass-governance-retention")
    if bypass:
        _require(user, ADMIN_ROLES, "bypassing GOVERNANCE retention")
    vid = t.query.get("versionId")
    key = t.key or ""
    store = request.app[S3].store
    if vid is None:
        marker = await store.delete(c.name, key, None, by=user.user_id, bypass=False)
        assert marker is not None  # noqa: S101
        return web.Response(
            status=204,
            headers={"x-amz-delete-marker": "true", "x-amz-version-id": marker.version_id},
        )
    try:
        target = c.version(key, vid)
    except NotFound:
        raise S3Error(404, "NoSuchVersion", f"no version {vid} of {key}") from None
    await store.delete(c.name, key, vid, by=user.user_id, bypass=bypass)
    headers = {"x-amz-version-id": vid}
    if target.delete_marker:
        headers["x-amz-delete-marker"] = "true"
    return web.Response(status=204, headers=headers)


async def _delete_objects(request: web.Request, t: Target, user: User) -> web.Response:
    _require(user, WRITE_ROLES, "DeleteObjects")
    c = _container(request, t)
    root = sx.parse(await _read_small(request))
    bypass = _bool_header(request, "x-amz-bypass-governance-retention")
    if bypass:
        _require(user, ADMIN_ROLES, "bypassing GOVERNANCE retention")
    quiet = (sx.text_of(root, "Quiet") or "false").lower() == "true"
    objects = root.findall("Object")
    if len(objects) > 1000:
        raise S3Error(400, "MalformedXML", "at most 1000 objects per DeleteObjects request")
    store = request.app[S3].store
    out: list[str] = []
    for obj in objects:
        key = sx.text_of(obj, "Key", strip=False) or ""
        vid = sx.text_of(obj, "VersionId", strip=False)
        try:
            validate_key(key)
            if vid is not None:
                c.version(key, vid)
            marker = await store.delete(c.name, key, vid, by=user.user_id, bypass=bypass)
        except DocumentLocked as exc:
            out.append(_delete_error(key, vid, "AccessDenied", str(exc)))
            continue
        except NotFound as exc:
            out.append(_delete_error(key, vid, "NoSuchVersion", str(exc)))
            continue
        except InvalidRequest as exc:
            out.append(_delete_error(key, vid, "InvalidArgument", str(exc)))
            continue
        if quiet:
            continue
        parts = [sx.leaf("Key", key)]
        if vid is not None:
            parts.append(sx.leaf("VersionId", vid))
        if marker is not None:
            parts += [
                sx.leaf("DeleteMarker", True),
                sx.leaf("DeleteMarkerVersionId", marker.version_id),
            ]
        out.append(sx.element("Deleted", *parts))
    return _xml("DeleteResult", out)


def _delete_error(key: str, vid: str | None, code: str, message: str) -> str:
    parts = [sx.leaf("Key", key)]
    if vid is not None:
        parts.append(sx.leaf("VersionId", vid))
    return sx.element("Error", *parts, sx.leaf("Code", code), sx.leaf("Message", message))


# --- retention and legal hold ---------------------------------------------------------------------
def _locked_version(request: web.Request, t: Target, c: Container) -> Version:
    if not c.object_lock:
        raise S3Error(400, "InvalidRequest", "Bucket is missing Object Lock Configuration")
    v = _version(request, t, c)
    return v


def _get_retention(request: web.Request, t: Target, c: Container) -> web.Response:
    v = _locked_version(request, t, c)
    if v.retention is None:
        raise S3Error(
            404, "NoSuchObjectLockConfiguration", f"{t.key} version {v.version_id} has no retention"
        )
    return _xml(
        "Retention",
        [
            sx.leaf("Mode", v.retention.mode),
            sx.leaf("RetainUntilDate", _iso(v.retention.retain_until)),
        ],
    )


async def _put_retention(request: web.Request, t: Target, user: User) -> web.Response:
    _require(user, WRITE_ROLES, "PutObjectRetention")
    c = _container(request, t)
    root = sx.parse(await _read_small(request))
    bypass = _bool_header(request, "x-amz-bypass-governance-retention")
    if bypass:
        _require(user, ADMIN_ROLES, "bypassing GOVERNANCE retention")
    v = _locked_version(request, t, c)
    if root.tag != "Retention":
        raise sx.MalformedXML("expected a Retention element")
    mode, until = sx.text_of(root, "Mode"), sx.text_of(root, "RetainUntilDate")
    store = request.app[S3].store
    if mode is None and until is None:
        retention = None
    elif mode is None or until is None:
        raise S3Error(400, "MalformedXML", "Retention needs both Mode and RetainUntilDate")
    else:
        retention = _retention(mode, until, store.clock())
    await store.set_retention(
        c.name, v.key, v.version_id, retention, by=user.user_id, bypass=bypass
    )
    return web.Response(status=200)


def _get_legal_hold(request: web.Request, t: Target, c: Container) -> web.Response:
    v = _locked_version(request, t, c)
    return _xml("LegalHold", [sx.leaf("Status", "ON" if v.legal_hold else "OFF")])


async def _put_legal_hold(request: web.Request, t: Target, user: User) -> web.Response:
    _require(user, WRITE_ROLES, "PutObjectLegalHold")
    c = _container(request, t)
    root = sx.parse(await _read_small(request))
    v = _locked_version(request, t, c)
    status = sx.text_of(root, "Status")
    if root.tag != "LegalHold" or status not in ("ON", "OFF"):
        raise S3Error(400, "MalformedXML", "expected <LegalHold><Status>ON|OFF</Status>")
    administrator = user.role in ADMIN_ROLES
    if status == "OFF" and v.legal_hold and not administrator:
        _require(user, ADMIN_ROLES, "clearing a legal hold")
    # the fold judges the clearing again against the hold as ordered (a concurrent ON)
    await request.app[S3].store.set_hold(
        c.name, v.key, v.version_id, status == "ON", by=user.user_id, administrator=administrator
    )
    return web.Response(status=200)


# --- receipts -------------------------------------------------------------------------------------
RECEIPT_FORMAT = "accord.document-receipt.v1"


def _get_receipt(request: web.Request, t: Target, c: Container) -> web.Response:
    v = _version(request, t, c)
    ctx = request.app[S3]
    try:
        receipt = ctx.receipt(v.version_id)
    except InvalidRequest:  # the ledger's "not committed yet" (the version itself exists)
        raise S3Error(
            409,
            "OperationAborted",
            f"version {v.version_id} is not committed yet; retry in a moment",
        ) from None
    body = {"format": RECEIPT_FORMAT, "receipt": receipt, "record": ctx.record(v.version_id)}
    return web.json_response(body)


# --- multipart upload -----------------------------------------------------------------------------
def _upload_dir(request: web.Request, upload_id: str) -> Path:
    if len(upload_id) != 32 or not all(ch in "0123456789abcdef" for ch in upload_id):
        raise S3Error(404, "NoSuchUpload", "the upload id is not valid")
    path = request.app[S3].uploads / upload_id
    if not (path / "upload.json").is_file():
        raise S3Error(404, "NoSuchUpload", "no such upload (it was completed or aborted)")
    return path


def _upload_info(path: Path, t: Target) -> dict[str, Any]:
    try:
        info: dict[str, Any] = json.loads((path / "upload.json").read_text())
    except FileNotFoundError:  # completed or aborted a moment ago
        raise S3Error(404, "NoSuchUpload", "no such upload (it was completed or aborted)") from None
    if info["bucket"] != t.bucket or info["key"] != t.key:
        raise S3Error(404, "NoSuchUpload", "that upload id belongs to another object")
    return info


def _write_json(path: Path, obj: Any) -> None:
    from accord.identity import write_public

    write_public(path, json.dumps(obj).encode())


async def _create_upload(request: web.Request, t: Target, user: User) -> web.Response:
    _require(user, WRITE_ROLES, "CreateMultipartUpload")
    ctx = request.app[S3]
    c = _container(request, t)
    retention, hold = _lock_headers(request)
    metadata = _metadata(request)
    _check_lockable(c, retention, hold)
    ctx.store.precheck_put(c.name, t.key or "", retention, hold)
    upload_id = secrets.token_hex(16)
    path = ctx.uploads / upload_id
    path.mkdir(parents=True, mode=0o700)
    _write_json(
        path / "upload.json",
        {
            "bucket": c.name,
            "key": t.key,
            "user": user.user_id,
            "contentType": request.headers.get("Content-Type", "binary/octet-stream"),
            "metadata": metadata,
            "retention": retention.to_json() if retention else None,
            "legalHold": hold,
            "initiated": ctx.store.clock(),
        },
    )
    return _xml(
        "InitiateMultipartUploadResult",
        [sx.leaf("Bucket", c.name), sx.leaf("Key", t.key or ""), sx.leaf("UploadId", upload_id)],
    )


def _part_number(q: dict[str, str]) -> int:
    try:
        n = int(q.get("partNumber", ""))
    except ValueError:
        raise S3Error(400, "InvalidArgument", "partNumber must be 1-10000") from None
    if not 1 <= n <= MAX_PARTS:
        raise S3Error(400, "InvalidArgument", "partNumber must be 1-10000")
    return n


async def _upload_part(request: web.Request, t: Target, user: User) -> web.Response:
    _require(user, WRITE_ROLES, "UploadPart")
    path = _upload_dir(request, t.query["uploadId"])
    _upload_info(path, t)
    n = _part_number(t.query)
    writer = _PartWriter(path / f"part-{n:05d}.data")
    try:
        await _pipe(request, writer)
    except BaseException:
        writer.abort()
        raise
    try:
        digest, size = await asyncio.to_thread(writer.commit)
        _write_json(path / f"part-{n:05d}.json", {"sha256": digest, "size": size})
    except FileNotFoundError:  # the upload was completed or aborted while this part streamed
        raise S3Error(404, "NoSuchUpload", "the upload was completed or aborted") from None
    return web.Response(
        status=200, headers={"ETag": _etag(digest), "x-amz-checksum-sha256": _b64(digest)}
    )


def _parts(path: Path) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for meta in sorted(path.glob("part-*.json")):
        n = int(meta.name[5:10])
        out[n] = json.loads(meta.read_text())
    return out


async def _complete_upload(request: web.Request, t: Target, user: User) -> web.Response:
    _require(user, WRITE_ROLES, "CompleteMultipartUpload")
    path = _upload_dir(request, t.query["uploadId"])
    info = _upload_info(path, t)
    root = sx.parse(await _read_small(request))
    if root.tag != "CompleteMultipartUpload":
        raise sx.MalformedXML("expected a CompleteMultipartUpload")
    c = _container(request, t)
    # Claimed before its parts are read: one completion (or abort) wins, the others get 404.
    claimed = _claim_upload(path, "completing")
    try:
        chosen = _chosen_parts(root, _parts(claimed))
        v = await _assemble_and_record(request, t, user, c, claimed, chosen, info)
    except BaseException:
        with contextlib.suppress(OSError):
            claimed.rename(path)  # not completed: the upload stays, as it was
        raise
    await asyncio.to_thread(shutil.rmtree, claimed, True)
    return _xml(
        "CompleteMultipartUploadResult",
        [
            sx.leaf("Location", f"/{c.name}/{urllib.parse.quote(t.key or '')}"),
            sx.leaf("Bucket", c.name),
            sx.leaf("Key", t.key or ""),
            # The object's ETag as HEAD, GET and the listings answer it (the record keeps no
            # part count, so it cannot carry S3's "-N" suffix there; one ETag per object).
            sx.leaf("ETag", _etag(v.sha256)),
            sx.leaf("ChecksumSHA256", _b64(v.sha256)),
        ],
        headers={"x-amz-version-id": v.version_id},
    )


def _chosen_parts(root: Any, have: dict[int, dict[str, Any]]) -> list[int]:
    """The part numbers a CompleteMultipartUpload body names, checked against those stored."""
    chosen: list[int] = []
    for part in root.findall("Part"):
        try:
            n = int(sx.text_of(part, "PartNumber") or "")
        except ValueError:
            raise S3Error(400, "InvalidPart", "PartNumber must be a number") from None
        etag = (sx.text_of(part, "ETag") or "").strip()
        if n not in have or etag.strip('"') != _etag(have[n]["sha256"]).strip('"'):
            raise S3Error(400, "InvalidPart", f"part {n} was not uploaded or its ETag differs")
        if chosen and n <= chosen[-1]:
            raise S3Error(400, "InvalidPartOrder", "the parts must be listed in ascending order")
        chosen.append(n)
    if not chosen:
        raise S3Error(400, "MalformedXML", "a multipart upload needs at least one part")
    if sum(have[n]["size"] for n in chosen) > MAX_PARTS * MAX_OBJECT:
        raise S3Error(400, "EntityTooLarge", "the object is too large")
    return chosen


def _claim_upload(path: Path, why: str) -> Path:
    """Take an upload out of the uploads directory with one atomic rename (NoSuchUpload if
    another request took it first)."""
    claimed = path.with_name(f"{path.name}.{why}")
    try:
        path.rename(claimed)
    except FileNotFoundError:
        raise S3Error(404, "NoSuchUpload", "no such upload (it was completed or aborted)") from None
    return claimed


async def _assemble_and_record(
    request: web.Request,
    t: Target,
    user: User,
    c: Container,
    path: Path,
    chosen: list[int],
    info: dict[str, Any],
) -> Version:
    store = request.app[S3].store

    def assemble() -> StoredBlob:
        writer = store.blobs.writer()
        try:
            for n in chosen:
                with open(path / f"part-{n:05d}.data", "rb") as f:
                    while data := f.read(CHUNK):
                        writer.write(data)
        except BaseException:
            writer.abort()
            raise
        return writer.commit()

    blob = await asyncio.to_thread(assemble)
    retention = Retention.from_json(info["retention"])
    return await store.put_version(
        c.name,
        t.key or "",
        blob,
        content_type=info["contentType"],
        metadata=info["metadata"],
        retention=retention,
        legal_hold=info["legalHold"],
        by=user.user_id,
    )


async def _abort_upload(request: web.Request, t: Target, user: User) -> web.Response:
    _require(user, WRITE_ROLES, "AbortMultipartUpload")
    path = _upload_dir(request, t.query["uploadId"])
    _upload_info(path, t)
    claimed = _claim_upload(path, "aborting")
    await asyncio.to_thread(shutil.rmtree, claimed, True)
    return web.Response(status=204)


def _list_parts(request: web.Request, t: Target, c: Container) -> web.Response:
    path = _upload_dir(request, t.query["uploadId"])
    _upload_info(path, t)
    parts = [
        sx.element(
            "Part",
            sx.leaf("PartNumber", n),
            sx.leaf("ETag", _etag(p["sha256"])),
            sx.leaf("Size", p["size"]),
            sx.leaf("ChecksumSHA256", _b64(p["sha256"])),
        )
        for n, p in sorted(_parts(path).items())
    ]
    return _xml(
        "ListPartsResult",
        [
            sx.leaf("Bucket", c.name),
            sx.leaf("Key", t.key or ""),
            sx.leaf("UploadId", t.query["uploadId"]),
            sx.leaf("IsTruncated", False),
            *parts,
        ],
    )


def _list_uploads(request: web.Request, c: Container) -> web.Response:
    uploads = []
    root = request.app[S3].uploads
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        if "." in path.name:  # being completed or aborted
            continue
        try:
            info = json.loads((path / "upload.json").read_text())
        except (OSError, ValueError):
            continue
        if info.get("bucket") != c.name:
            continue
        uploads.append(
            sx.element(
                "Upload",
                sx.leaf("Key", info["key"]),
                sx.leaf("UploadId", path.name),
                sx.leaf("Initiated", _iso(int(info["initiated"]))),
                sx.leaf("StorageClass", "STANDARD"),
            )
        )
    return _xml(
        "ListMultipartUploadsResult",
        [sx.leaf("Bucket", c.name), sx.leaf("IsTruncated", False), *uploads],
    )


def build_s3_app(ctx: S3Context) -> web.Application:
    app = web.Application(client_max_size=sx.MAX_XML)
    app[S3] = ctx
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


__all__ = ["COMPLIANCE", "DAY_MS", "DEFAULT_S3_PORT", "GOVERNANCE", "S3Context", "build_s3_app"]
