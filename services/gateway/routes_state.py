"""Read-only routes: ``/api/state`` (with jq), ``/api/health``, ``/api/tariff/{type}``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from services.gateway.auth import client_key
from services.gateway.context import GatewayContext
from services.gateway.deps import Ctx
from services.gateway.errors import ApiError
from services.gateway.jq_eval import JqBusy, JqError, JqThrottled
from services.gateway.middleware import NOSNIFF, Scope, Send, StateResponder, send_json
from services.gateway.owner import OWNER
from services.gateway.responses import result
from services.gateway.state_store import StateSnapshot
from shared.messages import TariffUsage

router = APIRouter()

MIN_HEALTH_AGE_S = 60.0


def strip_result_prefix(expression: str) -> str:
    """Old clients filter the wrapped document (``.result.loadpoints``); evcc strips the ``.result``."""
    expression = expression.strip()
    if not expression.startswith(".result"):
        return expression
    rest = expression[len(".result") :]
    if rest == "" or rest.isspace():
        return "."
    if rest[0] == ".":
        return rest
    if rest[0] in "[|":
        return "." + rest
    return expression


async def run_jq(request: Request, ctx: GatewayContext, expression: str, snapshot: StateSnapshot) -> Any:
    """Exactly one result of ``expression`` on the snapshot's document; :class:`ApiError` 400 for a bad
    program, 429 for a client over its share, 503 when every evaluator is busy."""
    try:
        return await ctx.jq.evaluate(client_key(request), expression, snapshot.document, snapshot.body)
    except JqThrottled as error:
        raise ApiError(429, str(error), retry_after_s=error.retry_after_s) from None
    except JqBusy as error:
        raise ApiError(503, str(error), retry_after_s=ctx.config.gateway.jq.timeout_s) from None
    except JqError as error:
        raise ApiError(400, str(error)) from None


def not_ready_message(snapshot: StateSnapshot) -> str:
    return f"starting: waiting for {', '.join(snapshot.missing)} from the bus"


def not_ready(snapshot: StateSnapshot) -> ApiError:
    """503 while the tree lacks part of the configured system (the reason names what)."""
    return ApiError(503, not_ready_message(snapshot), retry_after_s=1)


def state_responder(ctx: GatewayContext) -> StateResponder:
    """The answer to ``GET /api/state`` without a filter (:func:`plain_state_read`): no routing, no
    encoding, the snapshot's bytes."""
    wrap = ctx.config.gateway.wrap_result
    json_type = (b"content-type", b"application/json")

    async def respond(_scope: Scope, send: Send) -> None:
        snapshot = ctx.store.snapshot()
        if not snapshot.ready:
            await send_json(send, 503, {"error": not_ready_message(snapshot)}, [(b"retry-after", b"1")])
            return
        body = snapshot.response_body(wrap)
        headers = [json_type, (b"content-length", str(len(body)).encode()), NOSNIFF]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return respond


@router.get("/state", operation_id="getState", tags=["general"], response_model=None)
async def get_state(request: Request, ctx: Ctx, jq: Annotated[str | None, Query()] = None) -> Response:
    """The whole state (the current snapshot's bytes); ``jq`` filters it to exactly one value. 503 until
    the configured site, loadpoints and vehicles have arrived."""
    snapshot = ctx.store.snapshot()
    if not snapshot.ready:
        raise not_ready(snapshot)
    expression = strip_result_prefix(jq or ".")
    if expression == ".":
        body = snapshot.response_body(ctx.config.gateway.wrap_result)
        return Response(body, media_type="application/json")
    return result(request, await run_jq(request, ctx, expression, snapshot))


def health_problems(ctx: GatewayContext, now: datetime) -> list[str]:
    """Everything that is wrong, most fundamental first; empty when healthy: the broker connected, the
    configured system complete in the tree, the optimizer online and its tree fresh, and no service
    offline or reporting problems."""
    if not ctx.bus.connected.is_set():
        return ["gateway is not connected to the MQTT broker"]
    store = ctx.store
    snapshot = store.snapshot()
    problems: list[str] = []
    if not snapshot.ready:
        problems.append(not_ready(snapshot).message)
    online = store.service_online(OWNER)
    if online is None:
        problems.append(f"{OWNER} has not reported its status")
    elif not online:
        problems.append(f"{OWNER} is offline")
    elif snapshot.updated is None:
        problems.append("no state update received yet")
    else:
        max_age = max(MIN_HEALTH_AGE_S, 3 * ctx.config.optimizer.interval_s)
        age = (now - snapshot.updated).total_seconds()
        if age > max_age:
            problems.append(f"state is stale: last update {age:.0f} s ago (limit {max_age:.0f} s)")
    for service, status in sorted(store.services.items()):
        if status.state != "online":
            if service != OWNER:
                problems.append(f"{service} is offline")
            continue
        reported = [*status.problems, *([status.error] if status.error else [])]
        problems.extend(f"{service}: {problem}" for problem in reported)
    return problems


@router.get(
    "/health",
    operation_id="healthCheck",
    tags=["general"],
    response_model=None,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string", "example": "OK"}}}}},
)
async def health(ctx: Ctx) -> Response:
    """200 ``OK`` when everything runs as it should, else 503 with every reason."""
    problems = health_problems(ctx, datetime.now(UTC))
    if problems:
        return JSONResponse({"error": "; ".join(problems), "problems": problems}, status_code=503)
    return PlainTextResponse("OK")


@router.get("/tariff/{type}", operation_id="getTariffInfo", tags=["tariffs"])
async def tariff(request: Request, ctx: Ctx, type: str) -> JSONResponse:
    """The full rate series the tariff-fetcher published for this usage."""
    if type not in {u.value for u in TariffUsage}:
        raise ApiError(404, "tariff not available")
    series = ctx.store.tariffs.get(type)
    if series is None:
        raise ApiError(404, "tariff not available")
    rates = [{"start": r.start, "end": r.end, "value": r.value} for r in series.rates]
    return result(request, {"rates": rates})
