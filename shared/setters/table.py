"""The one table of writable keys (reference §1.7, §2.3): each key once, with its value type, its owner,
its MQTT ``/set`` topic, its older evcc names and its REST routes.

The owner validates and applies (the optimizer for almost every key); the gateway generates its REST
setters from :data:`WRITABLE` and sends each request to the owner's request topic; every owner subscribes to
the ``/set`` topics of its own keys (:func:`set_topics`). REST, MQTT and request/reply therefore accept the
same values with the same messages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any, Final, Literal

from pydantic import TypeAdapter

from shared import tree
from shared.setters import values as v
from shared.tree import Address, ScopeKind, Tree

OPTIMIZER = tree.Service.OPTIMIZER.value
METER_READER = tree.Service.METER_READER.value


class Answer(StrEnum):
    """How the gateway shapes the owner's confirmed value into the REST answer (evcc's response shapes)."""

    SAME = "same"
    NULL = "null"
    EMPTY = "empty"
    """``{}``"""
    NANOSECONDS = "nanoseconds"
    """Seconds on the bus, a Go duration in ns on REST."""
    BATTERY_MODE_CODE = "battery-mode-code"
    """evcc's number of the battery mode (0 unknown … 4 holdcharge)."""
    SOC_OBJECT = "soc-object"
    """``{"soc": value}``"""
    ENERGY_GOAL = "energy-goal"
    """``{"energy", "time"[, "precondition"]}``"""
    SOC_GOAL = "soc-goal"
    """``{"soc", "time"[, "precondition"]}``"""
    VEHICLE_TITLE = "vehicle-title"
    """``{"vehicle": <title>}``"""
    PLANS = "plans"
    """``{"plans": [...]}``"""


@dataclass(frozen=True)
class Param:
    """The value is the text of this path parameter."""

    name: str


@dataclass(frozen=True)
class GoalParams:
    """A plan goal from path parameters: ``{"time": <time>, "value": <amount>}``, plus ``?precondition=``."""

    amount: str
    time: str = "timestamp"


@dataclass(frozen=True)
class Body:
    """The value is the JSON body, validated as ``model`` (the FastAPI request body)."""

    model: Any


@dataclass(frozen=True)
class Reset:
    """``DELETE``: the value is ``null`` (reset or delete)."""


RestValue = Param | GoalParams | Body | Reset


@dataclass(frozen=True)
class Rest:
    method: Literal["POST", "DELETE"]
    path: str
    """Below ``/api``; ``{id}`` is a 1-based loadpoint, ``{name}`` a vehicle (for vehicle keys)."""
    operation_id: str
    tag: str
    value: RestValue
    answer: Answer = Answer.SAME


@dataclass(frozen=True)
class Writable:
    scope: ScopeKind
    key: str
    kind: Any
    """The value type (an ``Annotated`` type or model of :mod:`shared.setters.values`)."""
    doc: str
    """Meaning and unit, for docs/setters.md."""
    rest: tuple[Rest, ...] = ()
    owner: str = OPTIMIZER
    """The service that validates, applies and confirms it (its request topic and ``/set`` subscriptions)."""
    mqtt: bool = True
    """Also written by publishing to ``<root>/<scope>/.../<key>/set`` (else request/reply only)."""
    aliases: tuple[str, ...] = ()
    """Older evcc names of the key, accepted on MQTT and request/reply."""
    creates: bool = False
    """The target need not exist yet (``vehicles/<name>/create``)."""

    @cached_property
    def parse(self) -> Callable[[Any], Any]:
        """``parse(raw) -> value`` (MQTT text, REST path text or a JSON value); raises ``Invalid``."""
        return v.validator(self.kind)

    @cached_property
    def _adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.kind)

    def dump(self, value: Any) -> Any:
        """A parsed value as JSON (the request value on the bus; ``None`` fields left out)."""
        return self._adapter.dump_python(value, mode="json", exclude_none=True)

    def json_schema(self) -> dict[str, Any]:
        return self._adapter.json_schema()

    def names(self) -> tuple[str, ...]:
        return (self.key, *self.aliases)


