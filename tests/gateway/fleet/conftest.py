"""Fixtures: a standalone app with only the fleet routers, served by uvicorn on a free port (real HTTP),
real SQLite in tmp_path, the real broker, a stand-in optimizer answering on the bus, a manual clock."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.gateway.errors import install_error_handlers
from services.gateway.fleet.auth import create_client, issue_token
from services.gateway.fleet.context import FleetContext, WebhookPolicy
from services.gateway.fleet.idempotency import SqlIdempotency
from services.gateway.fleet.lifecycle import running
from services.gateway.fleet.live import BusLiveView, LiveView, NoLiveView
from services.gateway.fleet.models import FleetUser, migrate_fleet
from services.gateway.fleet.ratelimit import SqlRateLimits
from services.gateway.fleet.router import build_router
from services.gateway.fleet.sites import manifest_from_config, site_owner
from services.gateway.owner import OwnerLink
from shared.bus import Bus
from shared.config import LOCAL_SITE, Config, MqttSettings, parse_config
from shared.db import open_database
from shared.messages import Reply, Request
from shared.netguard import guard_from
from tests.support.broker import free_port

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class ManualClock:
    now: datetime = START
    mono: float = 1000.0

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.mono += seconds


@dataclass
class FakeOptimizer:
    """Answers fleet requests as the optimizer would; records them; ``refuse`` maps key → error."""

    requests: list[Request] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)

    async def handle(self, request: Request) -> Reply:
        self.requests.append(request)
        if request.key in self.refuse:
            return Reply(id=request.id, ok=False, error=self.refuse[request.key], code=400)
        return Reply(id=request.id, ok=True, value=request.value)

    def keys(self) -> list[str]:
        return [r.key for r in self.requests]


def fleet_config(mqtt: MqttSettings, tmp_path: Path) -> Config:
    mqtt = mqtt.model_copy(update={"client_id": f"fleet-{uuid.uuid4().hex[:8]}", "request_timeout_s": 2.0})
    return parse_config(
        {
            "chargers": [{"name": "wallbox", "type": "demo"}, {"name": "carport", "type": "alfen"}],
            "loadpoints": [
                {"title": "Garage", "charger": "wallbox", "mode": "pv"},
                {"title": "Carport", "charger": "carport", "mode": "minpv"},
            ],
            "vehicles": [{"name": "ev", "title": "Demo EV", "capacity_kwh": 60, "limit_soc": 90}],
            "tariffs": {"grid": {"type": "fixed", "price": 0.3}},
            "mqtt": mqtt.model_dump(mode="json") | {"password": None},
            "database": {"url": f"sqlite:///{tmp_path / 'gateway.db'}"},
            "gateway": {"outbound_allow": ["127.0.0.0/8"]},  # the tests' webhook receivers are local
        }
    )


@dataclass
class Fleet:
    """A running fleet app and the handles a test needs."""

    base: str
    http: httpx.AsyncClient
    ctx: FleetContext
    engine: Engine
    clock: ManualClock
    optimizer: FakeOptimizer
    bus: Bus

    def db(self) -> Session:
        return Session(self.engine)

    def owner_id(self) -> str:
        with self.db() as db:
            owner = site_owner(db, LOCAL_SITE)
            assert owner is not None
            return owner.id

    def new_user(self, email: str) -> str:
        with self.db() as db:
            user = FleetUser(id=f"user{uuid.uuid4().hex[:26].upper()}", email=email, joined_at=self.clock())
            db.add(user)
            db.commit()
            return user.id

    def client(self, scopes: str, user_id: str | None = None, rate_limit: int = 1000) -> tuple[str, str]:
        with self.db() as db:
            client, secret = create_client(
                db,
                name="test",
                scopes=frozenset(scopes.split()),
                user_id=user_id,
                now=self.clock(),
                rate_limit_per_hour=rate_limit,
            )
            db.commit()
            assert secret is not None
            return client.client_id, secret

    async def token(self, scopes: str, user_id: str | None = None, rate_limit: int = 1000) -> str:
        client_id, secret = self.client(scopes, user_id, rate_limit)
        response = await self.http.post(
            "/o/token/", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    async def headers(self, scopes: str, user_id: str | None = None, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token(scopes, user_id)}", **extra}


ALL_SCOPES = (
    "evse:read evse:write vehicle:read vehicle:write charging_session:read charging_session:write "
    "tariff:read tariff:prices:read carbon:read user:read user:write webhook:read webhook:write debug:read"
)


def direct_token(engine: Engine, scopes: str = ALL_SCOPES, user_id: str | None = None) -> str:
    """A bearer token of a new client-credentials client, issued straight in the database."""
    now = datetime.now(UTC)
    with Session(engine) as db:
        client, secret = create_client(
            db, name="t", scopes=frozenset(scopes.split()), user_id=user_id, now=now
        )
        db.flush()
        assert secret is not None
        token, _ = issue_token(db, client.client_id, secret, None, now)
        db.commit()
    return token


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn (lifespan on) on a free port until the block ends."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def fleet_app(ctx: FleetContext) -> FastAPI:
    """Only the fleet API, served the way the gateway serves it (its router, lifespan and errors)."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with running(ctx):
            yield

    app = FastAPI(lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(build_router(ctx))
    return app


@dataclass
class BusSite:
    """The one site of a fleet app served alone: its live view and owners on a bus of its own."""

    site_id: str
    view: BusLiveView
    bus: Bus

    def live(self, db: Session, site_id: str) -> LiveView:
        return self.view if site_id == self.site_id else NoLiveView()

    def owner(self, db: Session, site_id: str) -> OwnerLink | None:
        if site_id != self.site_id:
            return None
        return OwnerLink(self.bus, self.bus.settings.request_timeout_s, connected=self.bus.connected.is_set())


@contextlib.asynccontextmanager
async def running_fleet(
    config: Config,
    clock: ManualClock,
    policy: WebhookPolicy | None = None,
    optimizer: FakeOptimizer | None = None,
) -> AsyncIterator[Fleet]:
    engine = open_database(config.database.url)
    migrate_fleet(engine)
    fake = optimizer or FakeOptimizer()
    owner_bus = Bus(config.mqtt.model_copy(update={"client_id": f"opt-{uuid.uuid4().hex[:8]}"}), "optimizer")
    owner_bus.serve_requests(fake.handle)
    bus = Bus(config.mqtt, "gateway")
    live = BusLiveView()
    live.attach(bus)
    ctx = FleetContext(
        engine=engine,
        sites=BusSite(config.site_id, live, bus),
        limits=SqlRateLimits(engine, clock),
        idempotency=SqlIdempotency(engine),
        public_url=config.gateway.public_url,
        local=manifest_from_config(config),
        netguard=guard_from(config.gateway.outbound_allow),
        clock=clock,
        webhook_policy=policy or WebhookPolicy(backoff_s=(0.0,) * 3),
        sync_interval_s=3600,
    )
    async with owner_bus, bus:
        await owner_bus.wait_connected(10)
        await bus.wait_connected(10)
        async with serve(fleet_app(ctx)) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
            yield Fleet(base, http, ctx, engine, clock, fake, bus)
    engine.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def config(mqtt_settings: MqttSettings, tmp_path: Path) -> Config:
    return fleet_config(mqtt_settings, tmp_path)


@pytest.fixture
async def fleet(config: Config, clock: ManualClock) -> AsyncIterator[Fleet]:
    async with running_fleet(config, clock) as running:
        yield running


Json = Any
Check = Callable[[httpx.Response], None]
