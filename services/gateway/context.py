"""What every route needs, held once per app (no module-level singletons).

The app keeps it on ``app.state.ctx``; routes take it through :func:`get_ctx` (``deps.Ctx``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

from services.gateway.owner import OWNER, OwnerLink, bus_link
from services.gateway.state_store import StateStore
from shared.bus import Bus
from shared.config import Config
from shared.logging import RecentLines

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from services.gateway.auth import AuthStore, LoginThrottle
    from services.gateway.events import EventWriter
    from services.gateway.fleet.context import FleetContext
    from services.gateway.integrations import Integrations
    from services.gateway.jq_eval import JqGate

__all__ = ["OWNER", "GatewayContext", "get_ctx"]


@dataclass
class GatewayContext:
    config: Config
    bus: Bus
    store: StateStore
    engine: Engine
    recent: RecentLines
    auth: AuthStore
    throttle: LoginThrottle
    jq: JqGate
    writer: EventWriter
    fleet: FleetContext
    """The fleet API of this site (``/v2``), on the same database, store and bus."""
    sessions_changed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set whenever sessions are written, edited or deleted (statistics are recomputed)."""
    shutdown: asyncio.Event = field(default_factory=asyncio.Event)
    """Set by ``POST /api/system/shutdown``; the service stops when it is set."""
    integrations: Integrations | None = None
    """Home Assistant discovery, metrics, notifications (:mod:`services.gateway.integrations`)."""

    def owner_link(self, service: str = OWNER) -> OwnerLink:
        """The way to ``service`` right now, for :func:`services.gateway.owner.ask_owner`."""
        return bus_link(self.bus, self.store, service)

    def loadpoint_ids(self) -> list[int]:
        """Configured loadpoints (1-based) plus any the state tree shows."""
        ids = set(range(1, len(self.config.loadpoints) + 1)) | set(self.store.loadpoint_ids())
        return sorted(ids)

    def vehicle_names(self) -> list[str]:
        return sorted({v.name for v in self.config.vehicles} | set(self.store.vehicle_names()))

    def vehicle_title(self, name: str) -> str:
        state = self.store.vehicle(name)
        if state is not None and state.title:
            return state.title
        for vehicle in self.config.vehicles:
            if vehicle.name == name:
                return vehicle.title or name
        return name


def get_ctx(connection: HTTPConnection) -> GatewayContext:
    """The gateway context of the app serving ``connection`` (a request or a websocket)."""
    ctx = connection.app.state.ctx
    if not isinstance(ctx, GatewayContext):
        raise RuntimeError("app.state.ctx is not a GatewayContext (create the app with create_app)")
    return ctx
