"""evcc's REST setters, generated from the shared table of writable keys, and the plan reads.

Each route of :data:`shared.setters.table.WRITABLE` becomes one endpoint: the loadpoint or vehicle is
checked (an unknown one is 404 whatever the value, as evcc's routes), the path values (or the JSON body, a
FastAPI body of the key's value model) are parsed with the key's value type — the same parse the owner and
the MQTT ``/set`` path use — and the parsed value goes as a request ``{"key": "<scope>/<target>/<key>",
"value": …}`` to the key's owner, whose confirmed value is shaped into evcc's answer. Bad input → 400 and
nothing is sent.
The plan reads (:data:`QUERIES`) ask the optimizer to compute without storing anything.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter

from services.gateway import params as p
from services.gateway.context import OWNER, GatewayContext, get_ctx
from services.gateway.deps import setter_session
from services.gateway.errors import ApiError
from services.gateway.owner import ask_owner
from services.gateway.responses import result
from shared.setters import values as v
from shared.setters.table import (
    WRITABLE,
    Answer,
    GoalParams,
    Param,
    Reset,
    Rest,
    Writable,
    rest_routes,
)
from shared.setters.table import Body as BodyValue
from shared.tree import Address

Args = dict[str, Any]
NS_PER_S = 1_000_000_000
BATTERY_MODE_CODES: dict[str, int] = {"unknown": 0, "normal": 1, "hold": 2, "charge": 3, "holdcharge": 4}
"""evcc's numeric battery modes (the REST answer is the number)."""

parse_vehicle_name = v.validator(v.VehicleName)
parse_precondition = v.validator(v.Precondition)


# --- answers: the owner's confirmed value in evcc's response shape ------------------------------------


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


def _vehicle_title(value: Any, args: Args, ctx: GatewayContext) -> Any:
    name = value if isinstance(value, str) and value else args.get("value")
    return {"vehicle": ctx.vehicle_title(str(name))}


ANSWERS: dict[Answer, Callable[[Any, Args, GatewayContext], Any]] = {
    Answer.SAME: lambda value, _a, _c: value,
    Answer.NULL: lambda _v, _a, _c: None,
    Answer.EMPTY: lambda _v, _a, _c: {},
    # delays are seconds on the bus; evcc's REST answer is a Go duration in nanoseconds
    Answer.NANOSECONDS: lambda value, _a, _c: (
        round(float(value) * NS_PER_S) if isinstance(value, (int, float)) else value
    ),
    Answer.BATTERY_MODE_CODE: lambda value, _a, _c: BATTERY_MODE_CODES.get(str(value), 0) if value else 0,
    Answer.SOC_OBJECT: lambda value, _a, _c: {"soc": value},
    Answer.ENERGY_GOAL: lambda value, _a, _c: _goal(value, "energy"),
    Answer.SOC_GOAL: lambda value, _a, _c: _goal(value, "soc"),
    Answer.VEHICLE_TITLE: _vehicle_title,
    Answer.PLANS: lambda value, _a, _c: {"plans": value if value is not None else []},
}


# --- targets -------------------------------------------------------------------------------------------


def check_loadpoint(ctx: GatewayContext, raw: str) -> int:
    if not (raw.isascii() and raw.isdigit() and int(raw) >= 1):
        raise ApiError(400, f"invalid loadpoint id {v.shown(raw)}: expected a number from 1")
    lp_id = int(raw)
    if lp_id not in ctx.loadpoint_ids():
        raise ApiError(404, f"loadpoint {lp_id} not found")
    return lp_id


def check_vehicle(ctx: GatewayContext, raw: str) -> str:
    try:
        name: str = parse_vehicle_name(raw)
    except v.Invalid:
        name = ""  # evcc's route does not match a malformed name either
    if name not in ctx.vehicle_names():
        raise ApiError(404, f"vehicle {v.shown(raw)} not found")
    return name


def check_targets(ctx: GatewayContext, path: dict[str, Any]) -> Args:
    """``{id}`` must be a configured loadpoint and ``{name}`` a known vehicle (target or value alike);
    checked before the values, so an unknown target is 404 whatever the value (as evcc's routes)."""
    out: Args = {}
    if "id" in path:
        out["id"] = check_loadpoint(ctx, str(path["id"]))
    if "name" in path:
        out["name"] = check_vehicle(ctx, str(path["name"]))
    return out


def _targets(request: Request) -> None:
    """Route dependency: runs before FastAPI validates a body."""
    request.state.targets = check_targets(get_ctx(request), dict(request.path_params))


# --- the setters ---------------------------------------------------------------------------------------


