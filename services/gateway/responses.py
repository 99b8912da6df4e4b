"""Response shapes shared by every route: the ``{"result": …}`` wrapper and ``{"error": …}`` bodies."""

from __future__ import annotations

import math
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from shared.encoding import go_json


class EvccJSONResponse(JSONResponse):
    """JSON written as evcc (Go) writes it: ``16`` not ``16.0``, no float noise, RFC 3339 ``Z`` times."""

    def render(self, content: Any) -> bytes:
        return go_json(content).encode("utf-8")


class ApiError(Exception):
    """Raised by a route to answer ``status`` with ``{"error": message}`` (and change nothing)."""

    def __init__(self, status: int, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after_s = retry_after_s


def error_response(status: int, message: str, *, retry_after_s: float | None = None) -> JSONResponse:
    headers = {"Retry-After": str(max(1, math.ceil(retry_after_s)))} if retry_after_s is not None else None
    return EvccJSONResponse({"error": message}, status_code=status, headers=headers)


def wrap(request: Request, value: Any) -> Any:
    """The body for ``value``: the spec's ``{"result": value}`` unless ``gateway.wrap_result`` is off
    (evcc ≥ 0.207 answers with the bare value)."""
    return {"result": value} if request.app.state.ctx.config.gateway.wrap_result else value


def result(request: Request, value: Any, status: int = 200) -> JSONResponse:
    return EvccJSONResponse(wrap(request, value), status_code=status)
