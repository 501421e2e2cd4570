"""SigV4 and aws-chunked, checked against AWS's published examples and botocore's own signer.

Requests are produced by boto3/botocore exactly as they would go on the wire (a ``before-send``
hook captures the prepared request instead of sending it), then verified by our
:func:`verify_request` and tampered with. aws-chunked bodies come from botocore's
``AwsChunkedWrapper`` (unsigned, CRC32 trailer) or follow AWS's published streaming example
(signed chunks); the signed-trailer variant, for which we know no published vector, is built by
a deliberately naive reference signer written out in this file.

The known-answer values are AWS's, from the Amazon S3 API Reference: "Examples of signature
calculations" for header authentication (GET Object, PUT Object, GET Bucket Lifecycle, GET Bucket
(List Objects)), for query-string authentication, and for "Signature calculations for the
Authorization header: Transferring payload in multiple chunks" (the PUT Object streaming
example). They are inline rather than under tests/vectors/ to keep this change to one test file.
"""

from __future__ import annotations

import base64
import dataclasses
import email.utils
import hashlib
import hmac
import io
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.httpchecksum import (
    AwsChunkedWrapper,
    Crc32Checksum,
    Sha1Checksum,
    Sha256Checksum,
    Sha512Checksum,
)
from botocore.utils import percent_encode_sequence
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.documents import sigv4
from accord.documents.sigv4 import (
    EMPTY_SHA256,
    STREAMING_SIGNED_PAYLOAD,
    STREAMING_SIGNED_PAYLOAD_TRAILER,
    STREAMING_UNSIGNED_PAYLOAD_TRAILER,
    UNSIGNED_PAYLOAD,
    AwsChunkedDecoder,
    Checksums,
    ChunkSigning,
    S3AuthError,
    S3RequestError,
    VerifiedRequest,
    canonical_request,
    derive_signing_key,
    parse_authorization,
    parse_query,
    presign_url,
    sign_request,
    string_to_sign,
    uri_encode,
    verify_request,
)
from accord.errors import AuthError, InvalidRequest

AK = "AKIDEXAMPLE"
SK = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SECRETS = {AK: SK}
REGION = "eu-west-3"
HTTP = "http://127.0.0.1:9000"
HTTPS = "https://s3.accord.test:8443"
KEY = "ü/ä b.txt"

AWS_AK = "AKIAIOSFODNN7EXAMPLE"
AWS_SK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_TIME = datetime(2013, 5, 24, tzinfo=UTC)
AWS_SECRETS = {AWS_AK: AWS_SK}


def code_of(exc: BaseException) -> str:
    assert isinstance(exc, S3AuthError | S3RequestError), exc
    return exc.code


# --- requests as botocore puts them on the wire ----------------------------------------------


@dataclasses.dataclass(frozen=True)
class Wire:
    """A request as the server receives it: raw path, raw query, headers, body."""

    method: str
    raw_path: str
    raw_query: str
    headers: dict[str, str]
    body: bytes = b""

    @classmethod
    def from_prepared(cls, request: Any) -> Wire:
        parts = urlsplit(request.url)
        # urllib3 adds Host from the URL (these endpoints have explicit, non-default ports).
        headers = {"Host": parts.netloc}
        for name, value in request.headers.items():
            headers[name] = value.decode() if isinstance(value, bytes) else value
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, str):
            body = body.encode()
        return cls(request.method, parts.path, parts.query, headers, body or b"")

    @classmethod
    def from_url(cls, method: str, url: str, headers: dict[str, str] | None = None) -> Wire:
        parts = urlsplit(url)
        return cls(method, parts.path, parts.query, {"Host": parts.netloc, **(headers or {})})

    def header(self, name: str) -> str:
        return next(v for k, v in self.headers.items() if k.lower() == name.lower())

    def with_header(self, name: str, value: str | None) -> Wire:
        headers = {k: v for k, v in self.headers.items() if k.lower() != name.lower()}
        if value is not None:
            headers[name] = value
        return dataclasses.replace(self, headers=headers)

    @property
    def signed_at(self) -> datetime:
        pairs = dict(parse_query(self.raw_query))
        stamp = pairs.get("X-Amz-Date") or self.header("x-amz-date")
        return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)

    def verify(
        self, *, now: datetime | None = None, secrets: dict[str, str] = SECRETS
    ) -> VerifiedRequest:
        return verify_request(
            method=self.method,
            raw_path=self.raw_path,
            query_pairs=parse_query(self.raw_query),
            headers=self.headers,
            secret_for=secrets.get,
            now=now or self.signed_at + timedelta(seconds=2),
        )

    def refused(self, **kwargs: Any) -> BaseException:
        with pytest.raises((S3AuthError, S3RequestError)) as info:
            self.verify(**kwargs)
        return info.value


class _Captured(Exception):
    def __init__(self, request: Any) -> None:
        super().__init__("captured")
        self.request = request


def _capture(request: Any, **_: Any) -> None:
    raise _Captured(request)


def make_client(endpoint: str) -> Any:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=AK,
        aws_secret_access_key=SK,
        region_name=REGION,
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1, "mode": "standard"},
            request_checksum_calculation="when_supported",
        ),
    )
    client.meta.events.register("before-send", _capture)
    return client


@pytest.fixture(scope="module")
def http() -> Any:
    return make_client(HTTP)


@pytest.fixture(scope="module")
def https() -> Any:
    return make_client(HTTPS)


def sent(call: Callable[[], object]) -> Wire:
    with pytest.raises(_Captured) as info:
        call()
    return Wire.from_prepared(info.value.request)


# --- AWS's published examples ----------------------------------------------------------------


def test_aws_example_get_object() -> None:
    headers = {
        "Host": "examplebucket.s3.amazonaws.com",
        "Range": "bytes=0-9",
        "x-amz-content-sha256": EMPTY_SHA256,
        "x-amz-date": "20130524T000000Z",
    }
    signed = ["host", "range", "x-amz-content-sha256", "x-amz-date"]
    canonical = canonical_request("GET", "/test.txt", [], headers, signed, EMPTY_SHA256)
    assert canonical == (
        "GET\n/test.txt\n\n"
        "host:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
        f"x-amz-content-sha256:{EMPTY_SHA256}\nx-amz-date:20130524T000000Z\n\n"
        f"host;range;x-amz-content-sha256;x-amz-date\n{EMPTY_SHA256}"
    )
    scope = "20130524/us-east-1/s3/aws4_request"
    to_sign = string_to_sign("20130524T000000Z", scope, canonical)
    assert to_sign.endswith("7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972")
    signature = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    key = derive_signing_key(AWS_SK, "20130524", "us-east-1")
    assert sigv4.sign(key, to_sign) == signature

    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={AWS_AK}/{scope},"
        f"SignedHeaders={';'.join(signed)},Signature={signature}"
    )
    wire = Wire("GET", "/test.txt", "", headers)
    verified = wire.verify(now=AWS_TIME, secrets=AWS_SECRETS)
    assert verified.access_key_id == AWS_AK
    assert verified.payload_hash == EMPTY_SHA256
    assert verified.region == "us-east-1"
    verified.check_payload_sha256(hashlib.sha256(b"").hexdigest())
    assert code_of(
        wire.with_header("Range", "bytes=0-10").refused(now=AWS_TIME, secrets=AWS_SECRETS)
    ) == ("SignatureDoesNotMatch")


