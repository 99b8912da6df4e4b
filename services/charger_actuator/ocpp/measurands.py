"""OCPP 1.6 MeterValues → what a connector measures, and StatusNotification → IEC 61851 status (pure).

Sampled values arrive as text with a measurand (default ``Energy.Active.Import.Register``), an optional
phase and a unit (W/kW, Wh/kWh, A, V, Percent). Values that are no finite number, carry a signed-data
blob, or lie outside what any wallbox can measure are dropped — a confused or hostile box must not put
nonsense on the bus.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.messages import ChargeStatus

POWER = "Power.Active.Import"
ENERGY = "Energy.Active.Import.Register"
CURRENT = "Current.Import"
VOLTAGE = "Voltage"
OFFERED = "Current.Offered"
SOC = "SoC"
DESIRED_MEASURANDS = (POWER, ENERGY, CURRENT, VOLTAGE, OFFERED, SOC)
"""What the central system asks a box to sample (each it accepts)."""

_SCALE: dict[str, float] = {
    "W": 1.0,
    "kW": 1000.0,
    "Wh": 0.001,
    "kWh": 1.0,
    "A": 1.0,
    "V": 1.0,
    "Percent": 1.0,
}
"""Unit → factor to the bus unit (W, kWh, A, V, %)."""
_DEFAULT_UNIT: dict[str, str] = {
    POWER: "W",
    ENERGY: "Wh",
    CURRENT: "A",
    VOLTAGE: "V",
    OFFERED: "A",
    SOC: "Percent",
}
_BOUNDS: dict[str, tuple[float, float]] = {
    POWER: (-1e6, 1e6),
    ENERGY: (0.0, 1e9),
    CURRENT: (-1000.0, 1000.0),
    VOLTAGE: (0.0, 1000.0),
    OFFERED: (0.0, 1000.0),
    SOC: (0.0, 100.0),
}
_PHASES = {"L1": 0, "L2": 1, "L3": 2, "L1-N": 0, "L2-N": 1, "L3-N": 2}


@dataclass
class Meter:
    """The latest value of every measurand a connector reported, in bus units; phase values by index."""

    totals: dict[str, float] = field(default_factory=dict)
    phases: dict[str, list[float | None]] = field(default_factory=dict)

    def total(self, measurand: str) -> float | None:
        """The value without a phase, else the sum of the phase values (power, energy)."""
        if measurand in self.totals:
            return self.totals[measurand]
        values = self.phases.get(measurand)
        if values is None or all(v is None for v in values):
            return None
        return sum(v or 0.0 for v in values)

    def per_phase(self, measurand: str) -> tuple[float, float, float] | None:
        values = self.phases.get(measurand)
        if values is None or all(v is None for v in values):
            return None
        a, b, c = (abs(v) if v is not None else 0.0 for v in values)
        return (a, b, c)

    def stopped(self) -> None:
        """The transaction ended: nothing flows any more (boxes often send no final zero)."""
        for measurand in (POWER, CURRENT):
            if measurand in self.totals:
                self.totals[measurand] = 0.0
            if measurand in self.phases:
                self.phases[measurand] = [0.0 if v is not None else None for v in self.phases[measurand]]


def sampled_value(sample: Mapping[str, Any]) -> tuple[str, int | None, float] | None:
    """(measurand, phase index or None, value in bus units) of one SampledValue, or None to drop it."""
    measurand = str(sample.get("measurand") or ENERGY)
    if measurand not in _DEFAULT_UNIT or sample.get("format") == "SignedData":
        return None
    unit = str(sample.get("unit") or _DEFAULT_UNIT[measurand])
    scale = _SCALE.get(unit)
    if scale is None:
        return None
    try:
        value = float(str(sample.get("value", "")).strip()) * scale
    except ValueError:
        return None
    lo, hi = _BOUNDS[measurand]
    if not math.isfinite(value) or not lo <= value <= hi:
        return None
    phase = sample.get("phase")
    if phase is None:
        return measurand, None, value
    index = _PHASES.get(str(phase))
    return None if index is None else (measurand, index, value)


def apply_meter_values(meter: Meter, meter_values: Iterable[Mapping[str, Any]]) -> bool:
    """Fold the ``meter_value`` list of a MeterValues request (oldest first) into ``meter``.

    Returns whether any value was taken."""
    taken = False
    for entry in sorted(meter_values, key=lambda e: str(e.get("timestamp", ""))):
        for sample in entry.get("sampled_value") or []:
            if not isinstance(sample, Mapping):
                continue
            parsed = sampled_value(sample)
            if parsed is None:
                continue
            measurand, phase, value = parsed
            if phase is None:
                meter.totals[measurand] = value
            else:
                meter.phases.setdefault(measurand, [None, None, None])[phase] = value
            taken = True
    return taken


_STATUS: dict[str, ChargeStatus] = {
    "Available": ChargeStatus.A,
    "Unavailable": ChargeStatus.A,
    "Reserved": ChargeStatus.A,
    "Preparing": ChargeStatus.B,
    "SuspendedEV": ChargeStatus.B,
    "SuspendedEVSE": ChargeStatus.B,
    "Finishing": ChargeStatus.B,
    "Charging": ChargeStatus.C,
}


def charge_status(status: str, error_code: str | None, info: str | None) -> tuple[ChargeStatus, str | None]:
    """The IEC status of an OCPP connector status and the fault to show (a Faulted connector is A)."""
    if status == "Faulted":
        detail = ", ".join(p for p in (error_code, info) if p and p != "NoError")
        return ChargeStatus.A, f"charge point faulted: {detail or 'no error code'}"
    known = _STATUS.get(status)
    if known is None:
        return ChargeStatus.A, f"unknown connector status {status!r}"
    if error_code and error_code != "NoError":
        return known, f"charge point reports {error_code}" + (f": {info}" if info else "")
    return known, None


def enabled_from_status(status: str) -> bool | None:
    """What the connector status says about the EVSE side: SuspendedEVSE = the box holds back; Charging /
    SuspendedEV = it offers current; anything else says nothing (evcc's rule)."""
    if status == "SuspendedEVSE":
        return False
    if status in ("Charging", "SuspendedEV"):
        return True
    return None
