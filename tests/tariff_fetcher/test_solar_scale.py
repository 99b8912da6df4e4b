"""forecast.solar.scale: today's produced ÷ forecast PV energy (evcc's solar adjustment), from the PV
meters' readings, with evcc's "not enough data → 1" rule and a new day starting at local midnight."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.optimizer.settings import SiteSettings
from services.optimizer.state_view import site_settings_state
from services.tariff_fetcher.site import site_state
from services.tariff_fetcher.solar_scale import Production, forecast_kwh, solar_scale
from shared.messages import Rate, RateSeries, TariffType, TariffUsage

BERLIN = ZoneInfo("Europe/Berlin")
MORNING = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)  # 08:00 in Berlin
HOUR = timedelta(hours=1)


def forecast(watts: float, hours: int = 12) -> list[Rate]:
    return [Rate(start=MORNING + i * HOUR, end=MORNING + (i + 1) * HOUR, value=watts) for i in range(hours)]


def produce(production: Production, watts: float, minutes: int, *, start: datetime = MORNING) -> datetime:
    """One reading a minute from ``start`` for ``minutes`` minutes; returns the last reading's time."""
    at = start
    for minute in range(minutes + 1):
        at = start + timedelta(minutes=minute)
        production.add("pv", watts, at)
    return at


def test_half_the_forecast_produced_gives_half() -> None:
    production = Production(BERLIN)
    now = produce(production, 2000, 120)  # 4 kWh in two hours
    rates = forecast(4000)  # 8 kWh forecast for the same two hours
    assert forecast_kwh(rates, MORNING, now) == 8
    assert solar_scale(rates, production, now) == 0.5


def test_not_enough_data_is_one() -> None:
    production = Production(BERLIN)
    assert solar_scale(forecast(4000), production, MORNING) == 1.0  # nothing seen yet
    now = produce(production, 200, 60)  # 0.2 kWh: below evcc's 0.5 kWh
    assert solar_scale(forecast(4000), production, now) == 1.0
    assert solar_scale([], production, now) == 1.0  # nothing forecast


def test_a_new_local_day_starts_over_and_gaps_are_not_bridged() -> None:
    production = Production(BERLIN)
    evening = datetime(2026, 6, 1, 21, 50, tzinfo=UTC)  # 23:50 in Berlin
    produce(production, 1000, 5, start=evening)
    produce(production, 1000, 20, start=evening + timedelta(minutes=11))  # 00:01 the next day in Berlin
    assert production.day == datetime(2026, 6, 2).date() and round(production.kwh, 3) == round(
        1000 * 20 / 60 / 1000, 3
    )
    production.add("pv", 1000, evening + timedelta(hours=2))  # 40 minutes without readings: not bridged
    assert round(production.kwh, 3) == round(1000 * 20 / 60 / 1000, 3)
    production.add("pv", float("nan"), evening + timedelta(hours=2, minutes=1))  # ignored
    assert math.isfinite(production.kwh)


def test_scale_is_published_with_the_solar_forecast_and_solar_adjusted_by_the_optimizer() -> None:
    rates = forecast(4000)
    series = {TariffUsage.SOLAR: RateSeries(usage=TariffUsage.SOLAR, type=TariffType.SOLAR, rates=rates)}
    state = site_state(series, {TariffUsage.SOLAR: rates}, MORNING + HOUR, BERLIN, solar_scale=0.8)
    assert state.forecast is not None and state.forecast.solar is not None
    assert state.forecast.solar.scale == 0.8
    assert site_settings_state(SiteSettings(solar_adjusted=True), battery_configured=False)["solarAdjusted"]
