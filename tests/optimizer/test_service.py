"""The optimizer service over a real broker: inputs as the other services publish them, settings over
MQTT /set and request/reply, commands out, settings persisted across a restart."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.optimizer.service import run
from shared.bus import Bus
from shared.config import Config, MqttSettings, ThresholdConfig, parse_config
from shared.messages import ChargerCommand, ChargerStatus, ChargeStatus, MeterReading, MeterUsage
from shared.state import ChargeMode
from shared.topics import Topics
from tests.support.broker import Broker, wait_for
from tests.support.mqtt_proxy import MqttProxy
from tests.support.probe import Probe

MODBUS = {"host": "127.0.0.1", "port": 1502}


def make_config(mqtt: MqttSettings, state_file: Path) -> Config:
    return parse_config(
        {
            "site": {"title": "Test home", "grid": "grid", "pv": ["pv"]},
            "meters": [
                {"name": "grid", "type": "sdm", "usage": "grid", "modbus": MODBUS},
                {"name": "pv", "type": "sunspec", "usage": "pv", "modbus": MODBUS},
            ],
            "chargers": [{"name": "wb", "type": "demo", "phases": 3, "modbus": MODBUS}],
            "loadpoints": [{"title": "Garage", "charger": "wb", "mode": "off", "vehicle": "ev"}],
            "vehicles": [{"name": "ev", "title": "My EV", "capacity_kwh": 60}],
            "optimizer": {"interval_s": 0.5, "command_validity_s": 30, "state_file": str(state_file)},
        }
    ).model_copy(update={"mqtt": mqtt})


@contextlib.asynccontextmanager
async def optimizer(config: Config, probe: Probe) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(run(config, stop))
    try:
        # Both connections up before the test acts (and before it may stop the service again).
        await probe.wait_state("status", lambda v: v == "online")
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


def commands(probe: Probe, lp: int = 1) -> list[ChargerCommand]:
    topic = Topics(probe.settings.internal).charger_command(lp)
    return [ChargerCommand.model_validate_json(p) for t, p in probe.history if t == topic and p]


async def wait_command(probe: Probe, check: object, after: int = 0) -> ChargerCommand:
    def found(_: dict[str, str]) -> bool:
        return any(check(c) for c in commands(probe)[after:])  # type: ignore[operator]

    await probe.wait(found)
    return next(c for c in commands(probe)[after:] if check(c))  # type: ignore[operator]


async def publish_inputs(probe: Probe, *, connected: bool = True, grid_w: float = 500.0) -> None:
    topics = Topics(probe.settings.internal)
    status = ChargerStatus(
        loadpoint=1, charger="wb", status=ChargeStatus.B if connected else ChargeStatus.A, enabled=False
    )
    await probe.publish(topics.charger_status(1), status.model_dump_json(), retain=True)
    for name, usage, power in (("grid", MeterUsage.GRID, grid_w), ("pv", MeterUsage.PV, 0.0)):
        reading = MeterReading(meter=name, usage=usage, power_w=power)
        await probe.publish(topics.meter(name), reading.model_dump_json(), retain=True)


def read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.fixture
def config(mqtt_settings: MqttSettings, tmp_path: Path) -> Config:
    return make_config(mqtt_settings, tmp_path / "optimizer.json")


async def test_mode_now_starts_and_off_stops_charging(config: Config, probe: Probe) -> None:
    async with optimizer(config, probe):
        await probe.wait_state("loadpoints/1/mode", lambda v: v == "off")
        await publish_inputs(probe)
        await probe.set("loadpoints/1/mode", "now")
        command = await wait_command(probe, lambda c: c.enabled)
        assert command.current_a == 16
        assert command.reason.value == "START_CHARGE"
        assert await probe.wait_state("loadpoints/1/mode", lambda v: v == "now") == "now"
        # the handled /set is cleared
        await probe.wait_value(f"{config.mqtt.topic}/loadpoints/1/mode/set", lambda v: v == "")

        seen = len(commands(probe))
        await probe.set("loadpoints/1/mode", "OFF")
        command = await wait_command(probe, lambda c: not c.enabled, after=seen)
        assert command.reason.value == "STOP_CHARGE"
        await probe.wait_state("loadpoints/1/mode", lambda v: v == "off")


async def test_invalid_value_is_rejected_and_state_unchanged(config: Config, probe: Probe) -> None:
    async with optimizer(config, probe):
        await probe.wait_state("loadpoints/1/maxCurrent", lambda v: v == "16")
        await probe.set("loadpoints/1/mode", "turbo")
        await probe.set("loadpoints/1/maxCurrent", "3")  # below minCurrent 6 A
        await probe.set(
            "loadpoints/1/limitSoc", "80"
        )  # a valid one afterwards proves the others were handled
        await probe.wait_state("loadpoints/1/limitSoc", lambda v: v == "80")
        assert probe.state("loadpoints/1/mode") == "off"
        assert probe.state("loadpoints/1/maxCurrent") == "16"


async def test_request_reply_uses_the_same_setters(config: Config, probe: Probe) -> None:
    async with optimizer(config, probe), Bus(config.mqtt, "test-client") as client:
        await probe.wait_state("loadpoints/1/mode", lambda v: v == "off")
        reply = await client.request("optimizer", "loadpoints/1/mode", "pv")
        assert reply.ok and reply.value == "pv"
        await probe.wait_state("loadpoints/1/mode", lambda v: v == "pv")

        bad = await client.request("optimizer", "loadpoints/1/minCurrent", 32)
        assert not bad.ok and bad.code == 400 and "maxCurrent" in (bad.error or "")
        unknown = await client.request("optimizer", "loadpoints/7/mode", "pv")
        assert not unknown.ok and unknown.code == 404

        plan = await client.request(
            "optimizer", "loadpoints/1/planEnergy", {"time": "2099-01-01T07:00:00+01:00", "value": 10}
        )
        assert plan.ok and plan.value["value"] == 10
        answer = await client.request("optimizer", "loadpoints/1/plan")
        assert answer.ok and answer.value["planId"] == 1 and answer.value["duration"] > 0


async def test_settings_survive_a_restart(config: Config, probe: Probe) -> None:
    async with optimizer(config, probe):
        await probe.wait_state("loadpoints/1/mode", lambda v: v == "off")
        await probe.set("loadpoints/1/mode", "minpv")
        await probe.set("vehicles/ev/limitSoc", "85")
        await probe.wait_state("vehicles/ev/limitSoc", lambda v: v == "85")
        await probe.wait_state("loadpoints/1/mode", lambda v: v == "minpv")
    stored = read_json(Path(config.optimizer.state_file))
    assert stored["loadpoints"]["1"]["mode"] == "minpv"
    # a fresh probe view: wipe what we saw, start again, the service republishes the stored settings
    probe.values.clear()
    async with optimizer(config, probe):
        await probe.wait_state("loadpoints/1/mode", lambda v: v == "minpv")
        await probe.wait_state("vehicles/ev/limitSoc", lambda v: v == "85")
        await probe.wait_state("status", lambda v: v == "online")


FOREIGN_KEYS = {
    "site": {"pvPower", "pv", "grid", "battery", "gridConfigured", "tariffGrid", "tariffFeedIn", "tariffCo2",
             "tariffSolar", "forecast", "smartCostAvailable", "smartCostType", "statistics"},
    "loadpoints/1": {"connected", "charging", "enabled", "chargePower", "chargeCurrents", "chargeVoltages",
                     "phasesActive", "chargeTotalImport", "offeredCurrent", "chargerStatus", "chargerError"},
}  # fmt: skip


async def test_publishes_owned_keys_only(config: Config, probe: Probe) -> None:
    async with optimizer(config, probe):
        topics = Topics(config.mqtt.internal)
        await probe.publish(topics.meter("grid"), "{not json", retain=True)
        await probe.publish(topics.charger_status(1), '{"loadpoint": 1}', retain=True)
        await publish_inputs(probe)  # a bad payload is logged and ignored; the next good one counts
        await probe.wait_state("site/homePower", lambda v: v == "500")
        await probe.wait_state("loadpoints/1/vehicleName", lambda v: v == "ev")
        assert probe.state("loadpoints/1/name") == "lp-1"
        assert probe.state("loadpoints/1/title") == "Garage"
        assert probe.state("site/siteTitle") == "Test home"
        assert probe.state("loadpoints") == "1" and probe.state("vehicles") == "1"
        assert probe.state("status") == "online"
        await probe.wait_state("updated", lambda v: v.isdigit())
        await probe.wait_state("site/startupCompleted", lambda v: v == "true")
        root = config.mqtt.topic
        for scope, keys in FOREIGN_KEYS.items():
            for key in keys:
                assert not any(t == f"{root}/{scope}/{key}" or t.startswith(f"{root}/{scope}/{key}/")
                               for t, _ in probe.history), key  # fmt: skip


async def test_pv_surplus_starts_charging_after_the_enable_delay(mqtt_settings: MqttSettings, tmp_path: Path,
                                                                 probe: Probe) -> None:  # fmt: skip
    config = make_config(mqtt_settings, tmp_path / "s.json")
    lp = config.loadpoints[0].model_copy(
        update={"mode": ChargeMode.PV, "enable": ThresholdConfig(threshold_w=0, delay_s=1)}
    )
    config = config.model_copy(update={"loadpoints": [lp]})
    topics = Topics(mqtt_settings.internal)
    async with optimizer(config, probe):
        await publish_inputs(probe, grid_w=300)
        await wait_command(probe, lambda c: not c.enabled and c.reason.value == "SOLAR_CHARGING")
        # as the actuator and the meter-reader do, every poll: readings that show the command, steady
        for _ in range(2):
            status = ChargerStatus(loadpoint=1, charger="wb", status=ChargeStatus.B, enabled=False)
            await probe.publish(topics.charger_status(1), status.model_dump_json(), retain=True)
            for name, usage, power in (("grid", MeterUsage.GRID, -5000.0), ("pv", MeterUsage.PV, 5400.0)):
                reading = MeterReading(meter=name, usage=usage, power_w=power)
                await probe.publish(topics.meter(name), reading.model_dump_json(), retain=True)
        await probe.wait_state("loadpoints/1/pvAction", lambda v: v == "enable")
        # the enable delay (1 s) runs out on a timer tick, without any new input
        command = await wait_command(probe, lambda c: c.enabled)
        await probe.wait_state("loadpoints/1/pvAction", lambda v: v == "inactive")
        assert command.current_a == 6 and command.reason.value == "SOLAR_CHARGING"


async def test_session_events_on_the_bus(config: Config, probe: Probe) -> None:
    topics = Topics(config.mqtt.internal)

    async def charger(code: ChargeStatus, energy: float) -> None:
        status = ChargerStatus(loadpoint=1, charger="wb", status=code, enabled=True, energy_kwh=energy)
        await probe.publish(topics.charger_status(1), status.model_dump_json(), retain=True)

    def session_kinds(_: dict[str, str]) -> list[str]:
        return [json.loads(p)["kind"] for t, p in probe.history if t == topics.event("session")]

    async with optimizer(config, probe):
        await probe.wait_state("loadpoints/1/mode", lambda v: v == "off")
        await charger(ChargeStatus.B, 10.0)
        await charger(ChargeStatus.C, 10.0)
        await probe.wait(lambda v: session_kinds(v) == ["created"])
        await charger(ChargeStatus.C, 13.5)
        await probe.wait_state("loadpoints/1/sessionEnergy", lambda v: v == "3500")
        await charger(ChargeStatus.A, 13.5)
        await probe.wait(lambda v: session_kinds(v) == ["created", "updated", "finished"])
    events = [json.loads(p) for t, p in probe.history if t == topics.event("session")]
    assert len({e["session_uid"] for e in events}) == 1
    assert events[-1]["charged_kwh"] == 3.5 and events[-1]["meter_start_kwh"] == 10.0


async def test_plan_preview_changes_nothing(config: Config, probe: Probe) -> None:
    async with optimizer(config, probe), Bus(config.mqtt, "test-client") as client:
        await probe.wait_state("loadpoints/1/planEnergy", lambda v: v == "0")
        preview = await client.request(
            "optimizer",
            "loadpoints/1/plan/preview",
            {"type": "energy", "value": 11, "time": "2099-01-01T07:00:00Z"},
        )
        assert preview.ok
        assert preview.value["duration"] == round(11000 / (230 * 16 * 3) * 3600)
        assert preview.value["plan"][-1]["end"] == "2099-01-01T07:00:00+00:00"
        bad = await client.request(
            "optimizer",
            "loadpoints/1/plan/preview",
            {"type": "x", "value": 1, "time": "2099-01-01T07:00:00Z"},
        )
        assert not bad.ok and bad.code == 400
        answer = await client.request("optimizer", "loadpoints/1/plan")
        assert answer.ok and answer.value["plan"] == [] and "planId" not in answer.value


async def test_an_unreadable_settings_file_is_kept_aside(config: Config, probe: Probe) -> None:
    path = Path(config.optimizer.state_file)
    write_text(path, "{not json")
    async with optimizer(config, probe):
        await probe.wait_state("loadpoints/1/mode", lambda v: v == "off")
        await probe.set("loadpoints/1/mode", "pv")
        await probe.wait_state("loadpoints/1/mode", lambda v: v == "pv")
    assert read_json(path)["loadpoints"]["1"]["mode"] == "pv"
    assert read_text(path.with_suffix(".json.unreadable")) == "{not json"


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def read_text(path: Path) -> str:
    return path.read_text()


async def test_vehicles_created_and_deleted_at_run_time(config: Config, probe: Probe) -> None:
    async with optimizer(config, probe), Bus(config.mqtt, "test-client") as client:
        await probe.wait_state("vehicles", lambda v: v == "1")
        created = await client.request(
            "optimizer", "vehicles/fleet-1/create", {"title": "Van", "capacity_kwh": 75, "limit_soc": 90}
        )
        assert created.ok and created.value["capacity"] == 75
        await probe.wait_state("vehicles/fleet-1/title", lambda v: v == "Van")
        await probe.wait_state("vehicles", lambda v: v == "2")
        assigned = await client.request("optimizer", "loadpoints/1/vehicle", "fleet-1")
        assert assigned.ok and assigned.value == "fleet-1"
        capacity = await client.request("optimizer", "vehicles/fleet-1/capacity", 80)
        assert capacity.ok and capacity.value == 80
        await probe.wait_state("vehicles/fleet-1/capacity", lambda v: v == "80")

        refused = await client.request("optimizer", "vehicles/ev/delete")
        assert not refused.ok and refused.code == 409
        deleted = await client.request("optimizer", "vehicles/fleet-1/delete")
        assert deleted.ok
        await probe.wait_state("vehicles", lambda v: v == "1")
        await probe.wait_state("vehicles/fleet-1/title", lambda v: v == "")
        await probe.wait_state("loadpoints/1/vehicleName", lambda v: v == "")
        gone = await client.request("optimizer", "vehicles/fleet-1/limitSoc", 80)
        assert not gone.ok and gone.code == 404


async def test_a_restart_does_not_interrupt_a_running_pv_charge(
    mqtt_settings: MqttSettings, tmp_path: Path, probe: Probe
) -> None:
    config = make_config(mqtt_settings, tmp_path / "s.json")
    config = config.model_copy(
        update={"loadpoints": [config.loadpoints[0].model_copy(update={"mode": ChargeMode.PV})]}
    )
    topics = Topics(mqtt_settings.internal)
    charging = ChargerStatus(
        loadpoint=1, charger="wb", status=ChargeStatus.C, enabled=True, offered_current_a=10, power_w=6900
    )
    # what the broker retains from the other services while the optimizer is away: charging on surplus
    await probe.publish(
        topics.meter("grid"),
        MeterReading(meter="grid", usage=MeterUsage.GRID, power_w=-300).model_dump_json(),
        retain=True,
    )
    await probe.publish(
        topics.meter("pv"),
        MeterReading(meter="pv", usage=MeterUsage.PV, power_w=7500).model_dump_json(),
        retain=True,
    )
    await probe.publish(topics.charger_status(1), charging.model_dump_json(), retain=True)
    async with optimizer(config, probe):
        first = await wait_command(probe, lambda c: True)
        assert first.enabled and first.current_a >= 10


async def test_an_open_session_survives_an_optimizer_restart(config: Config, probe: Probe) -> None:
    topics = Topics(config.mqtt.internal)

    async def charger(code: ChargeStatus, energy: float) -> None:
        status = ChargerStatus(loadpoint=1, charger="wb", status=code, enabled=True, energy_kwh=energy)
        await probe.publish(topics.charger_status(1), status.model_dump_json(), retain=True)

    def events() -> list[dict[str, Any]]:
        return [json.loads(p) for t, p in probe.history if t == topics.event("session")]

    async with optimizer(config, probe):
        await charger(ChargeStatus.C, 10.0)
        await probe.wait(lambda _: [e["kind"] for e in events()] == ["created"])
        await charger(ChargeStatus.C, 11.0)
        await probe.wait_state("loadpoints/1/sessionEnergy", lambda v: v == "1000")
        await probe.wait_state("status", lambda v: v == "online")
    probe.values.clear()
    async with optimizer(config, probe):
        await probe.wait_state("loadpoints/1/sessionEnergy", lambda v: v == "1000")
        await charger(ChargeStatus.C, 12.5)
        await probe.wait_state("loadpoints/1/sessionEnergy", lambda v: v == "2500")
        await charger(ChargeStatus.A, 12.5)
        await probe.wait(lambda _: [e["kind"] for e in events()][-1:] == ["finished"])
    assert len({e["session_uid"] for e in events()}) == 1
    assert events()[-1]["charged_kwh"] == 2.5


async def test_updated_is_a_heartbeat_even_when_nothing_changes(config: Config, probe: Probe) -> None:
    """No inputs at all, so no state changes: `updated` must still move on, or health checks and the
    meter-reader's battery watchdog would take a quiet site for a dead control loop."""
    async with optimizer(config, probe):
        first = int(await probe.wait_state("updated", lambda v: v.isdigit()))
        later = await probe.wait_state("updated", lambda v: v.isdigit() and int(v) > first)
        assert int(later) > first


