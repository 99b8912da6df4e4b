"""Corrently GrünstromIndex CO2 forecast: ``{"forecast": [{"timeStamp" (ms), "gsi", "co2_g_standard"}]}``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from services.tariff_fetcher.providers.base import Context, get_json, number, parse_time, parser
from shared.config_tariffs import GruenstromindexTariff
from shared.messages import Rate, TariffType

HOUR = timedelta(hours=1)


@parser("gruenstromindex")
def parse_gruenstromindex(payload: Any) -> list[Rate]:
    """Hourly slots of grid-average CO2 intensity (g/kWh)."""
    rates = []
    for item in payload["forecast"]:
        start = parse_time(item["timeStamp"] if "timeStamp" in item else item["epochtime"])
        rates.append(Rate(start=start, end=start + HOUR, value=number(item["co2_g_standard"])))
    return rates


class GruenstromindexProvider:
    name = "gruenstromindex"
    computed = False
    interpolate = False
    tariff_type = TariffType.CO2

    def __init__(self, config: GruenstromindexTariff, context: Context) -> None:
        self.config = config

    async def fetch(self, client: httpx.AsyncClient, now: datetime) -> list[Rate]:
        payload = await get_json(client, self.name, self.config.url, params={"zip": self.config.zip})
        return parse_gruenstromindex(payload)
