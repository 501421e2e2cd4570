"""Placeholder replaced by the OpenAPI document (being written)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

OPENAPI: dict[str, Any] = {"openapi": "3.0.3", "info": {"title": "accord", "version": "0.1.0"}, "paths": {}}


async def get_openapi(request: web.Request) -> web.Response:
    return web.json_response(OPENAPI)


def add_openapi_route(app: web.Application) -> None:
    app.router.add_get("/app/openapi.json", get_openapi)
