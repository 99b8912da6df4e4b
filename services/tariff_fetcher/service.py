"""The tariff-fetcher shell: fetch each configured usage on schedule, keep the last good series, publish.

Publishes ``chargebus/tariffs/<usage>`` (``RateSeries``, retained) for grid, feedin, co2, planner, solar and
evcc's site keys ``tariffGrid``, ``tariffFeedIn``, ``tariffCo2``, ``tariffSolar``, ``smartCostAvailable``,
``smartCostType``, ``smartFeedInPriorityAvailable`` and ``forecast/...``. Answers requests ``tariff/<usage>``
with ``{"rates": [...]}`` (404 when the usage is not configured or has no valid data).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from pydantic import ValidationError

from services.tariff_fetcher.cache import (
    CacheEntry,
    CacheFile,
    cached_entry,
    config_key,
    load_cache,
    save_cache,
)
from services.tariff_fetcher.providers.base import Context, Provider, ProviderError
from services.tariff_fetcher.providers.registry import build_provider
from services.tariff_fetcher.series import (
    SeriesState,
    is_outdated,
    normalise,
    on_failure,
    on_success,
    retry_delay,
    to_rate_series,
)
from services.tariff_fetcher.site import CURRENT_KEYS, next_boundary, resolve_planner, site_state
from services.tariff_fetcher.slots import add_series
from services.tariff_fetcher.solar_scale import Production, solar_scale
from shared.bus import Bus, BusMessage
from shared.config import Config
from shared.config_tariffs import TariffsConfig
from shared.encoding import encode_mqtt, mqtt_segment
from shared.logging import get_logger
from shared.messages import (
    MeterReading,
    MeterUsage,
    Rate,
    RateSeries,
    Reply,
    Request,
    TariffType,
    TariffUsage,
)
from shared.state import SiteState
from shared.tree import SITE

SERVICE = "tariff-fetcher"
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class UsageWorker:
    """One configured usage: its provider(s) (several solar planes are summed) and its series."""

    usage: TariffUsage
    providers: list[Provider]
    key: str
    state: SeriesState
    next_fetch: datetime
    config_error: str | None = None
    announced_outdated: bool = field(default=False)

    @property
    def computed(self) -> bool:
        return bool(self.providers) and all(p.computed for p in self.providers)

    @property
    def interpolate(self) -> bool:
        return any(p.interpolate for p in self.providers)


class TariffFetcher:
    """All usages of one site. Time comes from ``clock``; HTTP goes through the client passed in."""

    def __init__(self, tariffs: TariffsConfig, tz: ZoneInfo, *, clock: Clock = utcnow) -> None:
        self.config = tariffs
        self.tz = tz
        self.clock = clock
        self.log = get_logger(SERVICE)
        self.cache_path = Path(tariffs.cache_file) if tariffs.cache_file else None
        self.cache = CacheFile()
        self.outdated_after = timedelta(seconds=tariffs.outdated_s)
        self.production = Production(tz)
        self.context = context = Context(timezone=tz, currency=tariffs.currency)
        now = clock()
        self.workers: dict[TariffUsage, UsageWorker] = {}
        for usage in TariffUsage:
            configured = getattr(tariffs, usage.value)
            if configured is None:
                continue
            items = configured if isinstance(configured, list) else [configured]
            if not items:
                continue
            providers: list[Provider] = []
            error = None
            try:
                providers = [build_provider(item, context) for item in items]
            except ValueError as problem:
                error = str(problem)
                self.log.error("tariff not usable", usage=usage.value, error=error)
            tariff_type = providers[0].tariff_type if providers else TariffType.PRICE_STATIC
            state = SeriesState(usage=usage, tariff_type=tariff_type, error=error)
            self.workers[usage] = UsageWorker(usage, providers, config_key(configured), state, now, error)
        self._load_cache(now)

    # --- cache ------------------------------------------------------------------------------------------

    def _load_cache(self, now: datetime) -> None:
        if self.cache_path is None:
            return
        self.cache, problem = load_cache(self.cache_path)
        if problem:
            self.log.warning("tariff cache ignored", reason=problem)
        for worker in self.workers.values():
            if worker.computed:
                continue
            entry = cached_entry(self.cache, worker.usage.value, worker.key, now, self.config.outdated_s)
            if entry is not None:
                worker.state = SeriesState(
                    usage=worker.usage,
                    tariff_type=entry.type,
                    rates=tuple(entry.rates),
                    refreshed_at=entry.refreshed_at,
                )
                self.log.info("tariff served from cache", usage=worker.usage.value, slots=len(entry.rates))

    def _store(self, worker: UsageWorker) -> None:
        if self.cache_path is None or worker.computed or worker.state.refreshed_at is None:
            return
        self.cache.usages[worker.usage.value] = CacheEntry(
            key=worker.key,
            type=worker.state.tariff_type,
            rates=list(worker.state.rates),
            refreshed_at=worker.state.refreshed_at,
        )
        try:
            save_cache(self.cache_path, self.cache)
        except OSError as error:
            self.log.warning("tariff cache not written", path=str(self.cache_path), error=str(error))

    # --- fetching ---------------------------------------------------------------------------------------

    async def _fetch_rates(self, worker: UsageWorker, client: httpx.AsyncClient, now: datetime) -> list[Rate]:
        if len(worker.providers) == 1:
            return await worker.providers[0].fetch(client, now)
        results = [await p.fetch(client, now) for p in worker.providers]
        return add_series([normalise(r, now, interpolate=worker.interpolate) for r in results])

    async def refresh(self, worker: UsageWorker, client: httpx.AsyncClient) -> bool:
        """One attempt; on failure the last good slots stay and the next try is backed off."""
        if worker.config_error is not None:
            worker.next_fetch = datetime.max.replace(tzinfo=UTC)
            return False
        now = self.clock()
        name = "+".join(p.name for p in worker.providers)
        try:
            raw = await self._fetch_rates(worker, client, now)
        except ProviderError as error:
            worker.state = on_failure(worker.state, str(error))
        except Exception as error:  # a provider bug must not stop the other usages
            worker.state = on_failure(worker.state, f"{name}: {type(error).__name__}: {error}")
        else:
            worker.state = on_success(worker.state, raw, now, self.tz, interpolate=worker.interpolate)
            worker.next_fetch = now + timedelta(seconds=self.config.refresh_s)
            worker.announced_outdated = False
            if not worker.computed:
                self.log.info("tariff fetched", usage=worker.usage.value, provider=name, slots=len(raw))
                self._store(worker)
            return True
        delay = retry_delay(worker.state.failures, self.config.retry_s, self.config.refresh_s)
        worker.next_fetch = now + timedelta(seconds=delay)
        self.log.error(
            "tariff fetch failed",
            usage=worker.usage.value,
            provider=name,
            error=worker.state.error,
            failures=worker.state.failures,
            retry_s=delay,
            serving_slots=len(worker.state.rates),
        )
        return False

    async def refresh_due(self, client: httpx.AsyncClient) -> None:
        now = self.clock()
        due = [w for w in self.workers.values() if w.computed or w.next_fetch <= now]
        await asyncio.gather(*(self.refresh(w, client) for w in due))

    # --- views ------------------------------------------------------------------------------------------

    def planner_source(self) -> TariffUsage | None:
        return resolve_planner({u: w.state.tariff_type for u, w in self.workers.items()})

    def series(self) -> dict[TariffUsage, RateSeries]:
        """The series to publish now, per usage, with ``planner`` resolved evcc's way."""
        now = self.clock()
        out: dict[TariffUsage, RateSeries] = {}
        for usage, worker in self.workers.items():
            series = to_rate_series(
                worker.state, now, self.tz, currency=self.config.currency, outdated_after=self.outdated_after
            )
            out[usage] = series
            if series.outdated and not worker.announced_outdated and worker.state.refreshed_at is not None:
                worker.announced_outdated = True
                self.log.error("tariff outdated, values withdrawn", usage=usage.value, error=series.error)
        source = self.planner_source()
        if source is not None and source is not TariffUsage.PLANNER:
            out[TariffUsage.PLANNER] = out[source].model_copy(update={"usage": TariffUsage.PLANNER})
        return out

    def forecasts(self) -> dict[TariffUsage, list[Rate]]:
        """Per usage the slots held since the last refresh (none when outdated), planner resolved."""
        now = self.clock()
        out = {
            usage: [] if is_outdated(w.state, now, self.outdated_after) else list(w.state.rates)
            for usage, w in self.workers.items()
        }
        source = self.planner_source()
        if source is not None and source is not TariffUsage.PLANNER:
            out[TariffUsage.PLANNER] = out[source]
        return out

    def site(self, series: dict[TariffUsage, RateSeries]) -> SiteState:
        forecasts = self.forecasts()
        now = self.clock()
        scale = solar_scale(forecasts.get(TariffUsage.SOLAR, []), self.production, now)
        return site_state(series, forecasts, now, self.tz, scale)

    async def on_meter(self, message: BusMessage) -> None:
        """PV readings feed today's production (for the solar forecast's scale)."""
        if not message.payload:
            return
        try:
            reading = MeterReading.model_validate_json(message.payload)
        except ValidationError:
            return
        if reading.usage is MeterUsage.PV and reading.power_w is not None and not reading.stale:
            self.production.add(reading.meter, reading.power_w, reading.timestamp)

    def next_wakeup(self) -> datetime:
        """When something can change: a fetch is due, a slot boundary passes, a series goes outdated."""
        now = self.clock()
        moments = [next_boundary(now)]
        for worker in self.workers.values():
            if not worker.computed:
                moments.append(worker.next_fetch)
            if worker.state.refreshed_at is not None:
                deadline = worker.state.refreshed_at + self.outdated_after + timedelta(seconds=1)
                if deadline > now:
                    moments.append(deadline)
        return min(moments)

    async def handle_request(self, request: Request) -> Reply:
        """``tariff/<usage>`` → ``{"rates": [...]}``; 404 when not configured or without valid data."""
        prefix, _, name = request.key.partition("/")
        series = self.series()
        try:
            usage = TariffUsage(name)
        except ValueError:
            usage = None
        if prefix != "tariff" or usage is None or usage not in series:
            return Reply(id=request.id, ok=False, error="tariff not available", code=404)
        found = series[usage]
        if found.outdated:
            return Reply(id=request.id, ok=False, error=found.error or "tariff not available", code=404)
        return Reply(
            id=request.id, ok=True, value={"rates": [r.model_dump(mode="json") for r in found.rates]}
        )


