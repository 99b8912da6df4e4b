"""Bringing the fleet's session view up to date with the gateway's ``sessions`` table."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from services.gateway.fleet.context import FleetContext
from services.gateway.fleet.models import FleetSubSession
from services.gateway.fleet.render import Renderer
from services.gateway.fleet.subsessions import SubSessionJson, sync_sessions
from services.gateway.fleet.tariffs import TariffView


def webhook_renderer(fleet: FleetContext) -> SubSessionJson:
    """Sub-sessions as the API serves them, for webhook bodies (URLs from the public base URL)."""

    def render(db: Session, sub: FleetSubSession) -> dict[str, Any]:
        view = TariffView(fleet.config, fleet.live, fleet.now())
        return Renderer(fleet.public_url.rstrip("/") + "/v2", db, fleet.config, view).sub_session(sub, {})

    return render


def sync_now(fleet: FleetContext, db: Session) -> None:
    """Pick up new and finished sessions; wake the webhook deliverer when something was queued.

    Requests and the background loop (and other gateway instances) may sync at the same moment; the
    unique ``session_uid`` lets exactly one of them win, the others roll back and find the work done."""
    try:
        queued = sync_sessions(db, fleet.config, webhook_renderer(fleet), fleet.now())
    except IntegrityError:
        db.rollback()
        return
    if queued:
        fleet.outbox_ready.set()
