"""``chargebus fleet-gateway``: one instance of the centre of a fleet.

It reads every site's state and events from the central broker (MQTT 5 shared subscriptions: each event
reaches one instance and is stored once), keeps the fleet's records in the shared database (PostgreSQL),
and serves ``/v2`` for every site — writes go to the owning site's services over the broker. Start as
many instances as the load needs, behind a load balancer, on one database (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text, update
from sqlalchemy.engine import Engine
from sqlmodel import col

from services.fleet_gateway.ingest import LiveIngest
from services.fleet_gateway.sites import SERVICE, CentreSites, RequestRouter
from services.fleet_gateway.topics import FleetTopics
from services.gateway.errors import install_error_handlers
from services.gateway.events import EventWriter
from services.gateway.fleet.context import FleetContext
from services.gateway.fleet.idempotency import IdempotencyStore, RedisIdempotency, SqlIdempotency
from services.gateway.fleet.lifecycle import running as fleet_running
from services.gateway.fleet.models import SyncMark, insert_for, migrate_fleet
from services.gateway.fleet.ratelimit import RateLimits, RedisRateLimits, SqlRateLimits
from services.gateway.fleet.router import PREFIX, build_router
from services.gateway.service import make_server, serve_until
from shared.bus import Bus
from shared.config import Config
from shared.db import open_database
from shared.logging import configure_logging, get_logger
from shared.netguard import guard_from
from shared.tasks import cancel_and_wait

BOOTSTRAP_EVERY_S = 600.0
"""Retained state is read again at most this often, by whichever instance starts first."""


@dataclass
class Centre:
    """One fleet-gateway instance: its bus, database, ingest and the fleet API's context."""

    config: Config
    instance: str
    topics: FleetTopics
    bus: Bus
    engine: Engine
    ingest: LiveIngest
    writer: EventWriter
    fleet: FleetContext
    redis: Any = None


def instance_name(config: Config) -> str:
    return config.fleet.instance or f"{socket.gethostname()}-{os.getpid()}".replace(".", "-")[:64]


def _stores(config: Config, engine: Engine, clock: Any) -> tuple[RateLimits, IdempotencyStore, Any]:
    if config.fleet.redis_url is None:
        return SqlRateLimits(engine, clock), SqlIdempotency(engine), None
    import redis  # only when configured

    client = redis.Redis.from_url(config.fleet.redis_url.get_secret_value(), decode_responses=True)
    return RedisRateLimits(client, clock), RedisIdempotency(client), client


def build_centre(config: Config, instance: str | None = None) -> Centre:
    """Everything an instance needs; the database is opened and migrated here."""
    name = instance or instance_name(config)
    topics = FleetTopics(config.fleet.sites_root, config.fleet.group)
    bus = Bus(config.mqtt.model_copy(update={"protocol": "5"}), SERVICE, persistent=True, instance=name)
    engine = open_database(config.database.url)
    migrate_fleet(engine)
    log = get_logger(SERVICE, instance=name)
    router = RequestRouter(bus, topics, name)

    def clock() -> datetime:
        return datetime.now(UTC)

    limits, idempotency, client = _stores(config, engine, clock)
    fleet = FleetContext(
        engine=engine,
        sites=CentreSites(router, config.mqtt.request_timeout_s),
        limits=limits,
        idempotency=idempotency,
        public_url=config.gateway.public_url,
        netguard=guard_from(config.gateway.outbound_allow),
    )
    ingest = LiveIngest(engine, topics, log, clock)
    writer = EventWriter(
        engine,
        get_logger(SERVICE, component="events", instance=name),
        site_of=lambda topic: parsed.site_id if (parsed := topics.parse(topic)) else None,
    )
    fleet.sync_wanted = writer.written
    # events and loadpoint state: shared, each message to one instance; the small retained rest
    # (manifests, tariffs, service status) to every instance, retained values included
    bus.on(topics.shared(topics.events), writer.on_message, qos=1)
    bus.on(topics.shared(topics.loadpoint_keys), ingest.on_loadpoint, qos=1)
    bus.on(topics.manifests, ingest.on_manifest, qos=1)
    bus.on(topics.tariffs, ingest.on_tariff, qos=1)
    bus.on(topics.services, ingest.on_service, qos=1)
    return Centre(config, name, topics, bus, engine, ingest, writer, fleet, client)


