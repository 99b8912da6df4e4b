"""A Modbus device that answers garbage: the meter-reader and the charger-actuator (in-process here: the
fault is the device, not the process) report it, keep running and keep serving the devices that work."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable

import pytest

from services.charger_actuator.service import run as run_actuator
from services.meter_reader.service import run as run_meter_reader
from shared.config import Config, MqttSettings, parse_config
from tests.support.probe import Probe

pytestmark = pytest.mark.faults

Answer = Callable[[bytes], bytes]


def _garbage(request: bytes) -> bytes:
    """Random bytes of a plausible length, sometimes behind the request's own MBAP header."""
    noise = os.urandom(7 + request[0] % 20) if request else os.urandom(9)
    return request[:4] + noise if len(request) > 4 and noise[0] % 2 else noise


def _wrong_length(request: bytes) -> bytes:
    """A well-formed header announcing far more than follows (a confused RS485 gateway)."""
    return request[:4] + b"\x00\xff" + request[6:7] + b"\x03\x02\x00"


async def _device(answer: Answer) -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while request := await reader.read(260):
                writer.write(answer(request))
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture(params=[_garbage, _wrong_length], ids=["random-bytes", "wrong-length"])
async def device_port(request: pytest.FixtureRequest) -> AsyncIterator[int]:
    async for port in _device(request.param):
        yield port


def _config(mqtt: MqttSettings, port: int) -> Config:
    modbus = {"protocol": "tcp", "host": "127.0.0.1", "port": port, "id": 1, "timeout_s": 0.3}
    return parse_config(
        {
            "meters": [
                {"name": "grid", "type": "sdm630", "usage": "grid", "modbus": modbus, "interval_s": 0.2}
            ],
            "chargers": [{"name": "box", "type": "demo", "modbus": modbus, "interval_s": 0.2}],
            "loadpoints": [{"title": "Garage", "charger": "box"}],
        }
    ).model_copy(update={"mqtt": mqtt})


async def test_garbage_answers_are_reported_and_nothing_stops(
    mqtt_settings: MqttSettings, probe: Probe, device_port: int
) -> None:
    config = _config(mqtt_settings, device_port)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(run(config, stop)) for run in (run_meter_reader, run_actuator)]
    internal = mqtt_settings.internal
    try:
        reading = await probe.wait_value(f"{internal}/meters/grid", lambda v: json.loads(v)["stale"])
        assert json.loads(reading)["error"]
        status = await probe.wait_value(
            f"{internal}/chargers/1/status", lambda v: bool(json.loads(v)["error"])
        )
        assert "not reachable" in json.loads(status)["error"] or json.loads(status)["offline"]
        assert await probe.wait_state("site/grid/error", bool)
        assert not [task for task in tasks if task.done()], "a garbage answer must not end a service"
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 15)