LP = "/loadpoints/{id}"
VH = "/vehicles/{name}"
LOADPOINTS: Final = "loadpoints"
VEHICLES: Final = "vehicles"
BATTERY = "battery"
GENERAL = "general"


def _post(path: str, operation_id: str, tag: str, param: str, answer: Answer = Answer.SAME) -> Rest:
    return Rest("POST", path, operation_id, tag, Param(param), answer)


def _delete(path: str, operation_id: str, tag: str, answer: Answer = Answer.NULL) -> Rest:
    return Rest("DELETE", path, operation_id, tag, Reset(), answer)


WRITABLE: tuple[Writable, ...] = (
    # --- site ---
    Writable("site", "residualPower", v.Power, "W, the grid power the control aims at (> 0 keeps import)",
             (_post("/residualpower/{power}", "setResidualPower", BATTERY, "power"),)),
    Writable("site", "prioritySoc", v.Soc, "%, below it the home battery has priority over charging",
             (_post("/prioritysoc/{soc}", "setPrioritySoc", BATTERY, "soc"),)),
    Writable("site", "bufferSoc", v.Soc, "%, above it the battery may support PV charging (0 = off)",
             (_post("/buffersoc/{soc}", "setBufferSoc", BATTERY, "soc"),)),
    Writable("site", "bufferStartSoc", v.Soc, "%, above it the battery may start PV charging (0 = off)",
             (_post("/bufferstartsoc/{soc}", "setBufferStartSoc", BATTERY, "soc"),)),
    Writable("site", "gridExportLimit", v.PowerLimit, "W, feed-in limit (0 = none)",
             (_post("/gridexportlimit/{power}", "setGridExportLimit", BATTERY, "power"),)),
    Writable("site", "batteryDischargeControl", v.Bool, "hold the home battery while fast charging",
             (_post("/batterydischargecontrol/{enable}", "setBatteryDischargeControl", BATTERY, "enable"),)),
    Writable("site", "batteryGridDischarge", v.Bool, "the home battery may discharge into the grid",
             (_post("/batterygriddischarge/{enable}", "setBatteryGridDischarge", BATTERY, "enable"),)),
    Writable("site", "batteryGridChargeLimit", v.OptionalCost,
             "charge the home battery from the grid at or below this price/CO₂ (null = off)",
             (_post("/batterygridchargelimit/{cost}", "setBatteryGridChargeLimit", BATTERY, "cost"),
              _delete("/batterygridchargelimit", "removeBatteryGridChargeLimit", BATTERY))),
    Writable("site", "batteryMode", v.BatteryModeValue,
             "external battery mode normal/hold/charge/holdcharge; unknown or null hands control back; "
             "lapses after 60 s unless re-sent",
             (_post("/batterymode/{batteryMode}", "setExternalBatteryMode", BATTERY, "batteryMode",
                    Answer.BATTERY_MODE_CODE),
              _delete("/batterymode", "disableExternalBatteryControl", BATTERY, Answer.BATTERY_MODE_CODE))),
    Writable("site", "smartCostLimit", v.OptionalCost, "every loadpoint's smart cost limit (null = off)",
             (_post("/smartcostlimit/{cost}", "setGlobalSmartCostLimit", GENERAL, "cost"),
              _delete("/smartcostlimit", "removeGlobalSmartCostLimit", GENERAL))),
    Writable("site", "smartFeedInPriorityLimit", v.OptionalCost,
             "every loadpoint's smart feed-in priority limit (null = off)",
             (_post("/smartfeedinprioritylimit/{cost}", "setGlobalSmartFeedInPriorityLimit", GENERAL, "cost"),
              _delete("/smartfeedinprioritylimit", "removeGlobalSmartFeedInPriorityLimit", GENERAL))),
    Writable("site", "solarAdjusted", v.Bool, "scale the solar forecast by today's produced/forecast ratio",
             (_post("/solaradjusted/{enable}", "setSolarAdjusted", GENERAL, "enable"),)),
    Writable("site", "dimmed", v.Bool,
             "§14a EnWG: the grid operator dims the site (controllable loadpoints share dimming.max_power_w)",
             (_post("/dimmed/{enable}", "setDimmed", GENERAL, "enable"),)),
    Writable("site", "peakShavingLimit", v.PowerLimit,
             "W average grid import per capacity-tariff window (0 = off)",
             (_post("/peakshavinglimit/{power}", "setPeakShavingLimit", GENERAL, "power"),)),
    # --- loadpoints ---
    Writable(LOADPOINTS, "mode", v.Mode, "off / now / minpv / pv (smart = pv)",
             (_post(LP + "/mode/{mode}", "setLoadpointMode", LOADPOINTS, "mode"),)),
    Writable(LOADPOINTS, "phasesConfigured", v.Phases,
             "0 automatic (needs a charger that switches phases), 1 or 3",
             (_post(LP + "/phases/{phases}", "setLoadpointPhases", LOADPOINTS, "phases"),),
             aliases=("phases",)),
    Writable(LOADPOINTS, "limitSoc", v.WholeSoc, "% session SoC limit (0 = none)",
             (_post(LP + "/limitsoc/{soc}", "setLoadpointSocLimit", LOADPOINTS, "soc"),),
             aliases=("targetSoc",)),
    Writable(LOADPOINTS, "minSoc", v.WholeSoc, "% charged fast first (heating devices: minimum temperature)",
             (_post(LP + "/minsoc/{soc}", "setLoadpointMinSoc", LOADPOINTS, "soc"),
              _post(LP + "/mintemp/{soc}", "setLoadpointMinTemp", LOADPOINTS, "soc"))),
    Writable(LOADPOINTS, "priority", v.Priority, "higher wins the surplus",
             (_post(LP + "/priority/{priority}", "setLoadpointPriority", LOADPOINTS, "priority"),)),
    Writable(LOADPOINTS, "minCurrent", v.Current,
             "A per phase; within the charger's range (≥ 6 A unless it allows less), ≤ maxCurrent",
             (_post(LP + "/mincurrent/{current}", "setLoadpointMinCurrent", LOADPOINTS, "current"),)),
    Writable(LOADPOINTS, "maxCurrent", v.Current, "A per phase; within the charger's range, ≥ minCurrent",
             (_post(LP + "/maxcurrent/{current}", "setLoadpointMaxCurrent", LOADPOINTS, "current"),)),
    Writable(LOADPOINTS, "limitEnergy", v.Energy, "kWh session energy limit (0 = none)",
             (_post(LP + "/limitenergy/{energy}", "setLoadpointEnergyLimit", LOADPOINTS, "energy"),),
             aliases=("targetEnergy",)),
    Writable(LOADPOINTS, "enableThreshold", v.Power, "W relative to residual power; < 0 = required export",
             (_post(LP + "/enable/threshold/{threshold}", "setLoadpointEnableThreshold", LOADPOINTS,
                    "threshold"),)),
    Writable(LOADPOINTS, "disableThreshold", v.Power, "W tolerated import at minimum current",
             (_post(LP + "/disable/threshold/{threshold}", "setLoadpointDisableThreshold", LOADPOINTS,
                    "threshold"),)),
    Writable(LOADPOINTS, "enableDelay", v.Delay, "s of surplus before PV charging starts",
             (_post(LP + "/enable/delay/{delay}", "setLoadpointEnableDelay", LOADPOINTS, "delay",
                    Answer.NANOSECONDS),)),
    Writable(LOADPOINTS, "disableDelay", v.Delay, "s without surplus before PV charging stops",
             (_post(LP + "/disable/delay/{delay}", "setLoadpointDisableDelay", LOADPOINTS, "delay",
                    Answer.NANOSECONDS),)),
    Writable(LOADPOINTS, "smartCostLimit", v.OptionalCost, "charge at or below this price/CO₂ (null = off)",
             (_post(LP + "/smartcostlimit/{cost}", "setLoadpointSmartCostLimit", LOADPOINTS, "cost"),
              _delete(LP + "/smartcostlimit", "deleteLoadpointSmartCostLimit", LOADPOINTS))),
    Writable(LOADPOINTS, "smartFeedInPriorityLimit", v.OptionalCost,
             "prefer charging over feed-in at or below this feed-in price (null = off)",
             (_post(LP + "/smartfeedinprioritylimit/{cost}", "setLoadpointSmartFeedInPriorityLimit",
                    LOADPOINTS, "cost"),
              _delete(LP + "/smartfeedinprioritylimit", "deleteLoadpointSmartFeedInPriorityLimit",
                      LOADPOINTS))),
    Writable(LOADPOINTS, "batteryBoost", v.Bool, "charge from the home battery (pv and minpv modes only)",
             (_post(LP + "/batteryboost/{enable}", "setLoadpointBatteryBoost", LOADPOINTS, "enable"),)),
    Writable(LOADPOINTS, "batteryBoostLimit", v.WholeSoc, "% home battery SoC the boost stops at (100 = off)",
             (_post(LP + "/batteryboostlimit/{soc}", "setLoadpointBatteryBoostLimit", LOADPOINTS, "soc"),)),
    Writable(LOADPOINTS, "planStrategy", v.StrategyValue, '`{"continuous": bool, "precondition": s}`',
             (Rest("POST", LP + "/plan/strategy", "setLoadpointPlanStrategy", LOADPOINTS,
                   Body(v.PlanStrategy)),)),
    Writable(LOADPOINTS, "planEnergy", v.EnergyPlan,
             '`{"time": RFC 3339, "value": kWh[, "precondition": s]}` in the future; value 0 or null deletes',
             (Rest("POST", LP + "/plan/energy/{energy}/{timestamp}", "setLoadpointEnergyPlan", LOADPOINTS,
                   GoalParams("energy"), Answer.ENERGY_GOAL),
              _delete(LP + "/plan/energy", "deleteLoadpointEnergyPlan", LOADPOINTS, Answer.EMPTY))),
    Writable(LOADPOINTS, "vehicle", v.OptionalVehicleName, "a configured vehicle's name (null = none)",
             (Rest("POST", LP + "/vehicle/{name}", "assignLoadpointVehicle", LOADPOINTS, Param("name"),
                   Answer.VEHICLE_TITLE),
              _delete(LP + "/vehicle", "removeLoadpointVehicle", LOADPOINTS, Answer.EMPTY))),
    # --- vehicles ---
    Writable(VEHICLES, "limitSoc", v.WholeSoc, "% SoC limit (0 = none)",
             (_post(VH + "/limitsoc/{soc}", "setVehicleSocLimit", VEHICLES, "soc", Answer.SOC_OBJECT),)),
    Writable(VEHICLES, "minSoc", v.WholeSoc, "% charged fast first",
             (_post(VH + "/minsoc/{soc}", "setVehicleMinSoc", VEHICLES, "soc", Answer.SOC_OBJECT),)),
    Writable(VEHICLES, "mode", v.OptionalMode, "the mode a loadpoint takes when it connects (null = none)",
             (_post(VH + "/mode/{mode}", "setVehicleMode", VEHICLES, "mode"),
              _delete(VH + "/mode", "deleteVehicleMode", VEHICLES))),
    Writable(VEHICLES, "planStrategy", v.StrategyValue, '`{"continuous": bool, "precondition": s}`',
             (Rest("POST", VH + "/plan/strategy", "setVehiclePlanStrategy", VEHICLES,
                   Body(v.PlanStrategy)),)),
    Writable(VEHICLES, "planSoc", v.SocPlan,
             '`{"time": RFC 3339, "value": %[, "precondition": s]}` in the future; value 0 or null deletes',
             (Rest("POST", VH + "/plan/soc/{soc}/{timestamp}", "setVehicleSocPlan", VEHICLES,
                   GoalParams("soc"), Answer.SOC_GOAL),
              _delete(VH + "/plan/soc", "deleteVehicleSocPlan", VEHICLES, Answer.EMPTY))),
    Writable(VEHICLES, "repeatingPlans", v.RepeatingPlans,
             '`[{"weekdays": [0..6, 0 = Sunday], "time": "HH:MM", "tz": IANA (UTC), "soc": %, "active": bool'
             '[, "precondition": s]}]` (or `{"plans": [...]}`)',
             (Rest("POST", VH + "/plan/repeating", "updateVehicleRepeatingPlans", VEHICLES,
                   Body(v.RepeatingPlansBody | list[v.RepeatingPlan]), Answer.PLANS),)),
    Writable(VEHICLES, "soc", v.Soc,
             "% the vehicle's SoC pushed by an app or script (extension); stale after its soc_timeout_s",
             (_post(VH + "/soc/{soc}", "setVehicleSoc", VEHICLES, "soc", Answer.SOC_OBJECT),),
             owner=METER_READER),
    Writable(VEHICLES, "capacity", v.PositiveCapacity, "kWh battery capacity (wins over the configuration's)",
             mqtt=False),
    Writable(VEHICLES, "create", v.NewVehicleValue,
             '`{"title"?, "capacity_kwh", "limit_soc"?, "min_soc"?}`: a vehicle made at run time (fleet API)',
             mqtt=False, creates=True),
    Writable(VEHICLES, "delete", v.Ignored, "removes a run-time vehicle", mqtt=False),
)  # fmt: skip


