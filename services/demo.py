"""``chargebus demo``: the whole system on one machine, as one process tree.

An embedded broker (a mosquitto child when installed, else amqtt in this process), then every service as
its own child process — ``python -m services.cli <service> --config <effective config>`` — in dependency
order (:data:`START_LEVELS`), each level once the one before it is up. One "ready" line with the URLs
follows when ``/api/state`` has the configured site. A child that dies — the broker included — is reaped
and restarted with backoff while the others keep running (the services reconnect by themselves); Ctrl-C /
SIGTERM stops them in reverse order and then the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import yaml
from pydantic import SecretStr

from services.deployment import REQUESTER, Credentials, acl_text, prepare_credentials
from services.embedded_broker import BrokerAuth, amqtt, find_mosquitto, mosquitto_argv, wait_port_async
from services.health import StatusWatch
from shared.config import Config, parse_config
from shared.logging import configure_logging, get_logger
from shared.service import install_stop_signals
from shared.tasks import cancel_and_wait

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


START_LEVELS: tuple[tuple[str, ...], ...] = (
    ("simulator",),
    ("meter-reader", "charger-actuator", "tariff-fetcher"),
    ("optimizer",),
    ("gateway",),
)
"""Dependency order: the devices, the services that read them, the optimizer, the gateway last. Each
level starts once the one before it is up (or a bounded wait has passed)."""
UP_TIMEOUT_S = 30.0
"""How long the start waits for one child to come up before it starts the next level anyway."""
READY_TIMEOUT_S = 120.0
HEALTHY_RUN_S = 30.0
"""A child that ran this long before it exited is restarted after the base backoff again."""
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 30.0
STOP_TIMEOUT_S = 10.0


class Supervised:
    """One child process kept alive: reaped when it exits and restarted with exponential backoff, the
    backoff starting over once a run lasted ``healthy_after_s``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        healthy_after_s: float = HEALTHY_RUN_S,
        backoff_base_s: float = BACKOFF_BASE_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        quiet: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env) if env is not None else None
        self.healthy_after_s = healthy_after_s
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.quiet = quiet
        """Discard the child's output (the broker's)."""
        self.proc: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self.log = get_logger("demo", child=name)
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._spawn()
        self._task = asyncio.create_task(self._watch(), name=f"watch-{self.name}")

    async def _spawn(self) -> None:
        output = asyncio.subprocess.DEVNULL if self.quiet else None
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdout=output, stderr=output, env=self.env
        )
        self.log.info("child started", pid=self.proc.pid)

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = self.backoff_base_s
        while self.proc is not None:
            started = loop.time()
            code = await self.proc.wait()  # reaps it: no zombie
            if self._stopping:
                return
            ran_s = loop.time() - started
            if ran_s >= self.healthy_after_s:
                backoff = self.backoff_base_s
            self.log.error("child exited; restarting", exit_code=code, ran_s=round(ran_s, 1), retry_s=backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.backoff_max_s)
            if self._stopping:
                return
            self.restarts += 1
            await self._spawn()

    async def stop(self) -> None:
        self._stopping = True
        proc = self.proc
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                self.log.warning("child did not stop; killing it")
                proc.kill()
                await proc.wait()
        if self._task is not None:
            await cancel_and_wait([self._task])


def service_argv(name: str, config_file: Path) -> list[str]:
    return [sys.executable, "-m", "services.cli", name, "--config", str(config_file)]


def device_ports(config: Config) -> list[int]:
    """The simulator's fixed device ports (0 = a free one, not knowable in advance)."""
    from services.simulator.home import default_devices

    return [device.port for device in default_devices(config.simulator) if device.port]


def state_complete(config: Config, body: Any) -> bool:
    """Whether an ``/api/state`` answer already has every configured loadpoint and vehicle."""
    state = body.get("result", body) if isinstance(body, dict) else None
    if not isinstance(state, dict):
        return False
    loadpoints, vehicles = state.get("loadpoints"), state.get("vehicles")
    return (
        isinstance(loadpoints, list)
        and len(loadpoints) >= len(config.loadpoints)
        and isinstance(vehicles, dict)
        and all(v.name in vehicles for v in config.vehicles)
    )


async def wait_state_complete(config: Config, timeout: float) -> bool:
    """Poll the gateway's ``/api/state`` (an HTTP endpoint: observable only by asking) until complete."""
    host = "127.0.0.1" if config.gateway.host in ("0.0.0.0", "::") else config.gateway.host
    url = f"http://{host}:{config.gateway.port}/api/state"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with httpx.AsyncClient(timeout=2.0) as http:
        while loop.time() < deadline:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                response = await http.get(url)
                if response.status_code == 200 and state_complete(config, response.json()):
                    return True
            await asyncio.sleep(0.2)
    return False


