"""Device I/O: one meter poll per driver, and a ChargerCommand on the bus → the wallbox register written.

**Meter poll cycle** — ``MeterPoller.poll_once`` (the meter-reader's unit of work: the driver's register
reads over one kept-open Modbus TCP link, decoding, the MeterReading) against simulated devices on free
ports (``tests/support/modbus.py``, frozen sunny noon). The simulator serves from this process's event loop,
so a figure includes the server's side of each request too (on a real network the device answers in
parallel, plus its own latency).

- ``sunspec`` on a ``sunspec-inverter`` (models 1 → 103) and on a ``sunspec-battery`` (1 → 103 → 124 → 802);
- ``sdm630`` (Eastron, input registers);
- ``modbus`` (the generic register map: six values in three blocks).

**Command → register** — mosquitto, the charger-actuator as a child process (its demo configuration: the
``demo`` wallbox, 1 s poll interval) and the simulated wallbox in this process. Each run publishes a
ChargerCommand (QoS 1) on ``chargebus/chargers/1/command``, alternating enable (16 A) and disable, at a
random phase of the actuator's poll interval, and takes the time to the simulator's record of the write of
the wallbox's ``enabled`` register (``time.monotonic()`` in both processes). An enable writes the current
first, then the enable register.

    python -m bench.devices --runs 500 --command-runs 200
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import structlog

from bench.stack import bench_config, bench_stack
from bench.stats import emit, summary_ms
from services.meter_reader.drivers import driver_for
from services.meter_reader.poller import MeterPoller
from services.simulator.registers import WriteRecord
from shared.config_devices import MeterConfig
from shared.devices.modbus import ModbusLink
from shared.logging import configure_logging
from shared.messages import ChargerCommand, CommandReason, MeterReading
from tests.support.modbus import GENERIC_METER_MAP, GENERIC_METER_REGISTERS, Device, simulated_device

METERS: list[tuple[str, str, str, str, dict[str, Any]]] = [
    # label, simulated model, driver type, usage, extra device/meter settings
    ("sunspec inverter (1 → 103)", "sunspec-inverter", "sunspec", "pv", {}),
    ("sunspec battery (1 → 103 → 124 → 802)", "sunspec-battery", "sunspec", "battery", {}),
    ("sdm630", "sdm630", "sdm630", "grid", {}),
    (
        "generic modbus map (6 values, 3 blocks)",
        "generic-meter",
        "modbus",
        "grid",
        {"registers": GENERIC_METER_MAP},
    ),
]


async def _ignore(_: MeterReading) -> None:
    return None


def _meter_config(dev: Device, driver: str, usage: str, extra: dict[str, Any]) -> MeterConfig:
    modbus = {"host": dev.host, "port": dev.port, "id": dev.unit, "timeout_s": 1.0}
    return MeterConfig.model_validate(
        {"name": "m", "type": driver, "usage": usage, "modbus": modbus, **extra}
    )


async def meter_poll(
    model: str, driver: str, usage: str, extra: dict[str, Any], runs: int
) -> dict[str, float]:
    registers = GENERIC_METER_REGISTERS if model == "generic-meter" else []
    async with simulated_device(model, registers=registers) as dev:
        config = _meter_config(dev, driver, usage, extra)
        link = ModbusLink(config.modbus)
        poller = MeterPoller(
            config,
            driver_for(config),
            link,
            _ignore,
            clock=lambda: datetime.now(UTC),
            log=structlog.get_logger(),
        )
        try:
            for _ in range(10):  # connect and (SunSpec) discover the model chain first
                first = await poller.poll_once()
                if first.stale:
                    raise RuntimeError(f"{model}: {first.error}")
            samples: list[float] = []
            for _ in range(runs):
                started = time.perf_counter()
                reading = await poller.poll_once()
                samples.append(time.perf_counter() - started)
                if reading.stale:
                    raise RuntimeError(f"{model}: {reading.error}")
        finally:
            link.close()
    return summary_ms(samples)


def command_payload(seq: int, enabled: bool) -> bytes:
    now = datetime.now(UTC)
    command = ChargerCommand(
        seq=seq,
        enabled=enabled,
        current_a=16.0 if enabled else 0.0,
        reason=CommandReason.START_CHARGE if enabled else CommandReason.STOP_CHARGE,
        issued_at=now,
        valid_until=now + timedelta(seconds=30),
    )
    return command.model_dump_json().encode()


def _enabled_write(enabled: bool) -> Callable[[WriteRecord], bool]:
    def matches(record: WriteRecord) -> bool:
        return record.point == "enabled" and record.value == int(enabled)

    return matches


async def command_to_register(runs: int, seed: int = 1) -> dict[str, dict[str, float]]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        async with bench_stack(Path(tmp), bench_config(), services=("charger-actuator",)) as stack:
            assert stack.home is not None
            mqtt = stack.config.mqtt
            interval = stack.config.chargers[0].interval_s
            writes = stack.home.wallbox.writes
            topic = f"{mqtt.internal}/chargers/1/command"
            samples: dict[bool, list[float]] = {True: [], False: []}
            seq = int(time.time() * 1000)
            async with aiomqtt.Client(mqtt.host, mqtt.port) as client:
                enabled = not bool(stack.home.wallbox.value("enabled"))
                for run in range(runs + 2):  # the first two only bring the charger to a known state
                    seq += 1
                    since = len(writes)
                    started = time.monotonic()
                    await client.publish(topic, command_payload(seq, enabled), qos=1)
                    record = await writes.wait_for(_enabled_write(enabled), since=since)
                    if run >= 2:
                        samples[enabled].append(record.monotonic_s - started)
                    enabled = not enabled
                    await asyncio.sleep(rng.uniform(0.05, interval + 0.05))  # any phase of the poll tick
    both = samples[True] + samples[False]
    return {
        "all": summary_ms(both),
        "enable (current + enable written)": summary_ms(samples[True]),
        "disable": summary_ms(samples[False]),
    }


async def measure(args: argparse.Namespace) -> None:
    if not args.skip_meters:
        for label, model, driver, usage, extra in METERS:
            figures = await meter_poll(model, driver, usage, extra, args.runs)
            emit(f"meter poll cycle: {label}", figures)
    if args.command_runs > 0:
        results = await command_to_register(args.command_runs)
        for label, figures in results.items():
            emit(f"ChargerCommand → wallbox register: {label}", figures)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=500, help="poll cycles per meter driver")
    parser.add_argument("--command-runs", type=int, default=200, help="commands published (0 skips)")
    parser.add_argument("--skip-meters", action="store_true")
    args = parser.parse_args()
    configure_logging("warning", "console")
    asyncio.run(measure(args))


if __name__ == "__main__":
    main()
