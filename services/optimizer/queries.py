"""Request keys that read or compute without changing settings (for the REST gateway).

``loadpoints/<id>/plan`` answers ``GET /api/loadpoints/{id}/plan``; ``loadpoints/<id>/plan/preview``
answers ``GET /api/loadpoints/{id}/plan/static/preview/{soc|energy}/{value}/{time}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.optimizer.control import effective_max_power
from services.optimizer.cycle import loadpoint_inputs
from services.optimizer.planner import energy_duration, plan, soc_duration
from services.optimizer.plans import PlanInputs, effective_goal
from services.optimizer.setters import check_target
from services.optimizer.settings import Settings
from services.optimizer.snapshot import Snapshot, planner_rates
from shared.config import Config
from shared.messages import Rate
from shared.setters.table import parse_path
from shared.setters.values import Invalid, PlanPreviewValue, validator
from shared.tree import Address

parse_preview = validator(PlanPreviewValue)


@dataclass(frozen=True)
class QueryView:
    config: Config
    settings: Settings
    snapshot: Snapshot
    now: datetime
    session_energy_wh: Mapping[int, float]
    plan_active: Mapping[int, bool]


Query = Callable[[QueryView, str, Any], Any]


def _rates_json(slots: list[Rate]) -> list[dict[str, Any]]:
    return [{"start": r.start.isoformat(), "end": r.end.isoformat(), "value": r.value} for r in slots]


def _lp_context(view: QueryView, address: Address) -> tuple[int, float, Any]:
    check_target(view.settings, address)
    lp_id = int(address.target or 0)
    inputs = loadpoint_inputs(
        view.config, view.settings, view.snapshot, lp_id, view.session_energy_wh.get(lp_id, 0.0)
    )
    return lp_id, effective_max_power(view.settings.loadpoints[lp_id], inputs), inputs


def plan_query(view: QueryView, path: str, _value: Any) -> dict[str, Any]:
    """``{planId, planTime, duration (s), plan: [{start,end,value}], power (W)}`` of the effective plan."""
    address = parse_path(path)
    lp_id, power, inputs = _lp_context(view, address)
    lp = view.settings.loadpoints[lp_id]
    goal, required = effective_goal(
        lp,
        inputs.vehicle,
        PlanInputs(inputs.connected, inputs.vehicle_soc_pct, inputs.session_energy_wh, power),
        view.now,
    )
    if goal is None:
        # no plan: evcc's zero id and zero time are left out (the API's ids start at 1, times are RFC3339)
        return {"duration": 0, "plan": [], "power": power}
    rates, _ = planner_rates(view.snapshot)
    slots = plan(
        rates,
        required,
        goal.time,
        now=view.now,
        precondition=timedelta(seconds=goal.strategy.precondition_s),
        continuous=goal.strategy.continuous,
    )
    return {
        "planId": goal.id,
        "planTime": goal.time.isoformat(),
        "duration": int(required.total_seconds()),
        "plan": _rates_json(slots),
        "power": power,
    }


def preview_query(view: QueryView, path: str, value: Any) -> dict[str, Any]:
    """A plan for a hypothetical goal ``{type: soc|energy, value, time}``; nothing is changed."""
    address = parse_path(path)
    lp_id, power, inputs = _lp_context(view, address)
    preview = parse_preview(value)
    target = preview.time
    if target <= view.now:
        raise Invalid("plan time must be in the future")
    lp = view.settings.loadpoints[lp_id]
    vehicle = inputs.vehicle
    strategy = lp.plan_strategy
    if preview.type == "soc":
        if vehicle is None:
            raise Invalid("a SoC plan needs a vehicle")
        strategy = vehicle.plan_strategy
        required = soc_duration(preview.value, inputs.vehicle_soc_pct or 0.0, vehicle.capacity_kwh, power)
    else:
        required = energy_duration(preview.value, power)
    rates, _ = planner_rates(view.snapshot)
    slots = plan(
        rates,
        required,
        target,
        now=view.now,
        precondition=timedelta(seconds=strategy.precondition_s),
        continuous=strategy.continuous,
    )
    return {
        "planId": 1,
        "planTime": target.isoformat(),
        "duration": int(required.total_seconds()),
        "plan": _rates_json(slots),
        "power": power,
    }


def vehicle_detection_query(view: QueryView, path: str, _value: Any) -> None:
    """``PATCH /vehicle``: vehicles are identified by charger identifier on connect; nothing to start."""
    check_target(view.settings, parse_path(path))
    return None


QUERIES: dict[tuple[str, str], Query] = {
    ("loadpoints", "plan"): plan_query,
    ("loadpoints", "plan/preview"): preview_query,
    ("loadpoints", "vehicleDetection"): vehicle_detection_query,
}


def find_query(path: str) -> Query | None:
    try:
        address = parse_path(path)
    except Invalid:
        return None
    return QUERIES.get((address.scope, address.key))
