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

from services.gateway.context import GatewayContext
from services.gateway.errors import install_error_handlers
from services.gateway.fleet.router import PREFIX as FLEET_PREFIX
from services.gateway.fleet.router import build_router as build_fleet_router
from services.gateway.lifespan import gateway_running
from services.gateway.web.routes import install_web
from shared import __version__

API_PREFIX = "/api"
__all__ = ["API_PREFIX", "create_app"]


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

    app = FastAPI(
        title="chargebus",
        version=__version__,
        description="evcc-compatible REST API (under /api), websocket /ws and the fleet API (under /v2).",
        docs_url=None,  # /docs and /redoc are served with bundled assets by install_web (work offline)
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    install_error_handlers(app, problem_prefixes=(FLEET_PREFIX,))
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
