"""The fault suite's stack: ``chargebus demo --secure`` as a real process tree (the broker with the
production ACL and a user per service, the simulator, every service), with short timings so that a
failsafe or a reconnect shows within seconds, its data folder on a small tmpfs (to fill it or make it
read-only) and its wall clock steppable through libfaketime (an NTP step for every process at once)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from pymodbus.client import AsyncModbusTcpClient

from services.deployment import password_env, read_env
from services.registry import SERVICES
from shared.config import MqttSettings
from tests.e2e.stack import CURRENT_REGISTER, ENABLED_REGISTER, api_result, stack_config, wait_until
from tests.support.broker import free_port

ROOT = Path(__file__).parents[2]
LIBFAKETIME = next(
    (p for p in Path("/usr/lib").glob("*/faketime/libfaketime.so.1")),
    Path("/usr/lib/faketime/libfaketime.so.1"),
)
FAILSAFE_TIMEOUT_S = 4.0
COMMAND_VALIDITY_S = 3.0
KEEPALIVE_S = 5
"""The broker declares a silent (stopped) client gone after 1.5 × this and sends its will."""
STORE_BYTES = 16 * 1024 * 1024
FULL_AMPS = 160
"""The demo wallbox's current register (0.1 A) when charging at the loadpoint's 16 A."""


def fault_config() -> dict[str, Any]:
    """The demo home, charging at full current (mode now), with timings a test can wait for."""
    config = stack_config()
    config["loadpoints"][0]["mode"] = "now"
    config["chargers"][0]["failsafe"] = {"mode": "disable", "timeout_s": FAILSAFE_TIMEOUT_S}
    config["optimizer"] = {"interval_s": 1, "command_validity_s": COMMAND_VALIDITY_S}
    config["mqtt"] = {"keepalive_s": KEEPALIVE_S, "watchdog_s": 6}
    config["log"] = {"level": "info", "format": "json"}
    return config


def _mount_tmpfs(path: Path) -> bool:
    """A small tmpfs at ``path`` (so the test can fill it); False where mounting is not allowed."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={STORE_BYTES}", "tmpfs", str(path)], capture_output=True
    )
    return result.returncode == 0


def _children_of(pid: int) -> dict[str, int]:
    """The demo's children by name (``broker`` for mosquitto), from /proc."""
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid != pid:
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            words = [part.decode() for part in argv if part]
            if any(word.endswith("mosquitto") for word in words[:1]):
                found["broker"] = int(entry.name)
            elif "services.cli" in words:
                found[words[words.index("services.cli") + 1]] = int(entry.name)
    return found


@dataclass
class FaultStack:
    proc: subprocess.Popen[bytes]
    config: dict[str, Any]
    data_dir: Path
    store: Path
    """Where the database and the optimizer's settings live (a tmpfs when ``store_mounted``)."""
    store_mounted: bool
    log_file: Path
    clock_file: Path | None
    """libfaketime's offset file (``+<seconds>``) when the stack runs under faketime."""
    gateway_port: int
    broker_port: int
    env: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def wallbox_port(self) -> int:
        return int(self.config["chargers"][0]["modbus"]["port"])

    @property
    def settings_file(self) -> Path:
        return self.store / "optimizer-settings.json"

    @property
    def database(self) -> Path:
        return self.store / "chargebus.db"

    def log(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")

    def children(self) -> dict[str, int]:
        return _children_of(self.proc.pid)

    def settings(self, user: str) -> MqttSettings:
        """Connection settings of broker user ``user`` (its password from the demo's ``.env``)."""
        password = read_env(self.data_dir / ".env")[password_env(user)]
        return MqttSettings.model_validate(
            {"host": "127.0.0.1", "port": self.broker_port, "user": user, "password": password}
        )

    def signal(self, name: str, sig: signal.Signals) -> int:
        pid = self.children()[name]
        os.kill(pid, sig)
        return pid

    def step_clock(self, offset_s: float) -> None:
        """Set every process's wall clock to real time + ``offset_s`` (monotonic clocks untouched)."""
        assert self.clock_file is not None
        self.clock_file.write_text(f"{offset_s:+.0f}\n", encoding="utf-8")

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=5)) as db:
            return list(db.execute(sql, args))

    async def wallbox(self) -> tuple[int, int]:
        """(enabled register, current register in 0.1 A) as the wallbox itself holds them."""
        client = AsyncModbusTcpClient("127.0.0.1", port=self.wallbox_port, timeout=1)
        await client.connect()
        try:
            response = await client.read_holding_registers(0, count=3, device_id=1)
            assert not response.isError()
            return response.registers[ENABLED_REGISTER], response.registers[CURRENT_REGISTER]
        finally:
            client.close()

    async def charging_full(self) -> bool:
        return await self.wallbox() == (1, FULL_AMPS)

    async def disabled(self) -> bool:
        return (await self.wallbox())[0] == 0

    async def healthy(self, http: httpx.AsyncClient) -> bool:
        return (await http.get("/api/health")).status_code == 200

    async def settled(self, http: httpx.AsyncClient, timeout: float = 30.0) -> None:
        """Every child running, the gateway healthy, the wallbox charging at full current."""
        await wait_until(lambda: set(self.children()) >= {"broker", *SERVICES}, timeout)
        await wait_until(lambda: self.healthy(http), timeout)
        await wait_until(self.charging_full, timeout)

    async def state(self, http: httpx.AsyncClient) -> dict[str, Any]:
        response = await http.get("/api/state")
        result = api_result(response) if response.status_code == 200 else {}
        return result if isinstance(result, dict) else {}


def _wait_ready(stack: FaultStack, timeout: float) -> None:
    """Until the demo logs its ready line (the event it offers), or fail with its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "chargebus demo ready" in stack.log():
            return
        if stack.proc.poll() is not None:
            raise RuntimeError(f"the demo exited with {stack.proc.returncode}:\n{stack.log()[-4000:]}")
        time.sleep(0.1)
    raise TimeoutError(f"the demo was not ready within {timeout} s:\n{stack.log()[-4000:]}")


@contextlib.contextmanager
def fault_stack(directory: Path) -> Iterator[FaultStack]:
    config = fault_config()
    data_dir = directory / "data"
    store = data_dir / "store"
    store.mkdir(parents=True)
    mounted = _mount_tmpfs(store)
    config["database"] = {"url": f"sqlite:///{store / 'chargebus.db'}"}
    config["optimizer"]["state_file"] = str(store / "optimizer-settings.json")
    config_file = directory / "faults.yaml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    clock_file: Path | None = None
    if LIBFAKETIME.exists():
        clock_file = directory / "clock-offset"
        clock_file.write_text("+0\n", encoding="utf-8")
        env |= {
            "LD_PRELOAD": str(LIBFAKETIME),
            "FAKETIME_TIMESTAMP_FILE": str(clock_file),
            "FAKETIME_CACHE_DURATION": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",  # an NTP step moves the wall clock only
        }
    gateway_port, broker_port = free_port(), free_port()
    log_file = directory / "demo.log"
    with log_file.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "services.cli", "demo", "--secure", "--config", str(config_file),
                "--data", str(data_dir), "--port", str(gateway_port), "--broker-port", str(broker_port),
            ],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    stack = FaultStack(
        proc, config, data_dir, store, mounted, log_file, clock_file, gateway_port, broker_port, env
    )
    try:
        _wait_ready(stack, 90)
        yield stack
    finally:
        for name, pid in stack.children().items():  # a test may have left one stopped
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
            del name
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if mounted:
            subprocess.run(["umount", "-l", str(store)], capture_output=True)
