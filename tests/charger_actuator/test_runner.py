"""One charger's loop with an injected clock (shared with the simulated wallbox): heartbeat and fallback."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

from services.charger_actuator.drivers.registry import create_driver
from services.charger_actuator.runner import ChargerRunner
from services.simulator.clock import ManualClock
from shared.bus import Bus, BusMessage
from shared.config import MqttSettings
from shared.config_devices import ChargerConfig
from shared.messages import ChargerCommand, CommandReason
from tests.support.modbus import SUNNY_NOON, simulated_device
from tests.support.probe import Probe


async def test_alfen_current_is_rewritten_before_the_eve_falls_back(
    mqtt_settings: MqttSettings, probe: Probe
) -> None:
    clock = ManualClock(SUNNY_NOON)  # one frozen time for the wallbox and the actuator
    async with simulated_device("alfen", clock=clock, car={"connected": True}) as dev:
        config = ChargerConfig.model_validate(
            {
                "name": "eve",
                "type": "alfen",
                "modbus": {"host": dev.host, "port": dev.port, "id": dev.unit},
                "failsafe": {"timeout_s": 3600},
            }
        )
        async with Bus(mqtt_settings, "charger-actuator") as bus:
            runner = ChargerRunner(bus, config, 1, create_driver(config), clock=clock)
            now = clock()
            command = ChargerCommand(
                seq=1,
                enabled=True,
                current_a=10,
                reason=CommandReason.SCHEDULED_CHARGING,
                issued_at=now,
                valid_until=now + timedelta(minutes=10),
            )
            await runner.on_command(BusMessage("cmd", command.model_dump_json().encode(), False))
            await runner.cycle()
            assert dev.state.wallbox_enabled and dev.state.wallbox_offered_a == 10
            writes = len(dev.writes.of("max_current"))

            clock.advance(20)
            await runner.cycle()
            assert len(dev.writes.of("max_current")) == writes, "no heartbeat before 25 s"

            clock.advance(5)
            await runner.cycle()
            heartbeat = dev.writes.of("max_current")[writes:]
            assert heartbeat and all(w.value == 10.0 for w in heartbeat)
            assert dev.value("validity_time") == 60, "the Eve's validity timer starts again"

            # The status published after the heartbeat arrives after any event of that cycle.
            status_topic = f"{mqtt_settings.internal}/chargers/1/status"
            await probe.wait_value(
                status_topic, lambda v: datetime.fromisoformat(json.loads(v)["timestamp"]) == clock()
            )
            commands = [json.loads(p) for t, p in probe.history if t.endswith("/events/command")]
            assert [c["seq"] for c in commands] == [1], "the heartbeat is no command event"


async def test_alfen_fallback_is_noticed_and_synced(mqtt_settings: MqttSettings, probe: Probe) -> None:
    clock = ManualClock(SUNNY_NOON)
    async with simulated_device("alfen", clock=clock, car={"connected": True}) as dev:
        config = ChargerConfig.model_validate(
            {
                "name": "eve",
                "type": "alfen",
                "modbus": {"host": dev.host, "port": dev.port, "id": dev.unit},
                "failsafe": {"timeout_s": 3600},
            }
        )
        async with Bus(mqtt_settings, "charger-actuator") as bus:
            runner = ChargerRunner(bus, config, 1, create_driver(config), clock=clock)
            now = clock()
            command = ChargerCommand(
                seq=3, enabled=True, current_a=14, issued_at=now, valid_until=now + timedelta(minutes=10)
            )
            await runner.on_command(BusMessage("cmd", command.model_dump_json().encode(), False))
            await runner.cycle()
            # Nobody wrote for longer than the Eve's validity time (the heartbeat skipped, e.g. a stalled
            # host): it falls back to its safe current of 6 A.
            runner.state = replace(runner.state, last_write_at=None)
            clock.advance(61)
            assert dev.value("applied_max_current") == 6
            before = len(dev.writes.of("max_current"))
            await runner.cycle()
            assert dev.writes.of("max_current")[before:][-1].value == 14.0
            assert dev.state.wallbox_offered_a == 14
            sync = await probe.wait_value(
                f"{mqtt_settings.internal}/events/command", lambda v: json.loads(v)["reason"] == "SYNC"
            )
            assert json.loads(sync)["seq"] == 3
