"""Fixtures: the gateway app in-process on a free port (real uvicorn, real broker, real SQLite), an
httpx client for it, and a tiny request owner standing in for the optimizer where it is not needed."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.gateway.app import create_app
from services.gateway.context import GatewayContext
from services.gateway.service import build_context, close_context, make_server, wire_bus
from shared.bus import Bus
from shared.config import Config, LoadpointConfig, MqttSettings, VehicleConfig, parse_config
from shared.messages import Reply, Request
from shared.state import LoadpointState, SiteState, VehicleState
from shared.tree import loadpoint_scope, vehicle_scope
from tests.support.broker import free_port
from tests.support.tree import publish_as_owners


def gateway_config(mqtt: MqttSettings, tmp_path: Path, **gateway: Any) -> Config:
    """One loadpoint, two vehicles, SQLite in tmp_path; each test gets its own client ids."""
    mqtt = mqtt.model_copy(update={"client_id": f"test-{uuid.uuid4().hex[:8]}", "request_timeout_s": 2.0})
    return parse_config(
        {
            "chargers": [{"name": "wallbox", "type": "demo"}],
            "loadpoints": [LoadpointConfig(title="Garage", charger="wallbox").model_dump()],
            "vehicles": [
                VehicleConfig(name="ev1", title="Blue e-Golf").model_dump(),
                VehicleConfig(name="ev2", title="Red Zoe").model_dump(),
            ],
            "mqtt": mqtt.model_dump(mode="json") | {"password": None},
            "database": {"url": f"sqlite:///{tmp_path / 'gateway.db'}"},
            "gateway": {"host": "127.0.0.1", "port": 0} | gateway,
        }
    )


@dataclass
class RunningGateway:
    ctx: GatewayContext
    base_url: str
    client: httpx.AsyncClient
    app: FastAPI

    @property
    def store(self) -> Any:
        return self.ctx.store


@contextlib.asynccontextmanager
async def running_gateway(config: Config, engine_url: str | None = None) -> AsyncIterator[RunningGateway]:
    if engine_url is not None:
        config = config.model_copy(
            update={"database": config.database.model_copy(update={"url": engine_url})}
        )
    bus = Bus(config.mqtt, "gateway", persistent=True)
    ctx = build_context(config, bus)
    wire_bus(bus, ctx.store, ctx.writer)
    app = create_app(ctx)
    port = free_port()
    server = make_server(app, "127.0.0.1", port, config.gateway.trusted_proxies)
    task = asyncio.create_task(server.serve())  # the app's lifespan connects the bus
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        await bus.wait_connected(10)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield RunningGateway(ctx, f"http://127.0.0.1:{port}", client, app)
    finally:
        server.should_exit = True
        await task
    await close_context(ctx)


async def publish_complete_tree(bus: Bus, config: Config) -> None:
    """What the optimizer publishes before the gateway is ready: every configured loadpoint's mode, every
    configured vehicle, then the site's ``startupCompleted``."""
    for n, loadpoint in enumerate(config.loadpoints, start=1):
        await publish_as_owners(bus, loadpoint_scope(n), LoadpointState(mode=loadpoint.mode))
    for vehicle in config.vehicles:
        await publish_as_owners(bus, vehicle_scope(vehicle.name), VehicleState(title=vehicle.title))
    await publish_as_owners(bus, "site", SiteState(startupCompleted=True))


@pytest.fixture
def config(mqtt_settings: MqttSettings, tmp_path: Path) -> Config:
    return gateway_config(mqtt_settings, tmp_path)


@pytest.fixture
async def gateway(config: Config) -> AsyncIterator[RunningGateway]:
    async with running_gateway(config) as running:
        yield running


OwnerHandler = Callable[[Request], Awaitable[Reply]]


@dataclass
class FakeOwner:
    """Answers requests as the optimizer would: records them; ``replies`` overrides per key."""

    bus: Bus
    requests: list[Request] = field(default_factory=list)
    replies: dict[str, Callable[[Request], Reply]] = field(default_factory=dict)

    async def handle(self, request: Request) -> Reply:
        self.requests.append(request)
        custom = self.replies.get(request.key)
        if custom is not None:
            return custom(request)
        return Reply(id=request.id, ok=True, value=request.value)

    def keys(self) -> list[str]:
        return [r.key for r in self.requests]


@contextlib.asynccontextmanager
async def fake_owner(config: Config, gateway: RunningGateway, service: str) -> AsyncIterator[FakeOwner]:
    """A :class:`FakeOwner` answering ``service``'s requests, online as the gateway sees it."""
    settings = config.mqtt.model_copy(update={"client_id": f"{service}-{uuid.uuid4().hex[:8]}"})
    bus = Bus(settings, service)
    fake = FakeOwner(bus)
    bus.serve_requests(fake.handle)
    async with bus:
        await bus.wait_connected(10)
        await gateway.store.wait_for(lambda s: s.service_online(service) is True)
        yield fake


@pytest.fixture
async def owner(config: Config, gateway: RunningGateway) -> AsyncIterator[FakeOwner]:
    async with fake_owner(config, gateway, "optimizer") as fake:
        yield fake


@pytest.fixture
async def ready(config: Config, gateway: RunningGateway, owner: FakeOwner) -> FakeOwner:
    """The owner has published the complete tree: ``/api/state`` serves."""
    await publish_complete_tree(owner.bus, config)
    await gateway.store.wait_for(lambda s: s.snapshot().ready)
    return owner
