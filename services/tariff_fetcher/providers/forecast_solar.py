"""forecast.solar estimate: ``{"result": {"watts": {"YYYY-MM-DD HH:MM:SS": W, ...}, ...},
"message": {"info": {"timezone": "Europe/Berlin"}, ...}}`` — local wall times of the plant's zone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from services.tariff_fetcher.providers.base import Context, get_json, number, parser
from services.tariff_fetcher.slots import samples_to_slots
from shared.config_tariffs import ForecastSolarTariff
from shared.messages import Rate, TariffType


def local_samples(watts: dict[str, Any], tz: ZoneInfo) -> list[tuple[datetime, float]]:
    """Local wall times → UTC. In the hour repeated when DST ends, the second occurrence of a wall time
    (the answer is ordered) is the later instant (``fold=1``)."""
    samples: list[tuple[datetime, float]] = []
    previous: datetime | None = None
    for text, value in watts.items():
        naive = datetime.fromisoformat(text.strip())
        if naive.tzinfo is not None:
            instant = naive.astimezone(UTC)
        else:
            instant = naive.replace(tzinfo=tz).astimezone(UTC)
            if previous is not None and instant <= previous:
                instant = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
        samples.append((instant, number(value)))
        previous = instant
    return samples


@parser("forecast-solar")
def parse_forecast_solar(payload: Any, default_tz: ZoneInfo) -> list[Rate]:
    """15-minute slots of forecast PV power (W), interpolated between the hourly samples."""
    zone_name = (payload.get("message") or {}).get("info", {}).get("timezone")
    try:
        tz = ZoneInfo(zone_name) if zone_name else default_tz
    except (ZoneInfoNotFoundError, ValueError):
        tz = default_tz
    return samples_to_slots(local_samples(payload["result"]["watts"], tz))


class ForecastSolarProvider:
    name = "forecast-solar"
    computed = False
    interpolate = True
    tariff_type = TariffType.SOLAR

    def __init__(self, config: ForecastSolarTariff, context: Context) -> None:
        self.config = config
        self.context = context

    async def fetch(self, client: httpx.AsyncClient, now: datetime) -> list[Rate]:
        c = self.config
        key = f"/{c.api_key.get_secret_value()}" if c.api_key else ""
        url = f"{c.url}{key}/estimate/{c.lat:g}/{c.lon:g}/{c.dec:g}/{c.az:g}/{c.kwp:g}"
        payload = await get_json(client, self.name, url)
        return parse_forecast_solar(payload, self.context.timezone)
