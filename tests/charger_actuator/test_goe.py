"""The go-e template against a simulated go-e Charger answering its HTTP API v2 (/api/status, /api/set)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from services.simulator.devices.http_devices import GoeDevice
from shared.config import Config, LoadpointConfig, MqttSettings
from shared.config_devices import ChargerConfig
from tests.charger_actuator.test_ocpp import next_status
from tests.charger_actuator.test_service import Topics, actuator, command
from tests.support.devices import Served, served
from tests.support.probe import Probe


@contextlib.asynccontextmanager
async def goe_box(mqtt: MqttSettings, probe: Probe) -> AsyncIterator[tuple[Served, GoeDevice]]:
    async with served("goe") as s:
        assert isinstance(s.device, GoeDevice)
        charger = ChargerConfig.model_validate(
            {
                "name": "goe",
                "template": "goe",
                "params": {"host": f"127.0.0.1:{s.device.port}"},
                "interval_s": 0.2,
                "failsafe": {"mode": "disable", "timeout_s": 60},
            }
        )
        config = Config(
            mqtt=mqtt, chargers=[charger], loadpoints=[LoadpointConfig(title="Garage", charger="goe")]
        )
        async with actuator(config, probe):
            yield s, s.device


def writes(device: GoeDevice, since: int = 0) -> list[dict[str, str]]:
    return [r.query for r in device.requests[since:] if r.path == "/api/set"]


async def test_goe_charges_at_the_commanded_current_and_stops(
    mqtt_settings: MqttSettings, probe: Probe
) -> None:
    topics = Topics(mqtt_settings)
    async with goe_box(mqtt_settings, probe) as (s, goe):
        # A neutral go-e charges on its own at its 16 A: that is what the actuator reads first.
        first = await next_status(probe, topics, lambda st: st["status"] == "C", 0)
        assert first["power_w"] == pytest.approx(16 * 230 * 3, rel=0.01) and not first["power_estimated"]
        mark = len(probe.history)
        await probe.publish(topics.command, command(1, True, 10.0))
        status = await next_status(
            probe, topics, lambda st: st["offered_current_a"] == 10 and st["power_w"] < 7000, mark
        )
        assert status["status"] == "C" and status["currents_a"] == [10, 10, 10]
        assert {"amp": "10"} in writes(goe) and {"frc": "2"} in writes(goe)
        assert goe.box.amp == 10 and goe.box.frc == 2
        since = len(goe.requests)
        await probe.publish(topics.command, command(2, False, 0.0))
        await next_status(probe, topics, lambda st: st["status"] == "B" and not st["enabled"], mark)
        assert writes(goe, since) == [{"frc": "1"}]  # disabling writes only the switch
        assert s.home.sim.wallbox.status == "B"


async def test_goe_switches_phases_through_psm(mqtt_settings: MqttSettings, probe: Probe) -> None:
    topics = Topics(mqtt_settings)
    async with goe_box(mqtt_settings, probe) as (s, goe):
        await probe.wait_state("loadpoints/1/chargerPhases1p3p", lambda v: v == "true")
        mark = len(probe.history)
        await probe.publish(topics.command, command(1, True, 8.0).replace('"phases":0', '"phases":1'))
        await next_status(probe, topics, lambda st: st["phases_active"] == 1 and st["status"] == "C", mark)
        sets = writes(goe)
        assert sets.index({"frc": "1"}) < sets.index({"psm": "1"}) < sets.index({"frc": "2"}), sets
        assert goe.box.psm == 1 and s.home.sim.wallbox.phases == 1
