"""Octopus Energy (UK) unit rates: ``{"results": [{"value_inc_vat" (p/kWh), "valid_from", "valid_to",
"payment_method"}], "next"}``; the tariff comes from product + region or from the account (API key)."""

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
from shared.config_tariffs import OctopusTariff
from shared.messages import Rate, TariffType

OPEN_ENDED = timedelta(days=365)
MAX_PAGES = 10


@parser("octopus")
def parse_octopus(payload: Any, *, direct_debit: bool = True) -> list[Rate]:
    """Rates in GBP/kWh (``value_inc_vat`` pence ÷ 100); an open-ended rate runs for a year."""
    wanted = {None, "DIRECT_DEBIT" if direct_debit else "NON_DIRECT_DEBIT"}
    rates = []
    for item in payload["results"]:
        if item.get("payment_method") not in wanted:
            continue
        start = parse_time(item["valid_from"])
        end = parse_time(item["valid_to"]) if item.get("valid_to") else start + OPEN_ENDED
        rates.append(Rate(start=start, end=end, value=number(item["value_inc_vat"]) / 100))
    return rates


@parser("octopus")
def tariff_code_from_account(payload: Any, now: datetime, *, export: bool = False) -> str:
    """The electricity tariff code of the agreement valid at ``now`` on the import (or export) meter point."""
    for prop in payload["properties"]:
        for point in prop.get("electricity_meter_points", []):
            if bool(point.get("is_export", False)) != export:
                continue
            for agreement in point.get("agreements", []):
                start = parse_time(agreement["valid_from"])
                end = parse_time(agreement["valid_to"]) if agreement.get("valid_to") else None
                if start <= now and (end is None or now < end):
                    return str(agreement["tariff_code"])
    raise ProviderError(
        f"octopus: no {'export' if export else 'import'} tariff agreement valid now on the account"
    )


def product_from_tariff_code(code: str) -> str:
    """``E-1R-AGILE-24-10-01-C`` → ``AGILE-24-10-01``."""
    parts = code.split("-")
    if len(parts) < 4 or parts[0] != "E":
        raise ProviderError(f"octopus: unexpected tariff code {code!r}")
    return "-".join(parts[2:-1])


class OctopusProvider:
    name = "octopus"
    computed = False
    interpolate = False
    tariff_type = TariffType.PRICE_FORECAST

    def __init__(self, config: OctopusTariff, context: Context) -> None:
        if not (config.product and config.region) and not (config.api_key and config.account):
            raise ValueError("octopus: set product and region, or api_key and account")
        self.config = config

    async def _tariff_code(self, client: httpx.AsyncClient, now: datetime) -> str:
        if self.config.product and self.config.region:
            return f"E-1R-{self.config.product}-{self.config.region.upper()}"
        assert self.config.api_key is not None
        url = f"{self.config.url}/v1/accounts/{self.config.account}/"
        account = await get_json(client, self.name, url, auth=(self.config.api_key.get_secret_value(), ""))
        return tariff_code_from_account(account, now, export=self.config.direction == "export")

    async def fetch(self, client: httpx.AsyncClient, now: datetime) -> list[Rate]:
        code = await self._tariff_code(client, now)
        product = product_from_tariff_code(code)
        url: str | None = (
            f"{self.config.url}/v1/products/{product}/electricity-tariffs/{code}/standard-unit-rates/"
        )
        params: dict[str, Any] | None = {
            "period_from": (now - timedelta(hours=1)).isoformat(),
            "page_size": 1500,
        }
        rates: list[Rate] = []
        for _ in range(MAX_PAGES):
            if url is None:
                break
            payload = await get_json(client, self.name, url, params=params)
            rates.extend(parse_octopus(payload, direct_debit=self.config.direct_debit))
            url, params = payload.get("next"), None  # ``next`` carries its own query
        return apply_price(rates, self.config)
