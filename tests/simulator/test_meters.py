"""Meter models (SunSpec meter 203, SunSpec float inverter 113, generic meter) and serving rules."""

from __future__ import annotations

import struct
from collections.abc import Sequence

import pytest
from pymodbus.client import AsyncModbusTcpClient

from services.simulator.home import serve_home
from shared.config import SimulatedDevice, SimulatorSettings
from tests.support.broker import free_port
from tests.support.modbus import Device, simulated_device

F32 = AsyncModbusTcpClient.DATATYPE.FLOAT32


async def connect(dev: Device) -> AsyncModbusTcpClient:
    client = AsyncModbusTcpClient(dev.host, port=dev.port, framer=dev.framer, timeout=2, retries=0)
    assert await client.connect()
    return client


def s16(value: int) -> int:
    return value - 0x10000 if value >= 0x8000 else value


async def sunspec_models(client: AsyncModbusTcpClient, unit: int = 1) -> dict[int, list[int]]:
    """Model id → its block registers, walking the chain from 40002."""
    found: dict[int, list[int]] = {}
    address = 40002
    while True:
        model_id, length = (await client.read_holding_registers(address, count=2, device_id=unit)).registers
        if model_id == 0xFFFF:
            return found
        block = await client.read_holding_registers(address + 2, count=length, device_id=unit)
        found[model_id] = list(block.registers)
        address += 2 + length


async def test_sunspec_meter_203_serves_scaled_grid_power_and_energy() -> None:
    async with simulated_device("sunspec-meter") as dev:
        client = await connect(dev)
        dev.advance(3600)
        models = await sunspec_models(client)
        assert list(models) == [1, 203]
        assert len(models[203]) == 105
        block = models[203]
        w = s16(block[16]) * 10 ** s16(block[20])
        assert w == pytest.approx(dev.state.grid_w, abs=1)
        phase_w = [s16(block[17 + i]) * 10 ** s16(block[20]) for i in range(3)]
        assert sum(phase_w) == pytest.approx(w, abs=3)
        volts = s16(block[6]) * 10 ** s16(block[13])
        assert volts == pytest.approx(230)
        exported_wh = (block[36] << 16 | block[37]) * 10 ** s16(block[52])
        grid = dev.sim.points["grid"]
        assert exported_wh == pytest.approx(grid.export_kwh * 1000, abs=1)
        client.close()


async def test_sunspec_float_inverter_113() -> None:
    async with simulated_device("sunspec-inverter-float") as dev:
        client = await connect(dev)
        models = await sunspec_models(client)
        assert list(models) == [1, 113]
        block = models[113]
        w = client.convert_from_registers(block[20:22], F32)
        assert w == pytest.approx(dev.state.pv_w, rel=1e-6)
        assert client.convert_from_registers(block[22:24], F32) == pytest.approx(50)
        client.close()


async def test_common_model_names_the_device() -> None:
    async with simulated_device("sunspec-inverter") as dev:
        client = await connect(dev)
        common = (await sunspec_models(client))[1]
        manufacturer = b"".join(r.to_bytes(2, "big") for r in common[0:16]).rstrip(b"\0")
        assert manufacturer == b"chargebus"
        client.close()


def f32_from(regs: Sequence[int], little: bool = False) -> float:
    words = list(regs)[::-1] if little else list(regs)
    value: float = struct.unpack(">f", b"".join(w.to_bytes(2, "big") for w in words))[0]
    return value


async def test_generic_meter_serves_its_configured_registers() -> None:
    registers = [
        {"value": "power", "address": 10, "type": "float32", "table": "input"},
        {"value": "power", "address": 20, "type": "float32", "word_order": "little", "table": "input"},
        {"value": "voltage_l1", "address": 0, "type": "uint16", "scale": 0.1},
        {"value": "import", "address": 2, "type": "int32", "scale": 0.01},
    ]
    async with simulated_device("generic-meter", source="pv", registers=registers) as dev:
        client = await connect(dev)
        pv_consumption = -dev.state.pv_w  # the pv point counts consumption-positive
        regs = (await client.read_input_registers(10, count=12, device_id=1)).registers
        assert f32_from(regs[0:2]) == pytest.approx(pv_consumption, rel=1e-6)
        assert f32_from(regs[10:12], little=True) == pytest.approx(pv_consumption, rel=1e-6)
        assert (await client.read_holding_registers(0, count=1, device_id=1)).registers == [2300]
        client.close()


async def test_generic_meter_needs_registers() -> None:
    with pytest.raises(ValueError, match="registers"):
        async with simulated_device("generic-meter"):
            pass


async def test_unknown_unit_ids_and_addresses_are_modbus_errors() -> None:
    async with simulated_device("sdm630", unit_id=7) as dev:
        client = await connect(dev)
        assert not (await client.read_input_registers(0, count=2, device_id=7)).isError()
        assert (await client.read_input_registers(0, count=2, device_id=1)).isError()
        assert (await client.read_input_registers(0x2000, count=2, device_id=7)).isError()
        assert (await client.write_register(0, 1, device_id=7)).isError()
        client.close()


async def test_several_devices_share_one_port_by_unit_id() -> None:
    port = free_port()
    settings = SimulatorSettings(
        devices=[
            SimulatedDevice(name="grid", model="sdm630", port=port, unit_id=1, source="grid"),
            SimulatedDevice(name="pv", model="sdm630", port=port, unit_id=2, source="pv"),
        ]
    )
    async with serve_home(settings) as home:
        client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
        assert await client.connect()
        grid = await client.read_input_registers(0x34, count=2, device_id=1)
        pv = await client.read_input_registers(0x34, count=2, device_id=2)
        assert f32_from(grid.registers) == pytest.approx(home.state.grid_w, abs=1)
        assert f32_from(pv.registers) == pytest.approx(-home.state.pv_w, abs=1)
        client.close()


async def test_a_busy_port_is_a_clear_error() -> None:
    port = free_port()
    settings = SimulatorSettings(devices=[SimulatedDevice(name="grid", model="sdm630", port=port)])
    async with serve_home(settings):
        with pytest.raises(OSError, match=str(port)):
            async with serve_home(settings):
                pass
