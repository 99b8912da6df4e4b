"""Response shapes shared by the evcc routes: the ``{"result": …}`` wrapper (errors: ``errors.py``)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from shared.encoding import go_json


class EvccJSONResponse(JSONResponse):
    """JSON written as evcc (Go) writes it: ``16`` not ``16.0``, no float noise, RFC 3339 ``Z`` times."""

    def render(self, content: Any) -> bytes:
        return go_json(content).encode("utf-8")


def wrap(request: Request, value: Any) -> Any:
    """The body for ``value``: the spec's ``{"result": value}`` unless ``gateway.wrap_result`` is off
    (evcc ≥ 0.207 answers with the bare value)."""
    return {"result": value} if request.app.state.ctx.config.gateway.wrap_result else value


def result(request: Request, value: Any, status: int = 200) -> JSONResponse:
    return EvccJSONResponse(wrap(request, value), status_code=status)
