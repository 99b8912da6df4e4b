"""The charger-actuator service over a real broker against simulated wallboxes (real Modbus TCP servers)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.charger_actuator.service import run
from shared.config import Config, LoadpointConfig, MqttSettings
from shared.config_devices import ChargerConfig
from shared.messages import ChargerCommand, CommandReason, ServiceStatus
from tests.support.broker import free_port
from tests.support.modbus import Device, simulated_device
from tests.support.probe import Probe


def make_config(
    mqtt: MqttSettings, dev: Device, *, charger_type: str = "demo", protocol: str = "tcp", **failsafe: Any
) -> Config:
    charger = ChargerConfig.model_validate(
        {
            "name": "wb",
            "type": charger_type,
            "modbus": {
                "protocol": protocol,
                "host": dev.host,
                "port": dev.port,
                "id": dev.unit,
                "timeout_s": 0.5,
            },
            "interval_s": 0.2,
            "failsafe": {"mode": "disable", "timeout_s": 60, **failsafe},
        }
    )
    return Config(mqtt=mqtt, chargers=[charger], loadpoints=[LoadpointConfig(title="Garage", charger="wb")])


@contextlib.asynccontextmanager
async def actuator(config: Config, probe: Probe) -> AsyncIterator[asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(run(config, stop))
    online = f"{config.mqtt.internal}/services/charger-actuator/status"
    # online is published after the subscriptions are in place, so commands sent from now on arrive.
    await probe.wait_value(online, lambda v: json.loads(v)["state"] == "online")
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


@contextlib.asynccontextmanager
async def running(
    mqtt: MqttSettings,
    probe: Probe,
    model: str = "demo",
    *,
    charger_type: str = "demo",
    protocol: str = "tcp",
    **failsafe: Any,
) -> AsyncIterator[Device]:
    """A simulated wallbox with a car plugged in, and the actuator driving it."""
    async with simulated_device(model, car={"connected": True}) as dev:
        config = make_config(mqtt, dev, charger_type=charger_type, protocol=protocol, **failsafe)
        async with actuator(config, probe):
            yield dev


class Topics:
    def __init__(self, mqtt: MqttSettings) -> None:
        self.command = f"{mqtt.internal}/chargers/1/command"
        self.status = f"{mqtt.internal}/chargers/1/status"
        self.events = f"{mqtt.internal}/events/command"
        self.status_events = f"{mqtt.internal}/events/charger-status"
        self.optimizer = f"{mqtt.internal}/services/optimizer/status"


def command(
    seq: int,
    enabled: bool = True,
    current: float = 10.0,
    *,
    valid_s: float = 60,
    reason: CommandReason = CommandReason.START_CHARGE,
    issued_s: float = 0,
) -> str:
    now = datetime.now(UTC) + timedelta(seconds=issued_s)
    return ChargerCommand(
        seq=seq,
        enabled=enabled,
        current_a=current,
        reason=reason,
        issued_at=now,
        valid_until=now + timedelta(seconds=valid_s),
    ).model_dump_json()


def events(probe: Probe, topic: str) -> list[dict[str, Any]]:
    return [json.loads(payload) for t, payload in probe.history if t == topic]


async def wait_status(probe: Probe, topics: Topics, check: Any, timeout: float = 10) -> dict[str, Any]:
    """The first status message (in arrival order) that satisfies ``check`` — found in the history, so a
    state that lasts only one poll is not missed when the test runs slowly."""
    return await wait_event(probe, topics.status, check, timeout)


async def wait_event(probe: Probe, topic: str, check: Any, timeout: float = 10) -> dict[str, Any]:
    await probe.wait(lambda _: any(check(e) for e in events(probe, topic)), timeout)
    found: dict[str, Any] = next(e for e in events(probe, topic) if check(e))
    return found


async def wait_states(probe: Probe, mqtt: MqttSettings, expected: dict[str, str], lp: int = 1) -> None:
    prefix = f"{mqtt.topic}/loadpoints/{lp}/"
    await probe.wait(lambda v: all(v.get(prefix + k) == want for k, want in expected.items()))


async def test_command_writes_current_then_enable_and_disable_writes_only_enable(
    mqtt_settings: MqttSettings, probe: Probe
) -> None:
    t = Topics(mqtt_settings)
    async with running(mqtt_settings, probe) as dev:
        since = len(dev.writes)
        await probe.publish(t.command, command(1, current=10, reason=CommandReason.SOLAR_CHARGING))
        await dev.writes.wait_for(lambda r: r.point == "enabled" and r.value == 1, since=since)
        points = [(r.point, r.value) for r in list(dev.writes)[since:]]
        assert points.index(("max_current", 10.0)) < points.index(("enabled", 1))

        status = await wait_status(probe, t, lambda s: s["applied_seq"] == 1 and s["status"] == "C")
        assert status["enabled"] and status["offered_current_a"] == 10 and not status["failsafe"]
        assert status["power_w"] == pytest.approx(6900, rel=0.02) and not status["power_estimated"]
        event = await wait_event(probe, t.events, lambda e: e["seq"] == 1)
        assert (event["reason"], event["ok"], event["enabled"], event["current_a"]) == (
            "SOLAR_CHARGING",
            True,
            True,
            10.0,
        )
        expected = {
            "charging": "true",
            "connected": "true",
            "enabled": "true",
            "offeredCurrent": "10",
            "chargerStatus": "C",
            "phasesActive": "3",
            "chargerPowerEstimated": "false",
            "chargerPhases1p3p": "true",
            "chargerSinglePhase": "false",
        }
        await wait_states(probe, mqtt_settings, expected)
        assert float(probe.state("loadpoints/1/chargePower") or 0) > 6000
        assert probe.state("loadpoints/1/chargeCurrents/l1") == "10"

        since = len(dev.writes)
        await probe.publish(t.command, command(2, enabled=False, reason=CommandReason.STOP_CHARGE))
        await wait_status(probe, t, lambda s: s["applied_seq"] == 2 and not s["enabled"])
        assert [(r.point, r.value) for r in list(dev.writes)[since:]] == [("enabled", 0)]
        assert not dev.state.wallbox_enabled
        await probe.wait_state("loadpoints/1/offeredCurrent", lambda v: v == "0")
        stop = await wait_event(probe, t.events, lambda e: e["seq"] == 2)
        assert stop["reason"] == "STOP_CHARGE" and stop["ok"]


async def test_expired_and_stale_commands_are_not_applied(mqtt_settings: MqttSettings, probe: Probe) -> None:
    t = Topics(mqtt_settings)
    async with running(mqtt_settings, probe) as dev:
        await probe.publish(t.command, command(5, current=11))
        await wait_status(probe, t, lambda s: s["applied_seq"] == 5)
        await probe.publish(t.command, command(6, current=13, valid_s=-1))  # expired
        await probe.publish(t.command, command(4, current=14, issued_s=-5))  # re-delivered, older
        await probe.publish(t.command, command(7, current=12))  # the barrier: handled after the two
        await wait_status(probe, t, lambda s: s["applied_seq"] == 7 and s["offered_current_a"] == 12)
        written = {r.value for r in dev.writes.of("max_current")}
        assert 13.0 not in written and 14.0 not in written
        assert [e["seq"] for e in events(probe, t.events)] == [5, 7]


async def test_no_commands_means_failsafe_until_the_next_command(
    mqtt_settings: MqttSettings, probe: Probe
) -> None:
    t = Topics(mqtt_settings)
    async with running(mqtt_settings, probe, timeout_s=1.0) as dev:
        await probe.publish(t.command, command(1, current=16))
        await wait_status(probe, t, lambda s: s["applied_seq"] == 1 and s["enabled"])
        status = await wait_status(probe, t, lambda s: s["failsafe"] and not s["enabled"])
        assert status["error"] == "failsafe: no valid command for 1 s"
        assert not dev.state.wallbox_enabled
        event = await wait_event(probe, t.events, lambda e: e["reason"] == "FAILSAFE")
        assert event["seq"] is None and not event["enabled"] and event["ok"]
        await probe.wait_state("loadpoints/1/chargerError", lambda v: "failsafe" in v)

        since = len(dev.writes)
        await probe.publish(t.command, command(2, current=8))
        status = await wait_status(probe, t, lambda s: s["applied_seq"] == 2)
        assert not status["failsafe"] and status["enabled"] and status["offered_current_a"] == 8
        assert [(r.point, r.value) for r in list(dev.writes)[since:]][:2] == [
            ("max_current", 8.0),
            ("enabled", 1),
        ]


async def test_failsafe_current_mode_charges_at_the_safe_current(
    mqtt_settings: MqttSettings, probe: Probe
) -> None:
    t = Topics(mqtt_settings)
    async with running(mqtt_settings, probe, mode="current", current_a=6, timeout_s=0.5) as dev:
        status = await wait_status(probe, t, lambda s: s["failsafe"] and s["enabled"])
        assert status["offered_current_a"] == 6
        assert dev.state.wallbox_offered_a == 6 and dev.state.wallbox_enabled


async def test_optimizer_offline_means_failsafe(mqtt_settings: MqttSettings, probe: Probe) -> None:
    t = Topics(mqtt_settings)
    async with running(mqtt_settings, probe) as dev:
        await probe.publish(t.command, command(1, current=10))
        await wait_status(probe, t, lambda s: s["applied_seq"] == 1 and s["enabled"])
        await probe.publish(t.optimizer, ServiceStatus(state="offline").model_dump_json(), retain=True)
        status = await wait_status(probe, t, lambda s: s["failsafe"] and not s["enabled"])
        assert status["error"] == "failsafe: optimizer offline"
        assert not dev.state.wallbox_enabled
        await probe.wait_state("loadpoints/1/enabled", lambda v: v == "false")

        # The optimizer restarts and counts its seq from 0 again: its commands are taken.
        await probe.publish(t.optimizer, ServiceStatus(state="online").model_dump_json(), retain=True)
        await probe.publish(t.command, command(0, current=9))
        status = await wait_status(probe, t, lambda s: s["applied_seq"] == 0 and s["enabled"])
        assert not status["failsafe"] and status["error"] is None


async def test_charger_changed_behind_our_back_is_synced(mqtt_settings: MqttSettings, probe: Probe) -> None:
    t = Topics(mqtt_settings)
    async with running(mqtt_settings, probe) as dev:
        await probe.publish(t.command, command(1, current=10))
        await wait_status(probe, t, lambda s: s["applied_seq"] == 1 and s["enabled"])
        since = len(dev.writes)
        dev.sim.set_current(16)  # someone turned the knob
        event = await wait_event(probe, t.events, lambda e: e["reason"] == "SYNC")
        assert event["ok"] and event["current_a"] == 10 and event["seq"] == 1
        assert dev.state.wallbox_offered_a == 10
        assert [(r.point, r.value) for r in list(dev.writes)[since:]] == [("max_current", 10.0)]

        since = len(dev.writes)
        dev.sim.set_enabled(False)  # and then the switch
        await dev.writes.wait_for(lambda r: r.point == "enabled", since=since)
        await wait_status(probe, t, lambda s: s["enabled"] and len(events(probe, t.events)) == 3)
        assert [(r.point, r.value) for r in list(dev.writes)[since:]] == [("enabled", 1)]
        assert dev.state.wallbox_enabled and dev.state.wallbox_offered_a == 10


async def test_status_changes_become_events(mqtt_settings: MqttSettings, probe: Probe) -> None:
    t = Topics(mqtt_settings)
    async with running(mqtt_settings, probe) as dev:
        await wait_event(probe, t.status_events, lambda e: e["status"] == "B" and e["previous"] is None)
        dev.sim.unplug()
        event = await wait_event(probe, t.status_events, lambda e: e["status"] == "A")
        assert event["previous"] == "B" and event["loadpoint"] == 1 and event["charger"] == "wb"
        await probe.wait_state("loadpoints/1/connected", lambda v: v == "false")


async def test_charger_without_meter_has_estimated_power(mqtt_settings: MqttSettings, probe: Probe) -> None:
    t = Topics(mqtt_settings)
    async with running(mqtt_settings, probe, "evsedin", charger_type="evsedin", protocol="rtuovertcp"):
        await probe.publish(t.command, command(1, current=10))
        status = await wait_status(probe, t, lambda s: s["applied_seq"] == 1 and s["status"] == "C")
        assert status["power_estimated"] and status["power_w"] == 6900
        assert probe.state("loadpoints/1/chargerPowerEstimated") == "true"
        await probe.wait_state("loadpoints/1/chargePower", lambda v: v == "6900")


async def test_dead_charger_is_reported_and_the_service_keeps_running(
    mqtt_settings: MqttSettings, probe: Probe
) -> None:
    t = Topics(mqtt_settings)
    async with contextlib.AsyncExitStack() as device_stack:
        dev = await device_stack.enter_async_context(simulated_device("demo", car={"connected": True}))
        async with actuator(make_config(mqtt_settings, dev), probe) as task:
            await wait_status(probe, t, lambda s: s["status"] == "B" and s["error"] is None)
            await device_stack.aclose()  # the wallbox goes away

            status = await wait_status(
                probe, t, lambda s: (s["error"] or "").startswith("charger not reachable")
            )
            assert status["status"] == "B", "the last known state is kept"
            await probe.wait_state(
                "loadpoints/1/chargerError", lambda v: v.startswith("charger not reachable")
            )

            await probe.publish(t.command, command(1, current=10))
            event = await wait_event(probe, t.events, lambda e: e["seq"] == 1, timeout=20)
            assert not event["ok"] and event["error"]
            assert not task.done()


async def test_re_sent_command_is_echoed_without_writes_or_events(
    mqtt_settings: MqttSettings, probe: Probe
) -> None:
    t = Topics(mqtt_settings)
    async with running(mqtt_settings, probe) as dev:
        await probe.publish(t.command, command(10, current=10))
        await wait_status(probe, t, lambda s: s["applied_seq"] == 10)
        writes = len(dev.writes)
        await probe.publish(t.command, command(11, current=10))  # the optimizer's tick re-sends it
        await probe.publish(t.command, command(12, current=11))  # a real change
        await wait_status(probe, t, lambda s: s["applied_seq"] == 12 and s["offered_current_a"] == 11)
        # The charger is enabled already: only the current is written, not the enable again.
        assert [(r.point, r.value) for r in list(dev.writes)[writes:]] == [("max_current", 11.0)]
        assert [e["seq"] for e in events(probe, t.events)] == [10, 12]


async def test_two_loadpoints_and_one_dead_charger(mqtt_settings: MqttSettings, probe: Probe) -> None:
    """Each charger reports on its loadpoint id; a charger that is gone does not hold up the other."""
    async with simulated_device("phoenix", car={"connected": True}) as dev:
        chargers = [
            {
                "name": "gone",
                "type": "demo",
                "modbus": {"host": "127.0.0.1", "port": free_port(), "timeout_s": 0.3},
            },
            {
                "name": "carport",
                "type": "phoenix",
                "modbus": {"host": dev.host, "port": dev.port},
                "interval_s": 0.2,
            },
            {"name": "spare", "type": "demo"},  # no loadpoint uses it: not driven
        ]
        config = Config(
            mqtt=mqtt_settings,
            chargers=[ChargerConfig.model_validate(c) for c in chargers],
            loadpoints=[
                LoadpointConfig(title="Garage", charger="gone"),
                LoadpointConfig(title="Carport", charger="carport"),
            ],
        )
        async with actuator(config, probe):
            await probe.publish(f"{mqtt_settings.internal}/chargers/2/command", command(1, current=16))
            status = json.loads(
                await probe.wait_value(
                    f"{mqtt_settings.internal}/chargers/2/status", lambda v: json.loads(v)["applied_seq"] == 1
                )
            )
            assert status["charger"] == "carport" and status["enabled"] and status["error"] is None
            assert dev.state.wallbox_enabled and dev.state.wallbox_offered_a == 16
            await wait_states(probe, mqtt_settings, {"chargerStatus": "C", "enabled": "true"}, lp=2)
            dead = json.loads(
                await probe.wait_value(
                    f"{mqtt_settings.internal}/chargers/1/status", lambda v: bool(json.loads(v)["error"])
                )
            )
            assert dead["charger"] == "gone" and dead["error"].startswith("charger not reachable")
            assert not any("/chargers/3/" in topic for topic, _ in probe.history)


async def test_phase_switch_stops_charging_first(mqtt_settings: MqttSettings, probe: Probe) -> None:
    t = Topics(mqtt_settings)
    async with running(mqtt_settings, probe) as dev:
        await probe.publish(t.command, command(1, current=10))
        await wait_status(
            probe, t, lambda s: s["applied_seq"] == 1 and s["phases_active"] == 3 and s["enabled"]
        )
        since = len(dev.writes)
        now = datetime.now(UTC)
        one_phase = ChargerCommand(
            seq=2, enabled=True, current_a=16, phases=1, valid_until=now + timedelta(minutes=1)
        )
        await probe.publish(t.command, one_phase.model_dump_json())
        status = await wait_status(probe, t, lambda s: s["applied_seq"] == 2 and s["status"] == "C")
        assert [(r.point, r.value) for r in list(dev.writes)[since:]] == [
            ("enabled", 0),
            ("phases", 1),
            ("max_current", 16.0),
            ("enabled", 1),
        ]
        assert status["phases_active"] == 1 and status["power_w"] == pytest.approx(3680, rel=0.02)
        assert dev.state.wallbox_phases == 1
