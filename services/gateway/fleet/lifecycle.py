"""Starting and stopping the fleet machinery, and the fleet context of a site's own gateway.

:func:`running` registers the gateway's own site (when it has one) and runs the webhook deliverer and the
session sync for as long as its block lasts; the app serving the fleet API enters it in its one lifespan.
Migrations run when the context is built (:func:`gateway_fleet`), like the gateway's own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.gateway.fleet.context import FleetContext
from services.gateway.fleet.idempotency import SqlIdempotency
from services.gateway.fleet.live import LiveView, NoLiveView, StoreLiveView
from services.gateway.fleet.models import migrate_fleet
from services.gateway.fleet.ratelimit import SqlRateLimits
from services.gateway.fleet.sites import adopt_local_records, manifest_from_config, register_site
from services.gateway.fleet.sync import sync_once
from services.gateway.fleet.webhooks import run_deliverer
from services.gateway.owner import OWNER, OwnerLink, bus_link
from services.gateway.state_store import StateStore
from shared.bus import Bus
from shared.config import Config
from shared.logging import get_logger
from shared.netguard import guard_from
from shared.tasks import cancel_and_wait

log = get_logger("gateway", component="fleet")


class OwnSite:
    """A site's gateway serves exactly its own site: its state store and its bus."""

    def __init__(self, site_id: str, store: StateStore, bus: Bus) -> None:
        self.site_id = site_id
        self._live = StoreLiveView(store)
        self._store = store
        self._bus = bus

    def live(self, db: Session, site_id: str) -> LiveView:
        return self._live if site_id == self.site_id else NoLiveView()

    def owner(self, db: Session, site_id: str) -> OwnerLink | None:
        return bus_link(self._bus, self._store, OWNER) if site_id == self.site_id else None


def gateway_fleet(
    config: Config, engine: Engine, store: StateStore, bus: Bus, written: asyncio.Event | None = None
) -> FleetContext:
    """The fleet API of one site's gateway: its database, its state store and its bus. ``written`` is set
    by the event writer after every row, so new sessions reach the fleet view (and webhooks) at once."""
    migrate_fleet(engine)
    ctx = FleetContext(
        engine=engine,
        sites=OwnSite(config.site_id, store, bus),
        limits=SqlRateLimits(engine, lambda: ctx.now()),
        idempotency=SqlIdempotency(engine),
        public_url=config.gateway.public_url,
        local=manifest_from_config(config),
        netguard=guard_from(config.gateway.outbound_allow),
    )
    if written is not None:
        ctx.sync_wanted = written
    return ctx


async def _sync_loop(fleet: FleetContext, stop: asyncio.Event) -> None:
    """Pick up new sessions and ended episodes as soon as they are written (webhooks must not wait)."""
    while not stop.is_set():
        fleet.sync_wanted.clear()
        try:
            await asyncio.to_thread(sync_once, fleet)
        except Exception:
            log.exception("session sync failed")
        waiters = [asyncio.ensure_future(fleet.sync_wanted.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=fleet.sync_interval_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(waiters)


def register_local(fleet: FleetContext) -> None:
    """The gateway's own site and the records its configuration implies (idempotent)."""
    if fleet.local is None:
        return
    with Session(fleet.engine) as db:
        adopt_local_records(db, fleet.local.site_id)
        register_site(db, fleet.local, fleet.now(), fleet.local.internal_root)
        db.commit()


@contextlib.asynccontextmanager
async def running(fleet: FleetContext) -> AsyncIterator[None]:
    """The fleet's records and background tasks for the duration of the block."""
    await asyncio.to_thread(register_local, fleet)
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