async def test_status_online_means_the_set_topics_are_listened_to(
    config: Config, probe: Probe, broker: Broker
) -> None:
    """``<root>/status`` online is the promise that a ``/set`` is heard: it waits for the optimizer's main
    connection to have its subscriptions acknowledged (here the broker is slow to answer them), and goes
    offline while that connection is down."""
    async with MqttProxy(broker) as proxy:
        proxy.hold_subscribes()
        behind_proxy = config.model_copy(update={"mqtt": config.mqtt.model_copy(update={"port": proxy.port})})
        stop = asyncio.Event()
        task = asyncio.create_task(run(behind_proxy, stop))
        try:
            await asyncio.wait_for(proxy.subscribe_held.wait(), 10)
            presence = lambda: any(c.endswith("-presence") for c in proxy.clients())  # noqa: E731
            await wait_for(presence)
            # the presence connection is up while the SUBSCRIBE is held: it says offline, never online
            assert await probe.wait_state("status", lambda v: v != "") == "offline"
            proxy.release_subscribes()
            await probe.wait_state("status", lambda v: v == "online")
            await probe.set("loadpoints/1/mode", "now")  # at once: nothing retained, nothing repeated
            await probe.wait_state("loadpoints/1/mode", lambda v: v == "now")

            proxy.hold_subscribes()
            assert proxy.cut(lambda c: not c.endswith("-presence"))  # the main connection drops
            await probe.wait_state("status", lambda v: v == "offline")
            await asyncio.wait_for(proxy.subscribe_held.wait(), 10)  # reconnected, subscribing again
            assert probe.state("status") == "offline"
            proxy.release_subscribes()
            await probe.wait_state("status", lambda v: v == "online")
            await probe.set("loadpoints/1/mode", "pv")
            await probe.wait_state("loadpoints/1/mode", lambda v: v == "pv")
        finally:
            proxy.release_subscribes()
            stop.set()
            await asyncio.wait_for(task, 20)
    statuses = [p for t, p in probe.history if t == f"{config.mqtt.topic}/status"]
    assert statuses[:4] == ["offline", "online", "offline", "online"]
