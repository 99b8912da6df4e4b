"""The frozen snapshot of the optimizer's inputs, and the pure functions that read the core's inputs from it.

The shell replaces the snapshot on every bus message (meters, charger status, tariffs); a control cycle
works on one snapshot only, so a cycle never sees half an update.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.optimizer.site import SiteInputs
from shared.config import Config
from shared.messages import ChargerStatus, MeterReading, MeterUsage, Rate, RateSeries, TariffType


@dataclass(frozen=True)
class Snapshot:
    meters: Mapping[str, MeterReading] = field(default_factory=dict)
    chargers: Mapping[int, ChargerStatus] = field(default_factory=dict)
    tariffs: Mapping[str, RateSeries] = field(default_factory=dict)


def _names(config_names: Sequence[str], meters: Mapping[str, MeterReading], usage: MeterUsage) -> list[str]:
    """Configured meter names of a role, or (without configuration) every reading of that usage."""
    if config_names:
        return list(config_names)
    return [name for name, reading in meters.items() if reading.usage is usage]


def _usable(reading: MeterReading | None) -> bool:
    return reading is not None and not reading.stale and reading.error is None and reading.power_w is not None


def charge_power_w(config: Config, snapshot: Snapshot, lp: int) -> float:
    """W of one loadpoint: its charge meter if configured, else the charger's own (or estimated) power."""
    lp_config = config.loadpoints[lp - 1] if 0 < lp <= len(config.loadpoints) else None
    if lp_config is not None and lp_config.meter:
        reading = snapshot.meters.get(lp_config.meter)
        if _usable(reading) and reading is not None and reading.power_w is not None:
            return max(0.0, reading.power_w)
    status = snapshot.chargers.get(lp)
    return max(0.0, status.power_w) if status is not None else 0.0


def battery_values(config: Config, snapshot: Snapshot) -> tuple[float | None, float | None, float | None]:
    """(power W, SoC % capacity-weighted when capacities are known, capacity kWh) of the home batteries."""
    names = _names(config.site.battery, snapshot.meters, MeterUsage.BATTERY)
    readings = [snapshot.meters[n] for n in names if n in snapshot.meters and _usable(snapshot.meters[n])]
    if not readings:
        return None, None, None
    power = sum(r.power_w or 0.0 for r in readings)
    socs = [r for r in readings if r.soc_pct is not None]
    if not socs:
        return power, None, None
    capacities = [r.capacity_kwh for r in socs]
    if all(c for c in capacities):
        total = sum(c or 0.0 for c in capacities)
        soc = sum((r.soc_pct or 0.0) * (r.capacity_kwh or 0.0) for r in socs) / total
        return power, soc, total
    return power, sum(r.soc_pct or 0.0 for r in socs) / len(socs), None


def site_inputs(config: Config, snapshot: Snapshot) -> SiteInputs | None:
    """The site's meter values, or ``None`` when a configured grid meter has no trustworthy reading."""
    grid_names = [config.site.grid] if config.site.grid else _names([], snapshot.meters, MeterUsage.GRID)[:1]
    grid: float | None = None
    if grid_names:
        reading = snapshot.meters.get(grid_names[0])
        if not _usable(reading) or reading is None:
            return None
        grid = reading.power_w
    pv_names = _names(config.site.pv, snapshot.meters, MeterUsage.PV)
    pv = sum(
        max(0.0, snapshot.meters[n].power_w or 0.0)
        for n in pv_names
        if n in snapshot.meters and _usable(snapshot.meters[n])
    )
    aux_names = _names(config.site.aux, snapshot.meters, MeterUsage.AUX)
    aux = sum(
        snapshot.meters[n].power_w or 0.0
        for n in aux_names
        if n in snapshot.meters and _usable(snapshot.meters[n])
    )
    battery_power, battery_soc, _ = battery_values(config, snapshot)
    battery_configured = bool(config.site.battery) or battery_power is not None
    charge = sum(charge_power_w(config, snapshot, i) for i in range(1, len(config.loadpoints) + 1))
    return SiteInputs(
        grid_power_w=grid,
        pv_power_w=pv,
        pv_configured=bool(pv_names),
        battery_power_w=battery_power if battery_configured else None,
        battery_soc_pct=battery_soc if battery_configured else None,
        aux_power_w=aux,
        charge_power_w=charge,
    )


def current_rate(series: RateSeries | None, now: datetime) -> float | None:
    """The value of the slot containing ``now`` (None without one)."""
    if series is None:
        return None
    for rate in series.rates:
        if rate.start <= now < rate.end:
            return rate.value
    return None


def planner_rates(snapshot: Snapshot) -> tuple[list[Rate] | None, RateSeries | None]:
    """Rates the planner optimises over: the planner tariff, else the grid tariff; ``None`` when static."""
    series = snapshot.tariffs.get("planner") or snapshot.tariffs.get("grid")
    if series is None or series.type in (TariffType.PRICE_STATIC, TariffType.SOLAR, TariffType.TEMPERATURE):
        return None, series
    return list(series.rates), series
