"""The optimizer's persisted settings: everything a user can change (modes, limits, plans, thresholds).

Settings are immutable pydantic models; a change produces a new :class:`Settings` (``model_copy``), so the
setter table and the control core stay pure. Defaults come from the YAML configuration; persisted values
(:mod:`services.optimizer.store`) override them at start. Every field has the bounds of its writable key
(:mod:`shared.setters.values`), so a stored value the setters would refuse is refused when loading too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from shared.config import Config, LoadpointConfig, VehicleConfig
from shared.setters import values as v
from shared.state import BatteryMode, ChargeMode

Offset = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class PlanStrategySetting(Frozen):
    continuous: bool = False
    precondition_s: v.Precondition = 0
    """Seconds of late charging right before the target."""


class EnergyPlan(Frozen):
    """A loadpoint's energy plan: ``energy_kwh`` more by ``time``."""

    time: AwareDatetime
    energy_kwh: Annotated[v.Energy, Field(gt=0)]
    offset_kwh: Offset = 0.0
    """Session energy (kWh) already charged when the plan was created; counts are relative to it."""
    precondition_s: v.Precondition | None = None
    """Overrides the strategy's precondition for this plan (REST ``?precondition=``)."""


class SocPlan(Frozen):
    """A vehicle's static SoC plan: reach ``soc`` % by ``time``."""

    time: AwareDatetime
    soc: Annotated[v.WholeSoc, Field(gt=0)]
    precondition_s: v.Precondition | None = None


class RepeatingPlanSetting(Frozen):
    """A weekly plan: weekdays 0 = Sunday … 6, ``time`` HH:MM local in ``tz``."""

    weekdays: v.Weekdays
    time: v.HourMinute
    tz: v.TimeZone = "Europe/Berlin"
    soc: v.WholeSoc
    active: bool = True
    precondition_s: v.Precondition | None = None

    def next_occurrence(self, now: datetime) -> datetime | None:
        return v.next_occurrence(self.weekdays, self.time, self.tz, now)


class SiteSettings(Frozen):
    residual_power_w: v.Power = 0.0
    priority_soc: v.Soc = 0.0
    """% — below it the home battery has priority over charging."""
    buffer_soc: v.Soc = 0.0
    """% — above it the battery may support PV charging that is already running (0 = off)."""
    buffer_start_soc: v.Soc = 0.0
    """% — above it the battery may start PV charging (0 = off)."""
    battery_discharge_control: bool = False
    battery_grid_discharge: bool = False
    battery_grid_charge_limit: v.Cost | None = None
    battery_mode_external: BatteryMode | None = None
    battery_mode_external_at: AwareDatetime | None = None
    """When the external battery mode was last set (it lapses after 60 s, evcc's watchdog)."""
    grid_export_limit_w: v.PowerLimit = 0.0
    solar_adjusted: bool = False
    dimmed: bool = False
    """§14a EnWG dimming switched on over MQTT ``/set`` or REST (kept across restarts)."""
    peak_shaving_limit_w: v.PowerLimit = 0.0
    """W average grid import per capacity-tariff window (0 = off); default ``peak_shaving.max_import_w``."""


class LoadpointSettings(Frozen):
    mode: ChargeMode = ChargeMode.OFF
    priority: v.Priority = 0
    min_current_a: v.Current = 6.0
    max_current_a: v.Current = 16.0
    enable_threshold_w: v.Power = 0.0
    disable_threshold_w: v.Power = 0.0
    enable_delay_s: v.Delay = 60
    disable_delay_s: v.Delay = 180
    phases_configured: Literal[0, 1, 3] = 3
    limit_soc: v.WholeSoc = 0
    """% — 0 = none."""
    limit_energy_kwh: v.Energy = 0.0
    """kWh — 0 = none."""
    min_soc: v.WholeSoc = 0
    smart_cost_limit: v.Cost | None = None
    smart_feed_in_priority_limit: v.Cost | None = None
    battery_boost: bool = False
    battery_boost_limit: v.WholeSoc = 100
    plan_strategy: PlanStrategySetting = PlanStrategySetting()
    energy_plan: EnergyPlan | None = None
    vehicle: v.VehicleName | None = None


