"""The whole system: `chargebus demo` → REST mode change → the simulated wallbox's registers → /api/state."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymodbus.client import AsyncModbusTcpClient

from tests.e2e.stack import (
    CURRENT_REGISTER,
    ENABLED_REGISTER,
    api_result,
    demo_stack,
    healthy,
    stack_config,
    wait_until,
)

pytestmark = pytest.mark.e2e


def _start_off(config: dict[str, Any]) -> None:
    config["loadpoints"][0]["mode"] = "off"


async def _wallbox(client: AsyncModbusTcpClient) -> tuple[int, int]:
    response = await client.read_holding_registers(0, count=3, device_id=1)
    assert not response.isError()
    return response.registers[ENABLED_REGISTER], response.registers[CURRENT_REGISTER]


async def test_mode_now_charges_and_off_stops(tmp_path: Path) -> None:
    async with (
        demo_stack(tmp_path, stack_config(_start_off)) as stack,
        httpx.AsyncClient(base_url=stack.base_url, timeout=5) as http,
    ):
        await wait_until(lambda: healthy(http), timeout=60)
        modbus = AsyncModbusTcpClient("127.0.0.1", port=stack.wallbox_port)
        await modbus.connect()
        try:
            assert (await _wallbox(modbus))[0] == 0, "mode off must leave the wallbox disabled"

            response = await http.post("/api/loadpoints/1/mode/now")
            assert response.status_code == 200
            assert api_result(response) == "now"

            async def charging_at_max() -> bool:
                enabled, deci_amps = await _wallbox(modbus)
                return enabled == 1 and deci_amps == 160

            await wait_until(charging_at_max, timeout=20)
            power = await wait_until(lambda: _charge_power_above(http, 1000), timeout=20)
            assert power > 1000
            mode = (await http.get("/api/state", params={"jq": ".loadpoints[0].mode"})).json()
            assert mode == "now" or mode == {"result": "now"}

            response = await http.post("/api/loadpoints/1/mode/off")
            assert response.status_code == 200

            async def disabled() -> bool:
                return (await _wallbox(modbus))[0] == 0

            await wait_until(disabled, timeout=10)
            await wait_until(lambda: _charge_power_at_most(http, 0), timeout=20)
        finally:
            modbus.close()

        stack.proc.send_signal(signal.SIGINT)
        assert stack.proc.wait(timeout=30) == 0


async def _charge_power(http: httpx.AsyncClient) -> float | None:
    response = await http.get("/api/state", params={"jq": ".loadpoints[0].chargePower"})
    if response.status_code != 200:
        return None
    value = api_result(response)
    return float(value) if isinstance(value, (int, float)) else None


async def _charge_power_above(http: httpx.AsyncClient, watts: float) -> float | None:
    power = await _charge_power(http)
    return power if power is not None and power > watts else None


async def _charge_power_at_most(http: httpx.AsyncClient, watts: float) -> bool:
    power = await _charge_power(http)
    return power is not None and power <= watts


def _other_devices(config: dict[str, Any]) -> None:
    """The demo home on other hardware: an Alfen Eve, a SunSpec grid meter and an SDM72 measuring the PV."""
    _start_off(config)
    sim = config["simulator"]
    sim.update(wallbox_model="alfen", grid_model="sunspec-meter", pv_model="sdm72")
    meters = {meter["name"]: meter for meter in config["meters"]}
    meters["grid"]["type"] = "sunspec"
    meters["pv"]["type"] = "sdm72"
    config["chargers"][0]["type"] = "alfen"


async def test_the_demo_runs_on_another_mix_of_devices(tmp_path: Path) -> None:
    async with (
        demo_stack(tmp_path, stack_config(_other_devices)) as stack,
        httpx.AsyncClient(base_url=stack.base_url, timeout=5) as http,
    ):
        await wait_until(lambda: healthy(http), timeout=60)

        async def pv_and_grid_read() -> bool:
            state = api_result(await http.get("/api/state"))
            return bool(state.get("pvPower")) and state.get("grid", {}).get("power") is not None

        await wait_until(pv_and_grid_read, timeout=30)
        response = await http.post("/api/loadpoints/1/mode/now")
        assert response.status_code == 200
        power = await wait_until(lambda: _charge_power_above(http, 1000), timeout=30)
        assert power > 1000  # the Alfen's own meter, read back through the actuator

        async def importing() -> bool:  # 11 kW of car is more than the sun gives: the grid meter sees it
            grid = api_result(await http.get("/api/state", params={"jq": ".grid.power"}))
            return isinstance(grid, (int, float)) and grid > 0

        await wait_until(importing, timeout=20)
        assert (await http.post("/api/loadpoints/1/mode/off")).status_code == 200
        await wait_until(lambda: _charge_power_at_most(http, 0), timeout=30)
