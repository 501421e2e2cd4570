"""Errors in the HTTP framing itself, answered like every other error: JSON, 4xx, one log line.

aiohttp's parser refuses some requests before any route or middleware runs (a request line or a
header over 8,190 bytes, more than 128 headers, no Host header, raw non-ASCII bytes in the target,
a method it does not know, broken chunked framing) and answers them itself, in plain text, after
logging a traceback. Anyone can send such a request, no login needed, so each must cost one log
line at most. aiohttp has no public hook for this (aio-libs/aiohttp#3287); the supported seam is
its protocol class, ``RequestHandler.handle_error``, which :class:`ServiceRequestHandler`
overrides; :class:`ServiceRunner` is the ``web.AppRunner`` that builds its server with it.

:func:`describe_protocol_error` is the decision (status, code and message from the parser's
exception), pure; the rest is wiring. This module does not handle errors inside routes: those are
:func:`accord.service.http.error_middleware`'s.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import (
    BadHttpMethod,
    BadStatusLine,
    HttpProcessingError,
    InvalidURLError,
    LineTooLong,
)
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from accord.service.http import error_body

log = logging.getLogger("accord.service")

# A request line as the pure-Python parser reports it ("GET /aaaa..."): method, space, target.
_REQUEST_LINE = re.compile(rb"^[A-Z]+ (/|\*|https?:)")
# Lines of a parser message that echo the request back (b'...' and the caret under it).
_ECHO = re.compile(r"^\s*(b['\"]|\^)")
MAX_LOG_LINES_PER_SECOND = 20


def describe_protocol_error(
    exc: BaseException | None, *, max_line_size: int, max_field_size: int, max_headers: int
) -> tuple[int, str, str]:
    """The status, error code and message for a request the HTTP parser refused.

    Never echoes the request's bytes back. Any refusal not named here is a 400.
    """
    if isinstance(exc, LineTooLong):
        line = exc.args[0] if exc.args else b""
        # aiohttp's C parser collects the request target in a bytearray and header fields in
        # bytes; its pure-Python parser reports the whole request line.
        if isinstance(line, bytearray) or (isinstance(line, bytes) and _REQUEST_LINE.match(line)):
            return (
                414,
                "URITooLong",
                f"the request line is longer than {max_line_size} bytes",
            )
        return (
            431,
            "RequestHeaderFieldsTooLarge",
            f"a header field is longer than {max_field_size} bytes",
        )
    if isinstance(exc, BadHttpMethod):
        return 501, "NotImplemented", "the request method is not one this server implements"
    if isinstance(exc, HttpProcessingError):
        text = _parser_text(exc)
        if "too many headers" in text.lower():
            return (
                431,
                "RequestHeaderFieldsTooLarge",
                f"more than {max_headers} header fields",
            )
        if isinstance(exc, InvalidURLError):
            return 400, "InvalidRequest", f"the request target is malformed: {text}"
        if isinstance(exc, BadStatusLine):
            return 400, "InvalidRequest", f"the request line is malformed: {text}"
        return 400, "InvalidRequest", f"the request is malformed HTTP: {text}"
    return 400, "InvalidRequest", "the request is malformed HTTP"


def _parser_text(exc: HttpProcessingError) -> str:
    lines = [ln.strip() for ln in str(exc.message).splitlines()]
    kept = [ln for ln in lines if ln and not _ECHO.match(ln)]
    text = " ".join(kept).replace(": ", " ").rstrip(":. ") or "unreadable request"
    return text[:200]


class _LogLimiter:
    """At most ``per_second`` lines a second; the next line says how many were dropped."""

    def __init__(self, per_second: int) -> None:
        self.per_second = per_second
        self._window = 0.0
        self._count = 0
        self._dropped = 0

    def allow(self) -> tuple[bool, int]:
        now = time.monotonic()
        if now - self._window >= 1.0:
            self._window, self._count = now, 0
        if self._count >= self.per_second:
            self._dropped += 1
            return False, 0
        self._count += 1
        dropped, self._dropped = self._dropped, 0
        return True, dropped


_limiter = _LogLimiter(MAX_LOG_LINES_PER_SECOND)


class ServiceRequestHandler(RequestHandler):
    """aiohttp's protocol, answering parser refusals as JSON with one rate-limited log line."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            # As aiohttp does: part of a response left already; the connection is broken.
            raise ConnectionError("response already started; cannot send an error response")
        if status == 504 and exc is None:
            code, text = "Timeout", "the request timed out"
            log.warning("request from %s timed out", request.remote)
        elif status >= 500 and not isinstance(exc, HttpProcessingError):
            # An exception escaped a handler: an accord bug, so the traceback is worth logging.
            log.error("unhandled error on %s", request.remote, exc_info=exc)
            code, text = "InternalError", "internal error; see the service log"
        else:
            status, code, text = describe_protocol_error(
                exc,
                max_line_size=self.max_line_size,
                max_field_size=self.max_field_size,
                max_headers=self.max_headers,
            )
            allowed, dropped = _limiter.allow()
            if allowed:
                suffix = f" ({dropped} more not logged)" if dropped else ""
                log.warning(
                    "refused malformed HTTP from %s: %d %s%s", request.remote, status, text, suffix
                )
        response = web.Response(
            status=status, text=error_body(code, text), content_type="application/json"
        )
        response.force_close()
        return response


class ServiceServer(web.Server):
    """A ``web.Server`` whose connections use :class:`ServiceRequestHandler`."""

    def __call__(self) -> RequestHandler:
        return ServiceRequestHandler(self, loop=self._loop, **self._kwargs)


class ServiceRunner(web.AppRunner):
    """``web.AppRunner`` for the accord application, with :class:`ServiceServer`."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        kwargs: dict[str, Any] = dict(server._kwargs)
        return ServiceServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **kwargs,
        )


def bound_port(site: web.TCPSite, port: int) -> int:
    """The port a site listens on (``port``, unless it was 0 and the system chose one)."""
    # aiohttp has no public accessor for the bound port (needed with --port 0).
    sockets = getattr(site._server, "sockets", None)
    return int(sockets[0].getsockname()[1]) if sockets else port