class VehicleSettings(Frozen):
    title: v.Title
    capacity_kwh: v.Capacity
    phases: Literal[1, 2, 3] | None = None
    mode: ChargeMode | None = None
    min_soc: v.WholeSoc = 0
    limit_soc: v.WholeSoc = 0
    min_current_a: v.Current | None = None
    max_current_a: v.Current | None = None
    priority: v.Priority | None = None
    identifiers: tuple[str, ...] = ()
    plan: SocPlan | None = None
    repeating_plans: tuple[RepeatingPlanSetting, ...] = ()
    plan_strategy: PlanStrategySetting = PlanStrategySetting()
    capacity_from_api: bool = False
    """The capacity was set over the API and wins over the configuration's."""
    dynamic: bool = False
    """Created at run time (fleet API ``vehicles/<name>/create``), not from the configuration."""


class Settings(Frozen):
    site: SiteSettings = SiteSettings()
    loadpoints: dict[int, LoadpointSettings] = Field(default_factory=dict)
    vehicles: dict[v.VehicleName, VehicleSettings] = Field(default_factory=dict)

    def with_loadpoint(self, lp: int, value: LoadpointSettings) -> Settings:
        return self.model_copy(update={"loadpoints": {**self.loadpoints, lp: value}})

    def with_vehicle(self, name: str, value: VehicleSettings) -> Settings:
        return self.model_copy(update={"vehicles": {**self.vehicles, name: value}})

    def with_site(self, value: SiteSettings) -> Settings:
        return self.model_copy(update={"site": value})


def loadpoint_defaults(lp: LoadpointConfig) -> LoadpointSettings:
    return LoadpointSettings(
        mode=lp.mode,
        priority=lp.priority,
        min_current_a=lp.min_current_a,
        max_current_a=lp.max_current_a,
        enable_threshold_w=lp.enable.threshold_w,
        disable_threshold_w=lp.disable.threshold_w,
        enable_delay_s=lp.enable.delay_s,
        disable_delay_s=lp.disable.delay_s,
        phases_configured=lp.phases,
        vehicle=lp.vehicle,
    )


def vehicle_defaults(vehicle: VehicleConfig) -> VehicleSettings:
    return VehicleSettings(
        title=vehicle.title or vehicle.name,
        capacity_kwh=vehicle.capacity_kwh,
        phases=vehicle.phases,
        mode=vehicle.mode,
        min_soc=vehicle.min_soc,
        limit_soc=vehicle.limit_soc,
        min_current_a=vehicle.min_current_a,
        max_current_a=vehicle.max_current_a,
        identifiers=tuple(vehicle.identifiers),
    )


def default_settings(config: Config) -> Settings:
    return Settings(
        site=SiteSettings(
            residual_power_w=config.site.residual_power_w,
            peak_shaving_limit_w=config.peak_shaving.max_import_w,
        ),
        loadpoints={i: loadpoint_defaults(lp) for i, lp in enumerate(config.loadpoints, start=1)},
        vehicles={v.name: vehicle_defaults(v) for v in config.vehicles},
    )


def merge_persisted(defaults: Settings, persisted: Settings) -> Settings:
    """Persisted values win for loadpoints and vehicles that still exist in the configuration."""
    loadpoints = {i: persisted.loadpoints.get(i, lp) for i, lp in defaults.loadpoints.items()}
    vehicles = {}
    for name, vehicle in defaults.vehicles.items():
        stored = persisted.vehicles.get(name)
        # Title, capacity and identifiers are configuration facts, not user settings.
        if stored is None:
            vehicles[name] = vehicle
            continue
        facts: dict[str, object] = {
            "title": vehicle.title,
            "identifiers": vehicle.identifiers,
            "dynamic": False,
        }
        if not stored.capacity_from_api:
            facts["capacity_kwh"] = vehicle.capacity_kwh
        vehicles[name] = stored.model_copy(update=facts)
    for name, stored_vehicle in persisted.vehicles.items():
        if stored_vehicle.dynamic and name not in vehicles:
            vehicles[name] = stored_vehicle
    for i, lp in loadpoints.items():
        if lp.vehicle is not None and lp.vehicle not in vehicles:
            loadpoints[i] = lp.model_copy(update={"vehicle": defaults.loadpoints[i].vehicle})
    return Settings(site=persisted.site, loadpoints=loadpoints, vehicles=vehicles)


