"""Tasmota (SML reading head, energy monitoring) and an OpenDTU inverter over a real MQTT broker, each
publishing its real payloads; a device that falls silent makes its meter stale after the timeout."""

from __future__ import annotations

from typing import Any

import pytest

from services.simulator.devices.mqtt_devices import MqttDevice
from shared.config import MqttSettings
from tests.support.broker import wait_for
from tests.support.devices import Meter, io_for, meter, served
from tests.support.probe import Probe


def broker(mqtt: MqttSettings) -> str:
    return f"{mqtt.host}:{mqtt.port}"


async def fresh(m: Meter, device: MqttDevice) -> None:
    """Wait until the device has published since the meter subscribed."""
    seen = device.published
    await wait_for(lambda: device.published > seen + 1, timeout=10)


async def test_tasmota_sml_as_grid_meter_and_stale_when_silent(mqtt_settings: MqttSettings) -> None:
    spec: dict[str, Any] = {
        "source": "grid",
        "broker": broker(mqtt_settings),
        "topic": "sml1",
        "publish_s": 0.1,
    }
    async with served("tasmota-sml", **spec) as s, io_for(mqtt_settings) as io:
        assert isinstance(s.device, MqttDevice)
        params = {"topic": "sml1", "timeout": 1}
        async with meter(io, template="tasmota-sml", usage="grid", params=params) as m:
            await fresh(m, s.device)
            reading = await m.poll()
            assert not reading.stale, reading.error
            grid = s.home.sim.points["grid"]
            assert reading.power_w == pytest.approx(round(grid.power_w))
            assert reading.energy_kwh == pytest.approx(grid.import_kwh, abs=1e-3)
            assert reading.return_energy_kwh == pytest.approx(grid.export_kwh, abs=1e-3)
            s.device.silent = True
            sensor = io.mqtt.latest("tele/sml1/SENSOR")
            assert sensor is not None
            await wait_for(lambda: not sensor.fresh, timeout=5)
            stale = await m.poll()
        assert stale.stale and stale.error is not None and "timeout 1 s" in stale.error


async def test_tasmota_energy_plug(mqtt_settings: MqttSettings) -> None:
    spec: dict[str, Any] = {
        "source": "house",
        "broker": broker(mqtt_settings),
        "topic": "plug7",
        "publish_s": 0.1,
    }
    async with served("tasmota-energy", **spec) as s, io_for(mqtt_settings) as io:
        assert isinstance(s.device, MqttDevice)
        async with meter(io, template="tasmota-energy", usage="aux", params={"topic": "plug7"}) as m:
            await fresh(m, s.device)
            reading = await m.poll()
        assert reading.power_w == pytest.approx(round(s.home.sim.house_w)) and not reading.stale
        assert reading.voltages_v == (230.0, 0.0, 0.0)


async def test_opendtu_inverter_as_pv_meter(mqtt_settings: MqttSettings) -> None:
    spec: dict[str, Any] = {
        "source": "pv",
        "broker": broker(mqtt_settings),
        "topic": "114172220003",
        "publish_s": 0.1,
    }
    async with served("opendtu", **spec) as s, io_for(mqtt_settings) as io:
        assert isinstance(s.device, MqttDevice)
        async with meter(io, template="opendtu", usage="pv", params={"serial": "114172220003"}) as m:
            await fresh(m, s.device)
            reading = await m.poll()
        assert reading.power_w == pytest.approx(s.home.sim.pv_w, abs=0.1) and (reading.power_w or 0) > 1000
        assert reading.energy_kwh == pytest.approx(s.home.sim.points["pv"].export_kwh, abs=1e-3)
        assert not reading.stale


async def test_device_payload_nonsense_is_an_error_not_a_value(mqtt_settings: MqttSettings) -> None:
    sources = {
        "power": {"source": "mqtt", "topic": "dev/x/power", "jq": ".p", "scale": 1000, "timeout_s": 30}
    }
    async with (
        io_for(mqtt_settings) as io,
        meter(io, type="custom", usage="grid", sources=sources) as m,
        Probe(mqtt_settings) as probe,
    ):
        latest = io.mqtt.latest("dev/x/power")
        assert latest is not None
        for payload, expected in [
            ('{"p": 1.5}', 1500.0),
            ('{"p": "2.5"}', 2500.0),
            ('{"p": null}', None),
            ("not json", None),
            ('{"p": 1e400}', None),
        ]:
            await probe.publish("dev/x/power", payload)
            raw = payload.encode()
            await wait_for(lambda t=latest, p=raw: t.last is not None and t.last.value == p, timeout=5)
            reading = await m.poll()
            if expected is None:
                assert reading.stale and reading.error, payload
            else:
                assert reading.power_w == expected and not reading.stale, payload
