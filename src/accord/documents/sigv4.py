"""AWS Signature Version 4 for accord's S3-compatible API, and the aws-chunked body encoding.

What boto3, botocore and the AWS CLI (``--endpoint-url``) send must verify here unchanged: header
signatures (``Authorization: AWS4-HMAC-SHA256 …``), presigned URLs (``X-Amz-Signature`` in the
query), and the ``aws-chunked`` bodies of PutObject/UploadPart, signed per chunk or unsigned with a
checksum trailer. The module is pure: standard library only, no I/O, no clock (``now`` is passed
in), no logging. It never puts a secret (or a derived signing key) in an error message or a repr.

Server side::

    parse_query(raw_query: str) -> list[tuple[str, str]]
    verify_request(*, method, raw_path, query_pairs, headers, secret_for, now, max_skew=900.0)
        -> VerifiedRequest        # .access_key_id, .payload_hash, .chunk_signing, .check_payload_sha256()
    AwsChunkedDecoder(mode, *, chunk_signing=None, decoded_content_length=None,
                      declared_trailers=None)   # mode: a payload hash or a VerifiedRequest
    AwsChunkedDecoder.for_request(verified, headers) -> AwsChunkedDecoder
        .feed(data) -> bytes      # decoded payload bytes, streamed as they arrive
        .finish() -> bytes        # checks final chunk, trailers, their signature, decoded length;
                                  # returns b"" (nothing is held back)
        .trailers -> dict[str, str]
    Checksums(algorithms=("crc32", "sha1", "sha256", "sha512", "md5"))
        .update(data); .digest(name); .base64(name); .hexdigest(name)
        .check(name, expected_base64)            # BadDigest on mismatch
        .check_declared(headers_or_trailers)     # every x-amz-checksum-* and Content-MD5 present

Building blocks (also used by the tests against AWS's published examples)::

    parse_authorization(header: str) -> Authorization
    canonical_request(method, raw_path, query_pairs, headers, signed_headers, payload_hash) -> str
    string_to_sign(amz_date, scope, canonical_request) -> str
    derive_signing_key(secret, date, region, service="s3") -> bytes
    sign(signing_key, string_to_sign) -> str
    uri_encode(value, *, encode_slash=True) -> str

Client side (accord's own CLI)::

    sign_request(method, url, headers, payload_hash, *, access_key, secret, region, now)
        -> dict[str, str]         # Host, X-Amz-Date, X-Amz-Content-SHA256, Authorization
    presign_url(method, url, *, access_key, secret, region, now, expires=3600, headers=None) -> str

The S3 rules followed (they differ from other AWS services): the canonical URI is the path exactly
as sent on the wire, already percent-encoded, and is *not* normalised or encoded again; the query
is decoded (``+`` is a space, as form decoding, aiohttp and other S3 servers read it; botocore
always sends ``%20``/``%2B``) and re-encoded with the RFC 3986 unreserved set, sorted by name then value, ``name=`` for empty values; header names are
lower-cased, values trimmed with runs of whitespace collapsed, multi-values joined by ``,``.
Verification is region-agnostic (any region is accepted, the service must be ``s3``), requires
``host`` and the date header among the signed headers, and refuses any ``x-amz-*`` header that is
present but not signed (so nobody can add e.g. ``x-amz-copy-source`` to a presigned URL).

Errors carry the S3 error ``code`` and HTTP ``status`` the server should answer with.
:class:`S3AuthError` (an accord ``AuthError``) covers refused authentication; :class:`S3RequestError`
(an accord ``InvalidRequest``) covers bodies that are malformed, truncated or fail their digests::

    S3AuthError (AuthError)
    ├── AccessDenied                      403 AccessDenied (unsigned, expired, unsigned x-amz-*)
    ├── SignatureMismatch                 403 SignatureDoesNotMatch (request, chunk or trailer)
    ├── InvalidAccessKeyId                403 InvalidAccessKeyId
    ├── RequestTimeTooSkewed              403 RequestTimeTooSkewed
    ├── AuthorizationHeaderMalformed      400 AuthorizationHeaderMalformed
    │   └── AuthorizationQueryParametersError  400 (the presigned-URL flavour)
    ├── InvalidArgument                   400 InvalidArgument (bad x-amz-content-sha256, token, …)
    └── UnsupportedAuthorization          400 InvalidRequest (SigV2, SigV4a)
    S3RequestError (InvalidRequest)
    ├── ContentSHA256Mismatch             400 XAmzContentSHA256Mismatch
    ├── BadDigest                         400 BadDigest
    ├── InvalidDigest                     400 InvalidDigest
    ├── IncompleteBody                    400 IncompleteBody
    ├── MalformedChunkedBody              400 InvalidRequest
    └── UnsupportedChecksum               400 InvalidRequest (CRC32C, CRC64NVME, xxhash)

What it does not do: SigV2, SigV4a (ECDSA), browser POST-policy uploads, session tokens (accord
issues none, so ``X-Amz-Security-Token`` is refused), CRC32C/CRC64NVME checksums (no pure-Python
implementation fast enough for a server), and authorization (which key may do what) — that is
the caller's, once :func:`verify_request` has said who signed.

A streamed body is only as trustworthy as the last check: :meth:`AwsChunkedDecoder.feed` hands out
a chunk's bytes before that chunk's signature has been seen, and checksums arrive in the trailer.
Never commit or expose a stored object before :meth:`AwsChunkedDecoder.finish` and the checksum
checks have returned.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import zlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Final
from urllib.parse import quote, unquote, urlsplit

from accord.errors import AuthError, InvalidRequest

__all__ = [
    "EMPTY_SHA256",
    "MAX_PRESIGNED_EXPIRES",
    "PAYLOAD_MODES",
    "STREAMING_SIGNED_PAYLOAD",
    "STREAMING_SIGNED_PAYLOAD_TRAILER",
    "STREAMING_UNSIGNED_PAYLOAD_TRAILER",
    "UNSIGNED_PAYLOAD",
    "AccessDenied",
    "Authorization",
    "AuthorizationHeaderMalformed",
    "AuthorizationQueryParametersError",
    "AwsChunkedDecoder",
    "BadDigest",
    "Checksums",
    "ChunkSigning",
    "ContentSHA256Mismatch",
    "IncompleteBody",
    "InvalidAccessKeyId",
    "InvalidArgument",
    "InvalidDigest",
    "MalformedChunkedBody",
    "RequestTimeTooSkewed",
    "S3AuthError",
    "S3RequestError",
    "SignatureMismatch",
    "UnsupportedAuthorization",
    "UnsupportedChecksum",
    "VerifiedRequest",
    "canonical_request",
    "derive_signing_key",
    "parse_authorization",
    "parse_query",
    "presign_url",
    "sign",
    "sign_request",
    "string_to_sign",
    "uri_encode",
    "verify_request",
]

ALGORITHM: Final = "AWS4-HMAC-SHA256"
SERVICE: Final = "s3"
TERMINATOR: Final = "aws4_request"
EMPTY_SHA256: Final = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
UNSIGNED_PAYLOAD: Final = "UNSIGNED-PAYLOAD"
STREAMING_UNSIGNED_PAYLOAD_TRAILER: Final = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_SIGNED_PAYLOAD: Final = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_PAYLOAD_TRAILER: Final = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
PAYLOAD_MODES: Final = frozenset(
    {
        UNSIGNED_PAYLOAD,
        STREAMING_UNSIGNED_PAYLOAD_TRAILER,
        STREAMING_SIGNED_PAYLOAD,
        STREAMING_SIGNED_PAYLOAD_TRAILER,
    }
)
MAX_PRESIGNED_EXPIRES: Final = 604800  # one week, S3's limit
MAX_CHUNK_HEADER_LINE: Final = 4096
MAX_TRAILER_SECTION: Final = 16384

_AMZ_DATE_FORMAT: Final = "%Y%m%dT%H%M%SZ"
_AMZ_DATE_RE: Final = re.compile(r"\d{8}T\d{6}Z")
_SCOPE_DATE_RE: Final = re.compile(r"\d{8}")
_SIGNATURE_RE: Final = re.compile(r"[0-9a-f]{64}")
_SHA256_HEX_RE: Final = re.compile(r"[0-9a-fA-F]{64}")
_HEADER_NAME_RE: Final = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")
_DECIMAL_RE: Final = re.compile(r"\d{1,19}")
_UNSIGNED_CHUNK_RE: Final = re.compile(rb"([0-9a-fA-F]{1,16})")
_SIGNED_CHUNK_RE: Final = re.compile(rb"([0-9a-fA-F]{1,16});chunk-signature=([0-9a-f]{64})")
_TRAILER_SIGNATURE: Final = "x-amz-trailer-signature"
# The headers botocore leaves out of a signature (hop-by-hop, tracing, user agent); sign_request
# leaves them out too, so what our CLI sends survives proxies the way botocore's requests do.
_UNSIGNABLE_HEADERS: Final = frozenset(
    {
        "authorization",
        "baggage",
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "x-amzn-trace-id",
    }
)


# --- errors -------------------------------------------------------------------------------------


class S3AuthError(AuthError):
    """Authentication refused; ``code`` and ``status`` are what the S3 API answers with."""

    code: ClassVar[str] = "AccessDenied"
    status: ClassVar[int] = 403


class AccessDenied(S3AuthError):
    """Unsigned, expired or not-yet-valid request, or an ``x-amz-*`` header left unsigned."""


class SignatureMismatch(S3AuthError):
    """The request, a chunk or the trailer is not signed by the secret of the claimed key.

    ``string_to_sign`` and ``canonical_request`` are what the server computed, built only from
    what the client sent (never from the secret); S3 returns them to help a client debug.
    """

    code = "SignatureDoesNotMatch"

    def __init__(
        self, message: str, *, string_to_sign: str = "", canonical_request: str = ""
    ) -> None:
        super().__init__(message)
        self.string_to_sign = string_to_sign
        self.canonical_request = canonical_request


class InvalidAccessKeyId(S3AuthError):
    """No secret is known for the access key id the request claims."""

    code = "InvalidAccessKeyId"


class RequestTimeTooSkewed(S3AuthError):
    """The request's date is further from the server's clock than the allowed skew."""

    code = "RequestTimeTooSkewed"


class AuthorizationHeaderMalformed(S3AuthError):
    """The Authorization header (or its credential scope) does not parse."""

    code = "AuthorizationHeaderMalformed"
    status = 400


class AuthorizationQueryParametersError(AuthorizationHeaderMalformed):
    """The X-Amz-* query parameters of a presigned URL are missing or malformed."""

    code = "AuthorizationQueryParametersError"


class InvalidArgument(S3AuthError):
    """A header the signature depends on has an invalid value (e.g. x-amz-content-sha256)."""

    code = "InvalidArgument"
    status = 400


class UnsupportedAuthorization(S3AuthError):
    """An authorization mechanism accord does not accept (SigV2, SigV4a)."""

    code = "InvalidRequest"
    status = 400


class S3RequestError(InvalidRequest):
    """A request body is malformed or fails its digests; ``code``/``status`` as S3 answers."""

    code: ClassVar[str] = "InvalidRequest"
    status: ClassVar[int] = 400


class ContentSHA256Mismatch(S3RequestError):
    """The body's SHA-256 is not the x-amz-content-sha256 the client signed."""

    code = "XAmzContentSHA256Mismatch"


