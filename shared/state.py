"""The typed evcc state schema (site, loadpoint, vehicle) — the one source of the MQTT tree and
``/api/state``.

Field names are evcc's keys (camelCase on purpose: they *are* the wire names). A nested model's field may
carry a ``serialization_alias`` where evcc's JSON tag differs from its MQTT segment (``excessDCPower`` on
MQTT, ``excessdcpower`` in JSON). Encoding rules live in :mod:`shared.encoding`; every service publishes
a partial model (only the fields it owns and has set) through them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from shared.messages import Rate


class Phases:
    """Marker: a top-level 3-element list published as ``/l1..l3`` plus the sum at the bare topic."""


class JsonString:
    """Marker: published on MQTT as one JSON string (evcc's ``MarshalBytes`` values, e.g. ``plan``)."""


PHASES = Phases()
JSON_STRING = JsonString()


def f(description: str) -> Any:
    """An optional state field with its unit/meaning for the generated topic reference."""
    return Field(default=None, description=description)


class StateModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ChargeMode(StrEnum):
    OFF = "off"
    NOW = "now"
    MINPV = "minpv"
    PV = "pv"


class PvAction(StrEnum):
    INACTIVE = "inactive"
    ENABLE = "enable"
    DISABLE = "disable"


class PhaseAction(StrEnum):
    INACTIVE = "inactive"
    SCALE1P = "scale1p"
    SCALE3P = "scale3p"


class BatteryMode(StrEnum):
    UNKNOWN = "unknown"
    NORMAL = "normal"
    HOLD = "hold"
    CHARGE = "charge"
    HOLDCHARGE = "holdcharge"


# --- site ----------------------------------------------------------------------------------------------


class Measurement(StateModel):
    """One meter as evcc publishes it under ``pv/<n>``, ``aux/<n>``."""

    name: str | None = f("meter config name")
    title: str | None = f("display title")
    power: float | None = f("W")
    energy: float | None = f("kWh")
    returnEnergy: float | None = f("kWh")
    excessDCPower: float | None = Field(default=None, description="W", serialization_alias="excessdcpower")
    error: str | None = f("last error of this meter, empty when healthy (chargebus extension)")


class GridState(StateModel):
    name: str | None = f("meter config name")
    power: float | None = f("W, > 0 import")
    energy: float | None = f("kWh imported")
    returnEnergy: float | None = f("kWh exported")
    powers: list[float] | None = f("W per phase, signed")
    currents: list[float] | None = f("A per phase, signed by the phase power")
    error: str | None = f("last error of the grid meter (chargebus extension)")


class BatteryDevice(StateModel):
    name: str | None = f("meter config name")
    title: str | None = f("display title")
    power: float | None = f("W, > 0 discharging")
    soc: float | None = f("%")
    capacity: float | None = f("kWh")
    energy: float | None = f("kWh")
    controllable: bool | None = f("battery mode can be set")
    error: str | None = f("last error (chargebus extension)")


class BatteryState(StateModel):
    power: float | None = f("W, > 0 discharging")
    soc: float | None = f("% (capacity-weighted)")
    capacity: float | None = f("kWh")
    energy: float | None = f("kWh")
    devices: list[BatteryDevice] | None = f("per battery")


class StatisticsPeriod(StateModel):
    avgCo2: float | None = f("g/kWh")
    avgPrice: float | None = f("currency/kWh")
    chargedKWh: float | None = f("kWh")
    solarPercentage: float | None = f("%")


class Statistics(StateModel):
    d30: StatisticsPeriod | None = Field(default=None, alias="30d", description="last 30 days")
    d365: StatisticsPeriod | None = Field(default=None, alias="365d", description="last 365 days")
    thisYear: StatisticsPeriod | None = f("this calendar year")
    total: StatisticsPeriod | None = f("all time")


class SolarDay(StateModel):
    yield_: float | None = Field(
        default=None,
        validation_alias="yield",
        serialization_alias="energy",
        description="Wh forecast for the day",
    )
    complete: bool | None = f("the forecast covers the whole day")


class SolarForecast(StateModel):
    today: SolarDay | None = f("today")
    tomorrow: SolarDay | None = f("tomorrow")
    dayAfterTomorrow: SolarDay | None = f("the day after tomorrow")
    timeseries: Annotated[list[list[float]] | None, JSON_STRING] = f("[[unix s, W], …] (JSON string on MQTT)")


class Forecast(StateModel):
    """``forecast/<usage>``: compact ``[start unix s, end unix s, value]`` slots from now on."""

    grid: list[list[float]] | None = f("grid price slots, currency/kWh")
    co2: list[list[float]] | None = f("co2 slots, g/kWh")
    feedIn: list[list[float]] | None = Field(
        default=None, serialization_alias="feedin", description="currency/kWh"
    )
    planner: list[list[float]] | None = f("planner tariff slots")
    solar: SolarForecast | None = f("PV forecast")


class SiteState(StateModel):
    """``<root>/site/<key>`` and the top level of ``/api/state``."""

    siteTitle: str | None = f("site title")
    version: str | None = f("chargebus version")
    interval: int | None = f("s, control tick")
    startupCompleted: bool | None = f("all services have published once")
    currency: str | None = f("ISO 4217 code")
    gridConfigured: bool | None = f("a grid meter is configured")
    grid: GridState | None = f("grid meter")
    pvPower: float | None = f("W, Σ max(0, pv)")
    pvEnergy: float | None = f("kWh")
    pv: list[Measurement] | None = f("one entry per PV meter")
    battery: BatteryState | None = f("home battery")
    aux: list[Measurement] | None = f("auxiliary meters")
    auxPower: float | None = f("W")
    homePower: float | None = f("W, max(0, grid + pv + battery − charge)")
    residualPower: float | None = f("W, target grid power")
    gridExportLimit: float | None = f("W, 0 = none")
    prioritySoc: float | None = f("%, battery has priority below")
    bufferSoc: float | None = f("%, battery may support PV charging above")
    bufferStartSoc: float | None = f("%, battery may start PV charging above")
    batteryMode: BatteryMode | None = f("mode applied by chargebus")
    batteryModeExternal: BatteryMode | None = f("mode set from outside (60 s watchdog)")
    batteryDischargeControl: bool | None = f("hold the battery while fast charging")
    batteryGridChargeLimit: float | None = f("currency/kWh or g/kWh; empty = off")
    batteryGridChargeActive: bool | None = f("battery charging from grid now")
    batteryGridDischarge: bool | None = f("battery may discharge to grid")
    greenShareHome: float | None = f("0..1")
    greenShareLoadpoints: float | None = f("0..1")
    tariffGrid: float | None = f("currency/kWh now")
    tariffFeedIn: float | None = f("currency/kWh now")
    tariffCo2: float | None = f("g/kWh now")
    tariffSolar: float | None = f("W forecast now")
    tariffPriceHome: float | None = f("currency/kWh, effective")
    tariffPriceLoadpoints: float | None = f("currency/kWh, effective")
    tariffCo2Home: float | None = f("g/kWh, effective")
    tariffCo2Loadpoints: float | None = f("g/kWh, effective")
    smartCostAvailable: bool | None = f("planner tariff is dynamic")
    smartCostType: str | None = f("co2 / pricedynamic / priceforecast / pricestatic")
    smartFeedInPriorityAvailable: bool | None = f("feed-in tariff is dynamic")
    forecast: Forecast | None = f("tariff and solar forecasts (tariff-fetcher)")
    statistics: Statistics | None = f("charging statistics from the sessions")
    fatal: str | None = f("fatal error, empty when healthy")


# --- loadpoint ------------------------------------------------------------------------------------------


class PlanStrategy(StateModel):
    continuous: bool | None = f("one continuous window")
    precondition: int | None = f("s of late charging before the target")


class LoadpointState(StateModel):
    """``<root>/loadpoints/<id>/<key>`` (1-based) and ``loadpoints[id-1]`` in ``/api/state``."""

    # identity / configuration
    name: str | None = f("config name, lp-<id>")
    title: str | None = f("display title")
    mode: ChargeMode | None = f("off / now / minpv / pv")
    priority: int | None = f("higher wins surplus")
    minCurrent: float | None = f("A")
    maxCurrent: float | None = f("A")
    enableThreshold: float | None = f("W, relative to residual power; < 0 = required export")
    disableThreshold: float | None = f("W, tolerated import at min current")
    enableDelay: int | None = f("s")
    disableDelay: int | None = f("s")
    phasesConfigured: int | None = f("0 auto, 1, 3")
    chargerPhases1p3p: bool | None = f("charger can switch phases")
    chargerSinglePhase: bool | None = f("charger is single-phase")
    # charger status
    connected: bool | None = f("vehicle connected (B or C)")
    charging: bool | None = f("vehicle charging (C)")
    enabled: bool | None = f("charger enabled")
    offeredCurrent: float | None = f("A, 0 when disabled")
    chargePower: float | None = f("W")
    chargeCurrents: Annotated[list[float] | None, PHASES] = f("A per phase")
    chargeVoltages: Annotated[list[float] | None, PHASES] = f("V per phase (bare topic = sum)")
    phasesActive: int | None = f("1..3")
    chargeTotalImport: float | None = f("kWh, charge meter reading")
    chargerStatus: str | None = f("A / B / C (chargebus extension)")
    chargerError: str | None = f("charger error or failsafe reason, empty when healthy (chargebus)")
    chargerPowerEstimated: bool | None = f("power is offered current × phases × V (chargebus)")
    # session
    chargedEnergy: float | None = f("Wh (deprecated alias of sessionEnergy)")
    sessionEnergy: float | None = f("Wh")
    sessionSolarPercentage: float | None = f("%")
    sessionPrice: float | None = f("currency")
    sessionPricePerKWh: float | None = f("currency/kWh")
    sessionCo2PerKWh: float | None = f("g/kWh")
    chargeDuration: int | None = f("s")
    connectedDuration: int | None = f("s")
    chargeRemainingDuration: int | None = f("s")
    chargeRemainingEnergy: float | None = f("Wh")
    # limits
    limitSoc: int | None = f("%, 0 = none")
    limitEnergy: float | None = f("kWh, 0 = none")
    minSoc: int | None = f("%")
    minSocNotReached: bool | None = f("below min SoC → fast charging")
    effectiveMinSoc: int | None = f("%")
    effectiveLimitSoc: int | None = f("% (100 if none)")
    effectiveMinCurrent: float | None = f("A")
    effectiveMaxCurrent: float | None = f("A")
    effectivePriority: int | None = f("")
    # pv timers
    pvAction: PvAction | None = f("inactive / enable / disable")
    pvRemaining: int | None = f("s until the PV timer fires")
    phaseAction: PhaseAction | None = f("inactive / scale1p / scale3p")
    phaseRemaining: int | None = f("s")
    # plan
    planTime: datetime | None = f("energy plan target")
    planEnergy: float | None = f("kWh")
    planStrategy: PlanStrategy | None = f("plan strategy")
    planActive: bool | None = f("charging for a plan now")
    plan: Annotated[list[Rate] | None, JSON_STRING] = f("chosen slots (JSON string on MQTT)")
    planProjectedStart: datetime | None = f("first slot start")
    planProjectedEnd: datetime | None = f("last slot end")
    planOverrun: int | None = f("s the goal cannot be met by")
    effectivePlanId: int | None = f("0 none, 1 static, ≥ 2 repeating")
    effectivePlanTime: datetime | None = f("target of the effective plan")
    effectivePlanSoc: int | None = f("%")
    # smart cost
    smartCostLimit: float | None = f("currency/kWh or g/kWh; empty = off")
    smartCostActive: bool | None = f("charging because the price is below the limit")
    smartCostNextStart: datetime | None = f("next slot below the limit")
    smartFeedInPriorityLimit: float | None = f("currency/kWh; empty = off")
    smartFeedInPriorityActive: bool | None = f("")
    batteryBoost: bool | None = f("use the home battery for this charge")
    batteryBoostLimit: int | None = f("% SoC the boost may drain to (100 = off)")
    # vehicle
    vehicleName: str | None = f("vehicle config name, empty = guest")
    vehicleTitle: str | None = f("")
    vehicleIdentity: str | None = f("RFID / identifier that matched")
    vehicleSoc: float | None = f("%")
    vehicleRange: float | None = f("km")
    vehicleOdometer: float | None = f("km")
    vehicleLimitSoc: int | None = f("%")
    vehicleDetectionActive: bool | None = f("")


# --- vehicle --------------------------------------------------------------------------------------------


class VehiclePlan(StateModel):
    soc: int | None = f("%")
    time: datetime | None = f("target")


class RepeatingPlan(StateModel):
    weekdays: list[int] | None = f("0 = Sunday … 6")
    time: str | None = f("HH:MM local")
    tz: str | None = f("IANA time zone")
    soc: int | None = f("%")
    active: bool | None = f("")


class VehicleState(StateModel):
    """``<root>/vehicles/<name>/<key>`` and ``vehicles.<name>`` in ``/api/state``."""

    title: str | None = f("")
    icon: str | None = f("")
    capacity: float | None = f("kWh")
    phases: int | None = f("")
    mode: ChargeMode | None = f("default mode on connect")
    minSoc: int | None = f("%")
    limitSoc: int | None = f("%")
    minCurrent: float | None = f("A")
    maxCurrent: float | None = f("A")
    priority: int | None = f("")
    features: list[str] | None = f("")
    plan: VehiclePlan | None = f("static SoC plan")
    repeatingPlans: list[RepeatingPlan] | None = f("weekly plans")
    planStrategy: PlanStrategy | None = f("")
