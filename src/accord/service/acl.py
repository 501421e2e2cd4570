"""Users and roles over HTTP (Azure Confidential Ledger ``/app/users``): list, get, add, delete.

Only Administrators manage users. Ids are checked by :func:`accord.service.users.parse_user_id`
(certificate fingerprint or token subject, decided explicitly), and no change may leave the
ledger without an Administrator (409, nothing changed).
"""

from __future__ import annotations

import datetime
import functools

from aiohttp import web

from accord.errors import InvalidRequest
from accord.service.http import in_thread, json_body, require
from accord.service.state import STATE
from accord.service.users import (
    ADMIN_ROLES,
    User,
    check_an_administrator_remains,
    expired_certificate_warning,
    parse_user_id,
    validate_role,
)

USER_BODY_LIMIT = 64 * 1024
USER_FIELDS = frozenset({"assignedRole", "userId"})


def _user_json(user: User) -> dict[str, str]:
    return {"userId": user.user_id, "assignedRole": user.role}


def _path_user_id(request: web.Request) -> str:
    _, user_id = parse_user_id(request.match_info["user_id"])
    return user_id


async def list_users(request: web.Request) -> web.Response:
    require(request, ADMIN_ROLES)
    users = await in_thread(request.app[STATE].users.all)
    return web.json_response({"users": [_user_json(u) for u in users]})


async def get_user(request: web.Request) -> web.Response:
    require(request, ADMIN_ROLES)
    user = request.app[STATE].users.get(_path_user_id(request))
    return web.json_response(_user_json(user))


async def patch_user(request: web.Request) -> web.Response:
    caller = require(request, ADMIN_ROLES)
    users = request.app[STATE].users
    kind, user_id = parse_user_id(request.match_info["user_id"])
    body = await json_body(request, USER_BODY_LIMIT)
    if not isinstance(body, dict):
        raise InvalidRequest("body must be a JSON object")
    unknown = set(body) - USER_FIELDS
    if unknown:
        raise InvalidRequest(f"unknown user fields: {', '.join(sorted(unknown))}")
    if "userId" in body:
        _, body_id = parse_user_id(body["userId"])
        if body_id != user_id:
            raise InvalidRequest("userId in the body differs from the one in the path")
    role = validate_role(body["assignedRole"]) if "assignedRole" in body else None
    user = await in_thread(
        functools.partial(users.assign_role, user_id, kind, role, by=caller.user_id)
    )
    body_out: dict[str, str] = _user_json(user)
    headers: dict[str, str] = {}
    warning = expired_certificate_warning(user.cert_pem, datetime.datetime.now(datetime.UTC))
    if warning:
        body_out["warning"] = warning
        headers["x-accord-warning"] = warning
    return web.json_response(body_out, headers=headers)


async def delete_user(request: web.Request) -> web.Response:
    caller = require(request, ADMIN_ROLES)
    users = request.app[STATE].users
    user_id = _path_user_id(request)
    if user_id == caller.user_id:
        # The last Administrator hears why (409) before the general rule (400).
        snapshot = {u.user_id: u for u in await in_thread(users.all)}
        check_an_administrator_remains(snapshot, user_id, None)
        raise InvalidRequest("an administrator cannot delete themself")
    await in_thread(functools.partial(users.delete, user_id, by=caller.user_id))
    return web.Response(status=204)


def user_routes() -> list[web.RouteDef]:
    return [
        web.get("/app/users", list_users),
        web.get("/app/users/{user_id}", get_user),
        web.patch("/app/users/{user_id}", patch_user),
        web.delete("/app/users/{user_id}", delete_user),
    ]