def raw_value(route: Rest, request: Request) -> Any:
    """The request value from the path (and query) as the client gave it (validated next, with the key's
    type)."""
    spec = route.value
    path = request.path_params
    if isinstance(spec, Param):
        return str(path[spec.name])
    if isinstance(spec, GoalParams):
        goal: Args = {"time": str(path[spec.time]), "value": str(path[spec.amount])}
        precondition = request.query_params.get("precondition")
        if precondition is not None:
            goal["precondition"] = p.parse("precondition", parse_precondition, precondition)
        return goal
    assert isinstance(spec, Reset)
    return None


def _value_name(entry: Writable, route: Rest) -> str:
    return route.value.name if isinstance(route.value, Param) else entry.key


def _target(entry: Writable, targets: Args) -> Any:
    if entry.scope == "loadpoints":
        return targets["id"]
    if entry.scope == "vehicles":
        return targets["name"]
    return None


def setter_endpoint(entry: Writable, route: Rest) -> Callable[..., Awaitable[JSONResponse]]:
    body_json = TypeAdapter(route.value.model) if isinstance(route.value, BodyValue) else None

    async def endpoint(request: Request, body: Any = None) -> JSONResponse:
        ctx = get_ctx(request)
        targets: Args = request.state.targets
        raw = raw_value(route, request) if body_json is None else body_json.dump_python(body, mode="json")
        value = p.parse(_value_name(entry, route), entry.parse, raw)
        key = Address(entry.scope, _target(entry, targets), entry.key).path
        confirmed = await ask_owner(ctx.owner_link(entry.owner), key, entry.dump(value), entry.owner)
        args = {"value": entry.dump(value), **targets}
        return result(request, ANSWERS[route.answer](confirmed, args, ctx))

    parameters = [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)]
    if isinstance(route.value, BodyValue):
        parameters.append(
            inspect.Parameter(
                "body",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                annotation=Annotated[route.value.model, Body()],
            )
        )
    endpoint.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    endpoint.__name__ = route.operation_id
    return endpoint


# --- plan reads (the optimizer computes; nothing changes) ---------------------------------------------

Build = Callable[[Args], Any]


@dataclass(frozen=True)
class Query:
    method: str
    path: str
    operation_id: str
    key: str
    """The request key below the state root, formatted with the loadpoint id."""
    params: dict[str, Any] = field(default_factory=dict)
    """Path parameter → value type."""
    value: Build = lambda _args: None
    answer: Callable[[Any], Any] = lambda value: value


def _preview(kind: str) -> Build:
    return lambda args: {"type": kind, "value": args[kind], "time": args["timestamp"].isoformat()}


def _repeating_preview(args: Args) -> Any:
    """A repeating plan is previewed as the SoC goal at its next occurrence."""
    now = datetime.now(UTC)
    target = v.next_occurrence(args["weekdays"], args["hourMinuteTime"], args["timezone"], now)
    if target is None:
        raise ApiError(400, "invalid weekdays: no upcoming day")
    return {"type": "soc", "value": args["soc"], "time": target.isoformat()}


LP = "/loadpoints/{id}"
PREVIEW = "loadpoints/{id}/plan/preview"
QUERIES: list[Query] = [
    Query("GET", LP + "/plan", "getLoadpointPlan", "loadpoints/{id}/plan"),
    Query(
        "GET",
        LP + "/plan/repeating/preview/{soc}/{weekdays}/{hourMinuteTime}/{timezone:path}",
        "previewLoadpointRepeatingPlan",
        PREVIEW,
        {"soc": v.Soc, "weekdays": v.Weekdays, "hourMinuteTime": v.HourMinute, "timezone": v.TimeZone},
        _repeating_preview,
    ),
    Query(
        "GET",
        LP + "/plan/static/preview/soc/{soc}/{timestamp}",
        "previewLoadpointSocPlan",
        PREVIEW,
        {"soc": v.Soc, "timestamp": v.PlanTime},
        _preview("soc"),
    ),
    Query(
        "GET",
        LP + "/plan/static/preview/energy/{energy}/{timestamp}",
        "previewLoadpointEnergyPlan",
        PREVIEW,
        {"energy": v.Energy, "timestamp": v.PlanTime},
        _preview("energy"),
    ),
    Query(
        "PATCH",
        LP + "/vehicle",
        "startLoadpointVehicleDetection",
        "loadpoints/{id}/vehicleDetection",
        value=lambda _args: True,
        answer=lambda _value: {},
    ),
]
_QUERY_PARSERS = {id(q): {name: v.validator(kind) for name, kind in q.params.items()} for q in QUERIES}


