"""The one table of writable keys (reference §1.7), shared by MQTT ``/set`` and request/reply.

Each entry is declarative — scope, key, parser, validator, apply, read-back — and :data:`SETTERS` is the
dispatch dict generated from that list. :func:`apply_setter` is pure: settings in, settings out, or
:class:`~services.optimizer.parsers.Invalid` with the reason (code 400) or an unknown target (code 404).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.optimizer.parsers import (
    Invalid,
    is_reset,
    optional,
    parse_battery_mode,
    parse_bool,
    parse_float,
    parse_int,
    parse_json_list,
    parse_json_object,
    parse_mode,
    parse_name,
    parse_time,
)
from services.optimizer.settings import (
    EnergyPlan,
    LoadpointSettings,
    PlanStrategySetting,
    RepeatingPlanSetting,
    Settings,
    SiteSettings,
    SocPlan,
    VehicleSettings,
)
from shared import tree
from shared.state import ChargeMode
from shared.tree import Address

Scope = tree.ScopeKind
Target = int | str | None


@dataclass(frozen=True)
class LoadpointFacts:
    """Configuration facts the validators need about one loadpoint's charger."""

    physical_phases: int = 3
    switchable: bool = False
    """The charger can switch between 1 and 3 phases (configured ``phases: 0``)."""


@dataclass(frozen=True)
class SetterContext:
    now: datetime
    battery_configured: bool = False
    loadpoints: Mapping[int, LoadpointFacts] = field(default_factory=dict)
    session_energy_kwh: Mapping[int, float] = field(default_factory=dict)
    """Energy charged in the current session per loadpoint (energy plans count from here)."""


Parse = Callable[[Any], Any]
Validate = Callable[[Settings, SetterContext, Any, Any], None]
Apply = Callable[[Settings, SetterContext, Any, Any], Settings]
ReadBack = Callable[[Settings, Any], Any]


@dataclass(frozen=True)
class Setter:
    scope: Scope
    key: str
    parse: Parse
    validate: Validate
    apply: Apply
    read: ReadBack
    mqtt: bool = True
    """Also listened to on ``<root>/<scope>/.../<key>/set`` (else request/reply only)."""
    creates: bool = False
    """The target need not exist yet (``vehicles/<name>/create``)."""


def _ok(_s: Settings, _c: SetterContext, _t: Any, _v: Any) -> None:
    return None


# --- value read-back (what a reply confirms) ---------------------------------------------------------


def _strategy_json(strategy: PlanStrategySetting) -> dict[str, Any]:
    return {"continuous": strategy.continuous, "precondition": strategy.precondition_s}


def _energy_plan_json(plan: EnergyPlan | None) -> dict[str, Any] | None:
    if plan is None:
        return None
    out: dict[str, Any] = {"time": plan.time.isoformat(), "value": plan.energy_kwh, "energy": plan.energy_kwh}
    return _with_precondition(out, plan.precondition_s)


def _with_precondition(out: dict[str, Any], precondition_s: int | None) -> dict[str, Any]:
    return out if precondition_s is None else {**out, "precondition": precondition_s}


def _soc_plan_json(plan: SocPlan | None) -> dict[str, Any] | None:
    if plan is None:
        return None
    return _with_precondition(
        {"time": plan.time.isoformat(), "value": plan.soc, "soc": plan.soc}, plan.precondition_s
    )


def _repeating_json(plans: tuple[RepeatingPlanSetting, ...]) -> list[dict[str, Any]]:
    return [
        _with_precondition(
            {"weekdays": list(p.weekdays), "time": p.time, "tz": p.tz, "soc": p.soc, "active": p.active},
            p.precondition_s,
        )
        for p in plans
    ]


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


# --- builders ------------------------------------------------------------------------------------------


def site_field(key: str, attr: str, parse: Parse, validate: Validate = _ok) -> Setter:
    def apply(s: Settings, _c: SetterContext, _t: Any, v: Any) -> Settings:
        return s.with_site(s.site.model_copy(update={attr: v}))

    return Setter("site", key, parse, validate, apply, lambda s, _t: _plain(getattr(s.site, attr)))


