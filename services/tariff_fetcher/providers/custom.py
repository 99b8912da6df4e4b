"""Any HTTP JSON source through a ``jq`` program producing ``[{"start", "end"?, "value"}]``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from services.tariff_fetcher.pricing import apply_price
from services.tariff_fetcher.providers.base import (
    Context,
    ProviderError,
    get_json,
    number,
    parse_time,
    parser,
)
from shared.config_tariffs import CustomTariff
from shared.jq_sandbox import JqError
from shared.messages import Rate, TariffType

TYPES = {"priceforecast": TariffType.PRICE_FORECAST, "co2": TariffType.CO2, "solar": TariffType.SOLAR}


@parser("custom")
def parse_custom(items: Any, *, scale: float = 1.0, slot: timedelta = timedelta(hours=1)) -> list[Rate]:
    """The rates in the jq program's output (a list of ``{start, end?, value}``); a missing ``end`` is the
    next ``start`` (else ``start + slot``)."""
    if not isinstance(items, list):
        raise ValueError(f"jq must produce a list of {{start, end, value}}, got {type(items).__name__}")
    starts = [parse_time(item["start"]) for item in items]
    rates = []
    for index, item in enumerate(items):
        if item.get("value") is None:
            continue
        if item.get("end") is not None:
            end = parse_time(item["end"])
        elif index + 1 < len(starts) and starts[index + 1] > starts[index]:
            end = starts[index + 1]
        else:
            end = starts[index] + slot
        rates.append(Rate(start=starts[index], end=end, value=number(item["value"]) * scale))
    return rates


class CustomProvider:
    name = "custom"
    computed = False

    def __init__(self, config: CustomTariff, context: Context) -> None:
        self.config = config
        self.context = context
        self.tariff_type = TYPES[config.tariff]
        self.interpolate = self.tariff_type is TariffType.SOLAR

    async def fetch(self, client: httpx.AsyncClient, now: datetime) -> list[Rate]:
        headers = dict(self.config.headers)
        if self.config.token:
            headers["Authorization"] = f"Bearer {self.config.token.get_secret_value()}"
        payload = await get_json(client, self.name, self.config.url, headers=headers)
        try:
            results = await self.context.jq.evaluate(self.config.jq, payload, max_results=1)
        except JqError as error:
            raise ProviderError(f"custom: jq failed: {error}") from None
        if not results:
            raise ProviderError("custom: jq failed: no result")
        rates = parse_custom(
            results[0], scale=self.config.scale, slot=timedelta(minutes=self.config.slot_minutes)
        )
        return apply_price(rates, self.config) if self.tariff_type is TariffType.PRICE_FORECAST else rates
