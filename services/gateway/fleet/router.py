"""The fleet API as one router: ``build_router(ctx)`` serves ``ctx`` at ``/v2`` and ``/o/…`` (OAuth).

Whoever serves the fleet API — the gateway of one site, the fleet gateway at the centre of many, a test —
builds a :class:`~services.gateway.fleet.context.FleetContext`, includes this router, and runs
:func:`services.gateway.fleet.lifecycle.running` in its one lifespan.
"""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.fleet import (
    routes_core,
    routes_evses,
    routes_oauth,
    routes_sessions,
    routes_tariffs,
    routes_vehicles,
)
from services.gateway.fleet.context import FleetContext
from services.gateway.fleet.route import BoundRoute, bound

PREFIX = "/v2"


def build_router(ctx: FleetContext) -> APIRouter:
    v2 = APIRouter(route_class=bound(ctx))
    for module in (routes_core, routes_evses, routes_vehicles, routes_sessions, routes_tariffs):
        module.routes.install(v2)
    # The root sits on this router itself: an empty path is only allowed where the prefix is added.
    v2.add_api_route("", routes_core.root, methods=["GET"], tags=["Root"])
    v2.add_api_route("/", routes_core.root, methods=["GET"], include_in_schema=False)
    oauth = APIRouter(route_class=bound(ctx, BoundRoute))
    routes_oauth.oauth_routes.install(oauth)
    router = APIRouter()
    router.include_router(v2, prefix=PREFIX)
    router.include_router(oauth)
    return router
