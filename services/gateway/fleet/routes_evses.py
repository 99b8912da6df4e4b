"""EVSEs (one per configured charger), their makes and models, status logs and command logs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from services.gateway.fleet import catalogue as cat
from services.gateway.fleet.auth import Principal
from services.gateway.fleet.common import Routes, page_ascending, page_by_id, time_filter
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
from services.gateway.fleet.expand import prefixed
from services.gateway.fleet.logpages import log_at, page_logs
from services.gateway.fleet.models import FleetEvse
from services.gateway.fleet.pagination import PageRequest, parse_page_size, timestamp_cursor
from services.gateway.fleet.problems import not_found
from shared.db import ChargerStatusLog, CommandLog

routes = Routes(tags=["EVSEs"])

EVSE_EXPAND = ["user", "model", "model.make", "latest_status_log"]
LOG_EXPAND = prefixed("evse", ["model", "model.make", "user"])
EvseRead = Annotated[Principal, Depends(require("evse:read"))]
EvseWrite = Annotated[Principal, Depends(require("evse:write"))]
DebugRead = Annotated[Principal, Depends(require("debug:read"))]


def visible_evse(db: Session, principal: Principal, evse_id: str) -> FleetEvse:
    evse = db.get(FleetEvse, evse_id)
    if evse is None or evse.decommissioned_at is not None:
        raise not_found()
    check_owned(principal, evse.user_id)
    return evse


@routes.route("GET", "/evses")
def list_evses(
    request: Request,
    principal: EvseRead,
    db: Db,
    render: Render,
    paging: PagingParam,
    expand: ExpandParam,
    cpid: str | None = None,
    site_id: str | None = None,
) -> JSONResponse:
    """Every EVSE the caller may see, of every site (``site_id`` narrows to one: a chargebus filter)."""
    tree = expand_tree(expand, EVSE_EXPAND)
    query = select(FleetEvse).where(col(FleetEvse.decommissioned_at).is_(None))
    if principal.user_id is not None:
        query = query.where(FleetEvse.user_id == principal.user_id)
    if cpid is not None:
        query = query.where(FleetEvse.charger == cpid)
    if site_id is not None:
        query = query.where(FleetEvse.site_id == site_id)
    page = page_by_id(db, query, FleetEvse.id, paging.ids())
    return list_response(request, page, lambda e: render.evse(e, tree))


@routes.route("GET", "/evses/{evse_id}")
def get_evse(
    evse_id: str, principal: EvseRead, db: Db, render: Render, expand: ExpandParam
) -> dict[str, Any]:
    tree = expand_tree(expand, EVSE_EXPAND)
    return render.evse(visible_evse(db, principal, evse_id), tree)


class Coordinates(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class EvsePatch(BaseModel):
    """Only the location is writable (everything else about an EVSE comes from its configuration)."""

    model_config = ConfigDict(extra="forbid")

    location: Coordinates | None


@routes.route("PATCH", "/evses/{evse_id}")
def patch_evse(
    evse_id: str, body: EvsePatch, principal: EvseWrite, db: Db, render: Render, expand: ExpandParam
) -> dict[str, Any]:
    tree = expand_tree(expand, EVSE_EXPAND)
    evse = visible_evse(db, principal, evse_id)
    evse.latitude = body.location.latitude if body.location else None
    evse.longitude = body.location.longitude if body.location else None
    db.add(evse)
    db.commit()
    db.refresh(evse)
    return render.evse(evse, tree)


@routes.route("DELETE", "/evses/{evse_id}", status_code=204)
def decommission_evse(evse_id: str, principal: EvseWrite, db: Db, fleet: Fleet) -> Response:
    """Decommission: the EVSE leaves the fleet view; its logs and sessions stay in the database."""
    evse = visible_evse(db, principal, evse_id)
    evse.lifecycle_state = "DECOMMISSIONED"
    evse.decommissioned_at = fleet.now()
    db.add(evse)
    db.commit()
    return Response(status_code=204)


# --- makes and models --------------------------------------------------------------------------------------


@routes.route("GET", "/evse_makes")
def list_evse_makes(request: Request, _: EvseRead, render: Render, paging: PagingParam) -> JSONResponse:
    page = page_ascending(list(cat.EVSE_MAKES), paging.ids(), lambda m: m.id)
    return list_response(request, page, lambda m: render.evse_make(m, {}))


@routes.route("GET", "/evse_makes/{make_id}")
def get_evse_make(make_id: str, _: EvseRead, render: Render) -> dict[str, Any]:
    make = cat.EVSE_MAKES_BY_ID.get(make_id)
    if make is None:
        raise not_found()
    return render.evse_make(make, {})


@routes.route("GET", "/evse_models")
def list_evse_models(
    request: Request,
    _: EvseRead,
    render: Render,
    paging: PagingParam,
    expand: ExpandParam,
    make_id: str | None = None,
) -> JSONResponse:
    tree = expand_tree(expand, ["make"])
    rows = [m for m in cat.EVSE_MODELS if make_id is None or m.make_id == make_id]
    page = page_ascending(rows, paging.ids(), lambda m: m.id)
    return list_response(request, page, lambda m: render.evse_model(m, tree))


@routes.route("GET", "/evse_models/{model_id}")
def get_evse_model(model_id: str, _: EvseRead, render: Render, expand: ExpandParam) -> dict[str, Any]:
    tree = expand_tree(expand, ["make"])
    model = cat.EVSE_MODELS_BY_ID.get(model_id)
    if model is None:
        raise not_found()
    return render.evse_model(model, tree)


# --- logs ---------------------------------------------------------------------------------------------------


def _time_page(paging: PagingParam) -> PageRequest:
    return PageRequest(
        before=timestamp_cursor(paging.page_before, "page_before"),
        after=timestamp_cursor(paging.page_after, "page_after"),
        size=parse_page_size(paging.page_size),
    )


@routes.route("GET", "/evses/{evse_id}/status_logs")
def list_status_logs(
    request: Request,
    evse_id: str,
    principal: EvseRead,
    db: Db,
    render: Render,
    paging: PagingParam,
    expand: ExpandParam,
    sampled_at__gte: str | None = None,
    sampled_at__lte: str | None = None,
) -> JSONResponse:
    tree = expand_tree(expand, LOG_EXPAND)
    evse = visible_evse(db, principal, evse_id)
    page_request = _time_page(paging)
    gte, lte = (
        time_filter(sampled_at__gte, "sampled_at__gte"),
        time_filter(sampled_at__lte, "sampled_at__lte"),
    )
    page = page_logs(db, ChargerStatusLog, evse, page_request, gte, lte)
    return list_response(request, page, lambda r: render.status_log(evse, r, tree))


@routes.route("GET", "/evses/{evse_id}/status_logs/{sampled_at}")
def get_status_log(
    evse_id: str, sampled_at: str, principal: EvseRead, db: Db, render: Render, expand: ExpandParam
) -> dict[str, Any]:
    tree = expand_tree(expand, LOG_EXPAND)
    evse = visible_evse(db, principal, evse_id)
    return render.status_log(evse, log_at(db, ChargerStatusLog, evse, sampled_at), tree)


@routes.route("GET", "/evses/{evse_id}/command_logs")
def list_command_logs(
    request: Request,
    evse_id: str,
    principal: DebugRead,
    db: Db,
    render: Render,
    paging: PagingParam,
    expand: ExpandParam,
    logged_at__gte: str | None = None,
    logged_at__lte: str | None = None,
) -> JSONResponse:
    """Every command the charger-actuator applied to this EVSE, newest first."""
    tree = expand_tree(expand, LOG_EXPAND)
    evse = visible_evse(db, principal, evse_id)
    page_request = _time_page(paging)
    gte, lte = time_filter(logged_at__gte, "logged_at__gte"), time_filter(logged_at__lte, "logged_at__lte")
    page = page_logs(db, CommandLog, evse, page_request, gte, lte)
    return list_response(request, page, lambda r: render.command_log(evse, r, tree))


@routes.route("GET", "/evses/{evse_id}/command_logs/{logged_at}")
def get_command_log(
    evse_id: str, logged_at: str, principal: DebugRead, db: Db, render: Render, expand: ExpandParam
) -> dict[str, Any]:
    tree = expand_tree(expand, LOG_EXPAND)
    evse = visible_evse(db, principal, evse_id)
    return render.command_log(evse, log_at(db, CommandLog, evse, logged_at), tree)