def lp_field(key: str, attr: str, parse: Parse, validate: Validate = _ok, mqtt: bool = True) -> Setter:
    def apply(s: Settings, _c: SetterContext, t: Any, v: Any) -> Settings:
        return s.with_loadpoint(t, s.loadpoints[t].model_copy(update={attr: v}))

    return Setter(
        "loadpoints", key, parse, validate, apply, lambda s, t: _plain(getattr(s.loadpoints[t], attr)), mqtt
    )


def vehicle_field(key: str, attr: str, parse: Parse, validate: Validate = _ok, mqtt: bool = True) -> Setter:
    def apply(s: Settings, _c: SetterContext, t: Any, v: Any) -> Settings:
        return s.with_vehicle(t, s.vehicles[t].model_copy(update={attr: v}))

    return Setter(
        "vehicles", key, parse, validate, apply, lambda s, t: _plain(getattr(s.vehicles[t], attr)), mqtt
    )


# --- validators ----------------------------------------------------------------------------------------


def _percent(_s: Settings, _c: SetterContext, _t: Any, v: Any) -> None:
    if v is not None and not 0 <= v <= 100:
        raise Invalid(f"{v} is not a percentage (0..100)")


def _non_negative(_s: Settings, _c: SetterContext, _t: Any, v: Any) -> None:
    if v is not None and v < 0:
        raise Invalid(f"{v} must not be negative")


def _needs_battery(_s: Settings, c: SetterContext, _t: Any, _v: Any) -> None:
    if not c.battery_configured:
        raise Invalid("no home battery configured")


def _all(*checks: Validate) -> Validate:
    def validate(s: Settings, c: SetterContext, t: Any, v: Any) -> None:
        for check in checks:
            check(s, c, t, v)

    return validate


def _priority_soc(s: Settings, _c: SetterContext, _t: Any, v: float) -> None:
    if s.site.buffer_soc != 0 and v > s.site.buffer_soc:
        raise Invalid(f"prioritySoc {v} must not exceed bufferSoc {s.site.buffer_soc}")


def _buffer_soc(s: Settings, _c: SetterContext, _t: Any, v: float) -> None:
    if v == 0:
        return
    if v < s.site.priority_soc:
        raise Invalid(f"bufferSoc {v} must not be below prioritySoc {s.site.priority_soc}")
    if s.site.buffer_start_soc != 0 and v > s.site.buffer_start_soc:
        raise Invalid(f"bufferSoc {v} must not exceed bufferStartSoc {s.site.buffer_start_soc}")


def _buffer_start_soc(s: Settings, _c: SetterContext, _t: Any, v: float) -> None:
    if v != 0 and v < s.site.buffer_soc:
        raise Invalid(f"bufferStartSoc {v} must not be below bufferSoc {s.site.buffer_soc}")


def _positive(_s: Settings, _c: SetterContext, _t: Any, v: float) -> None:
    if v <= 0:
        raise Invalid(f"{v} must be greater than 0")


def _min_current(s: Settings, _c: SetterContext, t: Any, v: float) -> None:
    if v > s.loadpoints[t].max_current_a:
        raise Invalid(f"minCurrent {v} A must not exceed maxCurrent {s.loadpoints[t].max_current_a} A")


def _max_current(s: Settings, _c: SetterContext, t: Any, v: float) -> None:
    if v < s.loadpoints[t].min_current_a:
        raise Invalid(f"maxCurrent {v} A must not be below minCurrent {s.loadpoints[t].min_current_a} A")


def _phases(_s: Settings, c: SetterContext, t: Any, v: int) -> None:
    facts = c.loadpoints.get(t, LoadpointFacts())
    if v not in (0, 1, 3):
        raise Invalid(f"invalid phases {v}: expected 0, 1 or 3")
    if v == 0 and not facts.switchable:
        raise Invalid("phases 0 (automatic) needs a charger that can switch phases")
    if v == 0:
        return
    if facts.switchable is False and v != facts.physical_phases:
        raise Invalid(f"charger cannot switch phases; it has {facts.physical_phases}")
    if v > facts.physical_phases:
        raise Invalid(f"charger has only {facts.physical_phases} phase(s)")


