"""Drivers and the service against the simulated home's Modbus TCP devices: the readings are the physics."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml

from services.meter_reader.drivers import driver_for
from services.meter_reader.poller import MeterPoller
from services.meter_reader.service import run
from services.simulator.clock import ManualClock
from shared.config import MqttSettings, parse_config
from shared.config_devices import MeterConfig
from shared.devices.modbus import ModbusLink
from shared.messages import MeterReading
from tests.support.modbus import (
    GENERIC_METER_MAP,
    GENERIC_METER_REGISTERS,
    SUNNY_NOON,
    Device,
    simulated_device,
    simulated_home,
)
from tests.support.probe import Probe

NOW = datetime(2026, 6, 21, 10, tzinfo=UTC)


async def _ignore(_: MeterReading) -> None:
    return None


def config_for(dev: Device, type_: str, usage: str, **extra: Any) -> MeterConfig:
    modbus = {"host": dev.host, "port": dev.port, "id": dev.unit, "timeout_s": 0.5}
    return MeterConfig.model_validate({"name": "m", "type": type_, "usage": usage, "modbus": modbus, **extra})


async def poll(config: MeterConfig) -> MeterReading:
    link = ModbusLink(config.modbus)
    driver = driver_for(config)
    poller = MeterPoller(config, driver, link, _ignore, clock=lambda: NOW, log=structlog.get_logger())
    try:
        result = await poller.poll_once()
    finally:
        link.close()
    assert not result.stale, result.error
    return result


@pytest.mark.parametrize("model", ["sdm630", "sdm72"])
async def test_sdm_as_grid_meter_reads_the_grid_power(model: str) -> None:
    async with simulated_device(model) as dev:
        result = await poll(config_for(dev, model, "grid"))
        grid_w = dev.state.grid_w
        assert grid_w < 0  # sunny noon: the house exports
        assert result.power_w == pytest.approx(grid_w, abs=0.01)
        assert result.powers_w is not None and sum(result.powers_w) == pytest.approx(grid_w, abs=0.01)
        assert result.currents_a is not None and all(c < 0 for c in result.currents_a)  # exporting phases
        assert result.voltages_v == pytest.approx((230.0, 230.0, 230.0))


async def test_sdm_behind_the_pv_inverter_counts_production() -> None:
    clock = ManualClock(SUNNY_NOON)
    async with simulated_device("sdm630", source="pv", clock=clock) as dev:
        clock.advance(1800)
        result = await poll(config_for(dev, "sdm630", "pv"))
        state, point = dev.state, dev.sim.points["pv"]
        assert state.pv_w > 0
        assert result.power_w == pytest.approx(state.pv_w, abs=0.01)
        assert point.export_kwh > 1.0
        assert result.energy_kwh == pytest.approx(point.export_kwh, rel=1e-6)  # produced = what it exported
        assert result.return_energy_kwh == pytest.approx(point.import_kwh, abs=1e-6)


@pytest.mark.parametrize("model", ["sunspec-inverter", "sunspec-inverter-float"])
async def test_sunspec_inverter_as_pv(model: str) -> None:
    clock = ManualClock(SUNNY_NOON)
    async with simulated_device(model, clock=clock) as dev:
        clock.advance(3600)
        result = await poll(config_for(dev, "sunspec", "pv"))
        state = dev.state
        assert result.power_w == pytest.approx(state.pv_w, abs=1.0)  # int model: 1 W resolution
        assert result.energy_kwh == pytest.approx(dev.sim.points["pv"].export_kwh, abs=0.001)
        assert result.currents_a == pytest.approx((state.pv_w / 3 / 230,) * 3, abs=0.01)


async def test_sunspec_meter_model_as_grid() -> None:
    async with simulated_device("sunspec-meter") as dev:
        result = await poll(config_for(dev, "sunspec", "grid"))
        state = dev.state
        assert result.power_w == pytest.approx(state.grid_w, abs=1.0)
        assert result.powers_w is not None and sum(result.powers_w) == pytest.approx(state.grid_w, abs=3.0)


async def test_sunspec_battery_power_soc_and_capacity() -> None:
    async with simulated_device("sunspec-battery", battery_capacity_kwh=13.5, battery_soc_pct=42.0) as dev:
        result = await poll(config_for(dev, "sunspec", "battery"))
        state = dev.state
        assert state.battery_w < 0  # charging from the noon surplus
        assert result.power_w == pytest.approx(state.battery_w, abs=1.0)
        assert result.soc_pct == pytest.approx(state.battery_soc_pct, abs=0.1)
        assert result.capacity_kwh == pytest.approx(13.5, abs=0.01)


async def test_generic_map_against_the_simulated_generic_meter() -> None:
    clock = ManualClock(SUNNY_NOON)
    async with simulated_device("generic-meter", registers=GENERIC_METER_REGISTERS, clock=clock) as dev:
        clock.advance(600)
        result = await poll(config_for(dev, "modbus", "grid", registers=GENERIC_METER_MAP))
        grid = dev.sim.points["grid"]
        assert result.power_w == pytest.approx(dev.state.grid_w, abs=0.1)
        assert result.energy_kwh == pytest.approx(grid.import_kwh)
        assert result.return_energy_kwh == pytest.approx(grid.export_kwh, abs=0.001)
        assert result.voltages_v == pytest.approx((230.0, 230.0, 230.0))


DEMO = Path(__file__).resolve().parents[2] / "services" / "demo.yaml"


async def test_service_publishes_the_demo_home_and_survives_an_outage(
    mqtt_settings: MqttSettings, probe: Probe
) -> None:
    demo = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    async with simulated_home(clock=ManualClock(SUNNY_NOON)) as home:
        data = {"site": demo["site"], "meters": demo["meters"]}
        for meter in data["meters"]:
            meter["modbus"] |= {"port": home.devices[meter["name"]].port, "timeout_s": 0.3}
            meter["interval_s"] = 0.2
        config = parse_config(data).model_copy(update={"mqtt": mqtt_settings})
        stop = asyncio.Event()
        task = asyncio.create_task(run(config, stop))
        try:
            state = home.state
            root = probe.settings.topic
            expected = {
                "site/grid/power": round(state.grid_w),
                "site/pvPower": round(state.pv_w),
                "site/battery/power": round(state.battery_w),
                "site/battery/soc": round(state.battery_soc_pct),
            }
            await probe.wait(
                lambda v: all(
                    f"{root}/{k}" in v and v[f"{root}/{k}"] and round(float(v[f"{root}/{k}"])) == w
                    for k, w in expected.items()
                )
            )
            # the readings may arrive before the rest of the first retained burst
            assert await probe.wait_state("site/battery/devices/1/name", bool) == "battery"
            assert await probe.wait_state("site/pv/1/title", bool) == "PV inverter (SunSpec)"
            grid_topic = f"{mqtt_settings.internal}/meters/grid"
            reading = json.loads(await probe.wait_value(grid_topic, bool))
            assert reading["power_w"] == pytest.approx(state.grid_w, abs=0.01)

            await home.stop()  # the whole house goes off the network
            for key in ("site/grid/error", "site/pv/1/error", "site/battery/devices/1/error"):
                await probe.wait_state(key, lambda v: v != "")
            await probe.wait_value(grid_topic, lambda v: json.loads(v)["stale"] is True)

            await home.start()
            for key in ("site/grid/error", "site/pv/1/error", "site/battery/devices/1/error"):
                await probe.wait_state(key, lambda v: v == "", timeout=15)
            await probe.wait_value(grid_topic, lambda v: json.loads(v)["stale"] is False)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
