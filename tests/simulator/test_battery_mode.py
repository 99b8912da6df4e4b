"""The simulated battery's mode registers (generic-meter ``battery_mode`` / ``battery_charge_power``)."""

from __future__ import annotations

import pytest
from pymodbus.client import AsyncModbusTcpClient

from services.simulator.physics import battery_power_w
from services.simulator.scenario import BatteryScenario
from tests.support.modbus import simulated_device

REGISTERS = [
    {"value": "power", "address": 0, "type": "float32"},
    {"value": "battery_mode", "address": 10, "type": "uint16"},
    {"value": "battery_charge_power", "address": 11, "type": "float32"},
]


def test_modes_in_the_physics() -> None:
    battery = BatteryScenario(soc_pct=50, max_charge_w=4000)
    assert battery_power_w(-800.0, 50.0, battery) == 800.0  # normal: covers the deficit
    assert battery_power_w(-800.0, 50.0, battery, "hold") == 0.0  # hold: no discharging
    assert battery_power_w(1000.0, 50.0, battery, "hold") == -1000.0  # … surplus still charges it
    assert battery_power_w(-800.0, 50.0, battery, "charge", 6000.0) == -4000.0  # from the grid, capped
    assert battery_power_w(-800.0, 100.0, battery, "charge", 2000.0) == 0.0  # full


async def test_mode_register_writes_steer_the_battery() -> None:
    async with simulated_device("generic-meter", source="battery", registers=REGISTERS, pv_peak_w=0) as dev:
        client = AsyncModbusTcpClient(dev.host, port=dev.port, timeout=2, retries=0)
        assert await client.connect()
        try:
            assert dev.state.battery_w == pytest.approx(400.0)
            assert not (await client.write_register(10, 1, device_id=dev.unit)).isError()
            assert dev.state.battery_w == 0.0
            assert (await client.read_holding_registers(10, count=1, device_id=dev.unit)).registers == [1]

            words = client.convert_to_registers(2500.0, client.DATATYPE.FLOAT32)
            assert not (await client.write_registers(11, words, device_id=dev.unit)).isError()
            assert not (await client.write_register(10, 2, device_id=dev.unit)).isError()
            assert dev.state.battery_w == pytest.approx(-2500.0)
            assert dev.value("power@0") == pytest.approx(2500.0)  # the measuring point: charging > 0

            refused = await client.write_register(10, 5, device_id=dev.unit)
            assert refused.isError() and dev.sim.battery_mode == "charge"
            assert not (await client.write_register(10, 0, device_id=dev.unit)).isError()
            assert dev.state.battery_w == pytest.approx(400.0)
        finally:
            client.close()