# --- loading a stored file -----------------------------------------------------------------------------

_MISSING = object()
_MAX_ROUNDS = 100


def _get(node: Any, part: int | str) -> Any:
    if isinstance(node, dict):
        return node.get(part, _MISSING) if isinstance(part, str) else node.get(str(part), _MISSING)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return _MISSING


def _at(node: Any, path: Sequence[int | str]) -> Any:
    for part in path:
        node = _get(node, part)
        if node is _MISSING:
            break
    return node


def _remove(data: Any, path: Sequence[int | str]) -> None:
    parent = _at(data, path[:-1])
    if isinstance(parent, dict):
        parent.pop(str(path[-1]), None)
    elif isinstance(parent, list) and isinstance(path[-1], int) and 0 <= path[-1] < len(parent):
        del parent[path[-1]]


def _fix(data: dict[str, Any], fallback: dict[str, Any], loc: Sequence[int | str]) -> str:
    """Make ``loc`` valid: the default's value where the defaults have one, else drop it (or its owner)."""
    path = list(loc)
    if path and path[-1] == "[key]":  # a bad dict key (e.g. a vehicle name): drop the entry
        path = path[:-1]
    if not path:
        raise ValueError("the stored settings are not an object of settings")
    default = _at(fallback, path)
    parent = _at(data, path[:-1])
    if default is not _MISSING and isinstance(parent, dict):
        parent[str(path[-1])] = default
        return "replaced by the default"
    if default is not _MISSING and isinstance(parent, list) and isinstance(path[-1], int):
        parent[path[-1]] = default
        return "replaced by the default"
    if _at(data, path) is _MISSING:  # a required field without a default: drop what needs it
        path = path[:-1]
    if not path:
        raise ValueError("the stored settings are not an object of settings")
    _remove(data, path)
    return "dropped"


def _repair_currents(settings: Settings, defaults: Settings) -> tuple[Settings, list[str]]:
    problems = []
    for i, lp in settings.loadpoints.items():
        if lp.min_current_a > lp.max_current_a:
            default = defaults.loadpoints.get(i, LoadpointSettings())
            problems.append(
                f"loadpoints.{i}: min_current_a {lp.min_current_a:g} exceeds max_current_a "
                f"{lp.max_current_a:g} — both replaced by the defaults"
            )
            settings = settings.with_loadpoint(
                i,
                lp.model_copy(
                    update={"min_current_a": default.min_current_a, "max_current_a": default.max_current_a}
                ),
            )
    return settings, problems


def recover_settings(raw: bytes, defaults: Settings) -> tuple[Settings, list[str]]:
    """The stored settings with every value that fails validation replaced by its default (or dropped when
    there is none, e.g. a run-time vehicle's bad plan), and a line per refused value.

    Raises ``ValueError`` when ``raw`` is not a JSON object at all.
    """
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("the stored settings are not a JSON object")
    fallback = defaults.model_dump(mode="json")
    problems: list[str] = []
    for _ in range(_MAX_ROUNDS):
        try:
            settings = Settings.model_validate(data)
        except ValidationError as error:
            for item in error.errors(include_url=False):
                loc = tuple(item.get("loc", ()))
                where = ".".join(str(part) for part in loc)
                what = _fix(data, fallback, loc)
                problems.append(f"{where}: {v.error_message(item)} — {what}")
            continue
        repaired, more = _repair_currents(settings, defaults)
        return repaired, problems + more
    raise ValueError("the stored settings could not be repaired")
