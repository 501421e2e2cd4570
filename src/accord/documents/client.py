"""A Python client of accord's S3-compatible document API, and the offline check of its receipts.

:class:`DocumentsClient` speaks path-style S3 (``https://host:port/bucket/key``) over one kept-alive
``http.client`` connection, pinned to the service certificate, every request signed with accord's
own SigV4 signer (:func:`accord.documents.sigv4.sign_request`)::

    with DocumentsClient(url, key_id, secret, cacert="DIR/service.crt") as docs:
        docs.create_container("coa")
        stored = docs.put("coa", "lot-17/analysis.pdf", "analysis.pdf")   # .version_id "2.17"
        docs.get("coa", "lot-17/analysis.pdf", "copy.pdf", version_id=stored.version_id)
        receipt = docs.receipt("coa", "lot-17/analysis.pdf", stored.version_id)

Bodies stream in both directions and are never held whole in memory. An upload is one pass over
the file: an ``aws-chunked`` body whose every chunk is signed (``STREAMING-AWS4-HMAC-SHA256-
PAYLOAD-TRAILER``), its SHA-256 computed while it streams and sent as a signed trailer
(``x-amz-checksum-sha256``) that the server checks before it records anything; the SHA-256 the
server answers must be the one computed here. Files larger than :attr:`multipart_threshold` go
up as a multipart upload of :attr:`part_size` parts (S3 takes at most 5 GiB in one request). A
download asks for the stored SHA-256 (``x-amz-checksum-mode: ENABLED``), hashes the bytes as they
arrive, and only renames the temporary file into place once they match.

S3's XML errors become accord errors, with the S3 code and message in the text: AuthError (a
refused signature, key or role), DocumentLocked (a retention or legal hold forbids the change),
NotFound (404), Conflict (409), InvalidRequest (other 4xx), StorageError (5xx, or the service
cannot be reached); ConfigurationError when the service certificate does not verify.

:func:`verify_document_receipt` and :func:`check_document_file` check an
``accord.document-receipt.v1`` offline, with no network (what ``accord receipt verify --file``
runs; the first is pure, the second streams the file through SHA-256): the inner
``accord.receipt.v1`` proves a ledger entry, the record must be that entry's contents, written
by the document store itself, and a file must have the recorded size and SHA-256.

Not here: presigned URLs (see :func:`accord.documents.sigv4.presign_url`), ranged reads, copying,
DeleteObjects, thread safety (use one client per thread).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import hashlib
import hmac
import http.client
import os
import ssl
import tempfile
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Self

from accord.core.canonical import parse_json
from accord.core.note import Verifier
from accord.core.receipt import VerifiedReceipt, verify_receipt
from accord.documents import sigv4
from accord.documents import xml as sx
from accord.documents.records import (
    DOCUMENTS_COLLECTION,
    DOCUMENTS_USER,
    MODES,
    decode_record,
    format_ms,
)
from accord.errors import (
    AccordError,
    AuthError,
    ConfigurationError,
    Conflict,
    DocumentLocked,
    InvalidRequest,
    MalformedInput,
    NotFound,
    StorageError,
    VerificationError,
)

DOCUMENT_RECEIPT_FORMAT = "accord.document-receipt.v1"
CHUNK = 1024 * 1024
"""Bytes per aws-chunked chunk, per read and per write."""
MULTIPART_THRESHOLD = 64 * 1024 * 1024
PART_SIZE = 16 * 1024 * 1024
MAX_PARTS = 10_000
MAX_ERROR_BODY = 64 * 1024
RECEIPT_WAIT = 20.0
"""Seconds :meth:`DocumentsClient.receipt` waits for a new version's entry to be committed."""

Progress = Callable[[int, int | None], None]
"""``progress(bytes_done, bytes_total)``; the total is None when it is not known (a pipe)."""

_CHECKSUM_TRAILER = "x-amz-checksum-sha256"
_Query = list[tuple[str, str]]  # an alias: DocumentsClient.list shadows list in its body
_SHA256_HEX = frozenset("0123456789abcdef")
_AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "RequestTimeTooSkewed",
        "AuthorizationHeaderMalformed",
        "AuthorizationQueryParametersError",
        "ExpiredToken",
        "InvalidToken",
    }
)
# What the store's refusals (records.check_deletable, check_retention_change, ...) say; a role
# refusal ("... needs the role ...") is an AuthError even when it mentions retention.
_LOCK_WORDS = ("legal hold", "retained in", "retention until", "default retention")


# --- results ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredVersion:
    """A version :meth:`DocumentsClient.put` stored: its id is a ledger transaction id."""

    container: str
    key: str
    version_id: str
    sha256: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "container": self.container,
            "key": self.key,
            "versionId": self.version_id,
            "sha256": self.sha256,
            "size": self.size,
        }


@dataclass(frozen=True)
class ObjectInfo:
    """One version as HEAD or GET describe it (``sha256`` is the stored content's, hex)."""

    container: str
    key: str
    version_id: str
    size: int
    sha256: str
    etag: str
    content_type: str
    last_modified: str
    metadata: dict[str, str] = field(default_factory=dict)
    retention: Retention | None = None
    legal_hold: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "container": self.container,
            "key": self.key,
            "versionId": self.version_id,
            "size": self.size,
            "sha256": self.sha256,
            "etag": self.etag,
            "contentType": self.content_type,
            "lastModified": self.last_modified,
            "metadata": dict(self.metadata),
            "retention": self.retention.to_json() if self.retention else None,
            "legalHold": self.legal_hold,
        }


@dataclass(frozen=True)
class Retention:
    """A version's retention: ``mode`` (GOVERNANCE or COMPLIANCE) until ``until`` (aware, UTC)."""

    mode: str
    until: datetime.datetime

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "retainUntil": iso_time(self.until)}


