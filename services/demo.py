"""``chargebus demo``: the whole system on one machine, as one process tree.

An embedded broker (mosquitto when installed, else amqtt in this process), then every service as its own
child process — ``python -m services.cli <service> --config <effective config>`` — in start order. A child
that dies is restarted with backoff while the others keep running; Ctrl-C / SIGTERM stops them in reverse
order and then the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from services.embedded_broker import embedded_broker
from services.registry import SERVICES
from shared.config import Config, parse_config
from shared.logging import configure_logging, get_logger

DEFAULT_BROKER_PORT = 1883


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_config_data(config_path: str | None) -> dict[str, Any]:
    """The demo's YAML as a mapping: the given file, else the bundled demo home."""
    if config_path:
        text = Path(config_path).read_text(encoding="utf-8")
    else:
        text = resources.files("services").joinpath("demo.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError("the demo config must be a mapping")
    return data


def effective_config(
    data: dict[str, Any], data_dir: Path, gateway_port: int | None, broker_port: int
) -> dict[str, Any]:
    """The config the children run with: the embedded broker and data paths below ``data_dir``."""
    out = dict(data)
    out["mqtt"] = {**out.get("mqtt", {}), "host": "127.0.0.1", "port": broker_port}
    out.setdefault("database", {"url": f"sqlite:///{(data_dir / 'chargebus.db').resolve()}"})
    tariffs = dict(out.get("tariffs") or {})
    tariffs.setdefault("cache_file", str((data_dir / "tariffs-cache.json").resolve()))
    out["tariffs"] = tariffs
    out["optimizer"] = {
        "state_file": str((data_dir / "optimizer-settings.json").resolve()),
        **out.get("optimizer", {}),
    }
    if gateway_port is not None:
        out["gateway"] = {**out.get("gateway", {}), "port": gateway_port}
    return out


class Supervisor:
    """Runs each service as a child process and restarts one that dies, with backoff."""

    def __init__(self, config_file: Path, names: list[str]) -> None:
        self.config_file = config_file
        self.names = names
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.stopping = False
        self.log = get_logger("demo")

    async def _spawn(self, name: str) -> asyncio.subprocess.Process:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.cli", name, "--config", str(self.config_file)
        )
        self.procs[name] = proc
        self.log.info("service started", child=name, pid=proc.pid)
        return proc

    async def _watch(self, name: str) -> None:
        backoff = 1.0
        proc = await self._spawn(name)
        while True:
            code = await proc.wait()
            if self.stopping:
                return
            self.log.error("service exited; restarting", child=name, exit_code=code, retry_s=backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)
            if self.stopping:
                return
            proc = await self._spawn(name)

    async def run(self, stop: asyncio.Event) -> None:
        watchers = [asyncio.create_task(self._watch(name)) for name in self.names]
        await stop.wait()
        self.stopping = True
        for name in reversed(self.names):
            proc = self.procs.get(name)
            if proc is not None and proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)


async def _run_demo(config: Config, config_file: Path, data_dir: Path) -> int:
    log = get_logger("demo")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    async with embedded_broker(config.mqtt.port, data_dir / "mosquitto") as broker:
        log.info("broker running", kind=broker.kind, port=broker.port)
        log.info(
            "chargebus demo starting",
            ui=f"http://{config.gateway.host}:{config.gateway.port}/",
            state=f"http://{config.gateway.host}:{config.gateway.port}/api/state",
            mqtt=f"mqtt://127.0.0.1:{broker.port}/{config.mqtt.topic}/#",
        )
        await Supervisor(config_file, list(SERVICES)).run(stop)
    log.info("chargebus demo stopped")
    return 0


def run_demo(
    config_path: str | None, data_dir: Path, port: int | None = None, broker_port: int | None = None
) -> int:
    """Prepare the data folder and effective config (refusing a bad one), then run until Ctrl-C."""
    data = demo_config_data(config_path)
    configure_logging(str(data.get("log", {}).get("level", "info")), "console")
    (data_dir / "mosquitto").mkdir(parents=True, exist_ok=True)
    if broker_port is None:
        broker_port = DEFAULT_BROKER_PORT if port_free(DEFAULT_BROKER_PORT) else free_port()
    effective = effective_config(data, data_dir, port, broker_port)
    config = parse_config(effective)
    config_file = data_dir / "demo-config.yaml"
    config_file.write_text(yaml.safe_dump(effective, sort_keys=False), encoding="utf-8")
    return asyncio.run(_run_demo(config, config_file, data_dir))
