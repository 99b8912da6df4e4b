"""Vehicle SoC, range and odometer: from an MQTT source, or pushed (MQTT ``/set`` and request/reply — the
gateway's ``POST /api/vehicles/<name>/soc/<soc>``); stale after the timeout; and the optimizer acting on it
(limitSoc and minSoc on a charger that reports no SoC)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.meter_reader.service import run
from shared.bus import Bus
from shared.config import Config, MqttSettings, parse_config
from shared.messages import VehicleReading
from shared.setters.table import find, parse_path
from tests.optimizer.test_service import commands, make_config, optimizer, publish_inputs, wait_command
from tests.support.probe import Probe


def config_with(mqtt: MqttSettings, **vehicle: Any) -> Config:
    return parse_config({"vehicles": [{"name": "ev", "capacity_kwh": 60, **vehicle}]}).model_copy(
        update={"mqtt": mqtt}
    )


@contextlib.asynccontextmanager
async def meter_reader(config: Config, probe: Probe) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(run(config, stop))
    online = f"{config.mqtt.internal}/services/meter-reader/status"
    await probe.wait_value(online, lambda v: json.loads(v)["state"] == "online")
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def readings(probe: Probe, name: str = "ev") -> list[VehicleReading]:
    topic = f"{probe.settings.internal}/vehicles/{name}"
    return [VehicleReading.model_validate_json(p) for t, p in probe.history if t == topic and p]


async def next_reading(probe: Probe, check: Any, since: int = 0, timeout: float = 10) -> VehicleReading:
    await probe.wait(lambda _: any(check(r) for r in readings(probe)[since:]), timeout)
    return next(r for r in readings(probe)[since:] if check(r))


async def test_vehicle_values_from_mqtt_go_stale_without_messages(
    mqtt_settings: MqttSettings, probe: Probe
) -> None:
    topic = f"{mqtt_settings.internal}/test/car/state"
    sources = {
        "soc": {"source": "mqtt", "topic": topic, "jq": ".battery.soc", "timeout_s": 1},
        "range": {"source": "mqtt", "topic": topic, "jq": ".battery.range_km", "timeout_s": 1},
        "odometer": {"source": "mqtt", "topic": topic, "jq": ".odometer_m", "scale": 0.001, "timeout_s": 1},
    }
    async with meter_reader(config_with(mqtt_settings, sources=sources, interval_s=0.1), probe):
        await probe.publish(
            topic, json.dumps({"battery": {"soc": 57.5, "range_km": 310}, "odometer_m": 12345600})
        )
        reading = await next_reading(probe, lambda r: r.soc_pct == 57.5 and not r.stale)
        assert (reading.range_km, reading.odometer_km, reading.source) == (310, 12345.6, "mqtt")
        fresh_at = readings(probe).index(reading)
        stale = await next_reading(probe, lambda r: r.stale, since=fresh_at, timeout=10)
        assert stale.soc_pct == 57.5 and stale.error is not None and "timeout 1 s" in stale.error


async def test_pushed_soc_by_set_topic_and_request(mqtt_settings: MqttSettings, probe: Probe) -> None:
    entry = find(parse_path("vehicles/ev/soc"))
    assert entry is not None and entry.owner == "meter-reader"
    assert [(r.method, r.path) for r in entry.rest] == [("POST", "/vehicles/{name}/soc/{soc}")]
    config = config_with(mqtt_settings, soc_timeout_s=1.5)
    async with meter_reader(config, probe), Bus(mqtt_settings, "gateway") as gateway:
        await gateway.wait_connected(5)
        await probe.set("vehicles/ev/soc", "55")
        reading = await next_reading(probe, lambda r: r.soc_pct == 55)
        assert reading.source == "push" and not reading.stale
        await probe.wait_value(
            f"{mqtt_settings.topic}/vehicles/ev/soc/set", lambda v: v == ""
        )  # handled, cleared
        await probe.set("vehicles/ev/soc", "150")  # out of range: rejected, nothing stored
        await probe.wait_value(f"{mqtt_settings.topic}/vehicles/ev/soc/set", lambda v: v == "")
        reply = await gateway.request("meter-reader", "vehicles/ev/soc", 62.5)
        assert reply.ok and reply.value == 62.5
        assert (await next_reading(probe, lambda r: r.soc_pct == 62.5)).source == "push"
        assert all(r.soc_pct != 150 for r in readings(probe))
        unknown = await gateway.request("meter-reader", "vehicles/nope/soc", 50)
        assert not unknown.ok and unknown.code == 404
        bad = await gateway.request("meter-reader", "vehicles/ev/soc", "lots")
        assert not bad.ok and bad.code == 400
        stale = await next_reading(probe, lambda r: r.stale)
        assert stale.soc_pct == 62.5 and "no SoC pushed" in (stale.error or "")


async def test_optimizer_acts_on_the_vehicle_soc(
    mqtt_settings: MqttSettings, probe: Probe, tmp_path: Path
) -> None:
    """limitSoc stops and minSoc starts charging on a charger that knows nothing of the car's SoC."""
    config = make_config(mqtt_settings, tmp_path / "optimizer.json")
    car = f"{mqtt_settings.internal}/test/car"
    sources = {
        "soc": {"source": "mqtt", "topic": car, "jq": ".soc", "timeout_s": 60},
        "range": {"source": "mqtt", "topic": car, "jq": ".range", "timeout_s": 60},
        "odometer": {"source": "mqtt", "topic": car, "jq": ".odometer", "timeout_s": 60},
    }
    vehicles = config_with(mqtt_settings, sources=sources, interval_s=0.1)
    async with optimizer(config, probe), meter_reader(vehicles, probe):
        # the optimizer's own status comes after its subscriptions (its presence connection may be first)
        status = f"{mqtt_settings.internal}/services/optimizer/status"
        await probe.wait_value(status, lambda v: json.loads(v)["state"] == "online")
        await publish_inputs(probe, grid_w=500.0)  # charger status B without SoC, no surplus
        await probe.publish(car, json.dumps({"soc": 55, "range": 312.4, "odometer": 12000.5}), retain=True)
        await probe.wait_state("loadpoints/1/vehicleRange", lambda v: v == "312")
        await probe.wait_state("loadpoints/1/vehicleOdometer", lambda v: v == "12000.5")
        await probe.set("vehicles/ev/limitSoc", "80")
        await probe.wait_state("vehicles/ev/limitSoc", lambda v: v == "80")
        await probe.set("vehicles/ev/minSoc", "30")
        await probe.set("loadpoints/1/mode", "pv")
        await probe.wait_state("loadpoints/1/mode", lambda v: v == "pv")
        await probe.set("vehicles/ev/soc", "40")  # above minSoc, no surplus: pv waits
        await probe.wait_state("loadpoints/1/vehicleSoc", lambda v: v == "40")
        seen = len(commands(probe))
        await wait_command(probe, lambda c: True, after=seen)  # the next cycle's decision
        assert not commands(probe)[-1].enabled
        seen = len(commands(probe))
        await probe.set("vehicles/ev/soc", "20")  # below minSoc: charge at once, surplus or not
        command = await wait_command(probe, lambda c: c.enabled, after=seen)
        assert command.current_a >= 6
        await probe.wait_state("loadpoints/1/vehicleSoc", lambda v: v == "20")
        await probe.set("loadpoints/1/mode", "now")
        seen = len(commands(probe))
        await probe.set("vehicles/ev/soc", "80")  # the limit: stop
        await wait_command(probe, lambda c: not c.enabled, after=seen)
        await probe.wait_state("loadpoints/1/vehicleSoc", lambda v: v == "80")
        assert probe.state("loadpoints/1/vehicleRange") == "312"  # the source's range stays with a pushed SoC


@pytest.mark.parametrize(
    ("vehicle", "message"),
    [
        (
            {"sources": {"soc": {"source": "mqtt", "topic": "car/#"}}},
            r"vehicles\.0\.sources\.soc\.mqtt\.topic",
        ),
        ({"sources": {"range": {"source": "const", "value": 1}}}, r"vehicles\.0\.sources\.soc"),
        ({"soc_timeout_s": 0}, r"vehicles\.0\.soc_timeout_s"),
    ],
)
def test_a_bad_vehicle_source_refuses_to_start(vehicle: dict[str, Any], message: str) -> None:
    from shared.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        parse_config({"vehicles": [{"name": "ev", **vehicle}]})
