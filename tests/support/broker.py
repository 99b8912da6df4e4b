"""A real MQTT broker for tests: mosquitto subprocess on a free port → amqtt in-process → testcontainers.

``CHARGEBUS_TEST_BROKER`` forces a kind: ``mosquitto``, ``amqtt`` or ``container``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from services.embedded_broker import BrokerAddress, amqtt, find_mosquitto, mosquitto, wait_port


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Broker = BrokerAddress


@contextlib.contextmanager
def mosquitto_broker(port: int | None = None, persistence_dir: Path | None = None) -> Iterator[Broker]:
    with mosquitto(port or free_port(), persistence_dir) as address:
        yield address


@contextlib.asynccontextmanager
async def amqtt_broker(port: int | None = None) -> AsyncIterator[Broker]:
    async with amqtt(port or free_port()) as address:
        yield address


@contextlib.contextmanager
def container_broker() -> Iterator[Broker]:
    from testcontainers.core.container import DockerContainer

    container = DockerContainer("eclipse-mosquitto:2").with_exposed_ports(1883)
    container.with_command("mosquitto -c /mosquitto-no-auth.conf")
    with container:
        host = container.get_container_host_ip()
        port = int(container.get_exposed_port(1883))
        wait_port(host, port, timeout=30)
        yield Broker(host, port, "container")


def preferred_kind() -> str:
    forced = os.environ.get("CHARGEBUS_TEST_BROKER")
    if forced:
        return forced
    return "mosquitto" if find_mosquitto() else "amqtt"


async def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Poll a condition that is observable only by reading (e.g. a Modbus register)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval)
