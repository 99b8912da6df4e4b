"""A generated day-ahead-like price curve for the demo (no network).

Cheap at night and around midday (solar), peaks in the morning and evening, a little different each day.
Like a real day-ahead market, tomorrow's prices appear at 13:00 local time.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta

import httpx

from services.tariff_fetcher.pricing import apply_price
from services.tariff_fetcher.providers.base import Context
from services.tariff_fetcher.slots import SLOT
from shared.config_tariffs import DemoTariff
from shared.messages import Rate, TariffType

PUBLISHED_AT = time(13, 0)
# (hour of day, width h, weight): dips at night and midday, peaks morning and evening
SHAPE = ((3.0, 2.5, -0.6), (13.0, 2.2, -1.0), (8.0, 1.5, 0.5), (19.0, 1.8, 1.0))


def demo_market_price(day: date, hour: float, mean: float, spread: float) -> float:
    """Market price (currency/kWh) at local ``hour`` of ``day``; deterministic."""
    wiggle = 0.15 * math.sin(day.toordinal() * 1.7)  # day-to-day variation
    shape = sum(weight * math.exp(-(((hour - centre) / width) ** 2)) for centre, width, weight in SHAPE)
    return round(mean + spread * (shape + wiggle), 4)


def demo_rates(config: DemoTariff, now: datetime, context: Context) -> list[Rate]:
    tz = context.timezone
    local_now = now.astimezone(tz)
    days = 2 if local_now.time() >= PUBLISHED_AT else 1
    start = datetime.combine(local_now.date(), time(), tzinfo=tz).astimezone(UTC)
    stop = datetime.combine(local_now.date() + timedelta(days=days), time(), tzinfo=tz).astimezone(UTC)
    rates: list[Rate] = []
    slot = start
    while slot < stop:
        local = slot.astimezone(tz)
        value = demo_market_price(local.date(), local.hour + local.minute / 60, config.price, config.spread)
        rates.append(Rate(start=slot, end=slot + SLOT, value=value))
        slot += SLOT
    return apply_price(rates, config)


class DemoProvider:
    name = "demo"
    computed = True
    interpolate = False
    tariff_type = TariffType.PRICE_FORECAST

    def __init__(self, config: DemoTariff, context: Context) -> None:
        self.config = config
        self.context = context

    async def fetch(self, client: httpx.AsyncClient, now: datetime) -> list[Rate]:
        return demo_rates(self.config, now, self.context)
