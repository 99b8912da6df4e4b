"""Peak shaving for a capacity tariff (pure): the grid import averaged over each window stays under a limit.

Windows start on whole multiples of their length (quarter hours by default, as capacity tariffs bill them).
The import of the running window is integrated from the grid meter's readings. The import the loadpoints may
add now is what keeps the window's average at the limit: the limit itself while the window is on track, less
when an earlier load (a kettle) has used more than its share — never more, so a quiet start is not spent on a
peak at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PeakWindow:
    start: datetime
    import_wh: float = 0.0
    """Energy imported since ``start``."""
    last_at: datetime | None = None
    """Time of the last grid reading integrated."""
    last_import_w: float = 0.0


def window_start(now: datetime, window_s: int) -> datetime:
    # Whole seconds: a float remainder would move the start by microseconds from one reading to the next.
    periods = int((now - EPOCH).total_seconds()) // window_s
    return EPOCH + timedelta(seconds=periods * window_s)


def advance(window: PeakWindow | None, grid_w: float | None, at: datetime, window_s: int) -> PeakWindow:
    """Integrate the import up to the grid reading taken ``at`` (the previous reading's power held)."""
    start = window_start(at, window_s)
    if window is None or window.start != start:
        carried = 0.0
        if window is not None and window.last_at is not None and window.last_at < start:
            carried = window.last_import_w * (at - start).total_seconds() / 3600
        window = PeakWindow(start, carried)
    elif window.last_at is not None and at > window.last_at:
        hours = (at - max(window.last_at, start)).total_seconds() / 3600
        window = PeakWindow(start, window.import_wh + window.last_import_w * hours)
    if grid_w is None:
        return PeakWindow(window.start, window.import_wh, window.last_at, window.last_import_w)
    return PeakWindow(window.start, window.import_wh, at, max(0.0, grid_w))


def allowed_import_w(window: PeakWindow, limit_w: float, window_s: int, now: datetime) -> float:
    """W of grid import allowed now so that the window's average stays at or below ``limit_w``."""
    elapsed = max(0.0, (now - window.start).total_seconds())
    remaining = max(1.0, window_s - elapsed)
    budget_wh = limit_w * window_s / 3600 - window.import_wh
    return max(0.0, min(limit_w, budget_wh * 3600 / remaining))


def average_w(window: PeakWindow, now: datetime) -> float:
    """W average import of the window so far."""
    elapsed = (now - window.start).total_seconds()
    return window.import_wh * 3600 / elapsed if elapsed > 0 else 0.0
