"""The fleet API's routers and lifespan.

The gateway includes ``router`` at ``/v2`` and ``oauth_router`` at the root (``POST /o/token/``). The
router's lifespan (merged into the app's by ``include_router``) runs after the gateway's own start-up:
it builds the :class:`FleetContext` from the gateway's ``app.state.ctx`` (unless one was put on
``app.state.fleet`` already, as tests and tools do), applies the fleet migrations, creates the records
the configuration implies, and runs the webhook deliverer and the session sync until shutdown.
"""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.fleet import routes_core, routes_evses, routes_sessions, routes_tariffs, routes_vehicles
from services.gateway.fleet.lifecycle import fleet_running
from services.gateway.fleet.route import FleetRoute

router = APIRouter(route_class=FleetRoute, lifespan=fleet_running)
"""Everything under ``/v2`` (include with ``prefix="/v2"``)."""
for _module in (routes_core, routes_evses, routes_vehicles, routes_sessions, routes_tariffs):
    router.include_router(_module.router)
# The root sits on this router itself: an empty path is only allowed where the prefix is added.
router.add_api_route("", routes_core.root, methods=["GET"], tags=["Root"])
router.add_api_route("/", routes_core.root, methods=["GET"], include_in_schema=False)

oauth_router = routes_core.oauth_router
"""``POST /o/token/`` (include without a prefix)."""
