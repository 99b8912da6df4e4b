"""MQTT/HTTP devices for tests: a simulated device speaking its vendor's format, and the device I/O that
reads it (the jq sandbox, an httpx client, MQTT clients on the test broker)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from services.meter_reader.drivers import driver_for
from services.meter_reader.drivers.custom import NoLink
from services.meter_reader.poller import MeterPoller
from services.simulator.clock import ManualClock
from services.simulator.devices.base import DeviceService
from services.simulator.home import SimulatedHome
from shared.config import MqttSettings
from shared.config_devices import MeterConfig
from shared.devices.values import DeviceIO, device_io
from shared.messages import MeterReading
from tests.support.modbus import SUNNY_NOON, simulated_home


@dataclass
class Served:
    home: SimulatedHome
    device: DeviceService


@contextlib.asynccontextmanager
async def served(model: str, clock: ManualClock | None = None, **spec: Any) -> AsyncIterator[Served]:
    """One simulated MQTT/HTTP device (``spec``: SimulatedDevice fields) in a home frozen at sunny noon."""
    device = {"name": model, "model": model, "port": 0, **spec}
    async with simulated_home({"devices": [device]}, clock=clock or ManualClock(SUNNY_NOON)) as home:
        yield Served(home, home.services[model])


@contextlib.asynccontextmanager
async def io_for(mqtt: MqttSettings) -> AsyncIterator[DeviceIO]:
    io = device_io(mqtt, "test")
    try:
        yield io
    finally:
        await io.aclose()


async def _ignore(_: MeterReading) -> None:
    return None


@dataclass
class Meter:
    config: MeterConfig
    poller: MeterPoller

    async def poll(self) -> MeterReading:
        return await self.poller.poll_once()


@contextlib.asynccontextmanager
async def meter(io: DeviceIO, **config: Any) -> AsyncIterator[Meter]:
    """A meter of ``config`` (a template or ``type: custom``) read through ``io``; MQTT connected."""
    parsed = MeterConfig.model_validate({"name": "m", **config})
    driver = driver_for(parsed, io)
    poller = MeterPoller(
        parsed, driver, NoLink(), _ignore, clock=lambda: datetime.now(UTC), log=structlog.get_logger()
    )
    async with io.mqtt:
        if not io.mqtt.empty:
            await io.mqtt.wait_connected(10)
        yield Meter(parsed, poller)