def test_aws_example_put_object_with_date_and_x_amz_date() -> None:
    payload = b"Welcome to Amazon S3."
    payload_hash = hashlib.sha256(payload).hexdigest()
    assert payload_hash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    headers = {
        "Date": "Fri, 24 May 2013 00:00:00 GMT",
        "Host": "examplebucket.s3.amazonaws.com",
        "x-amz-content-sha256": payload_hash,
        "x-amz-date": "20130524T000000Z",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential={AWS_AK}/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"
            "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
        ),
    }
    # The example's key is "test$file.text": on the wire (and so in the canonical URI) "$" is %24.
    wire = Wire("PUT", "/test%24file.text", "", headers, payload)
    verified = wire.verify(now=AWS_TIME, secrets=AWS_SECRETS)
    verified.check_payload_sha256(hashlib.sha256(payload).hexdigest())
    with pytest.raises(sigv4.ContentSHA256Mismatch) as info:
        verified.check_payload_sha256(hashlib.sha256(b"Welcome to Amazon S4.").hexdigest())
    assert info.value.code == "XAmzContentSHA256Mismatch"
    assert isinstance(info.value, InvalidRequest)
    # S3 does not decode and re-encode the path: the same key sent unencoded is another request.
    unencoded = dataclasses.replace(wire, raw_path="/test$file.text")
    assert code_of(unencoded.refused(now=AWS_TIME, secrets=AWS_SECRETS)) == "SignatureDoesNotMatch"


@pytest.mark.parametrize(
    ("raw_query", "sts_hash", "signature"),
    [
        (
            "lifecycle",
            "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
        ),
        (
            "max-keys=2&prefix=J",
            "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
        ),
    ],
)
def test_aws_examples_bucket_queries(raw_query: str, sts_hash: str, signature: str) -> None:
    headers = {
        "Host": "examplebucket.s3.amazonaws.com",
        "x-amz-content-sha256": EMPTY_SHA256,
        "x-amz-date": "20130524T000000Z",
    }
    signed = ["host", "x-amz-content-sha256", "x-amz-date"]
    canonical = canonical_request("GET", "/", parse_query(raw_query), headers, signed, EMPTY_SHA256)
    to_sign = string_to_sign("20130524T000000Z", "20130524/us-east-1/s3/aws4_request", canonical)
    assert to_sign.rsplit("\n", 1)[1] == sts_hash
    headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={AWS_AK}/20130524/us-east-1/s3/aws4_request,"
        f"SignedHeaders={';'.join(signed)},Signature={signature}"
    )
    Wire("GET", "/", raw_query, headers).verify(now=AWS_TIME, secrets=AWS_SECRETS)
    # The query is reordered into canonical order: the order on the wire does not matter.
    reordered = "&".join(reversed(raw_query.split("&")))
    Wire("GET", "/", reordered, headers).verify(now=AWS_TIME, secrets=AWS_SECRETS)


AWS_PRESIGNED = (
    "X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
)


def test_aws_example_presigned_url() -> None:
    wire = Wire("GET", "/test.txt", AWS_PRESIGNED, {"Host": "examplebucket.s3.amazonaws.com"})
    pairs = [(k, v) for k, v in parse_query(AWS_PRESIGNED) if k != "X-Amz-Signature"]
    canonical = canonical_request(
        "GET", "/test.txt", pairs, wire.headers, ["host"], UNSIGNED_PAYLOAD
    )
    to_sign = string_to_sign("20130524T000000Z", "20130524/us-east-1/s3/aws4_request", canonical)
    assert to_sign.endswith("3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04")

    verified = wire.verify(now=AWS_TIME + timedelta(hours=23), secrets=AWS_SECRETS)
    assert verified.presigned
    assert verified.payload_hash == UNSIGNED_PAYLOAD
    assert verified.expires_at == AWS_TIME + timedelta(seconds=86400)
    expired = wire.refused(now=AWS_TIME + timedelta(seconds=86401), secrets=AWS_SECRETS)
    assert code_of(expired) == "AccessDenied"
    assert str(expired) == "Request has expired"


# The streaming example: PUT /examplebucket/chunkObject.txt, 66560 bytes of "a" in 64 KiB chunks.
AWS_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
AWS_CHUNK_SIGNATURES = (
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
)
AWS_CHUNKED_HEADERS = {
    "Host": "s3.amazonaws.com",
    "x-amz-date": "20130524T000000Z",
    "x-amz-storage-class": "REDUCED_REDUNDANCY",
    "Authorization": (
        f"AWS4-HMAC-SHA256 Credential={AWS_AK}/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
        f"x-amz-decoded-content-length;x-amz-storage-class,Signature={AWS_SEED}"
    ),
    "x-amz-content-sha256": STREAMING_SIGNED_PAYLOAD,
    "Content-Encoding": "aws-chunked",
    "x-amz-decoded-content-length": "66560",
    "Content-Length": "66824",
}


def aws_chunked_body(signatures: tuple[str, ...] = AWS_CHUNK_SIGNATURES) -> bytes:
    first, second, final = signatures
    return (
        f"10000;chunk-signature={first}\r\n".encode()
        + b"a" * 65536
        + f"\r\n400;chunk-signature={second}\r\n".encode()
        + b"a" * 1024
        + f"\r\n0;chunk-signature={final}\r\n\r\n".encode()
    )


def aws_chunked_request() -> VerifiedRequest:
    wire = Wire("PUT", "/examplebucket/chunkObject.txt", "", AWS_CHUNKED_HEADERS)
    return wire.verify(now=AWS_TIME, secrets=AWS_SECRETS)


def test_aws_example_signed_chunks() -> None:
    body = aws_chunked_body()
    assert len(body) == 66824  # the example's Content-Length: the framing is exactly AWS's
    verified = aws_chunked_request()
    assert verified.payload_hash == STREAMING_SIGNED_PAYLOAD
    assert verified.chunk_signing.seed_signature == AWS_SEED
    assert verified.chunk_signing.scope == "20130524/us-east-1/s3/aws4_request"
    signing = verified.chunk_signing
    first = signing.chunk_signature(AWS_SEED, hashlib.sha256(b"a" * 65536).hexdigest())
    assert first == AWS_CHUNK_SIGNATURES[0]

    decoder = AwsChunkedDecoder.for_request(verified, AWS_CHUNKED_HEADERS)
    out = decoder.feed(body)
    assert decoder.finish() == b""
    assert out == b"a" * 66560
    assert decoder.trailers == {}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=66824), max_size=12))
def test_aws_example_signed_chunks_in_any_split(cuts: list[int]) -> None:
    body = aws_chunked_body()
    decoder = AwsChunkedDecoder.for_request(aws_chunked_request(), AWS_CHUNKED_HEADERS)
    out = b"".join(decoder.feed(piece) for piece in split(body, cuts))
    decoder.finish()
    assert out == b"a" * 66560


