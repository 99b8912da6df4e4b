"""Fixtures for the centre of a fleet: fleet-gateway instances served by uvicorn on free ports against the
test broker and a PostgreSQL schema of their own, and simulated sites — each a bus with the site's roots,
an optimizer answering requests, the manifest its gateway would publish, events and live state."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select

from services.fleet_gateway.service import Centre, build_centre, create_app
from services.gateway.fleet.models import FleetSite
from services.gateway.fleet.sites import manifest_from_config
from shared.bus import Bus
from shared.config import Config, MqttSettings, parse_config
from shared.messages import Reply, Request, SessionEvent
from tests.gateway.fleet.conftest import ALL_SCOPES, direct_token, serve
from tests.support.postgres import postgres_schema


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_schema("centre") as url:
        yield url


@pytest.fixture
def sites_root(mqtt_settings: MqttSettings) -> str:
    """Sites of this test only (the broker is shared by the whole test session)."""
    return mqtt_settings.topic.split("/")[0] + "/sites"


def centre_config(mqtt: MqttSettings, db_url: str, sites_root: str, **fleet: Any) -> Config:
    mqtt = mqtt.model_copy(update={"client_id": f"c-{uuid.uuid4().hex[:8]}", "request_timeout_s": 3.0})
    return parse_config(
        {
            "mqtt": mqtt.model_dump(mode="json") | {"password": None},
            "database": {"url": db_url},
            # the tests' webhook receivers are local
            "gateway": {"host": "127.0.0.1", "port": 0, "outbound_allow": ["127.0.0.0/8"]},
            "fleet": {
                "sites_root": sites_root,
                "group": f"g{uuid.uuid4().hex[:8]}",
                "flush_interval_s": 0.05,
                "bootstrap_quiet_s": 0.3,
            }
            | fleet,
        }
    )


@dataclass
class RunningCentre:
    centre: Centre
    http: httpx.AsyncClient
    tokens: dict[tuple[str, str | None], str] = field(default_factory=dict)

    def token(self, scopes: str = ALL_SCOPES, user_id: str | None = None) -> str:
        """A token of a new client (one per scopes and user: bcrypt makes clients slow to create)."""
        if (scopes, user_id) not in self.tokens:
            self.tokens[(scopes, user_id)] = direct_token(self.centre.engine, scopes, user_id)
        return self.tokens[(scopes, user_id)]

    def headers(self, user_id: str | None = None, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user_id=user_id)}", **extra}

    async def until(self, check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
        """Wait until ``check()`` holds, re-checking after every write of this instance."""

        async def loop() -> None:
            while not await check():
                self.centre.ingest.flushed.clear()
                self.centre.writer.written.clear()
                waiters = [
                    asyncio.ensure_future(self.centre.ingest.flushed.wait()),
                    asyncio.ensure_future(self.centre.writer.written.wait()),
                ]
                await asyncio.wait(waiters, timeout=0.5, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()

        await asyncio.wait_for(loop(), timeout)

    def site_owner(self, site_id: str) -> str:
        with Session(self.centre.engine) as db:
            site = db.get(FleetSite, site_id)
            assert site is not None
            return site.owner_id

    def site_ids(self) -> list[str]:
        with Session(self.centre.engine) as db:
            return sorted(db.exec(select(FleetSite.id)).all())


@contextlib.asynccontextmanager
async def running_centre(config: Config, instance: str | None = None) -> AsyncIterator[RunningCentre]:
    centre = build_centre(config, instance or f"i{uuid.uuid4().hex[:6]}")
    try:
        async with serve(create_app(centre)) as base:
            await centre.bus.wait_connected(10)
            async with httpx.AsyncClient(base_url=base, timeout=15) as http:
                yield RunningCentre(centre, http)
    finally:
        centre.engine.dispose()


@dataclass
class SimSite:
    """A site as the centre sees it on the broker: its optimizer answers requests, its gateway's manifest
    and events and its tree's loadpoint keys are published below the site's roots."""

    site_id: str
    config: Config
    bus: Bus
    requests: list[Request] = field(default_factory=list)
    refuse: dict[str, tuple[str, int]] = field(default_factory=dict)

    async def handle(self, request: Request) -> Reply:
        self.requests.append(request)
        if request.key in self.refuse:
            error, code = self.refuse[request.key]
            return Reply(id=request.id, ok=False, error=error, code=code)
        return Reply(id=request.id, ok=True, value=request.value)

    def keys(self) -> list[str]:
        return [r.key for r in self.requests]

    async def announce(self) -> None:
        await self.bus.publish_model(self.bus.topics.site_manifest, manifest_from_config(self.config))

    async def loadpoint(self, lp: int, key: str, payload: str) -> None:
        await self.bus.publish(f"{self.bus.state_root}/loadpoints/{lp}/{key}", payload)

    async def session(self, uid: str, kind: str = "created", **values: Any) -> None:
        event = SessionEvent(
            event_id=uuid.uuid4().hex,
            kind=kind,
            session_uid=uid,
            loadpoint=self.config.loadpoints[0].title,
            loadpoint_id=1,
            vehicle=self.config.vehicles[0].title,
            created=values.pop("created", datetime.now(UTC).replace(microsecond=0)),
            **values,
        )
        await self.bus.publish_model(self.bus.topics.event("session"), event, retain=False)


def site_config(mqtt: MqttSettings, sites_root: str, site_id: str, **roots: str) -> Config:
    """A site with one wallbox loadpoint and one vehicle, below ``sites_root`` unless ``roots`` say."""
    topic = roots.get("topic", f"{sites_root}/{site_id}/evcc")
    internal = roots.get("internal", f"{sites_root}/{site_id}/chargebus")
    return parse_config(
        {
            "site": {"id": site_id, "title": f"Home {site_id}", "timezone": "Europe/Berlin"},
            "chargers": [{"name": "wallbox", "type": "demo"}],
            "loadpoints": [{"title": "Garage", "charger": "wallbox", "mode": "pv"}],
            "vehicles": [{"name": "ev", "title": f"EV {site_id}", "capacity_kwh": 60}],
            "tariffs": {"grid": {"type": "fixed", "price": 0.3}},
            "mqtt": mqtt.model_dump(mode="json")
            | {
                "password": None,
                "topic": topic,
                "internal": internal,
                "client_id": f"s-{uuid.uuid4().hex[:6]}",
            },
        }
    )


@contextlib.asynccontextmanager
async def sim_site(config: Config) -> AsyncIterator[SimSite]:
    assert config.site.id is not None
    bus = Bus(config.mqtt, "optimizer")
    site = SimSite(config.site.id, config, bus)
    bus.serve_requests(site.handle)
    async with bus:
        await bus.wait_connected(10)
        await site.announce()
        yield site
