"""Every evcc setter (and the optimizer-computed plan reads) as one table.

A row names the REST path, the request key it becomes on the bus (a path below the state root, e.g.
``loadpoints/1/limitSoc`` — the owner's contract, see docs/optimizer.md), how each path value is parsed,
how the request value is built and how the owner's confirmed value is shaped into the spec's response.
Path values are validated before anything is sent: bad input → 400 and nothing changes; an unknown
loadpoint or vehicle → 404.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.gateway import params as p
from services.gateway.auth import require_setter_auth
from services.gateway.context import GatewayContext, get_ctx
from services.gateway.owner import ask_owner
from services.gateway.responses import ApiError, result

Args = dict[str, Any]
VEHICLE_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")
NS_PER_S = 1_000_000_000


def _none(_args: Args) -> Any:
    return None


def _arg(name: str) -> Callable[[Args], Any]:
    return lambda args: args[name]


def _same(value: Any, _args: Args, _ctx: GatewayContext) -> Any:
    return value


def _empty(_value: Any, _args: Args, _ctx: GatewayContext) -> Any:
    return {}


def _null(_value: Any, _args: Args, _ctx: GatewayContext) -> Any:
    return None


def _nanoseconds(value: Any, _args: Args, _ctx: GatewayContext) -> Any:
    """Delays are seconds on the bus; evcc's REST answer is a Go duration in nanoseconds."""
    return round(float(value) * NS_PER_S) if isinstance(value, (int, float)) else value


def _battery_mode_code(value: Any, _args: Args, _ctx: GatewayContext) -> Any:
    return p.BATTERY_MODE_CODES.get(str(value), 0) if value is not None else 0


def _soc_result(value: Any, _args: Args, _ctx: GatewayContext) -> Any:
    return {"soc": value}


def _goal(value: Any, key: str) -> dict[str, Any]:
    """A plan goal ``{"time","value"}`` as the owner confirmed it → evcc's ``{<key>, "time"}``."""
    if value is None:  # value 0 deleted the plan
        return {key: 0}
    if not isinstance(value, dict):
        return {key: value}
    out: dict[str, Any] = {key: value.get("value", value.get(key)), "time": value.get("time")}
    if value.get("precondition") is not None:
        out["precondition"] = value["precondition"]
    return out


def _energy_plan(value: Any, _args: Args, _ctx: GatewayContext) -> Any:
    return _goal(value, "energy")


def _soc_plan(value: Any, _args: Args, _ctx: GatewayContext) -> Any:
    return _goal(value, "soc")


def _vehicle_title(value: Any, args: Args, ctx: GatewayContext) -> Any:
    name = value if isinstance(value, str) and value else args["name"]
    return {"vehicle": ctx.vehicle_title(name)}


def _plans(value: Any, _args: Args, _ctx: GatewayContext) -> Any:
    return {"plans": value if value is not None else []}


def _goal_value(target: str) -> Callable[[Args], Any]:
    def build(args: Args) -> Any:
        goal: dict[str, Any] = {"time": args["timestamp"].isoformat(), "value": args[target]}
        if args.get("precondition") is not None:
            goal["precondition"] = args["precondition"]
        return goal

    return build


def next_occurrence(days: list[int], hour_minute: str, tz: str, now: datetime) -> datetime:
    """The next time at ``HH:MM`` in ``tz`` on one of ``days`` (0 = Sunday) strictly after ``now``."""
    zone = ZoneInfo(tz)
    hour, minute = (int(x) for x in hour_minute.split(":"))
    local_now = now.astimezone(zone)
    for offset in range(8):
        day = (local_now + timedelta(days=offset)).date()
        if (day.isoweekday() % 7) not in days:
            continue
        candidate = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
        if candidate > now:
            return candidate
    raise ApiError(400, "invalid weekdays: no upcoming day")


