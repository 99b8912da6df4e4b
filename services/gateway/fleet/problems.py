"""RFC 9457 problem details (``application/problem+json``) the way the ev.energy v2 API words them."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://api.ev.energy/v2/problems"


class ProblemError(Exception):
    """Raised anywhere below a fleet route; the route class turns it into a problem response."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        type_: str | None = None,
        field_errors: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type_
        self.field_errors = field_errors
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.type is not None:
            body["type"] = self.type
        body.update(status=self.status, title=self.title, detail=self.detail)
        if self.field_errors is not None:
            body["field_errors"] = self.field_errors
        return body

    def response(self) -> JSONResponse:
        return JSONResponse(
            self.body(), status_code=self.status, headers=self.headers, media_type=PROBLEM_MEDIA_TYPE
        )


def not_found() -> ProblemError:
    # The same answer for "missing" and "someone else's", so IDs of other users leak nothing.
    return ProblemError(404, "Not found", "Resource does not exist or cannot be accessed.")


def unauthorized(detail: str = "Authentication credentials were not provided.") -> ProblemError:
    return ProblemError(401, "Unauthorized", detail, headers={"WWW-Authenticate": 'Bearer realm="chargebus"'})


def forbidden(detail: str) -> ProblemError:
    return ProblemError(403, "Forbidden", detail)


def validation_failed(field_errors: dict[str, list[str]], what: str = "request") -> ProblemError:
    fields = ", ".join(sorted(field_errors))
    return ProblemError(
        400,
        "Request failed validation.",
        f"Error on fields: {fields}",
        type_=f"{PROBLEM_BASE}/validation-failed-{what}/",
        field_errors=field_errors,
    )


def bad_request(detail: str, *, title: str = "Bad request", kind: str = "bad-request") -> ProblemError:
    return ProblemError(400, title, detail, type_=f"{PROBLEM_BASE}/{kind}/")


def pagination_error(parameter: str) -> ProblemError:
    return ProblemError(
        400,
        "Invalid pagination parameter",
        f"Invalid value for pagination parameter: {parameter}",
        type_=f"{PROBLEM_BASE}/pagination-parameters/",
    )


def conflict(detail: str) -> ProblemError:
    return ProblemError(409, "Conflict", detail, type_=f"{PROBLEM_BASE}/conflict/")


def unavailable(detail: str) -> ProblemError:
    return ProblemError(503, "Service unavailable", detail, type_=f"{PROBLEM_BASE}/service-unavailable/")


def rate_limited(retry_after_s: int) -> ProblemError:
    return ProblemError(
        429,
        "Too Many Requests",
        f"Request was rate limited. Try again in {retry_after_s} seconds",
        type_=f"{PROBLEM_BASE}/rate-limit-exceeded/",
        headers={"Retry-After": str(retry_after_s)},
    )
