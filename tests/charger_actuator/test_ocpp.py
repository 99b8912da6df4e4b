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
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from services.charger_actuator.ocpp.measurands import DESIRED_MEASURANDS
from services.simulator.devices.ocpp_cp import SimulatedChargePoint
from services.simulator.home import SimulatedHome
from shared.config import Config, LoadpointConfig, MqttSettings
from shared.config_devices import ChargerConfig, OcppSettings
from tests.charger_actuator.test_service import Topics, actuator, command, wait_status
from tests.support.broker import free_port, wait_for
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
        {
            "name": "wallbox",
            "model": "ocpp",
            "port": 0,
            "url": f"ws://127.0.0.1:{port}/cp1",
            "free_vend": free_vend,
        }
    ]
    car_settings = {"connected": car, "identifier": "04A1B2C3", "soc_pct": 40}
    async with actuator(config, probe), simulated_home({"devices": devices, "car": car_settings}) as home:
        service = home.services["wallbox"]
        assert isinstance(service, SimulatedChargePoint)
        yield Box(home, service, config)


async def published(probe: Probe, topic: str, value: str, since: int, timeout: float = 10) -> None:
    """``value`` was published on ``topic`` after history index ``since`` (however briefly it lasted)."""
    await probe.wait(lambda _: (topic, value) in probe.history[since:], timeout)


async def next_status(
    probe: Probe, topics: Topics, check: Any, since: int, timeout: float = 10
) -> dict[str, Any]:
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


async def test_free_vend_box_charges_at_the_commanded_current(
    mqtt_settings: MqttSettings, probe: Probe
) -> None:
    topics = Topics(mqtt_settings)
    async with box(mqtt_settings, probe) as b:
        await b.cp.wait_for("GetConfiguration")
        await b.cp.wait_for("ChangeConfiguration", lambda p: p["key"] == "MeterValuesSampledData")
        await b.cp.wait_for(
            "ChangeConfiguration", lambda p: p["key"] == "MeterValueSampleInterval" and p["value"] == "1"
        )
        await b.cp.wait_for(
            "TriggerMessage", lambda p: p == {"requested_message": "StatusNotification", "connector_id": 1}
        )
        await b.cp.wait_for("TriggerMessage", lambda p: p["requested_message"] == "MeterValues")
        await wait_status(probe, topics, lambda s: s["status"] == "B" and s["identifier"] == "04A1B2C3")
        mark = len(probe.history)
        await probe.publish(topics.command, command(1, True, 10.0))
        profile = await b.cp.wait_for(
            "SetChargingProfile",
            lambda p: (
                p["cs_charging_profiles"]["charging_profile_id"] == 2
                and p["cs_charging_profiles"]["charging_schedule"]["charging_schedule_period"][0]["limit"]
                == 10.0
            ),
        )
        assert profile.payload["cs_charging_profiles"]["charging_profile_purpose"] == "TxDefaultProfile"
        # The box reports its power with its next MeterValues (every second here).
        status = await next_status(probe, topics, lambda s: s["status"] == "C" and s["power_w"] > 6000, mark)
        assert status["offered_current_a"] == 10 and status["vehicle_soc_pct"] == pytest.approx(40, abs=1)
        assert b.home.sim.wallbox.offered_a == 10.0
        mark = len(probe.history)
        await probe.publish(topics.command, command(2, False, 0.0))
        await next_status(probe, topics, lambda s: s["status"] == "B" and not s["enabled"], mark)
        assert b.home.sim.wallbox.status == "B" and b.cp.status() == "SuspendedEVSE"


async def test_remote_start_box_waits_for_the_central_system(
    mqtt_settings: MqttSettings, probe: Probe
) -> None:
    topics = Topics(mqtt_settings)
    async with box(mqtt_settings, probe, free_vend=False, remote_start=True, remote_stop=True) as b:
        await next_status(probe, topics, lambda s: s["status"] == "B", 0)
        assert b.cp.status() == "Preparing" and b.cp.transaction is None
        mark = len(probe.history)
        await probe.publish(topics.command, command(1, True, 12.0))
        start = await b.cp.wait_for("RemoteStartTransaction")
        assert start.payload == {"id_tag": "chargebus", "connector_id": 1}
        status = await next_status(
            probe, topics, lambda s: s["status"] == "C" and s["offered_current_a"] == 12, mark
        )
        assert status["identifier"] == "chargebus" and b.cp.transaction is not None
        transaction = b.cp.transaction
        await probe.publish(topics.command, command(2, False, 0.0))
        stop = await b.cp.wait_for("RemoteStopTransaction")
        assert stop.payload == {"transaction_id": transaction}
        await next_status(probe, topics, lambda s: s["status"] == "B" and not s["enabled"], mark)
        await wait_for_sim(b, lambda: b.cp.transaction is None and b.home.sim.wallbox.status == "B")


