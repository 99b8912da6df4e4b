"""The charging planner (DESIGN §4, reference §4.1–4.2): one pure function over rates and a goal.

:func:`plan` picks the cheapest 15-minute slots that cover the required charging time before the target,
preferring later slots on equal price; :func:`soc_duration` and :func:`energy_duration` give the required
time for SoC and energy goals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from shared.messages import Rate

SLOT = timedelta(minutes=15)
"""All tariffs are planned on 15-minute slots."""
CHARGE_EFFICIENCY = 0.85
MIN_CHARGE_POWER_W = 1000.0
TAPER_W_PER_PCT = 980.0
ZERO = timedelta(0)


def _rate(start: datetime, end: datetime, value: float) -> Rate:
    # model_construct: the inputs are already validated rates; the planner must stay fast (bench/planner.py).
    return Rate.model_construct(start=start, end=end, value=value)


def normalise(rates: Sequence[Rate]) -> list[Rate]:
    """Sorted rates, every slot longer than 15 minutes split into 15-minute slots (a shorter tail stays)."""
    out: list[Rate] = []
    for rate in sorted(rates, key=lambda r: r.start):
        if rate.end - rate.start <= SLOT:
            out.append(rate)
            continue
        start = rate.start
        while start < rate.end:
            end = min(start + SLOT, rate.end)
            out.append(_rate(start, end, rate.value))
            start = end
    return out


def clamp(rates: Sequence[Rate], start: datetime, end: datetime) -> list[Rate]:
    """The parts of ``rates`` inside ``[start, end)``; boundary slots are cut."""
    out: list[Rate] = []
    for rate in rates:
        if rate.end <= start or rate.start >= end:
            continue
        if rate.start >= start and rate.end <= end:
            out.append(rate)
        else:
            out.append(_rate(max(rate.start, start), min(rate.end, end), rate.value))
    return out


def total(rates: Sequence[Rate]) -> timedelta:
    return sum((r.end - r.start for r in rates), ZERO)


def continuous_plan(rates: Sequence[Rate], start: datetime, end: datetime) -> list[Rate]:
    """Every moment of ``[start, end)``: the known rates clamped to it, gaps filled with value-0 slots."""
    out: list[Rate] = []
    cursor = start
    for rate in clamp(rates, start, end):
        if rate.start > cursor:
            out.append(_rate(cursor, rate.start, 0.0))
        out.append(rate)
        cursor = max(cursor, rate.end)
    if cursor < end:
        out.append(_rate(cursor, end, 0.0))
    return out


def sort_by_cost(rates: Sequence[Rate]) -> list[Rate]:
    """Cheapest first; on equal price the later slot first (charge late)."""
    return sorted(rates, key=lambda r: (r.value, -r.start.timestamp()))


def optimal_plan(by_cost: Sequence[Rate], required: timedelta) -> list[Rate]:
    """Take slots in cost order until ``required`` is covered; the last slot is shortened.

    The over-covering slot keeps its end (starts later) when it lies before every slot already chosen, so
    charging stays adjacent to the later slots; otherwise it keeps its start (ends earlier).
    """
    chosen: list[Rate] = []
    remaining = required
    for rate in by_cost:
        if remaining <= ZERO:
            break
        duration = rate.end - rate.start
        if duration <= ZERO:
            continue
        if duration > remaining:
            if chosen and rate.start < min(r.start for r in chosen):
                rate = _rate(rate.end - remaining, rate.end, rate.value)
            else:
                rate = _rate(rate.start, rate.start + remaining, rate.value)
            duration = remaining
        chosen.append(rate)
        remaining -= duration
    return chosen


def find_continuous_window(rates: Sequence[Rate], required: timedelta, target: datetime) -> list[Rate]:
    """The cheapest window of length ``required`` starting at a slot start and ending by ``target``
    (ties → the later window). Gaps inside a window are not filled (as evcc).

    Costs come from prefix sums with a two-pointer sweep, so a 7-day horizon stays linear.
    """
    prefix = [0.0]
    for rate in rates:
        prefix.append(prefix[-1] + rate.value * (rate.end - rate.start).total_seconds())
    best_index: int | None = None
    best_cost = math.inf
    j = 0
    for i, rate in enumerate(rates):
        end = rate.start + required
        if end > target:
            break
        j = max(j, i)
        while j < len(rates) and rates[j].end <= end:
            j += 1
        cost = prefix[j] - prefix[i]
        if j < len(rates) and rates[j].start < end:
            cost += rates[j].value * (end - rates[j].start).total_seconds()
        # Tolerance: equal-price windows must tie despite float rounding in the prefix sums.
        if cost <= best_cost + 1e-9 * max(1.0, abs(best_cost)):
            best_cost, best_index = cost, i
    if best_index is None:
        return []
    start = rates[best_index].start
    return clamp(rates[best_index:], start, start + required)


def _split_at(rates: Sequence[Rate], at: datetime) -> tuple[list[Rate], list[Rate]]:
    before: list[Rate] = []
    after: list[Rate] = []
    for rate in rates:
        if rate.end <= at:
            before.append(rate)
        elif rate.start >= at:
            after.append(rate)
        else:
            before.append(_rate(rate.start, at, rate.value))
            after.append(_rate(at, rate.end, rate.value))
    return before, after


def plan(
    rates: Sequence[Rate] | None,
    required: timedelta,
    target: datetime,
    *,
    now: datetime,
    precondition: timedelta = ZERO,
    continuous: bool = False,
) -> list[Rate]:
    """The slots to charge in, sorted by start; empty when nothing is required or charging can wait.

    ``rates`` ``None`` means no (dynamic) tariff: the plan is then simply the latest possible window.
    """
    if required <= ZERO:
        return []
    now = now.replace(microsecond=0)
    latest_start = target - required
    if latest_start < now:
        latest_start = now
        target = now + required
    simple = [_rate(latest_start, target, 0.0)]
    if rates is None:
        return simple
    slots = normalise(rates)
    if not slots:
        return simple
    if target - now <= required:
        return continuous_plan(slots, latest_start, target)
    last = slots[-1].end
    if target > last:
        after = target - last
        if after >= required:
            return []  # the goal is met charging after the last known price: wait for more prices
        target = last
        required -= after
        precondition = max(precondition - after, ZERO)
    window = clamp(slots, now, target)
    if not window or total(window) < required:
        return simple
    precondition = min(precondition, required)
    target -= precondition
    precond: list[Rate] = []
    if precondition > ZERO:
        window, precond = _split_at(window, target)
        required -= precondition
        if required <= ZERO:
            return precond
    if continuous:
        chosen = find_continuous_window(window, required, target)
    else:
        chosen = sorted(optimal_plan(sort_by_cost(window), required), key=lambda r: r.start)
    return chosen + precond


# --- required duration (§4.1) ---------------------------------------------------------------------------


def soc_duration(goal_pct: float, soc_pct: float, capacity_kwh: float, max_power_w: float) -> timedelta:
    """Charging time from ``soc_pct`` to ``goal_pct`` at ``max_power_w``, with 85 % efficiency and the
    slower taper phase near full (evcc's estimator)."""
    if goal_pct <= soc_pct or max_power_w <= 0 or capacity_kwh <= 0:
        return ZERO
    virtual_wh = capacity_kwh * 1000 / CHARGE_EFFICIENCY
    taper = max(50.0, 100 - (max_power_w - MIN_CHARGE_POWER_W) / TAPER_W_PER_PCT)
    hours = 0.0
    if soc_pct < taper:
        hours += (min(goal_pct, taper) - soc_pct) / 100 * virtual_wh / max_power_w
    if goal_pct > taper:
        hours += (
            (goal_pct - max(soc_pct, taper)) / 100 * virtual_wh / ((max_power_w + MIN_CHARGE_POWER_W) / 2)
        )
    return timedelta(seconds=round(hours * 3600))


def energy_duration(remaining_kwh: float, max_power_w: float) -> timedelta:
    """Charging time for ``remaining_kwh`` at ``max_power_w`` (no efficiency factor, as evcc)."""
    if remaining_kwh <= 0 or max_power_w <= 0:
        return ZERO
    return timedelta(seconds=round(remaining_kwh * 1000 / max_power_w * 3600))
