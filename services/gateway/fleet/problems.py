"""The fleet API's errors in ev.energy's words, as :class:`~services.gateway.errors.ApiError` (rendered as
RFC 9457 problems below ``/v2`` by ``services.gateway.errors``)."""

from __future__ import annotations

from services.gateway.errors import ApiError, validation_failed

__all__ = [
    "ApiError",
    "bad_request",
    "conflict",
    "forbidden",
    "not_found",
    "pagination_error",
    "rate_limited",
    "unauthorized",
    "unavailable",
    "validation_failed",
]


def not_found() -> ApiError:
    # The same answer for "missing" and "someone else's", so IDs of other users leak nothing.
    return ApiError(404, "Resource does not exist or cannot be accessed.", title="Not found")


def unauthorized(detail: str = "Authentication credentials were not provided.") -> ApiError:
    return ApiError(
        401, detail, title="Unauthorized", headers={"WWW-Authenticate": 'Bearer realm="chargebus"'}
    )


def forbidden(detail: str, kind: str | None = None) -> ApiError:
    return ApiError(403, detail, title="Forbidden", kind=kind)


def bad_request(detail: str, *, title: str = "Bad request", kind: str = "bad-request") -> ApiError:
    return ApiError(400, detail, title=title, kind=kind)


def pagination_error(parameter: str) -> ApiError:
    return ApiError(
        400,
        f"Invalid value for pagination parameter: {parameter}",
        title="Invalid pagination parameter",
        kind="pagination-parameters",
    )


def conflict(detail: str) -> ApiError:
    return ApiError(409, detail, title="Conflict", kind="conflict")


def unavailable(detail: str) -> ApiError:
    return ApiError(503, detail, title="Service unavailable", kind="service-unavailable")


def rate_limited(retry_after_s: int) -> ApiError:
    return ApiError(
        429,
        f"Request was rate limited. Try again in {retry_after_s} seconds",
        title="Too Many Requests",
        kind="rate-limit-exceeded",
        headers={"Retry-After": str(retry_after_s)},
    )
