"""The life of one usage's rate series, as pure functions over an immutable state.

A successful fetch merges new slots with still-valid old ones; a failure keeps the last good slots and
records the error. A series not refreshed for ``outdated_after`` is published without values, flagged
``outdated``, so nobody plans on stale prices.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.tariff_fetcher.slots import clean, clip, floor_slot, from_time, merge, split_slots
from shared.messages import Rate, RateSeries, TariffType, TariffUsage

HORIZON = timedelta(days=7)
"""Nothing further ahead is kept (open-ended rates would otherwise become a year of slots)."""


@dataclass(frozen=True)
class SeriesState:
    usage: TariffUsage
    tariff_type: TariffType
    rates: tuple[Rate, ...] = ()
    refreshed_at: datetime | None = None
    """Time of the last successful fetch (or of the cache entry it came from)."""
    error: str | None = None
    """The last failure since the last success."""
    failures: int = 0


def keep_from(usage: TariffUsage, now: datetime, tz: ZoneInfo) -> datetime:
    """Where history ends: the current 15-minute slot, for solar the start of the local day."""
    if usage is TariffUsage.SOLAR:
        return datetime.combine(now.astimezone(tz).date(), time(), tzinfo=tz)
    return floor_slot(now)


def normalise(raw: list[Rate], now: datetime, *, interpolate: bool) -> list[Rate]:
    return split_slots(clip(clean(raw), now + HORIZON), interpolate=interpolate)


def on_success(
    state: SeriesState, raw: list[Rate], now: datetime, tz: ZoneInfo, *, interpolate: bool = False
) -> SeriesState:
    fresh = normalise(raw, now, interpolate=interpolate)
    merged = merge(state.rates, fresh, keep_from=keep_from(state.usage, now, tz))
    return replace(state, rates=tuple(merged), refreshed_at=now, error=None, failures=0)


def on_failure(state: SeriesState, error: str) -> SeriesState:
    return replace(state, error=error, failures=state.failures + 1)


def is_outdated(state: SeriesState, now: datetime, outdated_after: timedelta) -> bool:
    return state.refreshed_at is None or now - state.refreshed_at > outdated_after


def retry_delay(failures: int, first: float, ceiling: float) -> float:
    """Seconds until the next attempt after ``failures`` failures in a row (exponential, capped)."""
    return float(min(first * 2 ** max(failures - 1, 0), ceiling))


def to_rate_series(
    state: SeriesState, now: datetime, tz: ZoneInfo, *, currency: str, outdated_after: timedelta
) -> RateSeries:
    """What ``chargebus/tariffs/<usage>`` says now: the slots from ``keep_from`` on, or none if outdated."""
    outdated = is_outdated(state, now, outdated_after)
    error = state.error
    if outdated and error is None:
        error = "no data yet" if state.refreshed_at is None else "not refreshed in time"
    rates = [] if outdated else from_time(state.rates, keep_from(state.usage, now, tz))
    return RateSeries(
        usage=state.usage,
        type=state.tariff_type,
        currency=currency,
        rates=rates,
        fetched_at=state.refreshed_at or now,
        outdated=outdated,
        error=error,
    )