@dataclass(frozen=True)
class ContainerSummary:
    name: str
    created: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "created": self.created}


@dataclass(frozen=True)
class ObjectSummary:
    """A live key of a listing, with its latest version's size."""

    key: str
    size: int
    etag: str
    last_modified: str

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "size": self.size,
            "etag": self.etag,
            "lastModified": self.last_modified,
        }


@dataclass(frozen=True)
class VersionSummary:
    """One version (or delete marker) of a version listing, newest first per key."""

    key: str
    version_id: str
    is_latest: bool
    last_modified: str
    size: int = 0
    etag: str = ""
    delete_marker: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "versionId": self.version_id,
            "isLatest": self.is_latest,
            "lastModified": self.last_modified,
            "size": self.size,
            "etag": self.etag,
            "deleteMarker": self.delete_marker,
        }


@dataclass(frozen=True)
class Deleted:
    """What a delete did: removed ``version_id``, or (no version given) added a delete marker."""

    key: str
    version_id: str
    delete_marker: bool

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "versionId": self.version_id, "deleteMarker": self.delete_marker}


def iso_time(when: datetime.datetime) -> str:
    """``when`` as S3 writes dates: ``2030-01-01T00:00:00.000Z``; it must be timezone-aware."""
    if when.tzinfo is None:
        raise InvalidRequest("a retention date needs a time zone (e.g. 2030-01-01T00:00:00Z)")
    ms = int(when.timestamp() * 1000)
    return format_ms(ms)