def _claim_bootstrap(engine: Engine, now: float) -> bool:
    """Whether this instance reads the retained state now (no instance did in the last minutes)."""
    with engine.begin() as conn:
        reserve = insert_for(engine)(SyncMark).values(name="bootstrap", value=0)
        conn.execute(reserve.on_conflict_do_nothing(index_elements=["name"]))
        claimed = conn.execute(
            update(SyncMark)
            .where(col(SyncMark.name) == "bootstrap")
            .where(col(SyncMark.value) < int(now - BOOTSTRAP_EVERY_S))
            .values(value=int(now))
        ).rowcount
    return bool(claimed)


async def bootstrap(centre: Centre, stop: asyncio.Event) -> int:
    """Read the retained loadpoint state of every site once (shared subscriptions never deliver retained
    messages) until the broker is quiet; returns the values read (0 when another instance did it)."""
    if not await asyncio.to_thread(_claim_bootstrap, centre.engine, time.time()):
        return 0
    log = get_logger(SERVICE, component="bootstrap", instance=centre.instance)
    reader = LiveIngest(centre.engine, centre.topics, log, centre.ingest.clock)
    reader.bootstrap_since = centre.ingest.clock()
    last = asyncio.Event()

    async def on_value(message: Any) -> None:
        await reader.on_loadpoint(message)
        last.set()

    bus = Bus(centre.config.mqtt, SERVICE, instance=f"{centre.instance}-bootstrap")
    bus.on(centre.topics.loadpoint_keys, on_value, qos=0)
    quiet = centre.config.fleet.bootstrap_quiet_s
    async with bus:
        await bus.wait_connected(30)
        while not stop.is_set():
            last.clear()
            try:
                await asyncio.wait_for(last.wait(), quiet)
            except TimeoutError:
                break
            if len(reader.batch.loadpoints) >= 5000:
                await reader.flush()
    await reader.flush()
    log.info("retained state read", values=reader.received, rejected=reader.rejected)
    return reader.received


def health(centre: Centre) -> tuple[int, dict[str, Any]]:
    problems: list[str] = []
    if not centre.bus.connected.is_set():
        problems.append("not connected to the broker")
    sites = 0
    try:
        with centre.engine.connect() as conn:
            sites = int(conn.execute(text("SELECT count(*) FROM fleet_sites")).scalar() or 0)
    except Exception as error:
        problems.append(f"database: {str(error).splitlines()[0]}")
    body = {
        "instance": centre.instance,
        "healthy": not problems,
        "problems": problems,
        "sites": sites,
        "received": centre.ingest.received,
        "written": centre.ingest.written,
        "events": centre.writer.handled,
        "pending_events": centre.writer.pending,
    }
    return (200 if not problems else 503), body


@contextlib.asynccontextmanager
async def centre_running(centre: Centre) -> AsyncIterator[None]:
    """The bus, the ingest, the retained-state bootstrap and the fleet API's background tasks."""
    stop = asyncio.Event()
    async with centre.bus:
        tasks = [
            asyncio.create_task(
                centre.ingest.run(centre.config.fleet.flush_interval_s, stop), name="fleet-ingest"
            ),
            asyncio.create_task(bootstrap(centre, stop), name="fleet-bootstrap"),
        ]
        try:
            async with fleet_running(centre.fleet):
                yield
        finally:
            stop.set()
            await asyncio.wait(tasks, timeout=5)
            await cancel_and_wait(tasks)
            await centre.writer.close()


def create_app(centre: Centre) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with centre_running(centre):
            yield

    app = FastAPI(
        title="chargebus fleet gateway",
        description="The fleet API (under /v2) for every site of a fleet.",
        lifespan=lifespan,
    )
    install_error_handlers(app, problem_prefixes=(PREFIX,))
    app.include_router(build_router(centre.fleet))

    async def health_route() -> JSONResponse:
        status, body = await asyncio.to_thread(health, centre)
        return JSONResponse(body, status_code=status)

    app.add_api_route("/health", health_route, methods=["GET"], tags=["Health"])
    return app


async def run(config: Config, stop: asyncio.Event) -> None:
    configure_logging(config.log.level, config.log.format)
    log = get_logger(SERVICE)
    centre = build_centre(config)
    server = make_server(create_app(centre), config.gateway.host, config.gateway.port)
    try:
        log.info(
            "fleet gateway listening",
            host=config.gateway.host,
            port=config.gateway.port,
            instance=centre.instance,
            sites=f"{config.fleet.sites_root}/+",
        )
        await serve_until(server, stop)
    finally:
        centre.engine.dispose()
        if centre.redis is not None:
            centre.redis.close()
