"""Vehicles (configured and unintegrated ones created here) and the vehicle catalogue.

A vehicle created here is also an evcc vehicle: the optimizer is asked to create it (so it shows up in
``evcc/vehicles/<id>`` and can be assigned to a loadpoint through the evcc API) before it is stored;
when the optimizer refuses or stays silent, nothing is stored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from services.gateway.fleet import catalogue as cat
from services.gateway.fleet.auth import Principal
from services.gateway.fleet.common import Routes, last_segment, page_ascending, page_by_id
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
    user_id_from_header,
)
from services.gateway.fleet.ids import new_id
from services.gateway.fleet.models import FleetUser, FleetVehicle
from services.gateway.fleet.problems import conflict, not_found, validation_failed
from services.gateway.fleet.sites import sites_of
from shared.config import SITE_ID_PATTERN

routes = Routes(tags=["Vehicles"])

VEHICLE_EXPAND = ["user", "trim", "trim.model", "trim.model.make", "model", "model.make"]
VehicleRead = Annotated[Principal, Depends(require("vehicle:read"))]
VehicleWrite = Annotated[Principal, Depends(require("vehicle:write"))]


def visible_vehicle(db: Session, principal: Principal, vehicle_id: str) -> FleetVehicle:
    vehicle = db.get(FleetVehicle, vehicle_id)
    if vehicle is None or vehicle.deleted_at is not None:
        raise not_found()
    check_owned(principal, vehicle.user_id)
    return vehicle


@routes.route("GET", "/vehicles")
def list_vehicles(
    request: Request, principal: VehicleRead, db: Db, render: Render, paging: PagingParam, expand: ExpandParam
) -> JSONResponse:
    tree = expand_tree(expand, VEHICLE_EXPAND)
    query = select(FleetVehicle).where(col(FleetVehicle.deleted_at).is_(None))
    if principal.user_id is not None:
        query = query.where(FleetVehicle.user_id == principal.user_id)
    page = page_by_id(db, query, FleetVehicle.id, paging.ids())
    return list_response(request, page, lambda v: render.vehicle(v, tree))


@routes.route("GET", "/vehicles/{vehicle_id}")
def get_vehicle(
    vehicle_id: str, principal: VehicleRead, db: Db, render: Render, expand: ExpandParam
) -> dict[str, Any]:
    tree = expand_tree(expand, VEHICLE_EXPAND)
    return render.vehicle(visible_vehicle(db, principal, vehicle_id), tree)


class VehicleCreate(BaseModel):
    """The spec's ``VehicleWrite`` (``model``) and the seed's older shape (``trim``) are both accepted."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    trim: str | None = None
    user: str | None = None
    battery_size_watt_hours: int | None = Field(default=None, ge=1000, le=300000)
    maximum_charge_limit_percentage: int | None = Field(default=None, ge=50, le=100)
    description: str | None = Field(default=None, max_length=100)
    vehicle_class: Literal["PASSENGER", "COMMERCIAL"] | None = None
    site: str | None = Field(default=None, pattern=SITE_ID_PATTERN)
    """chargebus: the site whose optimizer gets the vehicle (needed only when the user has several)."""


def _site(db: Session, user_id: str | None, wanted: str | None) -> tuple[str | None, list[str]]:
    """The site a new vehicle of ``user_id`` lives at: the one named, or the user's only site."""
    if user_id is None:
        return None, []
    owned_sites = [s.id for s in sites_of(db, user_id)]
    if wanted is not None:
        return (wanted, []) if wanted in owned_sites else (None, ["Invalid site - Object does not exist."])
    if len(owned_sites) == 1:
        return owned_sites[0], []
    if not owned_sites:
        return None, ["The user has no site whose optimizer could take the vehicle."]
    return None, ["This field is required: the user has several sites."]


def _owner(db: Session, principal: Principal, body_user: str | None) -> tuple[str | None, list[str]]:
    if body_user is None:
        if principal.user_id is None:
            return None, ["This field is required (or send EvEnergy-User)."]
        return principal.user_id, []
    user_id = user_id_from_header(body_user)
    if user_id is None or db.get(FleetUser, user_id) is None:
        return None, ["Invalid hyperlink - Object does not exist."]
    if principal.user_id is not None and user_id != principal.user_id:
        return None, ["Invalid hyperlink - Object does not exist."]
    return user_id, []