class Publisher:
    """Puts the fetcher's view on the bus and erases retained topics of ours that no longer apply: forecast
    indices past a shorter list, and — after a restart with another config — keys of usages that are no
    longer configured (found as retained messages when subscribing)."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.prefix = bus.tree.site()
        self._known: set[str] = set()
        self.stale_found = asyncio.Event()
        """Set when a retained topic of ours shows up that the last publish did not write."""
        self._last: set[str] = set()
        owned = SiteState(**{key: None for key in CURRENT_KEYS.values()})
        # QoS 0: these subscriptions echo every key we publish back to us, and an echo needs no
        # acknowledgement; at QoS 1 thousands of forecast keys each cost a PUBACK round trip (before the bus
        # set TCP_NODELAY, ~40 ms each, holding fresh prices up for minutes). Retained leftovers arrive at
        # subscription time at any QoS.
        for topic, _ in encode_mqtt(self.prefix, owned):
            bus.on(topic, self._on_retained, qos=0)
        bus.on(
            f"{self.prefix}/{mqtt_segment('forecast', SiteState.model_fields['forecast'])}/#",
            self._on_retained,
            qos=0,
        )
        bus.on(bus.topics.all_tariffs, self._on_retained, qos=0)

    async def _on_retained(self, message: BusMessage) -> None:
        if message.retain and message.payload:
            self._known.add(message.topic)
            if message.topic not in self._last:
                self.stale_found.set()

    async def publish(self, fetcher: TariffFetcher) -> None:
        series = fetcher.series()
        current: set[str] = set()
        for usage, item in series.items():
            topic = self.bus.topics.tariff(usage.value)
            await self.bus.publish_model(topic, item, retain=True)
            current.add(topic)
        site = fetcher.site(series)
        await self.bus.publish_state(SITE, site)
        current |= {t for t, payload in encode_mqtt(self.prefix, site) if payload}
        self.stale_found.clear()
        for stale in sorted(self._known - current):
            await self.bus.clear(stale)
        self._known = set(current)
        self._last = current


async def wait_any(events: tuple[asyncio.Event, ...], timeout: float) -> None:
    """Return when one of ``events`` is set or after ``timeout`` seconds."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def run_fetcher(
    config: Config,
    stop: asyncio.Event,
    *,
    clock: Clock = utcnow,
    transport: httpx.AsyncBaseTransport | None = None,
) -> None:
    """:func:`run` with the clock and the HTTP transport injectable (tests serve recorded payloads)."""
    log = get_logger(SERVICE)
    fetcher = TariffFetcher(config.tariffs, ZoneInfo(config.site.timezone), clock=clock)
    if not fetcher.workers:
        log.info("no tariffs configured")
    timeout = httpx.Timeout(config.tariffs.timeout_s)
    client_args: dict[str, Any] = {"timeout": timeout, "follow_redirects": True}
    if transport is not None:
        client_args["transport"] = transport
    async with Bus(config.mqtt, SERVICE) as bus, httpx.AsyncClient(**client_args) as client:
        bus.serve_requests(fetcher.handle_request)
        bus.on(bus.topics.all_meters, fetcher.on_meter, qos=0)
        publisher = Publisher(bus)
        # computed tariffs and cached series go out at once, before the first fetch returns
        await asyncio.gather(*(fetcher.refresh(w, client) for w in fetcher.workers.values() if w.computed))
        await publisher.publish(fetcher)
        try:
            while not stop.is_set():
                await fetcher.refresh_due(client)
                await publisher.publish(fetcher)
                wait_s = max((fetcher.next_wakeup() - clock()).total_seconds(), 0.05)
                await wait_any((stop, publisher.stale_found), wait_s)
        finally:
            await fetcher.context.jq.aclose()


async def run(config: Config, stop: asyncio.Event) -> None:
    await run_fetcher(config, stop)
