"""Read-only routes: ``/api/state`` (with jq), ``/api/health``, ``/api/tariff/{type}``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from services.gateway.auth import client_key
from services.gateway.context import GatewayContext
from services.gateway.deps import Ctx
from services.gateway.errors import ApiError
from services.gateway.jq_eval import JqBusy, JqError, JqThrottled
from services.gateway.owner import OWNER
from services.gateway.responses import result
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


async def run_jq(request: Request, ctx: GatewayContext, expression: str, document: Any) -> Any:
    """Exactly one result of ``expression`` on ``document``; :class:`ApiError` 400 for a bad program,
    429 for a client over its share, 503 when every evaluator is busy."""
    try:
        return await ctx.jq.evaluate(
            client_key(request), strip_result_prefix(expression), document, json.dumps(document).encode()
        )
    except JqThrottled as error:
        raise ApiError(429, str(error), retry_after_s=error.retry_after_s) from None
    except JqBusy as error:
        raise ApiError(503, str(error), retry_after_s=ctx.config.gateway.jq.timeout_s) from None
    except JqError as error:
        raise ApiError(400, str(error)) from None


@router.get("/state", operation_id="getState", tags=["general"])
async def get_state(request: Request, ctx: Ctx, jq: Annotated[str | None, Query()] = None) -> JSONResponse:
    """The whole state; ``jq`` filters it to exactly one value."""
    state = ctx.store.api_state()
    if jq is not None and jq != "":
        return result(request, await run_jq(request, ctx, jq, state))
    return result(request, state)


def health_problem(ctx: GatewayContext, now: datetime) -> str | None:
    """Why the system is unhealthy, or None: the optimizer must be online and the tree fresh."""
    if not ctx.bus.connected.is_set():
        return "gateway is not connected to the MQTT broker"
    online = ctx.store.service_online(OWNER)
    if online is None:
        return f"{OWNER} has not reported its status"
    if not online:
        return f"{OWNER} is offline"
    updated = ctx.store.updated()
    if updated is None:
        return "no state update received yet"
    max_age = max(MIN_HEALTH_AGE_S, 3 * ctx.config.optimizer.interval_s)
    age = (now - updated).total_seconds()
    if age > max_age:
        return f"state is stale: last update {age:.0f} s ago (limit {max_age:.0f} s)"
    return None


@router.get("/health", operation_id="healthCheck", tags=["general"], response_model=None)
def health(ctx: Ctx) -> Response:
    """200 ``OK`` when the optimizer runs and state is fresh, else 503 with the reason."""
    problem = health_problem(ctx, datetime.now(UTC))
    if problem is not None:
        return JSONResponse({"error": problem}, status_code=503)
    return PlainTextResponse("OK")


@router.get("/tariff/{type}", operation_id="getTariffInfo", tags=["tariffs"])
def tariff(request: Request, ctx: Ctx, type: str) -> JSONResponse:
    """The full rate series the tariff-fetcher published for this usage."""
    if type not in {u.value for u in TariffUsage}:
        raise ApiError(404, "tariff not available")
    series = ctx.store.tariffs.get(type)
    if series is None:
        raise ApiError(404, "tariff not available")
    rates = [{"start": r.start, "end": r.end, "value": r.value} for r in series.rates]
    return result(request, {"rates": rates})