def _preview(kind: str) -> Callable[[Args], Any]:
    """Plan previews are optimizer queries ``{"type": "soc"|"energy", "value", "time"}``; a repeating
    plan is previewed as the SoC goal at its next occurrence."""

    def build(args: Args) -> Any:
        if kind == "repeating":
            now = datetime.now(UTC)
            target = next_occurrence(args["weekdays"], args["hourMinuteTime"], args["timezone"], now)
            return {"type": "soc", "value": args["soc"], "time": target.isoformat()}
        return {"type": kind, "value": args[kind], "time": args["timestamp"].isoformat()}

    return build


def parse_repeating_plans(body: Any) -> list[dict[str, Any]]:
    """evcc's body is a JSON array; the spec wraps it as ``{"plans": [...]}`` — accept both."""
    plans = body.get("plans") if isinstance(body, dict) else body
    if not isinstance(plans, list):
        raise ApiError(400, 'invalid body: expected a list of repeating plans (or {"plans": [...]})')
    out: list[dict[str, Any]] = []
    for index, plan in enumerate(plans):
        where = f"plans[{index}]"
        if not isinstance(plan, dict):
            raise ApiError(400, f"invalid {where}: expected an object")
        unknown = set(plan) - {"weekdays", "time", "tz", "soc", "active", "precondition"}
        if unknown:
            raise ApiError(400, f"invalid {where}: unknown field(s) {', '.join(sorted(unknown))}")
        days = plan.get("weekdays", [])
        if (
            not isinstance(days, list)
            or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in days)
            or len(set(days)) != len(days)
        ):
            raise ApiError(400, f"invalid {where}.weekdays: expected distinct integers 0 (Sunday) to 6")
        soc = plan.get("soc")
        if not isinstance(soc, (int, float)) or isinstance(soc, bool) or not 0 <= soc <= 100:
            raise ApiError(400, f"invalid {where}.soc: expected a SoC between 0 and 100")
        active = plan.get("active", True)
        if not isinstance(active, bool):
            raise ApiError(400, f"invalid {where}.active: expected true or false")
        precondition = plan.get("precondition", 0)
        if not isinstance(precondition, int) or isinstance(precondition, bool) or precondition < 0:
            raise ApiError(400, f"invalid {where}.precondition: expected seconds ≥ 0")
        time = p.hour_minute(f"{where}.time", str(plan.get("time", "")))
        tz = p.timezone(f"{where}.tz", str(plan.get("tz", "")))
        out.append(
            {"weekdays": sorted(days), "time": time, "tz": tz, "soc": soc, "active": active}
            | ({"precondition": precondition} if precondition else {})
        )
    return out


def parse_plan_strategy(body: Any) -> dict[str, Any]:
    """``{"continuous": bool, "precondition": seconds}`` (both optional)."""
    if not isinstance(body, dict):
        raise ApiError(400, 'invalid body: expected {"continuous": bool, "precondition": seconds}')
    unknown = set(body) - {"continuous", "precondition"}
    if unknown:
        raise ApiError(400, f"invalid body: unknown field(s) {', '.join(sorted(unknown))}")
    continuous = body.get("continuous", False)
    precondition = body.get("precondition", 0)
    if not isinstance(continuous, bool):
        raise ApiError(400, "invalid continuous: expected true or false")
    if not isinstance(precondition, int) or isinstance(precondition, bool) or precondition < 0:
        raise ApiError(400, "invalid precondition: expected whole seconds ≥ 0")
    return {"continuous": continuous, "precondition": precondition}


@dataclass(frozen=True)
class Setter:
    method: str
    path: str
    """Below ``/api``; ``{id}`` is a 1-based loadpoint, ``{name}`` a vehicle."""
    operation_id: str
    tag: str
    key: str
    """The request key, formatted with the parsed path values."""
    params: dict[str, p.Parser] = field(default_factory=dict)
    value: Callable[[Args], Any] = _none
    answer: Callable[[Any, Args, GatewayContext], Any] = _same
    query: dict[str, p.Parser] = field(default_factory=dict)
    body: Callable[[Any], Any] | None = None
    summary: str = ""