class BadDigest(S3RequestError):
    """The body does not match a checksum (x-amz-checksum-*, Content-MD5) the client declared."""

    code = "BadDigest"


class InvalidDigest(S3RequestError):
    """A declared checksum is not valid base64 of the algorithm's digest size."""

    code = "InvalidDigest"


class IncompleteBody(S3RequestError):
    """The body ended before its final chunk, or carries fewer bytes than declared."""

    code = "IncompleteBody"


class MalformedChunkedBody(S3RequestError):
    """An aws-chunked body does not follow the encoding (bad chunk line, trailer, framing)."""


class UnsupportedChecksum(S3RequestError):
    """A checksum algorithm accord does not compute."""


# --- encoding and signing primitives ------------------------------------------------------------


def uri_encode(value: str, *, encode_slash: bool = True) -> str:
    """Percent-encode ``value`` as SigV4 does: UTF-8, everything but ``A-Za-z0-9-_.~`` escaped.

    With ``encode_slash=False`` a ``/`` stays as it is, which is how S3 clients encode an object
    key into a path. Lone surrogates (from :func:`parse_query` of invalid UTF-8) go back to the
    bytes they came from.
    """
    return quote(value, safe="-_.~" if encode_slash else "-_.~/", errors="surrogateescape")


def parse_query(raw_query: str) -> list[tuple[str, str]]:
    """Split a raw query string (without ``?``) into decoded ``(name, value)`` pairs, in order.

    ``+`` decodes to a space and ``%XX`` to its byte (invalid UTF-8 survives as surrogates, so
    re-encoding gives the bytes back); ``name`` without ``=`` has the value ``""``; empty
    segments (``a=1&&b=2``) are skipped. Pass the result to :func:`verify_request`.
    """
    pairs: list[tuple[str, str]] = []
    for segment in raw_query.split("&"):
        if not segment:
            continue
        name, _, value = segment.partition("=")
        pairs.append((_query_decode(name), _query_decode(value)))
    return pairs


