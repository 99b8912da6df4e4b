"""Reaction time: ``POST /api/loadpoints/1/mode/off`` → the wallbox's enable register written.

Two ways, both over the whole path REST → request/reply → optimizer decision → command → actuator →
Modbus write:

- ``poll`` (the original figure): the real demo stack (``chargebus demo``: broker, simulator, all services as
  child processes); this process watches the simulated wallbox's enable register over Modbus TCP in a tight
  loop. The register poll costs about one Modbus round trip on loopback, which bounds the resolution, and
  it loads the simulator process it polls.
- ``trace``: mosquitto, every service as a child process and the simulator in *this* process, so the time of
  the write comes from the simulator's write log (``time.monotonic()``, no polling), and a probe subscribed
  to ``chargebus/#`` stamps each stage: the gateway's request on the bus, the optimizer's command, its reply,
  the HTTP response, the register write — each in ms after the POST was sent.

Each run first switches to ``now`` and waits for the enable write, then measures ``off``.

    python -m bench.reaction --runs 200              # both
    python -m bench.reaction --runs 200 --mode trace
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
from pymodbus.client import AsyncModbusTcpClient

from bench.stack import bench_config, bench_stack
from bench.stats import emit, summary_ms
from shared.logging import configure_logging
from tests.e2e.stack import ENABLED_REGISTER, demo_stack, healthy, stack_config, wait_until

STAGES = ("request on bus", "command on bus", "reply on bus", "HTTP response", "register written")


async def _enabled(modbus: AsyncModbusTcpClient) -> int:
    response = await modbus.read_holding_registers(ENABLED_REGISTER, count=1, device_id=1)
    return int(response.registers[0])


async def _until_enabled(modbus: AsyncModbusTcpClient, value: int, timeout: float = 10.0) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if await _enabled(modbus) == value:
            return time.perf_counter()
    raise TimeoutError(f"enable register never became {value}")


def _start_off(config: dict[str, Any]) -> None:
    config["loadpoints"][0]["mode"] = "off"
    config["log"] = {"level": "warning"}


async def measure(runs: int) -> dict[str, float]:
    """The ``poll`` way (see the module docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            demo_stack(Path(tmp), stack_config(_start_off)) as stack,
            httpx.AsyncClient(base_url=stack.base_url, timeout=10) as http,
        ):
            await wait_until(lambda: healthy(http), timeout=90)
            modbus = AsyncModbusTcpClient("127.0.0.1", port=stack.wallbox_port)
            await modbus.connect()
            samples: list[float] = []
            try:
                for _ in range(runs):
                    (await http.post("/api/loadpoints/1/mode/now")).raise_for_status()
                    await _until_enabled(modbus, 1)
                    started = time.perf_counter()
                    (await http.post("/api/loadpoints/1/mode/off")).raise_for_status()
                    samples.append(await _until_enabled(modbus, 0) - started)
            finally:
                modbus.close()
    return summary_ms(samples)


class Probe:
    """Every message below the internal root with its arrival time (``time.monotonic()``)."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, str, bytes]] = []

    async def listen(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else b""
            self.seen.append((time.monotonic(), message.topic.value, payload))

    def first(self, since: int, started: float, topic_part: str, payload_part: bytes = b"") -> float | None:
        for arrived, topic, payload in self.seen[since:]:
            if topic_part in topic and payload_part in payload:
                return arrived - started
        return None


async def trace(runs: int) -> dict[str, dict[str, float]]:
    """The ``trace`` way: each stage's delay after the POST (see the module docstring)."""
    configure_logging("warning", "console")
    stages: dict[str, list[float]] = {stage: [] for stage in STAGES}

    def record(stage: str, value: float | None) -> None:
        if value is not None:
            stages[stage].append(value)

    with tempfile.TemporaryDirectory() as tmp:
        data = bench_config(lambda config: config["loadpoints"][0].update(mode="off"))
        async with bench_stack(Path(tmp), data) as stack:
            assert stack.home is not None
            writes = stack.home.wallbox.writes
            mqtt = stack.config.mqtt
            probe = Probe()
            async with (
                aiomqtt.Client(mqtt.host, mqtt.port) as client,
                httpx.AsyncClient(base_url=stack.base_url, timeout=10) as http,
            ):
                await client.subscribe(f"{mqtt.internal}/#")
                listener = asyncio.create_task(probe.listen(client))
                try:
                    for _ in range(runs):
                        since = len(writes)
                        (await http.post("/api/loadpoints/1/mode/now")).raise_for_status()
                        await writes.wait_for(lambda r: r.point == "enabled" and r.value == 1, since=since)
                        await asyncio.sleep(0.05)
                        since, seen = len(writes), len(probe.seen)
                        started = time.monotonic()
                        (await http.post("/api/loadpoints/1/mode/off")).raise_for_status()
                        answered = time.monotonic() - started
                        write = await writes.wait_for(
                            lambda r: r.point == "enabled" and r.value == 0, since=since
                        )
                        await asyncio.sleep(0.02)  # let the probe see the last messages
                        record("request on bus", probe.first(seen, started, "/requests/optimizer"))
                        record(
                            "command on bus",
                            probe.first(seen, started, "/chargers/1/command", b'"enabled":false'),
                        )
                        record("reply on bus", probe.first(seen, started, "/replies/"))
                        record("HTTP response", answered)
                        record("register written", write.monotonic_s - started)
                finally:
                    listener.cancel()
    return {stage: summary_ms(samples) for stage, samples in stages.items() if samples}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--mode", choices=("poll", "trace", "both"), default="both")
    args = parser.parse_args()
    if args.mode in ("poll", "both"):
        emit("mode off → enable register (demo stack, Modbus poll)", asyncio.run(measure(args.runs)))
    if args.mode in ("trace", "both"):
        for stage, figures in asyncio.run(trace(args.runs)).items():
            emit(f"mode off → {stage} (trace)", figures)


if __name__ == "__main__":
    main()
