"""Start the demo stack (``chargebus demo``) as a child process on free ports, for whole-system tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from services.demo import demo_config_data
from tests.support.broker import free_port
from tests.support.gateway_part import stop_process

ROOT = Path(__file__).parents[2]


@dataclass
class Stack:
    proc: subprocess.Popen[bytes]
    base_url: str
    broker_port: int
    config: dict[str, Any]
    data_dir: Path

    @property
    def wallbox_port(self) -> int:
        return int(self.config["chargers"][0]["modbus"]["port"])


# The demo wallbox map (docs/simulator.md): holding 0 = status (1 A, 2 B, 3 C), 1 = enabled, 2 = 0.1 A.
STATUS_REGISTER = 0
ENABLED_REGISTER = 1
CURRENT_REGISTER = 2


def api_result(response: httpx.Response) -> Any:
    """A REST answer's value, with or without evcc's ``{"result": …}`` wrapper."""
    body = response.json()
    return body["result"] if isinstance(body, dict) and "result" in body else body


async def healthy(http: httpx.AsyncClient) -> bool:
    """Whether the gateway says the control loop is alive."""
    return (await http.get("/api/health")).status_code == 200


def stack_config(overrides: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """The bundled demo home with every port moved to a free one."""
    data = demo_config_data(None)
    ports = {name: free_port() for name in ("pv", "grid", "battery", "wallbox")}
    sim = data.setdefault("simulator", {})
    for name, port in ports.items():
        sim[f"{name}_port"] = port
    for meter in data["meters"]:
        meter["modbus"]["port"] = ports[meter["name"]]
    data["chargers"][0]["modbus"]["port"] = ports["wallbox"]
    if overrides:
        overrides(data)
    return data


def example_config(name: str) -> dict[str, Any]:
    """``examples/<name>`` (an OCPP example) with every port moved to a free one — the simulated Modbus
    devices, the central system and the URL the simulated charge point connects to — and the loadpoint off."""
    data: dict[str, Any] = yaml.safe_load((ROOT / "examples" / name).read_text(encoding="utf-8"))
    ports = {name: free_port() for name in ("pv", "grid", "battery")}
    for device in data["simulator"]["devices"]:
        if device["name"] in ports:
            device["port"] = ports[device["name"]]
    for meter in data["meters"]:
        meter["modbus"]["port"] = ports[meter["name"]]
    central = free_port()
    data["ocpp"] = {**data["ocpp"], "host": "127.0.0.1", "port": central}
    for device in data["simulator"]["devices"]:
        if device["model"] == "ocpp":
            device["url"] = f"ws://127.0.0.1:{central}/cp1"
    data["loadpoints"][0]["mode"] = "off"
    data["chargers"][0]["ocpp"]["meter_interval_s"] = 1
    return data


def use_scenario(config: dict[str, Any], directory: Path, scenario: dict[str, Any]) -> Path:
    """Write ``scenario`` (docs/simulator.md) to ``directory`` and let the simulator play it."""
    path = directory / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False), encoding="utf-8")
    config.setdefault("simulator", {})["scenario"] = str(path.resolve())
    return path


async def wait_until(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Await an outside process's observable state (HTTP, Modbus): poll ``check`` until truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    last_error: BaseException | None = None
    while asyncio.get_running_loop().time() < deadline:
        try:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return result
        except (httpx.HTTPError, OSError) as error:
            last_error = error
        await asyncio.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout} s (last error: {last_error})")


@contextlib.asynccontextmanager
async def demo_stack(tmp_path: Path, config: dict[str, Any] | None = None) -> AsyncIterator[Stack]:
    with running_demo(tmp_path, config) as stack:
        yield stack


@contextlib.contextmanager
def running_demo(tmp_path: Path, config: dict[str, Any] | None = None) -> Iterator[Stack]:
    """The demo as a child process (also for session-wide fixtures, which are synchronous)."""
    config = config or stack_config()
    gateway_port = free_port()
    broker_port = free_port()
    config_file = tmp_path / "demo.yaml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    data_dir = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = (tmp_path / "demo.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.cli",
            "demo",
            "--config",
            str(config_file),
            "--data",
            str(data_dir),
            "--port",
            str(gateway_port),
            "--broker-port",
            str(broker_port),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    stack = Stack(proc, f"http://127.0.0.1:{gateway_port}", broker_port, config, data_dir)
    try:
        yield stack
    finally:
        stop_process(proc, timeout=30)
        log.close()