def _query_decode(text: str) -> str:
    return unquote(text.replace("+", " "), encoding="utf-8", errors="surrogateescape")


def canonical_query_string(query_pairs: Iterable[tuple[str, str]]) -> str:
    """The SigV4 canonical query: each name and value URI-encoded, sorted by name then value."""
    encoded = sorted((uri_encode(name), uri_encode(value)) for name, value in query_pairs)
    return "&".join(f"{name}={value}" for name, value in encoded)


def _trim_all(value: str) -> str:
    return " ".join(value.split())


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Lower-case header names, trim values, join repeated names (multidicts) with ``,``."""
    merged: dict[str, list[str]] = {}
    for name, value in headers.items():
        merged.setdefault(name.strip().lower(), []).append(_trim_all(value))
    return {name: ",".join(values) for name, values in merged.items()}


def canonical_request(
    method: str,
    raw_path: str,
    query_pairs: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    """The SigV4 canonical request, by S3's rules.

    ``raw_path`` is used exactly as sent on the wire (S3 neither normalises nor re-encodes it;
    empty means ``/``). ``query_pairs`` are decoded pairs (see :func:`parse_query`); for a
    presigned URL leave ``X-Amz-Signature`` out. ``headers`` may use any case; the values of the
    ``signed_headers`` (lower-case names, in the order the client listed them) are trimmed and
    their whitespace collapsed; a signed header that is absent counts as empty.
    """
    lowered = _lower_headers(headers)
    canonical_headers = "".join(f"{name}:{lowered.get(name, '')}\n" for name in signed_headers)
    return "\n".join(
        [
            method.upper(),
            raw_path or "/",
            canonical_query_string(query_pairs),
            canonical_headers,
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    """``AWS4-HMAC-SHA256\\n<amz_date>\\n<scope>\\n<hex sha256 of the canonical request>``."""
    digest = hashlib.sha256(canonical_request.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def derive_signing_key(secret: str, date: str, region: str, service: str = SERVICE) -> bytes:
    """The SigV4 signing key: HMAC chain over date (YYYYMMDD), region, service, aws4_request."""
    key = ("AWS4" + secret).encode("utf-8")
    for part in (date, region, service, TERMINATOR):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


def sign(signing_key: bytes, string_to_sign: str) -> str:
    """Hex HMAC-SHA256 of ``string_to_sign`` under ``signing_key``."""
    message = string_to_sign.encode("utf-8", "surrogateescape")
    return hmac.new(signing_key, message, hashlib.sha256).hexdigest()


def _signatures_equal(expected: str, provided: str) -> bool:
    return hmac.compare_digest(expected.encode("ascii"), provided.encode("ascii"))


def _format_amz_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_AMZ_DATE_FORMAT)


def _parse_amz_date(text: str) -> datetime | None:
    if not _AMZ_DATE_RE.fullmatch(text):
        return None
    try:
        return datetime.strptime(text, _AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")


# --- parsing the Authorization header -----------------------------------------------------------


@dataclass(frozen=True)
class Authorization:
    """The parts of ``AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…``."""

    access_key_id: str
    date: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        """The credential scope without the key id: ``date/region/service/aws4_request``."""
        return f"{self.date}/{self.region}/{self.service}/{self.terminator}"


def _parse_credential(
    credential: str, error: type[AuthorizationHeaderMalformed]
) -> tuple[str, str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or not all(parts):
        raise error(
            'the Credential is malformed; expecting "<access key id>/YYYYMMDD/REGION/s3/aws4_request"'
        )
    access_key_id, date, region, service, terminator = parts
    if not _SCOPE_DATE_RE.fullmatch(date):
        raise error("the Credential date is not in YYYYMMDD form")
    if service != SERVICE:
        raise error(f"the Credential service must be {SERVICE!r}")
    if terminator != TERMINATOR:
        raise error(f"the Credential must end with {TERMINATOR!r}")
    return access_key_id, date, region, service, terminator


def _parse_signed_headers(text: str, error: type[AuthorizationHeaderMalformed]) -> tuple[str, ...]:
    names = tuple(text.split(";"))
    if not all(_HEADER_NAME_RE.fullmatch(name) for name in names):
        raise error("SignedHeaders must be lower-case header names separated by ';'")
    if len(set(names)) != len(names):
        raise error("SignedHeaders names a header twice")
    return names


def parse_authorization(header: str) -> Authorization:
    """Parse an ``Authorization: AWS4-HMAC-SHA256 …`` header value.

    Checks its form only (credential shape, service ``s3``, ``aws4_request``, header names,
    64 lower-case hex digits of signature); :func:`verify_request` checks the signature.
    Raises :class:`UnsupportedAuthorization` for other schemes (SigV2 ``AWS …``, SigV4a) and
    :class:`AuthorizationHeaderMalformed` for anything that does not parse.
    """
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise UnsupportedAuthorization(
            f"the authorization mechanism you have provided is not supported; use {ALGORITHM}"
        )
    fields: dict[str, str] = {}
    for component in rest.split(","):
        key, sep, value = component.strip().partition("=")
        if not sep or key not in ("Credential", "SignedHeaders", "Signature") or key in fields:
            raise AuthorizationHeaderMalformed(
                "the authorization header is malformed; expecting Credential=…, "
                "SignedHeaders=…, Signature=…"
            )
        fields[key] = value.strip()
    if len(fields) != 3:
        raise AuthorizationHeaderMalformed(
            "the authorization header is malformed; it needs Credential, SignedHeaders and Signature"
        )
    access_key_id, date, region, service, terminator = _parse_credential(
        fields["Credential"], AuthorizationHeaderMalformed
    )
    signed = _parse_signed_headers(fields["SignedHeaders"], AuthorizationHeaderMalformed)
    signature = fields["Signature"]
    if not _SIGNATURE_RE.fullmatch(signature):
        raise AuthorizationHeaderMalformed("the Signature must be 64 lower-case hex digits")
    return Authorization(access_key_id, date, region, service, terminator, signed, signature)


# --- verifying a request ------------------------------------------------------------------------


@dataclass(frozen=True)
class ChunkSigning:
    """What the chunk and trailer signatures of an aws-chunked body chain from.

    ``signing_key`` is derived from the secret: keep it out of logs (it is left out of the repr).
    """

    signing_key: bytes = field(repr=False)
    amz_date: str
    scope: str
    seed_signature: str

    def chunk_signature(self, previous: str, chunk_sha256_hex: str) -> str:
        """Signature of a chunk whose data hashes to ``chunk_sha256_hex``, chained on ``previous``."""
        return sign(
            self.signing_key,
            "\n".join(
                [
                    "AWS4-HMAC-SHA256-PAYLOAD",
                    self.amz_date,
                    self.scope,
                    previous,
                    EMPTY_SHA256,
                    chunk_sha256_hex,
                ]
            ),
        )

    def trailer_signature(self, previous: str, canonical_trailers: bytes) -> str:
        """Signature of the trailer section (``name:value\\n`` per trailer, sorted by name)."""
        return sign(
            self.signing_key,
            "\n".join(
                [
                    "AWS4-HMAC-SHA256-TRAILER",
                    self.amz_date,
                    self.scope,
                    previous,
                    hashlib.sha256(canonical_trailers).hexdigest(),
                ]
            ),
        )


@dataclass(frozen=True)
class VerifiedRequest:
    """A request whose signature checked out.

    ``payload_hash`` is the lower-case hex SHA-256 the client signed (check it with
    :meth:`check_payload_sha256` once the body is read) or one of :data:`PAYLOAD_MODES`; the
    ``STREAMING-*`` modes mean an aws-chunked body (see :meth:`AwsChunkedDecoder.for_request`).
    """

    access_key_id: str
    payload_hash: str
    presigned: bool
    region: str
    request_time: datetime
    signed_headers: tuple[str, ...]
    chunk_signing: ChunkSigning
    expires_at: datetime | None = None

    @property
    def is_aws_chunked(self) -> bool:
        """Whether the body is aws-chunked (one of the STREAMING-* payload modes)."""
        return self.payload_hash.startswith("STREAMING-")

    def check_payload_sha256(self, actual_sha256_hex: str) -> None:
        """Raise :class:`ContentSHA256Mismatch` unless the body's SHA-256 is the one signed.

        A no-op for ``UNSIGNED-PAYLOAD`` and the streaming modes, whose bodies are covered by
        chunk signatures or checksums instead.
        """
        if self.payload_hash in PAYLOAD_MODES:
            return
        if not hmac.compare_digest(
            self.payload_hash.encode("ascii"), actual_sha256_hex.lower().encode("ascii")
        ):
            raise ContentSHA256Mismatch(
                "the provided x-amz-content-sha256 header does not match what was computed"
            )


def _check_payload_hash(value: str) -> str:
    if value in PAYLOAD_MODES:
        return value
    if _SHA256_HEX_RE.fullmatch(value):
        return value.lower()
    raise InvalidArgument(
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER) or a hex SHA-256"
    )


def _check_all_amz_headers_signed(lowered: Mapping[str, str], signed: Collection[str]) -> None:
    unsigned = sorted(name for name in lowered if name.startswith("x-amz-") and name not in signed)
    if unsigned:
        raise AccessDenied(
            "there were headers present in the request which were not signed: "
            + ", ".join(unsigned)
        )


def _signing_secret(secret_for: Callable[[str], str | None], access_key_id: str) -> str:
    secret = secret_for(access_key_id)
    if secret is None:
        raise InvalidAccessKeyId("the access key id you provided does not exist in our records")
    return secret


def _check_signature(
    *,
    secret: str,
    date: str,
    region: str,
    amz_date: str,
    scope: str,
    canonical: str,
    provided: str,
) -> bytes:
    """Return the signing key if ``provided`` is the signature of ``canonical``; else raise."""
    key = derive_signing_key(secret, date, region)
    to_sign = string_to_sign(amz_date, scope, canonical)
    if not _signatures_equal(sign(key, to_sign), provided):
        raise SignatureMismatch(
            "the request signature we calculated does not match the signature you provided; "
            "check your key and signing method",
            string_to_sign=to_sign,
            canonical_request=canonical,
        )
    return key


def verify_request(
    *,
    method: str,
    raw_path: str,
    query_pairs: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    secret_for: Callable[[str], str | None],
    now: datetime,
    max_skew: float = 900.0,
) -> VerifiedRequest:
    """Check a request's SigV4 signature (Authorization header or presigned URL) and return who signed.

    ``raw_path`` is the request-target's path exactly as received (still percent-encoded, no
    query); ``query_pairs`` come from :func:`parse_query` of the raw query string; ``headers``
    is any mapping (a multidict's repeated names are joined with ``,``); ``secret_for`` returns
    the secret of an access key id, or ``None`` if the key is unknown; ``now`` is the server's
    clock (timezone-aware); ``max_skew`` is in seconds.

    Raises an :class:`S3AuthError`; never returns an unverified request.
    """
    _require_aware(now)
    lowered = _lower_headers(headers)
    query_names = {name for name, _ in query_pairs}
    has_header = "authorization" in lowered
    has_query = "X-Amz-Algorithm" in query_names
    if has_header and has_query:
        raise InvalidArgument(
            "only one auth mechanism allowed; send either the X-Amz-Algorithm query parameter "
            "or the Authorization header"
        )
    if has_query:
        return _verify_presigned(method, raw_path, query_pairs, lowered, secret_for, now, max_skew)
    if has_header:
        return _verify_header(method, raw_path, query_pairs, lowered, secret_for, now, max_skew)
    if {"AWSAccessKeyId", "Signature"} <= query_names:
        raise UnsupportedAuthorization(f"signature version 2 is not supported; use {ALGORITHM}")
    raise AccessDenied("the request is not signed")


def _verify_header(
    method: str,
    raw_path: str,
    query_pairs: Sequence[tuple[str, str]],
    lowered: Mapping[str, str],
    secret_for: Callable[[str], str | None],
    now: datetime,
    max_skew: float,
) -> VerifiedRequest:
    auth = parse_authorization(lowered["authorization"])
    signed = set(auth.signed_headers)
    if "host" not in signed:
        raise AuthorizationHeaderMalformed("the host header must be signed")

    # x-amz-date wins over Date when both are present, as in S3; whichever is used must be signed.
    moment: datetime | None
    if "x-amz-date" in lowered:
        date_header = "x-amz-date"
        moment = _parse_amz_date(lowered["x-amz-date"])
    elif "date" in lowered:
        date_header = "date"
        moment = _parse_http_date(lowered["date"])
    else:
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
    if moment is None:
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
    if date_header not in signed:
        raise AuthorizationHeaderMalformed(f"the {date_header} header must be signed")
    amz_date = _format_amz_date(moment)
    if auth.date != amz_date[:8]:
        raise AuthorizationHeaderMalformed(
            "invalid credential date: it is not the same day as the request's date"
        )

    if "x-amz-content-sha256" not in lowered:
        raise InvalidArgument("missing required header for this request: x-amz-content-sha256")
    payload_hash = _check_payload_hash(lowered["x-amz-content-sha256"])
    if "x-amz-security-token" in lowered:
        raise InvalidArgument("temporary credentials (x-amz-security-token) are not accepted")
    _check_all_amz_headers_signed(lowered, signed)

    secret = _signing_secret(secret_for, auth.access_key_id)
    canonical = canonical_request(
        method,
        raw_path,
        query_pairs,
        lowered,
        auth.signed_headers,
        lowered["x-amz-content-sha256"],
    )
    key = _check_signature(
        secret=secret,
        date=auth.date,
        region=auth.region,
        amz_date=amz_date,
        scope=auth.scope,
        canonical=canonical,
        provided=auth.signature,
    )

    if abs((now - moment).total_seconds()) > max_skew:
        raise RequestTimeTooSkewed(
            "the difference between the request time and the server's time is too large"
        )
    return VerifiedRequest(
        access_key_id=auth.access_key_id,
        payload_hash=payload_hash,
        presigned=False,
        region=auth.region,
        request_time=moment,
        signed_headers=auth.signed_headers,
        chunk_signing=ChunkSigning(key, amz_date, auth.scope, auth.signature),
    )


def _parse_http_date(text: str) -> datetime | None:
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # "-0000": UTC, per RFC 5322 (botocore's formatdate sends it)
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


_PRESIGN_PARAMS: Final = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)


def _verify_presigned(
    method: str,
    raw_path: str,
    query_pairs: Sequence[tuple[str, str]],
    lowered: Mapping[str, str],
    secret_for: Callable[[str], str | None],
    now: datetime,
    max_skew: float,
) -> VerifiedRequest:
    error = AuthorizationQueryParametersError
    params: dict[str, str] = {}
    for name, value in query_pairs:
        if name in _PRESIGN_PARAMS or name == "X-Amz-Security-Token":
            if name in params:
                raise error(f"the {name} query parameter is given more than once")
            params[name] = value
    missing = [name for name in _PRESIGN_PARAMS if name not in params]
    if missing:
        raise error(
            "query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders and "
            "X-Amz-Expires parameters"
        )
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise error(f"X-Amz-Algorithm only supports {ALGORITHM}")
    access_key_id, date, region, service, terminator = _parse_credential(
        params["X-Amz-Credential"], error
    )
    scope = f"{date}/{region}/{service}/{terminator}"
    signed_headers = _parse_signed_headers(params["X-Amz-SignedHeaders"], error)
    if "host" not in signed_headers:
        raise error("the host header must be signed")
    amz_date = params["X-Amz-Date"]
    moment = _parse_amz_date(amz_date)
    if moment is None:
        raise error("X-Amz-Date must be in the ISO8601 basic format YYYYMMDD'T'HHMMSS'Z'")
    if date != amz_date[:8]:
        raise error("invalid credential date: it is not the same day as X-Amz-Date")
    expires_text = params["X-Amz-Expires"]
    if not _DECIMAL_RE.fullmatch(expires_text):
        raise error("X-Amz-Expires should be a number")
    expires = int(expires_text)
    if not 1 <= expires <= MAX_PRESIGNED_EXPIRES:
        raise error(
            f"X-Amz-Expires must be between 1 and {MAX_PRESIGNED_EXPIRES} seconds (one week)"
        )
    signature = params["X-Amz-Signature"]
    if not _SIGNATURE_RE.fullmatch(signature):
        raise error("X-Amz-Signature must be 64 lower-case hex digits")
    if "X-Amz-Security-Token" in params or "x-amz-security-token" in lowered:
        raise InvalidArgument("temporary credentials (X-Amz-Security-Token) are not accepted")

    # A presigned URL covers no payload, unless the client also signed an x-amz-content-sha256
    # header (botocore does when one is set).
    payload_header = lowered.get("x-amz-content-sha256")
    if payload_header is not None and "x-amz-content-sha256" in signed_headers:
        payload_hash = _check_payload_hash(payload_header)
        canonical_payload = payload_header
    else:
        payload_hash = canonical_payload = UNSIGNED_PAYLOAD
    _check_all_amz_headers_signed(lowered, signed_headers)

    secret = _signing_secret(secret_for, access_key_id)
    canonical = canonical_request(
        method,
        raw_path,
        [(name, value) for name, value in query_pairs if name != "X-Amz-Signature"],
        lowered,
        signed_headers,
        canonical_payload,
    )
    key = _check_signature(
        secret=secret,
        date=date,
        region=region,
        amz_date=amz_date,
        scope=scope,
        canonical=canonical,
        provided=signature,
    )

    expires_at = moment + timedelta(seconds=expires)
    if (moment - now).total_seconds() > max_skew:
        raise AccessDenied("request is not valid yet")
    if now > expires_at:
        raise AccessDenied("Request has expired")
    return VerifiedRequest(
        access_key_id=access_key_id,
        payload_hash=payload_hash,
        presigned=True,
        region=region,
        request_time=moment,
        signed_headers=signed_headers,
        chunk_signing=ChunkSigning(key, amz_date, scope, signature),
        expires_at=expires_at,
    )


# --- client side --------------------------------------------------------------------------------


def _split_url(url: str) -> tuple[str, str, str]:
    """``(host header value, raw path, raw query)`` of ``url``, host as botocore derives it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidRequest(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest("the URL must be http:// or https:// with a host")
    host = parts.hostname
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != {"http": 80, "https": 443}[parts.scheme]:
        host = f"{host}:{port}"
    return host, parts.path or "/", parts.query


def _headers_to_sign(headers: Mapping[str, str], host: str) -> dict[str, str]:
    lowered = {
        name: value
        for name, value in _lower_headers(headers).items()
        if name not in _UNSIGNABLE_HEADERS
    }
    lowered.setdefault("host", host)
    return lowered


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    payload_hash: str,
    *,
    access_key: str,
    secret: str,
    region: str,
    now: datetime,
) -> dict[str, str]:
    """Sign a request the way botocore does; return the headers to add to it.

    ``url`` must already be percent-encoded exactly as it will be sent (build paths with
    ``uri_encode(key, encode_slash=False)``); its path is signed as-is. Every header in
    ``headers`` is signed except hop-by-hop ones and User-Agent. ``payload_hash`` is the body's
    hex SHA-256 or ``UNSIGNED-PAYLOAD``. Returns ``Host``, ``X-Amz-Date``,
    ``X-Amz-Content-SHA256`` and ``Authorization``.
    """
    _require_aware(now)
    host, raw_path, raw_query = _split_url(url)
    amz_date = _format_amz_date(now)
    to_sign = _headers_to_sign(headers, host)
    to_sign["x-amz-date"] = amz_date
    to_sign["x-amz-content-sha256"] = payload_hash
    signed_headers = sorted(to_sign)
    scope = f"{amz_date[:8]}/{region}/{SERVICE}/{TERMINATOR}"
    canonical = canonical_request(
        method, raw_path, parse_query(raw_query), to_sign, signed_headers, payload_hash
    )
    signature = sign(
        derive_signing_key(secret, amz_date[:8], region), string_to_sign(amz_date, scope, canonical)
    )
    return {
        "Host": to_sign["host"],
        "X-Amz-Date": amz_date,
        "X-Amz-Content-SHA256": payload_hash,
        "Authorization": (
            f"{ALGORITHM} Credential={access_key}/{scope}, "
            f"SignedHeaders={';'.join(signed_headers)}, Signature={signature}"
        ),
    }


def presign_url(
    method: str,
    url: str,
    *,
    access_key: str,
    secret: str,
    region: str,
    now: datetime,
    expires: int = 3600,
    headers: Mapping[str, str] | None = None,
) -> str:
    """A presigned URL valid for ``expires`` seconds from ``now`` (payload ``UNSIGNED-PAYLOAD``).

    ``headers`` (besides ``host``, always signed) must then be sent with the URL unchanged.
    """
    _require_aware(now)
    if not 1 <= expires <= MAX_PRESIGNED_EXPIRES:
        raise InvalidRequest(f"expires must be between 1 and {MAX_PRESIGNED_EXPIRES} seconds")
    host, raw_path, raw_query = _split_url(url)
    amz_date = _format_amz_date(now)
    to_sign = _headers_to_sign(headers or {}, host)
    signed_headers = sorted(to_sign)
    scope = f"{amz_date[:8]}/{region}/{SERVICE}/{TERMINATOR}"
    auth_params = [
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", f"{access_key}/{scope}"),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", str(expires)),
        ("X-Amz-SignedHeaders", ";".join(signed_headers)),
    ]
    canonical = canonical_request(
        method,
        raw_path,
        parse_query(raw_query) + auth_params,
        to_sign,
        signed_headers,
        UNSIGNED_PAYLOAD,
    )
    signature = sign(
        derive_signing_key(secret, amz_date[:8], region), string_to_sign(amz_date, scope, canonical)
    )
    encoded = "&".join(
        f"{uri_encode(name)}={uri_encode(value)}"
        for name, value in [*auth_params, ("X-Amz-Signature", signature)]
    )
    base = url.split("#", 1)[0]
    if raw_query:
        return f"{base}&{encoded}"
    return f"{base.rstrip('?')}?{encoded}"