@routes.route("POST", "/vehicles", status_code=201)
async def create_vehicle(
    body: VehicleCreate, principal: VehicleWrite, db: Db, fleet: Fleet, render: Render, expand: ExpandParam
) -> JSONResponse:
    """Create an unintegrated vehicle and the evcc vehicle behind it."""
    tree = expand_tree(expand, VEHICLE_EXPAND)
    errors: dict[str, list[str]] = {}
    user_id, user_errors = _owner(db, principal, body.user)
    if user_errors:
        errors["user"] = user_errors
    trim = cat.VEHICLE_TRIMS_BY_ID.get(last_segment(body.trim)) if body.trim else None
    model = cat.VEHICLE_MODELS_BY_ID.get(last_segment(body.model)) if body.model else None
    if body.trim and trim is None:
        errors["trim"] = ["Invalid hyperlink - Object does not exist."]
    if body.model and model is None:
        errors["model"] = ["Invalid hyperlink - Object does not exist."]
    if trim is not None:
        model = cat.VEHICLE_MODELS_BY_ID[trim.model_id]
        if body.model and model.id != last_segment(body.model):
            errors["model"] = ["The trim belongs to another model."]
    if not body.trim and not body.model:
        errors["model"] = ["This field is required."]
    site_id, site_errors = _site(db, user_id, body.site)
    if site_errors:
        errors["site"] = site_errors
    if errors or user_id is None or model is None or site_id is None:
        raise validation_failed(errors, "create-vehicle")
    battery = body.battery_size_watt_hours or (trim.battery_size_watt_hours if trim else None)
    battery = battery or model.default_battery_size_watt_hours
    make = cat.VEHICLE_MAKES_BY_ID[model.make_id]
    now = fleet.now()
    vehicle = FleetVehicle(
        id=new_id("vhcl", now),
        site_id=site_id,
        name="",
        user_id=user_id,
        trim_id=trim.id if trim else None,
        model_id=model.id,
        battery_size_watt_hours=battery,
        maximum_charge_limit_percentage=body.maximum_charge_limit_percentage,
        description=body.description or f"{make.name} {model.name}",
        vehicle_class=body.vehicle_class,
        source="api",
        created_at=now,
    )
    vehicle.name = vehicle.id
    await fleet.ask(db, site_id, f"vehicles/{vehicle.name}/create", evcc_vehicle(vehicle))
    db.add(vehicle)
    db.commit()
    db.refresh(vehicle)
    return JSONResponse(render.vehicle(vehicle, tree), status_code=201)


def evcc_vehicle(vehicle: FleetVehicle) -> dict[str, Any]:
    """The optimizer's ``vehicles/<name>/create`` value (evcc vehicle settings, evcc units)."""
    return {
        "title": vehicle.description or vehicle.name,
        "capacity_kwh": (vehicle.battery_size_watt_hours or 0) / 1000,
        "limit_soc": vehicle.maximum_charge_limit_percentage or 0,
    }


class VehiclePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    battery_size_watt_hours: int | None = Field(default=None, ge=1000, le=300000)
    maximum_charge_limit_percentage: int | None = Field(default=None, ge=50, le=100)
    smart_charging_enabled: bool | None = None
    vehicle_class: Literal["PASSENGER", "COMMERCIAL"] | None = None


