"""The root, users and webhook endpoints."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.from_thread
from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field
from sqlmodel import Session, select

from services.gateway.fleet.auth import Principal
from services.gateway.fleet.common import Routes, page_ascending
from services.gateway.fleet.deps import (
    BaseUrl,
    Db,
    Fleet,
    PagingParam,
    Render,
    check_owned,
    list_response,
    owned,
    require,
)
from services.gateway.fleet.ids import new_id
from services.gateway.fleet.models import FleetUser, WebhookEndpoint
from services.gateway.fleet.problems import forbidden, not_found, validation_failed
from services.gateway.fleet.webhooks import EVENT_TYPES, new_secret
from shared.netguard import BlockedTarget

routes = Routes()

COLLECTIONS = (
    "users", "carbon_feeds", "evses", "evse_models", "evse_makes", "vehicles", "vehicle_trims",
    "vehicle_models", "vehicle_makes", "tariffs", "charging_sessions", "charging_sub_sessions",
    "webhook_endpoints",
)  # fmt: skip


def root(base: BaseUrl) -> dict[str, str]:
    """The top-level collections (no authentication needed)."""
    return {name: f"{base}/{name}/" for name in COLLECTIONS}


# --- users ------------------------------------------------------------------------------------------------

UserRead = Annotated[Principal, Depends(require("user:read"))]
UserWrite = Annotated[Principal, Depends(require("user:write"))]


@routes.route("GET", "/users", tags=["Users"])
def list_users(
    request: Request,
    principal: UserRead,
    db: Db,
    render: Render,
    paging: PagingParam,
    email: str | None = None,
) -> JSONResponse:
    rows = [u for u in db.exec(select(FleetUser)).all() if owned(principal, u.id)]
    rows = [u for u in rows if email is None or (u.email or "").lower() == email.lower()]
    page = page_ascending(rows, paging.ids(), lambda u: u.id)
    return list_response(request, page, lambda u: render.user(u, {}))


@routes.route("GET", "/users/{user_id}", tags=["Users"])
def get_user(user_id: str, principal: UserRead, db: Db, render: Render) -> dict[str, Any]:
    user = db.get(FleetUser, user_id)
    if user is None:
        raise not_found()
    check_owned(principal, user.id)
    return render.user(user, {})


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    full_name: str | None = Field(default=None, max_length=200)


@routes.route("POST", "/users", tags=["Users"], status_code=201)
def create_user(body: UserCreate, principal: UserWrite, db: Db, fleet: Fleet, render: Render) -> JSONResponse:
    """Operators (clients not bound to a user) add users, e.g. the owner of a newly delivered car."""
    if principal.client_user_id is not None:
        raise forbidden("Only operator clients can create users.")
    user = FleetUser(
        id=new_id("user", fleet.now()), email=body.email, full_name=body.full_name, joined_at=fleet.now()
    )
    db.add(user)
    db.commit()
    db.refresh(user)
    return JSONResponse(render.user(user, {}), status_code=201)


# --- webhook endpoints ------------------------------------------------------------------------------------

WebhookRead = Annotated[Principal, Depends(require("webhook:read"))]
WebhookWrite = Annotated[Principal, Depends(require("webhook:write"))]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl
    event_types: list[str] = Field(default_factory=list)
    """Empty: every event type."""


def endpoint_json(base: str, endpoint: WebhookEndpoint, *, secret: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": endpoint.id,
        "url": f"{base}/webhook_endpoints/{endpoint.id}",
        "target_url": endpoint.url,
        "event_types": endpoint.event_types.split(),
        "user": f"{base}/users/{endpoint.user_id}" if endpoint.user_id else None,
    }
    if secret:
        body["secret"] = endpoint.secret
    return body


def visible_endpoint(db: Session, principal: Principal, endpoint_id: str) -> WebhookEndpoint:
    endpoint = db.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.disabled or endpoint.user_id != principal.user_id:
        raise not_found()
    return endpoint


@routes.route("GET", "/webhook_endpoints", tags=["Webhooks"])
def list_endpoints(
    request: Request, principal: WebhookRead, db: Db, paging: PagingParam, base: BaseUrl
) -> JSONResponse:
    rows = [
        e for e in db.exec(select(WebhookEndpoint)).all() if not e.disabled and e.user_id == principal.user_id
    ]
    page = page_ascending(rows, paging.ids(), lambda e: e.id)
    return list_response(request, page, lambda e: endpoint_json(base, e))


@routes.route("POST", "/webhook_endpoints", tags=["Webhooks"], status_code=201)
def create_endpoint(
    request: Request, body: WebhookCreate, principal: WebhookWrite, db: Db, fleet: Fleet, base: BaseUrl
) -> JSONResponse:
    """Register a receiver of ``charging_sub_session.created``/``.ended``; the answer holds the signing
    secret (``whsec_…``), shown only here."""
    unknown = [t for t in body.event_types if t not in EVENT_TYPES]
    if unknown:
        raise validation_failed({"event_types": [f"Unknown event type {t!r}." for t in unknown]}, "webhook")
    try:
        anyio.from_thread.run(fleet.netguard.check, str(body.url))
    except BlockedTarget as blocked:
        raise validation_failed({"url": [str(blocked)]}, "webhook") from None
    endpoint = WebhookEndpoint(
        id=new_id("whep", fleet.now()),
        user_id=principal.user_id,
        url=str(body.url),
        secret=new_secret(),
        event_types=" ".join(body.event_types),
        created_at=fleet.now(),
        base_url=(fleet.public_url or str(request.base_url)).rstrip("/"),
    )
    db.add(endpoint)
    db.commit()
    db.refresh(endpoint)
    return JSONResponse(endpoint_json(base, endpoint, secret=True), status_code=201)


@routes.route("GET", "/webhook_endpoints/{endpoint_id}", tags=["Webhooks"])
def get_endpoint(endpoint_id: str, principal: WebhookRead, db: Db, base: BaseUrl) -> dict[str, Any]:
    return endpoint_json(base, visible_endpoint(db, principal, endpoint_id))


@routes.route("DELETE", "/webhook_endpoints/{endpoint_id}", tags=["Webhooks"], status_code=204)
def delete_endpoint(endpoint_id: str, principal: WebhookWrite, db: Db) -> Response:
    endpoint = visible_endpoint(db, principal, endpoint_id)
    endpoint.disabled = True  # queued messages to it are dropped by the deliverer
    db.add(endpoint)
    db.commit()
    return Response(status_code=204)