LP = "/loadpoints/{id}"
VH = "/vehicles/{name}"

SETTERS: list[Setter] = [
    # --- site / battery ---
    Setter("POST", "/batterydischargecontrol/{enable}", "setBatteryDischargeControl", "battery",
           "site/batteryDischargeControl", {"enable": p.boolean}, _arg("enable")),
    Setter("DELETE", "/batterygridchargelimit", "removeBatteryGridChargeLimit", "battery",
           "site/batteryGridChargeLimit", answer=_null),
    Setter("POST", "/batterygridchargelimit/{cost}", "setBatteryGridChargeLimit", "battery",
           "site/batteryGridChargeLimit", {"cost": p.number}, _arg("cost")),
    Setter("DELETE", "/batterymode", "disableExternalBatteryControl", "battery",
           "site/batteryMode", answer=_battery_mode_code),
    Setter("POST", "/batterymode/{batteryMode}", "setExternalBatteryMode", "battery",
           "site/batteryMode", {"batteryMode": p.battery_mode}, _arg("batteryMode"), _battery_mode_code),
    Setter("POST", "/buffersoc/{soc}", "setBufferSoc", "battery", "site/bufferSoc",
           {"soc": p.soc}, _arg("soc")),
    Setter("POST", "/bufferstartsoc/{soc}", "setBufferStartSoc", "battery", "site/bufferStartSoc",
           {"soc": p.soc}, _arg("soc")),
    Setter("POST", "/prioritysoc/{soc}", "setPrioritySoc", "battery", "site/prioritySoc",
           {"soc": p.soc}, _arg("soc")),
    Setter("POST", "/residualpower/{power}", "setResidualPower", "battery", "site/residualPower",
           {"power": p.number}, _arg("power")),
    Setter("POST", "/smartcostlimit/{cost}", "setGlobalSmartCostLimit", "general", "site/smartCostLimit",
           {"cost": p.number}, _arg("cost")),
    Setter("DELETE", "/smartcostlimit", "removeGlobalSmartCostLimit", "general", "site/smartCostLimit",
           answer=_null),
    # --- loadpoints ---
    Setter("POST", LP + "/mode/{mode}", "setLoadpointMode", "loadpoints", "loadpoints/{id}/mode",
           {"mode": p.mode}, _arg("mode")),
    Setter("POST", LP + "/batteryboost/{enable}", "setLoadpointBatteryBoost", "loadpoints",
           "loadpoints/{id}/batteryBoost", {"enable": p.boolean}, _arg("enable")),
    Setter("POST", LP + "/disable/delay/{delay}", "setLoadpointDisableDelay", "loadpoints",
           "loadpoints/{id}/disableDelay", {"delay": p.non_negative_int}, _arg("delay"), _nanoseconds),
    Setter("POST", LP + "/disable/threshold/{threshold}", "setLoadpointDisableThreshold", "loadpoints",
           "loadpoints/{id}/disableThreshold", {"threshold": p.number}, _arg("threshold")),
    Setter("POST", LP + "/enable/delay/{delay}", "setLoadpointEnableDelay", "loadpoints",
           "loadpoints/{id}/enableDelay", {"delay": p.non_negative_int}, _arg("delay"), _nanoseconds),
    Setter("POST", LP + "/enable/threshold/{threshold}", "setLoadpointEnableThreshold", "loadpoints",
           "loadpoints/{id}/enableThreshold", {"threshold": p.number}, _arg("threshold")),
    Setter("POST", LP + "/limitenergy/{energy}", "setLoadpointEnergyLimit", "loadpoints",
           "loadpoints/{id}/limitEnergy", {"energy": p.non_negative}, _arg("energy")),
    Setter("POST", LP + "/limitsoc/{soc}", "setLoadpointSocLimit", "loadpoints", "loadpoints/{id}/limitSoc",
           {"soc": p.whole_soc}, _arg("soc")),
    Setter("POST", LP + "/maxcurrent/{current}", "setLoadpointMaxCurrent", "loadpoints",
           "loadpoints/{id}/maxCurrent", {"current": p.non_negative}, _arg("current")),
    Setter("POST", LP + "/mincurrent/{current}", "setLoadpointMinCurrent", "loadpoints",
           "loadpoints/{id}/minCurrent", {"current": p.non_negative}, _arg("current")),
    Setter("POST", LP + "/phases/{phases}", "setLoadpointPhases", "loadpoints",
           "loadpoints/{id}/phasesConfigured",
           {"phases": p.phases}, _arg("phases")),
    Setter("POST", LP + "/priority/{priority}", "setLoadpointPriority", "loadpoints",
           "loadpoints/{id}/priority",
           {"priority": p.non_negative_int}, _arg("priority")),
    Setter("POST", LP + "/smartcostlimit/{cost}", "setLoadpointSmartCostLimit", "loadpoints",
           "loadpoints/{id}/smartCostLimit", {"cost": p.number}, _arg("cost")),
    Setter("DELETE", LP + "/smartcostlimit", "deleteLoadpointSmartCostLimit", "loadpoints",
           "loadpoints/{id}/smartCostLimit", answer=_null),
    Setter("GET", LP + "/plan", "getLoadpointPlan", "loadpoints", "loadpoints/{id}/plan"),
    Setter("DELETE", LP + "/plan/energy", "deleteLoadpointEnergyPlan", "loadpoints",
           "loadpoints/{id}/planEnergy",
           answer=_empty),
    Setter("POST", LP + "/plan/energy/{energy}/{timestamp}", "setLoadpointEnergyPlan", "loadpoints",
           "loadpoints/{id}/planEnergy", {"energy": p.non_negative, "timestamp": p.timestamp},
           _goal_value("energy"), _energy_plan),
    Setter("GET", LP + "/plan/repeating/preview/{soc}/{weekdays}/{hourMinuteTime}/{timezone:path}",
           "previewLoadpointRepeatingPlan", "loadpoints", "loadpoints/{id}/plan/preview",
           {"soc": p.soc, "weekdays": p.weekdays, "hourMinuteTime": p.hour_minute, "timezone": p.timezone},
           _preview("repeating")),
    Setter("GET", LP + "/plan/static/preview/soc/{soc}/{timestamp}", "previewLoadpointSocPlan", "loadpoints",
           "loadpoints/{id}/plan/preview", {"soc": p.soc, "timestamp": p.timestamp}, _preview("soc")),
    Setter("GET", LP + "/plan/static/preview/energy/{energy}/{timestamp}", "previewLoadpointEnergyPlan",
           "loadpoints", "loadpoints/{id}/plan/preview", {"energy": p.non_negative, "timestamp": p.timestamp},
           _preview("energy")),
    Setter("DELETE", LP + "/vehicle", "removeLoadpointVehicle", "loadpoints", "loadpoints/{id}/vehicle",
           answer=_empty),
    Setter("PATCH", LP + "/vehicle", "startLoadpointVehicleDetection", "loadpoints",
           "loadpoints/{id}/vehicleDetection", value=lambda _a: True, answer=_empty),
    Setter("POST", LP + "/vehicle/{name}", "assignLoadpointVehicle", "loadpoints", "loadpoints/{id}/vehicle",
           value=_arg("name"), answer=_vehicle_title),
    # --- vehicles ---
    Setter("POST", VH + "/limitsoc/{soc}", "setVehicleSocLimit", "vehicles", "vehicles/{name}/limitSoc",
           {"soc": p.whole_soc}, _arg("soc"), _soc_result),
    Setter("POST", VH + "/minsoc/{soc}", "setVehicleMinSoc", "vehicles", "vehicles/{name}/minSoc",
           {"soc": p.whole_soc}, _arg("soc"), _soc_result),
    Setter("POST", VH + "/plan/repeating", "updateVehicleRepeatingPlans", "vehicles",
           "vehicles/{name}/repeatingPlans", value=_arg("body"), answer=_plans, body=parse_repeating_plans),
    Setter("DELETE", VH + "/plan/soc", "deleteVehicleSocPlan", "vehicles", "vehicles/{name}/planSoc",
           answer=_empty),
    Setter("POST", VH + "/plan/soc/{soc}/{timestamp}", "setVehicleSocPlan", "vehicles",
           "vehicles/{name}/planSoc",
           {"soc": p.whole_soc, "timestamp": p.timestamp}, _goal_value("soc"), _soc_plan,
           query={"precondition": p.non_negative_int}),
    # --- evcc endpoints beyond the reference spec (reference §2.3) ---
    Setter("POST", "/gridexportlimit/{power}", "setGridExportLimit", "battery", "site/gridExportLimit",
           {"power": p.non_negative}, _arg("power")),
    Setter("POST", "/batterygriddischarge/{enable}", "setBatteryGridDischarge", "battery",
           "site/batteryGridDischarge", {"enable": p.boolean}, _arg("enable")),
    Setter("POST", "/smartfeedinprioritylimit/{cost}", "setGlobalSmartFeedInPriorityLimit", "general",
           "site/smartFeedInPriorityLimit", {"cost": p.number}, _arg("cost")),
    Setter("DELETE", "/smartfeedinprioritylimit", "removeGlobalSmartFeedInPriorityLimit", "general",
           "site/smartFeedInPriorityLimit", answer=_null),
    Setter("POST", "/solaradjusted/{enable}", "setSolarAdjusted", "general", "site/solarAdjusted",
           {"enable": p.boolean}, _arg("enable")),
    Setter("POST", LP + "/minsoc/{soc}", "setLoadpointMinSoc", "loadpoints", "loadpoints/{id}/minSoc",
           {"soc": p.whole_soc}, _arg("soc")),
    Setter("POST", LP + "/mintemp/{soc}", "setLoadpointMinTemp", "loadpoints", "loadpoints/{id}/minSoc",
           {"soc": p.whole_soc}, _arg("soc")),
    Setter("POST", LP + "/batteryboostlimit/{soc}", "setLoadpointBatteryBoostLimit", "loadpoints",
           "loadpoints/{id}/batteryBoostLimit", {"soc": p.whole_soc}, _arg("soc")),
    Setter("POST", LP + "/smartfeedinprioritylimit/{cost}", "setLoadpointSmartFeedInPriorityLimit",
           "loadpoints", "loadpoints/{id}/smartFeedInPriorityLimit", {"cost": p.number}, _arg("cost")),
    Setter("DELETE", LP + "/smartfeedinprioritylimit", "deleteLoadpointSmartFeedInPriorityLimit",
           "loadpoints", "loadpoints/{id}/smartFeedInPriorityLimit", answer=_null),
    Setter("POST", LP + "/plan/strategy", "setLoadpointPlanStrategy", "loadpoints",
           "loadpoints/{id}/planStrategy",
           value=_arg("body"), body=parse_plan_strategy),
    Setter("POST", VH + "/mode/{mode}", "setVehicleMode", "vehicles", "vehicles/{name}/mode",
           {"mode": p.mode}, _arg("mode")),
    Setter("DELETE", VH + "/mode", "deleteVehicleMode", "vehicles", "vehicles/{name}/mode", answer=_null),
    Setter("POST", VH + "/plan/strategy", "setVehiclePlanStrategy", "vehicles",
           "vehicles/{name}/planStrategy",
           value=_arg("body"), body=parse_plan_strategy),
]  # fmt: skip


