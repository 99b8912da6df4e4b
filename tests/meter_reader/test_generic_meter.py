"""Drivers against a real Modbus TCP server: a user-described generic meter, and an SDM630 behind an
RTU-over-TCP gateway."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog
from pymodbus.framer import FramerType

from services.meter_reader.drivers import driver_for
from services.meter_reader.poller import MeterPoller
from shared.config_devices import MeterConfig
from shared.devices.codec import DataType, encode
from shared.devices.modbus import ModbusLink
from shared.messages import MeterReading
from tests.meter_reader.conftest import RegisterServer, ServerFactory, sdm_image

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


async def _ignore(_: MeterReading) -> None:
    return None


async def poll(config: MeterConfig) -> MeterReading:
    link = ModbusLink(config.modbus)
    poller = MeterPoller(
        config,
        driver_for(config),
        link,
        _ignore,
        clock=lambda: NOW,
        log=structlog.get_logger(),
    )
    try:
        return await poller.poll_once()
    finally:
        link.close()


def meter(server: RegisterServer, **fields: Any) -> MeterConfig:
    protocol = "rtuovertcp" if server.framer is FramerType.RTU else "tcp"
    base = {
        "name": "m",
        "modbus": {
            "protocol": protocol,
            "host": "127.0.0.1",
            "port": server.port,
            "id": server.image.unit,
            "timeout_s": 0.5,
        },
    }
    return MeterConfig.model_validate({**base, **fields})


async def test_generic_meter_decodes_types_word_orders_scale_and_sign(register_server: ServerFactory) -> None:
    server = await register_server(unit=7)
    # A battery inverter with vendor quirks: power in deciwatts, LSW first, counting charge as positive.
    server.set("input", 100, encode(-25_000, DataType.INT32, "little"))
    server.set("holding", 200, encode(1234.5, DataType.FLOAT64, "big"))
    server.set("holding", 210, encode(987_654, DataType.UINT32, "big"))
    server.set("holding", 300, encode(655, DataType.UINT16))
    for i, amps in enumerate((3.5, 3.6, 3.7)):
        server.set("holding", 400 + 2 * i, encode(amps, DataType.FLOAT32, "little"))
    config = meter(
        server,
        type="modbus",
        usage="battery",
        capacity_kwh=10,
        registers={
            "power": {
                "address": 100,
                "source": "input",
                "type": "int32",
                "word_order": "little",
                "scale": 0.1,
                "invert": True,
            },
            "energy": {"address": 200, "type": "float64"},
            "return_energy": {"address": 210, "type": "uint32", "scale": 0.001},
            "soc": {"address": 300, "type": "uint16", "scale": 0.1},
            "currents": [
                {"address": 400 + 2 * i, "type": "float32", "word_order": "little"} for i in range(3)
            ],
        },
    )
    result = await poll(config)
    assert not result.stale and result.error is None
    assert result.power_w == pytest.approx(2500.0)  # discharging 2.5 kW
    assert result.energy_kwh == 1234.5
    assert result.return_energy_kwh == pytest.approx(987.654)
    assert result.soc_pct == pytest.approx(65.5)
    assert result.currents_a == pytest.approx((3.5, 3.6, 3.7))
    assert result.capacity_kwh == 10.0 and result.timestamp == NOW


@pytest.mark.parametrize("usage", ["grid", "pv"])
async def test_sdm630_over_rtu_over_tcp(register_server: ServerFactory, usage: str) -> None:
    server = await register_server(framer=FramerType.RTU, unit=2)
    sdm_image(server, (-1150.0, -1150.0, -460.0), import_kwh=500.25, export_kwh=1200.5)
    result = await poll(meter(server, type="sdm630", usage=usage))
    assert not result.stale, result.error
    if usage == "grid":
        assert result.power_w == -2760.0
        assert (result.energy_kwh, result.return_energy_kwh) == (500.25, 1200.5)
        assert result.currents_a == pytest.approx((-1150 / 230, -1150 / 231, -460 / 232))
    else:  # an SDM measuring a PV inverter: production positive, produced energy = what it exported
        assert result.power_w == 2760.0
        assert (result.energy_kwh, result.return_energy_kwh) == (1200.5, 500.25)
        assert result.currents_a == pytest.approx((1150 / 230, 1150 / 231, 460 / 232))
    assert result.voltages_v == (230.0, 231.0, 232.0)


async def test_a_refused_register_makes_the_reading_stale_with_the_reason(
    register_server: ServerFactory,
) -> None:
    server = await register_server()
    server.set("holding", 0, [100])
    config = meter(server, type="modbus", usage="aux", registers={"power": {"address": 50, "type": "int16"}})
    result = await poll(config)
    assert result.stale and result.power_w is None
    assert result.error is not None and "refused" in result.error


async def test_nobody_listening_is_a_connection_error() -> None:
    from tests.support.broker import free_port

    config = MeterConfig.model_validate(
        {
            "name": "gone",
            "type": "sdm",
            "usage": "grid",
            "modbus": {"host": "127.0.0.1", "port": free_port(), "timeout_s": 0.5},
        }
    )
    result = await poll(config)
    assert result.stale and result.error is not None and "cannot connect" in result.error


async def test_a_device_that_accepts_but_never_answers_times_out() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(-1)  # swallow requests until the client gives up
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        config = MeterConfig.model_validate(
            {
                "name": "mute",
                "type": "sdm",
                "usage": "grid",
                "modbus": {"host": "127.0.0.1", "port": port, "timeout_s": 0.3},
            }
        )
        result = await poll(config)
    finally:
        server.close()
        await server.wait_closed()
    assert result.stale and result.error is not None and "no answer" in result.error


async def test_serial_rtu_client_path(register_server: ServerFactory) -> None:
    # pyserial opens "socket://host:port" like a serial port, so the RS485 code path runs end to end here.
    pytest.importorskip("serial")  # pyserial comes with pymodbus[serial]
    server = await register_server(framer=FramerType.RTU, unit=1)
    sdm_image(server, (100.0, 200.0, 300.0), import_kwh=42.0, export_kwh=1.5)
    config = MeterConfig.model_validate(
        {
            "name": "sdm",
            "type": "sdm72",
            "usage": "charge",
            "modbus": {"protocol": "rtu", "device": f"socket://127.0.0.1:{server.port}", "timeout_s": 0.5},
        }
    )
    result = await poll(config)
    assert not result.stale, result.error
    assert (result.power_w, result.energy_kwh, result.return_energy_kwh) == (600.0, 42.0, 1.5)
