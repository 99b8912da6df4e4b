"""The route class of every fleet route: the conventions that must hold for every response.

A router cannot install exception handlers or middleware on the app that includes it, so the fleet
conventions live in the route itself: problem+json for every error, ``EvEnergy-Version`` checked and
echoed, rate-limit headers on every response and 429 when a bucket is empty.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from services.gateway.fleet.context import get_fleet
from services.gateway.fleet.lifecycle import ensure_started
from services.gateway.fleet.problems import ProblemError, bad_request, rate_limited, validation_failed
from services.gateway.fleet.ratelimit import Decision

API_VERSION = "2"
ANONYMOUS_LIMIT_PER_HOUR = 1000
SUPPORTED_VERSIONS = {"2", "2.0"}


def check_version(request: Request) -> None:
    wanted = request.headers.get("EvEnergy-Version")
    if wanted is not None and wanted.strip() not in SUPPORTED_VERSIONS:
        raise bad_request(
            f"Unsupported version requested: {wanted.strip()}", title="Unsupported version", kind="version"
        )


def anonymous_key(request: Request) -> str:
    return f"anon:{request.client.host if request.client else '-'}"


def field_errors(error: RequestValidationError) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for item in error.errors():
        loc = [str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path", "header")]
        name = ".".join(loc) or "body"
        message = str(item.get("msg", "invalid"))
        if item.get("type") == "missing":
            message = "This field is required."
        fields.setdefault(name, []).append(message)
    return fields


class FleetRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                if await ensure_started(request.app) is None:
                    raise ProblemError(
                        503, "Service unavailable", "The fleet API is not configured on this server."
                    )
                check_version(request)
                if "authorization" not in request.headers:
                    # Unauthenticated calls (the root, or a 401 on the way) share a per-address bucket.
                    decision = get_fleet(request).limiter.take(
                        anonymous_key(request), ANONYMOUS_LIMIT_PER_HOUR
                    )
                    request.state.fleet_rate = decision
                    if not decision.allowed:
                        raise rate_limited(decision.retry_after_s)
                response = await original(request)
            except ProblemError as problem:
                response = problem.response()
            except RequestValidationError as error:
                response = validation_failed(field_errors(error)).response()
            except HTTPException as error:
                response = ProblemError(error.status_code, "Error", str(error.detail)).response()
            decorate(request, response)
            return response

        return handler


def decorate(request: Request, response: Response) -> None:
    response.headers["EvEnergy-Version"] = API_VERSION
    decision: Decision | None = getattr(request.state, "fleet_rate", None)
    if decision is None and getattr(request.app.state, "fleet", None) is None:
        return
    if decision is None:
        decision = get_fleet(request).limiter.peek(anonymous_key(request), ANONYMOUS_LIMIT_PER_HOUR)
    response.headers["X-RateLimit-Limit"] = str(decision.limit)
    response.headers["X-RateLimit-Remaining"] = str(decision.remaining)


__all__ = ["API_VERSION", "FleetRoute", "check_version", "decorate", "field_errors"]
