"""Shelly templates against simulated Shellys that answer their Gen2 RPC formats over real HTTP."""

from __future__ import annotations

import pytest

from services.simulator.devices.http_devices import HttpDevice
from shared.config import MqttSettings
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
