"""The site keys (grid, pv, battery) computed from meter readings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.meter_reader.site import SiteLayout, site_state
from shared.config import parse_config
from shared.encoding import encode_mqtt
from shared.messages import MeterReading, MeterUsage

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def meter(name: str, usage: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "sdm", "usage": usage, "modbus": {"host": "127.0.0.1"}, **extra}


def layout(site: dict[str, Any], *meters: dict[str, Any]) -> SiteLayout:
    return SiteLayout.from_config(parse_config({"site": site, "meters": list(meters)}))


def r(name: str, usage: MeterUsage, **values: Any) -> MeterReading:
    return MeterReading(meter=name, usage=usage, timestamp=NOW, **values)


HOME = layout(
    {"grid": "grid", "pv": ["roof", "garage"], "battery": ["b1", "b2"]},
    meter("grid", "grid"),
    meter("roof", "pv", title="Roof"),
    meter("garage", "pv"),
    meter("b1", "battery", capacity_kwh=10),
    meter("b2", "battery"),
)


def test_grid_keys_with_signed_currents() -> None:
    readings = {
        "grid": r(
            "grid",
            MeterUsage.GRID,
            power_w=-1500.0,
            energy_kwh=100.0,
            return_energy_kwh=50.0,
            powers_w=(-1000.0, -700.0, 200.0),
            currents_a=(-4.3, -3.0, 0.9),
        )
    }
    state = site_state(HOME, readings)
    assert state.gridConfigured is True
    assert state.grid is not None
    assert (state.grid.power, state.grid.energy, state.grid.returnEnergy) == (-1500.0, 100.0, 50.0)
    assert state.grid.currents == [-4.3, -3.0, 0.9] and state.grid.name == "grid" and state.grid.error is None
    topics = dict(encode_mqtt("evcc/site", state))
    assert topics["evcc/site/grid/power"] == "-1500"
    assert topics["evcc/site/grid/currents"] == "3" and topics["evcc/site/grid/currents/1"] == "-4.3"
    assert topics["evcc/site/gridConfigured"] == "true"


def test_pv_power_ignores_negative_standby_consumption() -> None:
    readings = {
        "roof": r("roof", MeterUsage.PV, power_w=4200.0, energy_kwh=1000.0),
        "garage": r("garage", MeterUsage.PV, power_w=-15.0, energy_kwh=200.5),
    }
    state = site_state(HOME, readings)
    assert state.pvPower == 4200.0 and state.pvEnergy == 1200.5
    assert state.pv is not None
    assert [(p.name, p.title, p.power) for p in state.pv] == [
        ("roof", "Roof", 4200.0),
        ("garage", "garage", -15.0),
    ]


@pytest.mark.parametrize(
    ("soc2", "cap2", "soc", "capacity"),
    [
        (40.0, 30.0, (80 * 10 + 40 * 30) / 40, 40.0),  # both capacities known → capacity-weighted
        (40.0, None, 60.0, None),  # one unknown → plain average, total capacity unknown
        (None, 30.0, 80.0, 40.0),  # a battery without SoC does not drag the average down
    ],
)
def test_battery_aggregate(
    soc2: float | None, cap2: float | None, soc: float, capacity: float | None
) -> None:
    readings = {
        "b1": r("b1", MeterUsage.BATTERY, power_w=-2000.0, soc_pct=80.0, capacity_kwh=10.0),
        "b2": r("b2", MeterUsage.BATTERY, power_w=500.0, soc_pct=soc2, capacity_kwh=cap2),
    }
    battery = site_state(HOME, readings).battery
    assert battery is not None and battery.devices is not None
    assert battery.power == -1500.0
    assert battery.soc == pytest.approx(soc)
    assert battery.capacity == capacity
    assert [d.name for d in battery.devices] == ["b1", "b2"]


def test_failing_meters_are_named_in_the_site_state() -> None:
    readings = {
        "grid": r("grid", MeterUsage.GRID, power_w=300.0, stale=True, error="no answer"),
        "garage": r("garage", MeterUsage.PV, stale=True, error="cannot connect"),
        "b2": r("b2", MeterUsage.BATTERY, stale=True, error="refused"),
    }
    topics = dict(encode_mqtt("evcc/site", site_state(HOME, readings)))
    assert topics["evcc/site/grid/error"] == "no answer"
    assert topics["evcc/site/pv/2/error"] == "cannot connect" and topics["evcc/site/pv/1/error"] == ""
    assert topics["evcc/site/battery/devices/2/error"] == "refused"
    assert topics["evcc/site/grid/power"] == "300"  # last value, flagged by the error


def test_no_grid_meter_and_roles_from_usage() -> None:
    plain = layout({}, meter("inverter", "pv"), meter("wallbox", "charge"), meter("heatpump", "aux"))
    state = site_state(
        plain,
        {
            "inverter": r("inverter", MeterUsage.PV, power_w=800.0),
            "heatpump": r("heatpump", MeterUsage.AUX, power_w=1200.0),
        },
    )
    assert state.gridConfigured is False and state.grid is None and state.battery is None
    assert state.pvPower == 800.0 and state.auxPower == 1200.0
    assert "homePower" not in state.model_fields_set and "greenShareHome" not in state.model_fields_set
