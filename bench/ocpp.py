"""OCPP: a ChargerCommand on the bus → the SetChargingProfile it causes, received by the charge point.

mosquitto, the charger-actuator as a child process (``examples/ocpp-demo.yaml``: its central system, 1 s
status interval) and the simulated home in this process, whose wallbox is the simulator's OCPP 1.6J charge
point (a real websocket client, the ``ocpp`` package). Each run publishes a ChargerCommand (QoS 1) on
``chargebus/chargers/1/command`` — alternating enable at 16 A and disable — at a random phase of the
actuator's poll interval, and takes the time until the charge point has received the live
SetChargingProfile with that limit (``time.monotonic()`` in both processes; the charge point stamps a call
when its handler runs, i.e. after schema validation). An enable is one profile (the current is part of it).

    python -m bench.ocpp --runs 200
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import aiomqtt

from bench.devices import command_payload
from bench.stack import bench_stack
from bench.stats import emit, summary_ms
from services.simulator.devices.ocpp_cp import Received, SimulatedChargePoint
from shared.logging import configure_logging
from tests.e2e.stack import example_config


def live_limit(limit: float) -> Any:
    def matches(payload: dict[str, Any]) -> bool:
        profile = payload["cs_charging_profiles"]
        period = profile["charging_schedule"]["charging_schedule_period"][0]
        return bool(profile["stack_level"] >= 1 and float(period["limit"]) == limit)

    return matches


async def command_to_profile(runs: int, seed: int = 1) -> dict[str, dict[str, float]]:
    rng = random.Random(seed)
    data = example_config("ocpp-demo.yaml")
    data["log"] = {"level": "warning"}
    with tempfile.TemporaryDirectory() as tmp:
        async with bench_stack(Path(tmp), data, services=("charger-actuator",)) as stack:
            assert stack.home is not None
            cp = stack.home.services["wallbox"]
            assert isinstance(cp, SimulatedChargePoint)
            await cp.wait_for(
                "SetChargingProfile", lambda p: p["cs_charging_profiles"]["stack_level"] == 0, timeout=60
            )
            mqtt = stack.config.mqtt
            interval = stack.config.chargers[0].interval_s
            topic = f"{mqtt.internal}/chargers/1/command"
            samples: dict[bool, list[float]] = {True: [], False: []}
            seq = int(time.time() * 1000)
            enabled = True
            async with aiomqtt.Client(mqtt.host, mqtt.port) as client:
                for run in range(runs + 2):  # the first two only bring the box to a known state
                    seq += 1
                    since = len(cp.received)
                    started = time.monotonic()
                    await client.publish(topic, command_payload(seq, enabled), qos=1)
                    received: Received = await cp.wait_for(
                        "SetChargingProfile", live_limit(16.0 if enabled else 0.0), since=since, timeout=30
                    )
                    if run >= 2:
                        samples[enabled].append(received.monotonic_s - started)
                    enabled = not enabled
                    await asyncio.sleep(rng.uniform(0.05, interval + 0.05))  # any phase of the poll tick
    return {
        "all": summary_ms(samples[True] + samples[False]),
        "enable (16 A)": summary_ms(samples[True]),
        "disable (0 A)": summary_ms(samples[False]),
    }


async def measure(args: argparse.Namespace) -> None:
    for label, figures in (await command_to_profile(args.runs)).items():
        emit(f"ChargerCommand → SetChargingProfile received: {label}", figures)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=200, help="commands published")
    args = parser.parse_args()
    configure_logging("warning", "console")
    asyncio.run(measure(args))


if __name__ == "__main__":
    main()
