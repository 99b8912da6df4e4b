"""Optimizer reaction time: a grid meter reading that changes the PV surplus → the new ChargerCommand.

mosquitto and the optimizer (a child process) only; this process plays the other services on the bus. The
loadpoint is in mode ``pv`` with enable and disable delays of 0 s and thresholds of 0 W; a retained
ChargerStatus says a car is connected (status B). Each run publishes one MeterReading of the grid meter on
``chargebus/meters/grid`` (QoS 1), alternating a surplus (−8 kW: enable at the minimum current) and an import
(+500 W: disable), and takes the time until the optimizer publishes a ChargerCommand with the new
``enabled`` — the bus round trip plus the optimizer's control cycle. Runs are 50–300 ms apart (random), so
they fall at any phase of the optimizer's 5 s tick.

    python -m bench.optimizer_reaction --runs 200
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

from bench.stack import bench_config, bench_stack
from bench.stats import emit, summary_ms
from shared.config import MqttSettings
from shared.logging import configure_logging
from shared.messages import ChargerCommand, ChargerStatus, ChargeStatus, MeterReading, MeterUsage

SURPLUS_W = -8000.0
IMPORT_W = 500.0


def pv_config(data: dict[str, Any]) -> None:
    """The demo home without a battery, loadpoint in mode pv with zero delays and thresholds."""
    data["site"]["battery"] = []
    data["meters"] = [m for m in data["meters"] if m["name"] != "battery"]
    loadpoint = data["loadpoints"][0]
    loadpoint["mode"] = "pv"
    loadpoint["enable"] = {"threshold_w": 0, "delay_s": 0}
    loadpoint["disable"] = {"threshold_w": 0, "delay_s": 0}


class Commands:
    """Every ChargerCommand of loadpoint 1 with its arrival time; await the first one matching."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, ChargerCommand]] = []
        self.changed = asyncio.Event()

    async def listen(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if isinstance(message.payload, bytes | bytearray):
                arrived = time.monotonic()
                self.seen.append((arrived, ChargerCommand.model_validate_json(message.payload)))
                self.changed.set()

    async def first(self, enabled: bool, after: float, timeout: float = 10.0) -> float:
        async with asyncio.timeout(timeout):
            while True:
                for arrived, command in self.seen:
                    if arrived >= after and command.enabled is enabled:
                        return arrived
                self.changed.clear()
                await self.changed.wait()


async def publish_reading(
    client: aiomqtt.Client, mqtt: MqttSettings, name: str, usage: MeterUsage, w: float
) -> None:
    reading = MeterReading(meter=name, usage=usage, power_w=w)
    await client.publish(f"{mqtt.internal}/meters/{name}", reading.model_dump_json(), qos=1, retain=True)


async def measure(runs: int, seed: int = 1) -> dict[str, dict[str, float]]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        async with bench_stack(
            Path(tmp), bench_config(pv_config), services=("optimizer",), simulator=False
        ) as stack:
            mqtt = stack.config.mqtt
            commands = Commands()
            async with aiomqtt.Client(mqtt.host, mqtt.port) as client:
                await client.subscribe(f"{mqtt.internal}/chargers/1/command", qos=1)
                listener = asyncio.create_task(commands.listen(client))
                try:
                    status = ChargerStatus(
                        loadpoint=1, charger="wallbox", status=ChargeStatus.B, enabled=False
                    )
                    await publish_reading(client, mqtt, "pv", MeterUsage.PV, 9000.0)
                    await publish_reading(client, mqtt, "grid", MeterUsage.GRID, IMPORT_W)
                    topic = f"{mqtt.internal}/chargers/1/status"
                    await client.publish(topic, status.model_dump_json(), qos=1, retain=True)
                    await commands.first(False, 0.0, timeout=30)
                    samples: dict[bool, list[float]] = {True: [], False: []}
                    enabled = True
                    for _ in range(runs):
                        await asyncio.sleep(rng.uniform(0.05, 0.3))
                        started = time.monotonic()
                        await publish_reading(
                            client, mqtt, "grid", MeterUsage.GRID, SURPLUS_W if enabled else IMPORT_W
                        )
                        samples[enabled].append(await commands.first(enabled, started) - started)
                        enabled = not enabled
                finally:
                    listener.cancel()
    return {
        "all": summary_ms(samples[True] + samples[False]),
        "surplus → enable": summary_ms(samples[True]),
        "import → disable": summary_ms(samples[False]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    configure_logging("warning", "console")
    for label, figures in asyncio.run(measure(args.runs)).items():
        emit(f"grid reading → ChargerCommand: {label}", figures)


if __name__ == "__main__":
    main()