def _battery_boost(s: Settings, _c: SetterContext, t: Any, v: bool) -> None:
    if v and s.loadpoints[t].mode not in (ChargeMode.PV, ChargeMode.MINPV):
        raise Invalid("battery boost is only available in pv and minpv modes")


def _vehicle_known(s: Settings, _c: SetterContext, _t: Any, v: str | None) -> None:
    if v is not None and v not in s.vehicles:
        raise Invalid(f"unknown vehicle {v!r}", code=404)


# --- structured values ---------------------------------------------------------------------------------


def parse_strategy(value: Any) -> PlanStrategySetting:
    data = parse_json_object(value)
    unknown = set(data) - {"continuous", "precondition"}
    if unknown:
        raise Invalid(f"unknown plan strategy field(s): {', '.join(sorted(unknown))}")
    precondition = parse_int(data.get("precondition", 0))
    if precondition < 0:
        raise Invalid("precondition must not be negative")
    return PlanStrategySetting(
        continuous=parse_bool(data.get("continuous", False)), precondition_s=precondition
    )


@dataclass(frozen=True)
class Goal:
    """A parsed plan goal ``{"time": RFC3339, "value": n}``; ``None`` time/value means delete."""

    time: datetime | None
    value: float
    precondition_s: int | None = None


def parse_goal(value: Any) -> Goal:
    if is_reset(value):
        return Goal(None, 0.0)
    data = parse_json_object(value)
    unknown = set(data) - {"time", "value", "energy", "soc", "precondition"}
    if unknown:
        raise Invalid(f"unknown plan goal field(s): {', '.join(sorted(unknown))}")
    amount = parse_float(data.get("value", data.get("energy", data.get("soc"))))
    if amount == 0:
        return Goal(None, 0.0)
    if "time" not in data:
        raise Invalid("plan goal needs a time")
    precondition = None if data.get("precondition") is None else parse_int(data["precondition"])
    if precondition is not None and precondition < 0:
        raise Invalid("precondition must not be negative")
    return Goal(parse_time(data["time"]), amount, precondition)


def _goal_future(_s: Settings, c: SetterContext, _t: Any, goal: Goal) -> None:
    if goal.value < 0:
        raise Invalid("plan goal must not be negative")
    if goal.time is not None and goal.time <= c.now:
        raise Invalid("plan time must be in the future")


def _soc_goal(s: Settings, c: SetterContext, t: Any, goal: Goal) -> None:
    _goal_future(s, c, t, goal)
    if goal.time is not None and (goal.value > 100 or not float(goal.value).is_integer()):
        raise Invalid(f"plan SoC {goal.value} must be a whole percentage up to 100")


def _apply_energy_plan(s: Settings, c: SetterContext, t: Any, goal: Goal) -> Settings:
    plan = (
        None
        if goal.time is None
        else EnergyPlan(
            time=goal.time,
            energy_kwh=goal.value,
            offset_kwh=c.session_energy_kwh.get(t, 0.0),
            precondition_s=goal.precondition_s,
        )
    )
    return s.with_loadpoint(t, s.loadpoints[t].model_copy(update={"energy_plan": plan}))


def _apply_soc_plan(s: Settings, _c: SetterContext, t: Any, goal: Goal) -> Settings:
    plan = (
        None
        if goal.time is None
        else SocPlan(time=goal.time, soc=int(goal.value), precondition_s=goal.precondition_s)
    )
    return s.with_vehicle(t, s.vehicles[t].model_copy(update={"plan": plan}))