def test_aws_example_tampered_chunks() -> None:
    verified = aws_chunked_request()
    body = bytearray(aws_chunked_body())
    body[200] = ord("b")  # one byte of the first chunk's data
    decoder = AwsChunkedDecoder.for_request(verified, AWS_CHUNKED_HEADERS)
    with pytest.raises(sigv4.SignatureMismatch) as info:
        decoder.feed(bytes(body))
    assert info.value.code == "SignatureDoesNotMatch"
    assert isinstance(info.value, AuthError)
    with pytest.raises(sigv4.MalformedChunkedBody):  # a failed decoder stays failed
        decoder.feed(b"")

    # The chain: the chunks in another order (or a chunk's signature replayed) do not verify.
    first, second, final = AWS_CHUNK_SIGNATURES
    for signatures in [(second, first, final), (first, first, final), (first, second, second)]:
        decoder = AwsChunkedDecoder.for_request(verified, AWS_CHUNKED_HEADERS)
        with pytest.raises(sigv4.SignatureMismatch):
            decoder.feed(aws_chunked_body(signatures))

    # Cut off the final chunk: the body is incomplete, even though every chunk so far verified.
    decoder = AwsChunkedDecoder.for_request(verified, AWS_CHUNKED_HEADERS)
    decoder.feed(aws_chunked_body()[: -(84 + 2)])
    with pytest.raises(sigv4.IncompleteBody) as incomplete:
        decoder.finish()
    assert incomplete.value.code == "IncompleteBody"

    # A seed from another request does not start the chain.
    other = dataclasses.replace(verified.chunk_signing, seed_signature="0" * 64)
    decoder = AwsChunkedDecoder(STREAMING_SIGNED_PAYLOAD, chunk_signing=other)
    with pytest.raises(sigv4.SignatureMismatch):
        decoder.feed(aws_chunked_body())


# --- boto3 requests verified, then tampered with ---------------------------------------------


def test_boto3_put_object_with_signed_payload(http: Any) -> None:
    body = b"hello, accord"
    wire = sent(
        lambda: http.put_object(
            Bucket="bkt", Key=KEY, Body=body, ContentType="text/plain", Metadata={"who": "me"}
        )
    )
    assert wire.raw_path == "/bkt/%C3%BC/%C3%A4%20b.txt"
    verified = wire.verify()
    assert verified.access_key_id == AK
    assert verified.region == REGION
    assert verified.payload_hash == hashlib.sha256(body).hexdigest()
    assert not verified.is_aws_chunked
    assert not verified.presigned
    verified.check_payload_sha256(hashlib.sha256(wire.body).hexdigest())
    with pytest.raises(sigv4.ContentSHA256Mismatch):
        verified.check_payload_sha256(hashlib.sha256(b"hello, mallory").hexdigest())

    # Over plain HTTP botocore sends the CRC32 as a header; check it against the body.
    checksums = Checksums.for_declared(wire.headers)
    checksums.update(wire.body)
    checksums.check_declared(wire.headers)
    tampered = Checksums.for_declared(wire.headers)
    tampered.update(b"hello, mallory")
    with pytest.raises(sigv4.BadDigest):
        tampered.check_declared(wire.headers)


def test_boto3_put_object_with_unsigned_payload_trailer(https: Any) -> None:
    body = bytes(range(256)) * 40
    wire = sent(lambda: https.put_object(Bucket="bkt", Key=KEY, Body=body))
    assert wire.header("x-amz-content-sha256") == STREAMING_UNSIGNED_PAYLOAD_TRAILER
    verified = wire.verify()
    assert verified.is_aws_chunked
    verified.check_payload_sha256("not checked: the trailer checksum covers the body")

    decoder = AwsChunkedDecoder.for_request(verified, wire.headers)
    checksums = Checksums.for_declared(wire.headers, [wire.header("x-amz-trailer")])
    checksums.update(decoder.feed(wire.body))
    decoder.finish()
    assert set(decoder.trailers) == {"x-amz-checksum-crc32"}
    checksums.check_declared(decoder.trailers)
    assert checksums.hexdigest("sha256") == hashlib.sha256(body).hexdigest()


def test_boto3_upload_part_streams_and_decodes(https: Any) -> None:
    body = b"part " * 5000
    wire = sent(
        lambda: https.upload_part(
            Bucket="bkt", Key=KEY, UploadId="up/1+2=3", PartNumber=7, Body=io.BytesIO(body)
        )
    )
    assert dict(parse_query(wire.raw_query)) == {"partNumber": "7", "uploadId": "up/1+2=3"}
    verified = wire.verify()
    decoder = AwsChunkedDecoder(verified)  # the form accord.documents.s3 uses
    out = decoder.feed(wire.body)
    decoder.finish()
    assert out == body
    assert "x-amz-checksum-crc32" in decoder.trailers


@pytest.mark.parametrize("endpoint", ["http", "https"])
def test_boto3_get_and_list_with_special_characters(endpoint: str, http: Any, https: Any) -> None:
    client = http if endpoint == "http" else https
    wires = [
        sent(lambda: client.get_object(Bucket="bkt", Key="a+b=c&d/~!*'()$@:,;", Range="bytes=0-9")),
        sent(lambda: client.get_object(Bucket="bkt", Key=KEY, VersionId="v 1+/2")),
        sent(
            lambda: client.list_objects_v2(
                Bucket="bkt", Prefix="a b+c/ü", Delimiter="/", StartAfter="~x*y%z"
            )
        ),
        sent(lambda: client.list_object_versions(Bucket="bkt", Prefix="", KeyMarker="ä b")),
        sent(lambda: client.delete_objects(Bucket="bkt", Delete={"Objects": [{"Key": KEY}]})),
    ]
    for wire in wires:
        verified = wire.verify()
        if verified.payload_hash not in sigv4.PAYLOAD_MODES:
            verified.check_payload_sha256(hashlib.sha256(wire.body).hexdigest())


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    key=st.text(min_size=1, max_size=40).filter(lambda k: "\x00" not in k),
    prefix=st.text(max_size=20),
    token=st.text(max_size=20),
)
def test_boto3_any_key_and_query_verifies(http: Any, key: str, prefix: str, token: str) -> None:
    sent(lambda: http.head_object(Bucket="bkt", Key=key)).verify()
    listing = sent(
        lambda: http.list_objects_v2(
            Bucket="bkt", Prefix=prefix, ContinuationToken=token or "t", Delimiter="/"
        )
    )
    listing.verify()


def _rewrite_authorization(wire: Wire, old: str, new: str) -> Wire:
    return wire.with_header("Authorization", wire.header("Authorization").replace(old, new))


