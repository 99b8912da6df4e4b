"""How the optimizer validates and applies the writable keys it owns, for MQTT ``/set`` and request/reply.

The keys, their value types and static ranges are the shared table (:mod:`shared.setters.table`); here each
key gets what only the owner knows: the checks that need settings or the charger's facts (min ≤ max, the
charger's current range and phase switching, a battery being configured), how it changes
:class:`~services.optimizer.settings.Settings` and the confirmed value read back. :func:`apply_setter` is
pure: settings in, settings out, or :class:`~shared.setters.values.Invalid` with the reason (code 400), an
unknown target or key (404) or a conflict (409).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from services.optimizer.facts import LoadpointFacts
from services.optimizer.settings import (
    EnergyPlan,
    PlanStrategySetting,
    RepeatingPlanSetting,
    Settings,
    SocPlan,
    VehicleSettings,
)
from shared.setters import values as v
from shared.setters.table import OPTIMIZER, Writable, find, owned_by, parse_path
from shared.setters.values import Invalid
from shared.state import ChargeMode
from shared.tree import Address, ScopeKind


@dataclass(frozen=True)
class SetterContext:
    now: datetime
    battery_configured: bool = False
    loadpoints: Mapping[int, LoadpointFacts] = field(default_factory=dict)
    session_energy_kwh: Mapping[int, float] = field(default_factory=dict)
    """Energy charged in the current session per loadpoint (energy plans count from here)."""

    def facts(self, lp: int) -> LoadpointFacts:
        return self.loadpoints.get(lp, LoadpointFacts())


Validate = Callable[[Settings, SetterContext, Any, Any], None]
Apply = Callable[[Settings, SetterContext, Any, Any], Settings]
ReadBack = Callable[[Settings, Any], Any]


def _ok(_s: Settings, _c: SetterContext, _t: Any, _v: Any) -> None:
    return None


@dataclass(frozen=True)
class Handler:
    apply: Apply
    read: ReadBack
    validate: Validate = _ok


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


# --- builders ------------------------------------------------------------------------------------------


def site_field(attr: str, validate: Validate = _ok) -> Handler:
    def apply(s: Settings, _c: SetterContext, _t: Any, value: Any) -> Settings:
        return s.with_site(s.site.model_copy(update={attr: value}))

    return Handler(apply, lambda s, _t: _plain(getattr(s.site, attr)), validate)


def lp_field(attr: str, validate: Validate = _ok) -> Handler:
    def apply(s: Settings, _c: SetterContext, t: Any, value: Any) -> Settings:
        return s.with_loadpoint(t, s.loadpoints[t].model_copy(update={attr: value}))

    return Handler(apply, lambda s, t: _plain(getattr(s.loadpoints[t], attr)), validate)


def vehicle_field(attr: str, validate: Validate = _ok) -> Handler:
    def apply(s: Settings, _c: SetterContext, t: Any, value: Any) -> Settings:
        return s.with_vehicle(t, s.vehicles[t].model_copy(update={attr: value}))

    return Handler(apply, lambda s, t: _plain(getattr(s.vehicles[t], attr)), validate)


def _all_loadpoints(attr: str) -> Handler:
    """A site key that sets one field of every loadpoint (evcc's global smart cost limits)."""

    def apply(s: Settings, _c: SetterContext, _t: Any, value: Any) -> Settings:
        loadpoints = {i: lp.model_copy(update={attr: value}) for i, lp in s.loadpoints.items()}
        return s.model_copy(update={"loadpoints": loadpoints})

    def read(s: Settings, _t: Any) -> Any:
        values = {getattr(lp, attr) for lp in s.loadpoints.values()}
        return values.pop() if len(values) == 1 else None

    return Handler(apply, read)


# --- validators that need settings or facts ------------------------------------------------------------


def _needs_battery(_s: Settings, c: SetterContext, _t: Any, _v: Any) -> None:
    if not c.battery_configured:
        raise Invalid("no home battery configured")


def _all(*checks: Validate) -> Validate:
    def validate(s: Settings, c: SetterContext, t: Any, value: Any) -> None:
        for check in checks:
            check(s, c, t, value)

    return validate


def _priority_soc(s: Settings, _c: SetterContext, _t: Any, value: float) -> None:
    if s.site.buffer_soc != 0 and value > s.site.buffer_soc:
        raise Invalid(f"prioritySoc {value} must not exceed bufferSoc {s.site.buffer_soc}")


def _buffer_soc(s: Settings, _c: SetterContext, _t: Any, value: float) -> None:
    if value == 0:
        return
    if value < s.site.priority_soc:
        raise Invalid(f"bufferSoc {value} must not be below prioritySoc {s.site.priority_soc}")
    if s.site.buffer_start_soc != 0 and value > s.site.buffer_start_soc:
        raise Invalid(f"bufferSoc {value} must not exceed bufferStartSoc {s.site.buffer_start_soc}")


def _buffer_start_soc(s: Settings, _c: SetterContext, _t: Any, value: float) -> None:
    if value != 0 and value < s.site.buffer_soc:
        raise Invalid(f"bufferStartSoc {value} must not be below bufferSoc {s.site.buffer_soc}")


def _charger_range(what: str) -> Validate:
    def validate(_s: Settings, c: SetterContext, t: Any, value: float) -> None:
        facts = c.facts(t)
        if not facts.min_current_a <= value <= facts.max_current_a:
            raise Invalid(
                f"{what} {value:g} A is outside the charger's range "
                f"{facts.min_current_a:g}..{facts.max_current_a:g} A"
            )

    return validate


def _min_current(s: Settings, _c: SetterContext, t: Any, value: float) -> None:
    if value > s.loadpoints[t].max_current_a:
        raise Invalid(
            f"minCurrent {value:g} A must not exceed maxCurrent {s.loadpoints[t].max_current_a:g} A"
        )


def _max_current(s: Settings, _c: SetterContext, t: Any, value: float) -> None:
    if value < s.loadpoints[t].min_current_a:
        raise Invalid(
            f"maxCurrent {value:g} A must not be below minCurrent {s.loadpoints[t].min_current_a:g} A"
        )


def _phases(_s: Settings, c: SetterContext, t: Any, value: int) -> None:
    facts = c.facts(t)
    if value == 0 and not facts.switchable:
        raise Invalid("phases 0 (automatic) needs a charger that can switch phases")
    if value == 0:
        return
    if not facts.switchable and value != facts.physical_phases:
        raise Invalid(f"charger cannot switch phases; it has {facts.physical_phases}")
    if value > facts.physical_phases:
        raise Invalid(f"charger has only {facts.physical_phases} phase(s)")


def _battery_boost(s: Settings, _c: SetterContext, t: Any, value: bool) -> None:
    if value and s.loadpoints[t].mode not in (ChargeMode.PV, ChargeMode.MINPV):
        raise Invalid("battery boost is only available in pv and minpv modes")


def _vehicle_known(s: Settings, _c: SetterContext, _t: Any, value: str | None) -> None:
    if value is not None and value not in s.vehicles:
        raise Invalid(f"unknown vehicle {value!r}", code=404)


def _goal_future(_s: Settings, c: SetterContext, _t: Any, goal: v.EnergyGoal | v.SocGoal | None) -> None:
    if goal is not None and goal.time is not None and goal.time <= c.now:
        raise Invalid("plan time must be in the future")


# --- structured values ---------------------------------------------------------------------------------


def _strategy(value: v.PlanStrategy) -> PlanStrategySetting:
    return PlanStrategySetting(continuous=value.continuous, precondition_s=value.precondition)


def _strategy_json(strategy: PlanStrategySetting) -> dict[str, Any]:
    return {"continuous": strategy.continuous, "precondition": strategy.precondition_s}


def _with_precondition(out: dict[str, Any], precondition_s: int | None) -> dict[str, Any]:
    return out if precondition_s is None else {**out, "precondition": precondition_s}


def _energy_plan_json(plan: EnergyPlan | None) -> dict[str, Any] | None:
    if plan is None:
        return None
    out = {"time": plan.time.isoformat(), "value": plan.energy_kwh, "energy": plan.energy_kwh}
    return _with_precondition(out, plan.precondition_s)


def _soc_plan_json(plan: SocPlan | None) -> dict[str, Any] | None:
    if plan is None:
        return None
    return _with_precondition(
        {"time": plan.time.isoformat(), "value": plan.soc, "soc": plan.soc}, plan.precondition_s
    )


def _repeating(plans: tuple[v.RepeatingPlan, ...]) -> tuple[RepeatingPlanSetting, ...]:
    return tuple(
        RepeatingPlanSetting(
            weekdays=p.weekdays,
            time=p.time,
            tz=p.tz,
            soc=p.soc,
            active=p.active,
            precondition_s=p.precondition,
        )
        for p in plans
    )


def _repeating_json(plans: tuple[RepeatingPlanSetting, ...]) -> list[dict[str, Any]]:
    return [
        _with_precondition(
            {"weekdays": list(p.weekdays), "time": p.time, "tz": p.tz, "soc": p.soc, "active": p.active},
            p.precondition_s,
        )
        for p in plans
    ]


def _apply_energy_plan(s: Settings, c: SetterContext, t: Any, goal: v.EnergyGoal | None) -> Settings:
    plan = (
        None
        if goal is None or goal.time is None
        else EnergyPlan(
            time=goal.time,
            energy_kwh=goal.value,
            offset_kwh=c.session_energy_kwh.get(t, 0.0),
            precondition_s=goal.precondition,
        )
    )
    return s.with_loadpoint(t, s.loadpoints[t].model_copy(update={"energy_plan": plan}))


def _apply_soc_plan(s: Settings, _c: SetterContext, t: Any, goal: v.SocGoal | None) -> Settings:
    plan = (
        None
        if goal is None or goal.time is None
        else SocPlan(time=goal.time, soc=goal.value, precondition_s=goal.precondition)
    )
    return s.with_vehicle(t, s.vehicles[t].model_copy(update={"plan": plan}))


def _apply_battery_mode(s: Settings, c: SetterContext, _t: Any, value: Any) -> Settings:
    return s.with_site(
        s.site.model_copy(update={"battery_mode_external": value, "battery_mode_external_at": c.now})
    )


# --- vehicles created and deleted at run time (fleet API) ----------------------------------------------


def _can_create(s: Settings, _c: SetterContext, t: Any, _v: v.NewVehicle) -> None:
    existing = s.vehicles.get(t)
    if existing is not None and not existing.dynamic:
        raise Invalid(f"vehicle {t!r} comes from the configuration", code=409)


def _apply_create(s: Settings, _c: SetterContext, t: Any, new: v.NewVehicle) -> Settings:
    # Creating an existing run-time vehicle again updates it, so a retried request is harmless.
    base = s.vehicles.get(t) or VehicleSettings(title=t, capacity_kwh=new.capacity_kwh, dynamic=True)
    vehicle = base.model_copy(
        update={
            "title": new.title or t,
            "capacity_kwh": new.capacity_kwh,
            "limit_soc": new.limit_soc,
            "min_soc": new.min_soc,
            "dynamic": True,
        }
    )
    return s.with_vehicle(t, vehicle)


def _read_created(s: Settings, t: Any) -> dict[str, Any]:
    vehicle = s.vehicles[t]
    return {
        "name": t,
        "title": vehicle.title,
        "capacity": vehicle.capacity_kwh,
        "limitSoc": vehicle.limit_soc,
        "minSoc": vehicle.min_soc,
    }


def _can_delete(s: Settings, _c: SetterContext, t: Any, _v: Any) -> None:
    if not s.vehicles[t].dynamic:
        raise Invalid(f"vehicle {t!r} comes from the configuration; remove it there", code=409)


def _apply_delete(s: Settings, _c: SetterContext, t: Any, _v: Any) -> Settings:
    vehicles = {name: vehicle for name, vehicle in s.vehicles.items() if name != t}
    loadpoints = {
        i: lp.model_copy(update={"vehicle": None}) if lp.vehicle == t else lp
        for i, lp in s.loadpoints.items()
    }
    return s.model_copy(update={"vehicles": vehicles, "loadpoints": loadpoints})


# --- the optimizer's part of the table -----------------------------------------------------------------

HANDLERS: dict[tuple[ScopeKind, str], Handler] = {
    # site
    ("site", "residualPower"): site_field("residual_power_w"),
    ("site", "prioritySoc"): site_field("priority_soc", _all(_needs_battery, _priority_soc)),
    ("site", "bufferSoc"): site_field("buffer_soc", _all(_needs_battery, _buffer_soc)),
    ("site", "bufferStartSoc"): site_field("buffer_start_soc", _all(_needs_battery, _buffer_start_soc)),
    ("site", "gridExportLimit"): site_field("grid_export_limit_w"),
    ("site", "batteryDischargeControl"): site_field("battery_discharge_control", _needs_battery),
    ("site", "batteryGridDischarge"): site_field("battery_grid_discharge", _needs_battery),
    ("site", "batteryGridChargeLimit"): site_field("battery_grid_charge_limit", _needs_battery),
    ("site", "batteryMode"): Handler(
        _apply_battery_mode, lambda s, _t: _plain(s.site.battery_mode_external), _needs_battery
    ),
    ("site", "smartCostLimit"): _all_loadpoints("smart_cost_limit"),
    ("site", "smartFeedInPriorityLimit"): _all_loadpoints("smart_feed_in_priority_limit"),
    ("site", "solarAdjusted"): site_field("solar_adjusted"),
    ("site", "dimmed"): site_field("dimmed"),
    ("site", "peakShavingLimit"): site_field("peak_shaving_limit_w"),
    # loadpoints
    ("loadpoints", "mode"): lp_field("mode"),
    ("loadpoints", "phasesConfigured"): lp_field("phases_configured", _phases),
    ("loadpoints", "limitSoc"): lp_field("limit_soc"),
    ("loadpoints", "minSoc"): lp_field("min_soc"),
    ("loadpoints", "priority"): lp_field("priority"),
    ("loadpoints", "minCurrent"): lp_field("min_current_a", _all(_charger_range("minCurrent"), _min_current)),
    ("loadpoints", "maxCurrent"): lp_field("max_current_a", _all(_max_current, _charger_range("maxCurrent"))),
    ("loadpoints", "limitEnergy"): lp_field("limit_energy_kwh"),
    ("loadpoints", "enableThreshold"): lp_field("enable_threshold_w"),
    ("loadpoints", "disableThreshold"): lp_field("disable_threshold_w"),
    ("loadpoints", "enableDelay"): lp_field("enable_delay_s"),
    ("loadpoints", "disableDelay"): lp_field("disable_delay_s"),
    ("loadpoints", "smartCostLimit"): lp_field("smart_cost_limit"),
    ("loadpoints", "smartFeedInPriorityLimit"): lp_field("smart_feed_in_priority_limit"),
    ("loadpoints", "batteryBoost"): lp_field("battery_boost", _battery_boost),
    ("loadpoints", "batteryBoostLimit"): lp_field("battery_boost_limit"),
    ("loadpoints", "planStrategy"): Handler(
        lambda s, _c, t, value: s.with_loadpoint(
            t, s.loadpoints[t].model_copy(update={"plan_strategy": _strategy(value)})
        ),
        lambda s, t: _strategy_json(s.loadpoints[t].plan_strategy),
    ),
    ("loadpoints", "planEnergy"): Handler(
        _apply_energy_plan, lambda s, t: _energy_plan_json(s.loadpoints[t].energy_plan), _goal_future
    ),
    ("loadpoints", "vehicle"): lp_field("vehicle", _vehicle_known),
    # vehicles
    ("vehicles", "limitSoc"): vehicle_field("limit_soc"),
    ("vehicles", "minSoc"): vehicle_field("min_soc"),
    ("vehicles", "mode"): vehicle_field("mode"),
    ("vehicles", "planStrategy"): Handler(
        lambda s, _c, t, value: s.with_vehicle(
            t, s.vehicles[t].model_copy(update={"plan_strategy": _strategy(value)})
        ),
        lambda s, t: _strategy_json(s.vehicles[t].plan_strategy),
    ),
    ("vehicles", "planSoc"): Handler(
        _apply_soc_plan, lambda s, t: _soc_plan_json(s.vehicles[t].plan), _goal_future
    ),
    ("vehicles", "repeatingPlans"): Handler(
        lambda s, _c, t, value: s.with_vehicle(
            t, s.vehicles[t].model_copy(update={"repeating_plans": _repeating(value)})
        ),
        lambda s, t: _repeating_json(s.vehicles[t].repeating_plans),
    ),
    ("vehicles", "capacity"): Handler(
        lambda s, _c, t, value: s.with_vehicle(
            t, s.vehicles[t].model_copy(update={"capacity_kwh": value, "capacity_from_api": True})
        ),
        lambda s, t: s.vehicles[t].capacity_kwh,
    ),
    ("vehicles", "create"): Handler(_apply_create, _read_created, _can_create),
    ("vehicles", "delete"): Handler(_apply_delete, lambda _s, _t: None, _can_delete),
}


# --- resolving and applying ----------------------------------------------------------------------------


def check_target(settings: Settings, address: Address) -> None:
    if address.scope == "loadpoints" and address.target not in settings.loadpoints:
        raise Invalid(f"unknown loadpoint {address.target}", code=404)
    if address.scope == "vehicles" and address.target not in settings.vehicles:
        raise Invalid(f"unknown vehicle {address.target!r}", code=404)


def find_setter(settings: Settings, path: str, *, mqtt: bool = False) -> tuple[Writable, Handler, Address]:
    """The table entry, the optimizer's handler and the address of ``path`` (aliases resolved)."""
    address = parse_path(path)
    entry = find(address)
    if entry is None or not entry.creates:
        check_target(settings, address)
    if entry is None or entry.owner != OPTIMIZER or (mqtt and not entry.mqtt):
        raise Invalid(f"unknown key {path!r}", code=404)
    return entry, HANDLERS[(entry.scope, entry.key)], address


@dataclass(frozen=True)
class Outcome:
    settings: Settings
    value: Any
    """The confirmed value, read back from the new settings."""
    key: str
    """The canonical path (an alias resolved to its key)."""


def apply_setter(
    settings: Settings, context: SetterContext, path: str, raw: Any, *, mqtt: bool = False
) -> Outcome:
    """Parse, validate and apply ``raw`` to the key at ``path``; raises :class:`Invalid`."""
    entry, handler, address = find_setter(settings, path, mqtt=mqtt)
    try:
        value = entry.parse(raw)
    except Invalid as error:
        raise Invalid(f"invalid {entry.key}: {error}", error.code) from None
    handler.validate(settings, context, address.target, value)
    updated = handler.apply(settings, context, address.target, value)
    canonical = Address(address.scope, address.target, entry.key)
    return Outcome(updated, handler.read(updated, address.target), canonical.path)


def read_setting(settings: Settings, path: str) -> Any:
    _entry, handler, address = find_setter(settings, path)
    return handler.read(settings, address.target)


def missing_handlers() -> set[tuple[str, str]]:
    """Keys the table gives the optimizer that have no handler here, and handlers of no such key."""
    owned = {(entry.scope, entry.key) for entry in owned_by(OPTIMIZER)}
    return owned ^ set(HANDLERS)
