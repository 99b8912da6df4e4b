"""Which notifications the state calls for: evcc's messaging events, decided from successive snapshots.

Pure: the notifier feeds each loadpoint's facts (and each device's health) with the time, and gets the
notices back. The first facts seen of a loadpoint or device are the baseline — a gateway restarting in
the middle of a charge announces nothing — and every event fires once per occurrence: ``soc`` once per
connection when the SoC reaches the limit, ``planoverrun`` once until the plan is on time again, ``guest``
once per connection when no vehicle has been identified ``guest_delay_s`` after connecting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from shared.config_integrations import NotifyEvent

Values = Mapping[str, str | int | float]


@dataclass(frozen=True)
class Notice:
    event: NotifyEvent
    values: Values


@dataclass(frozen=True)
class LoadpointFacts:
    """What the texts say about one loadpoint (from its state keys)."""

    id: int
    title: str
    connected: bool
    charging: bool
    vehicle_name: str = ""
    vehicle_title: str = ""
    mode: str = ""
    soc: float | None = None
    limit: float | None = None
    power_w: float = 0.0
    energy_wh: float = 0.0
    duration_s: int = 0
    price: float | None = None
    solar: float | None = None
    overrun_s: int = 0


def hours_minutes(seconds: float) -> str:
    minutes = max(0, round(seconds / 60))
    return f"{minutes // 60}:{minutes % 60:02d}"


def values_of(facts: LoadpointFacts, site: str, currency: str) -> dict[str, str | int | float]:
    return {
        "site": site,
        "title": facts.title,
        "loadpoint": facts.id,
        "vehicle": facts.vehicle_title or facts.vehicle_name or "guest",
        "mode": facts.mode,
        "soc": facts.soc if facts.soc is not None else "",
        "limit": facts.limit if facts.limit is not None else "",
        "power": facts.power_w / 1000,
        "energy": facts.energy_wh / 1000,
        "duration": hours_minutes(facts.duration_s),
        "price": facts.price if facts.price is not None else "",
        "currency": currency,
        "solar": facts.solar if facts.solar is not None else "",
        "overrun": hours_minutes(facts.overrun_s),
    }


@dataclass
class _Memory:
    last: LoadpointFacts
    connected_at: float | None
    soc_sent: bool = False
    guest_sent: bool = False
    overrun_sent: bool = False


@dataclass
class EventDetector:
    guest_delay_s: float = 60.0
    _loadpoints: dict[int, _Memory] = field(default_factory=dict)
    _devices: dict[str, bool] = field(default_factory=dict)
    """Device or service → failing, as last seen."""

    def loadpoint(
        self, facts: LoadpointFacts, now: float, site: str = "", currency: str = ""
    ) -> list[Notice]:
        """The notices for the new facts of one loadpoint at ``now`` (monotonic seconds)."""
        memory = self._loadpoints.get(facts.id)
        if memory is None:
            self._loadpoints[facts.id] = _Memory(
                facts,
                now if facts.connected else None,
                # already past its limit / already late / already a guest: nothing to announce
                soc_sent=_reached(facts),
                guest_sent=facts.connected,
                overrun_sent=facts.overrun_s > 0,
            )
            return []
        last, notices = memory.last, []
        values = values_of(facts, site, currency)
        if facts.connected and not last.connected:
            memory.connected_at, memory.soc_sent, memory.guest_sent = now, False, False
            notices.append(Notice("connect", values))
        if facts.charging and not last.charging:
            notices.append(Notice("start", values))
        if last.charging and not facts.charging:
            notices.append(Notice("stop", values_of(_with_session(facts, last), site, currency)))
        if facts.connected and not memory.soc_sent and _reached(facts):
            memory.soc_sent = True
            notices.append(Notice("soc", values))
        if (
            facts.connected
            and not memory.guest_sent
            and not facts.vehicle_name
            and memory.connected_at is not None
            and now - memory.connected_at >= self.guest_delay_s
        ):
            memory.guest_sent = True
            notices.append(Notice("guest", values))
        if facts.vehicle_name:
            memory.guest_sent = True  # identified: no guest notice for this connection
        if facts.overrun_s > 0 and not memory.overrun_sent:
            memory.overrun_sent = True
            notices.append(Notice("planoverrun", values))
        elif facts.overrun_s <= 0:
            memory.overrun_sent = False
        if last.connected and not facts.connected:
            memory.connected_at = None
            notices.append(Notice("disconnect", values_of(_with_session(facts, last), site, currency)))
        memory.last = facts
        return notices

    def knows(self, loadpoint: int) -> bool:
        """Whether the baseline of ``loadpoint`` is taken (its next change can be an event)."""
        return loadpoint in self._loadpoints

    def device(self, device: str, failing: bool, error: str | None, site: str = "") -> list[Notice]:
        """``offline`` when a device or service starts failing, ``online`` when it recovers."""
        was = self._devices.get(device)
        self._devices[device] = failing
        if was is None or was == failing:
            return []
        values = {"site": site, "device": device, "error": error or "no answer"}
        return [Notice("offline" if failing else "online", values)]


def _reached(facts: LoadpointFacts) -> bool:
    return facts.soc is not None and facts.limit is not None and facts.soc > 0 and facts.soc >= facts.limit


def _with_session(now: LoadpointFacts, before: LoadpointFacts) -> LoadpointFacts:
    """A stop's texts tell the session as it was: the keys may already show the next one's zeros."""
    if now.energy_wh >= before.energy_wh:
        return now
    return replace(now, energy_wh=before.energy_wh, duration_s=before.duration_s, price=before.price)