TAMPERING: list[tuple[str, Callable[[Wire], Wire], dict[str, Any], str]] = [
    (
        "a signed header",
        lambda w: w.with_header("Content-Type", "text/html"),
        {},
        "SignatureDoesNotMatch",
    ),
    (
        "the payload hash",
        lambda w: w.with_header("X-Amz-Content-SHA256", "0" * 64),
        {},
        "SignatureDoesNotMatch",
    ),
    ("the host", lambda w: w.with_header("Host", "127.0.0.1:9001"), {}, "SignatureDoesNotMatch"),
    (
        "the path",
        lambda w: dataclasses.replace(w, raw_path=w.raw_path + "x"),
        {},
        "SignatureDoesNotMatch",
    ),
    (
        "the path's encoding",
        lambda w: dataclasses.replace(w, raw_path=w.raw_path.replace("%20", "+")),
        {},
        "SignatureDoesNotMatch",
    ),
    ("the method", lambda w: dataclasses.replace(w, method="DELETE"), {}, "SignatureDoesNotMatch"),
    (
        "an added query parameter",
        lambda w: dataclasses.replace(w, raw_query="versionId=1"),
        {},
        "SignatureDoesNotMatch",
    ),
    (
        "the date",
        lambda w: w.with_header("X-Amz-Date", _shift(w.header("X-Amz-Date"), 1)),
        {},
        "SignatureDoesNotMatch",
    ),
    (
        "a malformed signature",
        lambda w: _rewrite_authorization(w, "Signature=", "Signature=0" + "0" * 63 + "#"),
        {},
        "AuthorizationHeaderMalformed",
    ),
    (
        "another signature",
        lambda w: _rewrite_authorization(w, w.header("Authorization")[-8:], "deadbeef"),
        {},
        "SignatureDoesNotMatch",
    ),
    ("a wrong secret", lambda w: w, {"secrets": {AK: SK + "x"}}, "SignatureDoesNotMatch"),
    ("an unknown key", lambda w: w, {"secrets": {"AKIDOTHER": SK}}, "InvalidAccessKeyId"),
    ("a late clock", lambda w: w, {"now": "+901"}, "RequestTimeTooSkewed"),
    ("an early clock", lambda w: w, {"now": "-901"}, "RequestTimeTooSkewed"),
    (
        "an unsigned x-amz header",
        lambda w: w.with_header("x-amz-meta-extra", "1"),
        {},
        "AccessDenied",
    ),
    (
        "an unsigned copy source",
        lambda w: w.with_header("x-amz-copy-source", "/other/key"),
        {},
        "AccessDenied",
    ),
    ("no authorization", lambda w: w.with_header("Authorization", None), {}, "AccessDenied"),
    (
        "no payload hash",
        lambda w: w.with_header("X-Amz-Content-SHA256", None),
        {},
        "InvalidArgument",
    ),
    (
        "a bad payload hash",
        lambda w: w.with_header("X-Amz-Content-SHA256", "sha256"),
        {},
        "InvalidArgument",
    ),
    (
        "a session token",
        lambda w: w.with_header("X-Amz-Security-Token", "t"),
        {},
        "InvalidArgument",
    ),
    ("no date", lambda w: w.with_header("X-Amz-Date", None), {"now": "fixed"}, "AccessDenied"),
    (
        "the scope's day",
        lambda w: _rewrite_authorization(w, f"/{w.header('X-Amz-Date')[:8]}/", "/20200101/"),
        {},
        "AuthorizationHeaderMalformed",
    ),
    (
        "the scope's service",
        lambda w: _rewrite_authorization(w, "/s3/", "/ec2/"),
        {},
        "AuthorizationHeaderMalformed",
    ),
    (
        "the scope's terminator",
        lambda w: _rewrite_authorization(w, "/aws4_request", "/aws4_reply"),
        {},
        "AuthorizationHeaderMalformed",
    ),
    (
        "the region",
        lambda w: _rewrite_authorization(w, f"/{REGION}/", "/us-east-1/"),
        {},
        "SignatureDoesNotMatch",
    ),
    (
        "an unsigned host",
        lambda w: _rewrite_authorization(
            w, "SignedHeaders=content-type;host;", "SignedHeaders=content-type;"
        ),
        {},
        "AuthorizationHeaderMalformed",
    ),
    (
        "sigv2",
        lambda w: w.with_header("Authorization", f"AWS {AK}:c2lnbmF0dXJl"),
        {},
        "InvalidRequest",
    ),
    (
        "sigv4a",
        lambda w: _rewrite_authorization(w, "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256"),
        {},
        "InvalidRequest",
    ),
]


def _shift(amz_date: str, seconds: int) -> str:
    moment = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ") + timedelta(seconds=seconds)
    return moment.strftime("%Y%m%dT%H%M%SZ")


@pytest.mark.parametrize(
    ("change", "kwargs", "code"),
    [(t[1], t[2], t[3]) for t in TAMPERING],
    ids=[t[0] for t in TAMPERING],
)
def test_boto3_tampered_requests_are_refused(
    http: Any, change: Callable[[Wire], Wire], kwargs: dict[str, Any], code: str
) -> None:
    wire = sent(lambda: http.put_object(Bucket="bkt", Key=KEY, Body=b"x", ContentType="text/plain"))
    assert "SignedHeaders=content-type;host;" in wire.header("Authorization")
    wire.verify()  # untouched it verifies
    wire.verify(now=wire.signed_at + timedelta(seconds=899))
    wire.verify(now=wire.signed_at - timedelta(seconds=899))
    now = kwargs.pop("now", None)
    if now in ("+901", "-901"):
        kwargs["now"] = wire.signed_at + timedelta(seconds=int(now))
    elif now == "fixed":
        kwargs["now"] = wire.signed_at
    exc = change(wire).refused(**kwargs)
    assert code_of(exc) == code
    assert SK not in str(exc) and SK not in repr(exc.args)
    assert isinstance(exc, AuthError)


def test_signature_mismatch_carries_what_the_server_computed(http: Any) -> None:
    wire = sent(lambda: http.get_object(Bucket="bkt", Key=KEY))
    exc = wire.refused(secrets={AK: "another secret"})
    assert isinstance(exc, sigv4.SignatureMismatch)
    assert exc.canonical_request.startswith("GET\n/bkt/%C3%BC/%C3%A4%20b.txt\n\n")
    assert exc.string_to_sign.startswith(f"AWS4-HMAC-SHA256\n{wire.header('X-Amz-Date')}\n")
    assert "another secret" not in exc.canonical_request + exc.string_to_sign + str(exc)


def test_verified_request_repr_leaves_out_the_signing_key(http: Any) -> None:
    verified = sent(lambda: http.get_object(Bucket="bkt", Key=KEY)).verify()
    key = verified.chunk_signing.signing_key
    assert key == derive_signing_key(SK, verified.request_time.strftime("%Y%m%d"), REGION)
    assert repr(key) not in repr(verified) and key.hex() not in repr(verified)


# --- presigned URLs --------------------------------------------------------------------------


def test_boto3_presigned_get_and_put(https: Any) -> None:
    url = https.generate_presigned_url(
        "get_object", Params={"Bucket": "bkt", "Key": KEY, "VersionId": "a b"}, ExpiresIn=600
    )
    wire = Wire.from_url("GET", url)
    verified = wire.verify()
    assert verified.presigned and verified.payload_hash == UNSIGNED_PAYLOAD
    assert verified.expires_at == wire.signed_at + timedelta(seconds=600)
    wire.verify(now=wire.signed_at + timedelta(seconds=600))
    expired = wire.refused(now=wire.signed_at + timedelta(seconds=601))
    assert code_of(expired) == "AccessDenied" and str(expired) == "Request has expired"
    early = wire.refused(now=wire.signed_at - timedelta(seconds=901))
    assert code_of(early) == "AccessDenied"

    put = https.generate_presigned_url(
        "put_object", Params={"Bucket": "bkt", "Key": KEY, "ContentType": "text/plain"}
    )
    put_wire = Wire.from_url("PUT", put, {"Content-Type": "text/plain"})
    assert put_wire.verify().payload_hash == UNSIGNED_PAYLOAD


def _with_query(wire: Wire, name: str, value: str | None) -> Wire:
    pairs = [(k, v) for k, v in parse_query(wire.raw_query) if k != name]
    if value is not None:
        pairs.append((name, value))
    return dataclasses.replace(
        wire, raw_query="&".join(f"{uri_encode(k)}={uri_encode(v)}" for k, v in pairs)
    )