def _parse_iso(text: str) -> datetime.datetime:
    try:
        when = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise StorageError(f"the service answered a date that is not ISO 8601: {text!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=datetime.UTC)


# --- request bodies -----------------------------------------------------------------------------
class _Body:
    """A request body: its length on the wire, its payload hash, and its bytes (sent once)."""

    length = 0
    payload_hash = sigv4.EMPTY_SHA256
    headers: dict[str, str] = {}  # noqa: RUF012 - never mutated; the framing's own headers

    def frames(self, signing: sigv4.ChunkSigning) -> Iterable[bytes]:
        del signing
        return ()


class _BytesBody(_Body):
    """A small body held in memory (XML), its SHA-256 signed."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.length = len(data)
        self.payload_hash = hashlib.sha256(data).hexdigest()

    def frames(self, signing: sigv4.ChunkSigning) -> Iterable[bytes]:
        del signing
        return (self.data,)


_FINAL_CHUNK_LINE = len("0;chunk-signature=") + 64 + 2
_TRAILERS = len(f"{_CHECKSUM_TRAILER}:") + 44 + 2 + len("x-amz-trailer-signature:") + 64 + 2 + 2


class _SignedChunks(_Body):
    """``size`` bytes from ``source`` as an aws-chunked body, every chunk signed, chained on the
    request's signature; the SHA-256 of the bytes goes last, as a signed trailer.

    ``whole``, if given, is a running SHA-256 of a larger object this body is a part of.
    After the body was sent, :attr:`sha256` is its hex SHA-256.
    """

    payload_hash = sigv4.STREAMING_SIGNED_PAYLOAD_TRAILER

    def __init__(
        self,
        source: Iterable[bytes],
        size: int,
        *,
        progress: Progress | None = None,
        done_before: int = 0,
        total: int | None = None,
        whole: Any = None,
    ) -> None:
        self.source = source
        self.size = size
        self.progress = progress
        self.done_before = done_before
        self.total = total
        self.whole = whole
        self.sha256 = ""
        self.headers = {
            "content-encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(size),
            "x-amz-trailer": _CHECKSUM_TRAILER,
        }
        self.length = (
            _FINAL_CHUNK_LINE
            + _TRAILERS
            + sum(len(f"{n:x};chunk-signature=") + 64 + 2 + n + 2 for n in _chunk_sizes(size))
        )

    def frames(self, signing: sigv4.ChunkSigning) -> Iterator[bytes]:
        digest = hashlib.sha256()
        previous = signing.seed_signature
        sent = 0
        for data in self.source:
            if not data:
                continue
            if sent + len(data) > self.size:
                raise ConfigurationError(
                    f"the file grew while it was sent (more than the {self.size} bytes it had)"
                )
            digest.update(data)
            if self.whole is not None:
                self.whole.update(data)
            previous = signing.chunk_signature(previous, hashlib.sha256(data).hexdigest())
            yield b"".join(
                [f"{len(data):x};chunk-signature={previous}\r\n".encode(), data, b"\r\n"]
            )
            sent += len(data)
            if self.progress is not None:
                self.progress(self.done_before + sent, self.total)
        if sent != self.size:
            raise ConfigurationError(
                f"the file shrank while it was sent ({sent} of the {self.size} bytes it had)"
            )
        previous = signing.chunk_signature(previous, sigv4.EMPTY_SHA256)
        checksum = base64.b64encode(digest.digest()).decode()
        signature = signing.trailer_signature(
            previous, f"{_CHECKSUM_TRAILER}:{checksum}\n".encode()
        )
        self.sha256 = digest.hexdigest()
        yield (
            f"0;chunk-signature={previous}\r\n{_CHECKSUM_TRAILER}:{checksum}\r\n"
            f"x-amz-trailer-signature:{signature}\r\n\r\n"
        ).encode()


def _chunk_sizes(size: int) -> Iterator[int]:
    """The data chunk sizes :func:`_read_chunks` produces for ``size`` bytes."""
    full, rest = divmod(size, CHUNK)
    yield from (CHUNK for _ in range(full))
    if rest:
        yield rest


def _read_chunks(f: IO[bytes], size: int) -> Iterator[bytes]:
    """``size`` bytes of ``f`` from its position, in :data:`CHUNK` pieces (the last shorter);
    a file that ends early ends the iteration early (the body then refuses to finish)."""
    left = size
    while left > 0:
        data = _read_full(f, min(CHUNK, left))
        if not data:
            return
        left -= len(data)
        yield data


def _split(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), CHUNK):
        yield bytes(view[start : start + CHUNK])


def _read_full(f: IO[bytes], n: int) -> bytes:
    """Up to ``n`` bytes, fewer only at the end of the file (pipes return short reads)."""
    pieces: list[bytes] = []
    got = 0
    while got < n:
        data = f.read(n - got)
        if not data:
            break
        pieces.append(data)
        got += len(data)
    return b"".join(pieces)


def _remaining_size(f: IO[bytes]) -> int | None:
    """Bytes from the position of ``f`` to its end, or None for a pipe or socket."""
    try:
        if not f.seekable():
            return None
        here = f.tell()
        end = f.seek(0, os.SEEK_END)
        f.seek(here)
    except OSError:
        return None
    return max(0, end - here)


# --- the client ---------------------------------------------------------------------------------
class DocumentsClient:
    """The S3 API of ``accord serve`` (see the module docstring); a context manager.

    ``endpoint_url`` is the S3 API's base URL (``https://127.0.0.1:8444``), ``cacert`` the
    service certificate to pin (else the system's CAs). Uploads larger than
    ``multipart_threshold`` bytes go as multipart uploads of ``part_size`` bytes per part.
    """

    def __init__(
        self,
        endpoint_url: str,
        access_key_id: str,
        secret_access_key: str,
        *,
        cacert: str | os.PathLike[str] | None = None,
        region: str = "us-east-1",
        timeout: float = 60.0,
        multipart_threshold: int = MULTIPART_THRESHOLD,
        part_size: int = PART_SIZE,
    ) -> None:
        parts = urllib.parse.urlsplit(endpoint_url)
        try:
            port = parts.port
        except ValueError:
            raise ConfigurationError(f"{endpoint_url!r} has an invalid port") from None
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigurationError(
                f"the S3 endpoint must be https://HOST[:PORT], got {endpoint_url!r}"
            )
        if parts.path not in ("", "/") or parts.query or parts.username:
            raise ConfigurationError(
                f"the S3 endpoint is a bare https://HOST[:PORT] (path-style requests), "
                f"got {endpoint_url!r}"
            )
        if not access_key_id or not secret_access_key:
            raise ConfigurationError("an access key id and its secret access key are needed")
        if part_size < 1 or multipart_threshold < 0:
            raise ConfigurationError("part_size must be positive, multipart_threshold not negative")
        self.endpoint_url = f"{parts.scheme}://{parts.netloc}"
        self.access_key_id = access_key_id
        self._secret = secret_access_key
        self.region = region
        self.timeout = timeout
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self.page_size: int | None = None
        """Keys per listing page to ask for (None: the service's default, at most 1000)."""
        self._host: str = parts.hostname
        self._port = port
        self._ssl: ssl.SSLContext | None = None
        if parts.scheme == "https":
            try:
                self._ssl = ssl.create_default_context(
                    cafile=os.fspath(cacert) if cacert is not None else None
                )
            except (OSError, ssl.SSLError) as exc:
                raise ConfigurationError(
                    f"cannot load the service certificate {cacert}: {exc}"
                ) from exc
        self._conn: http.client.HTTPConnection | None = None
        self._used = False  # whether the open connection already carried a request

    def __repr__(self) -> str:  # never the secret
        return f"DocumentsClient({self.endpoint_url!r}, access_key_id={self.access_key_id!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the kept-alive connection (the next request opens a new one)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # --- containers -------------------------------------------------------------------------
    def create_container(self, name: str, *, object_lock: bool = True) -> None:
        """CreateBucket (Administrators); ``object_lock`` allows retention and legal holds."""
        headers = {"x-amz-bucket-object-lock-enabled": "true" if object_lock else "false"}
        self._call("PUT", name, None, headers=headers)

    def list_containers(self) -> list[ContainerSummary]:
        root = self._xml("GET", None, None)
        return [
            ContainerSummary(sx.text_of(b, "Name") or "", sx.text_of(b, "CreationDate") or "")
            for b in root.findall("Buckets/Bucket")
        ]

    # --- objects ----------------------------------------------------------------------------
    def put(
        self,
        container: str,
        key: str,
        path_or_fileobj: str | os.PathLike[str] | IO[bytes],
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        retention: tuple[str, datetime.datetime] | None = None,
        legal_hold: bool = False,
        progress: Progress | None = None,
    ) -> StoredVersion:
        """Store a new version from a path or a binary file object (read from its position).

        One streaming pass: the SHA-256 is computed as the bytes go, and the service must answer
        the same one. A file larger than :attr:`multipart_threshold`, or a pipe longer than one
        part, goes as a multipart upload.
        """
        headers = {"content-type": content_type or "binary/octet-stream"}
        for name, value in (metadata or {}).items():
            headers[f"x-amz-meta-{name.lower()}"] = value
        if retention is not None:
            mode, until = retention
            headers["x-amz-object-lock-mode"] = _mode(mode)
            headers["x-amz-object-lock-retain-until-date"] = iso_time(until)
        if legal_hold:
            headers["x-amz-object-lock-legal-hold"] = "ON"
        with contextlib.ExitStack() as stack:
            if isinstance(path_or_fileobj, str | os.PathLike):
                try:
                    f: IO[bytes] = stack.enter_context(open(path_or_fileobj, "rb"))
                except OSError as exc:
                    raise ConfigurationError(
                        f"cannot read {os.fspath(path_or_fileobj)}: {exc.strerror or exc}"
                    ) from exc
            else:
                f = path_or_fileobj
            size = _remaining_size(f)
            if size is None:
                first = _read_full(f, self.part_size)
                if len(first) < self.part_size:
                    body = _SignedChunks(_split(first), len(first), progress=progress)
                    return self._put_one(container, key, headers, body)
                return self._put_parts(
                    container, key, headers, _pipe_parts(first, f), None, progress
                )
            if size > self.multipart_threshold:
                return self._put_parts(
                    container, key, headers, self._file_parts(f, size), size, progress
                )
            body = _SignedChunks(_read_chunks(f, size), size, progress=progress, total=size)
            return self._put_one(container, key, headers, body)

    def _put_one(
        self, container: str, key: str, headers: dict[str, str], body: _SignedChunks
    ) -> StoredVersion:
        answer, _ = self._call("PUT", container, key, headers=headers, body=body)
        version_id = answer.get("x-amz-version-id", "")
        if not version_id:
            raise StorageError("the service stored the object without naming its version")
        _check_answered_sha256(answer.get("x-amz-checksum-sha256"), body.sha256, "the upload")
        return StoredVersion(container, key, version_id, body.sha256, body.size)

    def _file_parts(self, f: IO[bytes], size: int) -> Iterator[tuple[int, Iterable[bytes]]]:
        part_size = max(self.part_size, -(-size // MAX_PARTS))  # at most MAX_PARTS parts
        offset = 0
        while offset < size:
            n = min(part_size, size - offset)
            yield n, _read_chunks(f, n)
            offset += n

    def _put_parts(
        self,
        container: str,
        key: str,
        headers: dict[str, str],
        parts: Iterable[tuple[int, Iterable[bytes]]],
        total: int | None,
        progress: Progress | None,
    ) -> StoredVersion:
        root = self._xml("POST", container, key, query=[("uploads", "")], headers=headers)
        upload_id = sx.text_of(root, "UploadId")
        if not upload_id:
            raise StorageError("the service started a multipart upload without an UploadId")
        whole = hashlib.sha256()
        done = 0
        etags: list[tuple[int, str]] = []
        try:
            for number, (n, source) in enumerate(parts, start=1):
                if number > MAX_PARTS:
                    raise ConfigurationError(f"more than {MAX_PARTS} parts: raise the part size")
                body = _SignedChunks(
                    source, n, progress=progress, done_before=done, total=total, whole=whole
                )
                query = [("partNumber", str(number)), ("uploadId", upload_id)]
                answer, _ = self._call("PUT", container, key, query=query, body=body)
                _check_answered_sha256(
                    answer.get("x-amz-checksum-sha256"), body.sha256, f"part {number}"
                )
                etags.append((number, answer.get("etag", "")))
                done += n
            complete = sx.document(
                "CompleteMultipartUpload",
                [
                    sx.element("Part", sx.leaf("PartNumber", number), sx.leaf("ETag", etag))
                    for number, etag in etags
                ],
            )
            answer, data = self._call(
                "POST",
                container,
                key,
                query=[("uploadId", upload_id)],
                headers={"content-type": "application/xml"},
                body=_BytesBody(complete),
            )
        except BaseException:
            with contextlib.suppress(AccordError, OSError):
                self._call("DELETE", container, key, query=[("uploadId", upload_id)])
            raise
        result = _parse_xml(data)
        if result.tag != "CompleteMultipartUploadResult":  # S3 may answer 200 with an <Error>
            raise _error_from(500, data, "POST", "", {})
        version_id = answer.get("x-amz-version-id", "")
        if not version_id:
            raise StorageError("the service completed the upload without naming its version")
        sha256 = whole.hexdigest()
        _check_answered_sha256(sx.text_of(result, "ChecksumSHA256"), sha256, "the upload")
        return StoredVersion(container, key, version_id, sha256, done)

    def get(
        self,
        container: str,
        key: str,
        dest: str | os.PathLike[str] | IO[bytes],
        *,
        version_id: str | None = None,
        progress: Progress | None = None,
    ) -> ObjectInfo:
        """Download a version (default: the latest) to a path or a binary file object.

        The bytes must hash to the SHA-256 the service stored (VerificationError otherwise). A
        path is written through a temporary file beside it, renamed into place only once the
        bytes check out; a file object has had the bytes written when the check fails.
        """
        query = [("versionId", version_id)] if version_id else []
        headers = {"x-amz-checksum-mode": "ENABLED"}
        with self._stream("GET", container, key, query, headers, _Body()) as (response, answer):
            info = _object_info(container, key, answer)
            if isinstance(dest, str | os.PathLike):
                target = Path(dest)
                try:
                    fd, tmp = tempfile.mkstemp(
                        prefix=f".{target.name}.", suffix=".part", dir=target.parent
                    )
                except OSError as exc:
                    raise ConfigurationError(
                        f"cannot write {os.fspath(dest)}: {exc.strerror or exc}"
                    ) from exc
                try:
                    with os.fdopen(fd, "wb") as out:
                        sha256 = self._receive(response, out, info, progress)
                        out.flush()
                        os.fsync(out.fileno())
                    os.replace(tmp, target)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
                    raise
            else:
                sha256 = self._receive(response, dest, info, progress)
        return _with_sha256(info, sha256)

    def _receive(
        self,
        response: http.client.HTTPResponse,
        out: IO[bytes],
        info: ObjectInfo,
        progress: Progress | None,
    ) -> str:
        if not info.sha256:
            raise StorageError(
                "the service did not answer the stored SHA-256 (x-amz-checksum-sha256)"
            )
        digest = hashlib.sha256()
        size = 0
        while True:
            try:
                data = response.read(CHUNK)
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise StorageError(
                    f"the download from {self.endpoint_url} broke off after {size} bytes: "
                    f"{_describe(exc)}"
                ) from exc
            if not data:
                break
            digest.update(data)
            out.write(data)
            size += len(data)
            if progress is not None:
                progress(size, info.size)
        actual = digest.hexdigest()
        if size != info.size or not hmac.compare_digest(actual, info.sha256):
            raise VerificationError(
                f"the download of {info.container}/{info.key} version {info.version_id} is not "
                f"what was stored: {size} bytes with SHA-256 {actual}, stored {info.size} bytes "
                f"with SHA-256 {info.sha256}"
            )
        return actual

    def head(self, container: str, key: str, *, version_id: str | None = None) -> ObjectInfo:
        """A version's size, SHA-256, content type, metadata, retention and legal hold."""
        query = [("versionId", version_id)] if version_id else []
        answer, _ = self._call(
            "HEAD", container, key, query=query, headers={"x-amz-checksum-mode": "ENABLED"}
        )
        return _object_info(container, key, answer)

    def list(self, container: str, prefix: str = "") -> Iterator[ObjectSummary]:
        """The live keys under ``prefix`` (ListObjectsV2, following every page)."""
        token: str | None = None
        while True:
            query = [("list-type", "2"), ("prefix", prefix), *self._page()]
            if token is not None:
                query.append(("continuation-token", token))
            root = self._xml("GET", container, None, query=query)
            for c in root.findall("Contents"):
                yield ObjectSummary(
                    key=sx.text_of(c, "Key") or "",
                    size=_int_of(sx.text_of(c, "Size")),
                    etag=sx.text_of(c, "ETag") or "",
                    last_modified=sx.text_of(c, "LastModified") or "",
                )
            token = sx.text_of(root, "NextContinuationToken")
            if sx.text_of(root, "IsTruncated") != "true":
                return
            if not token:
                raise StorageError("the service truncated a listing without a continuation token")

    def versions(
        self, container: str, key_or_prefix: str = "", *, exact: bool = False
    ) -> Iterator[VersionSummary]:
        """Every version and delete marker under a prefix (with ``exact``, of that one key),
        newest first per key (ListObjectVersions, following every page)."""
        key_marker = version_marker = ""
        while True:
            query = [("versions", ""), ("prefix", key_or_prefix), *self._page()]
            if key_marker:
                query.append(("key-marker", key_marker))
            if version_marker:
                query.append(("version-id-marker", version_marker))
            root = self._xml("GET", container, None, query=query)
            for element in root:
                if element.tag not in ("Version", "DeleteMarker"):
                    continue
                v = VersionSummary(
                    key=sx.text_of(element, "Key") or "",
                    version_id=sx.text_of(element, "VersionId") or "",
                    is_latest=sx.text_of(element, "IsLatest") == "true",
                    last_modified=sx.text_of(element, "LastModified") or "",
                    size=_int_of(sx.text_of(element, "Size") or "0"),
                    etag=sx.text_of(element, "ETag") or "",
                    delete_marker=element.tag == "DeleteMarker",
                )
                if not exact or v.key == key_or_prefix:
                    yield v
            if sx.text_of(root, "IsTruncated") != "true":
                return
            markers = (
                sx.text_of(root, "NextKeyMarker") or "",
                sx.text_of(root, "NextVersionIdMarker") or "",
            )
            if markers == (key_marker, version_marker):
                raise StorageError("the service's version listing does not advance")
            key_marker, version_marker = markers

    def delete(
        self,
        container: str,
        key: str,
        *,
        version_id: str | None = None,
        bypass_governance: bool = False,
    ) -> Deleted:
        """Without ``version_id``, add a delete marker (every version stays). With it, delete
        that version for good, which its retention or legal hold may forbid (DocumentLocked)."""
        query = [("versionId", version_id)] if version_id else []
        headers = {"x-amz-bypass-governance-retention": "true"} if bypass_governance else {}
        answer, _ = self._call("DELETE", container, key, query=query, headers=headers, locks=True)
        return Deleted(
            key,
            answer.get("x-amz-version-id", version_id or ""),
            answer.get("x-amz-delete-marker") == "true",
        )

    # --- retention and legal hold -----------------------------------------------------------
    def get_retention(
        self, container: str, key: str, *, version_id: str | None = None
    ) -> Retention | None:
        """The version's retention, or None if it has none."""
        query = [("retention", ""), *_version_query(version_id)]
        try:
            root = self._xml("GET", container, key, query=query)
        except NotFound as exc:
            if str(exc).startswith("NoSuchObjectLockConfiguration"):
                return None
            raise
        return Retention(
            sx.text_of(root, "Mode") or "", _parse_iso(sx.text_of(root, "RetainUntilDate") or "")
        )

    def set_retention(
        self,
        container: str,
        key: str,
        retention: tuple[str, datetime.datetime] | None,
        *,
        version_id: str | None = None,
        bypass_governance: bool = False,
    ) -> None:
        """Set a version's retention (None removes it). Extending is always allowed; shortening or
        removing only a GOVERNANCE retention, by an Administrator, with ``bypass_governance``."""
        children: list[str] = []
        if retention is not None:
            mode, until = retention
            children = [sx.leaf("Mode", _mode(mode)), sx.leaf("RetainUntilDate", iso_time(until))]
        headers = {"content-type": "application/xml"}
        if bypass_governance:
            headers["x-amz-bypass-governance-retention"] = "true"
        self._call(
            "PUT",
            container,
            key,
            query=[("retention", ""), *_version_query(version_id)],
            headers=headers,
            body=_BytesBody(sx.document("Retention", children)),
            locks=True,
        )

    def get_legal_hold(self, container: str, key: str, *, version_id: str | None = None) -> bool:
        query = [("legal-hold", ""), *_version_query(version_id)]
        return sx.text_of(self._xml("GET", container, key, query=query), "Status") == "ON"

    def set_legal_hold(
        self, container: str, key: str, on: bool, *, version_id: str | None = None
    ) -> None:
        """Place (Contributors) or clear (Administrators) a version's legal hold."""
        body = sx.document("LegalHold", [sx.leaf("Status", "ON" if on else "OFF")])
        self._call(
            "PUT",
            container,
            key,
            query=[("legal-hold", ""), *_version_query(version_id)],
            headers={"content-type": "application/xml"},
            body=_BytesBody(body),
            locks=True,
        )

    # --- receipts ---------------------------------------------------------------------------
    def receipt(
        self, container: str, key: str, version_id: str | None = None, *, wait: float = RECEIPT_WAIT
    ) -> dict[str, Any]:
        """The version's ``accord.document-receipt.v1``, unverified (check it with
        :func:`verify_document_receipt`). A new version's entry may not be committed yet: the
        service answers 409 until it is, retried here for up to ``wait`` seconds."""
        query = [("accord-receipt", ""), *_version_query(version_id)]
        deadline = time.monotonic() + wait
        delay = 0.05
        while True:
            try:
                _, data = self._call("GET", container, key, query=query)
                break
            except InvalidRequest as exc:
                # 409 is the documented answer; some servers answer 400 "... not committed yet"
                # (the ledger's refusal passed through): both mean "retry in a moment".
                pending = isinstance(exc, Conflict) or "not committed yet" in str(exc)
                if not pending or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        try:
            obj = parse_json(data)
        except MalformedInput as exc:
            raise StorageError(f"the service answered a receipt that is not JSON: {exc}") from exc
        if not isinstance(obj, dict) or obj.get("format") != DOCUMENT_RECEIPT_FORMAT:
            raise StorageError(
                f"the service answered something else than a {DOCUMENT_RECEIPT_FORMAT}"
            )
        return obj

    # --- plumbing ---------------------------------------------------------------------------
    def _page(self) -> _Query:
        return [("max-keys", str(self.page_size))] if self.page_size else []

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is not None and self._used and _dropped(self._conn):
            self.close()  # the server closed the idle connection: do not send into it
        if self._conn is None:
            if self._ssl is not None:
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self.timeout, context=self._ssl
                )
            else:
                self._conn = http.client.HTTPConnection(
                    self._host, self._port, timeout=self.timeout
                )
            self._used = False
        return self._conn

    def _send(
        self, method: str, path: str, headers: dict[str, str], body: _Body
    ) -> http.client.HTTPResponse:
        """Sign and send one request, return its response (status and headers read).

        A GET or HEAD on a kept-alive connection the server closed meanwhile is sent once more on
        a new one; nothing else is (a PUT may have been stored before the connection broke).
        """
        for attempt in (1, 2):
            conn = self._connection()
            reused = self._used
            signed = sigv4.sign_request(
                method,
                self.endpoint_url + path,
                headers,
                body.payload_hash,
                access_key=self.access_key_id,
                secret=self._secret,
                region=self.region,
                now=datetime.datetime.now(datetime.UTC),
            )
            auth = sigv4.parse_authorization(signed["Authorization"])
            signing = sigv4.ChunkSigning(
                sigv4.derive_signing_key(self._secret, auth.date, auth.region),
                signed["X-Amz-Date"],
                auth.scope,
                auth.signature,
            )
            try:
                conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                for name, value in {**headers, **signed}.items():
                    conn.putheader(name, value)
                if body.length or method in ("PUT", "POST"):
                    conn.putheader("Content-Length", str(body.length))
                conn.endheaders()
                self._used = True
                try:
                    for piece in body.frames(signing):
                        conn.send(piece)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the server answered before it read everything (a refusal): read it
                return conn.getresponse()
            except ssl.SSLCertVerificationError as exc:
                self.close()
                raise ConfigurationError(
                    f"cannot verify the TLS certificate of {self.endpoint_url} "
                    f"({exc.verify_message}); pin the service certificate with --cacert "
                    "DIR/service.crt (cacert= in Python)"
                ) from exc
            except (http.client.RemoteDisconnected, ConnectionResetError) as exc:
                self.close()
                if attempt == 1 and reused and method in ("GET", "HEAD"):
                    continue
                raise self._unreachable(exc) from exc
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if isinstance(exc, OSError) and exc.filename is not None:
                    raise ConfigurationError(f"cannot read {exc.filename}: {exc.strerror}") from exc
                raise self._unreachable(exc) from exc
            except BaseException:
                self.close()  # a body that failed half-way leaves the connection unusable
                raise
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _unreachable(self, exc: BaseException) -> StorageError:
        return StorageError(f"cannot reach {self.endpoint_url}: {_describe(exc)}")

    @contextlib.contextmanager
    def _stream(
        self,
        method: str,
        container: str | None,
        key: str | None,
        query: _Query,
        headers: Mapping[str, str],
        body: _Body,
        *,
        locks: bool = False,
    ) -> Iterator[tuple[http.client.HTTPResponse, dict[str, str]]]:
        """One request whose successful response the caller reads; refusals raise."""
        path = _url_path(container, key, query)
        lowered = {k.lower(): v for k, v in headers.items()}
        response = self._send(method, path, {**lowered, **body.headers}, body)
        answer = {name.lower(): value for name, value in response.getheaders()}
        if response.status >= 300:
            data = b""
            if method != "HEAD":
                with contextlib.suppress(OSError, http.client.HTTPException):
                    data = response.read(MAX_ERROR_BODY)
            if not response.isclosed():
                self.close()  # an unread remainder would spoil the kept-alive connection
            raise _error_from(response.status, data, method, response.reason, answer, locks=locks)
        try:
            yield response, answer
        except BaseException:
            if not response.isclosed():
                self.close()
            raise
        if not response.isclosed():
            try:
                response.read()  # the rest, so that the connection can carry the next request
            except (OSError, http.client.HTTPException):
                self.close()

    def _call(
        self,
        method: str,
        container: str | None,
        key: str | None,
        *,
        query: _Query | None = None,
        headers: Mapping[str, str] | None = None,
        body: _Body | None = None,
        locks: bool = False,
    ) -> tuple[dict[str, str], bytes]:
        """One request with a small answer, read whole: (headers, body)."""
        with self._stream(
            method, container, key, query or [], headers or {}, body or _Body(), locks=locks
        ) as (response, answer):
            try:
                data = response.read(sx.MAX_XML + 1) if method != "HEAD" else b""
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise self._unreachable(exc) from exc
            if len(data) > sx.MAX_XML:
                raise StorageError(f"the service answered more than {sx.MAX_XML} bytes")
        return answer, data

    def _xml(
        self,
        method: str,
        container: str | None,
        key: str | None,
        *,
        query: _Query | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ET.Element:
        return _parse_xml(self._call(method, container, key, query=query, headers=headers)[1])


def _pipe_parts(first: bytes, f: IO[bytes]) -> Iterator[tuple[int, Iterable[bytes]]]:
    """Parts of a stream of unknown length, ``len(first)`` bytes each: one in memory at a time."""
    part = first
    while part:
        yield len(part), _split(part)
        part = _read_full(f, len(first))


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Whether the server has closed an idle kept-alive connection (it then reads as EOF).

    A TLS 1.3 server may also have sent session tickets since: those are consumed here, and the
    connection counts as alive.
    """
    import select

    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        sock.settimeout(0)
        try:
            sock.recv(1)
        except (ssl.SSLWantReadError, BlockingIOError):
            return False
        finally:
            sock.settimeout(conn.timeout)
    except (OSError, ValueError):
        pass
    return True  # EOF, an error, or bytes nobody asked for: start afresh


def _url_path(container: str | None, key: str | None, query: list[tuple[str, str]]) -> str:
    """The request target as sent and signed: percent-encoded path, then the query."""
    path = "/"
    if container is not None:
        path += sigv4.uri_encode(container)
        if key is not None:
            path += "/" + sigv4.uri_encode(key, encode_slash=False)
    if query:
        path += "?" + "&".join(
            f"{sigv4.uri_encode(name)}={sigv4.uri_encode(value)}"
            if value
            else sigv4.uri_encode(name)
            for name, value in query
        )
    return path


def _version_query(version_id: str | None) -> list[tuple[str, str]]:
    return [("versionId", version_id)] if version_id else []


def _mode(mode: str) -> str:
    if mode not in MODES:
        raise InvalidRequest(f"the retention mode must be {' or '.join(MODES)}, not {mode!r}")
    return mode


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _int_of(text: str | None) -> int:
    if text is None or not text.isdigit():
        raise StorageError(f"the service answered a size that is not a number: {text!r}")
    return int(text)


def _parse_xml(data: bytes) -> ET.Element:
    try:
        return sx.parse(data)
    except sx.MalformedXML as exc:
        raise StorageError(f"the service answered XML that does not parse: {exc}") from exc


def _sha256_of_header(value: str | None) -> str:
    """The hex SHA-256 of an ``x-amz-checksum-sha256`` value, or "" if there is none."""
    if not value:
        return ""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise StorageError(
            f"the service answered an x-amz-checksum-sha256 that is not base64: {value!r}"
        ) from None
    if len(raw) != 32:
        raise StorageError("the service answered an x-amz-checksum-sha256 that is not a SHA-256")
    return raw.hex()


def _check_answered_sha256(value: str | None, sent_sha256: str, what: str) -> None:
    """The service must have stored the bytes that were sent (it answers their SHA-256)."""
    stored = _sha256_of_header(value)
    if not stored:
        raise StorageError(f"the service did not answer the SHA-256 it stored for {what}")
    if not hmac.compare_digest(stored, sent_sha256):
        raise VerificationError(
            f"the service stored {what} with SHA-256 {stored}, but {sent_sha256} was sent"
        )


def _object_info(container: str, key: str, headers: Mapping[str, str]) -> ObjectInfo:
    mode = headers.get("x-amz-object-lock-mode")
    until = headers.get("x-amz-object-lock-retain-until-date")
    return ObjectInfo(
        container=container,
        key=key,
        version_id=headers.get("x-amz-version-id", ""),
        size=_int_of(headers.get("content-length", "0")),
        sha256=_sha256_of_header(headers.get("x-amz-checksum-sha256")),
        etag=headers.get("etag", ""),
        content_type=headers.get("content-type", ""),
        last_modified=headers.get("last-modified", ""),
        metadata={
            name[len("x-amz-meta-") :]: value
            for name, value in headers.items()
            if name.startswith("x-amz-meta-")
        },
        retention=Retention(mode, _parse_iso(until)) if mode and until else None,
        legal_hold=headers.get("x-amz-object-lock-legal-hold") == "ON",
    )


def _with_sha256(info: ObjectInfo, sha256: str) -> ObjectInfo:
    return replace(info, sha256=sha256)


def _error_from(
    status: int,
    body: bytes,
    method: str,
    reason: str,
    headers: Mapping[str, str],
    *,
    locks: bool = False,
) -> AccordError:
    """The accord error of an S3 error answer: ``"<Code>: <Message>"``."""
    code, message = "", ""
    if body:
        with contextlib.suppress(sx.MalformedXML):
            root = sx.parse(body)
            if root.tag == "Error":
                code = sx.text_of(root, "Code") or ""
                message = sx.text_of(root, "Message") or ""
    if not code:
        if method == "HEAD" and status == 404 and headers.get("x-amz-delete-marker") == "true":
            code, message = "NoSuchKey", "the latest version is a delete marker"
        else:
            code = f"HTTP {status}"
            message = reason or body[:200].decode("utf-8", "replace")
    text = f"{code}: {message}" if message else code
    if status in (401, 403) or code in _AUTH_CODES:
        if code == "AccessDenied" and "needs the role" not in message:
            if locks or any(word in message for word in _LOCK_WORDS):
                return DocumentLocked(text)
        return AuthError(text)
    if status == 404:
        return NotFound(text)
    if status == 409:
        return Conflict(text)
    if status >= 500:
        return StorageError(f"service error {status}: {text}")
    return InvalidRequest(text)


# --- offline checks of document receipts --------------------------------------------------------
@dataclass(frozen=True)
class VerifiedDocument:
    """What a verified ``accord.document-receipt.v1`` vouches for: this version was recorded."""

    container: str
    key: str
    version_id: str
    sha256: str
    size: int
    content_type: str
    time: int
    """When the version was recorded (ms since the epoch, the service's clock)."""
    by: str
    receipt: VerifiedReceipt

    def describe(self) -> str:
        md, cp = self.receipt.metadata, self.receipt.checkpoint
        return (
            f"{self.container}/{self.key} version {self.version_id}: {self.size} bytes, sha256 "
            f"{self.sha256}, recorded at {format_ms(self.time)} by {self.by} in transaction "
            f"{md.transaction_id} of the log {cp.origin!r} at size {cp.size}"
        )


def split_document_receipt(data: bytes | str | dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """``(inner accord.receipt.v1, record)`` of a document receipt; None for any other JSON
    (a plain receipt); MalformedInput if it claims to be a document receipt and is not one."""
    obj = data if isinstance(data, dict) else parse_json(data)
    if not isinstance(obj, dict) or obj.get("format") != DOCUMENT_RECEIPT_FORMAT:
        return None
    if set(obj) != {"format", "receipt", "record"}:
        raise MalformedInput(
            f"a {DOCUMENT_RECEIPT_FORMAT} has exactly the keys format, receipt and record"
        )
    inner, record = obj["receipt"], obj["record"]
    if not isinstance(inner, dict):
        raise MalformedInput(f"the receipt of a {DOCUMENT_RECEIPT_FORMAT} must be a JSON object")
    if not isinstance(record, str):
        raise MalformedInput(f"the record of a {DOCUMENT_RECEIPT_FORMAT} must be a string")
    return inner, record


def check_document_record(verified: VerifiedReceipt, record: str) -> VerifiedDocument:
    """Given a receipt verified *with* ``contents=record`` (so the record is the entry's contents),
    check that the entry is a version the document store recorded, and parse it."""
    md = verified.metadata
    fields = decode_record(record)
    # A single-node ledger's store writes as DOCUMENTS_USER; a consortium's entries are in the
    # uploader's own name, which the record repeats as "by" (formats §19).
    writer_ok = md.user_id == DOCUMENTS_USER or md.user_id == fields.get("by")
    if md.collection_id != DOCUMENTS_COLLECTION or not writer_ok:
        raise VerificationError(
            f"transaction {md.transaction_id} is not a document record (collection "
            f"{md.collection_id!r}, written by {md.user_id!r}; document records are in "
            f"{DOCUMENTS_COLLECTION!r}, written by {DOCUMENTS_USER!r} or, in a consortium, by "
            "the user the record names)"
        )
    if fields.get("op") != "version.put":
        raise VerificationError(
            f"transaction {md.transaction_id} records {fields.get('op')!r}, not a stored "
            "version (version.put)"
        )
    sha256, size = fields.get("sha256"), fields.get("size")
    container, key = fields.get("container"), fields.get("key")
    content_type = fields.get("contentType", "")
    if (
        not isinstance(sha256, str)
        or len(sha256) != 64
        or not set(sha256) <= _SHA256_HEX
        or not isinstance(size, int)
        or isinstance(size, bool)
        or size < 0
        or not isinstance(container, str)
        or not isinstance(key, str)
        or not isinstance(content_type, str)
    ):
        raise MalformedInput(
            "a version.put record needs container, key, sha256 (64 hex) and size (bytes)"
        )
    return VerifiedDocument(
        container=container,
        key=key,
        version_id=str(md.transaction_id),
        sha256=sha256,
        size=size,
        content_type=content_type,
        time=fields["time"],
        by=fields["by"],
        receipt=verified,
    )


def verify_document_receipt(
    data: bytes | str | dict[str, Any], verifier: Verifier
) -> VerifiedDocument:
    """Verify an ``accord.document-receipt.v1`` offline with the ledger's checkpoint key.

    (With a consortium's trust policy, verify the inner receipt with
    ``verify_receipt_under_policy(inner, policy, contents=record.encode())`` and pass its result
    to :func:`check_document_record`, as ``accord receipt verify --policy`` does.)
    """
    parts = split_document_receipt(data)
    if parts is None:
        raise MalformedInput(f"not a {DOCUMENT_RECEIPT_FORMAT}")
    inner, record = parts
    verified = verify_receipt(inner, verifier, contents=record.encode("utf-8"))
    return check_document_record(verified, record)


def hash_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """(hex SHA-256, size) of a file, read in pieces (never whole in memory)."""
    digest = hashlib.sha256()
    size = 0
    try:
        with open(path, "rb") as f:
            while data := f.read(CHUNK):
                digest.update(data)
                size += len(data)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {os.fspath(path)}: {exc.strerror or exc}") from exc
    return digest.hexdigest(), size


def check_document_file(document: VerifiedDocument, path: str | os.PathLike[str]) -> None:
    """Raise VerificationError unless the file at ``path`` has the recorded size and SHA-256."""
    sha256, size = hash_file(path)
    differences = []
    if size != document.size:
        differences.append(f"it has {size} bytes, the record {document.size}")
    if not hmac.compare_digest(sha256, document.sha256):
        differences.append(f"its SHA-256 is {sha256}, the record's {document.sha256}")
    if differences:
        raise VerificationError(
            f"the file {os.fspath(path)} is not {document.container}/{document.key} version "
            f"{document.version_id}: {'; '.join(differences)}"
        )
