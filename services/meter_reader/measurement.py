"""What a driver measured, and how it becomes a :class:`MeterReading` in evcc's sign conventions.

Drivers report values the way the device counts them. A *consumer* device (a grid meter such as an SDM630 or
a SunSpec 20x meter) counts import positive; a *producer* device (a SunSpec inverter or battery inverter)
counts production/discharge positive; a *native* device (the generic register map) is configured in the
convention of its usage already. The usage decides what evcc expects (§8.2): grid/charge/aux > 0 =
consumption, pv > 0 = production, battery > 0 = discharging. When the two disagree the power and phase
powers are negated and energy and return energy swap — evcc's pv negation for an SDM used as a PV meter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from shared.messages import MeterReading, MeterUsage

Phases = tuple[float, float, float]


class Convention(StrEnum):
    CONSUMER = "consumer"
    """Import / consumption positive (meters)."""
    PRODUCER = "producer"
    """Production / discharge positive (inverters, batteries)."""
    NATIVE = "native"
    """Already in the usage's convention (generic, user-configured)."""


_USAGE_CONVENTION: dict[MeterUsage, Convention] = {
    MeterUsage.GRID: Convention.CONSUMER,
    MeterUsage.CHARGE: Convention.CONSUMER,
    MeterUsage.AUX: Convention.CONSUMER,
    MeterUsage.SIGNAL: Convention.CONSUMER,
    MeterUsage.PV: Convention.PRODUCER,
    MeterUsage.BATTERY: Convention.PRODUCER,
}


@dataclass(frozen=True)
class Measured:
    """One poll's values as the device reports them (units: W, kWh, A, V, %, kWh)."""

    power_w: float | None = None
    energy_kwh: float | None = None
    """Counted in the device's positive direction (import for meters, production for inverters)."""
    return_energy_kwh: float | None = None
    currents_a: Phases | None = None
    voltages_v: Phases | None = None
    powers_w: Phases | None = None
    soc_pct: float | None = None
    capacity_kwh: float | None = None


def phases(values: tuple[float | None, float | None, float | None]) -> Phases | None:
    """Three optional phase values → a phase tuple; unimplemented phases (single-phase devices) read 0."""
    if all(v is None for v in values):
        return None
    a, b, c = (0.0 if v is None else v for v in values)
    return (a, b, c)


def _negate(values: Phases | None) -> Phases | None:
    return None if values is None else (-values[0], -values[1], -values[2])


def _signed_by(currents: Phases | None, powers: Phases | None, power: float | None) -> Phases | None:
    """Currents carry the direction of their phase power (evcc's grid currents), or of the total power when
    the device has no phase powers (inverters); meters themselves mostly report unsigned magnitudes."""
    if currents is None:
        return None
    directions = powers if powers is not None else (None if power is None else (power, power, power))
    if directions is None:
        return currents
    a, b, c = (
        math.copysign(abs(i), -1.0 if p < 0 else 1.0) for i, p in zip(currents, directions, strict=True)
    )
    return (a, b, c)


def needs_flip(convention: Convention, usage: MeterUsage) -> bool:
    return convention is not Convention.NATIVE and convention is not _USAGE_CONVENTION[usage]


def to_usage(measured: Measured, convention: Convention, usage: MeterUsage) -> Measured:
    """The measured values in evcc's convention for ``usage`` (see the module docstring)."""
    if needs_flip(convention, usage):
        measured = replace(
            measured,
            power_w=None if measured.power_w is None else -measured.power_w,
            powers_w=_negate(measured.powers_w),
            currents_a=_negate(measured.currents_a),
            energy_kwh=measured.return_energy_kwh,
            return_energy_kwh=measured.energy_kwh,
        )
    return replace(measured, currents_a=_signed_by(measured.currents_a, measured.powers_w, measured.power_w))


def _clean(value: float | None) -> float | None:
    """NaN/inf from a confused device never reach the bus."""
    return value if value is None or math.isfinite(value) else None


def _clean_phases(values: Phases | None) -> Phases | None:
    return values if values is None or all(math.isfinite(v) for v in values) else None


def reading(
    meter: str,
    usage: MeterUsage,
    measured: Measured,
    convention: Convention,
    *,
    now: datetime,
    capacity_kwh: float | None = None,
) -> MeterReading:
    """A fresh reading; ``capacity_kwh`` from the configuration fills in when the device reports none."""
    values = to_usage(measured, convention, usage)
    return MeterReading(
        meter=meter,
        usage=usage,
        power_w=_clean(values.power_w),
        energy_kwh=_clean(values.energy_kwh),
        return_energy_kwh=_clean(values.return_energy_kwh),
        currents_a=_clean_phases(values.currents_a),
        voltages_v=_clean_phases(values.voltages_v),
        powers_w=_clean_phases(values.powers_w),
        soc_pct=_clean(values.soc_pct),
        capacity_kwh=_clean(values.capacity_kwh) or capacity_kwh,
        timestamp=now,
    )


def stale(
    last: MeterReading | None, meter: str, usage: MeterUsage, error: str, *, now: datetime
) -> MeterReading:
    """The reading published while a meter does not answer: the last good values (timestamped when they
    were measured) flagged ``stale`` with the error, or an empty reading if it never answered."""
    if last is None:
        return MeterReading(meter=meter, usage=usage, timestamp=now, stale=True, error=error)
    return last.model_copy(update={"stale": True, "error": error})
