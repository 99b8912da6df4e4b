from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.tariff_fetcher.providers.base import Context
from services.tariff_fetcher.providers.demo import DemoProvider
from services.tariff_fetcher.providers.fixed import FixedProvider
from services.tariff_fetcher.slots import rate_at
from shared.config import ConfigError, parse_config
from shared.config_tariffs import DemoTariff, FixedTariff, FixedZone
from shared.messages import TariffType
from tests.tariff_fetcher.support import BERLIN

CONTEXT = Context(timezone=BERLIN)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


async def fixed(config: FixedTariff, now: datetime) -> list:  # type: ignore[type-arg]
    async with httpx.AsyncClient() as client:
        return await FixedProvider(config, CONTEXT).fetch(client, now)


async def test_fixed_without_zones_is_static_and_covers_seven_days() -> None:
    provider = FixedProvider(FixedTariff(price=0.3), CONTEXT)
    assert provider.tariff_type is TariffType.PRICE_STATIC
    rates = await fixed(FixedTariff(price=0.3), local(2026, 5, 4, 10, 7))
    assert rates[0].start == local(2026, 5, 4)
    assert rates[-1].end == local(2026, 5, 11)
    assert {r.value for r in rates} == {0.3}


@pytest.mark.parametrize(
    ("day", "slots", "night_slots"),
    [
        # spring forward: 02:00–03:00 does not exist, the 0–6 zone lasts five hours
        (local(2026, 3, 29), 92, 5 * 4),
        # fall back: 02:00–03:00 happens twice, the 0–6 zone lasts seven hours
        (local(2026, 10, 25), 100, 7 * 4),
    ],
)
async def test_fixed_zones_follow_local_wall_time_on_dst_days(
    day: datetime, slots: int, night_slots: int
) -> None:
    config = FixedTariff(price=0.30, zones=[FixedZone(price=0.18, hours="0:00-6:00")])
    assert FixedProvider(config, CONTEXT).tariff_type is TariffType.PRICE_FORECAST
    rates = await fixed(config, day + timedelta(hours=12))
    that_day = [r for r in rates if r.start.astimezone(BERLIN).date() == day.date()]
    assert len(that_day) == slots
    assert Counter(r.value for r in that_day)[0.18] == night_slots
    before_six, six = rate_at(rates, day.replace(hour=5, minute=59)), rate_at(rates, day.replace(hour=6))
    assert before_six is not None and before_six.value == 0.18
    assert six is not None and six.value == 0.30


async def test_later_zones_win_and_days_months_and_midnight_wrap_apply() -> None:
    config = FixedTariff(
        price=0.30,
        zones=[
            FixedZone(price=0.20, hours="22:00-06:00"),
            FixedZone(price=0.10, days="Sa,So", hours="10-16"),
            FixedZone(price=0.05, days="Sa", hours="12:00-13:00", months="Jan-Mar"),
            FixedZone(price=0.40, days="Mo-Fr", hours="17-0"),
        ],
    )
    rates = await fixed(config, local(2026, 3, 27, 8))  # a Friday in March
    cases = {
        local(2026, 3, 27, 9): 0.30,  # Friday morning
        local(2026, 3, 27, 23, 30): 0.40,  # weekday evening zone to midnight wins over night zone
        local(2026, 3, 28, 2): 0.20,  # Saturday night
        local(2026, 3, 28, 11): 0.10,  # weekend midday
        local(2026, 3, 28, 12, 30): 0.05,  # Saturday noon in March
        local(2026, 3, 29, 12, 30): 0.10,  # Sunday noon
        local(2026, 3, 28, 17, 30): 0.30,  # weekend evening is not Mo-Fr
    }
    for ts, expected in cases.items():
        found = rate_at(rates, ts.astimezone(UTC))
        assert found is not None and found.value == expected, ts


def test_bad_zone_syntax_fails_at_config_load() -> None:
    with pytest.raises(ConfigError, match=r"tariffs\.grid\.fixed\.zones\.0\.days"):
        parse_config(
            {"tariffs": {"grid": {"type": "fixed", "price": 0.3, "zones": [{"price": 0.1, "days": "Xy"}]}}}
        )


async def test_demo_curve_is_cheap_at_night_and_midday_and_publishes_tomorrow_at_13() -> None:
    config = DemoTariff(type="demo", price=0.30, spread=0.12)
    async with httpx.AsyncClient() as client:
        provider = DemoProvider(config, CONTEXT)
        morning = await provider.fetch(client, local(2026, 6, 1, 9))
        afternoon = await provider.fetch(client, local(2026, 6, 1, 14))
    assert morning[-1].end == local(2026, 6, 2)  # before 13:00 only today
    assert afternoon[-1].end == local(2026, 6, 3)  # then tomorrow as well

    def at(hour: int) -> float:
        found = rate_at(afternoon, local(2026, 6, 1, hour).astimezone(UTC))
        assert found is not None
        return found.value

    assert at(13) < at(9) and at(13) < at(19)
    assert at(3) < at(19)
    assert min(r.value for r in afternoon) > 0
    assert all(r.end - r.start == timedelta(minutes=15) for r in afternoon)
