"""Tariffs and carbon feeds: each site's retained ``chargebus/tariffs/<usage>`` series as fleet resources.

Per site one tariff per price usage (grid import, feed-in, planner) and one carbon feed (co2), with IDs
derived from site and usage so they stay stable across restarts. Prices are minor currency units per kWh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.gateway.fleet.expand import ExpandTree, sub
from services.gateway.fleet.ids import stable_id
from services.gateway.fleet.live import LiveView
from shared.messages import Rate, RateSeries, SiteManifest, TariffType

PRICE_USAGES = ("grid", "feedin", "planner")
CO2_USAGE = "co2"
TITLES = {"grid": "Grid import", "feedin": "Feed-in", "planner": "Planner", "co2": "Grid CO2 intensity"}
_TYPES = {
    TariffType.PRICE_STATIC: "FLAT_RATE",
    TariffType.PRICE_DYNAMIC: "DYNAMIC",
    TariffType.PRICE_FORECAST: "DYNAMIC",
}

UrlFn = Callable[..., str]


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def minor_units(value: float) -> float:
    """Currency/kWh → minor units/kWh (cents, pence), 4 decimals so sub-cent prices survive."""
    return round(value * 100, 4)


def price_json(rate: Rate) -> dict[str, Any]:
    return {
        "started_at": iso(rate.start),
        "interval_seconds": int((rate.end - rate.start).total_seconds()),
        "price_minor_units": minor_units(rate.value),
    }


def intensity_json(rate: Rate, created: datetime) -> dict[str, Any]:
    return {
        "started_at": iso(rate.start),
        "interval_seconds": int((rate.end - rate.start).total_seconds()),
        "co2_intensity_grams_per_kilowatt_hour": rate.value,
        "created_at": iso(created),
    }


def rates_between(rates: list[Rate], gte: datetime | None, lte: datetime | None) -> list[Rate]:
    return [r for r in rates if (gte is None or r.start >= gte) and (lte is None or r.start <= lte)]


@dataclass
class TariffView:
    """One site's tariffs and carbon feed: what its manifest configures and its live series show."""

    site: SiteManifest
    live: LiveView
    now: datetime

    def _configured(self, usage: str) -> bool:
        return usage in self.site.tariffs

    def _key(self, usage: str) -> str:
        return f"{self.site.site_id}/{usage}"

    def usages(self) -> list[str]:
        return [u for u in PRICE_USAGES if self._configured(u) or self.live.tariff(u) is not None]

    def tariff_id(self, usage: str) -> str | None:
        return stable_id("tari", self._key(usage)) if usage in self.usages() else None

    def usage_of(self, tariff_id: str) -> str | None:
        return next((u for u in self.usages() if stable_id("tari", self._key(u)) == tariff_id), None)

    def carbon_feed_id(self) -> str | None:
        present = self._configured(CO2_USAGE) or self.live.tariff(CO2_USAGE) is not None
        return stable_id("cabf", self._key(CO2_USAGE)) if present else None

    def series(self, usage: str) -> RateSeries | None:
        series = self.live.tariff(usage)
        return None if series is None or series.outdated else series

    def current_rate(self, usage: str) -> Rate | None:
        series = self.series(usage)
        if series is None:
            return None
        return next((r for r in series.rates if r.start <= self.now < r.end), None)

    def render_tariff(
        self, url: UrlFn, usage: str, tree: ExpandTree, *, detail: bool = True
    ) -> dict[str, Any]:
        tariff_id = stable_id("tari", self._key(usage))
        series = self.series(usage)
        current = self.current_rate(usage)
        body: dict[str, Any] = {
            "id": tariff_id,
            "url": url("tariffs", tariff_id),
            "supplier": None,
            "name": TITLES.get(usage, usage),
            "usage": usage,
            "currency": series.currency if series else self.site.currency,
            "highlighted": usage == "grid",
            "type": _TYPES.get(series.type, "OTHER") if series else "OTHER",
            "timezone_name": self.site.timezone,
            "site": self.site.site_id,
            "price_chart_url": None,
            "gsp_group": None,
            "valid_from": iso(series.rates[0].start) if series and series.rates else None,
            "valid_until": None,
            "fetched_at": iso(series.fetched_at) if series else None,
        }
        if detail:
            body["current_price"] = minor_units(current.value) if current else None
            prices_url = url("tariffs", tariff_id, "prices")
            subtree = sub(tree, "prices")
            if subtree is None:
                body["prices"] = prices_url
            else:
                recent = rates_between(series.rates if series else [], self.now - timedelta(hours=24), None)
                body["prices"] = [price_json(r) for r in recent]
        return body

    def render_carbon_feed(self, url: UrlFn) -> dict[str, Any]:
        feed_id = stable_id("cabf", self._key(CO2_USAGE))
        current = self.current_rate(CO2_USAGE)
        return {
            "id": feed_id,
            "url": url("carbon_feeds", feed_id),
            "name": TITLES[CO2_USAGE],
            "current_co2_intensity_grams_per_kilowatt_hour": current.value if current else None,
            "carbon_intensities": url("carbon_feeds", feed_id, "carbon_intensities"),
            "site": self.site.site_id,
        }
