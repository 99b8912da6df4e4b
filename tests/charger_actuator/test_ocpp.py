"""The OCPP 1.6J central system, driven by real websocket charge points (the ``ocpp`` package's client side).

The charge point is the simulator's (its wallbox physics behind an ``ocpp`` ChargePoint); the actuator is the
real service on a real broker. Every message of the brief goes over the wire: BootNotification, Heartbeat,
StatusNotification, MeterValues, Authorize, Start/StopTransaction from the box; GetConfiguration,
ChangeConfiguration, TriggerMessage, SetChargingProfile, RemoteStart/StopTransaction from us — plus a
lost connection and a reboot.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from services.simulator.devices.ocpp_cp import SimulatedChargePoint
from services.simulator.home import SimulatedHome
from shared.config import Config, LoadpointConfig, MqttSettings
from shared.config_devices import ChargerConfig, OcppSettings
from tests.charger_actuator.test_service import Topics, actuator, command, wait_status
from tests.support.broker import free_port
from tests.support.modbus import simulated_home
from tests.support.probe import Probe


@dataclass
class Box:
    home: SimulatedHome
    cp: SimulatedChargePoint
    config: Config


def ocpp_config(mqtt: MqttSettings, port: int, **ocpp: Any) -> Config:
    charger = ChargerConfig.model_validate(
        {
            "name": "box",
            "type": "ocpp",
            "ocpp": {"identity": "cp1", "meter_interval_s": 1, **ocpp},
            "interval_s": 0.2,
            "failsafe": {"mode": "disable", "timeout_s": 60},
        }
    )
    return Config(
        mqtt=mqtt,
        chargers=[charger],
        loadpoints=[LoadpointConfig(title="Garage", charger="box")],
        ocpp=OcppSettings(host="127.0.0.1", port=port, heartbeat_s=5, response_timeout_s=3),
    )


@contextlib.asynccontextmanager
async def box(
    mqtt: MqttSettings, probe: Probe, *, free_vend: bool = True, car: bool = True, **ocpp: Any
) -> AsyncIterator[Box]:
    port = free_port()
    config = ocpp_config(mqtt, port, **ocpp)
    devices = [
        {"name": "wallbox", "model": "ocpp", "port": 0, "url": f"ws://127.0.0.1:{port}/cp1", "free_vend": free_vend}
    ]
    car_settings = {"connected": car, "identifier": "04A1B2C3", "soc_pct": 40}
    async with actuator(config, probe):
        async with simulated_home({"devices": devices, "car": car_settings}) as home:
            service = home.services["wallbox"]
            assert isinstance(service, SimulatedChargePoint)
            yield Box(home, service, config)


async def next_status(probe: Probe, topics: Topics, check: Any, since: int, timeout: float = 10) -> dict[str, Any]:
    """The first status published after history index ``since`` that satisfies ``check``."""

    def found() -> dict[str, Any] | None:
        for topic, payload in probe.history[since:]:
            if topic == topics.status and check(status := json.loads(payload)):
                return dict(status)
        return None

    await probe.wait(lambda _: found() is not None, timeout)
    result = found()
    assert result is not None
    return result


async def test_free_vend_box_charges_at_the_commanded_current(mqtt_settings: MqttSettings, probe: Probe) -> None:
    topics = Topics(mqtt_settings)
    async with box(mqtt_settings, probe) as b:
        await b.cp.wait_for("GetConfiguration")
        await b.cp.wait_for("ChangeConfiguration", lambda p: p["key"] == "MeterValuesSampledData")
        await b.cp.wait_for("ChangeConfiguration", lambda p: p["key"] == "MeterValueSampleInterval" and p["value"] == "1")
        await wait_status(probe, topics, lambda s: s["status"] == "B" and s["identifier"] == "04A1B2C3")
        mark = len(probe.history)
        await probe.publish(topics.command, command(1, True, 10.0))
        profile = await b.cp.wait_for(
            "SetChargingProfile", lambda p: p["cs_charging_profiles"]["charging_profile_id"] == 2
            and p["cs_charging_profiles"]["charging_schedule"]["charging_schedule_period"][0]["limit"] == 10.0
        )
        assert profile.payload["cs_charging_profiles"]["charging_profile_purpose"] == "TxDefaultProfile"
        status = await next_status(probe, topics, lambda s: s["status"] == "C" and s["offered_current_a"] == 10, mark)
        assert status["power_w"] > 6000 and status["vehicle_soc_pct"] == pytest.approx(40, abs=1)
        assert b.home.sim.wallbox.offered_a == 10.0
        mark = len(probe.history)
        await probe.publish(topics.command, command(2, False, 0.0))
        await next_status(probe, topics, lambda s: s["status"] == "B" and not s["enabled"], mark)
        assert b.home.sim.wallbox.status == "B" and b.cp.status() == "SuspendedEVSE"
