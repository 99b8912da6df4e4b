"""The FastAPI app factory: evcc's REST API at ``/api``, the websocket at ``/ws``, the fleet API at ``/v2``.

``create_app(ctx)`` builds an app around one :class:`GatewayContext` (config, bus, state store, database
engine, log ring, the fleet context): its one lifespan runs the bus and every background task
(:mod:`services.gateway.lifespan`), and errors are rendered in one place (:mod:`services.gateway.errors`).
The service runs it under uvicorn; tests run the same app in-process on a free port.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from services.gateway.context import GatewayContext
from services.gateway.errors import install_error_handlers
from services.gateway.fleet.router import PREFIX as FLEET_PREFIX
from services.gateway.fleet.router import build_router as build_fleet_router
from services.gateway.lifespan import gateway_running
from services.gateway.middleware import (
    OriginGuard,
    Receive,
    RequestContext,
    RequestLimits,
    Scope,
    Send,
    StateResponder,
    plain_state_read,
)
from services.gateway.openapi_doc import install_openapi
from services.gateway.web.routes import install_web
from shared import __version__

API_PREFIX = "/api"
__all__ = ["API_PREFIX", "create_app"]


class GatewayApp(FastAPI):
    """FastAPI, with plain ``GET /api/state`` answered before the middleware stack (the snapshot's bytes;
    see :func:`~services.gateway.middleware.plain_state_read`)."""

    state_responder: StateResponder | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.state_responder is not None and plain_state_read(scope):
            try:
                await self.state_responder(scope, send)
                return
            except Exception:  # nothing was sent: the full stack answers (and reports the error)
                pass
        await super().__call__(scope, receive, send)


def install_layers(app: FastAPI, ctx: GatewayContext) -> None:
    """The ASGI layers of :mod:`services.gateway.middleware` (added innermost first)."""
    settings = ctx.config.gateway
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Content-Type", "Authorization"],
            max_age=600,
        )
    app.add_middleware(OriginGuard, allowed=settings.cors_origins)
    app.add_middleware(
        RequestLimits, max_body_bytes=settings.max_body_bytes, max_url_bytes=settings.max_url_bytes
    )
    app.add_middleware(RequestContext)


def create_app(ctx: GatewayContext) -> FastAPI:
    from services.gateway import (
        metrics,
        routes_auth,
        routes_sessions,
        routes_setters,
        routes_state,
        routes_system,
        websocket,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with gateway_running(ctx):
            yield

    app = GatewayApp(
        title="chargebus",
        version=__version__,
        description="evcc-compatible REST API (under /api), websocket /ws and the fleet API (under /v2).",
        docs_url=None,  # /docs and /redoc are served with bundled assets by install_web (work offline)
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    install_openapi(app)
    install_error_handlers(app, problem_prefixes=(FLEET_PREFIX,))
    install_layers(app, ctx)
    app.state_responder = routes_state.state_responder(ctx)
    app.include_router(routes_state.router, prefix=API_PREFIX)
    app.include_router(routes_setters.build_router(), prefix=API_PREFIX)
    app.include_router(routes_sessions.router, prefix=API_PREFIX)
    app.include_router(routes_auth.router, prefix=API_PREFIX)
    app.include_router(routes_system.router, prefix=API_PREFIX)
    app.include_router(websocket.router)
    app.include_router(metrics.router)
    install_web(app)
    app.include_router(build_fleet_router(ctx.fleet))
    return app
