"""Reaction time: ``POST /api/loadpoints/1/mode/off`` → the wallbox's enable register written.

Runs the real demo stack (``chargebus demo``: broker, simulator, all services as child processes) and
watches the simulated wallbox's enable register over Modbus TCP in a tight loop, so the figure includes
REST → request/reply → optimizer decision → command → actuator → Modbus write. The register poll costs
about one Modbus round trip on loopback, which bounds the resolution.

    python -m bench.reaction --runs 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from pymodbus.client import AsyncModbusTcpClient

from bench.stats import summary_ms
from tests.e2e.stack import demo_stack, stack_config, wait_until

ENABLED_REGISTER = 1


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
    with tempfile.TemporaryDirectory() as tmp:
        async with (
            demo_stack(Path(tmp), stack_config(_start_off)) as stack,
            httpx.AsyncClient(base_url=stack.base_url, timeout=10) as http,
        ):
            await wait_until(lambda: _healthy(http), timeout=90)
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


async def _healthy(http: httpx.AsyncClient) -> bool:
    return (await http.get("/api/health")).status_code == 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps({"benchmark": "mode off → enable register", **asyncio.run(measure(args.runs))}))


if __name__ == "__main__":
    main()
