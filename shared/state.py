"""The typed evcc state schema (site, loadpoint, vehicle) — the one source of the MQTT tree and
``/api/state``.

Field names are evcc's keys (camelCase on purpose: they *are* the wire names). A nested model's field may
carry a ``serialization_alias`` where evcc's JSON tag differs from its MQTT segment (``excessDCPower`` on
MQTT, ``excessdcpower`` in JSON). Encoding rules live in :mod:`shared.encoding`; every service publishes
a partial model (only the fields it owns and has set) through them.

Every top-level field names its single writer (``meter_reader(...)``, ``actuator(...)``, ``optimizer(...)``,
``tariffs(...)``, ``gateway(...)``); the bus refuses to publish a field for anyone else.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from shared.messages import Rate
from shared.tree import LOADPOINTS, OWNER, SITE, VEHICLES, ScopeKind, Service


class Phases:
    """Marker: a top-level 3-element list published as ``/l1..l3`` plus the sum at the bare topic."""


class JsonString:
    """Marker: published on MQTT as one JSON string (evcc's ``MarshalBytes`` values, e.g. ``plan``)."""


PHASES = Phases()
JSON_STRING = JsonString()


def f(description: str) -> Any:
    """An optional field of a nested state model with its unit/meaning for the generated topic reference."""
    return Field(default=None, description=description)


ALWAYS = "always"
"""Marks a field evcc's state always carries: ``null`` in ``/api/state`` without a value, never absent."""


def owned(owner: Service, description: str, *, always: bool = False) -> Any:
    """A top-level state field, written by ``owner`` only (DESIGN §1; :func:`shared.tree.check_owner`)."""
    extra: dict[str, Any] = {OWNER: owner.value}
    if always:
        extra[ALWAYS] = True
    return Field(default=None, description=description, json_schema_extra=extra)


def meter_reader(description: str, *, always: bool = False) -> Any:
    return owned(Service.METER_READER, description, always=always)


def actuator(description: str, *, always: bool = False) -> Any:
    return owned(Service.CHARGER_ACTUATOR, description, always=always)


def optimizer(description: str, *, always: bool = False) -> Any:
    return owned(Service.OPTIMIZER, description, always=always)


def tariffs(description: str, *, always: bool = False) -> Any:
    return owned(Service.TARIFF_FETCHER, description, always=always)


def gateway(description: str, *, always: bool = False) -> Any:
    return owned(Service.GATEWAY, description, always=always)


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
    scale: float | None = f("today's produced ÷ forecast PV energy so far (1 without enough data)")


class Forecast(StateModel):
    """``forecast/<usage>``: compact ``[start unix s, end unix s, value]`` slots from now on."""

    grid: list[list[float]] | None = f("grid price slots, currency/kWh")
    co2: list[list[float]] | None = f("co2 slots, g/kWh")
    feedIn: list[list[float]] | None = Field(
        default=None, serialization_alias="feedin", description="currency/kWh"
    )
    planner: list[list[float]] | None = f("planner tariff slots")
    solar: SolarForecast | None = f("PV forecast")


class FatalError(StateModel):
    """One fatal start-up error (evcc's ``fatal`` entries)."""

    error: str | None = f("message")
    class_: str | None = Field(
        default=None,
        validation_alias="class",
        serialization_alias="class",
        description="device class the error comes from: meter, charger …",
    )
    device: str | None = f("device name")


class CircuitState(StateModel):
    """``site/circuits/<name>/...``: one circuit of the load-management tree (evcc's circuitStruct)."""

    title: str | None = f("display title")
    parent: str | None = f("name of the parent circuit, empty for a root")
    power: float | None = f("W the circuit carries now (its meter, else its loadpoints and sub-circuits)")
    current: float | None = f("A on its most loaded phase (only with a current limit)")
    maxPower: float | None = f("W limit (0 = none)")
    maxCurrent: float | None = f("A per phase limit (0 = none)")
    error: str | None = f("why the circuit is treated as full, e.g. its meter is not read (chargebus)")


class SiteState(StateModel):
    """``<root>/site/<key>`` and the top level of ``/api/state``."""

    siteTitle: str | None = optimizer("site title")
    version: str | None = optimizer("chargebus version")
    interval: int | None = optimizer("s, control tick")
    startupCompleted: bool | None = optimizer("all services have published once")
    setupRequired: bool | None = optimizer(
        "initial setup needed (always false: chargebus is configured by file)"
    )
    telemetry: bool | None = optimizer("telemetry enabled (always false: chargebus sends none)")
    experimental: bool | None = optimizer("experimental UI features (false)")
    system: str | None = optimizer("operating system/architecture, e.g. linux/amd64")
    timezone: str | None = optimizer("site time zone abbreviation and UTC offset, e.g. CEST +02:00")
    currency: str | None = optimizer("ISO 4217 code")
    gridConfigured: bool | None = meter_reader("a grid meter is configured")
    pvConfigured: bool | None = meter_reader("a PV meter is configured (evcc < 0.119; still read by ha-evcc)")
    batteryConfigured: bool | None = meter_reader(
        "a battery meter is configured (evcc < 0.119; still read by ha-evcc)"
    )
    grid: GridState | None = meter_reader("grid meter")
    pvPower: float | None = meter_reader("W, Σ max(0, pv)")
    pvEnergy: float | None = meter_reader("kWh")
    pv: list[Measurement] | None = meter_reader("one entry per PV meter")
    battery: BatteryState | None = meter_reader("home battery")
    aux: list[Measurement] | None = meter_reader("auxiliary meters")
    auxPower: float | None = meter_reader("W")
    homePower: float | None = optimizer("W, max(0, grid + pv + battery − charge)")
    residualPower: float | None = optimizer("W, target grid power")
    gridExportLimit: float | None = optimizer("W, 0 = none")
    solarAdjusted: bool | None = optimizer("clients scale the solar forecast by forecast.solar.scale")
    prioritySoc: float | None = optimizer("%, battery has priority below")
    bufferSoc: float | None = optimizer("%, battery may support PV charging above")
    bufferStartSoc: float | None = optimizer("%, battery may start PV charging above")
    batteryMode: BatteryMode | None = optimizer("mode applied by chargebus")
    batteryModeExternal: BatteryMode | None = optimizer("mode set from outside (60 s watchdog)")
    batteryDischargeControl: bool | None = optimizer("hold the battery while fast charging")
    batteryGridChargeLimit: float | None = optimizer("currency/kWh or g/kWh; empty = off")
    batteryGridChargeActive: bool | None = optimizer("battery charging from grid now")
    batteryGridDischarge: bool | None = optimizer("battery may discharge to grid")
    greenShareHome: float | None = optimizer("0..1")
    greenShareLoadpoints: float | None = optimizer("0..1")
    tariffGrid: float | None = tariffs("currency/kWh now")
    tariffFeedIn: float | None = tariffs("currency/kWh now")
    tariffCo2: float | None = tariffs("g/kWh now")
    tariffSolar: float | None = tariffs("W forecast now")
    tariffPriceHome: float | None = optimizer("currency/kWh, effective")
    tariffPriceLoadpoints: float | None = optimizer("currency/kWh, effective")
    tariffCo2Home: float | None = optimizer("g/kWh, effective")
    tariffCo2Loadpoints: float | None = optimizer("g/kWh, effective")
    smartCostAvailable: bool | None = tariffs("planner tariff is dynamic")
    smartCostType: str | None = tariffs("co2 / pricedynamic / priceforecast / pricestatic")
    smartFeedInPriorityAvailable: bool | None = tariffs("feed-in tariff is dynamic")
    forecast: Forecast | None = tariffs("tariff and solar forecasts (tariff-fetcher)")
    statistics: Statistics | None = gateway("charging statistics from the sessions")
    fatal: list[FatalError] | None = optimizer("fatal start-up errors; empty when healthy")
    circuits: dict[str, CircuitState] | None = optimizer("load-management circuits by name")
    dimmed: bool | None = optimizer("§14a EnWG dimming is on: controllable loadpoints limited (chargebus)")
    dimmedPower: float | None = optimizer("W all controllable loadpoints may draw while dimmed (chargebus)")
    peakShavingLimit: float | None = optimizer("W average grid import per window, 0 = off (chargebus)")
    peakShavingWindow: int | None = optimizer("s, the capacity tariff's averaging window (chargebus)")
    peakShavingAverage: float | None = optimizer("W average grid import of the window so far (chargebus)")
    peakShavingActive: bool | None = optimizer("peak shaving holds loadpoints back now (chargebus)")


# --- loadpoint ------------------------------------------------------------------------------------------


class PlanStrategy(StateModel):
    continuous: bool | None = f("one continuous window")
    precondition: int | None = f("s of late charging before the target")


class LoadpointState(StateModel):
    """``<root>/loadpoints/<id>/<key>`` (1-based) and ``loadpoints[id-1]`` in ``/api/state``."""

    # identity / configuration
    name: str | None = optimizer("config name, lp-<id>")
    title: str | None = optimizer("display title")
    mode: ChargeMode | None = optimizer("off / now / minpv / pv")
    priority: int | None = optimizer("higher wins surplus")
    minCurrent: float | None = optimizer("A")
    maxCurrent: float | None = optimizer("A")
    enableThreshold: float | None = optimizer("W, relative to residual power; < 0 = required export")
    disableThreshold: float | None = optimizer("W, tolerated import at min current")
    enableDelay: int | None = optimizer("s")
    disableDelay: int | None = optimizer("s")
    phasesConfigured: int | None = optimizer("0 auto, 1, 3")
    phasesEnabled: int | None = optimizer("= phasesConfigured (evcc < 0.131; still read by ha-evcc)")
    chargerPhases1p3p: bool | None = actuator("charger can switch phases")
    chargerSinglePhase: bool | None = actuator("charger is single-phase")
    chargerIcon: str | None = actuator("charger icon (none: empty)", always=True)
    chargerFeatureAutodetectDisabled: bool | None = actuator("vehicle autodetection off for this charger")
    chargerFeatureAverage: bool | None = actuator("charger averages its measurements")
    chargerFeatureCacheable: bool | None = actuator("charger readings may be cached")
    chargerFeatureClimaterDisabled: bool | None = actuator("climater detection off")
    chargerFeatureCoarseCurrent: bool | None = actuator("charger takes whole amperes only")
    chargerFeatureContinuous: bool | None = actuator("charger needs continuous charging")
    chargerFeatureHeating: bool | None = actuator("a heating device, not a vehicle")
    chargerFeatureIntegratedDevice: bool | None = actuator("charger is an integrated device (no vehicle)")
    chargerFeatureOffline: bool | None = actuator("charger works without connection")
    chargerFeatureRetryable: bool | None = actuator("failed commands are retried by the charger")
    chargerFeatureStreaming: bool | None = actuator("charger streams its values")
    chargerFeatureSwitchDevice: bool | None = actuator("charger is a switch socket")
    chargerFeatureWakeUpDisabled: bool | None = actuator("vehicle wake-up off")
    chargerFeatureWelcomeCharge: bool | None = actuator("charger needs a welcome charge")
    chargerStatusReason: str | None = actuator(
        "unknown / waitingforauthorization / disconnectrequired", always=True
    )
    # charger status
    connected: bool | None = actuator("vehicle connected (B or C)")
    charging: bool | None = actuator("vehicle charging (C)")
    enabled: bool | None = actuator("charger enabled")
    offeredCurrent: float | None = actuator("A, 0 when disabled")
    chargePower: float | None = actuator("W")
    chargeCurrents: Annotated[list[float] | None, PHASES] = actuator("A per phase")
    chargeVoltages: Annotated[list[float] | None, PHASES] = actuator("V per phase (bare topic = sum)")
    phasesActive: int | None = actuator("1..3")
    chargeTotalImport: float | None = actuator("kWh, charge meter reading")
    chargerStatus: str | None = actuator("A / B / C (chargebus extension)")
    chargerError: str | None = actuator("charger error or failsafe reason, empty when healthy (chargebus)")
    chargerPowerEstimated: bool | None = actuator("power is offered current × phases × V (chargebus)")
    # session
    chargedEnergy: float | None = optimizer("Wh (deprecated alias of sessionEnergy)")
    sessionEnergy: float | None = optimizer("Wh")
    sessionSolarPercentage: float | None = optimizer("%")
    sessionPrice: float | None = optimizer("currency", always=True)
    sessionPricePerKWh: float | None = optimizer("currency/kWh", always=True)
    sessionCo2PerKWh: float | None = optimizer("g/kWh", always=True)
    chargeDuration: int | None = optimizer("s")
    connectedDuration: int | None = optimizer("s")
    chargeRemainingDuration: int | None = optimizer("s")
    chargeRemainingEnergy: float | None = optimizer("Wh")
    # limits
    limitSoc: int | None = optimizer("%, 0 = none")
    limitEnergy: float | None = optimizer("kWh, 0 = none")
    minSoc: int | None = optimizer("%")
    minSocNotReached: bool | None = optimizer("below min SoC → fast charging")
    effectiveMinSoc: int | None = optimizer("%")
    effectiveLimitSoc: int | None = optimizer("% (100 if none)")
    effectiveMinCurrent: float | None = optimizer("A")
    effectiveMaxCurrent: float | None = optimizer("A")
    effectivePriority: int | None = optimizer("")
    # pv timers
    pvAction: PvAction | None = optimizer("inactive / enable / disable")
    pvRemaining: int | None = optimizer("s until the PV timer fires")
    phaseAction: PhaseAction | None = optimizer("inactive / scale1p / scale3p")
    phaseRemaining: int | None = optimizer("s")
    # plan
    planTime: datetime | None = optimizer("energy plan target", always=True)
    planEnergy: float | None = optimizer("kWh")
    planStrategy: PlanStrategy | None = optimizer("plan strategy")
    planActive: bool | None = optimizer("charging for a plan now")
    plan: Annotated[list[Rate] | None, JSON_STRING] = optimizer(
        "chosen slots (JSON string on MQTT)", always=True
    )
    planProjectedStart: datetime | None = optimizer("first slot start", always=True)
    planProjectedEnd: datetime | None = optimizer("last slot end", always=True)
    planOverrun: int | None = optimizer("s the goal cannot be met by")
    effectivePlanId: int | None = optimizer("0 none, 1 static, ≥ 2 repeating")
    effectivePlanTime: datetime | None = optimizer("target of the effective plan", always=True)
    effectivePlanSoc: int | None = optimizer("%")
    effectivePlanStrategy: PlanStrategy | None = optimizer("strategy of the effective plan")
    # smart cost
    smartCostLimit: float | None = optimizer("currency/kWh or g/kWh; empty = off", always=True)
    smartCostActive: bool | None = optimizer("charging because the price is below the limit")
    smartCostNextStart: datetime | None = optimizer("next slot below the limit", always=True)
    smartFeedInPriorityLimit: float | None = optimizer("currency/kWh; empty = off", always=True)
    smartFeedInPriorityActive: bool | None = optimizer("pausing self-consumption for a high feed-in rate")
    smartFeedInPriorityNextStart: datetime | None = optimizer("next slot above the limit", always=True)
    batteryBoost: bool | None = optimizer("use the home battery for this charge")
    batteryBoostLimit: int | None = optimizer("% SoC the boost may drain to (100 = off)")
    # vehicle
    vehicleName: str | None = optimizer("vehicle config name, empty = guest")
    vehicleTitle: str | None = optimizer("")
    vehicleIdentity: str | None = optimizer("RFID / identifier that matched")
    vehicleSoc: float | None = optimizer("%")
    vehicleRange: int | None = optimizer("km (0 without a vehicle source)")
    vehicleOdometer: float | None = optimizer("km (0 without a vehicle source)")
    vehicleLimitSoc: int | None = optimizer("%")
    vehicleDetectionActive: bool | None = optimizer("identifying the connected vehicle")
    dimmed: bool | None = optimizer("§14a EnWG dimming limits this loadpoint now")
    limitedBy: str | None = optimizer(
        "what holds the current back: circuit:<name>, dimming or peakShaving; empty when nothing (chargebus)"
    )
    vehicleClimaterActive: bool | None = optimizer("vehicle climater on (no vehicle API: empty)", always=True)
    vehicleWelcomeActive: bool | None = optimizer("vehicle may need a welcome charge")
    vehiclePresent: bool | None = optimizer("a vehicle is assigned (evcc < 0.125; still read by ha-evcc)")


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

    title: str | None = optimizer("")
    icon: str | None = optimizer("")
    capacity: float | None = optimizer("kWh")
    phases: int | None = optimizer("")
    mode: ChargeMode | None = optimizer("default mode on connect")
    minSoc: int | None = optimizer("%")
    limitSoc: int | None = optimizer("%")
    minCurrent: float | None = optimizer("A")
    maxCurrent: float | None = optimizer("A")
    priority: int | None = optimizer("")
    features: list[str] | None = optimizer("")
    plan: VehiclePlan | None = optimizer("static SoC plan")
    repeatingPlans: list[RepeatingPlan] | None = optimizer("weekly plans")
    planStrategy: PlanStrategy | None = optimizer("")


SCOPE_MODELS: dict[ScopeKind, type[StateModel]] = {
    SITE: SiteState,
    LOADPOINTS: LoadpointState,
    VEHICLES: VehicleState,
}
"""The state model of each branch of the tree."""
