"""The gateway service shell: bus → state store and database, FastAPI app under uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence

import uvicorn
from fastapi import FastAPI

from services.gateway.app import create_app
from services.gateway.auth import AuthStore, LoginThrottle
from services.gateway.context import GatewayContext
from services.gateway.events import EventWriter
from services.gateway.fleet.lifecycle import gateway_fleet
from services.gateway.integrations import Integrations
from services.gateway.jq_eval import JqGate
from services.gateway.state_store import Expected, StateStore
from shared.bus import Bus, BusMessage
from shared.config import Config
from shared.db import open_database
from shared.logging import RecentLines, configure_logging, get_logger

SERVICE = "gateway"


def wire_bus(bus: Bus, store: StateStore, writer: EventWriter | None) -> None:
    """Subscribe the state tree, service status, tariffs and (when a writer is given) the events."""
    topics = bus.topics
    prefix_services = f"{topics.root}/services/"
    prefix_tariffs = f"{topics.root}/tariffs/"

    async def on_state(message: BusMessage) -> None:
        store.on_state_topic(message.topic, message.text)

    async def on_service(message: BusMessage) -> None:
        store.on_service_status(message.topic[len(prefix_services) :].split("/", 1)[0], message.payload)

    async def on_tariff(message: BusMessage) -> None:
        store.on_tariff(message.topic[len(prefix_tariffs) :], message.payload)

    # State, service status and tariffs are retained: QoS 0 so the broker does not queue the live stream for
    # our persistent session while we are down (it would fill the queue and crowd out the events); the
    # retained values arrive again on re-subscribe. Only the events need QoS 1.
    bus.on(bus.tree.everything, on_state, qos=0)
    bus.on(topics.all_services, on_service, qos=0)
    bus.on(topics.all_tariffs, on_tariff, qos=0)
    if writer is not None:
        bus.on(topics.all_events, writer.on_message, qos=1)


def build_context(config: Config, bus: Bus, recent: RecentLines | None = None) -> GatewayContext:
    """Everything the app needs; the database is opened (and migrated) here."""
    engine = open_database(config.database.url)
    secret = config.gateway.jwt_secret.get_secret_value() if config.gateway.jwt_secret else None
    sessions_changed = asyncio.Event()
    site_id = config.site_id
    writer = EventWriter(
        engine,
        get_logger(SERVICE, component="events"),
        sessions_changed=sessions_changed,
        site_of=lambda _topic: site_id,
    )
    expected = Expected(loadpoints=len(config.loadpoints), vehicles=tuple(v.name for v in config.vehicles))
    store = StateStore(bus.state_root, expected)
    return GatewayContext(
        config=config,
        bus=bus,
        store=store,
        engine=engine,
        recent=recent or RecentLines(),
        auth=AuthStore(engine, secret),
        throttle=LoginThrottle(),
        jq=JqGate(config.gateway.jq),
        writer=writer,
        fleet=gateway_fleet(config, engine, store, bus, writer.written),
        sessions_changed=sessions_changed,
        integrations=Integrations.build(config, bus, store, engine),
    )


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the service's ``stop`` event decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def make_server(app: FastAPI, host: str, port: int, trusted_proxies: Sequence[str] = ()) -> uvicorn.Server:
    """uvicorn for ``app``. ``X-Forwarded-For``/``-Proto`` are believed only from ``trusted_proxies``
    (uvicorn would otherwise believe them from 127.0.0.1, so any local process could pose as any client
    to the login throttle)."""
    # the app's lifespan owns the bus and the background tasks: without it nothing would be connected
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=list(trusted_proxies) or None,
        server_header=False,
    )
    return _Server(config)


async def serve_until(server: uvicorn.Server, *events: asyncio.Event) -> None:
    """Run ``server`` until any of ``events`` is set, then shut it down gracefully."""
    task = asyncio.create_task(server.serve())
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait([task, *waiters], return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        for waiter in waiters:
            waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def run(config: Config, stop: asyncio.Event) -> None:
    recent = RecentLines()
    configure_logging(config.log.level, config.log.format, recent=recent, service=SERVICE)
    log = get_logger(SERVICE)
    # Persistent session: the broker queues QoS 1 events (sessions, command logs) while we are down.
    bus = Bus(config.mqtt, SERVICE, persistent=True)
    ctx = build_context(config, bus, recent)
    wire_bus(bus, ctx.store, ctx.writer)
    app = create_app(ctx)
    server = make_server(app, config.gateway.host, config.gateway.port, config.gateway.trusted_proxies)
    try:
        log.info("gateway listening", host=config.gateway.host, port=config.gateway.port)
        await serve_until(server, stop, ctx.shutdown)
    finally:
        await close_context(ctx)


async def close_context(ctx: GatewayContext) -> None:
    """Release what :func:`build_context` opened."""
    await ctx.jq.aclose()
    ctx.engine.dispose()
