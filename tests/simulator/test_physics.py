"""The physics of the simulated home, with frozen time."""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.simulator.physics import Simulation, battery_power_w, pv_power_w, wallbox_status
from services.simulator.scenario import (
    BatteryScenario,
    CarScenario,
    Cloud,
    HouseEvent,
    HouseScenario,
    MeterUpdates,
    Scenario,
    SunScenario,
)

BERLIN = ZoneInfo("Europe/Berlin")
DAY = datetime(2026, 6, 21, tzinfo=BERLIN)


def at(hh: int, mm: int = 0) -> datetime:
    return DAY.replace(hour=hh, minute=mm)


SUN = SunScenario(peak_w=8000, sunrise=time(6), sunset=time(20))


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (at(0), "zero"),
        (at(5, 59), "zero"),
        (at(6), "zero"),
        (at(20), "zero"),
        (at(23), "zero"),
        (at(8), "some"),
        (at(13), "peak"),
    ],
)
def test_pv_follows_the_sun(when: datetime, expected: str) -> None:
    power = pv_power_w(when, SUN)
    if expected == "zero":
        assert power == 0
    elif expected == "peak":
        assert power == pytest.approx(8000)
    else:
        assert 0 < power < 8000


def test_a_cloud_dims_pv_only_while_it_passes() -> None:
    cloudy = SunScenario(
        peak_w=8000,
        sunrise=time(6),
        sunset=time(20),
        clouds=(Cloud(start=time(12), end=time(13), factor=0.25),),
    )
    assert pv_power_w(at(12, 30), cloudy) == pytest.approx(pv_power_w(at(12, 30), SUN) * 0.25)
    assert pv_power_w(at(13, 30), cloudy) == pytest.approx(pv_power_w(at(13, 30), SUN))


BATTERY = BatteryScenario(
    capacity_kwh=10, soc_pct=50, max_charge_w=3000, max_discharge_w=2000, min_soc_pct=10
)


@pytest.mark.parametrize(
    ("surplus_w", "soc_pct", "expected_w"),
    [
        (1000, 50, -1000),  # charges from surplus
        (5000, 50, -3000),  # … within its charge limit
        (5000, 100, 0),  # full: no charging
        (-1500, 50, 1500),  # covers a deficit
        (-5000, 50, 2000),  # … within its discharge limit
        (-1500, 10, 0),  # at its reserve: no discharging
        (0, 50, 0),
    ],
)
def test_battery_self_consumption(surplus_w: float, soc_pct: float, expected_w: float) -> None:
    assert battery_power_w(surplus_w, soc_pct, BATTERY) == expected_w


@pytest.mark.parametrize(
    ("connected", "enabled", "offered_a", "full", "status"),
    [
        (False, True, 16, False, "A"),
        (True, False, 16, False, "B"),
        (True, True, 16, False, "C"),
        (True, True, 5, False, "B"),  # below 6 A a car does not charge
        (True, True, 16, True, "B"),  # full car stops drawing
    ],
)
def test_wallbox_status(connected: bool, enabled: bool, offered_a: float, full: bool, status: str) -> None:
    assert wallbox_status(connected, enabled, offered_a, full) == status


def home(start: datetime | None = None, **changes: object) -> Simulation:
    scenario = Scenario(
        sun=SUN,
        house=HouseScenario(base_w=500),
        battery=BatteryScenario(capacity_kwh=10, soc_pct=50, max_charge_w=0, max_discharge_w=0),
        cars=(CarScenario(name="ev", capacity_kwh=50, soc_pct=40),),
    ).model_copy(update=changes)
    return Simulation(scenario, start or at(0))


@pytest.mark.parametrize(
    ("enabled", "current_a", "phases", "expected_w"),
    [
        (False, 16, 3, 0),
        (True, 16, 3, 16 * 3 * 230),
        (True, 10, 3, 10 * 3 * 230),
        (True, 10, 1, 10 * 230),
        (True, 6, 1, 6 * 230),
        (True, 0, 3, 0),
    ],
)
def test_wallbox_power_follows_the_current_it_is_given(
    enabled: bool, current_a: float, phases: int, expected_w: float
) -> None:
    sim = home()
    sim.set_phases(phases)
    sim.set_current(current_a)
    sim.set_enabled(enabled)
    assert sim.wallbox_w == pytest.approx(expected_w)
    assert sim.wallbox.status == ("C" if expected_w else "B")


