"""The ``type: custom`` meter (and every meter template): values from MQTT topics and HTTP endpoints.

Each key reads through its own :class:`~shared.devices.values.Reader`; a key that fails (stale, away, not a
number) makes the whole reading stale with its reason — a meter is never half-fresh.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.meter_reader.drivers.base import Sample
from services.meter_reader.measurement import Convention, Measured, Phases
from shared.config_devices import CustomMeterSources, MeterConfig
from shared.config_sources import Source
from shared.devices.errors import DeviceError
from shared.devices.modbus import RegisterReader
from shared.devices.values import DeviceIO, Reader


class CustomMeter:
    def __init__(self, config: MeterConfig, io: DeviceIO) -> None:
        assert config.sources is not None  # guaranteed by MeterConfig's validation
        s: CustomMeterSources = config.sources
        self.convention = Convention(config.convention)

        def one(key: str, source: Source | None) -> Reader | None:
            return None if source is None else Reader(source, io, f"{config.name}.{key}")

        def three(key: str, sources: Sequence[Source] | None) -> list[Reader] | None:
            return (
                None
                if sources is None
                else [Reader(x, io, f"{config.name}.{key}.{i + 1}") for i, x in enumerate(sources)]
            )

        self.power = Reader(s.power, io, f"{config.name}.power")
        self.energy, self.return_energy = one("energy", s.energy), one("return_energy", s.return_energy)
        self.soc, self.capacity = one("soc", s.soc), one("capacity", s.capacity)
        self.currents, self.voltages = three("currents", s.currents), three("voltages", s.voltages)
        self.powers = three("powers", s.powers)

    async def read(self, link: RegisterReader | None = None) -> Sample:
        async def one(reader: Reader | None) -> float | None:
            return None if reader is None else await reader.number()

        async def three(readers: list[Reader] | None) -> Phases | None:
            if readers is None:
                return None
            a, b, c = [await r.number() for r in readers]
            return (a, b, c)

        measured = Measured(
            power_w=await self.power.number(),
            energy_kwh=await one(self.energy),
            return_energy_kwh=await one(self.return_energy),
            currents_a=await three(self.currents),
            voltages_v=await three(self.voltages),
            powers_w=await three(self.powers),
            soc_pct=await one(self.soc),
            capacity_kwh=await one(self.capacity),
        )
        return Sample(measured, self.convention)

    def reset(self) -> None:
        """Nothing is learned about the device."""


class NoLink:
    """What a custom meter gets instead of a Modbus link: it never asks."""

    async def read(self, source: str, address: int, count: int) -> list[int]:
        raise DeviceError("a custom meter has no Modbus link")
