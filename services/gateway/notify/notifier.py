"""The gateway's notifier: watches the bus, decides the events (:mod:`.events`), renders the texts
(:mod:`.templates`) and delivers them through Apprise to every configured URL.

Deliveries run one after another in a background task with a timeout each, so a slow or dead service
delays no other part of the gateway and loses no later notification; failures are logged with the
service's scheme only (URLs carry tokens).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import apprise

from services.gateway.notify.events import EventDetector, LoadpointFacts, Notice
from services.gateway.notify.templates import Texts, parse_texts
from services.gateway.state_store import StateStore
from shared.bus import Bus, BusMessage
from shared.config_integrations import NotifyEvent, NotifySettings
from shared.logging import get_logger
from shared.messages import ChargerStatus, MeterReading, ServiceStatus

WATCHED = frozenset(
    {
        "connected",
        "charging",
        "vehicleSoc",
        "effectiveLimitSoc",
        "planOverrun",
        "vehicleName",
        "vehicleTitle",
        "sessionEnergy",
    }
)
"""Loadpoint keys whose change can mean an event."""
TICK_S = 5.0
"""The guest notice waits for time passing, not for a message."""
SETTLE_S = 0.5
"""A control cycle's keys arrive as separate messages: let them land before deciding (a connect names the
vehicle the same cycle identified)."""
QUEUE_SIZE = 100


def facts_of(store: StateStore, lp: int) -> LoadpointFacts | None:
    state = store.loadpoint(lp)
    if state is None or state.connected is None:
        return None
    return LoadpointFacts(
        id=lp,
        title=state.title or f"Loadpoint {lp}",
        connected=bool(state.connected),
        charging=bool(state.charging),
        vehicle_name=state.vehicleName or "",
        vehicle_title=state.vehicleTitle or "",
        mode=state.mode.value if state.mode is not None else "",
        soc=state.vehicleSoc,
        limit=float(state.effectiveLimitSoc) if state.effectiveLimitSoc is not None else None,
        power_w=state.chargePower or 0.0,
        energy_wh=state.sessionEnergy or 0.0,
        duration_s=state.chargeDuration or 0,
        price=state.sessionPrice,
        solar=state.sessionSolarPercentage,
        overrun_s=state.planOverrun or 0,
    )


@dataclass
class Notifier:
    settings: NotifySettings
    bus: Bus
    store: StateStore
    clock: Callable[[], float] = time.monotonic
    texts: dict[NotifyEvent, Texts] = field(init=False)
    detector: EventDetector = field(init=False)
    _dirty: asyncio.Event = field(default_factory=asyncio.Event)
    _queue: asyncio.Queue[Notice] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    _pending_devices: list[tuple[str, bool, str | None]] = field(default_factory=list)
    _evaluated: asyncio.Condition = field(default_factory=asyncio.Condition)

    def __post_init__(self) -> None:
        self.texts = parse_texts(self.settings.events)
        self.detector = EventDetector(self.settings.guest_delay_s)
        self.log = get_logger("gateway", component="notify")
        self.apprise = apprise.Apprise()
        self.schemes: list[str] = []
        """What the URLs are (ntfy, tgram …) — the URLs themselves carry tokens and are never logged."""
        for url in (u.get_secret_value() for u in self.settings.urls):
            if self.apprise.add(url):
                self.schemes.append(_scheme(url))
            else:
                self.log.error("notification url not understood", scheme=_scheme(url))

    def attach(self) -> None:
        topics = self.bus.topics
        self.bus.on(self.bus.tree.everything, self._on_tree, qos=0)
        self.bus.on(topics.all_services, self._on_service, qos=0)
        self.bus.on(topics.all_meters, self._on_meter, qos=0)
        self.bus.on(topics.all_charger_status, self._on_charger, qos=0)

    async def _on_tree(self, message: BusMessage) -> None:
        if message.topic.rsplit("/", 1)[-1] in WATCHED:
            self._dirty.set()

    def _device(self, device: str, failing: bool, error: str | None) -> None:
        self._pending_devices.append((device, failing, error))
        self._dirty.set()

    async def _on_service(self, message: BusMessage) -> None:
        if message.payload:
            status = ServiceStatus.model_validate_json(message.payload)
            service = message.topic.rsplit("/", 2)[-2]
            self._device(service, status.state == "offline", status.error or "service stopped")

    async def _on_meter(self, message: BusMessage) -> None:
        if message.payload:
            reading = MeterReading.model_validate_json(message.payload)
            self._device(reading.meter, reading.stale or bool(reading.error), reading.error)

    async def _on_charger(self, message: BusMessage) -> None:
        if message.payload:
            status = ChargerStatus.model_validate_json(message.payload)
            self._device(status.charger, status.offline or bool(status.error), status.error)

    def evaluate(self) -> list[Notice]:
        """The notices the state calls for now."""
        site = self.store.site()
        title, currency = site.siteTitle or "", site.currency or ""
        now = self.clock()
        notices: list[Notice] = []
        for device, failing, error in self._pending_devices:
            notices += self.detector.device(device, failing, error, title)
        self._pending_devices.clear()
        for lp in self.store.loadpoint_ids():
            facts = facts_of(self.store, lp)
            if facts is not None:
                notices += self.detector.loadpoint(facts, now, title, currency)
        return [n for n in notices if n.event in self.texts]

    async def run(self, stop: asyncio.Event) -> None:
        sender = asyncio.create_task(self._deliver(), name="notify-deliver")
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._dirty.wait(), TICK_S)
                    await asyncio.wait_for(stop.wait(), SETTLE_S)
                self._dirty.clear()
                try:
                    notices = self.evaluate()
                except Exception:  # a bug here must not end notifications
                    self.log.exception("notifications not evaluated")
                    continue
                finally:
                    async with self._evaluated:
                        self._evaluated.notify_all()
                for notice in notices:
                    try:
                        self._queue.put_nowait(notice)
                    except asyncio.QueueFull:
                        self.log.warning("notification dropped: delivery too slow", kind=notice.event)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def wait_evaluated(self, predicate: Callable[[Notifier], bool], timeout: float = 10.0) -> None:
        """Return once ``predicate(self)`` holds, re-checked after every evaluation (tests, start-up)."""
        async with self._evaluated:
            await asyncio.wait_for(self._evaluated.wait_for(lambda: predicate(self)), timeout)

    async def _deliver(self) -> None:
        while True:
            notice = await self._queue.get()
            texts = self.texts[notice.event]
            title, body = texts.title.render(notice.values), texts.message.render(notice.values)
            await self.send(title, body, kind=notice.event)

    async def send(self, title: str, body: str, **context: Any) -> bool:
        """Deliver one notification to every URL; False (and a log line) if any failed."""
        if not len(self.apprise):
            return False
        try:
            ok = await asyncio.wait_for(
                self.apprise.async_notify(body=body, title=title), self.settings.timeout_s
            )
        except TimeoutError:
            ok = False
        if ok:
            self.log.info("notification sent", **context)
        else:
            self.log.warning("notification not delivered", services=self.schemes, **context)
        return bool(ok)


def _scheme(url: str) -> str:
    return url.split("://", 1)[0] if "://" in url else "?"
