"""Shelly templates against simulated Shellys that answer their Gen2 RPC formats over real HTTP."""

from __future__ import annotations

import asyncio

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.simulator.devices.http_devices import HttpDevice
from shared.config import MqttSettings
from tests.support.broker import free_port, wait_for
from tests.support.devices import io_for, meter, served


async def test_shelly_3em_as_grid_meter(mqtt_settings: MqttSettings) -> None:
    async with served("shelly-3em", source="grid") as s, io_for(mqtt_settings) as io:
        assert isinstance(s.device, HttpDevice)
        params = {"host": f"127.0.0.1:{s.device.port}"}
        async with meter(io, template="shelly-3em", usage="grid", params=params) as m:
            reading = await m.poll()
        assert not reading.stale, reading.error
        grid = s.home.sim.points["grid"]
        assert reading.power_w == pytest.approx(grid.power_w, abs=0.01)
        assert reading.powers_w == pytest.approx(grid.powers_w, abs=0.1)
        assert reading.voltages_v == pytest.approx(grid.voltages_v)
        # currents carry the direction of their phase power (evcc's grid currents)
        assert reading.currents_a == pytest.approx(
            [abs(c) if p >= 0 else -abs(c) for c, p in zip(grid.currents_a, grid.powers_w, strict=True)],
            abs=0.001,
        )
        assert reading.energy_kwh == pytest.approx(grid.import_kwh, abs=0.001)
        # one request per endpoint serves all ten values
        paths = [r.path for r in s.device.requests]
        assert sorted(set(paths)) == ["/rpc/EM.GetStatus", "/rpc/EMData.GetStatus"] and len(paths) == 2


async def test_shelly_3em_as_pv_meter_counts_production_positive(mqtt_settings: MqttSettings) -> None:
    async with served("shelly-3em", source="pv") as s, io_for(mqtt_settings) as io:
        assert isinstance(s.device, HttpDevice)
        params = {"host": f"127.0.0.1:{s.device.port}"}
        async with meter(io, template="shelly-3em", usage="pv", params=params) as m:
            reading = await m.poll()
        pv = s.home.sim.points["pv"]
        assert reading.power_w == pytest.approx(s.home.sim.pv_w, abs=0.01) and (reading.power_w or 0) > 1000
        assert reading.energy_kwh == pytest.approx(pv.export_kwh, abs=0.001)  # produced


async def test_shelly_plug_and_an_unreachable_shelly(mqtt_settings: MqttSettings) -> None:
    async with served("shelly-plug", source="house") as s, io_for(mqtt_settings) as io:
        assert isinstance(s.device, HttpDevice)
        params = {"host": f"127.0.0.1:{s.device.port}"}
        async with meter(io, template="shelly-plug", usage="aux", params=params) as m:
            reading = await m.poll()
            assert reading.power_w == pytest.approx(s.home.sim.house_w, abs=0.1) and not reading.stale
            assert reading.currents_a is not None and reading.currents_a[1:] == (0.0, 0.0)
            await s.device.stop()
            later = io.http.clock() + 60
            io.http.clock = lambda: later  # the cached answer is old now
            stale = await m.poll()
        assert stale.stale and stale.power_w == reading.power_w
        assert stale.error is not None and "Switch.GetStatus" in stale.error


# A Shelly Pro EM's answers as a user posted them (evcc discussion #12385, firmware 1.2): channel 1 measures.
PRO_EM: dict[str, dict[str, dict[str, object]]] = {
    "/rpc/EM1.GetStatus": {
        "0": {"id": 0, "current": 0.020, "voltage": 224.6, "act_power": 0.0, "aprt_power": 4.6, "pf": 0.00,
              "freq": 50.0, "calibration": "factory"},
        "1": {"id": 1, "current": 22.780, "voltage": 224.6, "act_power": 5080.3, "aprt_power": 5142.4,
              "pf": 0.99, "freq": 50.0, "calibration": "factory"},
    },
    "/rpc/EM1Data.GetStatus": {
        "0": {"id": 0, "total_act_energy": 0.00, "total_act_ret_energy": 0.00},
        "1": {"id": 1, "total_act_energy": 6644.90, "total_act_ret_energy": 2595.26},
    },
}  # fmt: skip


async def test_shelly_pro_em_reads_a_recorded_answer(mqtt_settings: MqttSettings) -> None:
    async def answer(request: Request) -> JSONResponse:
        return JSONResponse(PRO_EM[request.url.path][request.query_params["id"]])

    port = free_port()
    routes = [Route(path, answer) for path in PRO_EM]
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=routes), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
    )
    task = asyncio.create_task(server.serve())
    await wait_for(lambda: server.started)
    try:
        async with io_for(mqtt_settings) as io:
            params = {"host": f"127.0.0.1:{port}", "channel": 1}
            async with meter(io, template="shelly-em", usage="charge", params=params) as m:
                reading = await m.poll()
    finally:
        server.should_exit = True
        await task
    assert not reading.stale, reading.error
    assert reading.power_w == 5080.3 and reading.currents_a == (22.78, 0.0, 0.0)
    assert reading.voltages_v == (224.6, 0.0, 0.0)
    assert reading.energy_kwh == pytest.approx(6.6449) and reading.return_energy_kwh == pytest.approx(2.59526)
