"""The whole system on OCPP: `chargebus demo --config examples/ocpp-*.yaml`, driven over REST.

- ``ocpp-demo.yaml``: the simulator's wallbox is an OCPP charge point; mode now charges, off stops.
- ``ocpp-external.yaml``: nothing in the stack plays ``cp1`` — this test does, as a user's wallbox would,
  from outside the stack; mode now starts charging at its metered power, off stops it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from services.simulator.devices.ocpp_cp import SimulatedChargePoint
from tests.e2e.stack import api_result, demo_stack, example_config, healthy, wait_until
from tests.support.modbus import simulated_home

pytestmark = pytest.mark.e2e


async def loadpoint(http: httpx.AsyncClient, key: str) -> Any:
    return api_result(await http.get("/api/state", params={"jq": f".loadpoints[0].{key}"}))


async def test_ocpp_demo_charges_over_ocpp(tmp_path: Path) -> None:
    config = example_config("ocpp-demo.yaml")
    async with (
        demo_stack(tmp_path, config) as stack,
        httpx.AsyncClient(base_url=stack.base_url, timeout=5) as http,
    ):
        await wait_until(lambda: healthy(http), timeout=60)
        assert await wait_until(lambda: _is(http, "connected", True), timeout=30)
        assert (await http.post("/api/loadpoints/1/mode/now")).status_code == 200
        power = await wait_until(lambda: _power_above(http, 10000), timeout=30)
        assert power == pytest.approx(16 * 230 * 3, rel=0.02)
        assert await loadpoint(http, "offeredCurrent") == 16
        assert (await http.post("/api/loadpoints/1/mode/off")).status_code == 200
        await wait_until(lambda: _is(http, "charging", False), timeout=20)
        await wait_until(
            lambda: _is(http, "chargePower", 0), timeout=10
        )  # its own topic: may come a bit later


async def test_external_charge_point_is_driven(tmp_path: Path) -> None:
    config = example_config("ocpp-external.yaml")
    assert not any(d["model"] == "ocpp" for d in config["simulator"]["devices"]), "nothing plays cp1"
    url = f"ws://127.0.0.1:{config['ocpp']['port']}/cp1"
    wallbox = {"name": "wallbox", "model": "ocpp", "port": 0, "url": url, "free_vend": True}
    async with (
        demo_stack(tmp_path, config) as stack,
        httpx.AsyncClient(base_url=stack.base_url, timeout=5) as http,
    ):
        await wait_until(lambda: healthy(http), timeout=60)
        error = await wait_until(lambda: loadpoint(http, "chargerError"), timeout=30)
        assert "not connected" in error
        async with simulated_home({"devices": [wallbox], "car": {"connected": True}}) as outside:
            box = outside.services["wallbox"]
            assert isinstance(box, SimulatedChargePoint)
            assert await wait_until(lambda: _is(http, "connected", True), timeout=30)
            assert (await http.post("/api/loadpoints/1/mode/now")).status_code == 200
            power = await wait_until(lambda: _power_above(http, 10000), timeout=30)
            assert power == pytest.approx(16 * 230 * 3, rel=0.02)  # what the box metered

            def box_charging_at_16_a() -> bool:
                outside.sync()
                return outside.sim.wallbox.status == "C" and outside.sim.wallbox.offered_a == 16

            await wait_until(box_charging_at_16_a, timeout=20)
            assert (await http.post("/api/loadpoints/1/mode/off")).status_code == 200
            await wait_until(lambda: _is(http, "charging", False), timeout=20)
            assert box.status() == "SuspendedEVSE"


async def _is(http: httpx.AsyncClient, key: str, value: Any) -> bool:
    return bool(await loadpoint(http, key) == value)


async def _power_above(http: httpx.AsyncClient, watts: float) -> float | None:
    power = await loadpoint(http, "chargePower")
    return float(power) if isinstance(power, (int, float)) and power > watts else None
