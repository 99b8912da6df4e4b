"""evcc sign conventions: how a device's own counting becomes grid/pv/battery/charge readings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.meter_reader.measurement import Convention, Measured, reading, stale
from shared.messages import MeterUsage

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
U = MeterUsage
C = Convention

# An SDM630 that sees 3 kW flowing out of the house into the grid (export), 1 kW per phase.
EXPORTING = Measured(
    power_w=-3000.0,
    energy_kwh=100.0,
    return_energy_kwh=250.0,
    currents_a=(4.3, 4.3, 4.3),
    voltages_v=(231.0, 232.0, 233.0),
    powers_w=(-1000.0, -1000.0, -1000.0),
)


@pytest.mark.parametrize(
    ("usage", "convention", "power", "energy", "returned", "currents"),
    [
        # grid meter: export is negative, currents signed by phase power
        (U.GRID, C.CONSUMER, -3000.0, 100.0, 250.0, (-4.3, -4.3, -4.3)),
        (U.CHARGE, C.CONSUMER, -3000.0, 100.0, 250.0, (-4.3, -4.3, -4.3)),
        # the same meter mounted behind a PV inverter: production positive, energy = exported energy
        (U.PV, C.CONSUMER, 3000.0, 250.0, 100.0, (4.3, 4.3, 4.3)),
        # behind a battery: what flows out of the battery is discharging (> 0)
        (U.BATTERY, C.CONSUMER, 3000.0, 250.0, 100.0, (4.3, 4.3, 4.3)),
        # a generic map is configured in the usage's convention already
        (U.PV, C.NATIVE, -3000.0, 100.0, 250.0, (-4.3, -4.3, -4.3)),
        (U.GRID, C.NATIVE, -3000.0, 100.0, 250.0, (-4.3, -4.3, -4.3)),
    ],
)
def test_usage_sign_conventions(
    usage: MeterUsage,
    convention: Convention,
    power: float,
    energy: float,
    returned: float,
    currents: tuple[float, float, float],
) -> None:
    result = reading("m", usage, EXPORTING, convention, now=NOW)
    assert result.power_w == power
    assert result.energy_kwh == energy
    assert result.return_energy_kwh == returned
    assert result.currents_a == currents
    assert result.powers_w == (power / 3, power / 3, power / 3)
    assert result.voltages_v == (231.0, 232.0, 233.0)
    assert result.timestamp == NOW and not result.stale


@pytest.mark.parametrize(
    ("usage", "power", "energy", "returned"),
    [(U.PV, 4200.0, 5000.0, None), (U.BATTERY, 4200.0, 5000.0, None), (U.GRID, -4200.0, None, 5000.0)],
)
def test_inverter_counts_production_positive(
    usage: MeterUsage, power: float, energy: float | None, returned: float | None
) -> None:
    inverter = Measured(power_w=4200.0, energy_kwh=5000.0, currents_a=(6.0, 6.0, 6.0))
    result = reading("inv", usage, inverter, C.PRODUCER, now=NOW)
    assert (result.power_w, result.energy_kwh, result.return_energy_kwh) == (power, energy, returned)


@pytest.mark.parametrize(
    ("usage", "convention", "power", "currents"),
    [
        (U.PV, C.CONSUMER, -900.0, (1.3, 1.3, 1.3)),  # SDM behind a PV inverter, producing
        (U.BATTERY, C.PRODUCER, -5000.0, (-7.2, -7.2, -7.2)),  # battery inverter charging: magnitudes signed
        (U.PV, C.PRODUCER, 4000.0, (5.8, 5.8, 5.8)),
        (U.GRID, C.NATIVE, None, (1.0, 1.0, 1.0)),  # nothing to sign them by
    ],
)
def test_currents_without_phase_powers_follow_the_total_power(
    usage: MeterUsage, convention: Convention, power: float | None, currents: tuple[float, float, float]
) -> None:
    magnitudes = tuple(abs(c) for c in currents)
    result = reading("m", usage, Measured(power_w=power, currents_a=magnitudes), convention, now=NOW)  # type: ignore[arg-type]
    assert result.currents_a == currents


def test_mixed_phase_directions_sign_each_current() -> None:
    measured = Measured(power_w=200.0, currents_a=(5.0, 2.0, 0.5), powers_w=(1150.0, -460.0, 0.0))
    assert reading("g", U.GRID, measured, C.CONSUMER, now=NOW).currents_a == (5.0, -2.0, 0.5)


def test_nonfinite_values_never_reach_a_reading() -> None:
    measured = Measured(
        power_w=float("nan"), energy_kwh=float("inf"), voltages_v=(230.0, float("nan"), 230.0)
    )
    result = reading("g", U.GRID, measured, C.CONSUMER, now=NOW)
    assert result.power_w is None and result.energy_kwh is None and result.voltages_v is None


def test_capacity_from_config_only_when_the_device_has_none() -> None:
    assert (
        reading("b", U.BATTERY, Measured(soc_pct=50.0), C.PRODUCER, now=NOW, capacity_kwh=9.0).capacity_kwh
        == 9.0
    )
    device = Measured(soc_pct=50.0, capacity_kwh=13.5)
    assert reading("b", U.BATTERY, device, C.PRODUCER, now=NOW, capacity_kwh=9.0).capacity_kwh == 13.5


def test_stale_keeps_the_last_values_and_says_why() -> None:
    good = reading("g", U.GRID, EXPORTING, C.CONSUMER, now=NOW)
    later = datetime(2026, 6, 1, 12, 5, tzinfo=UTC)
    result = stale(good, "g", U.GRID, "cannot connect", now=later)
    assert result.stale and result.error == "cannot connect"
    assert result.power_w == -3000.0 and result.timestamp == NOW  # when the values were actually measured
    never = stale(None, "g", U.GRID, "cannot connect", now=later)
    assert never.stale and never.power_w is None and never.timestamp == later