async def test_rfid_card_is_authorized_and_identifies_the_vehicle(
    mqtt_settings: MqttSettings, probe: Probe
) -> None:
    topics = Topics(mqtt_settings)
    async with box(mqtt_settings, probe, free_vend=False) as b:
        await next_status(probe, topics, lambda s: s["status"] == "B", 0)
        mark = len(probe.history)
        b.cp.present_tag("RFID-0042")
        status = await next_status(probe, topics, lambda s: s["identifier"] == "RFID-0042", mark)
        assert status["status"] == "B"
        # The transaction runs with the card's idTag; the 0 A fallback profile holds it back.
        await wait_for_sim(b, lambda: b.cp.transaction is not None and b.cp.id_tag == "RFID-0042")
        await b.cp.wait_for("SetChargingProfile")
        assert b.cp.status() == "SuspendedEVSE"
        await probe.wait_state("loadpoints/1/connected", lambda v: v == "true")


async def test_meter_values_phases_and_power_unit(mqtt_settings: MqttSettings, probe: Probe) -> None:
    topics = Topics(mqtt_settings)
    async with box(mqtt_settings, probe, charging_rate_unit="W") as b:
        sampled = await b.cp.wait_for("ChangeConfiguration", lambda p: p["key"] == "MeterValuesSampledData")
        assert sampled.payload["value"] == ",".join(DESIRED_MEASURANDS)
        assert "SoC" in DESIRED_MEASURANDS and "Current.Import" in DESIRED_MEASURANDS
        mark = len(probe.history)
        await probe.publish(topics.command, command(1, True, 8.0))
        profile = await b.cp.wait_for(
            "SetChargingProfile", lambda p: p["cs_charging_profiles"]["stack_level"] == 1
        )
        schedule = profile.payload["cs_charging_profiles"]["charging_schedule"]
        assert (
            schedule["charging_rate_unit"] == "W" and schedule["charging_schedule_period"][0]["limit"] == 5520
        )
        status = await next_status(
            probe, topics, lambda s: s["status"] == "C" and s["currents_a"] == [8, 8, 8], mark
        )
        assert status["voltages_v"] == [230, 230, 230] and not status["power_estimated"]
        assert status["power_w"] == pytest.approx(5520, abs=1)
        # 1p: numberPhases would need the current unit; in W the limit is per phase count instead.
        await probe.publish(topics.command, command(2, True, 8.0).replace('"phases":0', '"phases":1'))
        await next_status(probe, topics, lambda s: s["phases_active"] == 1 and s["status"] == "C", mark)
        assert b.home.sim.wallbox.phases == 1 and b.home.sim.wallbox.offered_a == pytest.approx(8.0)


async def test_phase_switching_with_number_phases(mqtt_settings: MqttSettings, probe: Probe) -> None:
    topics = Topics(mqtt_settings)
    async with box(mqtt_settings, probe) as b:
        await next_status(probe, topics, lambda s: s["status"] == "B", 0)
        mark = len(probe.history)
        since = len(b.cp.received)
        await probe.publish(topics.command, command(1, True, 10.0).replace('"phases":0', '"phases":1'))
        await next_status(probe, topics, lambda s: s["status"] == "C" and s["phases_active"] == 1, mark)
        live = [
            r.payload["cs_charging_profiles"]["charging_schedule"]["charging_schedule_period"][0]
            for r in b.cp.received[since:]
            if r.action == "SetChargingProfile"
        ]
        assert live[-1] == {"start_period": 0, "limit": 10.0, "number_phases": 1}
        assert b.home.sim.wallbox.phases == 1
        await probe.wait_state("loadpoints/1/chargerPhases1p3p", lambda v: v == "true")


