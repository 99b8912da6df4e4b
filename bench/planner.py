"""Benchmark: planner time for a 7-day horizon of 15-minute prices (target: well under 5 ms per plan).

python -m bench.planner --runs 200
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bench.stats import emit, summary_ms
from services.optimizer.planner import plan
from shared.messages import Rate

SLOT = timedelta(minutes=15)


def rates_7d(start: datetime) -> list[Rate]:
    """672 quarter-hour prices with a daily curve and some noise-like variation."""
    return [
        Rate(
            start=start + i * SLOT,
            end=start + (i + 1) * SLOT,
            value=0.25 + 0.1 * math.sin(i / 96 * 2 * math.pi) + 0.01 * ((i * 37) % 11),
        )
        for i in range(7 * 96)
    ]


def timed(label: str, runs: int, fn: Callable[[], object]) -> None:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    emit(f"planner: {label}", summary_ms(samples))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=200, help="plans per case (the continuous case: a tenth)")
    runs = parser.parse_args().runs
    now = datetime(2026, 11, 22, tzinfo=UTC)
    rates = rates_7d(now)
    target = now + timedelta(days=7)
    hourly = [
        Rate(start=now + i * timedelta(hours=1), end=now + (i + 1) * timedelta(hours=1), value=r.value)
        for i, r in enumerate(rates[: 7 * 24])
    ]
    timed(
        "7 d × 15 min, 4 h required (cheapest slots)",
        runs,
        lambda: plan(rates, timedelta(hours=4), target, now=now),
    )
    timed("7 d × 15 min, 40 h required", runs, lambda: plan(rates, timedelta(hours=40), target, now=now))
    timed(
        "7 d × 15 min, 4 h, precondition 1 h",
        runs,
        lambda: plan(rates, timedelta(hours=4), target, now=now, precondition=timedelta(hours=1)),
    )
    timed(
        "7 d × 60 min (normalised to 15 min), 4 h",
        runs,
        lambda: plan(hourly, timedelta(hours=4), target, now=now),
    )
    timed(
        "7 d × 15 min, 4 h, continuous window",
        max(1, runs // 10),
        lambda: plan(rates, timedelta(hours=4), target, now=now, continuous=True),
    )


if __name__ == "__main__":
    main()
