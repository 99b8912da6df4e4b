"""The evcc site keys the meter-reader owns, computed from the latest reading of every site meter (pure).

Owned keys: ``gridConfigured``, ``grid``, ``pvPower``, ``pvEnergy``, ``pv``, ``battery`` and — when aux meters
are configured — ``aux``/``auxPower``. ``homePower``, green shares and tariffs belong to the optimizer and
the tariff-fetcher. A meter that stopped answering keeps its last values and carries its ``error``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from shared.config import Config
from shared.config_devices import MeterConfig
from shared.messages import MeterReading, MeterUsage
from shared.state import BatteryDevice, BatteryState, GridState, Measurement, SiteState


@dataclass(frozen=True)
class SiteLayout:
    """Which meters play which role at the site."""

    grid: MeterConfig | None
    pv: tuple[MeterConfig, ...]
    battery: tuple[MeterConfig, ...]
    aux: tuple[MeterConfig, ...]

    @classmethod
    def from_config(cls, config: Config) -> SiteLayout:
        """The roles named in ``site:``; a role left empty there falls back to the meters of that usage,
        so a short config (meters only) still shows up in the UI."""
        by_name = {m.name: m for m in config.meters}

        def role(names: Sequence[str], usage: MeterUsage) -> tuple[MeterConfig, ...]:
            if names:
                return tuple(by_name[n] for n in names)
            return tuple(m for m in config.meters if m.usage is usage)

        grid_names = [config.site.grid] if config.site.grid else []
        grids = role(grid_names, MeterUsage.GRID)
        return cls(
            grid=grids[0] if grids else None,
            pv=role(config.site.pv, MeterUsage.PV),
            battery=role(config.site.battery, MeterUsage.BATTERY),
            aux=role(config.site.aux, MeterUsage.AUX),
        )


def _sum(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _error(reading: MeterReading | None) -> str | None:
    return reading.error if reading is not None and reading.stale else None


def grid_state(meter: MeterConfig, reading: MeterReading | None) -> GridState:
    if reading is None:
        return GridState(name=meter.name, power=None, error=None)
    return GridState(
        name=meter.name,
        power=reading.power_w,
        energy=reading.energy_kwh,
        returnEnergy=reading.return_energy_kwh,
        powers=list(reading.powers_w) if reading.powers_w else None,
        currents=list(reading.currents_a) if reading.currents_a else None,
        error=_error(reading),
    )


def measurement(meter: MeterConfig, reading: MeterReading | None) -> Measurement:
    return Measurement(
        name=meter.name,
        title=meter.title or meter.name,
        power=reading.power_w if reading else None,
        energy=reading.energy_kwh if reading else None,
        returnEnergy=reading.return_energy_kwh if reading else None,
        error=_error(reading),
    )


def battery_device(meter: MeterConfig, reading: MeterReading | None) -> BatteryDevice:
    return BatteryDevice(
        name=meter.name,
        title=meter.title or meter.name,
        power=reading.power_w if reading else None,
        soc=reading.soc_pct if reading else None,
        capacity=(reading.capacity_kwh if reading else None) or meter.capacity_kwh,
        energy=reading.energy_kwh if reading else None,
        controllable=meter.battery_control is not None,
        error=_error(reading) or (reading.battery_mode_error if reading else None),
    )


def battery_soc(devices: Sequence[BatteryDevice]) -> float | None:
    """Capacity-weighted SoC when every battery's capacity is known, else the plain average (evcc §1.4)."""
    with_soc = [d for d in devices if d.soc is not None]
    if not with_soc:
        return None
    if all(d.capacity for d in with_soc):
        total = sum(d.capacity or 0.0 for d in with_soc)
        return sum((d.soc or 0.0) * (d.capacity or 0.0) for d in with_soc) / total
    return sum(d.soc or 0.0 for d in with_soc) / len(with_soc)


def battery_state(devices: Sequence[BatteryDevice]) -> BatteryState:
    capacities = [d.capacity for d in devices]
    return BatteryState(
        power=_sum(d.power for d in devices),
        soc=battery_soc(devices),
        capacity=sum(c for c in capacities if c) if all(capacities) else None,
        energy=_sum(d.energy for d in devices),
        devices=list(devices),
    )


def site_state(layout: SiteLayout, readings: Mapping[str, MeterReading]) -> SiteState:
    """The owned site keys for the latest ``readings`` (by meter name)."""
    pv = [measurement(m, readings.get(m.name)) for m in layout.pv]
    state = SiteState(
        gridConfigured=layout.grid is not None,
        pvConfigured=bool(layout.pv),
        batteryConfigured=bool(layout.battery),
        pvPower=sum(max(0.0, p.power or 0.0) for p in pv),
        pvEnergy=_sum(p.energy for p in pv),
        pv=pv,
    )
    if layout.grid is not None:
        state.grid = grid_state(layout.grid, readings.get(layout.grid.name))
    if layout.battery:
        state.battery = battery_state([battery_device(m, readings.get(m.name)) for m in layout.battery])
    if layout.aux:
        aux = [measurement(m, readings.get(m.name)) for m in layout.aux]
        state.aux = aux
        state.auxPower = sum(a.power or 0.0 for a in aux)
    return state
