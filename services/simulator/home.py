"""The simulated home served as Modbus devices: physics + one server per port + the physics tick.

    async with serve_home(settings) as home:
        home.devices["grid"].port, home.wallbox.writes, home.state.grid_w, home.sim.plug_in(...)

Every Modbus request first brings the physics up to the clock's now, so what a client reads is never
older than its request; the tick keeps time-driven behaviour (SoC, timeouts, car schedule) moving while
nobody reads.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType

from pymodbus.framer import FramerType

from services.simulator.clock import Clock, ScaledClock
from services.simulator.devices import MODELS, DeviceEnv, DeviceService
from services.simulator.physics import Simulation, Snapshot
from services.simulator.registers import MappedDevice, Value, WriteLog
from services.simulator.scenario import Scenario, scenario_from_settings
from services.simulator.server import DeviceServer
from shared.config import ConfigError, SimulatedDevice, SimulatorSettings
from shared.logging import get_logger
from shared.tasks import cancel_and_wait


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def default_devices(settings: SimulatorSettings) -> list[SimulatedDevice]:
    """The demo home's four devices: pv, grid, battery and wallbox on their ports."""
    if settings.devices is not None:
        return list(settings.devices)
    return [
        SimulatedDevice(name="pv", model=settings.pv_model, port=settings.pv_port, source="pv"),
        SimulatedDevice(name="grid", model=settings.grid_model, port=settings.grid_port, source="grid"),
        SimulatedDevice(
            name="battery", model=settings.battery_model, port=settings.battery_port, source="battery"
        ),
        SimulatedDevice(name="wallbox", model=settings.wallbox_model, port=settings.wallbox_port),
    ]


@dataclass
class RunningDevice:
    """A served device: where to reach it and what was written to it."""

    name: str
    model: str
    kind: str
    host: str
    port: int
    unit: int
    framer: FramerType
    device: MappedDevice

    @property
    def writes(self) -> WriteLog:
        return self.device.writes

    def value(self, point: str) -> Value:
        """The live value of a named point of the map, as a client would decode it."""
        return self.device.value(point)


class SimulatedHome:
    """The home: physics, its devices and their servers. Use as ``async with``; see :func:`serve_home`."""

    def __init__(
        self, settings: SimulatorSettings, *, clock: Clock | None = None, scenario: Scenario | None = None
    ) -> None:
        self.settings = settings
        self.scenario = scenario or scenario_from_settings(settings)
        if clock is None:
            clock = ScaledClock(self.scenario.start_at(datetime.now(self.scenario.zone)), self.scenario.speed)
        self.clock: Clock = clock
        specs = default_devices(settings)
        wallboxes = sum(1 for s in specs if s.model in MODELS and MODELS[s.model].kind == "wallbox")
        if self.scenario.wallboxes > max(wallboxes, 1):
            raise ConfigError(
                f"simulator: a car plugs into wallbox {self.scenario.wallboxes}, the home has {wallboxes}"
            )
        self.sim = Simulation(self.scenario, clock(), wallboxes=max(wallboxes, 1))
        self.log = get_logger("simulator")
        self.devices: dict[str, RunningDevice] = {}
        self.services: dict[str, DeviceService] = {}
        """Devices that speak something else than Modbus (OCPP charge points, HTTP and MQTT devices)."""
        self._ticks: list[Callable[[], None]] = []
        self._servers: list[DeviceServer] = []
        self._tick_task: asyncio.Task[None] | None = None
        self._syncing = False
        try:
            self._build(specs)
        except ValueError as error:
            raise ConfigError(f"simulator: {error}") from None

    def _build(self, specs: list[SimulatedDevice]) -> None:
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"device names must be unique: {names}")
        host = self.settings.host
        bay = 0
        for spec in specs:
            model = MODELS[spec.model]
            sim = self.sim
            if model.kind == "wallbox":
                # Each wallbox sees the home from its own bay: its car, its charge point, its setters.
                sim, bay = self.sim.for_wallbox(bay), bay + 1
            env = DeviceEnv(sim, spec, sim.points[spec.source or model.source], sync=self.sync)
            if model.service is not None:
                self.services[spec.name] = model.service(env)
                self._ticks += env.ticks
                continue
            unit = model.unit_id if spec.unit_id is None else spec.unit_id
            mapped = MappedDevice(
                spec.name, model.name, model.build(env), unit_ids=(unit,), framer=model.framer,
                clock=self.clock, before_access=self.sync,
            )  # fmt: skip
            self._ticks += env.ticks
            port = spec.port or _free_port(host)
            self.devices[spec.name] = RunningDevice(
                spec.name, model.name, model.kind, host, port, unit, model.framer, mapped
            )

    # -- physics --

    def sync(self) -> None:
        """Bring the physics (and device timers) up to the clock's now."""
        if self._syncing:
            return
        self._syncing = True
        try:
            self.sim.advance(self.clock())
            for tick in self._ticks:
                tick()
        finally:
            self._syncing = False

    @property
    def state(self) -> Snapshot:
        """The live physical state now."""
        self.sync()
        return self.sim.snapshot()

    @property
    def wallbox(self) -> RunningDevice:
        """The first wallbox."""
        for device in self.devices.values():
            if device.kind == "wallbox":
                return device
        raise LookupError("this home has no wallbox")

    @property
    def wallboxes(self) -> list[RunningDevice]:
        """The Modbus wallboxes in device-list order (a car with ``wallbox: n`` uses the n-th wallbox)."""
        return [d for d in self.devices.values() if d.kind == "wallbox"]

    # -- serving --

    async def start(self) -> None:
        by_port: dict[int, list[MappedDevice]] = {}
        for running in self.devices.values():
            by_port.setdefault(running.port, []).append(running.device)
        try:
            for port, devices in by_port.items():
                server = DeviceServer(self.settings.host, port, devices)
                await server.start()
                self._servers.append(server)
        except BaseException:
            await self.stop()
            raise
        for service in self.services.values():
            await service.start()
        self._tick_task = asyncio.create_task(self._tick_loop(), name="simulator-tick")
        for d in self.devices.values():
            self.log.info("serving device", device=d.name, model=d.model, port=d.port, unit=d.unit)

    async def _tick_loop(self) -> None:
        while True:
            try:
                self.sync()
            except Exception:  # a physics bug must not take the Modbus servers down
                self.log.exception("physics tick failed")
            await asyncio.sleep(self.settings.tick_s)

    async def stop(self) -> None:
        if self._tick_task is not None:
            await cancel_and_wait([self._tick_task])
            self._tick_task = None
        for service in self.services.values():
            await service.stop()
        for server in reversed(self._servers):
            await server.stop()
        self._servers.clear()

    async def __aenter__(self) -> SimulatedHome:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


def serve_home(
    settings: SimulatorSettings, *, clock: Clock | None = None, scenario: Scenario | None = None
) -> SimulatedHome:
    """The home of ``settings`` (devices, ports, scenario), to be entered with ``async with``.

    ``clock`` replaces the real-time clock (tests pass a :class:`~services.simulator.clock.ManualClock`);
    ``scenario`` replaces the one from the settings. A port of 0 in an explicit device list picks a free one.
    """
    return SimulatedHome(settings, clock=clock, scenario=scenario)
