"""Load management on the demo with two loadpoints (DESIGN §8, end to end), seen as a user sees it: the two
simulated wallboxes' Modbus registers and ``/api/state``.

The home (at night, an idle battery: the grid meter sees the house and the cars only) has a main fuse of
25 A per phase measured by the grid meter, the garage (priority 1) and the carport under it, both in mode
``now``. 1. circuit: the garage gets its 16 A, the carport what is left. 2. §14a dimming over REST and over
an MQTT topic: both together at most 4.2 kW within seconds, released again. 3. peak shaving: a capacity
tariff limit set over REST holds the cars' import under it, the lower priority giving way first.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest
from pymodbus.client import AsyncModbusTcpClient

from tests.e2e.stack import (
    CURRENT_REGISTER,
    ENABLED_REGISTER,
    Stack,
    api_result,
    healthy,
    running_demo,
    stack_config,
    use_scenario,
    wait_until,
)
from tests.support.broker import free_port

pytestmark = pytest.mark.e2e

MAIN_FUSE_A = 25
HOUSE_W = 400
VOLTAGE_V = 230
DIMMED_W = 4200
RELAY_TOPIC = "home/grid-operator/relay"
NIGHT = {
    "start": "23:00",
    "house": {"base_w": HOUSE_W},
    "battery": {"capacity_kwh": 10, "soc_pct": 50, "max_charge_w": 0, "max_discharge_w": 0},
    "meters": {"grid": 0.5, "charge": 0.5},
    "cars": [
        {"name": "ev", "capacity_kwh": 500, "soc_pct": 30, "ramp_a_per_s": 8},
        {"name": "van", "capacity_kwh": 500, "soc_pct": 30, "ramp_a_per_s": 8, "wallbox": 2},
    ],
}


def two_loadpoints(directory: Path) -> dict[str, Any]:
    """The demo home with a second wallbox (the carport) and both under the main fuse."""
    data = stack_config()
    sim = data["simulator"]
    carport = free_port()
    sim["devices"] = [
        {"name": "pv", "model": "sunspec-inverter", "port": sim["pv_port"], "source": "pv"},
        {"name": "grid", "model": "sdm630", "port": sim["grid_port"], "source": "grid"},
        {"name": "battery", "model": "sunspec-battery", "port": sim["battery_port"], "source": "battery"},
        {"name": "garage", "model": "demo", "port": sim["wallbox_port"]},
        {"name": "carport", "model": "demo", "port": carport},
    ]
    use_scenario(data, directory, NIGHT)
    second = copy.deepcopy(data["chargers"][0])
    second["name"] = "carport"
    second["modbus"]["port"] = carport
    data["chargers"].append(second)
    garage = data["loadpoints"][0]
    garage.update(mode="now", priority=1, circuit="main")
    data["loadpoints"].append(
        {"title": "Carport", "charger": "carport", "mode": "now", "circuit": "main", "min_current_a": 6,
         "max_current_a": 16, "phases": 3}
    )  # fmt: skip
    data["circuits"] = [{"name": "main", "title": "Main fuse", "max_current_a": MAIN_FUSE_A, "meter": "grid"}]
    data["dimming"] = {"max_power_w": DIMMED_W, "topic": RELAY_TOPIC}
    data["peak_shaving"] = {"window_s": 900}
    # a limit that lets go comes back after this (default 10 s): the test need not wait that long
    data["optimizer"] = {**data.get("optimizer", {}), "control": {"adjust_interval_s": 2}}
    return data


@dataclass
class Home:
    stack: Stack
    http: httpx.AsyncClient
    garage: AsyncModbusTcpClient
    carport: AsyncModbusTcpClient

    async def amps(self) -> tuple[float, float]:
        """A offered at the garage and the carport (0 when disabled)."""
        out = []
        for client in (self.garage, self.carport):
            response = await client.read_holding_registers(0, count=3, device_id=1)
            assert not response.isError(), response
            registers = response.registers
            out.append(registers[CURRENT_REGISTER] / 10 if registers[ENABLED_REGISTER] else 0.0)
        return out[0], out[1]

    async def state(self) -> dict[str, Any]:
        response = await self.http.get("/api/state")
        response.raise_for_status()
        result: dict[str, Any] = api_result(response)
        return result

    async def until_amps(self, check: Any, timeout: float = 15.0) -> tuple[float, float]:
        async def test() -> tuple[float, float] | None:
            amps = await self.amps()
            return amps if check(*amps) else None

        found: tuple[float, float] = await wait_until(test, timeout=timeout)
        return found


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("load-management")
    with running_demo(directory, two_loadpoints(directory)) as running:
        yield running


@pytest.fixture
async def home(stack: Stack) -> AsyncIterator[Home]:
    carport_port = next(c["modbus"]["port"] for c in stack.config["chargers"] if c["name"] == "carport")
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=5) as http:
        await wait_until(lambda: healthy(http), timeout=90)
        garage = AsyncModbusTcpClient("127.0.0.1", port=stack.wallbox_port)
        carport = AsyncModbusTcpClient("127.0.0.1", port=carport_port)
        await garage.connect()
        await carport.connect()
        try:
            yield Home(stack, http, garage, carport)
        finally:
            garage.close()
            carport.close()


async def test_circuit_gives_the_higher_priority_its_current_and_the_other_what_is_left(home: Home) -> None:
    house_a = HOUSE_W / 3 / VOLTAGE_V
    _, carport = await home.until_amps(lambda g, c: g == 16 and c > 0, timeout=40)
    assert 6 <= carport <= MAIN_FUSE_A - 16 - house_a, "the main fuse must not carry more than 25 A"
    state = await home.state()
    main = state["circuits"]["main"]
    assert main["maxCurrent"] == MAIN_FUSE_A and main["title"] == "Main fuse"
    assert 0 < main["current"] <= MAIN_FUSE_A
    assert state["loadpoints"][1]["limitedBy"] == "circuit:main"


async def test_dimming_limits_both_loadpoints_within_seconds_and_releases(home: Home) -> None:
    await home.until_amps(lambda g, c: g == 16 and c > 0, timeout=40)
    response = await home.http.post("/api/dimmed/true")
    assert response.status_code == 200, response.text
    try:
        dimmed = await home.until_amps(lambda g, c: (g + c) * 3 * VOLTAGE_V <= DIMMED_W, timeout=5)
        assert dimmed[0] >= 6 and dimmed[1] == 0  # the garage's priority keeps it charging at its minimum

        async def shown() -> bool:
            state = await home.state()
            return state["dimmed"] is True and state["loadpoints"][0]["dimmed"] is True

        await wait_until(shown, timeout=5)
    finally:
        assert (await home.http.post("/api/dimmed/false")).status_code == 200
    await home.until_amps(lambda g, c: g == 16 and c > 0, timeout=20)

    # the grid operator's relay on an MQTT topic (as a Shelly or a Node-RED flow would publish it)
    async with aiomqtt.Client("127.0.0.1", home.stack.broker_port) as client:
        await client.publish(RELAY_TOPIC, "on", retain=True)
        try:
            await home.until_amps(lambda g, c: (g + c) * 3 * VOLTAGE_V <= DIMMED_W, timeout=5)
        finally:
            await client.publish(RELAY_TOPIC, "off", retain=True)
    await home.until_amps(lambda g, c: g == 16 and c > 0, timeout=20)
    assert (await home.state())["dimmed"] is False


async def test_peak_shaving_holds_the_import_under_the_capacity_limit(home: Home) -> None:
    await home.until_amps(lambda g, c: g == 16 and c > 0, timeout=40)
    limit_w = 8000
    response = await home.http.post(f"/api/peakshavinglimit/{limit_w}")
    assert response.status_code == 200, response.text
    garage, carport = await home.until_amps(
        lambda g, c: (g + c) * 3 * VOLTAGE_V <= limit_w - HOUSE_W, timeout=10
    )
    assert carport <= garage, "the lower priority gives way first"
    try:

        async def shown() -> bool:
            state = await home.state()
            return state["peakShavingActive"] is True and state["peakShavingLimit"] == limit_w

        await wait_until(shown, timeout=5)
    finally:
        assert (await home.http.post("/api/peakshavinglimit/0")).status_code == 200
    await home.until_amps(lambda g, c: g == 16 and c > 0, timeout=20)