def test_the_cars_own_limits_cap_what_it_draws() -> None:
    sim = home(cars=(CarScenario(name="zoe", capacity_kwh=40, soc_pct=20, max_current_a=10, phases=1),))
    sim.set_current(16)
    sim.set_enabled(True)
    assert sim.wallbox_w == pytest.approx(10 * 230)


def test_no_car_no_power() -> None:
    sim = home(cars=())
    sim.set_enabled(True)
    assert (sim.wallbox.status, sim.wallbox_w) == ("A", 0)


def test_car_soc_rises_while_charging_and_stops_at_full() -> None:
    sim = home()
    sim.set_current(16)
    sim.set_enabled(True)
    power_kw = 16 * 3 * 230 / 1000
    sim.advance(at(1))
    assert sim.car is not None
    assert sim.car.soc_pct == pytest.approx(40 + power_kw / 50 * 100)
    assert sim.wallbox.energy_kwh == pytest.approx(power_kw)
    sim.advance(at(10))
    assert sim.car.soc_pct == 100
    assert sim.wallbox.energy_kwh == pytest.approx(30)  # exactly what fitted into the battery
    assert (sim.wallbox.status, sim.wallbox_w) == ("B", 0)


def test_car_soc_holds_while_not_charging() -> None:
    sim = home()
    sim.advance(at(3))
    assert sim.car is not None and sim.car.soc_pct == 40


@pytest.mark.parametrize("hour", [0, 9, 13, 19])
@pytest.mark.parametrize("charging", [False, True])
def test_grid_balances_house_wallbox_pv_and_battery(hour: int, charging: bool) -> None:
    sim = home(battery=BatteryScenario(capacity_kwh=10, soc_pct=50, max_charge_w=2000, max_discharge_w=2000))
    sim.set_enabled(charging)
    sim.advance(at(hour))
    assert sim.grid_w == pytest.approx(sim.house_w + sim.wallbox_w - sim.pv_w - sim.battery_w)
    grid, charge = sim.points["grid"], sim.points["charge"]
    for phase in range(3):
        expected = sim.house_w / 3 + charge.powers_w[phase] - sim.pv_w / 3 - sim.battery_w / 3
        assert grid.powers_w[phase] == pytest.approx(expected)


def test_battery_soc_follows_its_energy() -> None:
    sim = home(battery=BatteryScenario(capacity_kwh=10, soc_pct=50, max_charge_w=5000, max_discharge_w=5000))
    sim.advance(at(1))  # night: 500 W house load from the battery
    assert sim.battery_soc_pct == pytest.approx(50 - 0.5 / 10 * 100)
    assert sim.grid_w == pytest.approx(0)


def test_meter_counters_integrate_import_and_export() -> None:
    sim = home()
    sim.advance(at(2))  # 500 W for two hours from the grid
    assert sim.points["grid"].import_kwh == pytest.approx(1.0)
    assert sim.points["grid"].export_kwh == 0
    sim.advance(at(12))  # energy accrues at the power of the step before: the sunny hour is 12–13
    sim.advance(at(13))
    assert sim.points["grid"].export_kwh > 0
    assert sim.points["pv"].export_kwh > 0  # production counts as export at the pv point


def test_house_events_add_load_in_their_window() -> None:
    sim = home(
        house=HouseScenario(
            base_w=300, events=(HouseEvent(name="oven", start=time(18), end=time(19), power_w=2000),)
        )
    )
    sim.advance(at(18, 30))
    assert sim.house_w == 2300
    sim.advance(at(19, 30))
    assert sim.house_w == 300


def test_cars_arrive_and_leave_on_schedule() -> None:
    commuter = CarScenario(name="commuter", capacity_kwh=60, soc_pct=25, arrive=time(17, 30), leave=time(7))
    sim = home(cars=(commuter,))
    assert sim.car is not None and sim.car.spec.name == "commuter"  # midnight: inside 17:30–07:00
    sim.set_enabled(True)
    sim.advance(at(6))
    charged = sim.car.soc_pct
    assert charged > 25
    sim.advance(at(8))
    assert sim.car is None
    assert sim.wallbox.status == "A"
    sim.set_enabled(False)
    sim.advance(at(18))
    assert sim.car is not None and sim.car.soc_pct == 25  # a new arrival with its arrival SoC


def test_time_never_runs_backwards() -> None:
    sim = home()
    sim.advance(at(2))
    energy = sim.points["grid"].import_kwh
    sim.advance(at(1))
    assert sim.points["grid"].import_kwh == energy


