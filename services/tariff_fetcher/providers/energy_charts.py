"""energy-charts.info day-ahead prices: ``{"unix_seconds": [...], "price": [...], "unit": "EUR / MWh"}``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.tariff_fetcher.pricing import apply_price
from services.tariff_fetcher.providers.base import Context, get_json, number, parser
from shared.config_tariffs import EnergyChartsTariff
from shared.messages import Rate, TariffType

DEFAULT_SLOT = timedelta(minutes=15)


@parser("energy-charts")
def parse_energy_charts(payload: Any) -> list[Rate]:
    """Slots from parallel arrays; a slot lasts until the next timestamp; null prices are gaps."""
    times = [datetime.fromtimestamp(number(t), tz=UTC) for t in payload["unix_seconds"]]
    prices = payload["price"]
    if len(times) != len(prices):
        raise ValueError("unix_seconds and price differ in length")
    divisor = 1000.0 if "mwh" in str(payload.get("unit", "EUR / MWh")).lower() else 1.0
    rates = []
    for index, (start, price) in enumerate(zip(times, prices, strict=True)):
        step = times[index + 1] - start if index + 1 < len(times) else None
        if step is None or step <= timedelta(0):
            step = times[index] - times[index - 1] if index > 0 else DEFAULT_SLOT
        if price is not None:
            rates.append(Rate(start=start, end=start + step, value=number(price) / divisor))
    return rates


class EnergyChartsProvider:
    name = "energy-charts"
    computed = False
    interpolate = False
    tariff_type = TariffType.PRICE_FORECAST

    def __init__(self, config: EnergyChartsTariff, context: Context) -> None:
        self.config = config
        self.context = context

    async def fetch(self, client: httpx.AsyncClient, now: datetime) -> list[Rate]:
        today = now.astimezone(self.context.timezone).date()
        params = {
            "bzn": self.config.bzn,
            "start": today.isoformat(),
            "end": (today + timedelta(days=2)).isoformat(),
        }
        payload = await get_json(client, self.name, self.config.url, params=params)
        return apply_price(parse_energy_charts(payload), self.config)
