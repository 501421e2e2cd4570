"""The HTTPS service application: it assembles the routes of each capability, nothing more.

Each capability brings its own route group: ledger entries (:mod:`accord.service.entries`),
redaction (:mod:`accord.service.redaction`), users (:mod:`accord.service.acl`), governance
(:mod:`accord.service.governance`), verification endpoints (:mod:`accord.service.verification`)
and the OpenAPI document (:mod:`accord.service.openapi`). Shared plumbing (authentication,
bodies, the error middleware) is :mod:`accord.service.http`; errors in the HTTP framing itself
are :mod:`accord.service.protocol`'s. A new capability mounts by adding its group to
:data:`CAPABILITIES`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aiohttp import web

from accord.documents.consortium import blob_routes
from accord.service.acl import user_routes
from accord.service.compute import compute_routes
from accord.service.consortium import consortium_routes
from accord.service.entries import entry_routes
from accord.service.governance import governance_routes
from accord.service.http import error_middleware, peer_user_id
from accord.service.openapi import openapi_routes
from accord.service.private import private_routes
from accord.service.redaction import redaction_routes
from accord.service.state import STATE, ServiceState
from accord.service.tls import make_ssl_context, trust_user_certificates
from accord.service.verification import verification_routes

__all__ = [
    "CAPABILITIES",
    "STATE",
    "ServiceState",
    "build_app",
    "make_ssl_context",
    "peer_user_id",
    "trust_user_certificates",
]

# aiohttp's hard cap on any body; each route reads with its own, smaller limit (http.read_body).
CLIENT_MAX_SIZE = 64 * 1024 * 1024

RouteGroup = Callable[[], Sequence[web.RouteDef]]
CAPABILITIES: tuple[RouteGroup, ...] = (
    verification_routes,
    entry_routes,
    redaction_routes,
    user_routes,
    governance_routes,
    consortium_routes,
    blob_routes,
    private_routes,
    compute_routes,
    openapi_routes,
)


def build_app(
    state: ServiceState, capabilities: Sequence[RouteGroup] = CAPABILITIES
) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=CLIENT_MAX_SIZE)
    app[STATE] = state
    for routes in capabilities:
        app.add_routes(routes())
    return app
