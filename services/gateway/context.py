"""What every route needs, held once per app on ``app.state.ctx`` (no module-level singletons)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Request
from sqlmodel import Session

from services.gateway.state_store import StateStore
from shared.bus import Bus
from shared.config import Config
from shared.logging import RecentLines

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from services.gateway.auth import AuthStore, LoginThrottle
    from services.gateway.events import EventWriter
    from services.gateway.jq_eval import JqGate

OWNER = "optimizer"
"""The service that owns every setting the REST setters change (DESIGN §1)."""


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
    sessions_changed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set whenever sessions are written, edited or deleted (statistics are recomputed)."""
    shutdown: asyncio.Event = field(default_factory=asyncio.Event)
    """Set by ``POST /api/system/shutdown``; the service stops when it is set."""
    extras: dict[str, Any] = field(default_factory=dict)
    """Kept for compatibility (``extras["writer"]``); use the typed fields."""

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


def get_db_session(request: Request) -> Iterator[Session]:
    """FastAPI dependency: a database session on the gateway's engine (shared with the fleet API)."""
    with Session(request.app.state.db_engine) as session:
        yield session


def get_ctx(request: Request) -> GatewayContext:
    ctx: GatewayContext = request.app.state.ctx
    return ctx
