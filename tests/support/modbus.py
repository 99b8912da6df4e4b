"""Simulated Modbus devices for driver tests: real pymodbus servers on free ports, fed by the home physics.

One device::

    async with simulated_device("sdm630") as dev:          # a grid meter, unit id 1
        client = AsyncModbusTcpClient(dev.host, port=dev.port)
        ...read input registers of dev.unit...
        dev.state.grid_w                                    # what the physics says right now (W)

    async with simulated_device("alfen", car={"soc_pct": 50}) as dev:
        ...write 1210...
        record = await dev.writes.wait_for(lambda r: r.point == "max_current")
        dev.state.wallbox_offered_a, dev.value("status")   # physics / a decoded register

``simulated_device(model, *, source=None, unit_id=None, registers=(), clock=None, scenario=None, **settings)``
- ``model``: a name of ``services.simulator.devices.MODELS`` (sunspec-inverter, sunspec-inverter-float,
  sunspec-meter, sunspec-battery, sdm630, sdm72, generic-meter, demo, alfen, phoenix, evsedin, abl).
- ``source``: what a meter measures (grid, pv, battery, charge, house); default per model.
- ``unit_id``: default the real device's (1; phoenix 255). ``registers``: the generic-meter map
  (``SimulatedRegister`` or dicts).
- ``clock``: default a :class:`ManualClock` frozen at 2026-06-21 12:00 Europe/Berlin (sunny noon), so values
  hold still; move time with ``dev.advance(seconds)``.
- ``**settings``: any :class:`shared.config.SimulatorSettings` field (``car={...}``, ``pv_peak_w=…``).
- yields a :class:`Device`: ``host``, ``port``, ``unit``, ``framer`` (socket / rtu / ascii — pass it to the
  pymodbus client), ``writes`` (the write log), ``state`` (physics snapshot), ``sim`` (the physics: e.g.
  ``dev.sim.unplug()``), ``clock``, ``home``, ``value(point)``, ``advance(seconds)``.

A whole home (the demo's four devices, each on a free port)::

    async with simulated_home({"wallbox_model": "alfen"}) as home:
        home.devices["grid"].port, home.devices["pv"].port, home.wallbox.port, home.state, home.wallbox.writes

``simulated_home(settings=None, *, clock=None, scenario=None)`` takes a ``SimulatorSettings`` or a dict of
its fields; the ``*_port`` fields (and port 0 of an explicit ``devices`` list) become free ports. The
default clock is the settings' real-time clock (``speed``, ``start_time``); a ManualClock freezes time.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pymodbus.framer import FramerType

from services.simulator.clock import Clock, ManualClock
from services.simulator.home import RunningDevice, SimulatedHome, serve_home
from services.simulator.physics import Simulation, Snapshot
from services.simulator.registers import Value, WriteLog
from services.simulator.scenario import Scenario
from shared.config import SimulatedDevice, SimulatedRegister, SimulatorSettings
from tests.support.broker import free_port

SUNNY_NOON = datetime(2026, 6, 21, 12, 0, tzinfo=ZoneInfo("Europe/Berlin"))


GENERIC_METER_REGISTERS: list[dict[str, Any]] = [
    {
        "value": "power",
        "address": 10,
        "table": "input",
        "type": "int32",
        "word_order": "little",
        "scale": 0.1,
    },
    {"value": "import", "address": 20, "type": "float64"},
    {"value": "export", "address": 24, "type": "uint32", "scale": 0.001},
    *({"value": f"voltage_l{i + 1}", "address": 30 + i, "type": "uint16", "scale": 0.1} for i in range(3)),
]
"""A ``generic-meter`` device spread over three register blocks, in mixed types and word orders."""
GENERIC_METER_MAP: dict[str, Any] = {
    "power": {"address": 10, "source": "input", "type": "int32", "word_order": "little", "scale": 0.1},
    "energy": {"address": 20, "type": "float64"},
    "return_energy": {"address": 24, "type": "uint32", "scale": 0.001},
    "voltages": [{"address": 30 + i, "type": "uint16", "scale": 0.1} for i in range(3)],
}
"""The generic ``modbus`` meter map that reads :data:`GENERIC_METER_REGISTERS`."""


@dataclass
class Device:
    """A running simulated device and the home around it."""

    home: SimulatedHome
    running: RunningDevice
    clock: Clock

    @property
    def host(self) -> str:
        return self.running.host

    @property
    def port(self) -> int:
        return self.running.port

    @property
    def unit(self) -> int:
        return self.running.unit

    @property
    def framer(self) -> FramerType:
        return self.running.framer

    @property
    def writes(self) -> WriteLog:
        return self.running.writes

    @property
    def state(self) -> Snapshot:
        return self.home.state

    @property
    def sim(self) -> Simulation:
        return self.home.sim

    def value(self, point: str) -> Value:
        return self.running.value(point)

    def advance(self, seconds: float) -> None:
        """Move the (manual) simulated clock forward; the physics follows on the next access."""
        if not isinstance(self.clock, ManualClock):
            raise TypeError("advance() needs the default ManualClock")
        self.clock.advance(seconds)


def _settings(base: SimulatorSettings | Mapping[str, Any] | None, **extra: Any) -> SimulatorSettings:
    data = base.model_dump() if isinstance(base, SimulatorSettings) else dict(base or {})
    data.update(extra)
    return SimulatorSettings.model_validate(data)


@contextlib.asynccontextmanager
async def simulated_device(
    model: str,
    *,
    source: str | None = None,
    unit_id: int | None = None,
    registers: Iterable[SimulatedRegister | Mapping[str, Any]] = (),
    clock: Clock | None = None,
    scenario: Scenario | None = None,
    **settings: Any,
) -> AsyncIterator[Device]:
    """One simulated device on a free port (see the module docstring)."""
    spec = SimulatedDevice.model_validate(
        {
            "name": model,
            "model": model,
            "port": free_port(),
            "unit_id": unit_id,
            "source": source,
            "registers": [r.model_dump() if isinstance(r, SimulatedRegister) else dict(r) for r in registers],
        }
    )
    config = _settings(settings, devices=[spec.model_dump()])
    clock = clock or ManualClock(SUNNY_NOON)
    async with serve_home(config, clock=clock, scenario=scenario) as home:
        yield Device(home, home.devices[model], clock)


@contextlib.asynccontextmanager
async def simulated_home(
    settings: SimulatorSettings | Mapping[str, Any] | None = None,
    *,
    clock: Clock | None = None,
    scenario: Scenario | None = None,
) -> AsyncIterator[SimulatedHome]:
    """A simulated home with every device on a free port (see the module docstring)."""
    config = _settings(settings)
    ports = {f"{role}_port": free_port() for role in ("pv", "grid", "battery", "wallbox")}
    devices = None
    if config.devices is not None:
        devices = [d.model_copy(update={"port": d.port or free_port()}).model_dump() for d in config.devices]
    config = _settings(config, **ports, devices=devices)
    async with serve_home(config, clock=clock, scenario=scenario) as home:
        yield home
