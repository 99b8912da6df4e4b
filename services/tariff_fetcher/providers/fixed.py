"""Fixed price with optional zones by weekday, hour and month (evcc ``fixed``), computed locally."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import httpx

from services.tariff_fetcher.providers.base import Context
from services.tariff_fetcher.slots import SLOT
from shared.config_tariffs import FixedTariff, FixedZone, parse_days, parse_hours, parse_months
from shared.messages import Rate, TariffType

HORIZON_DAYS = 7


@dataclass(frozen=True)
class Zone:
    price: float
    days: frozenset[int] | None
    hours: tuple[tuple[int, int], ...] | None
    months: frozenset[int] | None

    @classmethod
    def from_config(cls, zone: FixedZone) -> Zone:
        return cls(
            price=zone.price,
            days=parse_days(zone.days) if zone.days else None,
            hours=parse_hours(zone.hours) if zone.hours else None,
            months=parse_months(zone.months) if zone.months else None,
        )

    def matches(self, local: datetime) -> bool:
        minute = local.hour * 60 + local.minute
        return (
            (self.days is None or local.weekday() in self.days)
            and (self.months is None or local.month in self.months)
            and (self.hours is None or any(start <= minute < end for start, end in self.hours))
        )


def fixed_rates(price: float, zones: list[Zone], now: datetime, context: Context) -> list[Rate]:
    """15-minute slots for 7 local days from today's local midnight; later zones win over earlier ones.

    Slots are walked in UTC and judged by their local wall time, so DST days simply have 92 or 100 slots.
    """
    tz = context.timezone
    today = now.astimezone(tz).date()
    start = datetime.combine(today, time(), tzinfo=tz)
    end = datetime.combine(today + timedelta(days=HORIZON_DAYS), time(), tzinfo=tz)
    slot, stop = start.astimezone(UTC), end.astimezone(UTC)  # UTC steps: wall-clock arithmetic breaks on DST
    rates: list[Rate] = []
    while slot < stop:
        local = slot.astimezone(tz)
        value = price
        for zone in zones:
            if zone.matches(local):
                value = zone.price
        rates.append(Rate(start=slot, end=slot + SLOT, value=value))
        slot += SLOT
    return rates


class FixedProvider:
    name = "fixed"
    computed = True
    interpolate = False

    def __init__(self, config: FixedTariff, context: Context) -> None:
        self.price = config.price
        self.zones = [Zone.from_config(z) for z in config.zones]
        self.context = context
        self.tariff_type = TariffType.PRICE_FORECAST if self.zones else TariffType.PRICE_STATIC

    async def fetch(self, client: httpx.AsyncClient, now: datetime) -> list[Rate]:
        return fixed_rates(self.price, self.zones, now, self.context)
