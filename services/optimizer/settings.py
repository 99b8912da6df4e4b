"""The optimizer's persisted settings: everything a user can change (modes, limits, plans, thresholds).

Settings are immutable pydantic models; a change produces a new :class:`Settings` (``model_copy``), so the
setter table and the control core stay pure. Defaults come from the YAML configuration; persisted values
(:mod:`services.optimizer.store`) override them at start.
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.config import Config, LoadpointConfig, VehicleConfig
from shared.state import BatteryMode, ChargeMode


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class PlanStrategySetting(Frozen):
    continuous: bool = False
    precondition_s: int = Field(default=0, ge=0)
    """Seconds of late charging right before the target."""


class EnergyPlan(Frozen):
    """A loadpoint's energy plan: ``energy_kwh`` more by ``time``."""

    time: AwareDatetime
    energy_kwh: float = Field(gt=0)
    offset_kwh: float = 0.0
    """Session energy (kWh) already charged when the plan was created; counts are relative to it."""
    precondition_s: int | None = Field(default=None, ge=0)
    """Overrides the strategy's precondition for this plan (REST ``?precondition=``)."""


class SocPlan(Frozen):
    """A vehicle's static SoC plan: reach ``soc`` % by ``time``."""

    time: AwareDatetime
    soc: int = Field(gt=0, le=100)
    precondition_s: int | None = Field(default=None, ge=0)


class RepeatingPlanSetting(Frozen):
    """A weekly plan: weekdays 0 = Sunday … 6, ``time`` HH:MM local in ``tz``."""

    weekdays: tuple[int, ...]
    time: str
    tz: str = "Europe/Berlin"
    soc: int = Field(ge=0, le=100)
    active: bool = True
    precondition_s: int | None = Field(default=None, ge=0)


class SiteSettings(Frozen):
    residual_power_w: float = 0.0
    priority_soc: float = 0.0
    """% — below it the home battery has priority over charging."""
    buffer_soc: float = 0.0
    """% — above it the battery may support PV charging that is already running (0 = off)."""
    buffer_start_soc: float = 0.0
    """% — above it the battery may start PV charging (0 = off)."""
    battery_discharge_control: bool = False
    battery_grid_discharge: bool = False
    battery_grid_charge_limit: float | None = None
    battery_mode_external: BatteryMode | None = None
    battery_mode_external_at: AwareDatetime | None = None
    """When the external battery mode was last set (it lapses after 60 s, evcc's watchdog)."""
    grid_export_limit_w: float = 0.0
    solar_adjusted: bool = False


class LoadpointSettings(Frozen):
    mode: ChargeMode = ChargeMode.OFF
    priority: int = 0
    min_current_a: float = 6.0
    max_current_a: float = 16.0
    enable_threshold_w: float = 0.0
    disable_threshold_w: float = 0.0
    enable_delay_s: int = 60
    disable_delay_s: int = 180
    phases_configured: int = 3
    limit_soc: int = 0
    """% — 0 = none."""
    limit_energy_kwh: float = 0.0
    """kWh — 0 = none."""
    min_soc: int = 0
    smart_cost_limit: float | None = None
    smart_feed_in_priority_limit: float | None = None
    battery_boost: bool = False
    battery_boost_limit: int = 100
    plan_strategy: PlanStrategySetting = PlanStrategySetting()
    energy_plan: EnergyPlan | None = None
    vehicle: str | None = None


class VehicleSettings(Frozen):
    title: str
    capacity_kwh: float
    phases: int | None = None
    mode: ChargeMode | None = None
    min_soc: int = 0
    limit_soc: int = 0
    min_current_a: float | None = None
    max_current_a: float | None = None
    priority: int | None = None
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
    vehicles: dict[str, VehicleSettings] = Field(default_factory=dict)

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
        site=SiteSettings(residual_power_w=config.site.residual_power_w),
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
