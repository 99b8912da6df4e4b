"""Scenario files: the example loads, bad files name the bad key, a scenario drives the served home."""

from __future__ import annotations

import asyncio
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pymodbus.client import AsyncModbusTcpClient

from services.simulator.clock import ManualClock
from services.simulator.scenario import ScenarioError, load_scenario, scenario_from_settings
from services.simulator.service import run
from shared.config import Config, ConfigError, SimulatorSettings
from tests.support.broker import wait_for
from tests.support.modbus import simulated_home

EXAMPLE = Path(__file__).parents[2] / "examples" / "scenario-summer-day.yaml"
BERLIN = ZoneInfo("Europe/Berlin")


def test_the_example_scenario_loads() -> None:
    scenario = load_scenario(EXAMPLE)
    assert scenario.speed == 60
    assert scenario.start == time(7, 0)
    assert [c.name for c in scenario.cars] == ["ev", "guest"]
    assert scenario.start_at(datetime(2026, 6, 21, 3, 0, tzinfo=BERLIN)) == datetime(
        2026, 6, 21, 7, 0, tzinfo=BERLIN
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sun: {sunrise: '20:00', sunset: '06:00'}", "sun"),
        ("battery: {capacity_kwh: -1}", "battery.capacity_kwh"),
        ("cars: [{arrive: '08:00'}]", "cars.0"),
        ("colour: blue", "colour"),
        ("timezone: Mars/Olympus", "timezone"),
        ("start: '2026-06-21T07:00:00'", "start"),
        ("- just a list", "mapping"),
    ],
)
def test_bad_scenarios_name_the_bad_key(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(text)
    with pytest.raises(ScenarioError, match=message):
        load_scenario(file)


def test_missing_scenario_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="not found"):
        scenario_from_settings(SimulatorSettings(scenario=str(tmp_path / "nope.yaml")))


def test_settings_knobs_become_a_scenario() -> None:
    settings = SimulatorSettings(pv_peak_w=5000, start_time="09:30", car={"connected": False})
    scenario = scenario_from_settings(settings)
    assert scenario.sun.peak_w == 5000
    assert scenario.start == time(9, 30)
    assert scenario.cars == ()


async def test_the_scenario_drives_the_served_home() -> None:
    clock = ManualClock(datetime(2026, 6, 21, 8, 0, tzinfo=BERLIN))
    async with simulated_home({"scenario": str(EXAMPLE)}, clock=clock) as home:
        assert home.state.car_name is None  # the ev arrives at 08:30
        clock.advance(45 * 60)
        assert home.state.car_name == "ev"
        assert home.state.car_soc_pct == 35
        assert home.state.wallbox_status == "B"
        client = AsyncModbusTcpClient("127.0.0.1", port=home.devices["wallbox"].port, timeout=2, retries=0)
        assert await client.connect()
        identifier = await client.read_holding_registers(24, count=5, device_id=1)
        assert identifier.registers[0] == 8
        assert b"".join(r.to_bytes(2, "big") for r in identifier.registers[1:]) == b"04A1B2C3"
        await client.write_register(1, 1, device_id=1)
        assert home.state.wallbox_w == pytest.approx(16 * 3 * 230)  # the car's own 16 A limit
        clock.advance(3600)
        assert home.state.car_soc_pct == pytest.approx(35 + 16 * 3 * 230 / 1000 / 60 * 100)
        clock.set(datetime(2026, 6, 21, 18, 45, tzinfo=BERLIN))
        assert home.state.car_name == "guest"
        assert home.state.wallbox_w == pytest.approx(16 * 230)  # one-phase guest car
        client.close()


async def test_a_bad_scenario_stops_the_service_with_a_config_error(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text("battery: {soc_pct: 140}\n")
    with pytest.raises(ConfigError, match=r"battery\.soc_pct"):
        await run(Config(simulator=SimulatorSettings(scenario=str(file))), asyncio.Event())


async def test_the_physics_tick_moves_time_while_nobody_reads() -> None:
    settings = {"speed": 3600.0, "tick_s": 0.01, "start_time": "01:00", "battery_max_power_w": 0}
    async with simulated_home(settings) as home:
        start = home.sim.points["grid"].import_kwh
        # sim.points is read without syncing: only the tick can move it
        await wait_for(lambda: home.sim.points["grid"].import_kwh > start + 0.01, timeout=10)
