"""Plan goals and plan activation (reference §4.1, §4.3): which plan applies and whether to charge now.

SoC plans live on the vehicle (a static plan, id 1, and weekly repeating plans, id index + 2, in their
own time zones); energy plans live on the loadpoint. SoC planning is used when the vehicle's SoC and
capacity are known, else the energy plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.optimizer.planner import SLOT, energy_duration, plan, soc_duration
from services.optimizer.settings import (
    LoadpointSettings,
    PlanStrategySetting,
    VehicleSettings,
)
from shared.messages import Rate

ACTIVATION_MARGIN = SLOT - timedelta(minutes=1)
"""A not-yet-active plan ignores a lone slot with less than this left (evcc: slot duration − 1 min)."""


@dataclass(frozen=True)
class Goal:
    id: int
    """1 = static (vehicle SoC plan or loadpoint energy plan), ≥ 2 = repeating plan index + 2."""
    time: datetime
    strategy: PlanStrategySetting
    soc: int | None = None
    energy_kwh: float | None = None


def with_precondition(strategy: PlanStrategySetting, precondition_s: int | None) -> PlanStrategySetting:
    """A plan's own precondition replaces the strategy's."""
    if precondition_s is None:
        return strategy
    return strategy.model_copy(update={"precondition_s": precondition_s})


def soc_goals(vehicle: VehicleSettings, now: datetime) -> list[Goal]:
    goals: list[Goal] = []
    if vehicle.plan is not None:
        strategy = with_precondition(vehicle.plan_strategy, vehicle.plan.precondition_s)
        goals.append(Goal(1, vehicle.plan.time, strategy, soc=vehicle.plan.soc))
    for index, repeating in enumerate(vehicle.repeating_plans):
        if not repeating.active:
            continue
        when = repeating.next_occurrence(now)
        if when is not None:
            strategy = with_precondition(vehicle.plan_strategy, repeating.precondition_s)
            goals.append(Goal(index + 2, when, strategy, soc=repeating.soc))
    return goals


@dataclass(frozen=True)
class PlanInputs:
    connected: bool
    vehicle_soc_pct: float | None
    session_energy_wh: float
    max_power_w: float
    was_active: bool = False


def required_duration(goal: Goal, vehicle: VehicleSettings | None, inputs: PlanInputs) -> timedelta:
    if goal.soc is not None:
        if vehicle is None or inputs.vehicle_soc_pct is None:
            return timedelta(0)
        return soc_duration(goal.soc, inputs.vehicle_soc_pct, vehicle.capacity_kwh, inputs.max_power_w)
    return energy_duration(goal.energy_kwh or 0.0, inputs.max_power_w)


def soc_based(vehicle: VehicleSettings | None, inputs: PlanInputs) -> bool:
    return vehicle is not None and vehicle.capacity_kwh > 0 and inputs.vehicle_soc_pct is not None


def effective_goal(
    lp: LoadpointSettings, vehicle: VehicleSettings | None, inputs: PlanInputs, now: datetime
) -> tuple[Goal | None, timedelta]:
    """The plan that applies now and its required charging time."""
    if soc_based(vehicle, inputs) and vehicle is not None:
        best: tuple[Goal | None, timedelta] = (None, timedelta(0))
        best_start: datetime | None = None
        for goal in soc_goals(vehicle, now):
            if goal.soc is None or inputs.vehicle_soc_pct is None or goal.soc <= inputs.vehicle_soc_pct:
                continue
            required = required_duration(goal, vehicle, inputs)
            start = goal.time - required
            if best_start is None or start < best_start:
                best, best_start = (goal, required), start
        return best
    if lp.energy_plan is not None:
        remaining = max(
            0.0, lp.energy_plan.energy_kwh - (inputs.session_energy_wh / 1000 - lp.energy_plan.offset_kwh)
        )
        strategy = with_precondition(lp.plan_strategy, lp.energy_plan.precondition_s)
        goal = Goal(1, lp.energy_plan.time, strategy, energy_kwh=remaining)
        return goal, energy_duration(remaining, inputs.max_power_w)
    return None, timedelta(0)


@dataclass(frozen=True)
class GoalLock:
    """A SoC goal frozen when its plan became active, so that an overrun (or a repeating plan's next
    occurrence moving a week ahead) does not drop a charge that is under way (evcc's plan lock)."""

    goal: Goal
    source: tuple[object, ...]
    """The vehicle's plans it came from; any change to them releases the lock."""


def plan_source(vehicle: VehicleSettings) -> tuple[object, ...]:
    return (vehicle.plan, vehicle.repeating_plans, vehicle.plan_strategy)


@dataclass(frozen=True)
class PlanState:
    goal: Goal | None = None
    required: timedelta = timedelta(0)
    slots: tuple[Rate, ...] = ()
    active: bool = False
    overrun: timedelta = timedelta(0)
    finished: bool = False
    """The goal is reached or its time passed while inactive: a static plan should be deleted."""
    lock: GoalLock | None = None


def is_active(
    slots: Sequence[Rate],
    now: datetime,
    *,
    was_active: bool,
    target: datetime,
    required: timedelta,
    precondition: timedelta,
    continuous: bool,
) -> bool:
    """Whether the plan charges now (reference §4.3)."""
    for index, slot in enumerate(slots):
        if slot.start <= now < slot.end:
            if was_active:
                return True
            following = index + 1 < len(slots) and slots[index + 1].start == slot.end
            return following or slot.end - now >= ACTIVATION_MARGIN
    if not was_active:
        return False
    if now >= target:
        return True
    if timedelta(0) < required < SLOT and required > precondition:
        return True
    upcoming = [s.start for s in slots if s.start > now]
    if upcoming and min(upcoming) - now < ACTIVATION_MARGIN:
        return True
    return continuous and required > precondition


def evaluate(
    lp: LoadpointSettings,
    vehicle: VehicleSettings | None,
    inputs: PlanInputs,
    rates: Sequence[Rate] | None,
    now: datetime,
    lock: GoalLock | None = None,
) -> PlanState:
    """Goal, required time, planned slots and activity of one loadpoint's effective plan."""
    if (
        lock is not None
        and vehicle is not None
        and soc_based(vehicle, inputs)
        and lock.source == plan_source(vehicle)
    ):
        goal: Goal | None = lock.goal
        required = required_duration(lock.goal, vehicle, inputs)
    else:
        lock = None
        goal, required = effective_goal(lp, vehicle, inputs, now)
    if goal is None:
        return PlanState()
    precondition = timedelta(seconds=goal.strategy.precondition_s)
    slots = tuple(
        plan(
            rates,
            required,
            goal.time,
            now=now,
            precondition=precondition,
            continuous=goal.strategy.continuous,
        )
    )
    overrun = max(timedelta(0), required - (goal.time - now))
    if not inputs.connected:
        return PlanState(goal, required, slots, False, overrun)
    if required <= timedelta(0):
        keep = inputs.was_active and goal.soc == 100
        return PlanState(goal, required, slots, keep, overrun, finished=not keep, lock=lock if keep else None)
    if now >= goal.time and not inputs.was_active:
        return PlanState(goal, required, slots, False, overrun, finished=True)
    active = is_active(
        slots,
        now,
        was_active=inputs.was_active,
        target=goal.time,
        required=required,
        precondition=precondition,
        continuous=goal.strategy.continuous,
    )
    if active and lock is None and goal.soc is not None and vehicle is not None:
        lock = GoalLock(goal, plan_source(vehicle))
    return PlanState(goal, required, slots, active, overrun, lock=lock)