PRESIGN_TAMPERING: list[tuple[str, Callable[[Wire], Wire], str]] = [
    ("the path", lambda w: dataclasses.replace(w, raw_path="/bkt/other"), "SignatureDoesNotMatch"),
    ("the method", lambda w: dataclasses.replace(w, method="DELETE"), "SignatureDoesNotMatch"),
    ("the expiry", lambda w: _with_query(w, "X-Amz-Expires", "7200"), "SignatureDoesNotMatch"),
    ("an added parameter", lambda w: _with_query(w, "versionId", "2"), "SignatureDoesNotMatch"),
    ("the host", lambda w: w.with_header("Host", "evil.test:8443"), "SignatureDoesNotMatch"),
    (
        "an expiry over a week",
        lambda w: _with_query(w, "X-Amz-Expires", "604801"),
        "AuthorizationQueryParametersError",
    ),
    (
        "a non-numeric expiry",
        lambda w: _with_query(w, "X-Amz-Expires", "soon"),
        "AuthorizationQueryParametersError",
    ),
    (
        "no signature",
        lambda w: _with_query(w, "X-Amz-Signature", None),
        "AuthorizationQueryParametersError",
    ),
    (
        "another algorithm",
        lambda w: _with_query(w, "X-Amz-Algorithm", "AWS4-HMAC-SHA512"),
        "AuthorizationQueryParametersError",
    ),
    (
        "an unsigned x-amz header",
        lambda w: w.with_header("x-amz-acl", "public-read"),
        "AccessDenied",
    ),
    (
        "an Authorization header too",
        lambda w: w.with_header("Authorization", "AWS4-HMAC-SHA256 x"),
        "InvalidArgument",
    ),
    ("a session token", lambda w: _with_query(w, "X-Amz-Security-Token", "t"), "InvalidArgument"),
    (
        "the scope's service",
        lambda w: _with_query(w, "X-Amz-Credential", parse_cred(w).replace("/s3/", "/sts/")),
        "AuthorizationQueryParametersError",
    ),
]


def parse_cred(wire: Wire) -> str:
    return dict(parse_query(wire.raw_query))["X-Amz-Credential"]


@pytest.mark.parametrize(
    ("change", "code"),
    [(t[1], t[2]) for t in PRESIGN_TAMPERING],
    ids=[t[0] for t in PRESIGN_TAMPERING],
)
def test_boto3_tampered_presigned_urls_are_refused(
    https: Any, change: Callable[[Wire], Wire], code: str
) -> None:
    url = https.generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": KEY})
    wire = Wire.from_url("GET", url)
    wire.verify()
    assert code_of(change(wire).refused()) == code


def test_s3sigv4_query_auth_presigned_url() -> None:
    request = AWSRequest(
        method="GET", url=f"{HTTP}/bkt/{uri_encode(KEY, encode_slash=False)}?x-id=GetObject"
    )
    S3SigV4QueryAuth(Credentials(AK, SK), "s3", REGION, expires=120).add_auth(request)
    wire = Wire.from_url("GET", request.url)
    verified = wire.verify()
    assert verified.presigned
    assert code_of(wire.refused(now=wire.signed_at + timedelta(seconds=121))) == "AccessDenied"


# --- botocore's signer classes directly ------------------------------------------------------


def _signed(auth_cls: type[SigV4Auth], request: AWSRequest) -> Wire:
    auth_cls(Credentials(AK, SK), "s3", REGION).add_auth(request)
    return Wire.from_prepared(request.prepare())


def test_s3sigv4auth_with_query_in_the_url_and_special_characters() -> None:
    query = percent_encode_sequence([("prefix", "a b+c/ü"), ("marker", "~*'!"), ("empty", "")])
    url = f"{HTTP}/bkt/{uri_encode(KEY, encode_slash=False)}?{query}"
    wire = _signed(S3SigV4Auth, AWSRequest(method="GET", url=url))
    assert wire.raw_query == query
    assert wire.verify().payload_hash == EMPTY_SHA256


def test_s3sigv4auth_with_params_sent_form_encoded() -> None:
    # With AWSRequest.params, botocore signs the RFC 3986 encoding but sends urlencode()'s "+"
    # for a space: reading "+" as a space (as S3 servers do) makes both agree.
    params = {"prefix": "a b+c", "delimiter": "/"}
    request = AWSRequest(method="GET", url=f"{HTTP}/bkt", params=params)
    wire = _signed(S3SigV4Auth, request)
    assert "prefix=a+b%2Bc" in wire.raw_query
    assert dict(parse_query(wire.raw_query)) == params
    wire.verify()


def test_s3sigv4auth_put_with_hex_and_unsigned_payload() -> None:
    body = b"\x00\xff binary \r\n body"
    for payload_hash in [hashlib.sha256(body).hexdigest(), UNSIGNED_PAYLOAD]:
        request = AWSRequest(
            method="PUT",
            url=f"{HTTP}/bkt/{uri_encode('dir/ü b+.bin', encode_slash=False)}",
            data=body,
            headers={
                "Content-Type": "application/octet-stream",
                "x-amz-meta-note": "  two   spaces ",
            },
        )
        if payload_hash == UNSIGNED_PAYLOAD:
            request.context["payload_signing_enabled"] = False
            request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
        wire = _signed(S3SigV4Auth, request)
        assert wire.header("x-amz-content-sha256") == payload_hash
        verified = wire.verify()
        assert verified.payload_hash == payload_hash
        verified.check_payload_sha256(hashlib.sha256(body).hexdigest())


def test_s3sigv4auth_with_a_date_header_instead_of_x_amz_date() -> None:
    request = AWSRequest(
        method="GET",
        url=f"{HTTP}/bkt/key",
        headers={"Date": "placeholder", "X-Amz-Content-SHA256": EMPTY_SHA256},
    )
    wire = _signed(S3SigV4Auth, request)
    assert not any(k.lower() == "x-amz-date" for k in wire.headers)
    date = email.utils.parsedate_to_datetime(wire.header("Date")).replace(tzinfo=UTC)
    wire.verify(now=date)
    later = email.utils.format_datetime(date + timedelta(seconds=1), usegmt=True)
    assert code_of(wire.with_header("Date", later).refused(now=date)) == "SignatureDoesNotMatch"
    # Another day is caught before the signature: the credential scope names the signing day.
    other_day = "Thu, 01 Jan 1970 00:00:00 GMT"
    assert code_of(wire.with_header("Date", other_day).refused(now=date)) == (
        "AuthorizationHeaderMalformed"
    )


def test_generic_sigv4auth_double_encodes_paths_which_s3_does_not() -> None:
    plain = AWSRequest(
        method="GET",
        url=f"{HTTP}/bkt/plain-key.txt",
        headers={"X-Amz-Content-SHA256": EMPTY_SHA256},
    )
    _signed(SigV4Auth, plain).verify()  # nothing to encode: both rules agree
    encoded = AWSRequest(
        method="GET",
        url=f"{HTTP}/bkt/{uri_encode(KEY, encode_slash=False)}",
        headers={"X-Amz-Content-SHA256": EMPTY_SHA256},
    )
    assert code_of(_signed(SigV4Auth, encoded).refused()) == "SignatureDoesNotMatch"


# --- our client-side signer against botocore's -----------------------------------------------

FIXED = datetime(2026, 12, 2, 10, 11, 12, tzinfo=UTC)


@pytest.fixture
def botocore_at_fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth

    monkeypatch.setattr(
        botocore.auth, "get_current_datetime", lambda remove_tzinfo=True: FIXED.replace(tzinfo=None)
    )


@pytest.mark.usefixtures("botocore_at_fixed_time")
@pytest.mark.parametrize(
    "url",
    [
        f"{HTTP}/bkt/{uri_encode(KEY, encode_slash=False)}",
        f"{HTTPS}/bkt?list-type=2&prefix=a%20b%2Bc&delimiter=%2F",
        "http://[::1]:9000/bkt/key?uploads",
        "https://s3.accord.test/bkt/key?partNumber=2&uploadId=x%2Fy",
    ],
)
def test_sign_request_matches_botocore(url: str) -> None:
    body = b"payload"
    payload_hash = hashlib.sha256(body).hexdigest()
    headers = {"Content-Type": "text/plain", "x-amz-meta-a": "b  c", "User-Agent": "accord"}
    ours = sign_request(
        "PUT", url, headers, payload_hash, access_key=AK, secret=SK, region=REGION, now=FIXED
    )
    request = AWSRequest(method="PUT", url=url, data=body, headers=dict(headers))
    S3SigV4Auth(Credentials(AK, SK), "s3", REGION).add_auth(request)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Date"] == request.headers["X-Amz-Date"]

    parts = urlsplit(url)
    wire = Wire("PUT", parts.path, parts.query, {**headers, **ours}, body)
    verified = wire.verify(now=FIXED)
    verified.check_payload_sha256(payload_hash)


