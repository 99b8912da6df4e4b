"""evcc's tariff site keys from the published series (pure): current values, smart-cost flags, forecasts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.tariff_fetcher.slots import SLOT, floor_slot, rate_at
from shared.messages import Rate, RateSeries, TariffType, TariffUsage
from shared.state import Forecast, SiteState, SolarDay, SolarForecast

CURRENT_KEYS = {
    TariffUsage.GRID: "tariffGrid",
    TariffUsage.FEEDIN: "tariffFeedIn",
    TariffUsage.CO2: "tariffCo2",
    TariffUsage.SOLAR: "tariffSolar",
}
FORECAST_KEYS = {
    TariffUsage.GRID: "grid",
    TariffUsage.FEEDIN: "feedIn",
    TariffUsage.CO2: "co2",
    TariffUsage.PLANNER: "planner",
}


def resolve_planner(types: Mapping[TariffUsage, TariffType]) -> TariffUsage | None:
    """evcc's planner tariff: explicit planner; else grid if it forecasts prices; else co2; else grid."""
    if TariffUsage.PLANNER in types:
        return TariffUsage.PLANNER
    if types.get(TariffUsage.GRID) is TariffType.PRICE_FORECAST:
        return TariffUsage.GRID
    if TariffUsage.CO2 in types:
        return TariffUsage.CO2
    return TariffUsage.GRID if TariffUsage.GRID in types else None


def compact(rates: Sequence[Rate]) -> list[list[float]]:
    return [[r.start.timestamp(), r.end.timestamp(), r.value] for r in rates]


def solar_forecast(rates: Sequence[Rate], now: datetime, tz: ZoneInfo, scale: float = 1.0) -> SolarForecast:
    """Daily yields (Wh) for today, tomorrow and the day after, the power time series and today's
    production scale (:mod:`services.tariff_fetcher.solar_scale`)."""
    today = now.astimezone(tz).date()
    days = []
    for offset in range(3):
        start = datetime.combine(today + timedelta(days=offset), time(), tzinfo=tz)
        end = datetime.combine(today + timedelta(days=offset + 1), time(), tzinfo=tz)
        inside = [r for r in rates if start <= r.start < end]
        energy_wh = sum(r.value * (r.end - r.start).total_seconds() / 3600 for r in inside)
        # complete: the data reaches the day's last daylight — the slots run to within an hour of midnight
        # or the last slot is back at zero power after the first one
        complete = bool(inside) and (inside[-1].end >= end - timedelta(hours=1) or inside[-1].value == 0)
        days.append(SolarDay(yield_=energy_wh, complete=complete))
    return SolarForecast(
        today=days[0],
        tomorrow=days[1],
        dayAfterTomorrow=days[2],
        timeseries=[[r.start.timestamp(), r.value] for r in rates],
        scale=scale,
    )


FORECAST_HORIZON = timedelta(hours=48)
"""How far ``forecast/...`` reaches on MQTT (each slot is four topics); the full series is on
``chargebus/tariffs/<usage>``."""


def forecast_slots(rates: Sequence[Rate]) -> list[Rate]:
    """The forecast list: the slots held since the last refresh (from the slot current at that time), so
    for fetched tariffs the indices move when data arrives, not every 15 minutes."""
    if not rates:
        return []
    until = rates[0].start + FORECAST_HORIZON
    return [r for r in rates if r.start < until]


def site_state(
    series: Mapping[TariffUsage, RateSeries],
    forecasts: Mapping[TariffUsage, Sequence[Rate]],
    now: datetime,
    tz: ZoneInfo,
    solar_scale: float = 1.0,
) -> SiteState:
    """The site keys this service owns, for the configured usages (``planner`` already resolved).

    ``series`` gives the current values; ``forecasts`` the slots for ``forecast/...`` (see
    :func:`forecast_slots`)."""
    fields: dict[str, object] = {}
    for usage, key in CURRENT_KEYS.items():
        if usage in series:
            current = rate_at(series[usage].rates, now)
            fields[key] = current.value if current is not None else None
    planner = series.get(TariffUsage.PLANNER)
    fields["smartCostAvailable"] = planner is not None and planner.type is not TariffType.PRICE_STATIC
    fields["smartCostType"] = planner.type.value if planner is not None else None
    feedin = series.get(TariffUsage.FEEDIN)
    fields["smartFeedInPriorityAvailable"] = feedin is not None and feedin.type is not TariffType.PRICE_STATIC
    if forecasts:
        forecast: dict[str, object] = {
            key: compact(forecast_slots(forecasts[usage]))
            for usage, key in FORECAST_KEYS.items()
            if usage in forecasts
        }
        if TariffUsage.SOLAR in forecasts:
            forecast["solar"] = solar_forecast(forecasts[TariffUsage.SOLAR], now, tz, solar_scale)
        fields["forecast"] = Forecast.model_validate(forecast)
    return SiteState.model_validate(fields)


def next_boundary(now: datetime) -> datetime:
    """The next 15-minute slot boundary after ``now`` (when current values change)."""
    return floor_slot(now) + SLOT
