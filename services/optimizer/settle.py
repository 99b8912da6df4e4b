"""Whether the readings show the commands in force — the condition for judging the next PV adjustment. Pure.

A current change takes a while to show everywhere: the actuator writes it, the car ramps its current over a
second or two, the charger and the grid meter are polled at their own rates, and a home battery running its
own zero-export control follows a few seconds later. Readings taken in between mix the old flow with the
new; adding the same surplus again on each of them overshoots and hunts. So a PV adjustment is judged only
on readings that belong together (:func:`site_settled`) and that were taken after the previous change had
shown (:func:`charger_shows`) — or once a bounded settle time has passed.

Readings are compared by their own timestamps (the services share a clock: one host, or NTP).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from services.optimizer.commands import Commanded
from services.optimizer.control import MIN_STEP_A, floor_to_step
from services.optimizer.snapshot import Snapshot, site_meter_names, usable
from shared.config import Config
from shared.messages import ChargerStatus, MeterReading

CURRENT_TOLERANCE_A = 0.23
"""A charger's current within this of the commanded one counts as applied (evcc's syncCharger)."""


def current_step(status: ChargerStatus | None) -> float:
    """A — the charger's current resolution, at least :data:`MIN_STEP_A`."""
    step = status.current_step_a if status is not None else None
    return max(step or 0.0, MIN_STEP_A)


def steady(latest: float, previous: float, tolerance_w: float) -> bool:
    return abs(latest - previous) <= tolerance_w


def charger_shows(
    commanded: Commanded, status: ChargerStatus | None, previous: ChargerStatus | None, tolerance_w: float
) -> datetime | None:
    """Since when the charger's readings show the command applied and the car's power steady (its ramp
    over): the earlier of two agreeing readings, both taken after the command; None while they do not."""
    if status is None or previous is None:
        return None
    if previous.timestamp < commanded.at or status.enabled != commanded.enabled:
        return None
    if commanded.enabled:
        expected = floor_to_step(commanded.current_a, current_step(status))
        if abs(status.offered_current_a - expected) > max(CURRENT_TOLERANCE_A, current_step(status) / 2):
            return None
    return previous.timestamp if steady(status.power_w, previous.power_w, tolerance_w) else None


def _pairs(snapshot: Snapshot, names: Iterable[str]) -> list[tuple[MeterReading, MeterReading]] | None:
    pairs: list[tuple[MeterReading, MeterReading]] = []
    for name in names:
        latest, previous = snapshot.meters.get(name), snapshot.previous_meters.get(name)
        if not usable(latest) or not usable(previous) or latest is None or previous is None:
            return None
        pairs.append((latest, previous))
    return pairs


def site_settled(config: Config, snapshot: Snapshot, since: datetime | None, tolerance_w: float) -> bool:
    """The site meters' readings belong together and show everything that happened before ``since``.

    Every meter the site power is computed from has two steady readings, both taken at or after ``since``,
    and each meter's latest reading is newer than every meter's previous one — their steady spans overlap, so
    the values describe one moment however the meters' polls interleave.
    """
    names: Sequence[str] = site_meter_names(config, snapshot)
    pairs = _pairs(snapshot, names)
    if pairs is None:
        return False
    if not pairs:
        return True
    for latest, previous in pairs:
        if not steady(latest.power_w or 0.0, previous.power_w or 0.0, tolerance_w):
            return False
        if since is not None and previous.timestamp < since:
            return False
    return min(latest.timestamp for latest, _ in pairs) >= max(previous.timestamp for _, previous in pairs)
