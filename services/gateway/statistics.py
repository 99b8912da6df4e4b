"""Charging statistics from the sessions table (evcc site key ``statistics``), published by the gateway —
the owner of the sessions — at ``<root>/site/statistics/{30d,365d,thisYear,total}/...``.

Per period: ``chargedKWh`` (Σ kWh of sessions finished in it) and the kWh-weighted averages
``solarPercentage`` (%), ``avgPrice`` (currency/kWh) and ``avgCo2`` (g/kWh) over the sessions that have the
value. Recomputed at start, whenever sessions change and every 15 minutes (as evcc does).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from shared.db import ChargingSession, from_db_time
from shared.state import SiteState, Statistics, StatisticsPeriod
from shared.tree import SITE

REFRESH = timedelta(minutes=15)


@dataclass(frozen=True)
class Figures:
    """What the statistics need of one finished session."""

    finished: datetime
    charged_kwh: float
    solar_pct: float | None
    price_per_kwh: float | None
    co2_per_kwh: float | None


def _weighted(rows: Sequence[Figures], value: Callable[[Figures], float | None]) -> float:
    weights = [(r.charged_kwh, v) for r in rows if (v := value(r)) is not None]
    total = sum(w for w, _ in weights)
    return sum(w * v for w, v in weights) / total if total > 0 else 0.0


def period(rows: Sequence[Figures]) -> StatisticsPeriod:
    return StatisticsPeriod(
        chargedKWh=sum(r.charged_kwh for r in rows),
        solarPercentage=_weighted(rows, lambda r: r.solar_pct),
        avgPrice=_weighted(rows, lambda r: r.price_per_kwh),
        avgCo2=_weighted(rows, lambda r: r.co2_per_kwh),
    )


def compute_statistics(rows: Sequence[Figures], now: datetime, zone: tzinfo) -> Statistics:
    """The four evcc periods; ``thisYear`` starts at local New Year."""
    year_start = datetime(now.astimezone(zone).year, 1, 1, tzinfo=zone)

    def since(start: datetime) -> StatisticsPeriod:
        return period([r for r in rows if r.finished >= start])

    return Statistics.model_validate(
        {
            "30d": since(now - timedelta(days=30)),
            "365d": since(now - timedelta(days=365)),
            "thisYear": since(year_start),
            "total": period(rows),
        }
    )


def load_figures(engine: Engine) -> list[Figures]:
    """Finished sessions with energy (evcc: ``finished >= ? AND charged_kwh > 0``)."""
    with Session(engine) as session:
        rows = session.exec(
            select(ChargingSession).where(
                col(ChargingSession.finished).is_not(None), ChargingSession.charged_kwh > 0
            )
        ).all()
    out = []
    for row in rows:
        finished = from_db_time(row.finished)
        if finished is not None:
            out.append(
                Figures(finished, row.charged_kwh, row.solar_percentage, row.price_per_kwh, row.co2_per_kwh)
            )
    return out


async def publish_statistics(
    bus: Any, engine: Engine, zone: tzinfo, changed: asyncio.Event, stop: asyncio.Event, log: Any
) -> None:
    """Publish now, then whenever ``changed`` is set or 15 minutes pass, until ``stop``."""
    while not stop.is_set():
        changed.clear()
        try:
            rows = await asyncio.to_thread(load_figures, engine)
            stats = compute_statistics(rows, datetime.now(UTC), zone)
            await bus.publish_state(SITE, SiteState(statistics=stats))
        except Exception as error:  # a database hiccup must not end the loop
            log.warning("statistics not updated", error=str(error))
        waiters = [asyncio.create_task(changed.wait()), asyncio.create_task(stop.wait())]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait(waiters, timeout=REFRESH.total_seconds(), return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