def test_bad_inputs_are_refused_and_change_nothing() -> None:
    sim = home()
    with pytest.raises(ValueError):
        sim.set_phases(2)
    with pytest.raises(ValueError):
        sim.set_current(-1)
    assert (sim.wallbox.phases, sim.wallbox.offered_a) == (3, 16)


def test_speed_scales_the_simulated_clock() -> None:
    from services.simulator.clock import ScaledClock

    real = [100.0]
    clock = ScaledClock(at(8), speed=60, monotonic=lambda: real[0])
    real[0] += 2
    assert clock() == at(8) + timedelta(minutes=2)


# --- dynamics: a real home does not follow at once ---------------------------------------------------


def seconds_after(start: datetime, seconds: float) -> datetime:
    return start + timedelta(seconds=seconds)


def test_the_car_ramps_its_current_up_and_stops_at_once() -> None:
    sim = home(cars=(CarScenario(name="ev", capacity_kwh=50, soc_pct=40, ramp_a_per_s=8),))
    start = at(12)
    sim.advance(start)
    sim.set_current(16)
    sim.set_enabled(True)
    assert sim.wallbox.status == "C" and sim.wallbox_w == 0  # it has only just been allowed to draw
    sim.advance(seconds_after(start, 1))
    assert sim.wallbox.currents_a[0] == pytest.approx(8)
    sim.advance(seconds_after(start, 2.5))
    assert sim.wallbox_w == pytest.approx(16 * 3 * 230)
    sim.set_current(10)
    sim.advance(seconds_after(start, 3))
    assert sim.wallbox.currents_a[0] == pytest.approx(12)  # down at the same rate
    sim.set_enabled(False)
    assert sim.wallbox_w == 0


def test_the_battery_follows_its_zero_export_target_with_its_response_time() -> None:
    battery = BatteryScenario(
        capacity_kwh=10, soc_pct=50, max_charge_w=5000, max_discharge_w=5000, response_s=1.5
    )
    start = at(21)  # no sun: the battery covers the house
    sim = home(start, battery=battery)
    sim.advance(seconds_after(start, 30))
    assert sim.battery_w == pytest.approx(500, abs=1) and sim.grid_w == pytest.approx(0, abs=1)
    sim.set_current(10)
    sim.set_enabled(True)  # 6.9 kW more: the grid sees it first
    assert sim.grid_w == pytest.approx(6900, abs=1)
    sim.advance(seconds_after(start, 31.5))
    covered = sim.battery_w - 500
    assert covered == pytest.approx(4500 * (1 - math.exp(-1)), rel=0.05)  # 63 % of the way to its limit
    sim.advance(seconds_after(start, 36))  # four time constants: 98 % of the way
    assert sim.battery_w == pytest.approx(500 + 4500 * (1 - math.exp(-4)), abs=5)
    assert sim.grid_w == pytest.approx(6900 + 500 - sim.battery_w, abs=1)


def test_a_meter_shows_the_flow_sampled_at_its_update_rate() -> None:
    sim = home(meters=MeterUpdates(grid=1.0))
    start = at(21)
    sim.advance(start)
    before = sim.points["grid"].power_w
    sim.set_current(10)
    sim.set_enabled(True)
    sim.advance(seconds_after(start, 0.4))
    assert sim.points["grid"].power_w == before  # not updated yet
    assert sim.grid_w == pytest.approx(before + 6900)
    sim.advance(seconds_after(start, 1.0))
    assert sim.points["grid"].power_w == pytest.approx(before + 6900)


def test_two_wallboxes_each_serve_their_own_car() -> None:
    cars = (
        CarScenario(name="ev", capacity_kwh=50, soc_pct=40),
        CarScenario(name="van", capacity_kwh=80, soc_pct=20, wallbox=2, phases=1),
    )
    sim = home(cars=cars)
    second = sim.for_wallbox(1)
    assert sim.car is not None and sim.car.spec.name == "ev"
    assert second.car is not None and second.car.spec.name == "van"
    second.set_current(16)
    second.set_enabled(True)
    assert sim.wallbox_w == 0 and second.wallbox_w == pytest.approx(16 * 230)
    sim.set_current(10)
    sim.set_enabled(True)
    assert sim.grid_w == pytest.approx(sim.house_w + 10 * 3 * 230 + 16 * 230 - sim.pv_w - sim.battery_w)
    assert second.points["charge"] is not sim.points["charge"]
    with pytest.raises(ValueError, match="2 wallboxes"):
        sim.for_wallbox(2)
