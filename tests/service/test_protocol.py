"""Requests the HTTP parser refuses, sent as raw bytes over TLS to a real `accord serve`: each
gets a JSON error with the right 4xx/501 and costs one log line, never a traceback."""

from __future__ import annotations

import json
import time

import pytest
from aiohttp.http_exceptions import BadHttpMessage, BadHttpMethod, InvalidURLError, LineTooLong

from accord.service.protocol import MAX_LOG_LINES_PER_SECOND, describe_protocol_error
from tests.service.conftest import Service, raw_exchange, stop_service

HOST = b"Host: 127.0.0.1\r\n"
MALFORMED = [
    ("url-too-long", b"GET /app/" + b"a" * 9000 + b" HTTP/1.1\r\n" + HOST + b"\r\n", 414),
    (
        "query-too-long",
        b"GET /checkpoint?x=" + b"a" * 9000 + b" HTTP/1.1\r\n" + HOST + b"\r\n",
        414,
    ),
    (
        "header-too-long",
        b"GET /checkpoint HTTP/1.1\r\n" + HOST + b"X-Big: " + b"a" * 9000 + b"\r\n\r\n",
        431,
    ),
    (
        "header-name-too-long",
        b"GET /checkpoint HTTP/1.1\r\n" + HOST + b"X-" + b"a" * 9000 + b": 1\r\n\r\n",
        431,
    ),
    (
        "too-many-headers",
        b"GET /checkpoint HTTP/1.1\r\n"
        + HOST
        + b"".join(b"X-H%d: y\r\n" % i for i in range(300))
        + b"\r\n",
        431,
    ),
    ("missing-host", b"GET /checkpoint HTTP/1.1\r\n\r\n", 400),
    ("non-ascii-query", b"GET /checkpoint?a=\xff\xfe HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    ("non-ascii-path", b"GET /app/\xc3\xa9 HTTP/1.1\r\n" + HOST + b"\r\n", 400),
    ("unknown-method", b"FOO / HTTP/1.1\r\n" + HOST + b"\r\n", 501),
    ("bad-version", b"GET / HTTP/9.9\r\n" + HOST + b"\r\n", 400),
    ("control-char-in-header", b"GET / HTTP/1.1\r\n" + HOST + b"X\x01: y\r\n\r\n", 400),
    (
        "bad-chunk-size",
        b"POST /app/transactions HTTP/1.1\r\n"
        + HOST
        + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        400,
    ),
]


def test_malformed_http_gets_json_4xx_and_one_log_line(service: Service) -> None:
    for name, request, expected in MALFORMED:
        # No client certificate: anyone can send these.
        status, headers, body = raw_exchange(service, request, role=None)
        assert status == expected, (name, status, body)
        assert headers["content-type"].startswith("application/json"), (name, headers)
        error = json.loads(body)["error"]
        assert error["code"] and error["message"], (name, body)
        # The request's bytes are not echoed back.
        assert "aaaaaaaa" not in error["message"] and "\\x" not in error["message"], (name, body)
    # The service still serves, and logged one line per refusal and no traceback.
    assert raw_exchange(service, b"GET /checkpoint HTTP/1.1\r\n" + HOST + b"\r\n")[0] == 200
    err = stop_service(service.proc)
    assert "Traceback" not in err, err
    assert err.count("refused malformed HTTP") == len(MALFORMED), err


def test_a_flood_of_malformed_requests_is_rate_limited_in_the_log(service: Service) -> None:
    started = time.monotonic()
    for _ in range(60):
        assert raw_exchange(service, b"FOO / HTTP/1.1\r\n" + HOST + b"\r\n", role=None)[0] == 501
    elapsed = time.monotonic() - started
    err = stop_service(service.proc)
    assert "Traceback" not in err
    logged = err.count("refused malformed HTTP")
    assert logged >= 1
    # At most MAX_LOG_LINES_PER_SECOND in each second the flood lasted.
    assert logged <= MAX_LOG_LINES_PER_SECOND * (int(elapsed) + 2), err
    if elapsed < 2:
        assert logged <= 2 * MAX_LOG_LINES_PER_SECOND, err


LIMITS = {"max_line_size": 8190, "max_field_size": 8190, "max_headers": 128}


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (LineTooLong(bytearray(b"/aaa..."), 8190), 414),
        (LineTooLong(b"GET /aaaa...", 8190), 414),  # the pure-Python parser's form
        (LineTooLong(b"aaaa...", 8190), 431),
        (BadHttpMessage("Too many headers received"), 431),
        (BadHttpMethod("FOO / HTTP/1.1"), 501),
        (InvalidURLError("Invalid char in url query:\n\n  b'GET /?\\xff'\n     ^"), 400),
        (BadHttpMessage("Missing 'Host' header in request."), 400),
        (None, 400),
    ],
)
def test_describe_protocol_error(exc: BaseException | None, status: int) -> None:
    got, code, message = describe_protocol_error(exc, **LIMITS)
    assert got == status
    assert code and message and "\\x" not in message and "\n" not in message


def test_compressed_bodies_are_refused_unread_without_a_traceback(service: Service) -> None:
    # A broken gzip body used to answer 500 and log tracebacks, even without a login (aiohttp
    # decompressed while draining the body after a 401).
    body = b"abc-not-gzip"
    for role, path in ((None, "/app/transactions"), ("admin", "/app/transactions"),
                       ("admin", "/app/transactions/batch"), (None, "/nowhere")):  # fmt: skip
        request = (
            b"POST " + path.encode() + b" HTTP/1.1\r\n" + HOST
            + b"Content-Type: application/json\r\nContent-Encoding: gzip\r\n"
            + b"Content-Length: %d\r\n\r\n" % len(body) + body
        )  # fmt: skip
        status, headers, reply = raw_exchange(service, request, role=role)
        assert status in (401, 404, 415), (role, path, status, reply)
        assert headers["content-type"].startswith("application/json")
        if role == "admin" and path.startswith("/app/transactions"):
            assert status == 415 and b"send the body uncompressed" in reply
    err = stop_service(service.proc)
    assert "Traceback" not in err and "Unhandled exception" not in err, err
