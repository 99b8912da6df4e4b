"""``/api/system/*`` (protected): recent log lines, log areas, shutdown."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from services.gateway.deps import AdminSession, Ctx
from services.gateway.errors import ApiError
from services.gateway.logview import LEVELS, areas, render, select_lines
from services.gateway.responses import result

router = APIRouter()


@router.get("/system/log", operation_id="getSystemLogs", tags=["system"], response_model=None)
def system_log(
    request: Request,
    ctx: Ctx,
    _: AdminSession,
    level: Annotated[str | None, Query()] = None,
    areas_: Annotated[list[str] | None, Query(alias="areas")] = None,
    count: Annotated[str | None, Query()] = None,
    format: Annotated[str | None, Query()] = None,
) -> Response:
    """The newest ``count`` lines at ``level`` or above, optionally only from ``areas``."""
    wanted_level = (level or "DEBUG").upper()
    if wanted_level not in LEVELS:
        raise ApiError(400, f"invalid level {level!r}: expected one of {', '.join(LEVELS)}")
    limit: int | None = None
    if count is not None:
        if not count.isdigit():
            raise ApiError(400, f"invalid count {count!r}: expected a whole number ≥ 0")
        limit = int(count)
    if format not in (None, "", "txt"):
        raise ApiError(400, f"invalid format {format!r}: expected txt")
    wanted_areas = {a.strip() for item in areas_ or [] for a in item.split(",") if a.strip()}
    lines = [render(e) for e in select_lines(list(ctx.recent.lines), wanted_level, wanted_areas, limit)]
    if format == "txt":
        return PlainTextResponse(
            "\n".join(lines) + ("\n" if lines else ""),
            headers={"Content-Disposition": 'attachment; filename="chargebus.log"'},
        )
    return result(request, lines)


@router.get("/system/log/areas", operation_id="getLogAreas", tags=["system"])
def log_areas(request: Request, ctx: Ctx, _: AdminSession) -> JSONResponse:
    found: list[Any] = areas(list(ctx.recent.lines))
    return result(request, found)


@router.post("/system/shutdown", operation_id="shutdownSystem", tags=["system"], status_code=204)
def shutdown(ctx: Ctx, _: AdminSession) -> Response:
    """Stop the gateway cleanly; the supervisor (docker, systemd, the demo) restarts it."""
    ctx.shutdown.set()
    return Response(status_code=204)
