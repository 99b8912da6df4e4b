"""Each wallbox model's register map, driven by a real pymodbus client: writes change the physics."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.framer import FramerType

from tests.support.modbus import Device, simulated_device

F32 = AsyncModbusTcpClient.DATATYPE.FLOAT32
F64 = AsyncModbusTcpClient.DATATYPE.FLOAT64


async def connect(dev: Device) -> AsyncModbusTcpClient:
    client = AsyncModbusTcpClient(dev.host, port=dev.port, framer=dev.framer, timeout=2, retries=0)
    assert await client.connect()
    return client


def lsw_first(regs: Sequence[int]) -> int:
    return regs[0] | regs[1] << 16


async def holding(client: AsyncModbusTcpClient, address: int, count: int, unit: int = 1) -> list[int]:
    response = await client.read_holding_registers(address, count=count, device_id=unit)
    assert not response.isError(), response
    return list(response.registers)


# ------------------------------------------------------------------------------------------------- Alfen


async def test_alfen_max_current_write_sets_the_wallbox_current() -> None:
    async with simulated_device("alfen") as dev:
        client = await connect(dev)
        status = await holding(client, 1201, 5)
        assert b"".join(r.to_bytes(2, "big") for r in status).rstrip(b"\0") == b"B1"
        regs = client.convert_to_registers(10.0, F32)
        assert not (await client.write_registers(1210, regs, device_id=1)).isError()
        assert dev.state.wallbox_enabled and dev.state.wallbox_offered_a == 10
        assert client.convert_from_registers(await holding(client, 344, 2), F32) == pytest.approx(
            10 * 3 * 230
        )
        assert client.convert_from_registers(await holding(client, 320, 2), F32) == pytest.approx(10)
        assert client.convert_from_registers(await holding(client, 306, 2), F32) == pytest.approx(230)
        status = await holding(client, 1201, 5)
        assert b"".join(r.to_bytes(2, "big") for r in status).rstrip(b"\0") == b"C2"
        record = await dev.writes.wait_for(lambda r: r.address == 1210)
        assert record.value == pytest.approx(10.0)
        client.close()


async def test_alfen_zero_current_disables_charging() -> None:
    async with simulated_device("alfen") as dev:
        client = await connect(dev)
        await client.write_registers(1210, client.convert_to_registers(16.0, F32), device_id=1)
        assert dev.state.wallbox_status == "C"
        await client.write_registers(1210, client.convert_to_registers(0.0, F32), device_id=1)
        assert not dev.state.wallbox_enabled
        assert dev.state.wallbox_w == 0
        assert client.convert_from_registers(await holding(client, 1210, 2), F32) == 0
        client.close()


async def test_alfen_energy_is_float64_wh_and_phases_switch() -> None:
    async with simulated_device("alfen") as dev:
        client = await connect(dev)
        await client.write_registers(1210, client.convert_to_registers(16.0, F32), device_id=1)
        assert not (await client.write_register(1215, 1, device_id=1)).isError()
        assert dev.state.wallbox_phases == 1
        assert client.convert_from_registers(await holding(client, 344, 2), F32) == pytest.approx(16 * 230)
        dev.advance(3600)
        energy_wh = client.convert_from_registers(await holding(client, 374, 4), F64)
        assert energy_wh == pytest.approx(16 * 230, rel=1e-6)
        client.close()


async def test_alfen_falls_back_to_safe_current_when_not_refreshed() -> None:
    async with simulated_device("alfen") as dev:
        client = await connect(dev)
        await client.write_registers(1210, client.convert_to_registers(16.0, F32), device_id=1)
        dev.advance(30)
        assert dev.state.wallbox_offered_a == 16
        dev.advance(31)
        assert dev.state.wallbox_offered_a == 6
        assert client.convert_from_registers(await holding(client, 1206, 2), F32) == 6
        client.close()


async def test_alfen_refuses_out_of_range_current() -> None:
    async with simulated_device("alfen") as dev:
        client = await connect(dev)
        response = await client.write_registers(1210, client.convert_to_registers(99.0, F32), device_id=1)
        assert response.isError()
        assert not dev.state.wallbox_enabled and len(dev.writes) == 0
        client.close()


# ------------------------------------------------------------------------------------------------- Phoenix


async def test_phoenix_enable_coil_and_max_current_register() -> None:
    async with simulated_device("phoenix") as dev:
        assert dev.unit == 255
        client = await connect(dev)
        status = (await client.read_input_registers(100, count=1, device_id=255)).registers[0]
        assert chr(status & 0xFF) == "B"
        assert not (await client.write_register(528, 10, device_id=255)).isError()
        assert not (await client.write_coil(400, True, device_id=255)).isError()
        assert (await client.read_coils(400, count=1, device_id=255)).bits[0] is True
        assert dev.state.wallbox_w == pytest.approx(10 * 3 * 230)
        power = (await client.read_input_registers(120, count=2, device_id=255)).registers
        assert lsw_first(power) == 10 * 3 * 230
        currents = (await client.read_input_registers(114, count=6, device_id=255)).registers
        assert [lsw_first(currents[i : i + 2]) for i in (0, 2, 4)] == [10, 10, 10]
        status = (await client.read_input_registers(100, count=1, device_id=255)).registers[0]
        assert chr(status & 0xFF) == "C"
        await client.write_coil(400, False, device_id=255)
        assert dev.state.wallbox_status == "B"
        assert [r.point for r in dev.writes] == ["max_current", "enable", "enable"]
        assert (await client.write_register(528, 3, device_id=255)).isError()  # below 6 A
        client.close()


async def test_phoenix_energy_holding_904_is_wh_lsw_first() -> None:
    async with simulated_device("phoenix") as dev:
        client = await connect(dev)
        await client.write_coil(400, True, device_id=255)
        dev.advance(3600)
        energy = (await client.read_holding_registers(904, count=2, device_id=255)).registers
        assert lsw_first(energy) == 16 * 3 * 230
        client.close()


# ------------------------------------------------------------------------------------------------- EVSE-DIN


async def test_evsedin_speaks_rtu_over_tcp() -> None:
    async with simulated_device("evsedin") as dev:
        assert dev.framer == FramerType.RTU
        client = await connect(dev)
        assert (await holding(client, 1002, 1)) == [2]  # B
        assert not (await client.write_register(1000, 8, device_id=1)).isError()
        assert dev.state.wallbox_offered_a == 8 and dev.state.wallbox_status == "C"
        assert (await holding(client, 1000, 3)) == [8, 8, 3]
        await client.write_register(1000, 0, device_id=1)
        assert not dev.state.wallbox_enabled
        client.close()


async def test_evsedin_milliamp_mode() -> None:
    async with simulated_device("evsedin") as dev:
        client = await connect(dev)
        assert (await holding(client, 1005, 1))[0] >= 17
        await client.write_register(2005, 1 << 7, device_id=1)
        await client.write_register(1000, 1050, device_id=1)  # 10.5 A
        assert dev.state.wallbox_offered_a == pytest.approx(10.5)
        client.close()


# ------------------------------------------------------------------------------------------------- ABL


async def test_abl_speaks_ascii_and_takes_duty_cycle_currents() -> None:
    async with simulated_device("abl") as dev:
        assert dev.framer == FramerType.ASCII
        client = await connect(dev)
        firmware = await holding(client, 0x01, 2)
        assert firmware[1] & 0xFF & (1 << 5)  # current sensors present
        assert (await holding(client, 0x04, 1))[0] & 0xFF == 0xB1
        assert (await holding(client, 0x0F, 5))[3] & 0x0FFF == 0x03E8  # disabled
        duty = int(10 / 0.06)  # 166, as a controller computes it
        assert not (await client.write_registers(0x14, [duty], device_id=1)).isError()
        assert dev.state.wallbox_status == "C"
        assert dev.state.wallbox_offered_a == pytest.approx(duty * 0.06)
        assert (await holding(client, 0x04, 1))[0] & 0xFF == 0xC2
        currents = await holding(client, 0x2E, 5)
        assert currents[4] == round(duty * 0.06 * 10)  # L1 is the last of the three
        await client.write_registers(0x14, [0x03E8], device_id=1)
        assert not dev.state.wallbox_enabled
        assert (await holding(client, 0x2E, 5))[2:] == [0x03E8] * 3
        client.close()


async def test_abl_outlet_disable_and_reenable() -> None:
    async with simulated_device("abl") as dev:
        client = await connect(dev)
        await client.write_registers(0x14, [200], device_id=1)
        await client.write_registers(0x05, [0xE0E0], device_id=1)
        assert (await holding(client, 0x04, 1))[0] & 0xFF == 0xE0
        assert dev.state.wallbox_w == 0
        await client.write_registers(0x05, [0xA1A1], device_id=1)
        assert dev.state.wallbox_status == "C"
        client.close()


# ------------------------------------------------------------------------------------------------- unplugged


@pytest.mark.parametrize("model", ["demo", "alfen", "phoenix", "evsedin", "abl"])
async def test_no_car_no_charging_on_any_wallbox(model: str) -> None:
    async with simulated_device(model, car={"connected": False}) as dev:
        dev.sim.set_enabled(True)
        assert dev.state.wallbox_status == "A"
        assert dev.state.wallbox_w == 0
