"""Run one of the gateway's integrations (discovery, notifier …) on its own bus and state store."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Protocol, TypeVar

from services.gateway.service import wire_bus
from services.gateway.state_store import StateStore
from shared.bus import Bus
from shared.config import MqttSettings


class Part(Protocol):
    def attach(self) -> None: ...

    def run(self, stop: asyncio.Event) -> Coroutine[Any, Any, None]: ...


P = TypeVar("P", bound=Part)


@contextlib.asynccontextmanager
async def running_part(mqtt: MqttSettings, build: Callable[[Bus, StateStore], P]) -> AsyncIterator[P]:
    """``build(bus, store)`` attached to a gateway bus whose store follows the tree, run until the end."""
    bus = Bus(mqtt, "gateway")
    store = StateStore(bus.state_root)
    wire_bus(bus, store, None)
    part = build(bus, store)
    part.attach()
    stop = asyncio.Event()
    async with bus:
        task = asyncio.create_task(part.run(stop))
        try:
            yield part
        finally:
            stop.set()
            await task


def stop_process(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Ctrl-C a child process, and kill it when it does not end within ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
