"""Plan goals and activation (reference §4.1, §4.3): static and repeating SoC plans with time zones,
energy plans, the earliest-start choice, the 14-minute rule and keeping an active plan going."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.optimizer.plans import PlanInputs, effective_goal, evaluate, is_active
from services.optimizer.settings import (
    EnergyPlan,
    LoadpointSettings,
    RepeatingPlanSetting,
    SocPlan,
    VehicleSettings,
)
from shared.messages import Rate

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)  # a Sunday
M = timedelta(minutes=1)
EV = VehicleSettings(title="EV", capacity_kwh=60)


def weekly(
    days: tuple[int, ...], hhmm: str, tz: str = "Europe/Berlin", soc: int = 80
) -> RepeatingPlanSetting:
    return RepeatingPlanSetting(weekdays=days, time=hhmm, tz=tz, soc=soc)


@pytest.mark.parametrize(
    ("now", "plan", "expected_local"),
    [
        (NOW, weekly((1,), "07:00"), datetime(2026, 11, 23, 7, 0)),  # Sunday → next Monday
        (NOW, weekly((0,), "18:00"), datetime(2026, 11, 22, 18, 0)),  # later today (Sunday = 0)
        (NOW, weekly((0,), "06:00"), datetime(2026, 11, 29, 6, 0)),  # today's time passed → next week
        # DST: Saturday 28 March 2026, the plan for Sunday 07:00 lands after the switch at CEST
        (datetime(2026, 3, 28, 12, 0, tzinfo=UTC), weekly((0,), "07:00"), datetime(2026, 3, 29, 7, 0)),
        (datetime(2026, 10, 24, 12, 0, tzinfo=UTC), weekly((0,), "07:00"), datetime(2026, 10, 25, 7, 0)),
    ],
    ids=["next-monday", "later-today", "next-week", "spring-forward", "fall-back"],
)
def test_next_occurrence_in_local_time(
    now: datetime, plan: RepeatingPlanSetting, expected_local: datetime
) -> None:
    when = plan.next_occurrence(now)
    assert when is not None
    assert when.astimezone(BERLIN).replace(tzinfo=None) == expected_local


def test_spring_forward_offset_is_summer_time() -> None:
    when = weekly((0,), "07:00").next_occurrence(datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    assert when is not None and when.astimezone(UTC).hour == 5  # 07:00 CEST = 05:00 UTC


def test_other_time_zone() -> None:
    when = weekly((1,), "07:00", tz="America/New_York").next_occurrence(NOW)
    assert when is not None and when.astimezone(UTC) == datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def inputs(
    soc: float | None = 50, energy_wh: float = 0, power: float = 11000, active: bool = False
) -> PlanInputs:
    return PlanInputs(
        connected=True, vehicle_soc_pct=soc, session_energy_wh=energy_wh, max_power_w=power, was_active=active
    )


def test_earliest_required_start_wins_among_soc_plans() -> None:
    vehicle = EV.model_copy(
        update={
            # static: due in 20 h, needs ~40 min; repeating: Monday 07:00 (18 h), needs ~3.7 h → starts first
            "plan": SocPlan(time=NOW + timedelta(hours=20), soc=60),
            "repeating_plans": (weekly((1,), "07:00", soc=100),),
        }
    )
    goal, required = effective_goal(LoadpointSettings(), vehicle, inputs(soc=50), NOW)
    assert goal is not None and goal.id == 2 and goal.soc == 100
    assert required > timedelta(hours=2)


def test_soc_plans_already_reached_are_skipped() -> None:
    vehicle = EV.model_copy(update={"plan": SocPlan(time=NOW + timedelta(hours=10), soc=60)})
    goal, _ = effective_goal(LoadpointSettings(), vehicle, inputs(soc=70), NOW)
    assert goal is None


def test_energy_plan_without_vehicle_soc() -> None:
    lp = LoadpointSettings(energy_plan=EnergyPlan(time=NOW + timedelta(hours=8), energy_kwh=11, offset_kwh=1))
    goal, required = effective_goal(lp, EV, inputs(soc=None, energy_wh=3000), NOW)
    # 11 kWh planned when 1 kWh was charged; 3 kWh charged now → 9 kWh left at 11 kW
    assert goal is not None and goal.energy_kwh == pytest.approx(9)
    assert required == timedelta(seconds=round(9 / 11 * 3600))


def slot(start_min: int, end_min: int) -> Rate:
    return Rate(start=NOW + start_min * M, end=NOW + end_min * M, value=0.1)


ACTIVE_CASES = [
    # id, slots (minutes from NOW), was active, required (min), expected
    ("inside a slot", [(-5, 55)], False, 60, True),
    ("before the first slot", [(30, 90)], False, 60, False),
    ("lone slot ending in 10 min is ignored when not yet active", [(-50, 10)], False, 10, False),
    ("slot ending in 10 min with a following slot counts", [(-50, 10), (10, 25)], False, 25, True),
    ("an active plan keeps a short remaining slot", [(-50, 10)], True, 10, True),
    ("active plan bridges a gap shorter than 14 min", [(-30, -1), (10, 40)], True, 40, True),
    ("active plan pauses for a long gap", [(-30, -1), (60, 90)], True, 40, False),
]


@pytest.mark.parametrize(
    ("slots", "was_active", "required_min", "expected"),
    [c[1:] for c in ACTIVE_CASES],
    ids=[c[0] for c in ACTIVE_CASES],
)
def test_activation(
    slots: list[tuple[int, int]], was_active: bool, required_min: int, expected: bool
) -> None:
    rates = [slot(a, b) for a, b in slots]
    result = is_active(
        rates,
        NOW,
        was_active=was_active,
        target=NOW + timedelta(hours=5),
        required=required_min * M,
        precondition=timedelta(0),
        continuous=False,
    )
    assert result is expected


def test_past_target_keeps_an_active_plan_charging() -> None:
    assert is_active(
        [], NOW, was_active=True, target=NOW - M, required=30 * M, precondition=timedelta(0), continuous=False
    )


def test_evaluate_marks_a_reached_static_plan_finished() -> None:
    vehicle = EV.model_copy(update={"plan": SocPlan(time=NOW + timedelta(hours=5), soc=80)})
    lp = LoadpointSettings(energy_plan=EnergyPlan(time=NOW + timedelta(hours=5), energy_kwh=5, offset_kwh=0))
    done = evaluate(lp, vehicle, inputs(soc=None, energy_wh=5000), None, NOW)
    assert done.finished and not done.active


def test_evaluate_without_tariff_charges_in_the_latest_window() -> None:
    vehicle = EV.model_copy(update={"plan": SocPlan(time=NOW + timedelta(hours=3), soc=80)})
    state = evaluate(LoadpointSettings(), vehicle, inputs(soc=50), None, NOW)
    assert state.goal is not None and state.slots
    assert state.slots[-1].end == NOW + timedelta(hours=3)
    assert not state.active  # ~2.3 h needed, window starts later
    later = evaluate(LoadpointSettings(), vehicle, inputs(soc=50), None, state.slots[0].start + M)
    assert later.active


def test_overrun_when_the_goal_cannot_be_met() -> None:
    vehicle = EV.model_copy(update={"plan": SocPlan(time=NOW + timedelta(hours=1), soc=100)})
    state = evaluate(LoadpointSettings(), vehicle, inputs(soc=10), None, NOW)
    assert state.overrun > timedelta(hours=3)
    assert state.active  # charging from now on


def test_an_active_repeating_plan_is_locked_past_its_time() -> None:
    vehicle = EV.model_copy(update={"repeating_plans": (weekly((1,), "07:00", soc=100),)})
    target = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # Monday 07:00 in Berlin
    start = evaluate(LoadpointSettings(), vehicle, inputs(soc=50), None, target - timedelta(hours=3))
    assert start.active and start.lock is not None and start.goal is not None and start.goal.time == target
    # 1 minute past the target the weekly plan's next occurrence is a week away; the lock keeps charging
    after = target + M
    locked = evaluate(LoadpointSettings(), vehicle, inputs(soc=90, active=True), None, after, start.lock)
    assert locked.active and locked.goal is not None and locked.goal.time == target
    unlocked = evaluate(LoadpointSettings(), vehicle, inputs(soc=90, active=True), None, after)
    assert unlocked.goal is not None and unlocked.goal.time == target + timedelta(days=7)
    assert not unlocked.active
    # changing the vehicle's plans releases the lock
    changed = vehicle.model_copy(update={"repeating_plans": (weekly((2,), "07:00", soc=100),)})
    released = evaluate(LoadpointSettings(), changed, inputs(soc=90, active=True), None, after, start.lock)
    assert released.goal is not None and released.goal.time != target
