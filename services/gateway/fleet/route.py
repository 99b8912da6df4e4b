"""The route classes of the fleet API: bound to one :class:`FleetContext`, and carrying the conventions
that must hold for every ``/v2`` response.

``build_router(ctx)`` makes route classes bound to ``ctx`` (:func:`bound`); a dependency finds its context
on the route that matched (:func:`get_fleet`). Every ``/v2`` response gets ``EvEnergy-Version`` and the
rate-limit headers, every error is an RFC 9457 problem (rendered by ``services.gateway.errors``), and an
empty rate-limit bucket answers 429.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from services.gateway.errors import ApiError, as_api_error, problem_response
from services.gateway.fleet.context import FleetContext
from services.gateway.fleet.problems import bad_request, rate_limited
from services.gateway.fleet.ratelimit import Decision

API_VERSION = "2"
ANONYMOUS_LIMIT_PER_HOUR = 1000
SUPPORTED_VERSIONS = {"2", "2.0"}


class BoundRoute(APIRoute):
    """A route that knows the fleet context it serves (set on the subclass :func:`bound` makes)."""

    fleet: FleetContext


def get_fleet(request: Request) -> FleetContext:
    """The fleet context of the route serving ``request`` (a FastAPI dependency)."""
    route = request.scope.get("route")
    if not isinstance(route, BoundRoute):
        raise RuntimeError("fleet dependencies are only available on routes made by build_router")
    return route.fleet


def check_version(request: Request) -> None:
    wanted = request.headers.get("EvEnergy-Version")
    if wanted is not None and wanted.strip() not in SUPPORTED_VERSIONS:
        raise bad_request(
            f"Unsupported version requested: {wanted.strip()}", title="Unsupported version", kind="version"
        )


def anonymous_key(request: Request) -> str:
    return f"anon:{request.client.host if request.client else '-'}"


class FleetRoute(BoundRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()
        fleet = self.fleet

        async def handler(request: Request) -> Response:
            try:
                check_version(request)
                if "authorization" not in request.headers:
                    # Unauthenticated calls (the root, or a 401 on the way) share a per-address bucket.
                    decision = fleet.limiter.take(anonymous_key(request), ANONYMOUS_LIMIT_PER_HOUR)
                    request.state.fleet_rate = decision
                    if not decision.allowed:
                        raise rate_limited(decision.retry_after_s)
                response = await original(request)
            except (ApiError, RequestValidationError, HTTPException) as error:
                response = problem_response(as_api_error(error))
            decorate(fleet, request, response)
            return response

        return handler


def decorate(fleet: FleetContext, request: Request, response: Response) -> None:
    response.headers["EvEnergy-Version"] = API_VERSION
    decision: Decision | None = getattr(request.state, "fleet_rate", None)
    if decision is None:
        decision = fleet.limiter.peek(anonymous_key(request), ANONYMOUS_LIMIT_PER_HOUR)
    response.headers["X-RateLimit-Limit"] = str(decision.limit)
    response.headers["X-RateLimit-Remaining"] = str(decision.remaining)


def bound(ctx: FleetContext, base: type[BoundRoute] = FleetRoute) -> type[BoundRoute]:
    """A route class serving ``ctx`` (``FleetRoute`` conventions unless another base is given)."""

    class Bound(base):  # type: ignore[valid-type,misc]
        fleet = ctx

    return Bound


__all__ = ["API_VERSION", "BoundRoute", "FleetRoute", "bound", "check_version", "decorate", "get_fleet"]