def parse_repeating(value: Any) -> tuple[RepeatingPlanSetting, ...]:
    plans = []
    for index, item in enumerate(parse_json_list(value), start=1):
        if not isinstance(item, dict):
            raise Invalid(f"repeating plan {index}: expected an object")
        unknown = set(item) - {"weekdays", "time", "tz", "soc", "active", "precondition"}
        if unknown:
            raise Invalid(f"repeating plan {index}: unknown field(s) {', '.join(sorted(unknown))}")
        weekdays = item.get("weekdays", [])
        if not isinstance(weekdays, list):
            raise Invalid(f"repeating plan {index}: weekdays must be a list of 0..6")
        days = tuple(sorted({parse_int(d) for d in weekdays}))
        if any(not 0 <= d <= 6 for d in days):
            raise Invalid(f"repeating plan {index}: weekdays must be 0 (Sunday) .. 6")
        hhmm = item.get("time")
        if not isinstance(hhmm, str) or not _valid_hhmm(hhmm):
            raise Invalid(f"repeating plan {index}: time must be HH:MM")
        tz = item.get("tz") or "UTC"
        try:
            ZoneInfo(str(tz))
        except (ZoneInfoNotFoundError, ValueError):
            raise Invalid(f"repeating plan {index}: unknown time zone {tz!r}") from None
        soc = parse_int(item.get("soc"))
        if not 0 <= soc <= 100:
            raise Invalid(f"repeating plan {index}: soc must be 0..100")
        active = parse_bool(item.get("active", True))
        raw_precondition = item.get("precondition")
        precondition = None if raw_precondition is None else parse_int(raw_precondition)
        if precondition is not None and precondition < 0:
            raise Invalid(f"repeating plan {index}: precondition must not be negative")
        plans.append(
            RepeatingPlanSetting(
                weekdays=days, time=hhmm, tz=str(tz), soc=soc, active=active, precondition_s=precondition
            )
        )
    return tuple(plans)


def _valid_hhmm(text: str) -> bool:
    parts = text.split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return False
    return 0 <= int(parts[0]) <= 23 and 0 <= int(parts[1]) <= 59


# --- vehicles created and deleted at run time (fleet API) ----------------------------------------------

VEHICLE_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")


@dataclass(frozen=True)
class NewVehicle:
    title: str | None
    capacity_kwh: float
    limit_soc: int
    min_soc: int


def parse_new_vehicle(value: Any) -> NewVehicle:
    data = parse_json_object(value)
    unknown = set(data) - {"title", "capacity_kwh", "limit_soc", "min_soc"}
    if unknown:
        raise Invalid(f"unknown vehicle field(s): {', '.join(sorted(unknown))}")
    title = data.get("title")
    if title is not None and not isinstance(title, str):
        raise Invalid("title must be a string")
    capacity = parse_float(data.get("capacity_kwh", 0))
    limit = parse_int(data.get("limit_soc", 0))
    min_soc = parse_int(data.get("min_soc", 0))
    if capacity < 0:
        raise Invalid("capacity_kwh must not be negative")
    if not (0 <= limit <= 100 and 0 <= min_soc <= 100):
        raise Invalid("limit_soc and min_soc must be percentages (0..100)")
    return NewVehicle(title, capacity, limit, min_soc)


def _can_create(s: Settings, _c: SetterContext, t: Any, _v: NewVehicle) -> None:
    if not isinstance(t, str) or not VEHICLE_NAME.match(t):
        raise Invalid(f"invalid vehicle name {t!r}: letters, digits and _ . : - only")
    existing = s.vehicles.get(t)
    if existing is not None and not existing.dynamic:
        raise Invalid(f"vehicle {t!r} comes from the configuration", code=409)