class Demo:
    """The demo's process tree: the broker (when mosquitto is installed), then the services by level."""

    def __init__(
        self, config: Config, config_file: Path, data_dir: Path, credentials: Credentials | None = None
    ) -> None:
        self.config = config
        self.config_file = config_file
        self.data_dir = data_dir
        self.credentials = credentials
        """Broker users' passwords when the broker runs with the production ACL (``--secure``)."""
        self.children: list[Supervised] = []
        self.log = get_logger("demo")

    async def _up(self, name: str, watch: StatusWatch) -> None:
        if name == "simulator":
            ports = device_ports(self.config)
            up = all(await asyncio.gather(*(wait_port_async("127.0.0.1", p, UP_TIMEOUT_S) for p in ports)))
        else:
            up = await watch.wait_online(name, UP_TIMEOUT_S)
        if not up:
            self.log.warning(
                "child not up in time; starting the rest anyway", child=name, waited_s=UP_TIMEOUT_S
            )

    async def start_services(self, watch: StatusWatch, stop: asyncio.Event) -> None:
        for level in START_LEVELS:
            if stop.is_set():
                return
            started = [
                Supervised(name, service_argv(name, self.config_file), env=self.child_env(name))
                for name in level
            ]
            for child in started:
                await child.start()
                self.children.append(child)
            await asyncio.gather(*(self._up(child.name, watch) for child in started))

    async def announce_ready(self, started: float) -> None:
        gateway = self.config.gateway
        base = f"http://{gateway.host}:{gateway.port}"
        if await wait_state_complete(self.config, READY_TIMEOUT_S):
            self.log.info(
                "chargebus demo ready",
                ui=f"{base}/",
                state=f"{base}/api/state",
                mqtt=f"mqtt://127.0.0.1:{self.config.mqtt.port}/{self.config.mqtt.topic}/#",
                startup_s=round(asyncio.get_running_loop().time() - started, 1),
            )
        else:
            self.log.warning("the gateway did not serve the complete state in time", waited_s=READY_TIMEOUT_S)

    def child_env(self, name: str) -> dict[str, str] | None:
        """A child's environment: with ``--secure``, its own broker user and password (as compose)."""
        if self.credentials is None or name not in self.credentials.passwords:
            return None
        user = {"CHARGEBUS_MQTT__USER": name, "CHARGEBUS_MQTT__PASSWORD": self.credentials.passwords[name]}
        return {**os.environ, **user}

    async def stop(self) -> None:
        for child in reversed(self.children):
            await child.stop()


async def start_mosquitto(
    stack: contextlib.AsyncExitStack, port: int, data_dir: Path, auth: BrokerAuth | None = None
) -> bool:
    """A supervised mosquitto on ``port`` (stopped when ``stack`` closes); False when it did not come up."""
    log = get_logger("demo")
    folder = data_dir / "mosquitto"
    broker = Supervised("broker", mosquitto_argv(port, folder, folder, auth=auth), quiet=True)
    await broker.start()
    stack.push_async_callback(broker.stop)
    if not await wait_port_async("127.0.0.1", port, UP_TIMEOUT_S):
        log.error("broker did not start", port=port)
        return False
    log.info("broker running", kind="mosquitto", port=port, pid=broker.proc.pid if broker.proc else None)
    return True


def secure_broker(config: Config, data_dir: Path) -> tuple[BrokerAuth, Credentials]:
    """The production broker's access for the demo: the ACL generated for its roots and a password per
    user (kept in the data folder's ``.env`` across runs)."""
    folder = data_dir / "mosquitto"
    acl = folder / "acl"
    acl.write_text(
        acl_text(config.mqtt.topic, config.mqtt.internal, config.homeassistant.prefix), encoding="utf-8"
    )
    credentials = prepare_credentials(data_dir / ".env", folder / "passwd")
    return BrokerAuth(folder / "passwd", acl), credentials


async def _run_demo(config: Config, config_file: Path, data_dir: Path, secure: bool = False) -> int:
    log = get_logger("demo")
    stop = asyncio.Event()
    install_stop_signals(stop)
    started = asyncio.get_running_loop().time()
    log.info("chargebus demo starting", data=str(data_dir), secure=secure)
    if secure and not find_mosquitto():
        log.error("--secure needs mosquitto (the embedded amqtt broker has no ACL)")
        return 2
    auth, credentials = secure_broker(config, data_dir) if secure else (None, None)
    watch_settings = config.mqtt
    if credentials is not None:
        password = credentials.passwords[REQUESTER]
        watch_settings = config.mqtt.model_copy(update={"user": REQUESTER, "password": SecretStr(password)})
    async with contextlib.AsyncExitStack() as stack:
        demo = Demo(config, config_file, data_dir, credentials)
        port = config.mqtt.port
        if find_mosquitto():
            if not await start_mosquitto(stack, port, data_dir, auth):
                return 1
        else:
            address = await stack.enter_async_context(amqtt(port))
            log.info("broker running", kind=address.kind, port=port)
        watch = await stack.enter_async_context(StatusWatch(watch_settings))
        stack.push_async_callback(demo.stop)
        await demo.start_services(watch, stop)
        ready = asyncio.create_task(demo.announce_ready(started))
        try:
            await stop.wait()
        finally:
            await cancel_and_wait([ready])
    log.info("chargebus demo stopped")
    return 0


def run_demo(
    config_path: str | None,
    data_dir: Path,
    port: int | None = None,
    broker_port: int | None = None,
    *,
    secure: bool = False,
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
    return asyncio.run(_run_demo(config, config_file, data_dir, secure))
