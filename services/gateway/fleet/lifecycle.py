"""Starting and stopping the fleet machinery, and the fleet context of a site's own gateway.

:func:`running` creates the records the configuration implies and runs the webhook deliverer and the
periodic session sync for as long as its block lasts; the app serving the fleet API enters it in its one
lifespan. Migrations run when the context is built (:func:`gateway_fleet`), like the gateway's own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.gateway.fleet.context import FleetContext
from services.gateway.fleet.live import StoreLiveView
from services.gateway.fleet.models import migrate_fleet
from services.gateway.fleet.records import sync_configured
from services.gateway.fleet.sync import sync_now
from services.gateway.fleet.webhooks import run_deliverer
from services.gateway.owner import OWNER, bus_link
from services.gateway.state_store import StateStore
from shared.bus import Bus
from shared.config import Config
from shared.logging import get_logger
from shared.tasks import cancel_and_wait

log = get_logger("gateway", component="fleet")


def gateway_fleet(config: Config, engine: Engine, store: StateStore, bus: Bus) -> FleetContext:
    """The fleet API of one site's gateway: its database, its state store and its bus."""
    migrate_fleet(engine)

    return FleetContext(
        config=config,
        engine=engine,
        live=StoreLiveView(store),
        owner=lambda: bus_link(bus, store, OWNER),
        public_url=config.gateway.public_url,
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


@contextlib.asynccontextmanager
async def running(fleet: FleetContext) -> AsyncIterator[None]:
    """The fleet's records and background tasks for the duration of the block."""
    with Session(fleet.engine) as db:
        sync_configured(db, fleet.config, fleet.now())
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(run_deliverer(fleet, stop), name="fleet-webhooks"),
        asyncio.create_task(_sync_loop(fleet, stop), name="fleet-session-sync"),
    ]
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait(tasks, timeout=5)  # they end on their own once stop is set
        await cancel_and_wait(tasks)
