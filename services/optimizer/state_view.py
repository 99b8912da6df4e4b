"""Build the evcc state models the optimizer owns (partial SiteState/LoadpointState/VehicleState).

Only keys owned by the optimizer are ever set here (DESIGN §1, the owners in :mod:`shared.state`); meter,
charger and tariff keys belong to the meter-reader, actuator and tariff-fetcher — the charger's phase
capabilities (``chargerPhases1p3p``, ``chargerSinglePhase``) included: only the actuator knows the driver.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.optimizer.control import (
    Decision,
    LoadpointInputs,
    effective_limit_soc,
    effective_max_current,
    effective_min_current,
    effective_min_soc,
    effective_priority,
    min_soc_not_reached,
)
from services.optimizer.planner import soc_duration
from services.optimizer.plans import PlanState
from services.optimizer.settings import LoadpointSettings, PlanStrategySetting, SiteSettings, VehicleSettings
from shared import __version__
from shared.config import Config
from shared.messages import VehicleReading
from shared.state import (
    BatteryMode,
    LoadpointState,
    PlanStrategy,
    RepeatingPlan,
    SiteState,
    VehiclePlan,
    VehicleState,
)


def site_static_state(config: Config, *, startup_completed: bool, now: datetime) -> SiteState:
    return SiteState(
        siteTitle=config.site.title,
        currency=config.tariffs.currency,
        version=__version__,
        interval=round(config.optimizer.interval_s),
        startupCompleted=startup_completed,
        setupRequired=False,
        telemetry=False,
        experimental=False,
        system=f"{platform.system().lower()}/{_ARCHITECTURES.get(platform.machine(), platform.machine())}",
        timezone=zone_label(config.site.timezone, now),
    )


_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}
"""Python's machine names → Go's GOARCH (evcc's ``system`` is ``GOOS/GOARCH``)."""


def zone_label(zone: str, now: datetime) -> str:
    """evcc's ``timezone``: the abbreviation and UTC offset at ``now`` (``CEST +02:00``)."""
    try:
        local = now.astimezone(ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        local = now.astimezone(UTC)
    offset = local.strftime("%z")
    return f"{local.tzname()} {offset[:3]}:{offset[3:]}"


def site_settings_state(site: SiteSettings, battery_configured: bool) -> dict[str, Any]:
    values: dict[str, Any] = {
        "residualPower": site.residual_power_w,
        "gridExportLimit": site.grid_export_limit_w,
        "solarAdjusted": site.solar_adjusted,
    }
    if battery_configured:
        values.update(
            prioritySoc=site.priority_soc,
            bufferSoc=site.buffer_soc,
            bufferStartSoc=site.buffer_start_soc,
            batteryDischargeControl=site.battery_discharge_control,
            batteryGridDischarge=site.battery_grid_discharge,
            batteryGridChargeLimit=site.battery_grid_charge_limit,
            batteryModeExternal=site.battery_mode_external or BatteryMode.UNKNOWN,
        )
    return values


@dataclass(frozen=True)
class LoadpointView:
    """What one loadpoint's published state is built from (one cycle's facts about it)."""

    id: int
    title: str
    settings: LoadpointSettings
    inputs: LoadpointInputs
    decision: Decision
    plan: PlanState
    smart_cost_active: bool = False
    smart_cost_next_start: datetime | None = None
    smart_feed_in_active: bool = False
    smart_feed_in_next_start: datetime | None = None
    vehicle_identity: str | None = None
    dimmed: bool = False
    limited_by: str = ""
    vehicle_reading: VehicleReading | None = None
    """The assigned vehicle's own source (range, odometer), if it has one."""


def loadpoint_state(view: LoadpointView) -> LoadpointState:
    lp_id, lp, inputs, decision, plan = view.id, view.settings, view.inputs, view.decision, view.plan
    timers, vehicle, title = decision.timers, inputs.vehicle, view.title
    goal = plan.goal
    slots = list(plan.slots)
    return LoadpointState(
        name=f"lp-{lp_id}",
        title=title,
        mode=lp.mode,
        priority=lp.priority,
        minCurrent=lp.min_current_a,
        maxCurrent=lp.max_current_a,
        enableThreshold=lp.enable_threshold_w,
        disableThreshold=lp.disable_threshold_w,
        enableDelay=lp.enable_delay_s,
        disableDelay=lp.disable_delay_s,
        phasesConfigured=lp.phases_configured,
        phasesEnabled=lp.phases_configured,
        limitSoc=lp.limit_soc,
        limitEnergy=lp.limit_energy_kwh,
        minSoc=lp.min_soc,
        minSocNotReached=min_soc_not_reached(lp, inputs),
        effectiveMinSoc=effective_min_soc(lp, vehicle),
        effectiveLimitSoc=effective_limit_soc(lp, vehicle),
        effectiveMinCurrent=effective_min_current(lp, vehicle),
        effectiveMaxCurrent=effective_max_current(lp, vehicle),
        effectivePriority=effective_priority(lp, vehicle),
        pvAction=timers.pv_action,
        pvRemaining=decision.pv_remaining_s,
        phaseAction=timers.phase_action,
        phaseRemaining=decision.phase_remaining_s,
        planTime=lp.energy_plan.time if lp.energy_plan else None,
        planEnergy=lp.energy_plan.energy_kwh if lp.energy_plan else 0.0,
        planStrategy=_strategy(lp.plan_strategy),
        planActive=plan.active,
        plan=slots or None,
        planProjectedStart=slots[0].start if slots else None,
        planProjectedEnd=slots[-1].end if slots else None,
        planOverrun=int(plan.overrun.total_seconds()),
        effectivePlanId=goal.id if goal else 0,
        effectivePlanTime=goal.time if goal else None,
        effectivePlanSoc=goal.soc if goal and goal.soc is not None else 0,
        effectivePlanStrategy=_strategy(goal.strategy if goal else effective_strategy(lp, vehicle)),
        smartCostLimit=lp.smart_cost_limit,
        smartCostActive=view.smart_cost_active,
        smartCostNextStart=view.smart_cost_next_start,
        smartFeedInPriorityLimit=lp.smart_feed_in_priority_limit,
        smartFeedInPriorityActive=view.smart_feed_in_active,
        smartFeedInPriorityNextStart=view.smart_feed_in_next_start,
        batteryBoost=lp.battery_boost,
        batteryBoostLimit=lp.battery_boost_limit,
        vehicleName=lp.vehicle or "",
        vehicleTitle=vehicle.title if vehicle else "",
        vehicleIdentity=view.vehicle_identity,
        dimmed=view.dimmed,
        limitedBy=view.limited_by,
        # evcc publishes 0 for what no vehicle source reports (its "unpublishVehicle")
        vehicleSoc=inputs.vehicle_soc_pct if inputs.vehicle_soc_pct is not None else 0.0,
        vehicleRange=_known_range(view.vehicle_reading),
        vehicleOdometer=(view.vehicle_reading.odometer_km or 0.0) if view.vehicle_reading else 0.0,
        vehicleLimitSoc=vehicle.limit_soc if vehicle else 0,
        vehicleDetectionActive=False,
        vehicleClimaterActive=None,
        vehicleWelcomeActive=False,
        vehiclePresent=vehicle is not None,
        chargeRemainingEnergy=remaining_energy_wh(lp, inputs),
        chargeRemainingDuration=remaining_duration_s(lp, inputs),
    )


def _known_range(reading: VehicleReading | None) -> int:
    """km as evcc publishes it (whole km; 0 without a source that reports one)."""
    return round(reading.range_km) if reading is not None and reading.range_km is not None else 0


def remaining_energy_wh(lp: LoadpointSettings, inputs: LoadpointInputs) -> float:
    """Wh still to charge: up to the effective SoC limit when the SoC is known, else up to limitEnergy."""
    vehicle = inputs.vehicle
    if vehicle is not None and inputs.vehicle_soc_pct is not None:
        limit = effective_limit_soc(lp, vehicle)
        return max(0.0, (limit - inputs.vehicle_soc_pct) / 100 * vehicle.capacity_kwh * 1000)
    if lp.limit_energy_kwh > 0:
        return max(0.0, lp.limit_energy_kwh * 1000 - inputs.session_energy_wh)
    return 0.0


def remaining_duration_s(lp: LoadpointSettings, inputs: LoadpointInputs) -> int:
    """s until the limit at the present charge power (0 when not charging)."""
    if not inputs.charging or inputs.charge_power_w <= 0:
        return 0
    vehicle = inputs.vehicle
    if vehicle is not None and inputs.vehicle_soc_pct is not None:
        limit = effective_limit_soc(lp, vehicle)
        duration = soc_duration(limit, inputs.vehicle_soc_pct, vehicle.capacity_kwh, inputs.charge_power_w)
        return int(duration.total_seconds())
    return int(remaining_energy_wh(lp, inputs) / inputs.charge_power_w * 3600)


def vehicle_state(vehicle: VehicleSettings) -> VehicleState:
    """evcc's vehicle struct: its ``omitempty`` keys are empty (left out of ``/api/state``) when zero."""
    plan = vehicle.plan
    return VehicleState(
        title=vehicle.title,
        capacity=vehicle.capacity_kwh or None,
        phases=vehicle.phases or None,
        mode=vehicle.mode,
        minSoc=vehicle.min_soc or None,
        limitSoc=vehicle.limit_soc or None,
        minCurrent=vehicle.min_current_a or None,
        maxCurrent=vehicle.max_current_a or None,
        priority=vehicle.priority or None,
        # An absent plan clears plan/soc and plan/time rather than leaving them retained.
        plan=VehiclePlan(soc=plan.soc, time=plan.time) if plan else VehiclePlan(soc=None, time=None),
        repeatingPlans=[
            RepeatingPlan(weekdays=list(p.weekdays), time=p.time, tz=p.tz, soc=p.soc, active=p.active)
            for p in vehicle.repeating_plans
        ],
        planStrategy=_strategy(vehicle.plan_strategy),
    )


def _strategy(strategy: PlanStrategySetting) -> PlanStrategy:
    return PlanStrategy(continuous=strategy.continuous, precondition=strategy.precondition_s)


def effective_strategy(lp: LoadpointSettings, vehicle: VehicleSettings | None) -> PlanStrategySetting:
    """The strategy the planner uses: the vehicle's for SoC plans, else the loadpoint's (evcc)."""
    return vehicle.plan_strategy if vehicle is not None else lp.plan_strategy
