"""``/api/auth/*`` (reference §7) and the telemetry setting (stored; chargebus never sends anything)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from services.gateway import params as p
from services.gateway.auth import (
    AuthStore,
    Busy,
    LoginThrottle,
    PasswordError,
    client_key,
    logout_cookie,
    session_cookie,
)
from services.gateway.context import GatewayContext
from services.gateway.deps import Ctx, SetterSession, SignedIn
from services.gateway.errors import ApiError
from services.gateway.responses import result
from shared.db import get_setting, set_setting

router = APIRouter()
KEY_TELEMETRY = "telemetry"

_LOGIN_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": {"type": "object", "properties": {"password": {"type": "string"}}}}
    },
}
_PASSWORD_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"current": {"type": "string"}, "new": {"type": "string"}},
            }
        }
    },
}


def _auth(ctx: GatewayContext) -> AuthStore:
    return ctx.auth


def _throttle(ctx: GatewayContext) -> LoginThrottle:
    return ctx.throttle


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise ApiError(400, "invalid body: not JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid body: expected a JSON object")
    return body


def _string_field(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise ApiError(400, f"invalid body: {name!r} must be a string")
    return value


def _check_throttle(request: Request, ctx: GatewayContext) -> None:
    wait = _throttle(ctx).retry_after(client_key(request), datetime.now(UTC))
    if wait > 0:
        raise ApiError(429, f"too many wrong passwords; try again in {math.ceil(wait)} s", retry_after_s=wait)


async def _verify(request: Request, ctx: GatewayContext, password: str) -> bool:
    """One throttled password check; a wrong password counts against the client."""
    client = client_key(request)
    try:
        async with _throttle(ctx).attempt(client):
            ok = await run_in_threadpool(_auth(ctx).verify, password)
    except Busy:
        raise ApiError(429, "a password check of yours is still running", retry_after_s=1) from None
    if ok:
        _throttle(ctx).succeeded(client)
    else:
        _throttle(ctx).failed(client, datetime.now(UTC))
    return ok


def _secure(request: Request) -> bool:
    """The request came over https (directly, or through a trusted proxy saying so)."""
    return request.url.scheme == "https"


def _with_cookie(request: Request, response: Response, ctx: GatewayContext) -> Response:
    now = datetime.now(UTC)
    token = _auth(ctx).issue(now)
    response.headers.append("set-cookie", session_cookie(token, now, secure=_secure(request)))
    return response


@router.post(
    "/auth/login",
    operation_id="login",
    tags=["auth"],
    response_class=Response,
    openapi_extra={"requestBody": _LOGIN_BODY},
)
async def login(request: Request, ctx: Ctx) -> Response:
    """Check the admin password; on success set the ``auth`` cookie (JWT, 90 days). Throttled per client;
    as long to answer with a password set or not, right or wrong."""
    _check_throttle(request, ctx)
    body = await _json_body(request)
    password = _string_field(body, "password") if "password" in body else ""  # none: a wrong one
    if not await _verify(request, ctx, password):
        raise ApiError(401, "Invalid password")
    return _with_cookie(request, Response(status_code=200), ctx)


@router.post("/auth/logout", operation_id="logout", tags=["auth"], response_class=Response)
def logout(request: Request) -> Response:
    """Replace the ``auth`` cookie with an empty one (as evcc does)."""
    return Response(status_code=200, headers={"set-cookie": logout_cookie(secure=_secure(request))})


@router.put(
    "/auth/password",
    operation_id="changePassword",
    tags=["auth"],
    response_class=Response,
    responses={201: {"description": "First set, logged in"}, 202: {"description": "Changed"}},
    openapi_extra={"requestBody": _PASSWORD_BODY},
)
async def change_password(request: Request, ctx: Ctx) -> Response:
    """First set (201, logged in) or change (202, needs the current password)."""
    _check_throttle(request, ctx)
    body = await _json_body(request)
    new = _string_field(body, "new")
    auth = _auth(ctx)
    first = not await run_in_threadpool(auth.has_password)
    if not first:
        current = body.get("current")
        if not await _verify(request, ctx, current if isinstance(current, str) else ""):
            raise ApiError(400, "invalid password")
    try:
        await run_in_threadpool(auth.set_password, new)
    except PasswordError as error:
        raise ApiError(400, str(error)) from None
    if first:
        return _with_cookie(request, Response(status_code=201), ctx)
    return Response(status_code=202)


@router.get(
    "/auth/status",
    operation_id="getAuthStatus",
    tags=["auth"],
    response_model=None,
    response_class=PlainTextResponse,
)
def auth_status(ctx: Ctx, is_signed_in: SignedIn) -> Response:
    """``true``/``false`` (logged in or not); ``false`` while no admin password is configured — nobody can
    be logged in yet, and clients (ha-evcc, Node-RED flows) must not fail on evcc's 501 for that."""
    if not _auth(ctx).has_password():
        return PlainTextResponse("false", media_type="application/json")
    return PlainTextResponse("true" if is_signed_in else "false")


@router.get("/settings/telemetry", operation_id="getTelemetryStatus", tags=["system"])
def telemetry_status(request: Request, ctx: Ctx) -> JSONResponse:
    return result(request, get_setting(ctx.engine, KEY_TELEMETRY) == "true")


@router.post("/settings/telemetry/{enable}", operation_id="setTelemetryStatus", tags=["system"])
def set_telemetry(request: Request, ctx: Ctx, _: SetterSession, enable: str) -> JSONResponse:
    """Stored only: chargebus has no telemetry endpoint and never sends anything."""
    value = p.boolean("enable", enable)
    set_setting(ctx.engine, KEY_TELEMETRY, "true" if value else "false")
    return result(request, value)
