"""The meter-reader service on a real broker, polling real Modbus TCP servers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymodbus.framer import FramerType

from services.meter_reader.service import run
from shared.config import Config, MqttSettings, parse_config
from shared.devices.codec import DataType, encode
from shared.messages import MeterReading
from tests.meter_reader.conftest import RegisterServer, ServerFactory, sdm_image
from tests.support.probe import Probe


def config_for(mqtt: MqttSettings, grid: RegisterServer, pv: RegisterServer) -> Config:
    def conn(server: RegisterServer) -> dict[str, Any]:
        return {"host": "127.0.0.1", "port": server.port, "timeout_s": 0.3}

    config = parse_config(
        {
            "site": {"grid": "grid", "pv": ["roof"]},
            "meters": [
                {"name": "grid", "type": "sdm", "usage": "grid", "modbus": conn(grid), "interval_s": 0.2},
                {
                    "name": "roof",
                    "type": "modbus",
                    "usage": "pv",
                    "title": "Roof",
                    "modbus": conn(pv),
                    "interval_s": 0.2,
                    "registers": {"power": {"address": 0, "type": "float32"}},
                },
            ],
        }
    )
    return config.model_copy(update={"mqtt": mqtt})


@pytest.fixture
async def running(
    mqtt_settings: MqttSettings, register_server: ServerFactory
) -> AsyncIterator[tuple[RegisterServer, RegisterServer]]:
    grid = await register_server()
    pv = await register_server()
    sdm_image(grid, (400.0, 300.0, 300.0), import_kwh=1500.0, export_kwh=700.0)
    pv.set("holding", 0, encode(3200.0, DataType.FLOAT32))
    stop = asyncio.Event()
    task = asyncio.create_task(run(config_for(mqtt_settings, grid, pv), stop))
    yield grid, pv
    stop.set()
    await asyncio.wait_for(task, 10)


def meter_reading(probe: Probe, name: str) -> MeterReading:
    return MeterReading.model_validate(json.loads(probe.values[f"{probe.settings.internal}/meters/{name}"]))


async def test_readings_and_site_keys_are_published(
    running: tuple[RegisterServer, RegisterServer], probe: Probe
) -> None:
    expected = {
        "site/gridConfigured": "true",
        "site/grid/power": "1000",
        "site/grid/energy": "1500",
        "site/grid/returnEnergy": "700",
        "site/grid/powers/1": "400",
        "site/grid/currents": "3",
        "site/grid/name": "grid",
        "site/pvPower": "3200",
        "site/pv": "1",
        "site/pv/1/power": "3200",
        "site/pv/1/title": "Roof",
    }
    root = probe.settings.topic
    await probe.wait(lambda values: all(values.get(f"{root}/{k}") == v for k, v in expected.items()))
    await probe.wait_value(f"{probe.settings.internal}/meters/grid", lambda v: '"power_w":1000.0' in v)
    grid = meter_reading(probe, "grid")
    assert grid.power_w == 1000.0 and grid.powers_w == (400.0, 300.0, 300.0) and not grid.stale
    assert probe.state("site/homePower") is None  # the optimizer's key, never ours


async def test_a_dead_meter_goes_stale_others_continue_and_it_recovers(
    running: tuple[RegisterServer, RegisterServer], probe: Probe
) -> None:
    grid, pv = running
    grid_topic = f"{probe.settings.internal}/meters/grid"
    await probe.wait_state("site/grid/power", lambda v: v == "1000")

    await grid.stop()
    await probe.wait_state("site/grid/error", lambda v: "cannot connect" in v or "no answer" in v)
    await probe.wait_value(grid_topic, lambda v: json.loads(v)["stale"] is True)
    stale = meter_reading(probe, "grid")
    assert stale.power_w == 1000.0 and stale.error  # last values, flagged

    pv.set("holding", 0, encode(4100.0, DataType.FLOAT32))  # the PV meter keeps being read meanwhile
    await probe.wait_state("site/pvPower", lambda v: v == "4100")
    assert probe.state("site/pv/1/error") == ""

    sdm_image(grid, (-500.0, -500.0, -500.0), import_kwh=1500.0, export_kwh=701.0)
    await grid.start()
    await probe.wait_state("site/grid/power", lambda v: v == "-1500", timeout=15)
    await probe.wait_state("site/grid/error", lambda v: v == "")
    fresh = meter_reading(probe, "grid")
    assert not fresh.stale and fresh.error is None and fresh.return_energy_kwh == 701.0


async def test_meters_behind_one_rs485_gateway_share_its_connection(
    mqtt_settings: MqttSettings, register_server: ServerFactory, probe: Probe
) -> None:
    gateway = await register_server(framer=FramerType.RTU, units=[1, 2])
    sdm_image(gateway, (-1000.0, -1000.0, -1000.0), import_kwh=10.0, export_kwh=20.0)  # unit 1: grid
    sdm_image(gateway, (2300.0, 2300.0, 2300.0), import_kwh=5.0, export_kwh=0.0, unit=2)  # unit 2: wallbox
    conn = {"protocol": "rtuovertcp", "host": "127.0.0.1", "port": gateway.port, "timeout_s": 0.3}
    config = parse_config(
        {
            "site": {"grid": "grid"},
            "meters": [
                {
                    "name": "grid",
                    "type": "sdm630",
                    "usage": "grid",
                    "modbus": conn | {"id": 1},
                    "interval_s": 0.2,
                },
                {
                    "name": "wallbox",
                    "type": "sdm72",
                    "usage": "charge",
                    "modbus": conn | {"id": 2},
                    "interval_s": 0.2,
                },
                {
                    "name": "heatpump",
                    "type": "sdm72",
                    "usage": "aux",
                    "modbus": conn | {"id": 3},
                    "interval_s": 0.2,
                },
            ],
        }
    ).model_copy(update={"mqtt": mqtt_settings})
    stop = asyncio.Event()
    task = asyncio.create_task(run(config, stop))
    try:
        internal = mqtt_settings.internal
        await probe.wait_value(f"{internal}/meters/wallbox", lambda v: json.loads(v)["power_w"] == 6900.0)
        await probe.wait_value(f"{internal}/meters/grid", lambda v: json.loads(v)["power_w"] == -3000.0)
        heatpump = await probe.wait_value(f"{internal}/meters/heatpump", lambda v: json.loads(v)["stale"])
        assert "id 3" in json.loads(heatpump)["error"]  # the missing unit is named, the others read fine
        await probe.wait_state("site/auxPower", lambda v: v == "0")
        assert probe.state("site/aux/1/error")
        assert gateway.connections == 1
        assert probe.state("site/grid/power") == "-3000"
        assert not any(
            topic.endswith("wallbox") for topic in probe.values if topic.startswith(probe.settings.topic)
        )
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_stop_does_not_wait_for_a_device_that_hangs(mqtt_settings: MqttSettings, probe: Probe) -> None:
    accepted = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await reader.read(-1)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    slow = {"host": "127.0.0.1", "port": port, "timeout_s": 60}  # a minute before the read would give up
    config = parse_config(
        {"meters": [{"name": "grid", "type": "sdm", "usage": "grid", "modbus": slow}]}
    ).model_copy(update={"mqtt": mqtt_settings})
    stop = asyncio.Event()
    task = asyncio.create_task(run(config, stop))
    try:
        await probe.wait_state("site/gridConfigured", lambda v: v == "true")
        await asyncio.wait_for(accepted.wait(), 10)
        stop.set()
        await asyncio.wait_for(task, 10)  # far below the device timeout
    finally:
        server.close()
        await server.wait_closed()