@pytest.mark.usefixtures("botocore_at_fixed_time")
def test_presign_url_matches_botocore() -> None:
    url = f"{HTTPS}/bkt/{uri_encode(KEY, encode_slash=False)}?versionId=a%20b"
    ours = presign_url("GET", url, access_key=AK, secret=SK, region=REGION, now=FIXED, expires=900)
    request = AWSRequest(method="GET", url=url)
    S3SigV4QueryAuth(Credentials(AK, SK), "s3", REGION, expires=900).add_auth(request)
    assert dict(parse_query(urlsplit(ours).query)) == dict(parse_query(urlsplit(request.url).query))
    wire = Wire.from_url("GET", ours)
    assert wire.verify(now=FIXED).presigned
    assert code_of(wire.refused(now=FIXED + timedelta(seconds=901))) == "AccessDenied"


def test_sign_request_round_trips_odd_query_bytes() -> None:
    url = f"{HTTP}/bkt/k%FF?a=%FF%FE&b=%E2%82%AC&c"
    ours = sign_request(
        "GET", url, {}, EMPTY_SHA256, access_key=AK, secret=SK, region=REGION, now=FIXED
    )
    parts = urlsplit(url)
    Wire("GET", parts.path, parts.query, ours).verify(now=FIXED)


# --- parse_authorization ---------------------------------------------------------------------

GOOD_AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKID/20261202/us-east-1/s3/aws4_request, "
    "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=" + "ab" * 32
)


def test_parse_authorization() -> None:
    for header in [GOOD_AUTH, GOOD_AUTH.replace(", ", ","), "  " + GOOD_AUTH.replace(", ", " ,  ")]:
        auth = parse_authorization(header)
        assert auth.access_key_id == "AKID"
        assert (auth.date, auth.region, auth.service) == ("20261202", "us-east-1", "s3")
        assert auth.scope == "20261202/us-east-1/s3/aws4_request"
        assert auth.signed_headers == ("host", "x-amz-content-sha256", "x-amz-date")
        assert auth.signature == "ab" * 32


@pytest.mark.parametrize(
    "header",
    [
        GOOD_AUTH.replace("Credential=AKID/", "Credential="),
        GOOD_AUTH.replace("/20261202/", "/2026-12-02/"),
        GOOD_AUTH.replace("/s3/", "/ec2/"),
        GOOD_AUTH.replace("aws4_request", "aws4_reques"),
        GOOD_AUTH.replace("us-east-1", ""),
        GOOD_AUTH.replace("SignedHeaders=host;", "SignedHeaders=Host;"),
        GOOD_AUTH.replace("SignedHeaders=host;", "SignedHeaders=host;host;"),
        GOOD_AUTH.replace("SignedHeaders=host;", "SignedHeaders=;"),
        GOOD_AUTH.replace("ab" * 32, "AB" * 32),
        GOOD_AUTH.replace("ab" * 32, "ab" * 31),
        GOOD_AUTH.replace(", Signature=", ", Signature=x, Signature="),
        GOOD_AUTH.replace("Signature=", "Sig="),
        GOOD_AUTH.split(", Signature")[0],
        GOOD_AUTH + ", Extra=1",
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 ",
    ],
)
def test_parse_authorization_malformed(header: str) -> None:
    with pytest.raises(sigv4.AuthorizationHeaderMalformed) as info:
        parse_authorization(header)
    assert info.value.code == "AuthorizationHeaderMalformed" and info.value.status == 400


@pytest.mark.parametrize("header", ["AWS AKID:c2ln", "Bearer x", "", GOOD_AUTH.lower()])
def test_parse_authorization_unsupported(header: str) -> None:
    with pytest.raises(sigv4.UnsupportedAuthorization):
        parse_authorization(header)


def test_parse_query() -> None:
    assert parse_query("a=1&&b&c=&d=x%2By+z&e=%C3%BC") == [
        ("a", "1"),
        ("b", ""),
        ("c", ""),
        ("d", "x+y z"),
        ("e", "ü"),
    ]
    assert uri_encode(parse_query("k=%FF")[0][1]) == "%FF"
    assert uri_encode("a b/ü~") == "a%20b%2F%C3%BC~"
    assert uri_encode("a b/ü~", encode_slash=False) == "a%20b/%C3%BC~"


def test_error_tree() -> None:
    for cls in [
        sigv4.AccessDenied,
        sigv4.SignatureMismatch,
        sigv4.InvalidAccessKeyId,
        sigv4.RequestTimeTooSkewed,
        sigv4.AuthorizationHeaderMalformed,
        sigv4.AuthorizationQueryParametersError,
        sigv4.InvalidArgument,
        sigv4.UnsupportedAuthorization,
    ]:
        assert issubclass(cls, AuthError)
    for cls in [
        sigv4.ContentSHA256Mismatch,
        sigv4.BadDigest,
        sigv4.InvalidDigest,
        sigv4.IncompleteBody,
        sigv4.MalformedChunkedBody,
        sigv4.UnsupportedChecksum,
    ]:
        assert issubclass(cls, InvalidRequest) and cls.status == 400
    assert sigv4.RequestTimeTooSkewed.status == 403


def test_now_must_be_timezone_aware(http: Any) -> None:
    wire = sent(lambda: http.get_object(Bucket="bkt", Key=KEY))
    with pytest.raises(ValueError, match="timezone-aware"):
        wire.verify(now=wire.signed_at.replace(tzinfo=None))


# --- aws-chunked: unsigned bodies as botocore builds them ------------------------------------


def split(data: bytes, cuts: list[int]) -> Iterator[bytes]:
    last = 0
    for cut in sorted({min(c, len(data)) for c in cuts}):
        yield data[last:cut]
        last = cut
    yield data[last:]


def botocore_chunked(payload: bytes, chunk_size: int, checksum_cls: Any = Crc32Checksum) -> bytes:
    name = (
        "x-amz-checksum-"
        + {
            Crc32Checksum: "crc32",
            Sha256Checksum: "sha256",
            Sha1Checksum: "sha1",
            Sha512Checksum: "sha512",
            None: "none",
        }[checksum_cls]
    )
    wrapper = AwsChunkedWrapper(
        io.BytesIO(payload), checksum_cls=checksum_cls, checksum_name=name, chunk_size=chunk_size
    )
    return wrapper.read()


@settings(max_examples=150, deadline=None)
@given(
    payload=st.binary(max_size=3000),
    chunk_size=st.integers(min_value=1, max_value=1024),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=20),
    checksum_cls=st.sampled_from([Crc32Checksum, Sha256Checksum, Sha1Checksum, Sha512Checksum]),
)
def test_botocore_unsigned_chunks_decode_in_any_split(
    payload: bytes, chunk_size: int, cuts: list[int], checksum_cls: Any
) -> None:
    body = botocore_chunked(payload, chunk_size, checksum_cls)
    trailer = body.rsplit(b"\r\n", 3)[-3].split(b":")[0].decode()
    decoder = AwsChunkedDecoder(
        STREAMING_UNSIGNED_PAYLOAD_TRAILER,
        decoded_content_length=len(payload),
        declared_trailers=[trailer],
    )
    checksums = Checksums.for_declared([trailer])
    out = bytearray()
    for piece in split(body, cuts):
        decoded = decoder.feed(piece)
        assert len(decoded) <= len(piece)
        checksums.update(decoded)
        out += decoded
    decoder.finish()
    assert bytes(out) == payload
    assert decoder.decoded_length == len(payload)
    assert list(decoder.trailers) == [trailer]
    checksums.check_declared(decoder.trailers)