# --- aws-chunked bodies -------------------------------------------------------------------------

_HEADER, _DATA, _DATA_END, _TRAILER, _DONE, _FAILED = range(6)


class AwsChunkedDecoder:
    """Incremental decoder of an ``aws-chunked`` request body.

    Feed it the body (after HTTP's own transfer decoding) in pieces of any size; each
    :meth:`feed` returns the payload bytes those pieces completed, so memory stays bounded by
    the piece size whatever the chunk size (chunk lines ≤ 4 KiB, trailer section ≤ 16 KiB).
    :meth:`finish` raises :class:`IncompleteBody` unless the final zero-length chunk and its
    trailers arrived and the decoded length matches ``decoded_content_length``.

    ``mode`` (a payload hash, or a :class:`VerifiedRequest` to take it and its chunk signing
    from) picks the framing: ``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` (``<hex>\\r\\n``
    chunk lines, optional trailers), ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD``
    (``<hex>;chunk-signature=<sig>\\r\\n``, no trailers) or its ``-TRAILER`` variant (signed
    chunks, then trailers closed by ``x-amz-trailer-signature``). The signed modes need
    ``chunk_signing`` from :class:`VerifiedRequest`. ``declared_trailers`` (from x-amz-trailer),
    when given, must be exactly the trailers received.

    Bytes of a signed chunk are returned before its signature is checked (at the chunk's end):
    do not act on the payload until :meth:`finish` returns.
    """

    def __init__(
        self,
        mode: str | VerifiedRequest = STREAMING_UNSIGNED_PAYLOAD_TRAILER,
        *,
        chunk_signing: ChunkSigning | None = None,
        decoded_content_length: int | None = None,
        declared_trailers: Collection[str] | None = None,
    ) -> None:
        if isinstance(mode, VerifiedRequest):
            payload_hash = mode.payload_hash
            chunk_signing = chunk_signing or mode.chunk_signing
        else:
            payload_hash = mode
        if payload_hash not in (
            STREAMING_UNSIGNED_PAYLOAD_TRAILER,
            STREAMING_SIGNED_PAYLOAD,
            STREAMING_SIGNED_PAYLOAD_TRAILER,
        ):
            raise MalformedChunkedBody(f"{payload_hash!r} is not an aws-chunked payload")
        self._signing: ChunkSigning | None = None
        self._previous = ""
        if payload_hash != STREAMING_UNSIGNED_PAYLOAD_TRAILER:
            if chunk_signing is None:
                raise ValueError(f"{payload_hash} needs the request's chunk_signing")
            self._signing = chunk_signing
            self._previous = chunk_signing.seed_signature
        self._trailers_allowed = payload_hash != STREAMING_SIGNED_PAYLOAD
        self._decoded_content_length = decoded_content_length
        self._declared = (
            None if declared_trailers is None else {name.lower() for name in declared_trailers}
        )
        self._state = _HEADER
        self._line = bytearray()
        self._trailer_bytes = 0
        self._remaining = 0
        self._chunk_hash: Any = None
        self._chunk_signature = ""
        self._decoded = 0
        self._trailers: dict[str, str] = {}
        self._trailer_signature: str | None = None

    @classmethod
    def for_request(
        cls, verified: VerifiedRequest, headers: Mapping[str, str]
    ) -> AwsChunkedDecoder:
        """A decoder for a verified request: its payload mode, x-amz-decoded-content-length
        and x-amz-trailer."""
        lowered = _lower_headers(headers)
        length: int | None = None
        if "x-amz-decoded-content-length" in lowered:
            text = lowered["x-amz-decoded-content-length"]
            if not _DECIMAL_RE.fullmatch(text):
                raise MalformedChunkedBody("x-amz-decoded-content-length must be a decimal number")
            length = int(text)
        declared = [
            name.strip().lower()
            for name in lowered.get("x-amz-trailer", "").split(",")
            if name.strip()
        ]
        return cls(
            verified.payload_hash,
            chunk_signing=verified.chunk_signing,
            decoded_content_length=length,
            declared_trailers=declared,
        )

    @property
    def trailers(self) -> dict[str, str]:
        """Trailers received (lower-case names, without x-amz-trailer-signature); complete
        once :meth:`finish` has returned."""
        return dict(self._trailers)

    @property
    def decoded_length(self) -> int:
        """Payload bytes returned so far."""
        return self._decoded

    def feed(self, data: bytes | bytearray | memoryview) -> bytes:
        """Decode the next piece of the body; return the payload bytes it completes."""
        if self._state == _FAILED:
            raise MalformedChunkedBody("the aws-chunked body already failed to decode")
        try:
            return self._feed(bytes(data))
        except Exception:
            self._state = _FAILED
            raise

    def finish(self) -> bytes:
        """Check that the body ended where the encoding says it ends.

        Returns ``b""``: no payload byte is ever held back, so there is nothing left to flush.
        """
        if self._state == _FAILED:
            raise MalformedChunkedBody("the aws-chunked body already failed to decode")
        if self._state != _DONE:
            self._state = _FAILED
            raise IncompleteBody("the request body terminated before the final chunk")
        declared = self._decoded_content_length
        if declared is not None and self._decoded != declared:
            self._state = _FAILED
            raise IncompleteBody(
                "you did not provide the number of bytes specified by x-amz-decoded-content-length"
            )
        return b""

    def _feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        pos, end = 0, len(data)
        while pos < end:
            state = self._state
            if state == _DATA:
                take = min(self._remaining, end - pos)
                piece = data[pos : pos + take]
                pos += take
                self._remaining -= take
                self._decoded += take
                if self._chunk_hash is not None:
                    self._chunk_hash.update(piece)
                out.append(piece)
                if self._remaining == 0:
                    self._state = _DATA_END
            elif state == _DATA_END:
                expected = b"\r\n"[len(self._line)]
                if data[pos] != expected:
                    raise MalformedChunkedBody("chunk data is not followed by CRLF")
                self._line.append(data[pos])
                pos += 1
                if len(self._line) == 2:
                    self._line.clear()
                    self._end_of_chunk()
                    self._state = _HEADER
            elif state in (_HEADER, _TRAILER):
                newline = data.find(b"\n", pos)
                stop = end if newline < 0 else newline + 1
                self._take_line_bytes(data, pos, stop)
                pos = stop
                if newline >= 0:
                    line = bytes(self._line)
                    self._line.clear()
                    if not line.endswith(b"\r\n"):
                        raise MalformedChunkedBody("aws-chunked lines must end with CRLF")
                    if state == _HEADER:
                        self._chunk_line(line[:-2])
                    else:
                        self._trailer_line(line[:-2])
            else:  # _DONE
                raise MalformedChunkedBody("data after the end of the aws-chunked body")
        return b"".join(out)

    def _take_line_bytes(self, data: bytes, start: int, stop: int) -> None:
        size = stop - start
        if self._state == _HEADER:
            if len(self._line) + size > MAX_CHUNK_HEADER_LINE:
                raise MalformedChunkedBody("an aws-chunked chunk line is longer than 4 KiB")
        else:
            self._trailer_bytes += size
            if self._trailer_bytes > MAX_TRAILER_SECTION:
                raise MalformedChunkedBody("the aws-chunked trailers are longer than 16 KiB")
        self._line += data[start:stop]

    def _chunk_line(self, line: bytes) -> None:
        if self._signing is None:
            match = _UNSIGNED_CHUNK_RE.fullmatch(line)
            signature = ""
        else:
            match = _SIGNED_CHUNK_RE.fullmatch(line)
            signature = match.group(2).decode("ascii") if match else ""
        if match is None:
            expected = "<hex size>" if self._signing is None else "<hex size>;chunk-signature=<sig>"
            raise MalformedChunkedBody(f"a chunk line must be {expected}")
        size = int(match.group(1), 16)
        declared = self._decoded_content_length
        if declared is not None and self._decoded + size > declared:
            raise MalformedChunkedBody("the chunks carry more than x-amz-decoded-content-length")
        self._chunk_signature = signature
        if size == 0:
            # The zero-length chunk is signed too; its CRLF doubles as the end of the trailers.
            if self._signing is not None:
                self._check_chunk_signature(EMPTY_SHA256)
            self._state = _TRAILER
            return
        self._remaining = size
        self._chunk_hash = hashlib.sha256() if self._signing is not None else None
        self._state = _DATA

    def _end_of_chunk(self) -> None:
        if self._chunk_hash is not None:
            self._check_chunk_signature(self._chunk_hash.hexdigest())
            self._chunk_hash = None

    def _check_chunk_signature(self, chunk_sha256_hex: str) -> None:
        if self._signing is None:  # pragma: no cover - only called in signed modes
            return
        expected = self._signing.chunk_signature(self._previous, chunk_sha256_hex)
        if not _signatures_equal(expected, self._chunk_signature):
            raise SignatureMismatch("a chunk signature does not match")
        self._previous = expected

    def _trailer_line(self, line: bytes) -> None:
        if not line:
            self._end_of_trailers()
            return
        if not self._trailers_allowed:
            raise MalformedChunkedBody(f"{STREAMING_SIGNED_PAYLOAD} bodies carry no trailers")
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            raise MalformedChunkedBody("a trailer must be ASCII") from None
        name, sep, value = text.partition(":")
        name, value = name.strip().lower(), value.strip()
        if not sep or not _HEADER_NAME_RE.fullmatch(name):
            raise MalformedChunkedBody("a trailer must be <name>:<value>")
        if name == _TRAILER_SIGNATURE:
            if self._signing is None:
                raise MalformedChunkedBody(
                    "an unsigned aws-chunked body carries a trailer signature"
                )
            if self._trailer_signature is not None or not _SIGNATURE_RE.fullmatch(value):
                raise MalformedChunkedBody("x-amz-trailer-signature must be one signature")
            self._trailer_signature = value
            return
        if self._trailer_signature is not None:
            raise MalformedChunkedBody("x-amz-trailer-signature must be the last trailer")
        if name in self._trailers:
            raise MalformedChunkedBody(f"the trailer {name} is given twice")
        self._trailers[name] = value

    def _end_of_trailers(self) -> None:
        if self._signing is not None and self._trailers_allowed:
            if self._trailer_signature is None:
                raise MalformedChunkedBody("the trailers lack x-amz-trailer-signature")
            canonical = "".join(
                f"{name}:{value}\n" for name, value in sorted(self._trailers.items())
            ).encode("ascii")
            expected = self._signing.trailer_signature(self._previous, canonical)
            if not _signatures_equal(expected, self._trailer_signature):
                raise SignatureMismatch("the trailer signature does not match")
        if self._declared is not None:
            received = set(self._trailers)
            if received - self._declared:
                extra = ", ".join(sorted(received - self._declared))
                raise MalformedChunkedBody(f"trailers not declared in x-amz-trailer: {extra}")
            if self._declared - received:
                missing = ", ".join(sorted(self._declared - received))
                raise IncompleteBody(f"trailers declared in x-amz-trailer are missing: {missing}")
        self._state = _DONE


