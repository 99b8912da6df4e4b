"""An MQTT broker to embed in the demo and the tests: mosquitto when installed, else amqtt."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    kind: str
    pid: int | None = None
    """The broker's process id when it runs as a child process (tests pause it to play a hung broker)."""


def find_mosquitto() -> str | None:
    """The mosquitto binary (Debian installs it in /usr/sbin, often not on a user's PATH)."""
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
    )


def wait_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {host}:{port}")


async def wait_port_async(host: str, port: int, timeout: float = 10.0) -> bool:
    """Whether something accepted a TCP connection on ``host:port`` within ``timeout`` seconds (a port
    that listens is observable only by trying it, hence the short poll)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 0.5)
        except (OSError, TimeoutError):
            await asyncio.sleep(0.05)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True
    return False


@dataclass(frozen=True)
class BrokerAuth:
    """Passwords and an ACL, as in production (``chargebus demo --secure``)."""

    password_file: Path
    acl_file: Path


def mosquitto_config(
    port: int, persistence_dir: Path | None = None, extra: str = "", auth: BrokerAuth | None = None
) -> str:
    # set_tcp_nodelay, as in mosquitto/mosquitto.conf: with Nagle on, a PUBACK to a client that is also
    # receiving a stream waits for that client's delayed ACK (~40 ms), so every QoS 1 publish of a busy
    # subscriber (the gateway) took ~40 ms, and its outbox sends one at a time (bench/RESULTS.md).
    lines = [
        f"listener {port} 127.0.0.1",
        *(
            ["allow_anonymous true"]
            if auth is None
            else ["allow_anonymous false", f"password_file {auth.password_file}", f"acl_file {auth.acl_file}"]
        ),
        "max_queued_messages 10000",
        "set_tcp_nodelay true",
    ]
    if os.geteuid() == 0:
        # as root, mosquitto drops to user "mosquitto", which cannot write our persistence folder
        lines.append("user root")
    if persistence_dir is not None:
        lines += ["persistence true", f"persistence_location {persistence_dir}/", "autosave_interval 5"]
    return "\n".join(lines) + "\n" + extra


def mosquitto_argv(
    port: int,
    conf_dir: Path,
    persistence_dir: Path | None = None,
    extra: str = "",
    auth: BrokerAuth | None = None,
) -> list[str]:
    """The command line of a mosquitto on 127.0.0.1:``port``; its config is written to ``conf_dir``."""
    binary = find_mosquitto()
    if binary is None:
        raise FileNotFoundError("mosquitto is not installed")
    conf = conf_dir / "mosquitto.conf"
    conf.write_text(mosquitto_config(port, persistence_dir, extra, auth))
    return [binary, "-c", str(conf)]


@contextlib.contextmanager
def mosquitto(port: int, persistence_dir: Path | None = None, extra: str = "") -> Iterator[BrokerAddress]:
    """A mosquitto child process listening on 127.0.0.1:``port`` (``extra``: more configuration, e.g. a
    bridge to a central broker)."""
    with tempfile.TemporaryDirectory() as tmp:
        argv = mosquitto_argv(port, Path(tmp), persistence_dir, extra)
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port("127.0.0.1", port)
            yield BrokerAddress("127.0.0.1", port, "mosquitto", proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.asynccontextmanager
async def amqtt(port: int) -> AsyncIterator[BrokerAddress]:
    """The pure-Python amqtt broker in the running event loop."""
    from amqtt.broker import Broker

    config: dict[str, Any] = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    broker = Broker(config)
    await broker.start()
    try:
        yield BrokerAddress("127.0.0.1", port, "amqtt")
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(broker.shutdown(), 5)


@contextlib.asynccontextmanager
async def embedded_broker(port: int, persistence_dir: Path | None = None) -> AsyncIterator[BrokerAddress]:
    """mosquitto if installed, else amqtt."""
    if find_mosquitto():
        with mosquitto(port, persistence_dir) as address:
            yield address
    else:
        async with amqtt(port) as address:
            yield address
