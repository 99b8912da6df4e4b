"""The route classes of the fleet API: bound to one :class:`FleetContext`, and carrying the conventions
that must hold for every ``/v2`` response.

``build_router(ctx)`` makes route classes bound to ``ctx`` (:func:`bound`); a dependency finds its context
on the route that matched (:func:`get_fleet`). Every ``/v2`` response gets ``EvEnergy-Version`` and the
rate-limit headers, every error is an RFC 9457 problem (rendered by ``services.gateway.errors``), an
empty rate-limit bucket answers 429, and a write carrying ``Idempotency-Key`` answers what its first
attempt did (:mod:`services.gateway.fleet.idempotency`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlmodel import Session
from starlette.exceptions import HTTPException

from services.gateway.errors import ApiError, as_api_error, problem_response
from services.gateway.fleet.auth import lookup_token
from services.gateway.fleet.context import FleetContext
from services.gateway.fleet.idempotency import MAX_KEY_CHARS, Stored
from services.gateway.fleet.problems import bad_request, conflict, rate_limited
from services.gateway.fleet.ratelimit import Decision

API_VERSION = "2"
ANONYMOUS_LIMIT_PER_HOUR = 1000
SUPPORTED_VERSIONS = {"2", "2.0"}
WRITES = {"POST", "PATCH", "PUT", "DELETE"}
REPLAYED_HEADERS = ("content-type", "location", "link")


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


def _client_of(fleet: FleetContext, request: Request) -> str:
    """Whose idempotency keys these are: the token's client (a bad token gets its 401 from the route)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        with Session(fleet.engine) as db:
            found = lookup_token(db, token.strip(), fleet.now())
        if found is not None:
            return found[1].client_id
    return anonymous_key(request)


class FleetRoute(BoundRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()
        fleet = self.fleet

        async def answer(request: Request) -> Response:
            try:
                check_version(request)
                if "authorization" not in request.headers:
                    # Unauthenticated calls (the root, or a 401 on the way) share a per-address bucket.
                    decision = await run_in_threadpool(
                        fleet.limits.take, anonymous_key(request), ANONYMOUS_LIMIT_PER_HOUR
                    )
                    request.state.fleet_rate = decision
                    if not decision.allowed:
                        raise rate_limited(decision.retry_after_s)
                return await original(request)
            except (ApiError, RequestValidationError, HTTPException) as error:
                return problem_response(as_api_error(error))

        async def handler(request: Request) -> Response:
            key = request.headers.get("idempotency-key")
            if request.method in WRITES and key is not None:
                response = await _idempotent(fleet, request, key, answer)
            else:
                response = await answer(request)
            decision: Decision | None = getattr(request.state, "fleet_rate", None)
            if decision is None:
                decision = await run_in_threadpool(
                    fleet.limits.peek, anonymous_key(request), ANONYMOUS_LIMIT_PER_HOUR
                )
            decorate(response, decision)
            return response

        return handler


async def _idempotent(
    fleet: FleetContext,
    request: Request,
    key: str,
    answer: Callable[[Request], Coroutine[Any, Any, Response]],
) -> Response:
    if not key or len(key) > MAX_KEY_CHARS:
        return problem_response(bad_request(f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} characters."))
    body = await request.body()
    digest = hashlib.sha256(f"{request.method} {request.url.path}?{request.url.query}\n".encode() + body)
    client = await run_in_threadpool(_client_of, fleet, request)
    scoped = f"{client}:{key}"
    claim = await run_in_threadpool(fleet.idempotency.claim, scoped, digest.hexdigest(), fleet.now())
    if claim.outcome == "mismatch":
        return problem_response(
            ApiError(
                422,
                "This Idempotency-Key was used for a different request.",
                title="Unprocessable Entity",
                kind="idempotency-key-reused",
            )
        )
    if claim.outcome == "running":
        return problem_response(conflict("A request with this Idempotency-Key is still being processed."))
    if claim.outcome == "replay" and claim.stored is not None:
        stored = claim.stored
        response = Response(stored.body, status_code=stored.status, headers=stored.headers)
        response.headers["Idempotent-Replayed"] = "true"
        return response
    try:
        response = await answer(request)
    except BaseException:
        await run_in_threadpool(fleet.idempotency.release, scoped)
        raise
    if response.status_code >= 500:
        await run_in_threadpool(fleet.idempotency.release, scoped)
        return response
    content = getattr(response, "body", b"")
    headers = {k: v for k, v in response.headers.items() if k.lower() in REPLAYED_HEADERS}
    await run_in_threadpool(
        fleet.idempotency.complete, scoped, Stored(response.status_code, content, headers)
    )
    return response


def decorate(response: Response, decision: Decision) -> None:
    response.headers["EvEnergy-Version"] = API_VERSION
    response.headers["X-RateLimit-Limit"] = str(decision.limit)
    response.headers["X-RateLimit-Remaining"] = str(decision.remaining)


def bound(ctx: FleetContext, base: type[BoundRoute] = FleetRoute) -> type[BoundRoute]:
    """A route class serving ``ctx`` (``FleetRoute`` conventions unless another base is given)."""

    class Bound(base):  # type: ignore[valid-type,misc]
        fleet = ctx

    return Bound


__all__ = ["API_VERSION", "BoundRoute", "FleetRoute", "bound", "check_version", "decorate", "get_fleet"]