# --- checksums ----------------------------------------------------------------------------------

_DIGEST_SIZES: Final = {"crc32": 4, "sha1": 20, "sha256": 32, "sha512": 64, "md5": 16}
_UNSUPPORTED_CHECKSUMS: Final = frozenset(
    {"crc32c", "crc64nvme", "xxhash64", "xxhash3", "xxhash128"}
)
# x-amz-checksum-* headers that name a mode or an algorithm rather than carry a digest.
_CHECKSUM_NON_DIGESTS: Final = frozenset({"algorithm", "mode", "type"})
_CHECKSUM_PREFIX: Final = "x-amz-checksum-"


def _checksum_algorithm(name: str) -> str:
    """``crc32`` for ``x-amz-checksum-crc32``/``CRC32``/``crc32``, ``md5`` for ``content-md5``."""
    lowered = name.strip().lower()
    if lowered == "content-md5":
        return "md5"
    algorithm = lowered.removeprefix(_CHECKSUM_PREFIX)
    if algorithm in _DIGEST_SIZES:
        return algorithm
    if algorithm in _UNSUPPORTED_CHECKSUMS:
        raise UnsupportedChecksum(
            f"{_CHECKSUM_PREFIX}{algorithm} is not supported; use CRC32 or SHA256"
        )
    raise UnsupportedChecksum(f"unknown checksum {name!r}; use CRC32 or SHA256")


