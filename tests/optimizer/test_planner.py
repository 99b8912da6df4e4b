"""Planner rules (reference §4.2) as rate tables: cheapest slots, late-first ties, shortened slots,
continuous windows, precondition, simple plan, waiting for prices, DST days, 15/60-minute tariffs."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.optimizer.planner import energy_duration, normalise, plan, soc_duration
from shared.messages import Rate

T0 = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
H = timedelta(hours=1)
M15 = timedelta(minutes=15)
BERLIN = ZoneInfo("Europe/Berlin")


def hourly(*prices: float, start: datetime = T0) -> list[Rate]:
    return [Rate(start=start + i * H, end=start + (i + 1) * H, value=p) for i, p in enumerate(prices)]


MIN = timedelta(minutes=1)


def spans(slots: list[Rate]) -> list[tuple[float, float, float]]:
    """(start min, end min, value) relative to T0, adjacent pieces of one price joined — readable tables."""
    out: list[tuple[float, float, float]] = []
    for slot in slots:
        start, end = (slot.start - T0) / MIN, (slot.end - T0) / MIN
        if out and out[-1][1] == start and out[-1][2] == slot.value:
            out[-1] = (out[-1][0], end, slot.value)
        else:
            out.append((start, end, slot.value))
    return out


CASES = [
    # id, hourly prices from T0, required (min), target (min), precondition (min), continuous, expected spans
    ("cheapest single hour", [5, 1, 3, 4], 60, 240, 0, False, [(60, 120, 1)]),
    ("two cheapest hours, sorted by start", [5, 1, 3, 2], 120, 240, 0, False, [(60, 120, 1), (180, 240, 2)]),
    ("equal prices prefer the latest slot", [2, 2, 2, 2], 60, 240, 0, False, [(180, 240, 2)]),
    ("equal prices: the latest quarters", [2, 2, 2, 2], 30, 240, 0, False, [(210, 240, 2)]),
    ("a lone over-covering slot keeps its start", [5, 1, 3, 4], 10, 240, 0, False, [(105, 115, 1)]),
    ("an earlier over-covering slot keeps its end", [5, 1, 3, 4], 20, 240, 0, False, [(100, 120, 1)]),
    ("later over-covering slot keeps start", [5, 1, 2, 4], 70, 240, 0, False, [(60, 120, 1), (165, 175, 2)]),
    ("continuous: cheapest window", [1, 9, 3, 3, 9, 1], 120, 360, 0, True, [(120, 240, 3)]),
    ("continuous: ties take the later window", [2, 2, 2, 2], 120, 240, 0, True, [(120, 240, 2)]),
    ("precondition right before target", [1, 5, 5, 5], 120, 240, 60, False, [(0, 60, 1), (180, 240, 5)]),
    ("precondition longer than required", [1, 5, 5, 5], 60, 240, 120, False, [(180, 240, 5)]),
    ("not enough time: from now, gap filled", [1, 5, 5, 5], 300, 240, 0, False,
     [(0, 60, 1), (60, 240, 5), (240, 300, 0)]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("prices", "required_min", "target_min", "precondition_min", "continuous", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_plan_rules(
    prices: list[float],
    required_min: int,
    target_min: int,
    precondition_min: int,
    continuous: bool,
    expected: list[tuple[float, float, float]],
) -> None:
    result = plan(
        hourly(*prices),
        required_min * MIN,
        T0 + target_min * MIN,
        now=T0,
        precondition=precondition_min * MIN,
        continuous=continuous,
    )
    assert spans(result) == expected
    assert result == sorted(result, key=lambda r: r.start)


def test_nothing_required_means_no_plan() -> None:
    assert plan(hourly(1, 2), timedelta(0), T0 + 2 * H, now=T0) == []


def test_no_tariff_gives_the_latest_window() -> None:
    assert spans(plan(None, 2 * H, T0 + 5 * H, now=T0)) == [(180, 300, 0)]


def test_no_rates_gives_the_latest_window() -> None:
    assert spans(plan([], H, T0 + 5 * H, now=T0)) == [(240, 300, 0)]


def test_goal_that_fits_after_the_last_price_waits() -> None:
    # prices known for 2 h, target in 10 h, 3 h needed: can all happen after the known prices
    assert plan(hourly(1, 1), 3 * H, T0 + 10 * H, now=T0) == []


def test_goal_partly_after_the_last_price_plans_the_rest_in_known_slots() -> None:
    # prices known for 4 h, target in 5 h, 2 h needed → 1 h after the prices, 1 h in the cheapest known
    result = plan(hourly(3, 1, 2, 4), 2 * H, T0 + 5 * H, now=T0)
    assert spans(result) == [(60, 120, 1)]


def test_past_target_charges_from_now() -> None:
    now = T0 + 2 * H
    result = plan(hourly(1, 1, 5, 5, 5), H, T0 + H, now=now)
    assert spans(result) == [(120, 180, 5)]


def test_slots_before_now_are_cut() -> None:
    now = T0 + timedelta(minutes=30)
    result = plan(hourly(1, 5, 5), 45 * timedelta(minutes=1), T0 + 3 * H, now=now)
    # only the last 30 minutes of the cheap hour remain; the rest goes to the next cheapest (latest) slot
    assert result[0].start == now and result[0].value == 1
    assert sum((r.end - r.start for r in result), timedelta(0)) == timedelta(minutes=45)


def test_normalise_splits_hours_into_quarters() -> None:
    slots = normalise(hourly(1, 2))
    assert len(slots) == 8 and all(s.end - s.start == M15 for s in slots)
    assert [s.value for s in slots] == [1] * 4 + [2] * 4


def test_fifteen_minute_tariff_picks_quarters() -> None:
    prices = [5, 5, 1, 5, 5, 2, 5, 5]
    rates = [Rate(start=T0 + i * M15, end=T0 + (i + 1) * M15, value=p) for i, p in enumerate(prices)]
    result = plan(rates, 30 * timedelta(minutes=1), T0 + 2 * H, now=T0)
    assert [(r.start - T0) // M15 for r in result] == [2, 5]


def berlin_day_rates(day: datetime) -> list[Rate]:
    """Hourly prices for one local day in Berlin (23, 24 or 25 hours), price = local hour."""
    start = day.replace(tzinfo=BERLIN)
    end = (start + timedelta(days=1, hours=2)).replace(hour=0, tzinfo=BERLIN)
    rates = []
    t = start.astimezone(UTC)
    while t < end.astimezone(UTC):
        local = t.astimezone(BERLIN)
        rates.append(Rate(start=t, end=t + H, value=float(local.hour)))
        t += H
    return rates


@pytest.mark.parametrize(
    ("day", "hours"),
    [(datetime(2026, 3, 29), 23), (datetime(2026, 10, 25), 25), (datetime(2026, 6, 1), 24)],
    ids=["spring-forward", "fall-back", "normal"],
)
def test_dst_days_have_the_right_number_of_slots(day: datetime, hours: int) -> None:
    rates = berlin_day_rates(day)
    assert len(rates) == hours
    now = rates[0].start
    target = rates[-1].end
    # all but half an hour needed: every hour of the day is used (the dearest one only half), none doubled
    required = hours * H - 30 * MIN
    result = plan(rates, required, target, now=now)
    assert sum((r.end - r.start for r in result), timedelta(0)) == required
    assert len({r.start for r in result}) == len(result)
    assert {r.start for r in result} >= {r.start for r in rates if r.value < max(x.value for x in rates)}


def test_fall_back_day_uses_the_repeated_cheap_hour() -> None:
    rates = berlin_day_rates(datetime(2026, 10, 25))
    # local hour 2 happens twice (02:00 CEST and 02:00 CET) and is priced 2; hours 0 and 1 are cheaper
    result = plan(rates, 4 * H, rates[-1].end, now=rates[0].start)
    local_hours = sorted({r.start.astimezone(BERLIN).hour for r in result})
    assert local_hours == [0, 1, 2]
    assert sum((r.end - r.start for r in result), timedelta(0)) == 4 * H


def test_seven_day_horizon_finds_the_cheapest_slots() -> None:
    prices = [10.0 + (i % 96) for i in range(7 * 96)]
    prices[500] = 0.5
    prices[100] = 0.7
    rates = [Rate(start=T0 + i * M15, end=T0 + (i + 1) * M15, value=p) for i, p in enumerate(prices)]
    result = plan(rates, 30 * timedelta(minutes=1), T0 + timedelta(days=7), now=T0)
    assert [(r.start - T0) // M15 for r in result] == [100, 500]


def test_soc_duration_uses_efficiency_and_taper() -> None:
    # 11 kW: taper starts at 100 - 10000/980 ≈ 89.8 %; 20 → 80 % of 60 kWh is below the taper
    linear = soc_duration(80, 20, 60, 11000)
    assert linear == timedelta(seconds=round(0.6 * 60000 / 0.85 / 11000 * 3600))
    # above the taper the power drops to (P + 1000) / 2, so the last 10 % take longer than the 10 % before
    slow = soc_duration(100, 90, 60, 11000) - timedelta(0)
    fast = soc_duration(80, 70, 60, 11000)
    assert slow > fast
    assert soc_duration(50, 60, 60, 11000) == timedelta(0)


def test_energy_duration_has_no_efficiency_factor() -> None:
    assert energy_duration(11, 11000) == H
    assert energy_duration(0, 11000) == timedelta(0)


def test_continuous_window_is_the_cheapest_over_a_week() -> None:
    prices = [float((i * 7919) % 97) for i in range(7 * 96)]
    rates = [Rate(start=T0 + i * M15, end=T0 + (i + 1) * M15, value=p) for i, p in enumerate(prices)]
    result = plan(rates, 3 * H, T0 + timedelta(days=7), now=T0, continuous=True)
    assert len(result) == 12 and all(a.end == b.start for a, b in itertools.pairwise(result))
    costs = [sum(prices[i : i + 12]) for i in range(len(prices) - 11)]
    best = min(costs)
    latest_best = max(i for i, c in enumerate(costs) if c == best)
    assert (result[0].start - T0) // M15 == latest_best
