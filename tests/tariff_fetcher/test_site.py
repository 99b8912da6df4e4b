"""evcc's site keys from the series: planner resolution, smart-cost flags, current values, forecasts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.tariff_fetcher.service import TariffFetcher
from shared.config import parse_config
from shared.encoding import encode_mqtt
from shared.messages import TariffUsage
from shared.state import SiteState
from tests.tariff_fetcher.support import BERLIN, Clock

NOW = datetime(2026, 3, 27, 22, 10, tzinfo=UTC)  # Friday 23:10 in Berlin
STATIC = {"type": "fixed", "price": 0.30}
ZONED = {"type": "fixed", "price": 0.30, "zones": [{"price": 0.18, "hours": "22:00-06:00"}]}
CO2 = {"type": "fixed", "price": 380}


async def computed(tariffs: dict[str, Any]) -> TariffFetcher:
    config = parse_config({"tariffs": {"cache_file": None, **tariffs}}).tariffs
    fetcher = TariffFetcher(config, BERLIN, clock=Clock(NOW))
    async with httpx.AsyncClient() as client:
        await fetcher.refresh_due(client)
    return fetcher


@pytest.mark.parametrize(
    ("tariffs", "source", "smart_type", "available"),
    [
        ({"grid": ZONED, "co2": CO2}, TariffUsage.GRID, "priceforecast", True),
        ({"grid": STATIC, "co2": CO2}, TariffUsage.CO2, "pricestatic", False),  # a fixed co2 value is static
        ({"grid": STATIC}, TariffUsage.GRID, "pricestatic", False),
        ({"grid": STATIC, "planner": ZONED}, TariffUsage.PLANNER, "priceforecast", True),
        ({"feedin": STATIC}, None, None, False),
    ],
)
async def test_planner_tariff_resolution_and_smart_cost_keys(
    tariffs: dict[str, Any], source: TariffUsage | None, smart_type: str | None, available: bool
) -> None:
    fetcher = await computed(tariffs)
    assert fetcher.planner_source() is source
    series = fetcher.series()
    site = fetcher.site(series)
    assert site.smartCostAvailable is available
    assert site.smartCostType == smart_type
    if source is not None:
        assert series[TariffUsage.PLANNER].rates == series[source].rates


async def test_current_values_and_feed_in_priority() -> None:
    fetcher = await computed({"grid": ZONED, "feedin": {"type": "fixed", "price": 0.08}, "co2": CO2})
    site = fetcher.site(fetcher.series())
    assert site.tariffGrid == 0.18  # 23:10 local is in the night zone
    assert site.tariffFeedIn == 0.08 and site.tariffCo2 == 380
    assert site.smartFeedInPriorityAvailable is False
    assert "tariffSolar" not in site.model_fields_set  # not configured → not published


async def test_forecast_topics_follow_evcc_layout() -> None:
    fetcher = await computed({"grid": ZONED, "feedin": STATIC})
    site = fetcher.site(fetcher.series())
    topics = dict(encode_mqtt("evcc/site", SiteState(forecast=site.forecast)))
    first_start = datetime(2026, 3, 27, 22, 0, tzinfo=UTC)  # the current slot
    assert topics["evcc/site/forecast/grid/1"] == "3"
    assert topics["evcc/site/forecast/grid/1/1"] == str(int(first_start.timestamp()))
    assert topics["evcc/site/forecast/grid/1/2"] == str(
        int((first_start + timedelta(minutes=15)).timestamp())
    )
    assert topics["evcc/site/forecast/grid/1/3"] == "0.18"
    assert int(topics["evcc/site/forecast/feedIn"]) > 0
    count = int(topics["evcc/site/forecast/grid"])
    assert (
        f"evcc/site/forecast/grid/{count}/3" in topics
        and f"evcc/site/forecast/grid/{count + 1}" not in topics
    )
