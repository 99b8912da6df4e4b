"""The demo home's devices read and written with a real pymodbus client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.framer import FramerType

from services.simulator.clock import ManualClock
from services.simulator.home import serve_home
from services.simulator.service import run
from shared.config import Config, ConfigError, SimulatorSettings
from tests.support.broker import free_port
from tests.support.modbus import SUNNY_NOON, Device, simulated_device, simulated_home

F32 = AsyncModbusTcpClient.DATATYPE.FLOAT32
U32 = AsyncModbusTcpClient.DATATYPE.UINT32


async def client_for(port: int, framer: FramerType = FramerType.SOCKET) -> AsyncModbusTcpClient:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, framer=framer, timeout=2, retries=0)
    assert await client.connect()
    return client


@pytest.fixture
async def sdm() -> AsyncIterator[tuple[Device, AsyncModbusTcpClient]]:
    async with simulated_device("sdm630") as dev:
        client = await client_for(dev.port)
        yield dev, client
        client.close()


async def read_f32(
    client: AsyncModbusTcpClient, address: int, *, unit: int = 1, input_regs: bool = False
) -> float:
    read = client.read_input_registers if input_regs else client.read_holding_registers
    response = await read(address, count=2, device_id=unit)
    assert not response.isError(), response
    value = client.convert_from_registers(response.registers, F32)
    assert isinstance(value, float)
    return value


async def test_sunspec_inverter_starts_with_suns_and_chains_its_models() -> None:
    async with simulated_device("sunspec-inverter") as dev:
        client = await client_for(dev.port)
        marker = await client.read_holding_registers(40000, count=2, device_id=1)
        assert client.convert_from_registers(marker.registers, U32) == 0x53756E53
        assert bytes.fromhex("".join(f"{r:04x}" for r in marker.registers)) == b"SunS"
        models, address = [], 40002
        while True:
            header = (await client.read_holding_registers(address, count=2, device_id=1)).registers
            models.append(header[0])
            if header[0] == 0xFFFF:
                break
            address += 2 + header[1]
        assert models == [1, 103, 0xFFFF]
        # model 103: W at block offset 12 with W_SF at 13
        block = 40002 + 2 + 66 + 2
        regs = (await client.read_holding_registers(block, count=50, device_id=1)).registers
        w = regs[12] - 0x10000 if regs[12] >= 0x8000 else regs[12]
        sf = regs[13] - 0x10000 if regs[13] >= 0x8000 else regs[13]
        assert w * 10**sf == pytest.approx(dev.state.pv_w, abs=1)
        assert dev.state.pv_w > 1000  # sunny noon
        client.close()


async def test_sdm630_serves_float32_values_at_its_input_registers(
    sdm: tuple[Device, AsyncModbusTcpClient],
) -> None:
    dev, client = sdm
    assert await read_f32(client, 0x0000, input_regs=True) == pytest.approx(230)
    assert await read_f32(client, 0x0034, input_regs=True) == pytest.approx(dev.state.grid_w, abs=0.01)
    assert await read_f32(client, 0x0046, input_regs=True) == pytest.approx(50)
    phases = [await read_f32(client, 0x000C + 2 * i, input_regs=True) for i in range(3)]
    assert sum(phases) == pytest.approx(dev.state.grid_w, abs=0.05)


async def test_sdm630_energy_counters_move_with_time() -> None:
    night = ManualClock(SUNNY_NOON.replace(hour=1))
    async with simulated_device("sdm630", clock=night, battery_max_power_w=0, house_base_w=600) as dev:
        client = await client_for(dev.port)
        before = await read_f32(client, 0x0048, input_regs=True)
        night.advance(3600)
        after = await read_f32(client, 0x0048, input_regs=True)
        assert after - before == pytest.approx(0.6, abs=1e-4)  # 600 W for an hour
        assert await read_f32(client, 0x004A, input_regs=True) == 0
        client.close()


async def test_sdm630_is_read_with_function_code_4_only(sdm: tuple[Device, AsyncModbusTcpClient]) -> None:
    _, client = sdm
    response = await client.read_holding_registers(0x0034, count=2, device_id=1)
    assert response.isError()


async def test_demo_wallbox_write_makes_power_rise_and_is_logged() -> None:
    async with simulated_device("demo", car={"capacity_kwh": 60, "soc_pct": 35}) as dev:
        client = await client_for(dev.port)
        assert (await client.read_holding_registers(0, count=1, device_id=1)).registers == [2]  # B
        assert await read_f32(client, 4) == 0
        assert not (await client.write_register(2, 100, device_id=1)).isError()  # 10.0 A
        assert not (await client.write_register(1, 1, device_id=1)).isError()
        assert (await client.read_holding_registers(0, count=4, device_id=1)).registers == [3, 1, 100, 3]
        assert await read_f32(client, 4) == pytest.approx(10 * 3 * 230)
        assert await read_f32(client, 8) == pytest.approx(35)
        assert await read_f32(client, 22) == pytest.approx(60)
        record = await dev.writes.wait_for(lambda r: r.point == "max_current")
        assert record.address == 2
        assert record.value == pytest.approx(10.0)
        assert [r.point for r in dev.writes] == ["max_current", "enabled"]
        assert not (await client.write_register(3, 1, device_id=1)).isError()  # phase switch
        assert await read_f32(client, 4) == pytest.approx(10 * 230)
        assert dev.state.grid_w == pytest.approx(
            dev.state.house_w + 2300 - dev.state.pv_w - dev.state.battery_w
        )
        client.close()


async def test_demo_wallbox_refuses_bad_writes_and_keeps_its_state() -> None:
    async with simulated_device("demo") as dev:
        client = await client_for(dev.port)
        assert (await client.write_register(0, 3, device_id=1)).isError()  # status is read-only
        assert (await client.write_register(3, 2, device_id=1)).isError()  # no 2-phase switching
        assert (await client.write_register(1, 7, device_id=1)).isError()
        # one request over enabled, current and phases with a bad phase count changes nothing
        assert (await client.write_registers(1, [1, 100, 2], device_id=1)).isError()
        assert (await client.read_holding_registers(0, count=4, device_id=1)).registers == [2, 0, 160, 3]
        assert len(dev.writes) == 0
        assert not (await client.write_registers(1, [1, 100, 1], device_id=1)).isError()
        assert (await client.read_holding_registers(0, count=4, device_id=1)).registers == [3, 1, 100, 1]
        client.close()


async def test_sunspec_battery_reports_soc_and_power() -> None:
    async with simulated_device("sunspec-battery", battery_soc_pct=55) as dev:
        client = await client_for(dev.port)
        address, found = 40002, {}
        while True:
            header = (await client.read_holding_registers(address, count=2, device_id=1)).registers
            if header[0] == 0xFFFF:
                break
            found[header[0]] = address + 2
            address += 2 + header[1]
        assert list(found) == [1, 103, 124, 802]
        b802 = (await client.read_holding_registers(found[802], count=62, device_id=1)).registers
        sf = b802[54] - 0x10000 if b802[54] >= 0x8000 else b802[54]
        assert b802[9] * 10**sf == pytest.approx(55)
        w = b802[45] - 0x10000 if b802[45] >= 0x8000 else b802[45]
        assert w == pytest.approx(dev.state.battery_w, abs=1)
        assert dev.state.battery_w < 0  # sunny noon: charging from surplus
        client.close()


async def test_the_demo_home_serves_four_devices_on_their_ports() -> None:
    async with simulated_home({"car": {"soc_pct": 50}}, clock=ManualClock(SUNNY_NOON)) as home:
        assert {d.name: d.model for d in home.devices.values()} == {
            "pv": "sunspec-inverter", "grid": "sdm630", "battery": "sunspec-battery", "wallbox": "demo",
        }  # fmt: skip
        wallbox = await client_for(home.wallbox.port)
        grid = await client_for(home.devices["grid"].port)
        before = await read_f32(grid, 0x0034, input_regs=True)
        await wallbox.write_register(1, 1, device_id=1)
        after = await read_f32(grid, 0x0034, input_regs=True)
        assert home.state.wallbox_w == pytest.approx(16 * 3 * 230)
        assert after - before == pytest.approx(home.state.wallbox_w - (home.state.battery_w - 0), abs=6000)
        assert after == pytest.approx(home.state.grid_w, abs=0.01)
        wallbox.close()
        grid.close()


async def test_service_serves_the_configured_home_until_stopped() -> None:
    port = free_port()
    config = Config(
        simulator=SimulatorSettings(
            pv_port=free_port(), grid_port=free_port(), battery_port=free_port(), wallbox_port=port
        )
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run(config, stop))
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    for _ in range(100):
        if await client.connect():
            break
        await asyncio.sleep(0.05)
    assert (await client.read_holding_registers(0, count=4, device_id=1)).registers[1:] == [0, 160, 3]
    client.close()
    stop.set()
    await asyncio.wait_for(task, 5)
    assert not await AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0).connect()


async def test_write_log_waits_for_a_write_that_has_not_happened_yet() -> None:
    async with simulated_device("demo") as dev:
        client = await client_for(dev.port)
        waiter = asyncio.create_task(
            dev.writes.wait_for(lambda r: r.point == "phases", since=len(dev.writes))
        )
        await client.write_register(1, 1, device_id=1)
        assert not waiter.done()
        await client.write_register(3, 1, device_id=1)
        record = await asyncio.wait_for(waiter, 5)
        assert (record.point, record.value, record.unit) == ("phases", 1, 1)
        assert record.at == dev.state.time
        with pytest.raises(TimeoutError):
            await dev.writes.wait_for(lambda r: r.point == "max_current", timeout=0.05)
        client.close()


async def test_the_home_plays_the_configured_models() -> None:
    settings = {"wallbox_model": "alfen", "grid_model": "sunspec-meter", "pv_model": "sdm72"}
    async with simulated_home(settings, clock=ManualClock(SUNNY_NOON)) as home:
        assert {d.name: d.model for d in home.devices.values()} == {
            "pv": "sdm72", "grid": "sunspec-meter", "battery": "sunspec-battery", "wallbox": "alfen",
        }  # fmt: skip
        pv = await client_for(home.devices["pv"].port)
        assert await read_f32(pv, 0x0034, input_regs=True) == pytest.approx(-home.state.pv_w, abs=0.01)
        alfen = await client_for(home.wallbox.port)
        await alfen.write_registers(1210, alfen.convert_to_registers(8.0, F32), device_id=1)
        assert home.state.wallbox_w == pytest.approx(8 * 3 * 230)
        assert home.wallbox.writes.last("max_current") is not None
        pv.close()
        alfen.close()


TWO_WALLBOXES = {
    "devices": [
        {"name": "grid", "model": "sdm630", "port": 0, "source": "grid"},
        {"name": "garage", "model": "demo", "port": 0},
        {"name": "carport", "model": "demo", "port": 0},
    ],
    "car": {"name": "ev", "soc_pct": 50},
    "cars": [{"name": "van", "soc_pct": 20, "wallbox": 2, "phases": 1}],
}


async def test_a_home_with_two_wallboxes_serves_each_its_own_car() -> None:
    async with simulated_home(TWO_WALLBOXES, clock=ManualClock(SUNNY_NOON)) as home:
        assert [w.name for w in home.wallboxes] == ["garage", "carport"]
        garage = await client_for(home.devices["garage"].port)
        carport = await client_for(home.devices["carport"].port)
        grid = await client_for(home.devices["grid"].port)
        before = await read_f32(grid, 0x0034, input_regs=True)
        await carport.write_register(2, 100, device_id=1)  # 10 A on the van's one phase
        await carport.write_register(1, 1, device_id=1)
        assert await read_f32(carport, 4) == pytest.approx(10 * 230)
        assert await read_f32(garage, 4) == 0  # the other wallbox is not affected
        assert (await garage.read_holding_registers(0, count=1, device_id=1)).registers == [2]  # B: ev waits
        after = await read_f32(grid, 0x0034, input_regs=True)
        assert after - before == pytest.approx(10 * 230, abs=1)
        for client in (garage, carport, grid):
            client.close()


def test_a_car_on_a_wallbox_the_home_does_not_have_is_a_config_error() -> None:
    settings = SimulatorSettings.model_validate({**TWO_WALLBOXES, "cars": [{"name": "van", "wallbox": 3}]})
    with pytest.raises(ConfigError, match="wallbox 3"):
        serve_home(settings)
