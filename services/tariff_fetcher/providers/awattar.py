"""aWATTar (DE/AT) market data: ``{"data": [{"start_timestamp", "end_timestamp", "marketprice", "unit"}]}``
with millisecond timestamps and prices in EUR/MWh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.tariff_fetcher.pricing import apply_price
from services.tariff_fetcher.providers.base import Context, get_json, number, parser
from shared.config_tariffs import AwattarTariff
from shared.messages import Rate, TariffType


@parser("awattar")
def parse_awattar(payload: Any) -> list[Rate]:
    """Market prices in currency/kWh (EUR/MWh ÷ 1000)."""
    rates = []
    for item in payload["data"]:
        unit = str(item.get("unit", "Eur/MWh")).lower().replace(" ", "")
        divisor = 1000.0 if unit.endswith("/mwh") else 1.0
        rates.append(
            Rate(
                start=datetime.fromtimestamp(number(item["start_timestamp"]) / 1000, tz=UTC),
                end=datetime.fromtimestamp(number(item["end_timestamp"]) / 1000, tz=UTC),
                value=number(item["marketprice"]) / divisor,
            )
        )
    return rates


class AwattarProvider:
    name = "awattar"
    computed = False
    interpolate = False
    tariff_type = TariffType.PRICE_FORECAST

    def __init__(self, config: AwattarTariff, context: Context) -> None:
        self.config = config
        self.url = config.url or f"https://api.awattar.{config.region.lower()}/v1/marketdata"

    async def fetch(self, client: httpx.AsyncClient, now: datetime) -> list[Rate]:
        params = {
            "start": int((now - timedelta(hours=2)).timestamp() * 1000),
            "end": int((now + timedelta(hours=48)).timestamp() * 1000),
        }
        payload = await get_json(client, self.name, self.url, params=params)
        return apply_price(parse_awattar(payload), self.config)
