"""What the fleet API reads from the live bus: retained tariff series and loadpoint modes.

Inside the gateway :class:`StoreLiveView` reads the gateway's state store; a standalone fleet app (tests,
tools) uses :class:`BusLiveView`, which subscribes on a :class:`~shared.bus.Bus` itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from pydantic import ValidationError

from services.gateway.state_store import StateStore
from shared.bus import Bus, BusMessage
from shared.logging import get_logger
from shared.messages import RateSeries
from shared.tree import Tree, parse_address

log = get_logger("gateway", component="fleet")


class LiveView(Protocol):
    def tariff(self, usage: str) -> RateSeries | None: ...

    def loadpoint_mode(self, loadpoint_id: int) -> str | None: ...


class StoreLiveView:
    """Adapter over the gateway's state store (tariff series and typed loadpoint state)."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def tariff(self, usage: str) -> RateSeries | None:
        return self._store.tariffs.get(usage)

    def loadpoint_mode(self, loadpoint_id: int) -> str | None:
        state = self._store.loadpoint(loadpoint_id)
        mode = state.mode if state is not None else None
        return mode.value if mode is not None else None


class BusLiveView:
    """Keeps the latest retained tariff series and loadpoint modes seen on the bus."""

    def __init__(self) -> None:
        self._tariffs: dict[str, RateSeries] = {}
        self._modes: dict[int, str] = {}
        self._tree = Tree()
        self._changed = asyncio.Condition()

    async def wait_for(self, predicate: Callable[[BusLiveView], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate(self)`` holds (re-checked after every update)."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: predicate(self)), timeout)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def attach(self, bus: Bus) -> None:
        bus.on(bus.topics.all_tariffs, self._on_tariff)
        self._tree = bus.tree
        bus.on(bus.tree.each_loadpoint("mode"), self._on_mode)

    async def _on_tariff(self, message: BusMessage) -> None:
        usage = message.topic.rsplit("/", 1)[-1]
        if not message.payload:
            self._tariffs.pop(usage, None)
            await self._notify()
            return
        try:
            self._tariffs[usage] = RateSeries.model_validate_json(message.payload)
        except ValidationError as error:
            log.warning("bad tariff series ignored", topic=message.topic, error=str(error))
        await self._notify()

    async def _on_mode(self, message: BusMessage) -> None:
        lp = int(parse_address(self._tree.relative(message.topic) or "").target or 0)
        if message.text:
            self._modes[lp] = message.text
        else:
            self._modes.pop(lp, None)
        await self._notify()

    def tariff(self, usage: str) -> RateSeries | None:
        return self._tariffs.get(usage)

    def loadpoint_mode(self, loadpoint_id: int) -> str | None:
        return self._modes.get(loadpoint_id)
