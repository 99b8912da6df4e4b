"""Slot normalisation: splitting, interpolation, merging, summing, horizon clipping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.tariff_fetcher.slots import add_series, clip, merge, rate_at, samples_to_slots, split_slots
from shared.messages import Rate

T0 = datetime(2026, 3, 29, 10, 0, tzinfo=UTC)


def hour(index: int, value: float) -> Rate:
    return Rate(start=T0 + timedelta(hours=index), end=T0 + timedelta(hours=index + 1), value=value)


def test_prices_repeat_in_every_quarter_of_a_longer_slot() -> None:
    rates = split_slots([hour(1, 0.3), hour(0, 0.2)])
    assert [r.value for r in rates] == [0.2] * 4 + [0.3] * 4
    assert rates[0].start == T0 and rates[-1].end == T0 + timedelta(hours=2)


def test_power_forecasts_ramp_towards_the_next_slot() -> None:
    rates = split_slots([hour(0, 0), hour(1, 400), hour(3, 100)], interpolate=True)
    assert [r.value for r in rates[:4]] == [0, 100, 200, 300]
    assert [r.value for r in rates[4:8]] == [400] * 4  # the next slot is not adjacent: no ramp
    assert [r.value for r in rates[8:]] == [100] * 4


def test_samples_become_quarter_hours_valued_at_their_middle() -> None:
    rates = samples_to_slots([(T0, 0.0), (T0 + timedelta(hours=1), 1200.0)])
    assert [r.value for r in rates[:4]] == pytest.approx([150, 450, 750, 1050])
    assert rates[-1].start == T0 + timedelta(hours=1)


def test_merge_keeps_old_slots_until_new_data_starts_and_drops_the_past() -> None:
    old = split_slots([hour(i, 0.1 * i) for i in range(-2, 6)])
    new = split_slots([hour(i, 1.0) for i in range(-1, 8) if i >= 3])
    merged = merge(old, new, keep_from=T0 + timedelta(minutes=30))
    assert merged[0].start == T0 + timedelta(minutes=30)
    kept, fresh = (
        rate_at(merged, T0 + timedelta(hours=2, minutes=5)),
        rate_at(merged, T0 + timedelta(hours=4)),
    )
    assert kept is not None and kept.value == pytest.approx(0.2)
    assert fresh is not None and fresh.value == 1.0
    assert merged[-1].end == T0 + timedelta(hours=8)


def test_new_data_that_ends_in_the_past_keeps_the_old_series() -> None:
    old = split_slots([hour(i, 0.2) for i in range(0, 4)])
    merged = merge(old, [hour(-3, 9.9)], keep_from=T0 + timedelta(hours=1))
    assert merged == [r for r in old if r.end > T0 + timedelta(hours=1)]


def test_planes_are_summed_slot_by_slot_and_open_ended_rates_are_clipped() -> None:
    total = add_series([[hour(0, 100), hour(1, 200)], [hour(1, 50), hour(2, 10)]])
    assert [r.value for r in total] == [100, 250, 10]
    year = Rate(start=T0, end=T0 + timedelta(days=365), value=0.3)
    (clipped,) = clip([year, hour(24 * 8, 0.1)], T0 + timedelta(days=7))
    assert clipped.end == T0 + timedelta(days=7)
