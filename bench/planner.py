"""Benchmark: planner time for a 7-day horizon of 15-minute prices (target: well under 5 ms per plan).

Run: ``PYTHONPATH=. python3 bench/planner.py``
"""

from __future__ import annotations

import math
import statistics
import time
from datetime import UTC, datetime, timedelta

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


def timed(label: str, runs: int, fn: object) -> None:
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    print(
        f"{label:<48} median {statistics.median(samples):6.3f} ms  p95 {samples[int(runs * 0.95)]:6.3f} ms"
        f"  max {samples[-1]:6.3f} ms  ({runs} runs)"
    )


def main() -> None:
    now = datetime(2026, 11, 22, tzinfo=UTC)
    rates = rates_7d(now)
    target = now + timedelta(days=7)
    hourly = [
        Rate(start=now + i * timedelta(hours=1), end=now + (i + 1) * timedelta(hours=1), value=r.value)
        for i, r in enumerate(rates[: 7 * 24])
    ]
    timed(
        "7 d × 15 min, 4 h required (cheapest slots)",
        200,
        lambda: plan(rates, timedelta(hours=4), target, now=now),
    )
    timed("7 d × 15 min, 40 h required", 200, lambda: plan(rates, timedelta(hours=40), target, now=now))
    timed(
        "7 d × 15 min, 4 h, precondition 1 h",
        200,
        lambda: plan(rates, timedelta(hours=4), target, now=now, precondition=timedelta(hours=1)),
    )
    timed(
        "7 d × 60 min (normalised to 15 min), 4 h",
        200,
        lambda: plan(hourly, timedelta(hours=4), target, now=now),
    )
    timed(
        "7 d × 15 min, 4 h, continuous window",
        20,
        lambda: plan(rates, timedelta(hours=4), target, now=now, continuous=True),
    )


if __name__ == "__main__":
    main()