def test_botocore_chunks_without_a_trailer() -> None:
    body = botocore_chunked(b"no checksum here", 5, None)
    assert body.endswith(b"0\r\n\r\n")
    decoder = AwsChunkedDecoder(declared_trailers=())
    assert decoder.feed(body) == b"no checksum here"
    decoder.finish()
    assert decoder.trailers == {}


@settings(max_examples=60, deadline=None)
@given(
    payload=st.binary(min_size=0, max_size=200), chunk_size=st.integers(min_value=1, max_value=64)
)
def test_every_truncation_is_an_incomplete_body(payload: bytes, chunk_size: int) -> None:
    body = botocore_chunked(payload, chunk_size)
    for cut in range(len(body)):
        decoder = AwsChunkedDecoder(declared_trailers=["x-amz-checksum-crc32"])
        decoder.feed(body[:cut])
        with pytest.raises(sigv4.IncompleteBody):
            decoder.finish()


def test_wrong_trailer_checksum_is_a_bad_digest() -> None:
    payload = b"the real payload"
    wrong = base64.b64encode(zlib.crc32(b"another payload").to_bytes(4, "big")).decode()
    good = botocore_chunked(payload, 4)
    right = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    assert right.encode() in good
    body = good.replace(right.encode(), wrong.encode())
    decoder = AwsChunkedDecoder(declared_trailers=["x-amz-checksum-crc32"])
    checksums = Checksums(["crc32"])
    checksums.update(decoder.feed(body))
    decoder.finish()  # the framing is fine; the digest is not
    with pytest.raises(sigv4.BadDigest) as info:
        checksums.check_declared(decoder.trailers)
    assert info.value.code == "BadDigest"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"zz\r\nhello\r\n0\r\n\r\n", sigv4.MalformedChunkedBody),
        (b"5\nhello\r\n0\r\n\r\n", sigv4.MalformedChunkedBody),
        (b"5\r\nhelloX\r\n0\r\n\r\n", sigv4.MalformedChunkedBody),
        (b"5;chunk-signature=" + b"a" * 64 + b"\r\nhello\r\n0\r\n\r\n", sigv4.MalformedChunkedBody),
        (b"5;ext=1\r\nhello\r\n0\r\n\r\n", sigv4.MalformedChunkedBody),
        (b"-5\r\nhello\r\n0\r\n\r\n", sigv4.MalformedChunkedBody),
        (b"0\r\n\r\nmore", sigv4.MalformedChunkedBody),
        (b"0\r\nno colon\r\n\r\n", sigv4.MalformedChunkedBody),
        (
            b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n",
            sigv4.MalformedChunkedBody,
        ),
        (b"0\r\nx-amz-trailer-signature:" + b"a" * 64 + b"\r\n\r\n", sigv4.MalformedChunkedBody),
        (b"0\r\nx-amz-checksum-crc32:\xff\r\n\r\n", sigv4.MalformedChunkedBody),
    ],
)
def test_malformed_unsigned_bodies(body: bytes, error: type[Exception]) -> None:
    decoder = AwsChunkedDecoder()
    with pytest.raises(error):
        decoder.feed(body)
        decoder.finish()


def test_declared_trailers_must_arrive() -> None:
    decoder = AwsChunkedDecoder(declared_trailers=["x-amz-checksum-crc32"])
    with pytest.raises(sigv4.IncompleteBody):
        decoder.feed(b"2\r\nhi\r\n0\r\n\r\n")
    decoder = AwsChunkedDecoder(declared_trailers=["x-amz-checksum-crc32"])
    with pytest.raises(sigv4.MalformedChunkedBody, match="not declared"):
        decoder.feed(b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\nx-amz-checksum-sha1:AAAA\r\n\r\n")
    # Without a declaration (None) any trailer is taken and reported.
    decoder = AwsChunkedDecoder()
    decoder.feed(b"2\r\nhi\r\n0\r\nX-Amz-Checksum-CRC32 : AAAAAA== \r\n\r\n")
    decoder.finish()
    assert decoder.trailers == {"x-amz-checksum-crc32": "AAAAAA=="}


def test_decoded_content_length_is_enforced() -> None:
    body = b"5\r\nhello\r\n0\r\n\r\n"
    short = AwsChunkedDecoder(decoded_content_length=6, declared_trailers=())
    short.feed(body)
    with pytest.raises(sigv4.IncompleteBody):
        short.finish()
    long = AwsChunkedDecoder(decoded_content_length=4, declared_trailers=())
    with pytest.raises(sigv4.MalformedChunkedBody):
        long.feed(body)
    exact = AwsChunkedDecoder(decoded_content_length=5, declared_trailers=())
    assert exact.feed(body) == b"hello"
    exact.finish()


def test_for_request_reads_the_headers(https: Any) -> None:
    wire = sent(lambda: https.put_object(Bucket="bkt", Key="k", Body=b"12345"))
    verified = wire.verify()
    decoder = AwsChunkedDecoder.for_request(
        verified, wire.with_header("X-Amz-Decoded-Content-Length", "6").headers
    )
    decoder.feed(wire.body)
    with pytest.raises(sigv4.IncompleteBody):
        decoder.finish()
    with pytest.raises(sigv4.MalformedChunkedBody):
        AwsChunkedDecoder.for_request(verified, {"x-amz-decoded-content-length": "-1"})
    signed_payload = sent(
        lambda: make_client(HTTP).put_object(Bucket="b", Key="k", Body=b"x")
    ).verify()
    with pytest.raises(sigv4.MalformedChunkedBody):
        AwsChunkedDecoder.for_request(signed_payload, {})


def test_line_and_trailer_limits() -> None:
    decoder = AwsChunkedDecoder()
    with pytest.raises(sigv4.MalformedChunkedBody, match="4 KiB"):
        for _ in range(5):
            decoder.feed(b"0" * 1000)  # a chunk line that never ends
    decoder = AwsChunkedDecoder()
    decoder.feed(b"0\r\n")
    with pytest.raises(sigv4.MalformedChunkedBody, match="16 KiB"):
        for i in range(20):
            decoder.feed(f"x-amz-meta-{i}:{'v' * 1000}\r\n".encode())


def test_a_64_mib_chunk_is_streamed_not_buffered() -> None:
    decoder = AwsChunkedDecoder(declared_trailers=())
    mib = b"\x5a" * (1 << 20)
    assert decoder.feed(b"4000000\r\n") == b""
    for _ in range(64):
        out = decoder.feed(mib)
        assert len(out) == len(mib)  # every byte comes straight back out
    assert decoder.feed(b"\r\n0\r\n\r\n") == b""
    decoder.finish()
    assert decoder.decoded_length == 64 << 20


# --- aws-chunked: signed chunks with a signed trailer (self-derived, not a published vector) ---


def naive_signed_body(
    payload: bytes,
    chunk_size: int,
    *,
    key: bytes,
    amz_date: str,
    scope: str,
    seed: str,
    trailers: dict[str, str] | None,
) -> bytes:
    """A reference signer written from the AWS text, independent of the code under test."""

    def hmac_hex(message: str) -> str:
        return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()

    def chunk(previous: str, data: bytes) -> tuple[str, bytes]:
        signature = hmac_hex(
            "AWS4-HMAC-SHA256-PAYLOAD\n"
            + amz_date
            + "\n"
            + scope
            + "\n"
            + previous
            + "\n"
            + hashlib.sha256(b"").hexdigest()
            + "\n"
            + hashlib.sha256(data).hexdigest()
        )
        return signature, b"%x;chunk-signature=%s\r\n" % (len(data), signature.encode())

    out, previous = bytearray(), seed
    for start in range(0, len(payload), chunk_size):
        data = payload[start : start + chunk_size]
        previous, line = chunk(previous, data)
        out += line + data + b"\r\n"
    previous, line = chunk(previous, b"")
    out += line
    if trailers is not None:
        text = "".join(f"{name}:{value}\n" for name, value in sorted(trailers.items()))
        trailer_signature = hmac_hex(
            "AWS4-HMAC-SHA256-TRAILER\n"
            + amz_date
            + "\n"
            + scope
            + "\n"
            + previous
            + "\n"
            + hashlib.sha256(text.encode()).hexdigest()
        )
        out += text.replace("\n", "\r\n").encode()
        out += f"x-amz-trailer-signature:{trailer_signature}\r\n".encode()
    out += b"\r\n"
    return bytes(out)


SIGNING = ChunkSigning(
    signing_key=derive_signing_key(SK, "20261202", REGION),
    amz_date="20261202T101112Z",
    scope=f"20261202/{REGION}/s3/aws4_request",
    seed_signature="5" * 64,
)


def signed_body(payload: bytes, chunk_size: int, trailers: dict[str, str] | None) -> bytes:
    return naive_signed_body(
        payload,
        chunk_size,
        key=SIGNING.signing_key,
        amz_date=SIGNING.amz_date,
        scope=SIGNING.scope,
        seed=SIGNING.seed_signature,
        trailers=trailers,
    )


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


@settings(max_examples=80, deadline=None)
@given(
    payload=st.binary(max_size=2000),
    chunk_size=st.integers(min_value=1, max_value=700),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=15),
    with_trailer=st.booleans(),
)
def test_signed_chunks_against_a_naive_signer(
    payload: bytes, chunk_size: int, cuts: list[int], with_trailer: bool
) -> None:
    trailers = {"x-amz-checksum-crc32": crc32_b64(payload)} if with_trailer else None
    body = signed_body(payload, chunk_size, trailers)
    mode = STREAMING_SIGNED_PAYLOAD_TRAILER if with_trailer else STREAMING_SIGNED_PAYLOAD
    decoder = AwsChunkedDecoder(
        mode,
        chunk_signing=SIGNING,
        decoded_content_length=len(payload),
        declared_trailers=list(trailers or ()),
    )
    out = b"".join(decoder.feed(piece) for piece in split(body, cuts))
    decoder.finish()
    assert out == payload
    assert decoder.trailers == (trailers or {})


