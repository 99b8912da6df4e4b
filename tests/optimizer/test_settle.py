"""Settled PV control over frozen snapshots: a PV adjustment waits until the previous one shows in the
charger's and the site meters' readings (or the settle time is over); home power is computed only from
readings that belong together; at most one command a second."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.optimizer.commands import Commanded
from services.optimizer.cycle import CycleInputs, CycleMemory, CycleResult, run_cycle
from services.optimizer.settings import default_settings
from services.optimizer.settle import charger_shows, site_settled
from services.optimizer.snapshot import Snapshot
from shared.config import parse_config
from shared.messages import ChargerStatus, ChargeStatus, CommandReason, MeterReading, MeterUsage

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MODBUS = {"host": "127.0.0.1"}
CONFIG = parse_config(
    {
        "site": {"grid": "grid", "pv": ["pv"], "battery": ["bat"]},
        "meters": [
            {"name": "grid", "type": "sdm", "usage": "grid", "modbus": MODBUS},
            {"name": "pv", "type": "sunspec", "usage": "pv", "modbus": MODBUS},
            {"name": "bat", "type": "sunspec", "usage": "battery", "modbus": MODBUS},
        ],
        "chargers": [{"name": "wb", "type": "demo", "modbus": MODBUS}],
        "loadpoints": [{"title": "Garage", "charger": "wb", "mode": "pv"}],
    }
)
W_PER_A = 230 * 3


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def meter(name: str, power_w: float, t: float) -> MeterReading:
    usage = {"grid": MeterUsage.GRID, "pv": MeterUsage.PV, "bat": MeterUsage.BATTERY}[name]
    return MeterReading(meter=name, usage=usage, power_w=power_w, soc_pct=50 if name == "bat" else None,
                        timestamp=at(t))  # fmt: skip


def charger(current_a: float, t: float, *, power_w: float | None = None) -> ChargerStatus:
    return ChargerStatus(
        loadpoint=1, charger="wb", status=ChargeStatus.C, enabled=True, offered_current_a=current_a,
        power_w=current_a * W_PER_A if power_w is None else power_w, timestamp=at(t),
    )  # fmt: skip


def readings(snapshot: Snapshot, t: float, *, grid: float, pv: float, bat: float) -> Snapshot:
    for reading in (meter("grid", grid, t), meter("pv", pv, t), meter("bat", bat, t)):
        snapshot = snapshot.with_meter(reading)
    return snapshot


# --- site_settled ----------------------------------------------------------------------------------------


def two_polls(
    grid: tuple[float, float], bat: tuple[float, float], times: tuple[float, float] = (0, 1)
) -> Snapshot:
    snap = Snapshot()
    for index, t in enumerate(times):
        snap = snap.with_meter(meter("grid", grid[index], t)).with_meter(meter("pv", 5000, t))
        snap = snap.with_meter(meter("bat", bat[index], t + 0.3))
    return snap


SITE_CASES = [
    # id, snapshot, since (s), settled
    ("one reading per meter is not enough", readings(Snapshot(), 0, grid=0, pv=5000, bat=0), None, False),
    ("two steady readings each", two_polls((0, 20), (-1000, -1050)), None, True),
    ("the battery is still reacting", two_polls((2000, 900), (0, 1100)), None, False),
    ("steady, but older than the command's effect", two_polls((0, 0), (0, 0)), 0.5, False),
    ("steady since the command's effect", two_polls((0, 0), (0, 0), times=(2, 3)), 1.5, True),
]


@pytest.mark.parametrize(
    ("snap", "since", "expected"), [c[1:] for c in SITE_CASES], ids=[c[0] for c in SITE_CASES]
)
def test_site_settled(snap: Snapshot, since: float | None, expected: bool) -> None:
    assert site_settled(CONFIG, snap, at(since) if since is not None else None, 100.0) is expected


def test_readings_whose_steady_spans_do_not_overlap_do_not_belong_together() -> None:
    snap = Snapshot()
    for t in (0, 1):
        snap = snap.with_meter(meter("grid", 0, t)).with_meter(meter("pv", 5000, t))
    # the battery was polled twice long before the grid's previous poll
    snap = snap.with_meter(meter("bat", 0, -5)).with_meter(meter("bat", 0, -4))
    assert not site_settled(CONFIG, snap, None, 100.0)


SENT = Commanded(True, 8.0, 0, CommandReason.SOLAR_CHARGING, at(0))
CHARGER_CASES = [
    # id, latest, previous, shows
    ("no readings since the command", charger(6, 1), charger(6, -1), False),
    ("applied, the car still ramping", charger(8, 2, power_w=4800), charger(8, 1, power_w=4200), False),
    ("applied and steady", charger(8, 3), charger(8, 2), True),
    ("an integer charger holds 8 A for 8.05 A", charger(8, 3), charger(8, 2), True),
    ("the charger reports another current", charger(10, 3), charger(10, 2), False),
]


@pytest.mark.parametrize(
    ("latest", "previous", "expected"), [c[1:] for c in CHARGER_CASES], ids=[c[0] for c in CHARGER_CASES]
)
def test_charger_shows(latest: ChargerStatus, previous: ChargerStatus, expected: bool) -> None:
    since = charger_shows(SENT, latest, previous, 100.0)
    assert since == (previous.timestamp if expected else None)


# --- whole cycles ------------------------------------------------------------------------------------------


def cycle(snapshot: Snapshot, memory: CycleMemory, t: float, *, refresh: bool = False) -> CycleResult:
    settings = default_settings(CONFIG)
    inputs = CycleInputs(CONFIG, settings, settings, snapshot, at(t), refresh=refresh)
    return run_cycle(inputs, memory)


def steady_home(t: float, current_a: float, surplus_w: float) -> Snapshot:
    """Two polls of everything, charging at ``current_a`` with ``surplus_w`` left (exported by the grid)."""
    snap = Snapshot()
    for dt in (-1.0, 0.0):
        snap = snap.with_charger(charger(current_a, t + dt))
        snap = readings(snap, t + dt + 0.2, grid=-surplus_w, pv=8000, bat=0)
    return snap


def test_an_adjustment_waits_until_the_previous_one_shows_everywhere() -> None:
    first = cycle(steady_home(0, 6, 2 * W_PER_A), CycleMemory(), 0.5)
    assert first.commands[1].command.current_a == 8
    # 1 s later the meters still show the old flow: the same surplus again must not be added on top
    stale = steady_home(0, 6, 2 * W_PER_A)
    second = cycle(stale, first.memory, 1.5)
    assert 1 not in second.commands and second.decisions[1].case == "pv-settle"
    # the charger shows 8 A, but the grid meter has not been read since
    snap = stale.with_charger(charger(8, 2.0)).with_charger(charger(8, 3.0))
    third = cycle(snap, second.memory, 3.1)
    assert third.decisions[1].case == "pv-settle"
    # now every meter has been read twice since: settled, and the remaining surplus is used
    snap = readings(readings(snap, 3.2, grid=-W_PER_A, pv=8000, bat=0), 4.2, grid=-W_PER_A, pv=8000, bat=0)
    fourth = cycle(snap, third.memory, 14.3)
    assert fourth.commands[1].command.current_a == 9 and fourth.decisions[1].case == "pv-current"


def test_without_readings_the_settle_time_bounds_the_wait() -> None:
    first = cycle(steady_home(0, 6, 2 * W_PER_A), CycleMemory(), 0.5)
    held = cycle(steady_home(0, 6, 4 * W_PER_A), first.memory, 10.0)
    assert held.decisions[1].case == "pv-settle"
    bounded = cycle(steady_home(0, 6, 4 * W_PER_A), held.memory, 16.0)
    # evcc's rule on what the readings say: the offered 8 A plus the 4 A of surplus
    assert bounded.commands[1].command.current_a == 12


def test_home_power_is_held_while_readings_do_not_belong_together() -> None:
    first = cycle(steady_home(0, 6, 0), CycleMemory(), 0.5)
    snap = steady_home(0, 6, 0).with_charger(charger(6, 1.0)).with_charger(charger(6, 2.0))
    snap = readings(readings(snap, 2.2, grid=0, pv=8000, bat=0), 3.2, grid=0, pv=8000, bat=0)
    quiet = cycle(snap, first.memory, 3.3)
    assert quiet.site_state.homePower == 8000 - 6 * W_PER_A
    # a kettle: the grid meter sees it, the battery has started to react in between its two polls
    snap = snap.with_meter(meter("grid", 3000, 4.0)).with_meter(meter("bat", 1500, 4.1))
    held = cycle(snap, quiet.memory, 4.2)
    assert held.site_state.homePower == quiet.site_state.homePower  # no 4500 W spike
    for t in (5.0, 6.0):
        snap = readings(snap, t, grid=0, pv=8000, bat=3000)
    settled = cycle(snap, held.memory, 6.2)
    assert settled.site_state.homePower == 8000 - 6 * W_PER_A + 3000


def test_refreshes_count_against_one_command_a_second() -> None:
    first = cycle(steady_home(0, 6, 2 * W_PER_A), CycleMemory(), 0.5)
    assert 1 in first.commands
    soon = cycle(steady_home(0, 6, 2 * W_PER_A), first.memory, 0.9, refresh=True)
    assert 1 not in soon.commands
    later = cycle(steady_home(0, 6, 2 * W_PER_A), soon.memory, 1.6, refresh=True)
    assert later.commands[1].changed is False and later.commands[1].command.current_a == 8


def test_a_load_long_after_the_last_change_still_waits_for_steady_readings() -> None:
    first = cycle(steady_home(0, 6, 0), CycleMemory(), 0.5)
    snap = steady_home(0, 6, 0).with_charger(charger(6, 1.0)).with_charger(charger(6, 2.0))
    snap = readings(readings(snap, 2.2, grid=0, pv=8000, bat=0), 3.2, grid=0, pv=8000, bat=0)
    quiet = cycle(snap, first.memory, 40.0)
    assert quiet.memory.settled_at == at(40.0)
    # the house's load drops by 3 kW: the grid meter shows it, the battery has not caught up yet
    snap = snap.with_meter(meter("grid", -3000, 40.5))
    waiting = cycle(snap, quiet.memory, 40.6)
    assert waiting.decisions[1].case == "pv-settle"
    snap = snap.with_meter(meter("grid", -3000, 41.0)).with_meter(meter("bat", 0, 41.1))
    snap = snap.with_meter(meter("pv", 8000, 41.0))
    steady = cycle(snap, waiting.memory, 41.2)
    assert steady.commands[1].command.current_a == 10.3  # 6 A + 3 kW / 690 W per A, in 0.1 A steps
