"""The gateway's one error vocabulary and the one place it becomes a response.

Every route raises :class:`ApiError` (or lets FastAPI raise a validation or HTTP error); how it looks on
the wire depends only on the API surface the request is on:

- evcc's REST API (``/api``, the web app): ``{"error": message}`` with the status, and ``Unauthorized`` as
  text/plain 401, as the evcc spec answers;
- the fleet API (``/v2``): RFC 9457 problem details (``application/problem+json``) in ev.energy's words.

:func:`install_error_handlers` wires this into an app; the fleet route class renders with
:func:`problem_response` so its own headers can be added to every error response too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.gateway.openapi_doc import MethodTable
from services.gateway.responses import EvccJSONResponse

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://api.ev.energy/v2/problems"


class ApiError(Exception):
    """Answer ``status`` and change nothing.

    ``message`` is the evcc ``error`` text and the problem ``detail``; ``title``, ``kind`` (the slug of
    the problem ``type`` URI), ``field_errors`` and ``headers`` refine the problem form; ``retry_after_s``
    becomes a ``Retry-After`` header (whole seconds, at least 1)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        title: str | None = None,
        kind: str | None = None,
        field_errors: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.title = title or _phrase(status)
        self.kind = kind
        self.field_errors = field_errors
        self.headers = dict(headers or {})
        self.retry_after_s = retry_after_s
        if retry_after_s is not None:
            self.headers["Retry-After"] = str(max(1, math.ceil(retry_after_s)))

    @property
    def type(self) -> str | None:
        return f"{PROBLEM_BASE}/{self.kind}/" if self.kind else None


class Unauthorized(ApiError):
    """No valid admin session: evcc answers a plain-text ``Unauthorized``."""

    def __init__(self, message: str = "Unauthorized", headers: dict[str, str] | None = None) -> None:
        super().__init__(401, message, headers=headers)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def field_errors(error: RequestValidationError) -> dict[str, list[str]]:
    """``{"location.latitude": ["…"]}`` from FastAPI's validation error (the ``body``/``query`` part of
    each location dropped)."""
    fields: dict[str, list[str]] = {}
    for item in error.errors():
        loc = [str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path", "header")]
        name = ".".join(loc) or "body"
        message = str(item.get("msg", "invalid"))
        if item.get("type") == "missing":
            message = "This field is required."
        fields.setdefault(name, []).append(message)
    return fields


def validation_failed(errors: dict[str, list[str]], what: str = "request") -> ApiError:
    """400 naming every bad field (ev.energy's ``validation-failed-<what>`` problem)."""
    detail = "; ".join(f"{name}: {', '.join(messages)}" for name, messages in sorted(errors.items()))
    return ApiError(
        400,
        f"invalid {what}: {detail}",
        title="Request failed validation.",
        kind=f"validation-failed-{what}",
        field_errors=errors,
    )


def as_api_error(error: Exception) -> ApiError:
    """Any error a route can raise, in the one vocabulary (unknown errors are not handled here)."""
    if isinstance(error, ApiError):
        return error
    if isinstance(error, RequestValidationError):
        return validation_failed(field_errors(error))
    if isinstance(error, StarletteHTTPException):
        return ApiError(error.status_code, str(error.detail), headers=dict(error.headers or {}))
    raise TypeError(f"not an API error: {type(error).__name__}")


def evcc_response(error: ApiError) -> Response:
    if isinstance(error, Unauthorized):
        return PlainTextResponse(error.message, status_code=401, headers=error.headers)
    return EvccJSONResponse({"error": error.message}, status_code=error.status, headers=error.headers)


def problem_body(error: ApiError) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if error.type is not None:
        body["type"] = error.type
    body.update(status=error.status, title=error.title, detail=_problem_detail(error))
    if error.field_errors is not None:
        body["field_errors"] = error.field_errors
    return body


def _problem_detail(error: ApiError) -> str:
    if error.field_errors is not None:  # ev.energy's wording; the fields themselves are in field_errors
        return f"Error on fields: {', '.join(sorted(error.field_errors))}"
    return error.message


def problem_response(error: ApiError) -> Response:
    return JSONResponse(
        problem_body(error), status_code=error.status, headers=error.headers, media_type=PROBLEM_MEDIA_TYPE
    )


def install_error_handlers(app: FastAPI, problem_prefixes: Sequence[str] = ("/v2",)) -> None:
    """Render errors as problems below ``problem_prefixes`` and as evcc errors everywhere else."""

    methods = MethodTable(app.openapi)

    def on_error(request: Request, error: Exception) -> Response:
        api_error = as_api_error(error)
        path = request.url.path
        if api_error.status == 405 and (allowed := methods.allowed(path)):
            # every method the path has, not only the first matching route's
            api_error.headers["Allow"] = ", ".join(sorted(allowed))
        if any(path == p or path.startswith(p + "/") for p in problem_prefixes):
            return problem_response(api_error)
        return evcc_response(api_error)

    async def handler(request: Request, error: Exception) -> Response:
        return on_error(request, error)

    for kind in (ApiError, RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(kind, handler)
