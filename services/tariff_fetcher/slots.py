"""Normalising rate series: 15-minute slots, sorting, merging new data with still-valid old slots.

All functions are pure; times are timezone-aware and results are in UTC.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from shared.messages import Rate

SLOT = timedelta(minutes=15)


def floor_slot(ts: datetime) -> datetime:
    """Start of the 15-minute slot holding ``ts`` (UTC; quarter hours are the same in every zone we serve)."""
    utc = ts.astimezone(UTC)
    return utc.replace(minute=utc.minute - utc.minute % 15, second=0, microsecond=0)


def clean(rates: Iterable[Rate]) -> list[Rate]:
    """Sorted by start, in UTC, empty slots dropped; of two slots with the same start the later one wins."""
    by_start: dict[datetime, Rate] = {}
    for rate in rates:
        start, end = rate.start.astimezone(UTC), rate.end.astimezone(UTC)
        if end > start:
            by_start[start] = Rate(start=start, end=end, value=rate.value)
    return [by_start[k] for k in sorted(by_start)]


def split_slots(rates: Sequence[Rate], *, interpolate: bool = False) -> list[Rate]:
    """Split slots longer than 15 minutes into 15-minute slots.

    Prices keep their value in every part. Power forecasts (``interpolate``, solar W) are samples at each
    slot's start: the parts ramp linearly towards the next slot's value where the next slot follows directly.
    """
    ordered = clean(rates)
    out: list[Rate] = []
    for index, rate in enumerate(ordered):
        span = rate.end - rate.start
        if span <= SLOT:
            out.append(rate)
            continue
        following = ordered[index + 1] if index + 1 < len(ordered) else None
        ramp_to = (
            following.value if interpolate and following is not None and following.start == rate.end else None
        )
        start = rate.start
        while start < rate.end:
            end = min(start + SLOT, rate.end)
            value = rate.value
            if ramp_to is not None:
                value = rate.value + (ramp_to - rate.value) * ((start - rate.start) / span)
            out.append(Rate(start=start, end=end, value=value))
            start = end
    return out


def merge(old: Sequence[Rate], new: Sequence[Rate], *, keep_from: datetime) -> list[Rate]:
    """Slots ending after ``keep_from``: the new data, plus old slots starting before the new data begins
    (so a fetch that returns only tomorrow keeps the rest of today)."""
    fresh = [r for r in clean(new) if r.end > keep_from]
    if not fresh:
        return [r for r in clean(old) if r.end > keep_from]
    first = fresh[0].start
    kept = [r for r in clean(old) if r.end > keep_from and r.start < first]
    return clean([*kept, *fresh])


def rate_at(rates: Sequence[Rate], ts: datetime) -> Rate | None:
    """The slot with ``start <= ts < end`` in a sorted series, or ``None``."""
    starts = [r.start for r in rates]
    index = bisect.bisect_right(starts, ts) - 1
    if index >= 0 and rates[index].start <= ts < rates[index].end:
        return rates[index]
    return None


def from_time(rates: Sequence[Rate], since: datetime) -> list[Rate]:
    """The slots that end after ``since``."""
    return [r for r in rates if r.end > since]


def add_series(series: Sequence[Sequence[Rate]]) -> list[Rate]:
    """Sum several forecasts slot by slot (several PV planes); a slot missing in one series counts as 0."""
    totals: dict[tuple[datetime, datetime], float] = {}
    for rates in series:
        for rate in clean(rates):
            key = (rate.start, rate.end)
            totals[key] = totals.get(key, 0.0) + rate.value
    return clean(Rate(start=s, end=e, value=v) for (s, e), v in totals.items())


def samples_to_slots(samples: Sequence[tuple[datetime, float]]) -> list[Rate]:
    """15-minute slots from point samples of power (solar W): each slot holds the value linearly
    interpolated at its middle, from the slot holding the first sample to the slot holding the last."""
    points = sorted((t.astimezone(UTC), v) for t, v in samples)
    if not points:
        return []
    times = [t for t, _ in points]
    out: list[Rate] = []
    slot = floor_slot(times[0])
    while slot <= times[-1]:
        middle = slot + SLOT / 2
        index = bisect.bisect_right(times, middle)
        if index == 0:
            value = points[0][1]
        elif index == len(points):
            value = points[-1][1]
        else:
            (t0, v0), (t1, v1) = points[index - 1], points[index]
            value = v0 + (v1 - v0) * ((middle - t0) / (t1 - t0))
        out.append(Rate(start=slot, end=slot + SLOT, value=value))
        slot += SLOT
    return out


def clip(rates: Sequence[Rate], until: datetime) -> list[Rate]:
    """Drop slots starting at or after ``until`` and shorten the one running past it (open-ended rates)."""
    out = []
    for rate in rates:
        if rate.start >= until:
            continue
        out.append(rate if rate.end <= until else Rate(start=rate.start, end=until, value=rate.value))
    return out
