"""Charging sessions (one per row of the gateway's ``sessions`` table), sub-sessions, and boosts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from sqlmodel import Session, col, select

from services.gateway.fleet.auth import Principal
from services.gateway.fleet.common import (
    Routes,
    bool_filter,
    int_filter,
    page_by_id,
    page_descending,
    time_filter,
)
from services.gateway.fleet.context import FleetContext
from services.gateway.fleet.deps import (
    Db,
    ExpandParam,
    Fleet,
    PagingParam,
    Render,
    check_owned,
    expand_tree,
    list_response,
    require,
)
from services.gateway.fleet.models import FleetChargingSession, FleetSubSession
from services.gateway.fleet.problems import not_found
from services.gateway.fleet.render import Renderer
from services.gateway.fleet.subsessions import switch_boost
from services.gateway.fleet.sync import sub_session_events
from services.gateway.fleet.sync import sync_now as sync

routes = Routes(tags=["Charging Sessions"])

SESSION_EXPAND = ["sub_sessions", "evse", "vehicle", "evse.model", "vehicle.trim"]
SUB_EXPAND = ["charging_session", "evse", "vehicle", "tariff", "carbon_feed", "evse.model", "vehicle.trim"]
SessionRead = Annotated[Principal, Depends(require("charging_session:read"))]
SessionWrite = Annotated[Principal, Depends(require("charging_session:write"))]


def visible_session(db: Session, principal: Principal, session_id: str) -> FleetChargingSession:
    cs = db.get(FleetChargingSession, session_id)
    if cs is None:
        raise not_found()
    check_owned(principal, cs.user_id)
    return cs


@routes.route("GET", "/charging_sessions")
def list_sessions(
    request: Request,
    principal: SessionRead,
    db: Db,
    fleet: Fleet,
    render: Render,
    paging: PagingParam,
    expand: ExpandParam,
    evse_id: str | None = None,
    vehicle_id: str | None = None,
) -> JSONResponse:
    tree = expand_tree(expand, SESSION_EXPAND)
    page_request = paging.ids()
    sync(fleet, db)
    query = select(FleetChargingSession)
    if principal.user_id is not None:
        query = query.where(FleetChargingSession.user_id == principal.user_id)
    if evse_id is not None:
        query = query.where(FleetChargingSession.evse_id == evse_id)
    if vehicle_id is not None:
        query = query.where(FleetChargingSession.vehicle_id == vehicle_id)
    page = page_by_id(db, query, FleetChargingSession.id, page_request, descending=True)
    return list_response(request, page, lambda cs: render.charging_session(cs, tree))


@routes.route("GET", "/charging_sessions/{session_id}")
def get_session(
    session_id: str, principal: SessionRead, db: Db, fleet: Fleet, render: Render, expand: ExpandParam
) -> dict[str, Any]:
    tree = expand_tree(expand, SESSION_EXPAND)
    sync(fleet, db)
    return render.charging_session(visible_session(db, principal, session_id), tree)


async def _boost(
    session_id: str, principal: Principal, db: Session, fleet: FleetContext, render: Renderer, start: bool
) -> dict[str, Any]:
    sync(fleet, db)
    cs = visible_session(db, principal, session_id)
    await switch_boost(fleet, db, cs, sub_session_events(fleet), start=start)
    db.refresh(cs)
    return render.charging_session(cs, {})


@routes.route("POST", "/charging_sessions/{session_id}/boost_start")
async def boost_start(
    session_id: str, principal: SessionWrite, db: Db, fleet: Fleet, render: Render
) -> dict[str, Any]:
    """Fast-charge now: the loadpoint's mode becomes ``now`` until the boost ends."""
    return await _boost(session_id, principal, db, fleet, render, True)


@routes.route("POST", "/charging_sessions/{session_id}/boost_end")
async def boost_end(
    session_id: str, principal: SessionWrite, db: Db, fleet: Fleet, render: Render
) -> dict[str, Any]:
    """Back to smart charging: the mode the loadpoint had before the boost is restored."""
    return await _boost(session_id, principal, db, fleet, render, False)


