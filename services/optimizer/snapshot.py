"""The frozen snapshot of the optimizer's inputs, and the pure functions that read the core's inputs from it.

The shell replaces the snapshot on every bus message (meters, charger status, tariffs); a control cycle
works on one snapshot only, so a cycle never sees half an update. Each meter and charger keeps its latest
and its previous reading (a reading's age is ``now − timestamp``; :attr:`Snapshot.arrivals` numbers them in
the order they arrived), so the core can tell whether readings taken at different moments belong together
(:func:`site_settled`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from services.optimizer.site import SiteInputs
from shared.config import Config
from shared.messages import (
    ChargerStatus,
    MeterReading,
    MeterUsage,
    Rate,
    RateSeries,
    Signal,
    TariffType,
    VehicleReading,
)


@dataclass(frozen=True)
class Snapshot:
    meters: Mapping[str, MeterReading] = field(default_factory=dict)
    chargers: Mapping[int, ChargerStatus] = field(default_factory=dict)
    tariffs: Mapping[str, RateSeries] = field(default_factory=dict)
    vehicles: Mapping[str, VehicleReading] = field(default_factory=dict)
    """The latest reading of each vehicle source (the meter-reader's)."""
    previous_meters: Mapping[str, MeterReading] = field(default_factory=dict)
    """Each meter's reading before its latest one."""
    previous_chargers: Mapping[int, ChargerStatus] = field(default_factory=dict)
    arrivals: Mapping[str, int] = field(default_factory=dict)
    """Sequence number of the latest reading per source (``meter:<name>``, ``charger:<id>``), counting
    every reading the snapshot took in."""
    seq: int = 0
    """Readings taken in so far."""
    signals: Mapping[str, Signal] = field(default_factory=dict)
    """External control inputs by name (§14a dimming: ``dimming``, ``dimming-topic``)."""

    def with_meter(self, reading: MeterReading) -> Snapshot:
        previous = self.meters.get(reading.meter)
        return replace(
            self,
            meters={**self.meters, reading.meter: reading},
            previous_meters={**self.previous_meters, reading.meter: previous}
            if previous is not None
            else self.previous_meters,
            arrivals={**self.arrivals, f"meter:{reading.meter}": self.seq + 1},
            seq=self.seq + 1,
        )

    def with_charger(self, status: ChargerStatus) -> Snapshot:
        lp = status.loadpoint
        previous = self.chargers.get(lp)
        return replace(
            self,
            chargers={**self.chargers, lp: status},
            previous_chargers={**self.previous_chargers, lp: previous}
            if previous is not None
            else self.previous_chargers,
            arrivals={**self.arrivals, f"charger:{lp}": self.seq + 1},
            seq=self.seq + 1,
        )

    def with_vehicle(self, reading: VehicleReading) -> Snapshot:
        return replace(self, vehicles={**self.vehicles, reading.vehicle: reading})

    def with_signal(self, signal: Signal) -> Snapshot:
        return replace(self, signals={**self.signals, signal.name: signal})

    def with_tariff(self, series: RateSeries) -> Snapshot:
        return replace(self, tariffs={**self.tariffs, series.usage.value: series})


def _names(config_names: Sequence[str], meters: Mapping[str, MeterReading], usage: MeterUsage) -> list[str]:
    """Configured meter names of a role, or (without configuration) every reading of that usage."""
    if config_names:
        return list(config_names)
    return [name for name, reading in meters.items() if reading.usage is usage]


def usable(reading: MeterReading | None) -> bool:
    return reading is not None and not reading.stale and reading.error is None and reading.power_w is not None


def grid_meter_names(config: Config, snapshot: Snapshot) -> list[str]:
    return [config.site.grid] if config.site.grid else _names([], snapshot.meters, MeterUsage.GRID)[:1]


def site_meter_names(config: Config, snapshot: Snapshot) -> list[str]:
    """The meters site power and home power are computed from: grid, pv, batteries and aux."""
    names = grid_meter_names(config, snapshot)
    for configured, usage in (
        (config.site.pv, MeterUsage.PV),
        (config.site.battery, MeterUsage.BATTERY),
        (config.site.aux, MeterUsage.AUX),
    ):
        names += [n for n in _names(configured, snapshot.meters, usage) if n in snapshot.meters]
    return names


def site_meters_read(config: Config, snapshot: Snapshot) -> bool:
    """Every configured site meter has delivered a usable reading (home power needs all of them)."""
    site = config.site
    names = ([site.grid] if site.grid else []) + list(site.pv) + list(site.battery) + list(site.aux)
    return all(usable(snapshot.meters.get(name)) for name in names)


def vehicle_reading(snapshot: Snapshot, vehicle: str | None) -> VehicleReading | None:
    """The vehicle's own reading while it is fresh (a stale one counts as none)."""
    reading = snapshot.vehicles.get(vehicle) if vehicle else None
    return None if reading is None or reading.stale else reading


def vehicle_soc_pct(snapshot: Snapshot, status: ChargerStatus, vehicle: str | None) -> float | None:
    """The SoC to act on: the charger's (live from the car, OCPP or ISO 15118), else the vehicle's own
    source while it is fresh; a stale reading counts as unknown."""
    if status.vehicle_soc_pct is not None:
        return status.vehicle_soc_pct
    reading = vehicle_reading(snapshot, vehicle)
    return reading.soc_pct if reading is not None else None


def charge_power_w(config: Config, snapshot: Snapshot, lp: int) -> float:
    """W of one loadpoint: its charge meter if configured, else the charger's own (or estimated) power."""
    lp_config = config.loadpoints[lp - 1] if 0 < lp <= len(config.loadpoints) else None
    if lp_config is not None and lp_config.meter:
        reading = snapshot.meters.get(lp_config.meter)
        if usable(reading) and reading is not None and reading.power_w is not None:
            return max(0.0, reading.power_w)
    status = snapshot.chargers.get(lp)
    return max(0.0, status.power_w) if status is not None else 0.0


def battery_values(config: Config, snapshot: Snapshot) -> tuple[float | None, float | None, float | None]:
    """(power W, SoC % capacity-weighted when capacities are known, capacity kWh) of the home batteries."""
    names = _names(config.site.battery, snapshot.meters, MeterUsage.BATTERY)
    readings = [snapshot.meters[n] for n in names if n in snapshot.meters and usable(snapshot.meters[n])]
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


def charge_powers(config: Config, snapshot: Snapshot) -> dict[int, float]:
    """W of every loadpoint (:func:`charge_power_w`), once per cycle."""
    return {lp: charge_power_w(config, snapshot, lp) for lp in range(1, len(config.loadpoints) + 1)}


def site_inputs(
    config: Config, snapshot: Snapshot, powers: Mapping[int, float] | None = None
) -> SiteInputs | None:
    """The site's meter values, or ``None`` when a configured grid meter has no trustworthy reading."""
    grid_names = grid_meter_names(config, snapshot)
    grid: float | None = None
    if grid_names:
        reading = snapshot.meters.get(grid_names[0])
        if not usable(reading) or reading is None:
            return None
        grid = reading.power_w
    pv_names = _names(config.site.pv, snapshot.meters, MeterUsage.PV)
    pv = sum(
        max(0.0, snapshot.meters[n].power_w or 0.0)
        for n in pv_names
        if n in snapshot.meters and usable(snapshot.meters[n])
    )
    aux_names = _names(config.site.aux, snapshot.meters, MeterUsage.AUX)
    aux = sum(
        snapshot.meters[n].power_w or 0.0
        for n in aux_names
        if n in snapshot.meters and usable(snapshot.meters[n])
    )
    battery_power, battery_soc, _ = battery_values(config, snapshot)
    battery_configured = bool(config.site.battery) or battery_power is not None
    charge = sum((powers or charge_powers(config, snapshot)).values())
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