class Checksums:
    """CRC32, SHA-1, SHA-256, SHA-512 and MD5 of a payload, updated as it streams.

    Name the algorithms up front (``crc32`` or the header name ``x-amz-checksum-crc32``;
    ``md5``/``content-md5``) so a trailer that only arrives at the end can still be checked;
    an unsupported one (CRC32C, CRC64NVME, xxhash) raises :class:`UnsupportedChecksum` before
    any byte is read. CRC32 is the big-endian 4 bytes of ``zlib.crc32``, as S3 encodes it.
    """

    def __init__(
        self,
        algorithms: Iterable[str] = ("crc32", "sha1", "sha256", "sha512", "md5"),
        *,
        shared_sha256: Any = None,
    ) -> None:
        """``shared_sha256``: a ``hashlib.sha256()`` object the caller updates with the same
        bytes itself (e.g. the blob writer's), used for SHA-256 instead of hashing twice."""
        self._crc32: int | None = None
        self._hashes: dict[str, Any] = {}
        self._shared: dict[str, Any] = {}
        if shared_sha256 is not None:
            self._shared["sha256"] = shared_sha256
        for name in algorithms:
            algorithm = _checksum_algorithm(name)
            if algorithm == "crc32":
                self._crc32 = 0
            elif algorithm in self._shared:
                continue
            elif algorithm == "md5":
                self._hashes["md5"] = hashlib.md5(usedforsecurity=False)
            else:
                self._hashes[algorithm] = hashlib.new(algorithm)

    @classmethod
    def for_declared(
        cls, *fields: Mapping[str, str] | Iterable[str], shared_sha256: Any = None
    ) -> Checksums:
        """Checksums for the digests that headers (or x-amz-trailer names) declare, plus SHA-256.

        Each argument is a header mapping (its ``x-amz-checksum-*`` and ``Content-MD5`` keys
        count) or an iterable of header names (e.g. the x-amz-trailer list).
        """
        names: list[str] = ["sha256"]
        for group in fields:
            for name in group:
                if _is_declared_digest(name):
                    names.append(name)
        return cls(names, shared_sha256=shared_sha256)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Add the next bytes of the payload."""
        if self._crc32 is not None:
            self._crc32 = zlib.crc32(data, self._crc32)
        for digest in self._hashes.values():
            digest.update(data)

    def digest(self, name: str) -> bytes:
        """The raw digest so far of ``name`` (``crc32``, ``x-amz-checksum-sha256``, …)."""
        algorithm = _checksum_algorithm(name)
        if algorithm == "crc32":
            if self._crc32 is None:
                raise UnsupportedChecksum("CRC32 is not being computed for this payload")
            return (self._crc32 & 0xFFFFFFFF).to_bytes(4, "big")
        if algorithm in self._shared:
            shared: bytes = self._shared[algorithm].digest()
            return shared
        if algorithm not in self._hashes:
            raise UnsupportedChecksum(f"{algorithm.upper()} is not being computed for this payload")
        result: bytes = self._hashes[algorithm].digest()
        return result

    def base64(self, name: str) -> str:
        """The digest in base64, as x-amz-checksum-* headers and Content-MD5 carry it."""
        return base64.b64encode(self.digest(name)).decode("ascii")

    def hexdigest(self, name: str) -> str:
        """The digest in lower-case hex (x-amz-content-sha256, ETags)."""
        return self.digest(name).hex()

    def check(self, name: str, expected_base64: str) -> None:
        """Raise :class:`BadDigest` unless the payload's ``name`` digest is ``expected_base64``.

        :class:`InvalidDigest` if ``expected_base64`` is not base64 of the right size.
        """
        algorithm = _checksum_algorithm(name)
        label = "Content-MD5" if algorithm == "md5" else algorithm.upper()
        try:
            expected = base64.b64decode(expected_base64.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidDigest(f"the {label} you specified is not valid base64") from None
        if len(expected) != _DIGEST_SIZES[algorithm]:
            raise InvalidDigest(f"the {label} you specified is not a {label} digest")
        if not hmac.compare_digest(self.digest(algorithm), expected):
            raise BadDigest(f"the {label} you specified did not match the calculated checksum")

    def check_declared(self, fields: Mapping[str, str]) -> None:
        """Check every ``x-amz-checksum-<algorithm>`` and ``Content-MD5`` in headers or trailers."""
        for name, value in _lower_headers(fields).items():
            if _is_declared_digest(name):
                self.check(name, value)


def _is_declared_digest(name: str) -> bool:
    lowered = name.strip().lower()
    if lowered == "content-md5":
        return True
    return (
        lowered.startswith(_CHECKSUM_PREFIX)
        and lowered.removeprefix(_CHECKSUM_PREFIX) not in _CHECKSUM_NON_DIGESTS
    )