async def test_tx_profile_targets_the_running_transaction(mqtt_settings: MqttSettings, probe: Probe) -> None:
    topics = Topics(mqtt_settings)
    async with box(mqtt_settings, probe, tx_profile=True) as b:
        await next_status(probe, topics, lambda s: s["identifier"] == "04A1B2C3", 0)
        await probe.publish(topics.command, command(1, True, 7.0))
        received = await b.cp.wait_for(
            "SetChargingProfile",
            lambda p: p["cs_charging_profiles"]["charging_profile_purpose"] == "TxProfile",
        )
        profile = received.payload["cs_charging_profiles"]
        assert profile["transaction_id"] == b.cp.transaction and profile["charging_profile_id"] == 3
        await wait_status(probe, topics, lambda s: s["status"] == "C" and s["offered_current_a"] == 7)


async def test_fault_is_a_charger_error(mqtt_settings: MqttSettings, probe: Probe) -> None:
    topics = Topics(mqtt_settings)
    async with box(mqtt_settings, probe) as b:
        await next_status(probe, topics, lambda s: s["status"] == "B", 0)
        mark = len(probe.history)
        b.cp.fault = ("GroundFailure", "RCD tripped")
        status = await next_status(probe, topics, lambda s: s["error"] is not None, mark)
        assert (
            status["status"] == "A"
            and "GroundFailure" in status["error"]
            and "RCD tripped" in status["error"]
        )
        await probe.wait_state("loadpoints/1/chargerError", lambda v: "GroundFailure" in v)
        b.cp.fault = None
        await next_status(probe, topics, lambda s: s["error"] is None and s["status"] == "B", mark)


async def test_lost_connection_is_offline_then_restored(mqtt_settings: MqttSettings, probe: Probe) -> None:
    topics = Topics(mqtt_settings)
    async with box(mqtt_settings, probe) as b:
        await probe.publish(topics.command, command(1, True, 10.0))
        await wait_status(probe, topics, lambda s: s["status"] == "C" and s["offered_current_a"] == 10)
        await wait_for(lambda: b.cp.heartbeats >= 1)  # its first step may come after the status
        mark, since = len(probe.history), len(b.cp.received)
        await b.cp.drop()
        offline = await next_status(probe, topics, lambda s: s["offline"], mark)
        assert offline["power_w"] == 0 and "not connected" in offline["error"]
        await published(probe, f"{mqtt_settings.topic}/loadpoints/1/charging", "false", mark)
        await published(probe, f"{mqtt_settings.topic}/loadpoints/1/chargePower", "0", mark)
        mark = len(probe.history)  # every status from here on was published after the loss was seen
        # It reconnects without rebooting: set up again, its profile written again, and on line.
        await b.cp.wait_for("GetConfiguration", since=since)
        await b.cp.wait_for(
            "SetChargingProfile", lambda p: p["cs_charging_profiles"]["stack_level"] == 1, since=since
        )
        await next_status(probe, topics, lambda s: not s["offline"] and s["status"] == "C", mark)
        assert b.cp.boots == 1


async def test_reboot_is_set_up_again_and_the_limit_restored(
    mqtt_settings: MqttSettings, probe: Probe
) -> None:
    topics = Topics(mqtt_settings)
    async with box(mqtt_settings, probe) as b:
        await probe.publish(topics.command, command(1, True, 9.0))
        await wait_status(probe, topics, lambda s: s["status"] == "C" and s["offered_current_a"] == 9)
        since = len(b.cp.received)
        await b.cp.reboot()
        await b.cp.wait_for(
            "SetChargingProfile",
            lambda p: p["cs_charging_profiles"]["stack_level"] == 0,
            since=since,
            timeout=20,
        )
        live = await b.cp.wait_for(
            "SetChargingProfile",
            lambda p: p["cs_charging_profiles"]["stack_level"] == 1,
            since=since,
            timeout=20,
        )
        assert (
            live.payload["cs_charging_profiles"]["charging_schedule"]["charging_schedule_period"][0]["limit"]
            == 9
        )
        assert b.cp.boots == 2
        await wait_for_sim(b, lambda: b.home.sim.wallbox.status == "C" and b.home.sim.wallbox.offered_a == 9)


async def wait_for_sim(b: Box, predicate: Callable[[], bool]) -> None:
    """Wait for the simulated physics (brought up to now first) to satisfy ``predicate``."""

    def check() -> bool:
        b.home.sync()
        return predicate()

    await wait_for(check, timeout=20)
