"""What the fleet API reads from a site's live bus: retained tariff series and loadpoint state.

A site's gateway reads its own state store (:class:`StoreLiveView`); a fleet gateway reads what its
instances gathered from every site into the database (``services.fleet_gateway.live``); a standalone
fleet app (tests, tools) uses :class:`BusLiveView`, which subscribes on a :class:`~shared.bus.Bus` itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import ValidationError

from services.gateway.state_store import StateStore
from shared.bus import Bus, BusMessage
from shared.logging import get_logger
from shared.messages import RateSeries
from shared.state import LoadpointState
from shared.tree import Tree, parse_address

log = get_logger("gateway", component="fleet")

LIVE_KEYS = (
    "mode",
    "connected",
    "charging",
    "enabled",
    "chargePower",
    "offeredCurrent",
    "vehicleSoc",
    "chargeTotalImport",
    "sessionEnergy",
)
"""The evcc loadpoint keys the fleet API shows (an EVSE's ``live_status``, a boost's mode to restore)."""


@dataclass(frozen=True)
class LiveLoadpoint:
    """A loadpoint's latest state as its site's tree shows it (None = not known)."""

    mode: str | None = None
    connected: bool | None = None
    charging: bool | None = None
    enabled: bool | None = None
    charge_power_w: float | None = None
    offered_current_a: float | None = None
    vehicle_soc_pct: float | None = None
    charge_total_import_kwh: float | None = None
    session_energy_wh: float | None = None
    updated_at: datetime | None = None

    @classmethod
    def of(cls, state: LoadpointState | Mapping[str, Any], updated_at: datetime | None) -> LiveLoadpoint:
        values = state if isinstance(state, Mapping) else state.model_dump(include=set(LIVE_KEYS))
        mode = values.get("mode")
        return cls(
            mode=str(getattr(mode, "value", mode)) if mode is not None else None,
            connected=values.get("connected"),
            charging=values.get("charging"),
            enabled=values.get("enabled"),
            charge_power_w=values.get("chargePower"),
            offered_current_a=values.get("offeredCurrent"),
            vehicle_soc_pct=values.get("vehicleSoc"),
            charge_total_import_kwh=values.get("chargeTotalImport"),
            session_energy_wh=values.get("sessionEnergy"),
            updated_at=updated_at,
        )


class LiveView(Protocol):
    """One site's live data."""

    def tariff(self, usage: str) -> RateSeries | None: ...

    def loadpoint(self, loadpoint_id: int) -> LiveLoadpoint | None: ...


class NoLiveView:
    """A site this gateway sees nothing of."""

    def tariff(self, usage: str) -> RateSeries | None:
        return None

    def loadpoint(self, loadpoint_id: int) -> LiveLoadpoint | None:
        return None


class StoreLiveView:
    """Adapter over the gateway's state store (tariff series and typed loadpoint state)."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def tariff(self, usage: str) -> RateSeries | None:
        return self._store.tariffs.get(usage)

    def loadpoint(self, loadpoint_id: int) -> LiveLoadpoint | None:
        state = self._store.loadpoint(loadpoint_id)
        return None if state is None else LiveLoadpoint.of(state, None)


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

    def loadpoint(self, loadpoint_id: int) -> LiveLoadpoint | None:
        mode = self._modes.get(loadpoint_id)
        return None if mode is None else LiveLoadpoint(mode=mode)