def _apply_create(s: Settings, _c: SetterContext, t: Any, v: NewVehicle) -> Settings:
    # Creating an existing run-time vehicle again updates it, so a retried request is harmless.
    base = s.vehicles.get(t) or VehicleSettings(title=t, capacity_kwh=v.capacity_kwh, dynamic=True)
    vehicle = base.model_copy(
        update={
            "title": v.title or t,
            "capacity_kwh": v.capacity_kwh,
            "limit_soc": v.limit_soc,
            "min_soc": v.min_soc,
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
    vehicles = {name: v for name, v in s.vehicles.items() if name != t}
    loadpoints = {
        i: lp.model_copy(update={"vehicle": None}) if lp.vehicle == t else lp
        for i, lp in s.loadpoints.items()
    }
    return s.model_copy(update={"vehicles": vehicles, "loadpoints": loadpoints})


def _apply_all_loadpoints(attr: str) -> Apply:
    def apply(s: Settings, _c: SetterContext, _t: Any, v: Any) -> Settings:
        loadpoints = {i: lp.model_copy(update={attr: v}) for i, lp in s.loadpoints.items()}
        return s.model_copy(update={"loadpoints": loadpoints})

    return apply


def _read_all_loadpoints(attr: str) -> ReadBack:
    def read(s: Settings, _t: Any) -> Any:
        values = {getattr(lp, attr) for lp in s.loadpoints.values()}
        return values.pop() if len(values) == 1 else None

    return read


def _apply_battery_mode(s: Settings, c: SetterContext, _t: Any, v: Any) -> Settings:
    return s.with_site(
        s.site.model_copy(update={"battery_mode_external": v, "battery_mode_external_at": c.now})
    )


# --- the table -----------------------------------------------------------------------------------------

opt_float = optional(parse_float)

SETTER_LIST: tuple[Setter, ...] = (
    # site
    site_field("residualPower", "residual_power_w", parse_float),
    site_field("prioritySoc", "priority_soc", parse_float, _all(_needs_battery, _percent, _priority_soc)),
    site_field("bufferSoc", "buffer_soc", parse_float, _all(_needs_battery, _percent, _buffer_soc)),
    site_field(
        "bufferStartSoc", "buffer_start_soc", parse_float, _all(_needs_battery, _percent, _buffer_start_soc)
    ),
    site_field("gridExportLimit", "grid_export_limit_w", parse_float, _non_negative),
    site_field("batteryDischargeControl", "battery_discharge_control", parse_bool, _needs_battery),
    site_field("batteryGridDischarge", "battery_grid_discharge", parse_bool, _needs_battery),
    site_field("batteryGridChargeLimit", "battery_grid_charge_limit", opt_float, _needs_battery),
    Setter(
        "site",
        "batteryMode",
        optional(parse_battery_mode),
        _needs_battery,
        _apply_battery_mode,
        lambda s, _t: _plain(s.site.battery_mode_external),
    ),
    Setter(
        "site",
        "smartCostLimit",
        opt_float,
        _ok,
        _apply_all_loadpoints("smart_cost_limit"),
        _read_all_loadpoints("smart_cost_limit"),
    ),
    Setter(
        "site",
        "smartFeedInPriorityLimit",
        opt_float,
        _ok,
        _apply_all_loadpoints("smart_feed_in_priority_limit"),
        _read_all_loadpoints("smart_feed_in_priority_limit"),
    ),
    site_field("solarAdjusted", "solar_adjusted", parse_bool),
    # loadpoints
    lp_field("mode", "mode", parse_mode),
    lp_field("phasesConfigured", "phases_configured", parse_int, _phases),
    lp_field("limitSoc", "limit_soc", parse_int, _percent),
    lp_field("minSoc", "min_soc", parse_int, _percent),
    lp_field("priority", "priority", parse_int, _non_negative),
    lp_field("minCurrent", "min_current_a", parse_float, _all(_positive, _min_current)),
    lp_field("maxCurrent", "max_current_a", parse_float, _all(_positive, _max_current)),
    lp_field("limitEnergy", "limit_energy_kwh", parse_float, _non_negative),
    lp_field("enableThreshold", "enable_threshold_w", parse_float),
    lp_field("disableThreshold", "disable_threshold_w", parse_float),
    lp_field("enableDelay", "enable_delay_s", parse_int, _non_negative),
    lp_field("disableDelay", "disable_delay_s", parse_int, _non_negative),
    lp_field("smartCostLimit", "smart_cost_limit", opt_float),
    lp_field("smartFeedInPriorityLimit", "smart_feed_in_priority_limit", opt_float),
    lp_field("batteryBoost", "battery_boost", parse_bool, _battery_boost),
    lp_field("batteryBoostLimit", "battery_boost_limit", parse_int, _percent),
    Setter(
        "loadpoints",
        "planStrategy",
        parse_strategy,
        _ok,
        lambda s, _c, t, v: s.with_loadpoint(t, s.loadpoints[t].model_copy(update={"plan_strategy": v})),
        lambda s, t: _strategy_json(s.loadpoints[t].plan_strategy),
    ),
    Setter(
        "loadpoints",
        "planEnergy",
        parse_goal,
        _goal_future,
        _apply_energy_plan,
        lambda s, t: _energy_plan_json(s.loadpoints[t].energy_plan),
    ),
    lp_field("vehicle", "vehicle", optional(parse_name), _vehicle_known),
    # vehicles
    vehicle_field("limitSoc", "limit_soc", parse_int, _percent),
    vehicle_field("minSoc", "min_soc", parse_int, _percent),
    vehicle_field("mode", "mode", optional(parse_mode), mqtt=False),
    Setter(
        "vehicles",
        "planStrategy",
        parse_strategy,
        _ok,
        lambda s, _c, t, v: s.with_vehicle(t, s.vehicles[t].model_copy(update={"plan_strategy": v})),
        lambda s, t: _strategy_json(s.vehicles[t].plan_strategy),
    ),
    Setter(
        "vehicles",
        "planSoc",
        parse_goal,
        _soc_goal,
        _apply_soc_plan,
        lambda s, t: _soc_plan_json(s.vehicles[t].plan),
    ),
    Setter(
        "vehicles",
        "repeatingPlans",
        parse_repeating,
        _ok,
        lambda s, _c, t, v: s.with_vehicle(t, s.vehicles[t].model_copy(update={"repeating_plans": v})),
        lambda s, t: _repeating_json(s.vehicles[t].repeating_plans),
        mqtt=False,
    ),
    Setter(
        "vehicles",
        "capacity",
        parse_float,
        _positive,
        lambda s, _c, t, v: s.with_vehicle(
            t, s.vehicles[t].model_copy(update={"capacity_kwh": v, "capacity_from_api": True})
        ),
        lambda s, t: s.vehicles[t].capacity_kwh,
        mqtt=False,
    ),
    Setter(
        "vehicles",
        "create",
        parse_new_vehicle,
        _can_create,
        _apply_create,
        _read_created,
        mqtt=False,
        creates=True,
    ),
    Setter("vehicles", "delete", lambda v: v, _can_delete, _apply_delete, lambda _s, _t: None, mqtt=False),
)

SETTERS: dict[tuple[str, str], Setter] = {(s.scope, s.key): s for s in SETTER_LIST}
"""Dispatch: (scope, key) → setter."""


# --- resolving and applying ----------------------------------------------------------------------------


def parse_address(path: str) -> Address:
    """:func:`shared.tree.parse_address` with an unknown path as :class:`Invalid` (404)."""
    try:
        return tree.parse_address(path)
    except tree.UnknownAddress as error:
        raise Invalid(str(error), code=404) from None


def check_target(settings: Settings, address: Address) -> None:
    if address.scope == "loadpoints" and address.target not in settings.loadpoints:
        raise Invalid(f"unknown loadpoint {address.target}", code=404)
    if address.scope == "vehicles" and address.target not in settings.vehicles:
        raise Invalid(f"unknown vehicle {address.target!r}", code=404)


def find_setter(settings: Settings, path: str, *, mqtt: bool = False) -> tuple[Setter, Address]:
    address = parse_address(path)
    setter = SETTERS.get((address.scope, address.key))
    if setter is None or not setter.creates:
        check_target(settings, address)
    if setter is None or (mqtt and not setter.mqtt):
        raise Invalid(f"unknown key {path!r}", code=404)
    return setter, address


@dataclass(frozen=True)
class Outcome:
    settings: Settings
    value: Any
    """The confirmed value, read back from the new settings."""


def apply_setter(
    settings: Settings, context: SetterContext, path: str, raw: Any, *, mqtt: bool = False
) -> Outcome:
    """Parse, validate and apply ``raw`` to the key at ``path``; raises :class:`Invalid`."""
    setter, address = find_setter(settings, path, mqtt=mqtt)
    value = setter.parse(raw)
    setter.validate(settings, context, address.target, value)
    updated = setter.apply(settings, context, address.target, value)
    return Outcome(updated, setter.read(updated, address.target))


def read_setting(settings: Settings, path: str) -> Any:
    setter, address = find_setter(settings, path)
    return setter.read(settings, address.target)


__all__ = [
    "SETTERS",
    "SETTER_LIST",
    "Address",
    "Invalid",
    "LoadpointFacts",
    "LoadpointSettings",
    "Outcome",
    "SetterContext",
    "SiteSettings",
    "VehicleSettings",
    "apply_setter",
    "find_setter",
    "parse_address",
    "read_setting",
]
