"""What every device model module provides: its defaults and a function building its register map."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pymodbus.framer import FramerType

from services.simulator.physics import MeterPoint, Simulation
from services.simulator.registers import Point
from shared.config import SimulatedDevice


@dataclass(frozen=True)
class DeviceEnv:
    """What a model's map reads from and writes to."""

    sim: Simulation
    spec: SimulatedDevice
    source: MeterPoint
    """The measuring point the device measures (meters, inverters)."""
    ticks: list[Callable[[], None]] = field(default_factory=list)
    """Device behaviour that runs with time (timeouts); the home calls these after every physics step."""
    sync: Callable[[], None] = lambda: None
    """Brings the physics up to now (a device that is no register map calls it before it reads)."""


class DeviceService(Protocol):
    """A device that is no Modbus register map: an OCPP charge point, an HTTP or MQTT device."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class Model:
    name: str
    kind: Literal["meter", "battery", "wallbox"]
    build: Callable[[DeviceEnv], list[Point]]
    unit_id: int = 1
    framer: FramerType = FramerType.SOCKET
    source: Literal["grid", "pv", "battery", "charge", "house"] = "grid"
    """Default measuring point."""
    service: Callable[[DeviceEnv], DeviceService] | None = None
    """Builds the device when it speaks something else than Modbus (then ``build`` returns no points)."""
