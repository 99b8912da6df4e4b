"""Starting and stopping the fleet machinery: context, migrations, configured records, the webhook
deliverer and the periodic session sync.

Three ways in, all idempotent: the router's lifespan (when the server runs lifespans), :func:`fleet_running`
(for a service that runs uvicorn with ``lifespan="off"``), and :func:`ensure_started`, which every fleet
request awaits so the API also works when neither of the others ran.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from sqlmodel import Session

from services.gateway.fleet.context import FleetContext
from services.gateway.fleet.live import StoreLiveView
from services.gateway.fleet.models import migrate_fleet
from services.gateway.fleet.records import sync_configured
from services.gateway.fleet.sync import sync_now
from services.gateway.fleet.webhooks import run_deliverer
from shared.logging import get_logger
from shared.tasks import cancel_and_wait

log = get_logger("gateway", component="fleet")


def context_from_gateway(app: FastAPI) -> FleetContext | None:
    """Build the fleet context from the gateway's ``app.state.ctx`` (config, engine, state store, bus)."""
    gateway: Any = getattr(app.state, "ctx", None)
    if gateway is None:
        return None
    settings = gateway.config.gateway
    host = "localhost" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return FleetContext(
        config=gateway.config,
        engine=gateway.engine,
        live=StoreLiveView(gateway.store),
        requester=gateway.bus,
        public_url=f"http://{host}:{settings.port}",
    )


async def _sync_loop(fleet: FleetContext, stop: asyncio.Event) -> None:
    """Pick up sessions the gateway wrote even when no fleet request asks (webhooks must not wait)."""
    while not stop.is_set():
        try:
            with Session(fleet.engine) as db:
                sync_now(fleet, db)
        except Exception:
            log.exception("session sync failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), fleet.sync_interval_s)


class _Running:
    def __init__(self, fleet: FleetContext) -> None:
        self.fleet = fleet
        self.stop = asyncio.Event()
        self.tasks = [
            asyncio.create_task(run_deliverer(fleet, self.stop), name="fleet-webhooks"),
            asyncio.create_task(_sync_loop(fleet, self.stop), name="fleet-session-sync"),
        ]

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait(self.tasks, timeout=5)  # they end on their own once stop is set
        await cancel_and_wait(self.tasks)


def _lock(app: FastAPI) -> asyncio.Lock:
    lock: asyncio.Lock | None = getattr(app.state, "fleet_lock", None)
    if lock is None:
        lock = app.state.fleet_lock = asyncio.Lock()
    return lock


async def ensure_started(app: FastAPI) -> FleetContext | None:
    """The running fleet context of ``app`` (started now if needed); None when there is nothing to run on."""
    running: _Running | None = getattr(app.state, "fleet_running", None)
    if running is not None:
        return running.fleet
    async with _lock(app):
        again: _Running | None = getattr(app.state, "fleet_running", None)
        if again is not None:
            return again.fleet
        fleet: FleetContext | None = getattr(app.state, "fleet", None) or context_from_gateway(app)
        if fleet is None:
            log.warning("fleet API inactive: neither app.state.fleet nor the gateway's app.state.ctx is set")
            return None
        app.state.fleet = fleet
        migrate_fleet(fleet.engine)
        with Session(fleet.engine) as db:
            sync_configured(db, fleet.config, fleet.now())
        app.state.fleet_running = _Running(fleet)
        return fleet


async def stop(app: FastAPI) -> None:
    running: _Running | None = getattr(app.state, "fleet_running", None)
    if running is not None:
        app.state.fleet_running = None
        await running.close()


@contextlib.asynccontextmanager
async def fleet_running(app: FastAPI) -> AsyncIterator[None]:
    """Run the fleet machinery for the duration of the block (also the router's lifespan)."""
    await ensure_started(app)
    try:
        yield
    finally:
        await stop(app)
