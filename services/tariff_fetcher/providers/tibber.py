"""Tibber GraphQL price info in quarter-hour resolution (today and, from about 13:00, tomorrow)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from services.tariff_fetcher.pricing import apply_price, has_adjustments
from services.tariff_fetcher.providers.base import (
    Context,
    ProviderError,
    get_json,
    number,
    parse_time,
    parser,
)
from shared.config_tariffs import TibberTariff
from shared.messages import Rate, TariffType

QUARTER = timedelta(minutes=15)
_PRICE_INFO = (
    "currentSubscription { priceInfo(resolution: QUARTER_HOURLY) { "
    "today { total energy startsAt } tomorrow { total energy startsAt } } }"
)
QUERY_FIRST_HOME = "{ viewer { homes { id " + _PRICE_INFO + " } } }"
QUERY_HOME = "query($id: ID!) { viewer { home(id: $id) { id " + _PRICE_INFO + " } } }"


@parser("tibber")
def parse_tibber(payload: Any, *, use_total: bool = True) -> list[Rate]:
    """Quarter-hour slots from a priceInfo answer: ``total`` (incl. Tibber's taxes) or raw ``energy``."""
    if payload.get("errors"):
        messages = "; ".join(str(e.get("message", e)) for e in payload["errors"])
        raise ProviderError(f"tibber: API error: {messages}")
    viewer = payload["data"]["viewer"]
    home = viewer["home"] if "home" in viewer else (viewer["homes"] or [None])[0]
    if home is None:
        raise ProviderError("tibber: the account has no home")
    subscription = home["currentSubscription"]
    if subscription is None:
        raise ProviderError("tibber: the home has no active subscription")
    info = subscription["priceInfo"]
    rates = []
    for item in [*(info["today"] or []), *(info["tomorrow"] or [])]:
        start = parse_time(item["startsAt"])
        rates.append(
            Rate(start=start, end=start + QUARTER, value=number(item["total" if use_total else "energy"]))
        )
    return rates


class TibberProvider:
    name = "tibber"
    computed = False
    interpolate = False
    tariff_type = TariffType.PRICE_FORECAST

    def __init__(self, config: TibberTariff, context: Context) -> None:
        self.config = config

    async def fetch(self, client: httpx.AsyncClient, now: datetime) -> list[Rate]:
        body: dict[str, Any] = (
            {"query": QUERY_HOME, "variables": {"id": self.config.home_id}}
            if self.config.home_id
            else {"query": QUERY_FIRST_HOME}
        )
        headers = {"Authorization": f"Bearer {self.config.token.get_secret_value()}"}
        payload = await get_json(
            client, self.name, self.config.url, method="POST", json_body=body, headers=headers
        )
        if not has_adjustments(self.config):
            return parse_tibber(payload, use_total=True)
        return apply_price(parse_tibber(payload, use_total=False), self.config)
