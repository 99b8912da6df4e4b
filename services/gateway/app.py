"""The FastAPI app factory: evcc's REST API at ``/api``, the websocket at ``/ws``, the fleet API at ``/v2``.

``create_app(ctx)`` builds an app around a :class:`GatewayContext` (config, bus, state store, database
engine, log ring) — the service runs it under uvicorn, tests run the same app in-process on a free port.
What other code may use: ``app.state.ctx``, ``app.state.bus``, ``app.state.store``, ``app.state.db_engine``
and the dependency :func:`get_db_session`.
"""

from __future__ import annotations

import importlib
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.gateway.auth import Unauthorized
from services.gateway.context import GatewayContext, get_db_session
from services.gateway.responses import ApiError, error_response
from services.gateway.web.routes import install_web
from shared import __version__
from shared.logging import get_logger

API_PREFIX = "/api"
__all__ = ["API_PREFIX", "create_app", "get_db_session"]


def _install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ApiError)
        return error_response(error.status, error.message, retry_after_s=error.retry_after_s)

    async def on_unauthorized(_request: Request, _error: Exception) -> PlainTextResponse:
        return PlainTextResponse("Unauthorized", status_code=401)

    async def on_validation(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        problems = "; ".join(
            f"{'.'.join(str(x) for x in item.get('loc', ()))}: {item.get('msg', '')}"
            for item in error.errors()
        )
        return error_response(400, f"invalid request: {problems}")

    async def on_http(_request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, StarletteHTTPException)
        return JSONResponse(
            {"error": str(error.detail)}, status_code=error.status_code, headers=error.headers
        )

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(Unauthorized, on_unauthorized)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


def _mount_fleet(app: FastAPI) -> None:
    """The fleet API lives in ``services.gateway.fleet.router`` (built separately): ``router`` under
    ``/v2`` and, when present, ``oauth_router`` (``POST /o/token/``) at the root. Mounted if it imports."""
    log = get_logger("gateway")
    try:
        module = importlib.import_module("services.gateway.fleet.router")
    except ImportError as error:
        log.info("fleet API not mounted", reason=str(error))
        return
    router: Any = getattr(module, "router", None)
    if router is None:
        log.warning("services.gateway.fleet.router has no 'router'; fleet API not mounted")
        return
    app.include_router(router, prefix="/v2")
    oauth_router: Any = getattr(module, "oauth_router", None)
    if oauth_router is not None:
        app.include_router(oauth_router)


def create_app(ctx: GatewayContext) -> FastAPI:
    from services.gateway import (
        routes_auth,
        routes_sessions,
        routes_setters,
        routes_state,
        routes_system,
        websocket,
    )

    app = FastAPI(
        title="chargebus",
        version=__version__,
        description="evcc-compatible REST API (under /api), websocket /ws and the fleet API (under /v2).",
        docs_url=None,  # /docs and /redoc are served with bundled assets by install_web (work offline)
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.bus = ctx.bus
    app.state.store = ctx.store
    app.state.db_engine = ctx.engine
    _install_error_handlers(app)
    app.include_router(routes_state.router, prefix=API_PREFIX)
    app.include_router(routes_setters.build_router(), prefix=API_PREFIX)
    app.include_router(routes_sessions.router, prefix=API_PREFIX)
    app.include_router(routes_auth.router, prefix=API_PREFIX)
    app.include_router(routes_system.router, prefix=API_PREFIX)
    app.include_router(websocket.router)
    install_web(app)
    _mount_fleet(app)
    return app
