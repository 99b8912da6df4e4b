"""A benchmark stack: mosquitto, the simulated home *in this process*, and chosen services as child processes.

Unlike ``chargebus demo`` (everything in child processes), the simulator runs in the benchmark's own event
loop, so a benchmark reads the wallbox's write log — every accepted write with its ``time.monotonic()``
stamp — instead of polling a register over Modbus (which would load the very processes it measures).
``time.monotonic()`` is the system-wide CLOCK_MONOTONIC on Linux, comparable across processes.

    async with bench_stack(Path(tmp), services=("meter-reader", "charger-actuator", "optimizer")) as stack:
        stack.home.wallbox.writes, stack.config.mqtt, stack.base_url
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import yaml

from services.demo import effective_config, free_port
from services.embedded_broker import embedded_broker
from services.simulator.home import SimulatedHome, serve_home
from shared.config import Config, parse_config
from tests.e2e.stack import healthy, stack_config, wait_until

ROOT = Path(__file__).parents[1]
ALL_SERVICES = ("meter-reader", "charger-actuator", "tariff-fetcher", "optimizer", "gateway")
"""In the demo's start order (the simulator is not among them: it runs in this process)."""


@dataclass
class BenchStack:
    config: Config
    home: SimulatedHome | None
    """The in-process simulator (None when started with ``simulator=False``)."""
    base_url: str
    procs: dict[str, subprocess.Popen[bytes]]
    log_dir: Path


def bench_config(overrides: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """The e2e tests' demo home (device ports moved to free ones) with logging at ``warning``."""

    def quiet(data: dict[str, Any]) -> None:
        data["log"] = {"level": "warning"}
        if overrides:
            overrides(data)

    return stack_config(quiet)


async def services_online(config: Config, services: Sequence[str], timeout: float = 60.0) -> None:
    """Wait until every service's retained status says online."""
    pending = set(services)
    async with aiomqtt.Client(config.mqtt.host, config.mqtt.port) as client:
        await client.subscribe(f"{config.mqtt.internal}/services/+/status")
        async with asyncio.timeout(timeout):
            async for message in client.messages:
                name = message.topic.value.split("/")[-2]
                payload = message.payload
                if isinstance(payload, bytes | bytearray) and json.loads(payload).get("state") == "online":
                    pending.discard(name)
                if not pending:
                    return


def _stop(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in reversed(list(procs.values())):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in reversed(list(procs.values())):
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.asynccontextmanager
async def bench_stack(
    tmp: Path,
    data: dict[str, Any] | None = None,
    services: Sequence[str] = ALL_SERVICES,
    *,
    simulator: bool = True,
) -> AsyncIterator[BenchStack]:
    """Broker, in-process simulator (unless ``simulator`` is False), ``services`` as child processes; waits
    until they are online (and the gateway, when started, answers ``/api/health`` with 200)."""
    data = data if data is not None else bench_config()
    broker_port = free_port()
    gateway_port = free_port()
    effective = effective_config(data, tmp / "data", gateway_port, broker_port)
    config = parse_config(effective)
    config_file = tmp / "bench-config.yaml"
    config_file.write_text(yaml.safe_dump(effective, sort_keys=False), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(embedded_broker(broker_port))
        home = await stack.enter_async_context(serve_home(config.simulator)) if simulator else None
        try:
            for name in services:
                log = (tmp / f"{name}.log").open("wb")
                procs[name] = subprocess.Popen(  # noqa: ASYNC220 — children outlive the awaits below
                    [sys.executable, "-m", "services.cli", name, "--config", str(config_file)],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                log.close()
            await services_online(config, services)
            base_url = f"http://127.0.0.1:{gateway_port}"
            if "gateway" in services:
                async with httpx.AsyncClient(base_url=base_url, timeout=5) as http:
                    await wait_until(lambda: healthy(http), timeout=90)
            yield BenchStack(config, home, base_url, procs, tmp)
        finally:
            await asyncio.to_thread(_stop, procs)