def test_signed_trailer_tampering() -> None:
    payload = b"signed payload with a signed trailer"
    good = signed_body(payload, 10, {"x-amz-checksum-crc32": crc32_b64(payload)})

    def decode(body: bytes, mode: str = STREAMING_SIGNED_PAYLOAD_TRAILER) -> None:
        decoder = AwsChunkedDecoder(
            mode, chunk_signing=SIGNING, declared_trailers=["x-amz-checksum-crc32"]
        )
        decoder.feed(body)
        decoder.finish()

    decode(good)
    forged = good.replace(crc32_b64(payload).encode(), crc32_b64(b"forged").encode())
    with pytest.raises(sigv4.SignatureMismatch):
        decode(forged)
    unsigned_trailer = b"\r\n".join(
        line for line in good.split(b"\r\n") if not line.startswith(b"x-amz-trailer-signature")
    )
    with pytest.raises(sigv4.MalformedChunkedBody):
        decode(unsigned_trailer)
    # The same body is not a STREAMING-AWS4-HMAC-SHA256-PAYLOAD one (it carries no trailers) ...
    with pytest.raises(sigv4.MalformedChunkedBody):
        decode(good, STREAMING_SIGNED_PAYLOAD)
    # ... nor an unsigned one.
    with pytest.raises(sigv4.MalformedChunkedBody):
        decode(good, STREAMING_UNSIGNED_PAYLOAD_TRAILER)
    # Another key does not verify the chain.
    other = dataclasses.replace(
        SIGNING, signing_key=derive_signing_key("other", "20261202", REGION)
    )
    decoder = AwsChunkedDecoder(STREAMING_SIGNED_PAYLOAD_TRAILER, chunk_signing=other)
    with pytest.raises(sigv4.SignatureMismatch):
        decoder.feed(good)
    # Unsigned chunk lines in a signed mode.
    with pytest.raises(sigv4.MalformedChunkedBody):
        decode(b"2\r\nhi\r\n0\r\n\r\n")
    with pytest.raises(ValueError, match="chunk_signing"):
        AwsChunkedDecoder(STREAMING_SIGNED_PAYLOAD)
    with pytest.raises(sigv4.MalformedChunkedBody):
        AwsChunkedDecoder(UNSIGNED_PAYLOAD)


# --- checksums -------------------------------------------------------------------------------


@given(st.lists(st.binary(max_size=300), max_size=8))
def test_checksums_match_botocore(pieces: list[bytes]) -> None:
    checksums = Checksums()
    for piece in pieces:
        checksums.update(piece)
    data = b"".join(pieces)
    assert checksums.base64("crc32") == Crc32Checksum().handle(data)
    assert checksums.base64("x-amz-checksum-sha1") == Sha1Checksum().handle(data)
    assert checksums.base64("SHA256") == Sha256Checksum().handle(data)
    assert checksums.base64("sha512") == Sha512Checksum().handle(data)
    assert checksums.hexdigest("sha256") == hashlib.sha256(data).hexdigest()
    assert checksums.digest("content-md5") == hashlib.md5(data).digest()
    checksums.check("x-amz-checksum-crc32", Crc32Checksum().handle(data))
    checksums.check("Content-MD5", base64.b64encode(hashlib.md5(data).digest()).decode())


def test_checksum_errors() -> None:
    checksums = Checksums(["crc32", "sha256"])
    checksums.update(b"data")
    with pytest.raises(sigv4.BadDigest):
        checksums.check("crc32", crc32_b64(b"other"))
    with pytest.raises(sigv4.InvalidDigest) as info:
        checksums.check("crc32", "not base64!")
    assert info.value.code == "InvalidDigest"
    with pytest.raises(sigv4.InvalidDigest):
        checksums.check("sha256", crc32_b64(b"data"))  # valid base64, wrong size
    with pytest.raises(sigv4.UnsupportedChecksum):
        checksums.check("sha1", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")  # not computed
    with pytest.raises(sigv4.UnsupportedChecksum) as unsupported:
        Checksums(["x-amz-checksum-crc32c"])
    assert str(unsupported.value) == "x-amz-checksum-crc32c is not supported; use CRC32 or SHA256"
    assert isinstance(unsupported.value, InvalidRequest)
    with pytest.raises(sigv4.UnsupportedChecksum):
        Checksums.for_declared({"x-amz-checksum-crc64nvme": "AAAAAAAAAAA="})
    # Headers that name a mode or type, not a digest, are not checked.
    checksums.check_declared(
        {"x-amz-checksum-type": "FULL_OBJECT", "x-amz-checksum-mode": "ENABLED"}
    )