def _check_loadpoint(ctx: GatewayContext, raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise p.bad("loadpoint id", raw, "a loadpoint number starting at 1")
    lp_id = int(raw)
    if lp_id not in ctx.loadpoint_ids():
        raise ApiError(404, f"loadpoint {lp_id} not found")
    return lp_id


def _check_vehicle(ctx: GatewayContext, raw: str) -> str:
    if not VEHICLE_NAME.match(raw):
        raise p.bad("vehicle name", raw, "letters, digits and _ . : -")
    if raw not in ctx.vehicle_names():
        raise ApiError(404, f"vehicle {raw!r} not found")
    return raw


async def parse_args(setter: Setter, request: Request, ctx: GatewayContext) -> Args:
    """Validate everything first (values, then existence), so a bad request changes nothing."""
    raw = request.path_params
    args: Args = {}
    for name, parser in setter.params.items():
        args[name] = parser(name, str(raw[name]))
    for name, parser in setter.query.items():
        if name in request.query_params:
            args[name] = parser(name, request.query_params[name])
    if setter.body is not None:
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError:
            raise ApiError(400, "invalid body: not JSON") from None
        args["body"] = setter.body(body)
    if "id" in raw:
        args["id"] = _check_loadpoint(ctx, str(raw["id"]))
    if "name" in raw:
        args["name"] = _check_vehicle(ctx, str(raw["name"]))
    return args


def _endpoint(setter: Setter) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> JSONResponse:
        ctx = get_ctx(request)
        if setter.method != "GET":  # plan reads and previews change nothing
            require_setter_auth(request, ctx)
        args = await parse_args(setter, request, ctx)
        confirmed = await ask_owner(ctx, setter.key.format(**args), setter.value(args))
        return result(request, setter.answer(confirmed, args, ctx))

    endpoint.__name__ = setter.operation_id
    return endpoint


def _openapi_parameters(setter: Setter) -> dict[str, Any]:
    names = re.findall(r"{(\w+)(?::\w+)?}", setter.path)
    parameters: list[dict[str, Any]] = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names
    ]
    parameters += [
        {"name": n, "in": "query", "required": False, "schema": {"type": "string"}} for n in setter.query
    ]
    extra: dict[str, Any] = {"parameters": parameters}
    if setter.body is not None:
        extra["requestBody"] = {"required": True, "content": {"application/json": {"schema": {}}}}
    return extra


