"""The ``type: custom`` charger (and every charger template, e.g. go-e): MQTT/HTTP sources and setters.

Reads go through the sources (status mapped to A–F, enabled, current, phases, meter values, SoC,
identifier); writes through the setters. A device reports a change by itself a little later (an MQTT
device on its next publish, an HTTP one on the next poll of a cached answer): for ``SETTLE_S`` after a
write the reading shows what was written, so the actuator does not take the lag for a disagreement and
write again (hardware is not a variable to wiggle).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from services.charger_actuator.driver import Capabilities, ChargerReading, Phases3, parse_status
from shared.config_devices import ChargerConfig, CustomChargerSetters, CustomChargerSources
from shared.config_sources import Source
from shared.devices.errors import DeviceError
from shared.devices.values import DeviceIO, Reader, Writer
from shared.messages import ChargeStatus

SETTLE_S = 10.0


class CustomCharger:
    def __init__(
        self, config: ChargerConfig, io: DeviceIO, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        assert config.sources is not None and config.setters is not None  # guaranteed by ChargerConfig
        sources: CustomChargerSources = config.sources
        setters: CustomChargerSetters = config.setters
        self.config = config
        self.sources = sources
        self.clock = clock
        name = config.name

        def one(key: str, source: Source | None) -> Reader | None:
            return None if source is None else Reader(source, io, f"{name}.{key}")

        def three(key: str, items: Sequence[Source] | None) -> list[Reader] | None:
            return (
                None
                if items is None
                else [Reader(x, io, f"{name}.{key}.{i + 1}") for i, x in enumerate(items)]
            )

        self.status = Reader(sources.status, io, f"{name}.status")
        self.enabled = one("enabled", sources.enabled)
        self.current = one("current", sources.current)
        self.phases = one("phases", sources.phases)
        self.power, self.energy = one("power", sources.power), one("energy", sources.energy)
        self.soc, self.identifier = one("soc", sources.soc), one("identifier", sources.identifier)
        self.currents, self.voltages = (
            three("currents", sources.currents),
            three("voltages", sources.voltages),
        )
        self.set_enable = Writer(setters.enable, io, f"{name}.enable")
        self.set_current_ = Writer(setters.current, io, f"{name}.current")
        self.set_phases_ = Writer(setters.phases, io, f"{name}.phases") if setters.phases else None
        self._capabilities = Capabilities(
            phase_switching=setters.phases is not None and config.phases == 3,
            current_step_a=config.current_step_a,
            min_current_a=config.min_current_a,
            has_meter=sources.power is not None,
        )
        self._written: dict[str, tuple[float, float | bool]] = {}
        """key → (when, value) of the last write, for the settle time."""

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def address(self) -> str:
        return f"custom://{self.config.name}"

    def watch(self, wake: Callable[[], None]) -> None:
        """Polled like a Modbus device (MQTT values are taken when they are read)."""

    def close(self) -> None:
        """The transports belong to the service."""

    def _settling(self, key: str) -> float | bool | None:
        written = self._written.get(key)
        if written is not None and self.clock() - written[0] < SETTLE_S:
            return written[1]
        return None

    async def _status(self) -> tuple[ChargeStatus, str | None]:
        code = await self.status.text()
        mapping = self.sources.status_map
        if mapping is None:
            return parse_status(code)
        letter = mapping.get(code)
        if letter is None:
            return ChargeStatus.A, f"charger reports status code {code}"
        return parse_status(letter)

    async def read(self) -> ChargerReading:
        status, fault = await self._status()
        current = await self.current.number() if self.current else None
        settled_current = self._settling("current")
        if isinstance(settled_current, float):
            current = settled_current
        settled_enable = self._settling("enable")
        if isinstance(settled_enable, bool):
            enabled = settled_enable
        elif self.enabled is not None:
            enabled = await self.enabled.flag()
        else:
            enabled = (current or 0.0) > 0
        phases = await self._phases()
        return ChargerReading(
            status=status,
            enabled=enabled,
            current_a=current,
            phases=phases,
            power_w=await self.power.number() if self.power else None,
            energy_kwh=await self.energy.number() if self.energy else None,
            currents_a=await _three(self.currents),
            voltages_v=await _three(self.voltages),
            identifier=(await self.identifier.text() or None) if self.identifier else None,
            soc_pct=await self.soc.number() if self.soc else None,
            fault=fault,
        )

    async def _phases(self) -> int | None:
        settled = self._settling("phases")
        if isinstance(settled, float):
            return int(settled)
        if self.phases is None:
            return None
        raw = await self.phases.text()
        mapping = self.sources.phases_map
        value = (
            mapping.get(raw)
            if mapping is not None
            else (int(float(raw)) if raw in ("1", "3", "1.0", "3.0") else None)
        )
        return value if value in (1, 3) else None

    async def _write(self, key: str, writer: Writer, value: float | bool) -> None:
        await writer.write(value)
        self._written[key] = (self.clock(), float(value) if not isinstance(value, bool) else value)

    async def set_current(self, current_a: float) -> float:
        await self._write("current", self.set_current_, current_a)
        return current_a

    async def set_enabled(self, enabled: bool) -> None:
        await self._write("enable", self.set_enable, enabled)

    async def set_phases(self, phases: int) -> None:
        if self.set_phases_ is None:
            raise DeviceError("this charger cannot switch phases")
        await self._write("phases", self.set_phases_, float(phases))


async def _three(readers: list[Reader] | None) -> Phases3 | None:
    if readers is None:
        return None
    a, b, c = [await r.number() for r in readers]
    return (a, b, c)