def query_endpoint(query: Query) -> Callable[[Request], Awaitable[JSONResponse]]:
    parsers = _QUERY_PARSERS[id(query)]

    async def endpoint(request: Request) -> JSONResponse:
        ctx = get_ctx(request)
        raw = request.path_params
        args: Args = dict(request.state.targets)
        args |= {name: p.parse(name, parse, str(raw[name])) for name, parse in parsers.items()}
        confirmed = await ask_owner(ctx.owner_link(OWNER), query.key.format(**args), query.value(args), OWNER)
        return result(request, query.answer(confirmed))

    endpoint.__name__ = query.operation_id
    return endpoint


# --- the router ----------------------------------------------------------------------------------------


_SCHEMAS: dict[str, dict[str, Any]] = {
    "id": {"type": "integer", "minimum": 1},
    "name": {"type": "string", "pattern": v.VEHICLE_NAME, "maxLength": v.MAX_NAME},
    "timestamp": {"type": "string", "format": "date-time"},
}


def _openapi(path: str, schemas: dict[str, dict[str, Any]], query: tuple[str, ...] = ()) -> dict[str, Any]:
    names = re.findall(r"{(\w+)(?::\w+)?}", path)
    parameters: list[dict[str, Any]] = [
        {"name": n, "in": "path", "required": True, "schema": schemas.get(n, {"type": "string"})}
        for n in names
    ]
    parameters += [
        {"name": n, "in": "query", "required": False, "schema": schemas.get(n, {"type": "string"})}
        for n in query
    ]
    return {"parameters": parameters}


def _setter_schemas(entry: Writable, route: Rest) -> dict[str, dict[str, Any]]:
    schemas = dict(_SCHEMAS)
    if isinstance(route.value, Param):
        schemas[route.value.name] = entry.json_schema()
    if isinstance(route.value, GoalParams):
        schemas[route.value.amount] = {"type": "number", "minimum": 0}
        schemas["precondition"] = {"type": "integer", "minimum": 0, "maximum": v.MAX_PRECONDITION_S}
    return schemas


def build_router() -> APIRouter:
    router = APIRouter()
    for entry, route in rest_routes():
        query = ("precondition",) if isinstance(route.value, GoalParams) else ()
        router.add_api_route(
            route.path,
            setter_endpoint(entry, route),
            methods=[route.method],
            operation_id=route.operation_id,
            tags=[route.tag],
            dependencies=[Depends(setter_session), Depends(_targets)],
            openapi_extra=_openapi(route.path, _setter_schemas(entry, route), query),
            response_model=None,
        )
    for q in QUERIES:
        router.add_api_route(
            q.path,
            query_endpoint(q),
            methods=[q.method],
            operation_id=q.operation_id,
            tags=["loadpoints"],
            # plan reads change nothing; starting a vehicle detection is a command
            dependencies=[Depends(setter_session), Depends(_targets)]
            if q.method != "GET"
            else [Depends(_targets)],
            openapi_extra=_openapi(q.path, _SCHEMAS),
            response_model=None,
        )
    return router


def _request_value(entry: Writable, route: Rest) -> str:
    spec = route.value
    if isinstance(spec, Reset):
        return "`null` (reset)"
    if isinstance(spec, BodyValue):
        return "the JSON body"
    if isinstance(spec, GoalParams):
        return f'`{{"time": {{{spec.time}}}, "value": {{{spec.amount}}}[, "precondition"]}}`'
    return f"`{{{spec.name}}}`"


def setter_table() -> str:
    """The Markdown table of REST setters and plan reads for docs/api.md, generated from the code."""
    lines = [
        "| method | path (below `/api`) | operation | request key → owner | request value |",
        "|---|---|---|---|---|",
    ]
    for entry in WRITABLE:
        for route in entry.rest:
            target = {"site": "", "loadpoints": "{id}/", "vehicles": "{name}/"}[entry.scope]
            key = f"{entry.scope}/{target}{entry.key}"
            lines.append(
                f"| {route.method} | `{route.path}` | {route.operation_id} | `{key}` → {entry.owner} | "
                f"{_request_value(entry, route)} |"
            )
    for q in QUERIES:
        value = "—" if q.method == "GET" and "preview" not in q.key else '`{"type", "value", "time"}`'
        if q.method == "PATCH":
            value = "`true`"
        lines.append(
            f"| {q.method} | `{q.path.replace(':path}', '}')}` | {q.operation_id} | `{q.key}` → {OWNER} | "
            f"{value} |"
        )
    return "\n".join(lines) + "\n"