_LOADPOINT_ID = re.compile(r"^[1-9][0-9]{0,5}$")
_VEHICLE_NAME = re.compile(v.VEHICLE_NAME)


def parse_path(path: str) -> Address:
    """The address of a key path (:func:`shared.tree.parse_address`) with evcc's target rules, as
    :class:`~shared.setters.values.Invalid` 404 for an unknown key, a malformed loadpoint id or vehicle
    name (evcc's routes and topics do not match them) — 400 for a malformed name of a vehicle to create."""
    try:
        address = tree.parse_address(path)
    except tree.UnknownAddress as error:
        raise v.Invalid(str(error), code=404) from None
    segment = path.strip("/").split("/")[1] if address.scope != tree.SITE else ""
    if address.scope == tree.LOADPOINTS and not _LOADPOINT_ID.match(segment):
        raise v.Invalid(f"unknown loadpoint {v.shown(segment)}", code=404)
    if address.scope == tree.VEHICLES and (len(segment) > v.MAX_NAME or not _VEHICLE_NAME.match(segment)):
        entry = find(address)
        if entry is not None and entry.creates:
            raise v.Invalid(
                f"invalid vehicle name {v.shown(segment)}: at most {v.MAX_NAME} letters, digits, _ . : -"
            )
        raise v.Invalid(f"unknown vehicle {v.shown(segment)}", code=404)
    return address


_BY_NAME: dict[tuple[str, str], Writable] = {
    (entry.scope, name): entry for entry in WRITABLE for name in entry.names()
}


def find(address: Address) -> Writable | None:
    """The entry for ``address``'s key or one of its aliases."""
    return _BY_NAME.get((address.scope, address.key))


def owned_by(service: str) -> Iterator[Writable]:
    return (entry for entry in WRITABLE if entry.owner == service)


def set_topics(evcc: Tree, service: str) -> list[str]:
    """The ``/set`` subscriptions of ``service``: one per MQTT key and alias it owns, in every loadpoint or
    vehicle (``<root>/loadpoints/+/mode/set``)."""
    return [
        evcc.set_topic(f"{tree.SITE}/{name}" if entry.scope == tree.SITE else f"{entry.scope}/+/{name}")
        for entry in owned_by(service)
        if entry.mqtt
        for name in entry.names()
    ]


def rest_routes() -> Iterator[tuple[Writable, Rest]]:
    return ((entry, route) for entry in WRITABLE for route in entry.rest)
