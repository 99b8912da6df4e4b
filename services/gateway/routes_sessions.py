"""``/api/sessions`` and ``/api/session/{id}`` (reference §6.3): list with year/month filters as JSON or
CSV, edit vehicle/loadpoint/odometer, delete. Sessions themselves are written from the bus
(:mod:`services.gateway.events`)."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session, col, select

from services.gateway.context import GatewayContext
from services.gateway.deps import Ctx, SetterSession
from services.gateway.errors import ApiError
from services.gateway.responses import result, wrap
from services.gateway.sessions_export import (
    MIN_CHARGED_KWH,
    export_filename,
    in_period,
    pick_language,
    session_json,
    sessions_csv,
)
from shared.db import ChargingSession, session_scope

router = APIRouter()
EDITABLE = {"vehicle": str, "loadpoint": str, "odometer": float}
MAX_TEXT = 255
WHOLE = re.compile(r"-?[0-9]{1,9}")

_UPDATE_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "vehicle": {"type": ["string", "null"]},
                    "loadpoint": {"type": ["string", "null"]},
                    "odometer": {"type": ["number", "null"]},
                },
            }
        }
    },
}


def site_zone(ctx: GatewayContext) -> ZoneInfo:
    try:
        return ZoneInfo(ctx.config.site.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _int_param(name: str, raw: str | None, low: int | None = None, high: int | None = None) -> int | None:
    """An optional whole-number query parameter (sign allowed, at most 9 digits), within low..high."""
    if raw is None or raw == "":
        return None
    if (
        not WHOLE.fullmatch(raw)
        or (low is not None and int(raw) < low)
        or (high is not None and int(raw) > high)
    ):
        bounds = f" {low}..{high}" if low is not None else ""
        raise ApiError(400, f"invalid {name} {raw[:32]!r}: expected a whole number{bounds}")
    return int(raw)


def _session_id(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1 or int(raw) > 2**63 - 1:
        raise ApiError(400, f"invalid session id {raw!r}: expected a whole number ≥ 1")
    return int(raw)


def list_sessions(ctx: GatewayContext, year: int | None, month: int | None) -> list[ChargingSession]:
    zone = site_zone(ctx)
    with Session(ctx.engine) as session:
        rows = session.exec(
            select(ChargingSession)
            .where(ChargingSession.charged_kwh >= MIN_CHARGED_KWH)
            .order_by(col(ChargingSession.created).desc(), col(ChargingSession.id).desc())
        ).all()
    return [r for r in rows if in_period(r, year, month, zone)]


@router.get("/sessions", operation_id="getSessions", tags=["sessions"], response_model=None)
async def get_sessions(
    request: Request,
    ctx: Ctx,
    year: Annotated[str | None, Query()] = None,
    month: Annotated[str | None, Query()] = None,
    format: Annotated[str | None, Query()] = None,
    lang: Annotated[str | None, Query()] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> Response:
    """Sessions with ≥ 0.05 kWh, newest first; ``format=csv`` downloads them, ``format=json`` as a file."""
    year_value = _int_param("year", year)  # any year: one without sessions lists none
    month_value = _int_param("month", month, 1, 12)
    if year_value is None:
        month_value = None  # as evcc: the month filters only within a year
    if format not in (None, "", "json", "csv"):
        raise ApiError(400, f"invalid format {format!r}: expected json or csv")
    rows = await run_in_threadpool(list_sessions, ctx, year_value, month_value)
    zone = site_zone(ctx)
    if format == "csv":
        body = sessions_csv(rows, pick_language(lang, accept_language), zone)
        filename = export_filename(year_value, month_value, "csv")
        return Response(
            body.encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    items = [session_json(r, zone) for r in rows]
    if format == "json":
        filename = export_filename(year_value, month_value, "json")
        return JSONResponse(
            wrap(request, items), headers={"Content-Disposition": f'attachment; filename="{filename}"'}
        )
    return result(request, items)


def _edits(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "invalid body: expected a JSON object")
    edits: dict[str, Any] = {}
    for name, value in body.items():
        if name not in EDITABLE:  # as evcc: other fields are ignored, never stored
            continue
        if value is None:
            edits[name] = None
        elif EDITABLE[name] is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ApiError(400, f"invalid {name}: expected a number ≥ 0 or null")
            edits[name] = float(value)
        else:
            if not isinstance(value, str) or len(value) > MAX_TEXT:
                raise ApiError(400, f"invalid {name}: expected a text up to {MAX_TEXT} characters or null")
            edits[name] = value
    if "loadpoint" in edits and edits["loadpoint"] is None:
        edits["loadpoint"] = ""  # the column is NOT NULL in evcc too; "cleared" is empty
    return edits


def _sessions_changed(ctx: GatewayContext) -> None:
    ctx.sessions_changed.set()


def update_session(ctx: GatewayContext, session_id: int, edits: dict[str, Any]) -> dict[str, Any]:
    with session_scope(ctx.engine) as session:
        row = session.get(ChargingSession, session_id)
        if row is None:
            raise ApiError(404, f"session {session_id} not found")
        for name, value in edits.items():
            setattr(row, name, value)
        session.add(row)
        session.flush()
        return session_json(row, site_zone(ctx))


def delete_session(ctx: GatewayContext, session_id: int) -> None:
    with session_scope(ctx.engine) as session:
        row = session.get(ChargingSession, session_id)
        if row is None:
            raise ApiError(404, f"session {session_id} not found")
        session.delete(row)


@router.put(
    "/session/{id}",
    operation_id="updateSession",
    tags=["sessions"],
    openapi_extra={"requestBody": _UPDATE_BODY},
)
async def put_session(request: Request, ctx: Ctx, _: SetterSession, id: str) -> JSONResponse:
    """Change the vehicle, loadpoint title or odometer of a session (``null`` clears)."""
    session_id = _session_id(id)
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        raise ApiError(400, "invalid body: not JSON") from None
    edits = _edits(body)
    updated = await run_in_threadpool(update_session, ctx, session_id, edits)
    _sessions_changed(ctx)
    return result(request, updated)


@router.delete("/session/{id}", operation_id="deleteSession", tags=["sessions"])
async def remove_session(request: Request, ctx: Ctx, _: SetterSession, id: str) -> JSONResponse:
    await run_in_threadpool(delete_session, ctx, _session_id(id))
    _sessions_changed(ctx)
    return result(request, None)