# --- sub-sessions ----------------------------------------------------------------------------------------


@routes.route("GET", "/charging_sub_sessions")
def list_sub_sessions(
    request: Request,
    principal: SessionRead,
    db: Db,
    fleet: Fleet,
    render: Render,
    paging: PagingParam,
    expand: ExpandParam,
    evse_id: str | None = None,
    vehicle_id: str | None = None,
    user_id: str | None = None,
    is_finished: str | None = None,
    mode: str | None = None,
    start__gt: str | None = None,
    start__lt: str | None = None,
    end__gt: str | None = None,
    end__lt: str | None = None,
    energy_delivered_watt_hours__gte: str | None = None,
    energy_delivered_watt_hours__lte: str | None = None,
) -> JSONResponse:
    """Newest first, with the spec's filters."""
    tree = expand_tree(expand, SUB_EXPAND)
    page_request = paging.ids()
    finished = bool_filter(is_finished, "is_finished")
    s_gt, s_lt = time_filter(start__gt, "start__gt"), time_filter(start__lt, "start__lt")
    e_gt, e_lt = time_filter(end__gt, "end__gt"), time_filter(end__lt, "end__lt")
    wh_gte = int_filter(energy_delivered_watt_hours__gte, "energy_delivered_watt_hours__gte")
    wh_lte = int_filter(energy_delivered_watt_hours__lte, "energy_delivered_watt_hours__lte")
    sync(fleet, db)
    query = select(FleetSubSession).join(
        FleetChargingSession,
        col(FleetChargingSession.id) == col(FleetSubSession.charging_session_id),
    )
    for column, wanted in (
        (FleetChargingSession.user_id, principal.user_id),
        (FleetChargingSession.evse_id, evse_id),
        (FleetChargingSession.vehicle_id, vehicle_id),
        (FleetSubSession.mode, mode),
    ):
        if wanted is not None:
            query = query.where(col(column) == wanted)
    if user_id is not None:
        query = query.where(col(FleetChargingSession.user_id) == user_id)
    if finished is not None:
        end = col(FleetSubSession.end)
        query = query.where(end.is_not(None) if finished else end.is_(None))
    times: tuple[tuple[Any, datetime | None, bool], ...] = (
        (FleetSubSession.start, s_gt, True),
        (FleetSubSession.start, s_lt, False),
        (FleetSubSession.end, e_gt, True),
        (FleetSubSession.end, e_lt, False),
    )
    for stamp, bound, greater in times:
        if bound is not None:
            query = query.where(col(stamp) > bound if greater else col(stamp) < bound)
    if wh_gte is None and wh_lte is None:
        page = page_by_id(db, query, FleetSubSession.id, page_request, descending=True)
    else:  # the delivered energy is computed, not stored: filter the candidates in memory
        rows = list(db.exec(query).all())
        energies = {s.id: render.sub_session(s, {})["energy_delivered_watt_hours"] for s in rows}
        rows = [
            s
            for s in rows
            if (wh_gte is None or energies[s.id] >= wh_gte) and (wh_lte is None or energies[s.id] <= wh_lte)
        ]
        page = page_descending(rows, page_request, lambda s: s.id)
    return list_response(request, page, lambda s: render.sub_session(s, tree))


@routes.route("GET", "/charging_sub_sessions/{sub_session_id}")
def get_sub_session(
    sub_session_id: str, principal: SessionRead, db: Db, fleet: Fleet, render: Render, expand: ExpandParam
) -> dict[str, Any]:
    tree = expand_tree(expand, SUB_EXPAND)
    sync(fleet, db)
    s = db.get(FleetSubSession, sub_session_id)
    if s is None:
        raise not_found()
    cs = visible_session(db, principal, s.charging_session_id)
    return render.sub_session(s, tree, cs)
