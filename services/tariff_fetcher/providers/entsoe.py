"""ENTSO-E transparency platform day-ahead prices (document A44, XML, stdlib ``xml.etree``).

A ``Publication_MarketDocument`` holds ``TimeSeries/Period`` blocks with a UTC ``timeInterval``, a
``resolution`` (PT15M/PT30M/PT60M) and ``Point``s (``position`` from 1, ``price.amount`` per MWh). With
curve type A03 a missing position repeats the previous price. Errors come as an
``Acknowledgement_MarketDocument`` with a ``Reason/text``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import httpx

from services.tariff_fetcher.pricing import apply_price
from services.tariff_fetcher.providers.base import Context, ProviderError, parser, request
from services.tariff_fetcher.slots import split_slots
from shared.config_tariffs import EntsoeTariff
from shared.messages import Rate, TariffType

BIDDING_ZONES = {
    "DE-LU": "10Y1001A1001A82H",
    "AT": "10YAT-APG------L",
    "BE": "10YBE----------2",
    "CH": "10YCH-SWISSGRIDZ",
    "CZ": "10YCZ-CEPS-----N",
    "DK1": "10YDK-1--------W",
    "DK2": "10YDK-2--------M",
    "ES": "10YES-REE------0",
    "FI": "10YFI-1--------U",
    "FR": "10YFR-RTE------C",
    "NL": "10YNL----------L",
    "NO1": "10YNO-1--------2",
    "PL": "10YPL-AREA-----S",
    "SE3": "10Y1001A1001A46L",
    "SE4": "10Y1001A1001A47J",
}
RESOLUTIONS = {"PT15M": timedelta(minutes=15), "PT30M": timedelta(minutes=30), "PT60M": timedelta(hours=1)}


def bidding_zone(domain: str) -> str:
    return BIDDING_ZONES.get(domain.upper(), domain)


def _utc(text: str | None) -> datetime:
    if not text:
        raise ValueError("missing time")
    return datetime.fromisoformat(text.strip().replace("Z", "+00:00")).astimezone(UTC)


def _text(element: ET.Element, path: str) -> str:
    found = element.find(path)
    if found is None or found.text is None:
        raise ValueError(f"missing element {path.replace('{*}', '')}")
    return found.text.strip()


@parser("entsoe")
def parse_entsoe(xml_text: str) -> list[Rate]:
    """Prices per kWh in 15-minute slots; the finest resolution wins where several are published."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as error:
        raise ProviderError(f"entsoe: malformed response: not XML: {error}") from None
    if root.tag.endswith("Acknowledgement_MarketDocument"):
        reason = root.findtext("{*}Reason/{*}text") or "unknown reason"
        raise ProviderError(f"entsoe: no prices: {reason.strip()}")
    if not root.tag.endswith("Publication_MarketDocument"):
        raise ProviderError(f"entsoe: malformed response: unexpected document {root.tag}")
    periods: list[tuple[timedelta, list[Rate]]] = []
    for series in root.iterfind(".//{*}TimeSeries"):
        for period in series.iterfind("{*}Period"):
            start = _utc(_text(period, "{*}timeInterval/{*}start"))
            end = _utc(_text(period, "{*}timeInterval/{*}end"))
            resolution = RESOLUTIONS[_text(period, "{*}resolution")]
            prices = {
                int(_text(p, "{*}position")): float(_text(p, "{*}price.amount")) / 1000
                for p in period.iterfind("{*}Point")
            }
            if not prices:
                continue
            rates = []
            count = int((end - start) / resolution)
            value = prices.get(1, prices[min(prices)])
            for position in range(1, count + 1):
                value = prices.get(position, value)  # A03: a gap repeats the previous price
                slot = start + (position - 1) * resolution
                rates.append(Rate(start=slot, end=slot + resolution, value=value))
            periods.append((resolution, rates))
    if not periods:
        raise ProviderError("entsoe: malformed response: no price points")
    ordered = sorted(periods, key=lambda item: item[0], reverse=True)  # coarse first, so fine slots win
    return split_slots([rate for _, rates in ordered for rate in split_slots(rates)])


class EntsoeProvider:
    name = "entsoe"
    computed = False
    interpolate = False
    tariff_type = TariffType.PRICE_FORECAST

    def __init__(self, config: EntsoeTariff, context: Context) -> None:
        self.config = config
        self.domain = bidding_zone(config.domain)

    async def fetch(self, client: httpx.AsyncClient, now: datetime) -> list[Rate]:
        start = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        params = {
            "securityToken": self.config.security_token.get_secret_value(),
            "documentType": "A44",
            "in_Domain": self.domain,
            "out_Domain": self.domain,
            "periodStart": start.strftime("%Y%m%d%H%M"),
            "periodEnd": (start + timedelta(hours=48)).strftime("%Y%m%d%H%M"),
        }
        response = await request(client, self.name, "GET", self.config.url, params=params)
        return apply_price(parse_entsoe(response.text), self.config)