@routes.route("PATCH", "/vehicles/{vehicle_id}")
async def patch_vehicle(
    vehicle_id: str,
    body: VehiclePatch,
    principal: VehicleWrite,
    db: Db,
    fleet: Fleet,
    render: Render,
    expand: ExpandParam,
) -> dict[str, Any]:
    """Battery size and charge limit go to the optimizer first (``vehicles/<name>/capacity`` kWh,
    ``vehicles/<name>/limitSoc`` %); smart charging and class are fleet-only."""
    tree = expand_tree(expand, VEHICLE_EXPAND)
    vehicle = visible_vehicle(db, principal, vehicle_id)
    sent = body.model_fields_set
    if "battery_size_watt_hours" in sent and body.battery_size_watt_hours is not None:
        await fleet.ask(
            db, vehicle.site_id, f"vehicles/{vehicle.name}/capacity", body.battery_size_watt_hours / 1000
        )
        vehicle.battery_size_watt_hours = body.battery_size_watt_hours
    if "maximum_charge_limit_percentage" in sent:
        limit = body.maximum_charge_limit_percentage
        await fleet.ask(db, vehicle.site_id, f"vehicles/{vehicle.name}/limitSoc", limit or 0)
        vehicle.maximum_charge_limit_percentage = limit
    if "smart_charging_enabled" in sent and body.smart_charging_enabled is not None:
        vehicle.smart_charging_enabled = body.smart_charging_enabled
    if "vehicle_class" in sent:
        vehicle.vehicle_class = body.vehicle_class
    db.add(vehicle)
    db.commit()
    db.refresh(vehicle)
    return render.vehicle(vehicle, tree)


@routes.route("DELETE", "/vehicles/{vehicle_id}", status_code=204)
async def delete_vehicle(vehicle_id: str, principal: VehicleWrite, db: Db, fleet: Fleet) -> Response:
    vehicle = visible_vehicle(db, principal, vehicle_id)
    if vehicle.source == "config":
        raise conflict("This vehicle comes from the configuration file; remove it there.")
    await fleet.ask(db, vehicle.site_id, f"vehicles/{vehicle.name}/delete", None)
    vehicle.deleted_at = fleet.now()
    db.add(vehicle)
    db.commit()
    return Response(status_code=204)


# --- catalogue ------------------------------------------------------------------------------------------


@routes.route("GET", "/vehicle_makes")
def list_vehicle_makes(request: Request, _: VehicleRead, render: Render, paging: PagingParam) -> JSONResponse:
    page = page_ascending(list(cat.VEHICLE_MAKES), paging.ids(), lambda m: m.id)
    return list_response(request, page, lambda m: render.vehicle_make(m, {}))


@routes.route("GET", "/vehicle_makes/{make_id}")
def get_vehicle_make(make_id: str, _: VehicleRead, render: Render) -> dict[str, Any]:
    make = cat.VEHICLE_MAKES_BY_ID.get(make_id)
    if make is None:
        raise not_found()
    return render.vehicle_make(make, {})


@routes.route("GET", "/vehicle_models")
def list_vehicle_models(
    request: Request,
    _: VehicleRead,
    render: Render,
    paging: PagingParam,
    expand: ExpandParam,
    make_id: str | None = None,
) -> JSONResponse:
    tree = expand_tree(expand, ["make"])
    rows = [m for m in cat.VEHICLE_MODELS if make_id is None or m.make_id == make_id]
    page = page_ascending(rows, paging.ids(), lambda m: m.id)
    return list_response(request, page, lambda m: render.vehicle_model(m, tree))


@routes.route("GET", "/vehicle_models/{model_id}")
def get_vehicle_model(model_id: str, _: VehicleRead, render: Render, expand: ExpandParam) -> dict[str, Any]:
    tree = expand_tree(expand, ["make"])
    model = cat.VEHICLE_MODELS_BY_ID.get(model_id)
    if model is None:
        raise not_found()
    return render.vehicle_model(model, tree)


@routes.route("GET", "/vehicle_trims")
def list_vehicle_trims(
    request: Request,
    _: VehicleRead,
    render: Render,
    paging: PagingParam,
    expand: ExpandParam,
    model_id: str | None = None,
) -> JSONResponse:
    tree = expand_tree(expand, ["model", "model.make"])
    rows = [t for t in cat.VEHICLE_TRIMS if model_id is None or t.model_id == model_id]
    page = page_ascending(rows, paging.ids(), lambda t: t.id)
    return list_response(request, page, lambda t: render.vehicle_trim(t, tree))


@routes.route("GET", "/vehicle_trims/{trim_id}")
def get_vehicle_trim(trim_id: str, _: VehicleRead, render: Render, expand: ExpandParam) -> dict[str, Any]:
    tree = expand_tree(expand, ["model", "model.make"])
    trim = cat.VEHICLE_TRIMS_BY_ID.get(trim_id)
    if trim is None:
        raise not_found()
    return render.vehicle_trim(trim, tree)
