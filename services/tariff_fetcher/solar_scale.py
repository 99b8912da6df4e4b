"""How far today's PV production is off the solar forecast: evcc's ``forecast.solar.scale``.

The scale is produced ÷ forecast PV energy over the part of today this service has watched (from its first
PV reading of the day, so a restart at noon compares the afternoon with the afternoon's forecast); 1 while
less than 0.5 kWh has been produced or nothing was forecast (evcc's rule). It is published always; with
the site setting ``solarAdjusted`` on, clients show the forecast multiplied by it (evcc's UI does).
Production is integrated from the PV meters' power readings (trapezoids; gaps over 5 minutes are skipped).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from shared.messages import Rate

MIN_PRODUCED_KWH = 0.5
MAX_GAP = timedelta(minutes=5)
MAX_SCALE = 10.0
"""A meter misconfigured by orders of magnitude must not publish an absurd factor."""


@dataclass
class Production:
    """PV energy produced today since :attr:`since` (kWh), from the PV meters' power readings."""

    tz: ZoneInfo
    day: date | None = None
    since: datetime | None = None
    kwh: float = 0.0
    last: dict[str, tuple[datetime, float]] = field(default_factory=dict)
    """Per meter: time and power (W) of its previous reading."""

    def add(self, meter: str, power_w: float, at: datetime) -> None:
        if not math.isfinite(power_w):
            return
        day = at.astimezone(self.tz).date()
        if day != self.day:
            self.day, self.since, self.kwh, self.last = day, at, 0.0, {}
        power = max(0.0, power_w)
        previous = self.last.get(meter)
        if previous is not None and timedelta(0) < at - previous[0] <= MAX_GAP:
            hours = (at - previous[0]).total_seconds() / 3600
            self.kwh += (previous[1] + power) / 2 * hours / 1000
        if previous is None or at > previous[0]:
            self.last[meter] = (at, power)


def forecast_kwh(rates: Sequence[Rate], start: datetime, end: datetime) -> float:
    """Forecast energy (kWh) between ``start`` and ``end`` from solar rates in W."""
    total = 0.0
    for rate in rates:
        overlap = (min(rate.end, end) - max(rate.start, start)).total_seconds()
        if overlap > 0:
            total += rate.value * overlap / 3600 / 1000
    return total


def solar_scale(rates: Sequence[Rate], production: Production, now: datetime) -> float:
    """Produced ÷ forecast energy today so far; 1 without enough data."""
    if production.since is None or production.day != now.astimezone(production.tz).date():
        return 1.0
    expected = forecast_kwh(rates, production.since, now)
    if expected <= 0 or production.kwh <= MIN_PRODUCED_KWH:
        return 1.0
    return round(min(production.kwh / expected, MAX_SCALE), 3)