def build_router() -> APIRouter:
    router = APIRouter()
    for setter in SETTERS:
        router.add_api_route(
            setter.path,
            _endpoint(setter),
            methods=[setter.method],
            operation_id=setter.operation_id,
            tags=[setter.tag],
            summary=setter.summary or None,
            openapi_extra=_openapi_parameters(setter),
            response_model=None,
        )
    return router


def setter_table() -> str:
    """The Markdown table of setters for docs/api.md, generated from :data:`SETTERS`."""
    lines = [
        "| method | path (below `/api`) | operation | request key → owner | request value |",
        "|---|---|---|---|---|",
    ]
    for s in SETTERS:
        if s.body is parse_repeating_plans:
            value = "the JSON body (list of plans)"
        elif s.body is not None:
            value = '`{"continuous", "precondition"}` (JSON body)'
        elif s.method == "DELETE":
            value = "`null` (reset)"
        elif s.operation_id.startswith("preview"):
            value = '`{"type": "soc"|"energy", "value", "time"}`'
        elif s.key.endswith(("planEnergy", "planSoc")):
            value = '`{"time", "value"[, "precondition"]}`'
        else:
            value = ", ".join(f"`{{{n}}}`" for n in s.params) or ("`true`" if s.method == "PATCH" else "—")
        path = s.path.replace(":path}", "}")
        lines.append(f"| {s.method} | `{path}` | {s.operation_id} | `{s.key}` | {value} |")
    return "\n".join(lines) + "\n"
